package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	// The tests must not depend on the zone database of the machine running them.
	_ "time/tzdata"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		spec     string
		timeZone string
		wantLoc  string // location name when valid
	}{
		{name: "five fields", spec: "30 2 * * *", wantLoc: "UTC"},
		{name: "question mark for any day of week", spec: "0 * * * ?", wantLoc: "UTC"},
		{name: "ranges, steps and names", spec: "*/15 6-18/2 * jan-jun mon-fri", wantLoc: "UTC"},
		{name: "@yearly", spec: "@yearly", wantLoc: "UTC"},
		{name: "@annually", spec: "@annually", wantLoc: "UTC"},
		{name: "@monthly", spec: "@monthly", wantLoc: "UTC"},
		{name: "@weekly", spec: "@weekly", wantLoc: "UTC"},
		{name: "@daily", spec: "@daily", wantLoc: "UTC"},
		{name: "@midnight", spec: "@midnight", wantLoc: "UTC"},
		{name: "@hourly", spec: "@hourly", wantLoc: "UTC"},
		{name: "@every an hour, as CronJob accepts it", spec: "@every 1h", wantLoc: "UTC"},
		{name: "@every the minimum", spec: "@every 1m", wantLoc: "UTC"},
		{name: "29 February fires in leap years", spec: "0 0 29 2 *", wantLoc: "UTC"},
		{name: "31 February or any Monday (robfig ORs restricted day fields)", spec: "0 0 31 2 1", wantLoc: "UTC"},
		{name: "explicit UTC", spec: "@daily", timeZone: "UTC", wantLoc: "UTC"},
		{name: "IANA zone", spec: "0 9 * * *", timeZone: "Europe/Berlin", wantLoc: "Europe/Berlin"},
		{name: "IANA zone with a sign", spec: "0 9 * * *", timeZone: "Etc/GMT+5", wantLoc: "Etc/GMT+5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec, tt.timeZone)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.spec, tt.timeZone, err)
			}
			if got := s.Location().String(); got != tt.wantLoc {
				t.Errorf("Location() = %q, want %q", got, tt.wantLoc)
			}
			if s.String() != tt.spec {
				t.Errorf("String() = %q, want %q", s.String(), tt.spec)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name      string
		spec      string
		timeZone  string
		wantField string
		wantIn    string // part of the message
	}{
		{name: "empty", spec: "", wantField: FieldSchedule, wantIn: "not a valid cron schedule"},
		{name: "four fields", spec: "* * * *", wantField: FieldSchedule, wantIn: "expected exactly 5 fields"},
		{name: "six fields (seconds are not standard)", spec: "0 * * * * *", wantField: FieldSchedule, wantIn: "expected exactly 5 fields"},
		{name: "minute out of range", spec: "60 * * * *", wantField: FieldSchedule, wantIn: "above maximum"},
		{name: "unknown descriptor", spec: "@fortnightly", wantField: FieldSchedule, wantIn: "unrecognized descriptor"},
		{name: "words", spec: "every day at noon", wantField: FieldSchedule, wantIn: "not a valid cron schedule"},
		{name: "TZ= prefix", spec: "TZ=UTC 0 * * * *", wantField: FieldSchedule, wantIn: "spec.timeZone"},
		{name: "CRON_TZ= prefix", spec: "CRON_TZ=Europe/Paris 0 * * * *", wantField: FieldSchedule, wantIn: "spec.timeZone"},
		{name: "TZ= prefix even with a time zone", spec: "TZ=UTC 0 * * * *", timeZone: "UTC", wantField: FieldSchedule, wantIn: "TZ="},
		{name: "@every under a minute", spec: "@every 30s", wantField: FieldSchedule, wantIn: "at least 1m0s"},
		{name: "@every zero (robfig would make it 1s)", spec: "@every 0s", wantField: FieldSchedule, wantIn: "at least 1m0s"},
		{name: "@every negative (robfig would make it 1s)", spec: "@every -1h", wantField: FieldSchedule, wantIn: "at least 1m0s"},
		{name: "@every without a unit", spec: "@every 5", wantField: FieldSchedule, wantIn: "not a valid cron schedule"},
		{name: "30 February never fires", spec: "0 0 30 2 *", wantField: FieldSchedule, wantIn: "never fires"},
		{name: "CronJob's rogue 31 February", spec: "59 23 31 2 *", wantField: FieldSchedule, wantIn: "never fires"},
		{name: "31st of 30-day months", spec: "0 0 31 4,6,9,11 *", wantField: FieldSchedule, wantIn: "never fires"},
		{name: "Local zone", spec: "@daily", timeZone: "Local", wantField: FieldTimeZone, wantIn: "IANA time zone name"},
		{name: "Local zone in lower case", spec: "@daily", timeZone: "local", wantField: FieldTimeZone, wantIn: "IANA time zone name"},
		{name: "unknown zone", spec: "@daily", timeZone: "Mars/Olympus_Mons", wantField: FieldTimeZone, wantIn: "unknown time zone"},
		{name: "path in zone", spec: "@daily", timeZone: "../../etc/passwd", wantField: FieldTimeZone, wantIn: "unknown time zone"},
		{name: "schedule checked before zone", spec: "nope", timeZone: "Mars/Olympus_Mons", wantField: FieldSchedule, wantIn: "not a valid"},
		{name: "impossible date checked before zone", spec: "0 0 30 2 *", timeZone: "Mars/Olympus_Mons", wantField: FieldSchedule, wantIn: "never fires"},
		{name: "short @every checked before zone", spec: "@every 1s", timeZone: "Local", wantField: FieldSchedule, wantIn: "at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec, tt.timeZone)
			if err == nil {
				t.Fatalf("Parse(%q, %q) = %v, want an error", tt.spec, tt.timeZone, s)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (error %v)", fe.Field, tt.wantField, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantField+" ") {
				t.Errorf("message %q does not start with the field %q", msg, tt.wantField)
			}
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(tt.wantIn)) {
				t.Errorf("message %q does not contain %q", msg, tt.wantIn)
			}
		})
	}
}

func TestFieldErrorUnwrap(t *testing.T) {
	_, err := Parse("@daily", "Mars/Olympus_Mons")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Err == nil || !errors.Is(err, fe.Err) {
		t.Fatalf("want a *FieldError wrapping time.LoadLocation's error, got %v", err)
	}
}

// TestParsePinsZone checks that a schedule without spec.timeZone means UTC whatever the
// zone of the time passed in, where robfig alone would follow that time's zone.
func TestParsePinsZone(t *testing.T) {
	s, err := Parse("0 9 * * *", "")
	if err != nil {
		t.Fatal(err)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// 01:00 in Tokyo is 16:00 UTC the day before: the next 09:00 UTC is the next
	// morning in UTC, not 09:00 in Tokyo (00:00 UTC).
	d := s.Decide(time.Date(2024, 5, 1, 0, 0, 0, 0, tokyo), nil, time.Date(2024, 5, 1, 1, 0, 0, 0, tokyo))
	if want := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC); !d.Next.Equal(want) || d.Next.Location() != time.UTC {
		t.Errorf("Next = %v, want %v in UTC", d.Next, want)
	}
}
