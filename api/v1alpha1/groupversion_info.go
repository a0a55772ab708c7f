// Package v1alpha1 contains the API of overcloud-backup-operator: OvercloudBackup (one
// backup of an OpenStack overcloud's MariaDB/Galera database) and BackupSchedule (a cron
// schedule of such backups).
//
// +kubebuilder:object:generate=true
// +groupName=backup.overcloud.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "backup.overcloud.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the kinds, with apimachinery only, so that the API package
// stays cheap to import.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Overcloud{}, &OvercloudList{},
		&OvercloudBackup{}, &OvercloudBackupList{},
		&BackupSchedule{}, &BackupScheduleList{},
		&OvercloudRestore{}, &OvercloudRestoreList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
