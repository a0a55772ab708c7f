package schedule

import (
	"testing"
	"time"
)

// at parses an RFC 3339 time for a table row.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func seconds(n int64) *int64 { return &n }

// top is a Thursday, on the hour; the Kubernetes CronJob tests use the same instant.
var top = at("2016-05-19T10:00:00Z")

type decideCase struct {
	name     string
	spec     string
	timeZone string
	earliest time.Time // last schedule time, or creation time
	deadline *int64    // startingDeadlineSeconds
	now      time.Time
	want     Decision
}

func runDecide(t *testing.T, tests []decideCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec, tt.timeZone)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.spec, tt.timeZone, err)
			}
			got := s.Decide(tt.earliest, tt.deadline, tt.now)
			checkDecision(t, got, tt.want)
			if got.Next.IsZero() || !got.Next.After(tt.now) {
				t.Errorf("Next = %v, want a time after now %v", got.Next, tt.now)
			}
			if !got.MostRecent.IsZero() && (!got.MostRecent.After(tt.earliest) || got.MostRecent.After(tt.now)) {
				t.Errorf("MostRecent = %v, outside (earliest, now] = (%v, %v]", got.MostRecent, tt.earliest, tt.now)
			}
			for _, tm := range []time.Time{got.MostRecent, got.Next} {
				if !tm.IsZero() && tm.Location() != s.Location() {
					t.Errorf("time %v is not in the schedule's zone %v", tm, s.Location())
				}
			}
		})
	}
}

func checkDecision(t *testing.T, got, want Decision) {
	t.Helper()
	if !got.MostRecent.Equal(want.MostRecent) {
		t.Errorf("MostRecent = %v, want %v", got.MostRecent, want.MostRecent)
	}
	if got.TooLate != want.TooLate {
		t.Errorf("TooLate = %v, want %v", got.TooLate, want.TooLate)
	}
	if got.Missed != want.Missed {
		t.Errorf("Missed = %d, want %d", got.Missed, want.Missed)
	}
	if got.TooManyMissed != want.TooManyMissed {
		t.Errorf("TooManyMissed = %v, want %v", got.TooManyMissed, want.TooManyMissed)
	}
	if !got.Next.Equal(want.Next) {
		t.Errorf("Next = %v, want %v", got.Next, want.Next)
	}
	wantStart := !want.MostRecent.IsZero() && !want.TooLate
	if got.ShouldStart() != wantStart {
		t.Errorf("ShouldStart() = %v, want %v", got.ShouldStart(), wantStart)
	}
}

