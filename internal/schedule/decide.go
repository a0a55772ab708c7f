package schedule

import (
	"math"
	"time"
)

// MaxMissed is how many unstarted scheduled times Decide counts before it stops and
// sets TooManyMissed, the threshold of the CronJob controller ("more than 80 hourly
// runs over a long weekend, less than lots"). Only the most recent time is ever
// started, however many were missed.
const MaxMissed = 100

// RequeueSlack is added to the wait for the next scheduled time so that the controller
// wakes just after it, not just before, despite small clock differences (the CronJob
// controller's nextScheduleDelta).
const RequeueSlack = 100 * time.Millisecond

// maxSettle bounds the extra steps taken after the binary search in cronSeries.latest.
const maxSettle = 3

// Decision is what Decide found: which scheduled time to start now, if any, and when
// the next one falls.
type Decision struct {
	// MostRecent is the latest scheduled time after earliest and not after now; zero
	// when none is due. It is the only one the controller may start: earlier unstarted
	// times are dropped, never started in a burst.
	MostRecent time.Time
	// TooLate is true when MostRecent is more than startingDeadlineSeconds old: it must
	// not be started. The controller reports the miss and waits for Next; it does not
	// record MostRecent as started, so every pass until Next sees the same miss.
	TooLate bool
	// Missed counts the unstarted scheduled times still within the starting deadline:
	// MostRecent and the earlier ones dropped in its favour (so 1 is the normal case).
	// It is 0 when nothing is due or when MostRecent is TooLate, and stops at
	// MaxMissed+1.
	Missed int
	// TooManyMissed is true when more than MaxMissed scheduled times are unstarted
	// within the deadline: a controller that was stopped for long, a clock jump or a
	// wrong creation time. The controller turns it into one warning event and, as
	// always, starts MostRecent only.
	TooManyMissed bool
	// Next is the first scheduled time after now, for the requeue and
	// status.nextScheduleTime; zero when robfig/cron finds none within five years.
	Next time.Time
}

// ShouldStart reports whether a run is due now: MostRecent is set and not too late.
func (d Decision) ShouldStart() bool { return !d.MostRecent.IsZero() && !d.TooLate }

// RequeueAfter is how long the controller waits before it looks again: until Next,
// plus RequeueSlack. It is 0 (no timed requeue) when there is no Next.
func (d Decision) RequeueAfter(now time.Time) time.Duration {
	if d.Next.IsZero() {
		return 0
	}
	return d.Next.Sub(now) + RequeueSlack
}

// Decide says which scheduled time is due at now. It follows the CronJob controller
// (mostRecentScheduleTime, nextScheduleTime, and the tooLate check of syncCronJob):
//
//   - earliest is the scheduled time of the last run started (status.lastScheduleTime)
//     or, when there was none, the schedule's creation time. Times up to and including
//     earliest are never due again. An @every schedule counts its intervals from
//     earliest.
//   - startingDeadlineSeconds is spec.startingDeadlineSeconds; nil means no deadline. A
//     scheduled time t is too late when t plus the deadline is before now, so with 0 a
//     run starts only if the controller looks at that very second: in practice never,
//     as in CronJob. A negative value (the CRD forbids it) counts as 0.
//   - Only the scheduled times within the deadline are counted in Missed (CronJob
//     counts the same window, hence its advice to set or lower the deadline when too
//     many are missed). Unlike CronJob, which then finds nothing, Decide still reports
//     the latest time before the deadline, as TooLate, so the miss can be reported.
//
// The result is exact and the work bounded whatever the gap between earliest and now:
// at most MaxMissed+1 steps of the cron library to count, then a binary search (about
// 32 steps for a century) for the latest time; @every schedules are plain arithmetic.
// CronJob instead estimates the count from the first interval, which can miss the
// latest time of an irregular schedule such as "30 10,11,12 * * 1-5".
func (s *Schedule) Decide(earliest time.Time, startingDeadlineSeconds *int64, now time.Time) Decision {
	ser := s.series(earliest)
	var d Decision
	if now.After(earliest) {
		d.Next = ser.after(now)
	} else {
		// A last scheduled time in the future (clock skew): nothing before it is due.
		d.Next = ser.after(earliest)
		return d.in(s.loc)
	}

	// The scheduled times that may still start lie in (windowStart, now].
	windowStart := earliest
	if startingDeadlineSeconds != nil {
		cutoff := now.Add(-deadline(*startingDeadlineSeconds))
		// A time exactly at the cutoff is not too late yet: open the window 1ns before.
		if open := cutoff.Add(-time.Nanosecond); open.After(windowStart) {
			windowStart = open
		}
	}

	n, last := ser.count(windowStart, now, MaxMissed+1)
	switch {
	case n == 0 && windowStart.After(earliest):
		// Nothing within the deadline; the latest time before it, if any, is too late.
		d.MostRecent = ser.latest(earliest, windowStart)
		d.TooLate = !d.MostRecent.IsZero()
	case n > MaxMissed:
		// Counting stopped: search the rest of the window for the latest time.
		d.MostRecent = last
		if l := ser.latest(last, now); !l.IsZero() {
			d.MostRecent = l
		}
	default:
		d.MostRecent = last
	}
	d.Missed = n
	d.TooManyMissed = n > MaxMissed
	return d.in(s.loc)
}

