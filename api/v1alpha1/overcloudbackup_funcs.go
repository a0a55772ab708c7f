package v1alpha1

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
)

// This file holds the OvercloudBackup's defaults and the getters that apply them: the one
// place a default lives. The policy enums also carry a +kubebuilder:default marker, so the
// API server fills them in; the getters give the same value for an object that did not go
// through it (a template, a test, an object written before the default existed). Every
// getter accepts a nil receiver (an omitted sub-struct).

// Defaults of the OvercloudBackup's fields, applied by the getters below when a field is
// omitted.
const (
	// DefaultBackupDeadline bounds a whole backup, from its creation, when spec.deadline
	// is omitted.
	DefaultBackupDeadline = 6 * time.Hour
	// DefaultMaxAttempts is how many Jobs a backup may run when spec.job.maxAttempts is
	// omitted.
	DefaultMaxAttempts int32 = 3
	// DefaultActiveDeadlineSeconds bounds one attempt's Job when
	// spec.job.activeDeadlineSeconds is omitted.
	DefaultActiveDeadlineSeconds int64 = 3600
	// DefaultImagePullPolicy is the agent container's pull policy when
	// spec.job.imagePullPolicy is omitted.
	DefaultImagePullPolicy = corev1.PullIfNotPresent
	// DefaultDumpMethod is spec.dump.method's default (its +kubebuilder:default).
	DefaultDumpMethod = DumpLogical
	// DefaultCompression is spec.dump.compression's default (its +kubebuilder:default).
	DefaultCompression = CompressionZstd
	// DefaultUsersPolicy is spec.dump.users's default (its +kubebuilder:default).
	DefaultUsersPolicy = UsersInclude
	// DefaultDesyncPolicy is spec.dump.desync's default (its +kubebuilder:default).
	DefaultDesyncPolicy = DesyncEnabled
	// DefaultDeletionPolicy is spec.deletionPolicy's default (its +kubebuilder:default).
	DefaultDeletionPolicy = DeletionRetain
	// DefaultDrillDeadline bounds the restore drill's Job when
	// spec.verification.deadline is omitted.
	DefaultDrillDeadline = 6 * time.Hour
	// DefaultVerificationInterval is a schedule's spec.verification.interval default.
	DefaultVerificationInterval = 24 * time.Hour
)

// DefaultDrillBufferPool is the scratch server's buffer pool when
// spec.verification.bufferPool is omitted.
var DefaultDrillBufferPool = resource.MustParse("128Mi")

// IsFinished reports whether the backup has succeeded or failed for good.
func (b *OvercloudBackup) IsFinished() bool {
	if b == nil {
		return false
	}
	return meta.IsStatusConditionTrue(b.Status.Conditions, ConditionComplete) ||
		meta.IsStatusConditionTrue(b.Status.Conditions, ConditionFailed)
}

// MaxAttempts is spec.job.maxAttempts, or DefaultMaxAttempts when it is omitted or not
// positive.
func (b *OvercloudBackup) MaxAttempts() int32 {
	if b == nil || b.Spec.Job == nil || b.Spec.Job.MaxAttempts == nil || *b.Spec.Job.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return *b.Spec.Job.MaxAttempts
}

// Deadline is spec.deadline, or DefaultBackupDeadline when it is omitted or not positive:
// how long the whole backup may take from its creation.
func (b *OvercloudBackup) Deadline() time.Duration {
	if b == nil {
		return DefaultBackupDeadline
	}
	return positiveOr(b.Spec.Deadline, DefaultBackupDeadline)
}

// DeadlineTime is when the whole backup must have finished: its creation plus Deadline().
// The zero time for a nil backup.
func (b *OvercloudBackup) DeadlineTime() time.Time {
	if b == nil {
		return time.Time{}
	}
	return b.CreationTimestamp.Add(b.Deadline())
}

// EffectiveDeletionPolicy is spec.deletionPolicy, or DefaultDeletionPolicy.
func (b *OvercloudBackup) EffectiveDeletionPolicy() DeletionPolicy {
	if b == nil || b.Spec.DeletionPolicy == "" {
		return DefaultDeletionPolicy
	}
	return b.Spec.DeletionPolicy
}

// EffectiveMethod is dump.method, or DefaultDumpMethod.
func (d *DumpSpec) EffectiveMethod() DumpMethod {
	if d == nil || d.Method == "" {
		return DefaultDumpMethod
	}
	return d.Method
}

