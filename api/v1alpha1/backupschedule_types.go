package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConcurrencyPolicy says what a BackupSchedule does when a run is due while an earlier
// one is still running.
// +kubebuilder:validation:Enum=Forbid;Allow;Replace
type ConcurrencyPolicy string

const (
	// ConcurrencyForbid skips the new run while one is active (the default). Backups of
	// one overcloud run one at a time anyway.
	ConcurrencyForbid ConcurrencyPolicy = "Forbid"
	// ConcurrencyAllow creates the new run; it queues behind the active one.
	ConcurrencyAllow ConcurrencyPolicy = "Allow"
	// ConcurrencyReplace deletes the active run (and its Job) and starts the new one.
	ConcurrencyReplace ConcurrencyPolicy = "Replace"
)

// BackupTemplateMetadata is the metadata given to each OvercloudBackup a schedule creates.
type BackupTemplateMetadata struct {
	// labels added to each backup (next to the schedule's own label).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`

	// annotations added to each backup.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// BackupTemplate is the OvercloudBackup a schedule creates on each run.
type BackupTemplate struct {
	// metadata of each backup: labels and annotations. Its name is chosen by the
	// schedule: <schedule name>-<scheduled time in unix minutes>.
	// +optional
	Metadata *BackupTemplateMetadata `json:"metadata,omitempty"`

	// spec of each backup.
	// +required
	Spec OvercloudBackupSpec `json:"spec"`
}

// BackupScheduleSpec is when to back up an overcloud, and how many backups to keep.
type BackupScheduleSpec struct {
	// schedule in cron format: five fields ("30 2 * * *") or a descriptor (@hourly,
	// @daily, @weekly, @monthly, @yearly, @every <duration>). Its syntax is checked by
	// the controller and reported in the ScheduleValid condition.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="!self.contains('TZ=')",message="set the time zone in spec.timeZone, not with TZ= or CRON_TZ= in the schedule"
	Schedule string `json:"schedule"`

	// timeZone is the IANA time zone of the schedule (for example "Europe/Paris").
	// When omitted, UTC (whatever the zone of the machine the operator runs on).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+/-]*$`
	TimeZone *string `json:"timeZone,omitempty"`

	// suspend stops new runs; running backups finish. When omitted, false.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`

	// concurrencyPolicy says what happens when a run is due while one is running.
	// +optional
	// +kubebuilder:default=Forbid
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`

	// startingDeadlineSeconds: a run that could not start within this many seconds of
	// its scheduled time is counted as missed. When omitted, no deadline.
	// +optional
	// +kubebuilder:validation:Minimum=0
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`

	// successfulBackupsHistoryLimit is how many succeeded backups are kept; older ones
	// are deleted (their deletionPolicy says whether the data goes too). The newest
	// succeeded backup is always kept. When omitted, 7.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	SuccessfulBackupsHistoryLimit *int32 `json:"successfulBackupsHistoryLimit,omitempty"`

	// failedBackupsHistoryLimit is how many failed backups are kept. When omitted, 3.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	FailedBackupsHistoryLimit *int32 `json:"failedBackupsHistoryLimit,omitempty"`

	// keepWithin keeps every finished backup younger than this, whatever the history
	// limits say (for example "168h").
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="keepWithin must not be negative"
	KeepWithin *metav1.Duration `json:"keepWithin,omitempty"`

	// backupTemplate is the OvercloudBackup created on each run.
	// +required
	BackupTemplate BackupTemplate `json:"backupTemplate"`

	// verification says which of the schedule's backups a restore drill proves. When
	// omitted, every one (the template's spec.verification shapes the drill, and its drill
	// Disabled turns them all off). Retention never deletes the newest verified backup.
	// +optional
	Verification *ScheduleVerificationSpec `json:"verification,omitempty"`
}

// BackupReference names an OvercloudBackup of the schedule.
type BackupReference struct {
	// name of the OvercloudBackup, in the schedule's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// BackupScheduleStatus is the observed state of a BackupSchedule.
type BackupScheduleStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, ScheduleValid and what the last run did.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// active lists the schedule's backups that have not finished.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Active []BackupReference `json:"active,omitempty"`

	// lastScheduleTime is the scheduled time of the last run started.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// nextScheduleTime is when the next run is due.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// lastSuccessfulTime is when the last succeeded backup completed.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// lastSuccessfulBackup names the last succeeded backup.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LastSuccessfulBackup string `json:"lastSuccessfulBackup,omitempty"`

	// lastVerifiedTime is when the drill of the newest verified backup completed.
	// +optional
	LastVerifiedTime *metav1.Time `json:"lastVerifiedTime,omitempty"`

	// lastVerifiedBackup names the newest backup of the schedule a restore drill proved.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LastVerifiedBackup string `json:"lastVerifiedBackup,omitempty"`

	// consecutiveFailures counts failed backups since the last success. A failure never
	// stops the schedule.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// lastFailureTime is when the last failed backup counted in consecutiveFailures
	// finished.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// lastFailureMessage is why the last failed backup failed.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	LastFailureMessage string `json:"lastFailureMessage,omitempty"`

	// lastRunNow is the last value of the run-now annotation acted on ("sha256:<hex>" of a
	// value over 200 bytes), so that a re-apply of the same value does not start another
	// backup.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LastRunNow string `json:"lastRunNow,omitempty"`
}

// BackupSchedule creates OvercloudBackups on a cron schedule, like a CronJob creates
// Jobs, and prunes old ones by its history limits.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=obs,categories=overcloud-backup
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Last",type=date,JSONPath=`.status.lastScheduleTime`
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextScheduleTime`,description="When the next run is due (a time: kubectl prints a future date column as <invalid>)"
// +kubebuilder:printcolumn:name="Last Success",type=date,JSONPath=`.status.lastSuccessfulTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 42",message="metadata.name must be at most 42 characters: its backups are named <name>-<unix minutes>"
type BackupSchedule struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the schedule.
	// +required
	Spec BackupScheduleSpec `json:"spec"`

	// status is what the schedule did.
	// +optional
	Status BackupScheduleStatus `json:"status,omitempty"`
}

// BackupScheduleList is a list of BackupSchedules.
//
// +kubebuilder:object:root=true
type BackupScheduleList struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// items are the schedules.
	Items []BackupSchedule `json:"items"`
}