// deadline converts startingDeadlineSeconds to a duration: negative values count as 0
// and values beyond time.Duration's range (about 292 years) saturate.
func deadline(seconds int64) time.Duration {
	switch {
	case seconds <= 0:
		return 0
	case seconds > int64(math.MaxInt64/time.Second):
		return math.MaxInt64
	}
	return time.Duration(seconds) * time.Second
}

// in expresses the decision's times in the schedule's zone.
func (d Decision) in(loc *time.Location) Decision {
	if !d.MostRecent.IsZero() {
		d.MostRecent = d.MostRecent.In(loc)
	}
	if !d.Next.IsZero() {
		d.Next = d.Next.In(loc)
	}
	return d
}

// series is the set of scheduled times of a Schedule once its anchor is known.
type series interface {
	// after is the first scheduled time strictly after t; zero when there is none.
	after(t time.Time) time.Time
	// count walks the scheduled times in (from, to], oldest first, stopping after
	// limit of them, and returns how many it walked and the last one.
	count(from, to time.Time, limit int) (int, time.Time)
	// latest is the last scheduled time in (from, to]; zero when there is none.
	latest(from, to time.Time) time.Time
}

// series returns the scheduled times of s for runs counted from earliest.
func (s *Schedule) series(earliest time.Time) series {
	if s.every > 0 {
		// robfig's ConstantDelaySchedule.Next drops the fraction of a second first.
		return everySeries{anchor: earliest.Unix(), step: int64(s.every / time.Second)}
	}
	return cronSeries{sched: s.cron}
}

// due reports whether t is a scheduled time found at or before to.
func due(t, to time.Time) bool { return !t.IsZero() && !t.After(to) }

// cronSeries is a cron expression: its times depend on the calendar only.
type cronSeries struct {
	sched interface{ Next(time.Time) time.Time }
}

func (c cronSeries) after(t time.Time) time.Time { return c.sched.Next(t) }

func (c cronSeries) count(from, to time.Time, limit int) (int, time.Time) {
	var last time.Time
	n := 0
	for t := from; n < limit; n++ {
		next := c.sched.Next(t)
		if !due(next, to) {
			break
		}
		last, t = next, next
	}
	return n, last
}

// latest finds the last scheduled time in (from, to] by bisection on Next, which
// needs only that Next(t) is the first scheduled time after t. Scheduled times are
// whole seconds, so once the interval is a second wide, Next(lo) is the answer.
func (c cronSeries) latest(from, to time.Time) time.Time {
	if !due(c.sched.Next(from), to) {
		return time.Time{}
	}
	// Invariant: a scheduled time lies in (lo, to]; none lies in (hi, to].
	lo, hi := from, to
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if due(c.sched.Next(mid), to) {
			lo = mid
		} else {
			hi = mid
		}
	}
	t := c.sched.Next(lo)
	// Around a daylight saving change robfig's Next may step in wall-clock terms; take
	// any later time the bisection could have stepped over.
	for range maxSettle {
		next := c.sched.Next(t)
		if !due(next, to) {
			break
		}
		t = next
	}
	return t
}

// everySeries is an "@every" schedule: anchor + k*step for k >= 1, in unix seconds.
type everySeries struct {
	anchor, step int64
}

// index is the number of whole steps from the anchor to t (floor; negative before it).
// Scheduled times are whole seconds, so t counts as its whole second.
func (e everySeries) index(t time.Time) int64 {
	d := t.Unix() - e.anchor
	k := d / e.step
	if d%e.step != 0 && d < 0 {
		k--
	}
	return k
}

func (e everySeries) at(k int64) time.Time { return time.Unix(e.anchor+k*e.step, 0) }

func (e everySeries) after(t time.Time) time.Time { return e.at(max(e.index(t)+1, 1)) }

// bounds returns the first and last k whose time lies in (from, to].
func (e everySeries) bounds(from, to time.Time) (first, last int64) {
	return max(e.index(from)+1, 1), e.index(to)
}

func (e everySeries) count(from, to time.Time, limit int) (int, time.Time) {
	first, last := e.bounds(from, to)
	if last < first {
		return 0, time.Time{}
	}
	n := min(last-first+1, int64(limit))
	return int(n), e.at(first + n - 1)
}

func (e everySeries) latest(from, to time.Time) time.Time {
	first, last := e.bounds(from, to)
	if last < first {
		return time.Time{}
	}
	return e.at(last)
}