// RecordsDigests says whether the backup records the digest of every table, which its
// restore drill compares: always for Logical; for Mariabackup, when the command passes
// --no-lock (the default command does), so that the agent can hold the node still beside
// mariadb-backup. Without digests a drill ends Verified=Unknown NotCompared.
func (d *DumpSpec) RecordsDigests() bool {
	if d == nil || d.EffectiveMethod() != DumpMariabackup {
		return true
	}
	return d.MariabackupCommand == "" || slices.Contains(strings.Fields(d.MariabackupCommand), "--no-lock")
}

// EffectiveCompression is dump.compression, or DefaultCompression.
func (d *DumpSpec) EffectiveCompression() Compression {
	if d == nil || d.Compression == "" {
		return DefaultCompression
	}
	return d.Compression
}

// EffectiveUsers is dump.users, or DefaultUsersPolicy.
func (d *DumpSpec) EffectiveUsers() UsersPolicy {
	if d == nil || d.Users == "" {
		return DefaultUsersPolicy
	}
	return d.Users
}

// EffectiveDesync is dump.desync, or DefaultDesyncPolicy.
func (d *DumpSpec) EffectiveDesync() DesyncPolicy {
	if d == nil || d.Desync == "" {
		return DefaultDesyncPolicy
	}
	return d.Desync
}

// IncludesUsers reports whether users and grants are backed up: unless dump.users is
// Exclude.
func (d *DumpSpec) IncludesUsers() bool {
	return d.EffectiveUsers() != UsersExclude
}

// DesyncsNode reports whether the node is desynced from the cluster during the dump:
// unless dump.desync is Disabled.
func (d *DumpSpec) DesyncsNode() bool {
	return d.EffectiveDesync() != DesyncDisabled
}

// ImageOr is job.image, or operatorImage (the operator's own image, which the manager
// knows) when it is omitted.
func (j *JobSpec) ImageOr(operatorImage string) string {
	if j == nil || j.Image == "" {
		return operatorImage
	}
	return j.Image
}

// ImagePullPolicyOrDefault is job.imagePullPolicy, or DefaultImagePullPolicy.
func (j *JobSpec) ImagePullPolicyOrDefault() corev1.PullPolicy {
	if j == nil || j.ImagePullPolicy == "" {
		return DefaultImagePullPolicy
	}
	return j.ImagePullPolicy
}

// ActiveDeadlineSecondsOrDefault is job.activeDeadlineSeconds, or
// DefaultActiveDeadlineSeconds when it is omitted.
func (j *JobSpec) ActiveDeadlineSecondsOrDefault() int64 {
	if j == nil || j.ActiveDeadlineSeconds == nil {
		return DefaultActiveDeadlineSeconds
	}
	return *j.ActiveDeadlineSeconds
}

// WantsDrill reports whether a restore drill proves this backup: unless
// spec.verification.drill is Disabled.
func (b *OvercloudBackup) WantsDrill() bool {
	return b != nil && (b.Spec.Verification == nil || b.Spec.Verification.Drill != DrillDisabled)
}

// VerifyRequest is the backup.overcloud.io/verify annotation's value, as RequestKey
// records it, when no drill has answered it yet, else "".
func (b *OvercloudBackup) VerifyRequest() string {
	if b == nil || b.Annotations[AnnotationVerify] == "" {
		return ""
	}
	v := RequestKey(b.Annotations[AnnotationVerify])
	if b.Status.Verification != nil && b.Status.Verification.Request == v {
		return ""
	}
	return v
}

// BufferPoolOrDefault is spec.verification.bufferPool, or DefaultDrillBufferPool.
func (v *VerificationSpec) BufferPoolOrDefault() resource.Quantity {
	if v == nil || v.BufferPool == nil || v.BufferPool.Sign() <= 0 {
		return DefaultDrillBufferPool.DeepCopy()
	}
	return v.BufferPool.DeepCopy()
}

// DeadlineOrDefault is spec.verification.deadline, or DefaultDrillDeadline.
func (v *VerificationSpec) DeadlineOrDefault() time.Duration {
	if v == nil || v.Deadline == nil || v.Deadline.Duration <= 0 {
		return DefaultDrillDeadline
	}
	return v.Deadline.Duration
}
