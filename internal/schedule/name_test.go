package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestChildName(t *testing.T) {
	longest := strings.Repeat("s", MaxScheduleNameLength)
	tests := []struct {
		name      string
		schedule  string
		scheduled time.Time
		want      string
	}{
		{name: "on the minute", schedule: "nightly", scheduled: at("2016-05-19T10:00:00Z"), want: "nightly-24394200"},
		{name: "seconds do not matter", schedule: "nightly", scheduled: at("2016-05-19T10:00:59Z"), want: "nightly-24394200"},
		{name: "zone does not matter", schedule: "nightly", scheduled: at("2016-05-19T12:00:00+02:00"), want: "nightly-24394200"},
		{name: "fall back: first 01:30 in New York", schedule: "ny", scheduled: at("2024-11-03T01:30:00-04:00"), want: "ny-28843530"},
		{name: "fall back: second 01:30 in New York, another name", schedule: "ny", scheduled: at("2024-11-03T01:30:00-05:00"), want: "ny-28843590"},
		{name: "longest schedule name, last 8-digit minute", schedule: longest, scheduled: at("2160-02-18T10:39:00Z"), want: longest + "-99999999"},
		{name: "longest schedule name, 9-digit minutes still fit", schedule: longest, scheduled: at("2500-01-01T00:00:00Z"), want: longest + "-278753760"},
		{name: "longest schedule name, last 9-digit minute", schedule: longest, scheduled: at("3871-04-29T10:39:00Z"), want: longest + "-999999999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChildName(tt.schedule, tt.scheduled)
			if got != tt.want {
				t.Errorf("ChildName(%q, %v) = %q, want %q", tt.schedule, tt.scheduled, got, tt.want)
			}
			if len(got) > MaxChildNameLength {
				t.Errorf("ChildName is %d characters, more than %d", len(got), MaxChildNameLength)
			}
		})
	}
}
