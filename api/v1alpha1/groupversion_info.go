// Package v1alpha1 contains the API of overcloud-backup-operator: OvercloudBackup (one
// backup of an OpenStack overcloud's MariaDB/Galera database) and BackupSchedule (a cron
// schedule of such backups).
//
// +kubebuilder:object:generate=true
// +groupName=backup.overcloud.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "backup.overcloud.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
