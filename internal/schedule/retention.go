package schedule

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Phase is where a backup of the schedule stands, as far as retention cares.
type Phase int

const (
	// Running is a backup that has not finished (pending, running, retrying). It is
	// never deleted and does not count against the history limits.
	Running Phase = iota
	// Succeeded is a backup that completed.
	Succeeded
	// Failed is a backup that failed for good.
	Failed
)

// String returns the phase's name.
func (p Phase) String() string {
	switch p {
	case Running:
		return "Running"
	case Succeeded:
		return "Succeeded"
	case Failed:
		return "Failed"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Child is one backup the schedule created.
type Child struct {
	// Name is the backup's name.
	Name string
	// Time orders the backups and gives their age: the scheduled time of a scheduled
	// backup, the creation time of any other (run-now).
	Time time.Time
	// Phase says whether it is still running, succeeded or failed. Phases other than
	// Succeeded and Failed are treated as Running: never deleted.
	Phase Phase
	// Verified is a succeeded backup whose restore drill proved it. The newest verified
	// backup is never deleted: it is the one a restore is known to work from.
	Verified bool
}

// Retention is how many finished backups a schedule keeps.
type Retention struct {
	// SuccessfulLimit is spec.successfulBackupsHistoryLimit after defaulting. The
	// newest succeeded backup is kept even when it is 0. Negative counts as 0.
	SuccessfulLimit int32
	// FailedLimit is spec.failedBackupsHistoryLimit after defaulting. Negative counts
	// as 0.
	FailedLimit int32
	// KeepWithin is spec.keepWithin; 0 when omitted. A finished backup whose Time is
	// not older than KeepWithin (Time >= now - KeepWithin) is kept whatever the limits
	// say. Negative counts as 0.
	KeepWithin time.Duration
}

// Deletion is a backup to delete, and why.
type Deletion struct {
	Child
	// Reason says which limit the backup is beyond, for logs and events.
	Reason string
}

// Prune chooses which of children to delete at now. Succeeded and failed backups are
// pruned separately, each newest first by Time (then by name, like the CronJob
// controller's byJobStartTime): the first SuccessfulLimit (at least one) succeeded and
// FailedLimit failed backups are kept, and so is every finished backup within
// KeepWithin; the rest is returned, oldest first. Running backups are never returned,
// and neither is the newest verified backup, whatever the limits say.
//
// KeepWithin measures age from Time, the scheduled (or creation) time, not from the
// completion time: Time is when the backup's data was taken, it is known for every
// backup including one that failed early, and it is the same clock that orders them,
// so the backups KeepWithin protects are always the newest ones and deletion always
// proceeds from the oldest. It is relative to now, as the API documents ("younger
// than"): if backups stop succeeding, older ones still age out down to the limits,
// and the newest succeeded backup is kept regardless.
func (r Retention) Prune(children []Child, now time.Time) []Deletion {
	var succeeded, failed []Child
	for _, c := range children {
		switch c.Phase {
		case Succeeded:
			succeeded = append(succeeded, c)
		case Failed:
			failed = append(failed, c)
		}
	}

	var horizon time.Time // zero: KeepWithin keeps nothing
	if r.KeepWithin > 0 {
		horizon = now.Add(-r.KeepWithin)
	}
	// The newest succeeded backup is kept even with a limit of 0: it is the one a
	// restore would use.
	deletions := r.prune(succeeded, "successfulBackupsHistoryLimit", r.SuccessfulLimit, max(r.SuccessfulLimit, 1), horizon)
	deletions = append(deletions, r.prune(failed, "failedBackupsHistoryLimit", r.FailedLimit, max(r.FailedLimit, 0), horizon)...)
	if v, ok := newestVerified(succeeded); ok {
		deletions = slices.DeleteFunc(deletions, func(d Deletion) bool { return d.Name == v.Name })
	}
	slices.SortFunc(deletions, func(a, b Deletion) int { return compareChildren(a.Child, b.Child) })
	return deletions
}

// prune returns the children of one phase beyond the keep newest, except those not
// older than horizon (zero: none). limitName and limit are the spec field, for the
// reason.
func (r Retention) prune(children []Child, limitName string, limit, keep int32, horizon time.Time) []Deletion {
	// Newest first.
	slices.SortFunc(children, func(a, b Child) int { return compareChildren(b, a) })
	var deletions []Deletion
	for i, c := range children {
		if int64(i) < int64(keep) || (!horizon.IsZero() && !c.Time.Before(horizon)) {
			continue
		}
		deletions = append(deletions, Deletion{Child: c, Reason: r.reason(c.Phase, limitName, limit, keep)})
	}
	return deletions
}

// reason explains a deletion: "successfulBackupsHistoryLimit is 7: the 7 newest
// succeeded backups are kept (keepWithin 168h0m0s)".
func (r Retention) reason(p Phase, limitName string, limit, keep int32) string {
	phase := strings.ToLower(p.String())
	var kept string
	switch keep {
	case 0:
		kept = "no " + phase + " backup is kept"
	case 1:
		kept = "the newest " + phase + " backup is kept"
	default:
		kept = fmt.Sprintf("the %d newest %s backups are kept", keep, phase)
	}
	reason := fmt.Sprintf("%s is %d: %s", limitName, limit, kept)
	if r.KeepWithin > 0 {
		reason += fmt.Sprintf(", and it is older than keepWithin %s", r.KeepWithin)
	}
	return reason
}

// compareChildren orders children oldest first: by Time, then by name.
func compareChildren(a, b Child) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// newestVerified is the newest verified child by Time (then name).
func newestVerified(children []Child) (Child, bool) {
	var newest Child
	found := false
	for _, c := range children {
		if c.Verified && (!found || compareChildren(c, newest) > 0) {
			newest, found = c, true
		}
	}
	return newest, found
}