// TestDecide follows the cases of the Kubernetes CronJob controller's tests
// (TestNextScheduleTime, TestMostRecentScheduleTime, TestNextScheduleTimeDuration)
// and adds its own around them.
func TestDecide(t *testing.T) {
	hour := time.Hour
	day := 24 * time.Hour
	runDecide(t, []decideCase{
		{
			name: "hourly, created before the first time, not yet due",
			spec: "0 * * * *", earliest: top.Add(-10 * time.Minute), now: top.Add(-7 * time.Minute),
			want: Decision{Next: top},
		},
		{
			name: "hourly, created before the first time, just due",
			spec: "0 * * * *", earliest: top.Add(-10 * time.Minute), now: top.Add(2 * time.Second),
			want: Decision{MostRecent: top, Missed: 1, Next: top.Add(hour)},
		},
		{
			name: "hourly, started at the last time, next not due",
			spec: "0 * * * *", earliest: top, now: top.Add(2 * time.Minute),
			want: Decision{Next: top.Add(hour)},
		},
		{
			name: "hourly, the time after the last one is due",
			spec: "0 * * * *", earliest: top, now: top.Add(hour + 5*time.Minute),
			want: Decision{MostRecent: top.Add(hour), Missed: 1, Next: top.Add(2 * hour)},
		},
		{
			name: "hourly, two due: only the latest is started",
			spec: "0 * * * *", earliest: top.Add(-hour), now: top.Add(hour + 5*time.Minute),
			want: Decision{MostRecent: top.Add(hour), Missed: 2, Next: top.Add(2 * hour)},
		},
		{
			name: "hourly, created mid-hour, five missed",
			spec: "0 * * * *", earliest: top.Add(10 * time.Second), now: top.Add(301 * time.Minute),
			want: Decision{MostRecent: top.Add(5 * hour), Missed: 5, Next: top.Add(6 * hour)},
		},
		{
			name: "hourly, ten days late without a deadline: too many missed, latest started",
			spec: "0 * * * *", earliest: top.Add(-hour), now: top.Add(hour + 10*day + 5*time.Minute),
			want: Decision{MostRecent: top.Add(hour + 10*day), Missed: MaxMissed + 1, TooManyMissed: true, Next: top.Add(2*hour + 10*day)},
		},
		{
			name: "hourly, ten days late with a two-hour deadline: two within it",
			spec: "0 * * * *", earliest: top.Add(-hour), deadline: seconds(2 * 60 * 60), now: top.Add(hour + 10*day + 5*time.Minute),
			want: Decision{MostRecent: top.Add(hour + 10*day), Missed: 2, Next: top.Add(2*hour + 10*day)},
		},
		{
			name: "hourly, exactly 101 due: too many",
			spec: "0 * * * *", earliest: top, now: top.Add(101 * hour),
			want: Decision{MostRecent: top.Add(101 * hour), Missed: 101, TooManyMissed: true, Next: top.Add(102 * hour)},
		},
		{
			name: "hourly, exactly 100 due: not too many",
			spec: "0 * * * *", earliest: top, now: top.Add(100*hour + 59*time.Minute),
			want: Decision{MostRecent: top.Add(100 * hour), Missed: 100, Next: top.Add(101 * hour)},
		},
		{
			name: "every minute, created mid-minute",
			spec: "* * * * *", earliest: top.Add(30 * time.Second), now: top.Add(3*time.Minute + 10*time.Second),
			want: Decision{MostRecent: top.Add(3 * time.Minute), Missed: 3, Next: top.Add(4 * time.Minute)},
		},
		{
			name: "every minute, years behind: bounded, exact latest",
			spec: "* * * * *", earliest: at("2001-01-01T00:00:00Z"), now: at("2024-02-29T13:37:42Z"),
			want: Decision{MostRecent: at("2024-02-29T13:37:00Z"), Missed: MaxMissed + 1, TooManyMissed: true, Next: at("2024-02-29T13:38:00Z")},
		},
		{
			name: "weekly on Thursday noon, two missed",
			spec: "0 12 * * 4", earliest: top.Add(2 * hour), now: top.Add(19*day + hour + 30*time.Minute),
			want: Decision{MostRecent: at("2016-06-02T12:00:00Z"), Missed: 2, Next: at("2016-06-09T12:00:00Z")},
		},
		{
			name: "weekly on Friday noon, no previous run, not yet due",
			spec: "0 12 * * 5", earliest: top, now: top.Add(6 * hour),
			want: Decision{Next: at("2016-05-20T12:00:00Z")},
		},
		{
			name: "@weekly, created on Thursday, due on Sunday midnight",
			spec: "@weekly", earliest: top, now: at("2016-05-22T00:00:30Z"),
			want: Decision{MostRecent: at("2016-05-22T00:00:00Z"), Missed: 1, Next: at("2016-05-29T00:00:00Z")},
		},
		{
			name: "@monthly across a short month",
			spec: "@monthly", earliest: at("2016-01-01T00:00:00Z"), now: at("2016-03-15T00:00:00Z"),
			want: Decision{MostRecent: at("2016-03-01T00:00:00Z"), Missed: 2, Next: at("2016-04-01T00:00:00Z")},
		},
		{
			name: "@yearly, one year late",
			spec: "@yearly", earliest: at("2015-01-01T00:00:00Z"), now: at("2016-06-01T00:00:00Z"),
			want: Decision{MostRecent: at("2016-01-01T00:00:00Z"), Missed: 1, Next: at("2017-01-01T00:00:00Z")},
		},
		{
			name: "irregular schedule over a day",
			spec: "30 6-16/4 * * 1-5", earliest: top.Add(30 * time.Minute), now: top.Add(day + 31*time.Minute),
			// Thu 14:30, Fri 06:30, Fri 10:30.
			want: Decision{MostRecent: top.Add(day + 30*time.Minute), Missed: 3, Next: top.Add(day + 4*hour + 30*time.Minute)},
		},
		{
			name: "irregular schedule over a weekend",
			spec: "30 6-16/4 * * 1-5", earliest: top.Add(30 * time.Minute), now: top.Add(4*day + 31*time.Minute),
			// Thu 14:30; Fri 06:30, 10:30, 14:30; Mon 06:30, 10:30.
			want: Decision{MostRecent: top.Add(4*day + 30*time.Minute), Missed: 6, Next: top.Add(4*day + 4*hour + 30*time.Minute)},
		},
		{
			name: "irregular schedule from the creation time",
			spec: "30 6-16/4 * * 1-5", earliest: top, now: top.Add(day + 31*time.Minute),
			want: Decision{MostRecent: top.Add(day + 30*time.Minute), Missed: 4, Next: top.Add(day + 4*hour + 30*time.Minute)},
		},
		{
			// Kubernetes' estimate from the first interval (one hour) overshoots and finds
			// nothing here; the latest time really is Friday 12:30.
			name: "irregular schedule where CronJob's estimate finds nothing",
			spec: "30 10,11,12 * * 1-5", earliest: top.Add(30 * time.Minute), now: top.Add(30*hour + 30*time.Minute),
			want: Decision{MostRecent: at("2016-05-20T12:30:00Z"), Missed: 5, Next: at("2016-05-23T10:30:00Z")},
		},
		{
			name: "started at the creation time itself: not due again",
			spec: "0 * * * *", earliest: top, now: top.Add(30 * time.Second),
			want: Decision{Next: top.Add(hour)},
		},
		{
			name: "every five minutes, last at :30, now :31",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), now: top.Add(31 * time.Minute),
			want: Decision{Next: top.Add(35 * time.Minute)},
		},
		{
			name: "every five minutes, one-minute deadline, nothing due",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), deadline: seconds(60), now: top.Add(32 * time.Minute),
			want: Decision{Next: top.Add(35 * time.Minute)},
		},
		{
			name: "deadline: due and within it",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), deadline: seconds(60), now: top.Add(35*time.Minute + 59*time.Second),
			want: Decision{MostRecent: top.Add(35 * time.Minute), Missed: 1, Next: top.Add(40 * time.Minute)},
		},
		{
			name: "deadline: exactly at the deadline is still in time",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), deadline: seconds(60), now: top.Add(36 * time.Minute),
			want: Decision{MostRecent: top.Add(35 * time.Minute), Missed: 1, Next: top.Add(40 * time.Minute)},
		},
		{
			name: "deadline: a nanosecond past it is too late",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), deadline: seconds(60), now: top.Add(36*time.Minute + time.Nanosecond),
			want: Decision{MostRecent: top.Add(35 * time.Minute), TooLate: true, Next: top.Add(40 * time.Minute)},
		},
		{
			name: "deadline: two missed, the latest too late",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), deadline: seconds(60), now: top.Add(44 * time.Minute),
			want: Decision{MostRecent: top.Add(40 * time.Minute), TooLate: true, Next: top.Add(45 * time.Minute)},
		},
		{
			name: "deadline: too late after years, bounded",
			spec: "* * * * *", earliest: at("2001-01-01T00:00:00Z"), deadline: seconds(10), now: at("2024-02-29T13:37:42Z"),
			want: Decision{MostRecent: at("2024-02-29T13:37:00Z"), TooLate: true, Next: at("2024-02-29T13:38:00Z")},
		},
		{
			name: "deadline zero: due only at the very second",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), deadline: seconds(0), now: top.Add(35 * time.Minute),
			want: Decision{MostRecent: top.Add(35 * time.Minute), Missed: 1, Next: top.Add(40 * time.Minute)},
		},
		{
			name: "deadline zero: the controller's usual slack makes it too late",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), deadline: seconds(0), now: top.Add(35*time.Minute + RequeueSlack),
			want: Decision{MostRecent: top.Add(35 * time.Minute), TooLate: true, Next: top.Add(40 * time.Minute)},
		},
		{
			name: "negative deadline counts as zero",
			spec: "*/5 * * * *", earliest: top.Add(30 * time.Minute), deadline: seconds(-60), now: top.Add(36 * time.Minute),
			want: Decision{MostRecent: top.Add(35 * time.Minute), TooLate: true, Next: top.Add(40 * time.Minute)},
		},
		{
			name: "huge deadline counts as none",
			spec: "0 * * * *", earliest: top, deadline: seconds(1 << 62), now: top.Add(3*hour + time.Minute),
			want: Decision{MostRecent: top.Add(3 * hour), Missed: 3, Next: top.Add(4 * hour)},
		},
		{
			name: "last schedule time in the future (clock skew): nothing before it",
			spec: "0 * * * *", earliest: top.Add(2 * hour), now: top.Add(time.Minute),
			want: Decision{Next: top.Add(3 * hour)},
		},
		{
			name: "now equals the last schedule time",
			spec: "0 * * * *", earliest: top, now: top,
			want: Decision{Next: top.Add(hour)},
		},
		{
			name: "time zone: 09:00 in Berlin is 07:00 UTC in summer",
			spec: "0 9 * * *", timeZone: "Europe/Berlin", earliest: top, now: at("2016-05-20T07:30:00Z"),
			want: Decision{MostRecent: at("2016-05-20T07:00:00Z"), Missed: 1, Next: at("2016-05-21T07:00:00Z")},
		},
		{
			name: "time zone: the same schedule in UTC is not due yet",
			spec: "0 9 * * *", earliest: top, now: at("2016-05-20T07:30:00Z"),
			want: Decision{Next: at("2016-05-20T09:00:00Z")},
		},
		{
			name: "time zone: @daily is local midnight in New York",
			spec: "@daily", timeZone: "America/New_York", earliest: top, now: at("2016-05-20T04:00:01Z"),
			want: Decision{MostRecent: at("2016-05-20T04:00:00Z"), Missed: 1, Next: at("2016-05-21T04:00:00Z")},
		},
		{
			name: "time zone: half-hour offset (India)",
			spec: "0 2 * * *", timeZone: "Asia/Kolkata", earliest: top, now: at("2016-05-20T00:00:00Z"),
			want: Decision{MostRecent: at("2016-05-19T20:30:00Z"), Missed: 1, Next: at("2016-05-20T20:30:00Z")},
		},
	})
}

