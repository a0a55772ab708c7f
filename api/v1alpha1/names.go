package v1alpha1

import "fmt"

// Well-known labels and annotations.
const (
	// LabelOvercloud is set on backups' Jobs and Pods to spec.overcloudRef.name.
	LabelOvercloud = "backup.overcloud.io/overcloud"
	// LabelCluster is set on backups' Jobs to the Galera cluster's identity
	// (wsrep_cluster_state_uuid): at most one such Job runs per cluster.
	LabelCluster = "backup.overcloud.io/cluster"
	// LabelBackup is set on a backup's Jobs and Pods to the backup's name.
	LabelBackup = "backup.overcloud.io/backup"
	// LabelRestore is set on a restore's Job and Pod to the OvercloudRestore's name.
	LabelRestore = "backup.overcloud.io/restore"
	// LabelSchedule is set on the backups a schedule creates to the schedule's name.
	LabelSchedule = "backup.overcloud.io/schedule"
	// AnnotationRunNow on a BackupSchedule asks for one immediate backup per distinct value.
	AnnotationRunNow = "backup.overcloud.io/run-now"
	// FinalizerCleanup holds a backup with deletionPolicy Delete until its cleanup Job
	// has removed its data from the volume.
	FinalizerCleanup = "backup.overcloud.io/cleanup"
	// AnnotationScheduledTime on a scheduled backup is the RFC 3339 time it was due.
	AnnotationScheduledTime = "backup.overcloud.io/scheduled-at"
	// AnnotationVerify on a succeeded backup asks for a restore drill now, once per distinct
	// value, whatever spec.verification says: a drill again after one that could not run,
	// or a backup proven again long after it was taken.
	AnnotationVerify = "backup.overcloud.io/verify"
)

// JobName is the name of the Job of the given attempt (1-based) of this backup. It is
// deterministic, so a restarted controller finds the Job instead of creating another.
// Backup names are at most 52 characters (enforced by the CRD), so it fits in 63.
func (b *OvercloudBackup) JobName(attempt int32) string {
	return fmt.Sprintf("%s-%d", b.Name, attempt)
}

// CleanupJobName is the name of the Job that removes this backup's data when it is
// deleted with deletionPolicy Delete (at most 60 characters).
func (b *OvercloudBackup) CleanupJobName() string {
	return b.Name + "-cleanup"
}

// DrillJobName is the name of the Job of this backup's restore drill (at most 58
// characters).
func (b *OvercloudBackup) DrillJobName() string {
	return b.Name + "-drill"
}
