package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

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
	// AnnotationProbe on an Overcloud asks for a probe now, once per distinct value, even
	// between monitoring intervals or with monitoring.interval 0s; status.lastProbeRequest
	// records the value a written probe answered (kubectl ocb probe).
	AnnotationProbe = "backup.overcloud.io/probe"
)

// maxRequestLen is the longest request annotation value (verify, probe, run-now) status
// records as it is; status fields holding one are bounded by their CRD schema.
const maxRequestLen = 200

// RequestKey is how status records the value of a request annotation (verify, probe,
// run-now): the value itself, or "sha256:<hex>" of it when it is longer than 200 bytes, so
// that a tenant's long value is still answered once, and never makes a status write fail.
func RequestKey(value string) string {
	if len(value) <= maxRequestLen {
		return value
	}
	sum := sha256.Sum256([]byte(value))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// RunNowName is the name of the backup the run-now annotation value asks for:
// <schedule>-r<8 hex of the value's SHA-256>, one per distinct value, at most 52
// characters (schedule names are at most 42), never like a scheduled run's
// <schedule>-<unix minutes>. The controller and kubectl ocb backup both use it.
func (s *BackupSchedule) RunNowName(value string) string {
	return s.Name + RunNowSuffix(value)
}

// RunNowRequest is the run-now annotation's value when status.lastRunNow does not record
// it yet (as RequestKey records it), else "". The value itself, not its key, names the
// backup (RunNowName), as kubectl ocb backup computes it.
func (s *BackupSchedule) RunNowRequest() string {
	if s == nil {
		return ""
	}
	v := s.Annotations[AnnotationRunNow]
	if v == "" || RequestKey(v) == s.Status.LastRunNow {
		return ""
	}
	return v
}

// RunNowSuffix is what a backup asked for now with the given value adds to its parent's
// name: "-r" and 8 hex digits of the value's SHA-256. RunNowName uses it for a schedule's
// run-now child, and kubectl ocb backup for a backup it creates from an Overcloud with no
// schedule, so both name one value's backup alike.
func RunNowSuffix(value string) string {
	sum := sha256.Sum256([]byte(value))
	return "-r" + hex.EncodeToString(sum[:4])
}

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