// TestDecideEvery covers "@every", which counts its intervals from earliest, as CronJob
// does for the schedule it gets from robfig.
func TestDecideEvery(t *testing.T) {
	hour := time.Hour
	runDecide(t, []decideCase{
		{
			name: "not yet due",
			spec: "@every 1h", earliest: top.Add(-59 * time.Minute), now: top,
			want: Decision{Next: top.Add(time.Minute)},
		},
		{
			name: "due, anchored at the creation time",
			spec: "@every 1h", earliest: top.Add(-59 * time.Minute), now: top.Add(2 * time.Minute),
			want: Decision{MostRecent: top.Add(time.Minute), Missed: 1, Next: top.Add(hour + time.Minute)},
		},
		{
			name: "fraction of a second dropped, as robfig does",
			spec: "@every 1h", earliest: top.Add(500 * time.Millisecond), now: top.Add(2*hour + time.Minute),
			want: Decision{MostRecent: top.Add(2 * hour), Missed: 2, Next: top.Add(3 * hour)},
		},
		{
			name: "a week behind without a deadline (CronJob's @every case)",
			spec: "@every 1h", earliest: top.Add(time.Minute), now: top.Add(7 * 24 * hour),
			want: Decision{MostRecent: top.Add(6*24*hour + 23*hour + time.Minute), Missed: MaxMissed + 1, TooManyMissed: true, Next: top.Add(7*24*hour + time.Minute)},
		},
		{
			name: "a week behind with a ten-second deadline: too late",
			spec: "@every 1h", earliest: top.Add(time.Minute), deadline: seconds(10), now: top.Add(7 * 24 * hour),
			want: Decision{MostRecent: top.Add(6*24*hour + 23*hour + time.Minute), TooLate: true, Next: top.Add(7*24*hour + time.Minute)},
		},
		{
			name: "deadline keeps the anchor (CronJob would re-anchor at now minus the deadline)",
			spec: "@every 90m", earliest: top, deadline: seconds(600), now: top.Add(3*hour + 5*time.Minute),
			want: Decision{MostRecent: top.Add(3 * hour), Missed: 1, Next: top.Add(4*hour + 30*time.Minute)},
		},
		{
			name: "exactly on an interval",
			spec: "@every 90s", earliest: top, now: top.Add(3 * time.Minute),
			want: Decision{MostRecent: top.Add(3 * time.Minute), Missed: 2, Next: top.Add(4*time.Minute + 30*time.Second)},
		},
		{
			name: "last schedule time in the future",
			spec: "@every 1h", earliest: top.Add(2 * hour), now: top,
			want: Decision{Next: top.Add(3 * hour)},
		},
		{
			name: "time zone does not matter",
			spec: "@every 24h", timeZone: "America/New_York", earliest: at("2024-03-09T12:00:00-05:00"), now: at("2024-03-10T13:00:00-04:00"),
			want: Decision{MostRecent: at("2024-03-10T13:00:00-04:00"), Missed: 1, Next: at("2024-03-11T13:00:00-04:00")},
		},
	})
}

