// Package schedule is the cron arithmetic of the BackupSchedule controller: it parses a
// schedule and its time zone, decides which scheduled time (if any) is due, names the
// backup of a run, and chooses which finished backups the history limits prune.
//
// It copies the semantics of the Kubernetes CronJob controller (pkg/controller/cronjob,
// utils.go) on top of the same library, github.com/robfig/cron/v3. It is pure: no I/O
// beyond reading the time zone database, no clock (now is always an argument), no
// Kubernetes client, so table tests cover every case without a cluster.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Field paths named by a FieldError, ready for a status condition message.
const (
	FieldSchedule = "spec.schedule"
	FieldTimeZone = "spec.timeZone"
)

// MinEvery is the shortest "@every" interval accepted. Backups are named after the
// unix minute of their scheduled time (see ChildName), so two runs less than a minute
// apart would get the same name; a standard cron expression cannot be that frequent.
const MinEvery = time.Minute

// everyPrefix introduces a constant-interval descriptor in robfig/cron.
const everyPrefix = "@every "

// FieldError says which field of a BackupSchedule cannot be used, and why. The
// controller turns it into the ScheduleValid condition and waits for a spec change:
// retrying cannot fix it.
type FieldError struct {
	// Field is FieldSchedule or FieldTimeZone.
	Field string
	// Value is the field's value as given.
	Value string
	// Reason says what is wrong, in words meant for the user.
	Reason string
	// Err is the underlying parser error, if any.
	Err error
}

// Error implements error: `spec.schedule "* * *": <reason>`.
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns the underlying parser error.
func (e *FieldError) Unwrap() error { return e.Err }

// Schedule is a parsed schedule in its time zone. Build it with Parse; the zero value
// is not usable. It is immutable and safe for concurrent use.
type Schedule struct {
	spec string
	loc  *time.Location
	// Exactly one of cron and every is set.
	//
	// cron is the robfig schedule for standard expressions and the @yearly...@hourly
	// descriptors; a cron.Schedule rather than *cron.SpecSchedule so tests can count
	// the calls to Next.
	cron cron.Schedule
	// every is the interval of an "@every <duration>" schedule, whole seconds.
	every time.Duration
}

// Parse parses spec (spec.schedule) in the time zone timeZone (spec.timeZone, "" when
// omitted) the way the Kubernetes CronJob controller does, with robfig/cron/v3
// ParseStandard:
//
//   - five fields (minute hour day-of-month month day-of-week, "?" allowed for "*"), or
//     a descriptor: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly;
//   - "@every <duration>", as CronJob accepts it, for intervals of at least MinEvery.
//     Its runs are anchored at the last scheduled time (or the schedule's creation),
//     not at the clock;
//   - no "TZ=" or "CRON_TZ=" prefix: the zone belongs in spec.timeZone (the CronJob API
//     refuses the prefix in new objects, pointing at its timeZone field; the CRD's
//     validation refuses it too);
//   - a schedule that can never fire (such as "0 0 30 2 *") is refused here, where
//     CronJob only fails at run time.
//
// timeZone is an IANA name loaded with time.LoadLocation. Empty means UTC: this is the
// operator's choice, so that a schedule does not change meaning with the zone of the
// machine the operator runs on (CronJob uses the controller manager's local zone).
// "Local" is refused for the same reason, as CronJob refuses it.
//
// The error is a *FieldError naming the field at fault; the schedule is checked first.
func Parse(spec, timeZone string) (*Schedule, error) {
	if strings.Contains(spec, "TZ=") {
		return nil, &FieldError{Field: FieldSchedule, Value: spec,
			Reason: "set the time zone in spec.timeZone, not with TZ= or CRON_TZ= in the schedule"}
	}
	parsed, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, &FieldError{Field: FieldSchedule, Value: spec,
			Reason: "not a valid cron schedule: " + err.Error(), Err: err}
	}

	s := &Schedule{spec: spec}
	var calendar *cron.SpecSchedule
	switch p := parsed.(type) {
	case *cron.SpecSchedule:
		// ParseStandard leaves Location at time.Local, which robfig reads as "the zone of
		// the time passed to Next"; the schedule gets its own zone below. Which dates
		// exist does not depend on the zone, so UTC will do to check that.
		pinned := *p
		pinned.Location = time.UTC
		if neverFires(&pinned) {
			return nil, &FieldError{Field: FieldSchedule, Value: spec,
				Reason: "the schedule never fires: no month has such a day"}
		}
		calendar = &pinned
	case cron.ConstantDelaySchedule:
		// robfig silently turns a negative or sub-second interval into one second; read
		// the interval as written to refuse those instead.
		written, err := time.ParseDuration(strings.TrimPrefix(spec, everyPrefix))
		if err != nil || written < MinEvery {
			return nil, &FieldError{Field: FieldSchedule, Value: spec,
				Reason: fmt.Sprintf("an @every interval must be at least %s", MinEvery)}
		}
		s.every = p.Delay // whole seconds: robfig truncates the rest
	default:
		return nil, &FieldError{Field: FieldSchedule, Value: spec,
			Reason: fmt.Sprintf("unsupported kind of schedule %T", parsed)}
	}

	if s.loc, err = loadLocation(timeZone); err != nil {
		return nil, err
	}
	if calendar != nil {
		calendar.Location = s.loc
		s.cron = calendar
	}
	return s, nil
}

// loadLocation resolves spec.timeZone; see Parse.
func loadLocation(timeZone string) (*time.Location, error) {
	switch {
	case timeZone == "":
		return time.UTC, nil
	case strings.EqualFold(timeZone, "Local"):
		return nil, &FieldError{Field: FieldTimeZone, Value: timeZone,
			Reason: `must be an IANA time zone name such as "Europe/Paris", not the operator's local zone`}
	}
	loc, err := time.LoadLocation(timeZone)
	if err != nil {
		reason := "unknown time zone"
		if msg := err.Error(); !strings.HasPrefix(msg, reason) {
			reason += ": " + msg // such as a zone database that cannot be read
		}
		return nil, &FieldError{Field: FieldTimeZone, Value: timeZone, Reason: reason, Err: err}
	}
	return loc, nil
}

// neverFires reports whether a cron schedule has no date at all, such as the 30th of
// February. Which days exist does not depend on the year except for the 29th of
// February, and robfig searches five years ahead, so a schedule silent from 2000 (a
// leap year) on never fires.
func neverFires(s *cron.SpecSchedule) bool {
	return s.Next(time.Date(2000, time.January, 1, 0, 0, 0, 0, s.Location)).IsZero()
}

// String returns the schedule as written.
func (s *Schedule) String() string { return s.spec }

// Location returns the schedule's time zone (UTC when spec.timeZone is omitted). The
// times Decide returns are in this zone.
func (s *Schedule) Location() *time.Location { return s.loc }
