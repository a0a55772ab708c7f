package controllers

import (
	"fmt"
	"maps"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

const (
	// restoreComponent is the component label of restore Jobs.
	restoreComponent = "restore"
	// restoreDeadline bounds a restore Job.
	restoreDeadline = 6 * time.Hour
)

// restoreJobName is the restore's Job: derived from the restore's UID, so that a
// restarted controller finds it, and short enough for a Job name.
func restoreJobName(rs *backupv1alpha1.OvercloudRestore) string {
	name := rs.Name
	if len(name) > 40 {
		name = name[:40]
	}
	uid := string(rs.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return fmt.Sprintf("%s-restore-%s", name, uid)
}

// BuildRestoreJob is the Job that runs a confirmed restore: `agent restore` (Databases)
// or `agent restore-cluster` (WholeCluster, with the Overcloud's SSH Secret) with the
// plan's arguments, in the backup's locked-down agent pod (its job spec: image, service
// account, placement), the backup's claim mounted read-only, the restore account's
// Secret as files. It carries the Galera cluster's label, so that no backup
// Job starts on the cluster while it runs. Pure.
func BuildRestoreJob(rs *backupv1alpha1.OvercloudRestore, b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.Overcloud,
	args []string, defaultImage string,
) (*batchv1.Job, error) {
	js, image, err := agentJobSpec(b, defaultImage)
	if err != nil {
		return nil, err
	}
	volumes, mounts := storageVolumes(b)
	volumes[0].PersistentVolumeClaim.ReadOnly = true
	mounts[0].ReadOnly = true
	// The restore account; a WholeCluster restore without one proves the nodes with the
	// backup account, which the restored grant tables hold.
	cs := oc.Spec.Database.CredentialsSecret
	if rs.Spec.CredentialsSecret != nil {
		cs = *rs.Spec.CredentialsSecret
	}
	volumes = append(volumes, secretVolume("restore-credentials", cs.Name,
		[2]string{cs.UsernameKeyOrDefault(), credentialsUserFile}, [2]string{cs.PasswordKeyOrDefault(), credentialsPasswordFile}))
	mounts = append(mounts, corev1.VolumeMount{Name: "restore-credentials", MountPath: restoreplan.CredentialsMount, ReadOnly: true})
	if _, why := sshAccess(oc); why == "" {
		// WholeCluster's steps, and a Databases restore's check of the nodes' free space,
		// run on the nodes over SSH, with the key and known_hosts the physical backup uses.
		volumes = append(volumes, secretVolume("ssh", oc.Spec.SSH.SecretName,
			[2]string{oc.Spec.SSH.PrivateKeyKeyOrDefault(), "ssh-privatekey"},
			[2]string{oc.Spec.SSH.KnownHostsKeyOrDefault(), "known_hosts"}))
		mounts = append(mounts, corev1.VolumeMount{Name: "ssh", MountPath: sshPath, ReadOnly: true})
	}
	if t := oc.Spec.Database.TLS; t != nil && t.CASecret != nil {
		volumes = append(volumes, secretVolume("db-ca", t.CASecret.Name, [2]string{t.CASecret.Key, "ca.crt"}))
		mounts = append(mounts, corev1.VolumeMount{Name: "db-ca", MountPath: dbCAPath, ReadOnly: true})
	}
	labels := map[string]string{
		backupv1alpha1.LabelRestore:   rs.Name,
		backupv1alpha1.LabelOvercloud: rs.Spec.OvercloudRef.Name,
		labelManagedBy:                managedBy,
		labelComponent:                restoreComponent,
	}
	if c := oc.Status.ClusterStateUUID; c != "" {
		labels[backupv1alpha1.LabelCluster] = c
	}
	args = append(append([]string{}, args...), "--termination-log="+corev1.TerminationMessagePathDefault)
	pod := agentPod(js, image, args, volumes, mounts, labels, maps.Clone(js.PodAnnotations))
	gvk := backupv1alpha1.GroupVersion.WithKind("OvercloudRestore")
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: restoreJobName(rs), Namespace: rs.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: rs.Name, UID: rs.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: batchv1.JobSpec{
			// A restore that failed stops where it failed: its status says what to do;
			// running it again is a person's decision (a new OvercloudRestore).
			BackoffLimit:          ptr.To(int32(0)),
			ActiveDeadlineSeconds: ptr.To(int64(restoreDeadline / time.Second)),
			Template:              pod,
		},
	}, nil
}