// TestDecideDST pins down how robfig/cron, and so the CronJob controller, treats
// daylight saving changes in a schedule's zone: a wall-clock time that does not exist
// (spring forward) is skipped that day, one that happens twice (fall back) runs twice.
func TestDecideDST(t *testing.T) {
	runDecide(t, []decideCase{
		{
			// 2024-03-10 02:00 EST jumps to 03:00 EDT.
			name: "New York spring forward: 02:30 does not exist, skipped that day",
			spec: "30 2 * * *", timeZone: "America/New_York",
			earliest: at("2024-03-09T02:30:00-05:00"), now: at("2024-03-10T12:00:00-04:00"),
			want: Decision{Next: at("2024-03-11T02:30:00-04:00")},
		},
		{
			name: "New York spring forward: hourly goes from 01:00 to 03:00",
			spec: "0 * * * *", timeZone: "America/New_York",
			earliest: at("2024-03-10T01:00:00-05:00"), now: at("2024-03-10T03:00:30-04:00"),
			want: Decision{MostRecent: at("2024-03-10T03:00:00-04:00"), Missed: 1, Next: at("2024-03-10T04:00:00-04:00")},
		},
		{
			// 2024-11-03 02:00 EDT falls back to 01:00 EST.
			name: "New York fall back: 01:30 runs again in standard time",
			spec: "30 1 * * *", timeZone: "America/New_York",
			earliest: at("2024-11-03T01:30:00-04:00"), now: at("2024-11-03T01:45:00-05:00"),
			want: Decision{MostRecent: at("2024-11-03T01:30:00-05:00"), Missed: 1, Next: at("2024-11-04T01:30:00-05:00")},
		},
		{
			name: "New York fall back: both 01:30s due at once, only the second started",
			spec: "30 1 * * *", timeZone: "America/New_York",
			earliest: at("2024-11-02T01:30:00-04:00"), now: at("2024-11-03T03:00:00-05:00"),
			want: Decision{MostRecent: at("2024-11-03T01:30:00-05:00"), Missed: 2, Next: at("2024-11-04T01:30:00-05:00")},
		},
		{
			name: "New York fall back: hourly runs at 01:00 twice, then 02:00",
			spec: "0 * * * *", timeZone: "America/New_York",
			earliest: at("2024-11-03T01:00:00-04:00"), now: at("2024-11-03T02:00:30-05:00"),
			want: Decision{MostRecent: at("2024-11-03T02:00:00-05:00"), Missed: 2, Next: at("2024-11-03T03:00:00-05:00")},
		},
		{
			// 2024-03-31 02:00 CET jumps to 03:00 CEST.
			name: "Berlin spring forward: 02:30 skipped that day",
			spec: "30 2 * * *", timeZone: "Europe/Berlin",
			earliest: at("2024-03-30T12:00:00+01:00"), now: at("2024-03-31T12:00:00+02:00"),
			want: Decision{Next: at("2024-04-01T02:30:00+02:00")},
		},
		{
			// 2024-10-27 03:00 CEST falls back to 02:00 CET.
			name: "Berlin fall back: 02:30 runs in summer time, then again in winter time",
			spec: "30 2 * * *", timeZone: "Europe/Berlin",
			earliest: at("2024-10-27T02:30:00+02:00"), now: at("2024-10-27T03:00:00+01:00"),
			want: Decision{MostRecent: at("2024-10-27T02:30:00+01:00"), Missed: 1, Next: at("2024-10-28T02:30:00+01:00")},
		},
		{
			name: "Berlin: more than 100 hourly runs across the fall back, latest exact",
			spec: "0 * * * *", timeZone: "Europe/Berlin",
			earliest: at("2024-10-20T00:00:00+02:00"), now: at("2024-10-30T10:20:00+01:00"),
			want: Decision{MostRecent: at("2024-10-30T10:00:00+01:00"), Missed: MaxMissed + 1, TooManyMissed: true, Next: at("2024-10-30T11:00:00+01:00")},
		},
	})
}

