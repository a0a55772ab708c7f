package v1alpha1

import "time"

// This file holds the BackupSchedule's defaults and the getters that apply them: the one
// place a default lives. Every getter accepts a nil receiver.

// Defaults of the BackupSchedule's fields, applied by the getters below when a field is
// omitted.
const (
	// DefaultSuccessfulBackupsHistoryLimit is how many succeeded backups are kept.
	DefaultSuccessfulBackupsHistoryLimit int32 = 7
	// DefaultFailedBackupsHistoryLimit is how many failed backups are kept.
	DefaultFailedBackupsHistoryLimit int32 = 3
	// DefaultConcurrencyPolicy is spec.concurrencyPolicy's default (its
	// +kubebuilder:default), as for a CronJob.
	DefaultConcurrencyPolicy = ConcurrencyForbid
)

// IsSuspended is spec.suspend, false when omitted.
func (s *BackupSchedule) IsSuspended() bool {
	return s != nil && s.Spec.Suspend != nil && *s.Spec.Suspend
}

// EffectiveConcurrencyPolicy is spec.concurrencyPolicy, or DefaultConcurrencyPolicy.
func (s *BackupSchedule) EffectiveConcurrencyPolicy() ConcurrencyPolicy {
	if s == nil || s.Spec.ConcurrencyPolicy == "" {
		return DefaultConcurrencyPolicy
	}
	return s.Spec.ConcurrencyPolicy
}

// SuccessfulHistoryLimit is spec.successfulBackupsHistoryLimit, or
// DefaultSuccessfulBackupsHistoryLimit.
func (s *BackupSchedule) SuccessfulHistoryLimit() int32 {
	if s == nil || s.Spec.SuccessfulBackupsHistoryLimit == nil {
		return DefaultSuccessfulBackupsHistoryLimit
	}
	return *s.Spec.SuccessfulBackupsHistoryLimit
}

// FailedHistoryLimit is spec.failedBackupsHistoryLimit, or DefaultFailedBackupsHistoryLimit.
func (s *BackupSchedule) FailedHistoryLimit() int32 {
	if s == nil || s.Spec.FailedBackupsHistoryLimit == nil {
		return DefaultFailedBackupsHistoryLimit
	}
	return *s.Spec.FailedBackupsHistoryLimit
}

// KeepWithin is spec.keepWithin, 0 (keep nothing for its age) when omitted.
func (s *BackupSchedule) KeepWithin() time.Duration {
	if s == nil || s.Spec.KeepWithin == nil {
		return 0
	}
	return s.Spec.KeepWithin.Duration
}

// VerificationInterval is how far apart the schedule's drilled backups are: 0 with policy
// EveryBackup (the default), else spec.verification.interval or
// DefaultVerificationInterval.
func (s *BackupSchedule) VerificationInterval() time.Duration {
	v := s.Spec.Verification
	if v == nil || v.Policy != VerifyInterval {
		return 0
	}
	if v.Interval == nil || v.Interval.Duration <= 0 {
		return DefaultVerificationInterval
	}
	return v.Interval.Duration
}
