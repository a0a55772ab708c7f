package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DrillPolicy says whether a restore drill proves a backup.
// +kubebuilder:validation:Enum=Enabled;Disabled
type DrillPolicy string

const (
	// DrillEnabled runs a restore drill once the backup has succeeded (the default).
	DrillEnabled DrillPolicy = "Enabled"
	// DrillDisabled runs none: the backup has no Verified condition.
	DrillDisabled DrillPolicy = "Disabled"
)

// VerificationSpec is the restore drill that proves a backup restores. Once the backup has
// succeeded, a Job of its own (locked down like the backup's, the claim mounted read-only)
// starts a scratch MariaDB server on an emptyDir, restores the backup into it, runs the
// engine's CHECK TABLE on every table and compares every table's rows and content digest
// with what the backup recorded when it was taken. Its outcome is the Verified condition;
// a failed drill never makes a Succeeded backup Failed.
type VerificationSpec struct {
	// drill: Enabled (the default) runs the restore drill; Disabled does not.
	// +optional
	// +kubebuilder:default=Enabled
	Drill DrillPolicy `json:"drill,omitempty"`

	// bufferPool is the scratch server's InnoDB buffer pool: with the drill's own ~100 MiB,
	// what bounds its memory whatever the backup's size. When omitted, 128Mi.
	// +optional
	BufferPool *resource.Quantity `json:"bufferPool,omitempty"`

	// scratchSize is the size limit of the scratch server's emptyDir. A backup whose
	// restored copy would not fit is not drilled (Verified False, reason TooLarge). When
	// omitted, twice the backup's uncompressed size plus 256Mi.
	// +optional
	ScratchSize *resource.Quantity `json:"scratchSize,omitempty"`

	// resources of the drill's container. When omitted: requests 500m CPU and the buffer
	// pool plus 256Mi of memory, a memory limit of the buffer pool plus 512Mi.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// deadline bounds the drill's Job. When omitted, 6h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="deadline must be positive"
	Deadline *metav1.Duration `json:"deadline,omitempty"`
}

// VerificationStatus is what the restore drill found.
type VerificationStatus struct {
	// jobName is the drill's Job.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	JobName string `json:"jobName,omitempty"`

	// startTime is when the drill's Job was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the drill's outcome was recorded.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// tables restored and compared.
	// +optional
	Tables int32 `json:"tables,omitempty"`

	// rows restored, over every table.
	// +optional
	Rows int64 `json:"rows,omitempty"`

	// users are the accounts restored from the backup's users and grants.
	// +optional
	Users int32 `json:"users,omitempty"`

	// mismatches name the tables that differ from what the backup recorded (at most 20,
	// then how many more).
	// +optional
	// +kubebuilder:validation:MaxItems=21
	// +kubebuilder:validation:items:MaxLength=320
	Mismatches []string `json:"mismatches,omitempty"`

	// serverVersion is the scratch server's version.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ServerVersion string `json:"serverVersion,omitempty"`

	// sourceVersion is the version of the server the backup was taken from (its manifest).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SourceVersion string `json:"sourceVersion,omitempty"`

	// duration of the drill, as the agent measured it.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`

	// request is the value of the backup.overcloud.io/verify annotation this drill answers
	// ("" for the drill spec.verification asked for).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Request string `json:"request,omitempty"`
}

// VerificationPolicy says which of a schedule's backups are drilled.
// +kubebuilder:validation:Enum=EveryBackup;Interval
type VerificationPolicy string

const (
	// VerifyEveryBackup drills every backup of the schedule (the default).
	VerifyEveryBackup VerificationPolicy = "EveryBackup"
	// VerifyInterval drills at most one backup per interval: a run's backup is drilled
	// when no backup of the schedule drilled (or being drilled) was created within the
	// interval.
	VerifyInterval VerificationPolicy = "Interval"
)

// ScheduleVerificationSpec says how often a schedule's backups are proven by a restore
// drill. The drill's own settings are the template's spec.verification; a template with
// drill Disabled drills none, whatever this says.
type ScheduleVerificationSpec struct {
	// policy: EveryBackup (the default) or Interval.
	// +optional
	// +kubebuilder:default=EveryBackup
	Policy VerificationPolicy `json:"policy,omitempty"`

	// interval between drilled backups with policy Interval. When omitted, 24h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="interval must be positive"
	Interval *metav1.Duration `json:"interval,omitempty"`
}