func TestRequeueAfter(t *testing.T) {
	tests := []struct {
		name     string
		spec     string
		earliest time.Time
		now      time.Time
		want     time.Duration
	}{
		{name: "irregular schedule within the day", spec: "30 6-16/4 * * 1-5", earliest: top.Add(30 * time.Minute), now: top.Add(24*time.Hour + 31*time.Minute), want: 3*time.Hour + 59*time.Minute + RequeueSlack},
		{name: "irregular schedule over the weekend", spec: "30 10,11,12 * * 1-5", earliest: top.Add(30 * time.Minute), now: top.Add(30*time.Hour + 30*time.Minute), want: 66*time.Hour + RequeueSlack},
		{name: "weekly, two missed", spec: "0 12 * * 4", earliest: top.Add(2 * time.Hour), now: top.Add(19*24*time.Hour + time.Hour + 30*time.Minute), want: 48*time.Hour + 30*time.Minute + RequeueSlack},
		{name: "weekly, never run", spec: "0 12 * * 5", earliest: top, now: top.Add(6 * time.Hour), want: 20*time.Hour + RequeueSlack},
		{name: "29 February in 2097: robfig finds no time within five years", spec: "0 0 29 2 *", earliest: at("2097-01-01T00:00:00Z"), now: at("2097-03-01T00:00:00Z"), want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Decide(tt.earliest, nil, tt.now).RequeueAfter(tt.now); got != tt.want {
				t.Errorf("RequeueAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

// countingCron counts the calls to robfig's Next.
type countingCron struct {
	inner interface{ Next(time.Time) time.Time }
	calls int
}

func (c *countingCron) Next(t time.Time) time.Time {
	c.calls++
	return c.inner.Next(t)
}

// TestDecideBoundedWork checks that Decide never walks the whole gap between earliest
// and now: MaxMissed+1 steps to count, a bisection, a few more.
func TestDecideBoundedWork(t *testing.T) {
	const budget = MaxMissed + 1 + 80
	tests := []struct {
		name     string
		spec     string
		timeZone string
		earliest time.Time
		deadline *int64
		now      time.Time
	}{
		{name: "every minute for 23 years", spec: "* * * * *", earliest: at("2001-01-01T00:00:00Z"), now: at("2024-02-29T13:37:42Z")},
		{name: "every minute for 23 years, deadline", spec: "* * * * *", earliest: at("2001-01-01T00:00:00Z"), deadline: seconds(3600), now: at("2024-02-29T13:37:42Z")},
		{name: "every minute for 23 years, short deadline", spec: "* * * * *", earliest: at("2001-01-01T00:00:00Z"), deadline: seconds(5), now: at("2024-02-29T13:37:42Z")},
		{name: "every minute of the first of the month", spec: "* * 1 * *", earliest: at("2020-01-01T23:59:00Z"), now: at("2024-02-15T00:00:00Z")},
		{name: "hourly in Berlin for 200 years", spec: "0 * * * *", timeZone: "Europe/Berlin", earliest: at("1900-01-01T00:00:00Z"), now: at("2100-01-01T00:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec, tt.timeZone)
			if err != nil {
				t.Fatal(err)
			}
			counter := &countingCron{inner: s.cron}
			s.cron = counter
			d := s.Decide(tt.earliest, tt.deadline, tt.now)
			if counter.calls > budget {
				t.Errorf("Decide called Next %d times, budget %d", counter.calls, budget)
			}
			if d.MostRecent.IsZero() {
				t.Errorf("MostRecent is zero, want the latest time before %v", tt.now)
			}
			t.Logf("%d calls to Next", counter.calls)
		})
	}
}

// walk is the obvious, unbounded answer: step through every scheduled time in
// (earliest, now] with robfig's Next.
func walk(s *Schedule, earliest, now time.Time) (latest time.Time, n int) {
	var next func(time.Time) time.Time
	if s.every > 0 {
		next = func(t time.Time) time.Time { return t.Add(s.every - time.Duration(t.Nanosecond())) }
	} else {
		next = s.cron.Next
	}
	for t := next(earliest); !t.IsZero() && !t.After(now); t = next(t) {
		latest, n = t, n+1
	}
	return latest, n
}

// TestDecideMatchesWalk compares Decide's bisection and arithmetic with the obvious walk
// over many schedules, zones and gaps, daylight saving changes included.
func TestDecideMatchesWalk(t *testing.T) {
	specs := []string{
		"*/7 * * * *", "0 * * * *", "30 1 * * *", "30 2 * * *", "0 2,3 * * *",
		"15 */5 * * 1-5", "30 6-16/4 * * 1-5", "30 10,11,12 * * 1-5", "0 0 1,15 * *", "0 0 29 2 *",
		"0 0 31 2 1", "@daily", "@weekly", "@every 1h", "@every 97m",
	}
	zones := []string{"", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"}
	starts := []time.Time{
		at("2024-03-09T23:59:30Z"), at("2024-10-26T22:00:00Z"), at("2024-11-02T12:34:56.789Z"), at("2024-03-31T00:30:00Z"),
	}
	gaps := []time.Duration{0, time.Second, 59 * time.Minute, 3 * time.Hour, 26 * time.Hour, 100 * time.Hour, 400 * time.Hour}
	checked := 0
	for _, spec := range specs {
		for _, zone := range zones {
			s, err := Parse(spec, zone)
			if err != nil {
				t.Fatal(err)
			}
			for _, earliest := range starts {
				for _, gap := range gaps {
					now := earliest.Add(gap)
					latest, n := walk(s, earliest, now)
					d := s.Decide(earliest, nil, now)
					if !d.MostRecent.Equal(latest) || d.Missed != min(n, MaxMissed+1) || d.TooManyMissed != (n > MaxMissed) {
						t.Errorf("%q in %q, (%v, %v]: Decide = %v, %d missed; walk = %v, %d",
							spec, zone, earliest, now, d.MostRecent, d.Missed, latest, n)
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d windows checked", checked)
}
