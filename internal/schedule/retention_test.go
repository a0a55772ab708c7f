package schedule

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// day is a time of the retention tests: midnight on the given day of May 2024.
func day(d int) time.Time { return time.Date(2024, time.May, d, 0, 0, 0, 0, time.UTC) }

// daily returns one child a day from day first to day last, all in phase p, named
// <prefix>-<day>.
func daily(prefix string, first, last int, p Phase) []Child {
	var out []Child
	for d := first; d <= last; d++ {
		out = append(out, Child{Name: fmt.Sprintf("%s-%02d", prefix, d), Time: day(d), Phase: p})
	}
	return out
}

func names(ds []Deletion) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func TestPrune(t *testing.T) {
	now := day(20).Add(12 * time.Hour)
	tests := []struct {
		name      string
		retention Retention
		children  []Child
		want      []string // oldest first
	}{
		{
			name:      "nothing to prune",
			retention: Retention{SuccessfulLimit: 7, FailedLimit: 3},
		},
		{
			name:      "the newest verified backup is kept beyond the limit; older verified ones are not",
			retention: Retention{SuccessfulLimit: 2, FailedLimit: 0},
			children: []Child{
				{Name: "ok-01", Time: day(1), Phase: Succeeded, Verified: true},
				{Name: "ok-02", Time: day(2), Phase: Succeeded, Verified: true},
				{Name: "ok-03", Time: day(3), Phase: Succeeded},
				{Name: "ok-04", Time: day(4), Phase: Succeeded},
				{Name: "ok-05", Time: day(5), Phase: Succeeded},
			},
			want: []string{"ok-01", "ok-03"},
		},
		{
			name:      "a verified backup within the limit protects no other",
			retention: Retention{SuccessfulLimit: 1, FailedLimit: 0},
			children: []Child{
				{Name: "ok-01", Time: day(1), Phase: Succeeded},
				{Name: "ok-02", Time: day(2), Phase: Succeeded, Verified: true},
			},
			want: []string{"ok-01"},
		},
		{
			name:      "within the limits",
			retention: Retention{SuccessfulLimit: 7, FailedLimit: 3},
			children:  slices.Concat(daily("ok", 1, 7, Succeeded), daily("ko", 8, 10, Failed)),
		},
		{
			name:      "default limits: oldest beyond each limit, oldest first overall",
			retention: Retention{SuccessfulLimit: 7, FailedLimit: 3},
			children:  slices.Concat(daily("ko", 1, 5, Failed), daily("ok", 3, 11, Succeeded), daily("run", 12, 12, Running)),
			want:      []string{"ko-01", "ko-02", "ok-03", "ok-04"},
		},
		{
			name:      "input order does not matter",
			retention: Retention{SuccessfulLimit: 2, FailedLimit: 1},
			children: []Child{
				{Name: "ok-05", Time: day(5), Phase: Succeeded}, {Name: "ko-02", Time: day(2), Phase: Failed},
				{Name: "ok-01", Time: day(1), Phase: Succeeded}, {Name: "ko-04", Time: day(4), Phase: Failed},
				{Name: "ok-03", Time: day(3), Phase: Succeeded},
			},
			want: []string{"ok-01", "ko-02"},
		},
		{
			name:      "limits 0: the newest succeeded backup stays, failed ones go",
			retention: Retention{},
			children:  slices.Concat(daily("ok", 1, 3, Succeeded), daily("ko", 4, 5, Failed)),
			want:      []string{"ok-01", "ok-02", "ko-04", "ko-05"},
		},
		{
			name:      "limits 0: the newest succeeded backup stays even if older than the newest failure",
			retention: Retention{},
			children:  slices.Concat(daily("ok", 1, 1, Succeeded), daily("ko", 2, 9, Failed)),
			want:      []string{"ko-02", "ko-03", "ko-04", "ko-05", "ko-06", "ko-07", "ko-08", "ko-09"},
		},
		{
			name:      "negative limits count as 0",
			retention: Retention{SuccessfulLimit: -1, FailedLimit: -5},
			children:  slices.Concat(daily("ok", 1, 2, Succeeded), daily("ko", 3, 3, Failed)),
			want:      []string{"ok-01", "ko-03"},
		},
		{
			name:      "all running: nothing deleted",
			retention: Retention{},
			children:  daily("run", 1, 9, Running),
		},
		{
			name:      "running backups neither count nor go, however old",
			retention: Retention{SuccessfulLimit: 1, FailedLimit: 1},
			children:  slices.Concat(daily("run", 1, 3, Running), daily("ok", 4, 6, Succeeded), daily("ko", 7, 8, Failed)),
			want:      []string{"ok-04", "ok-05", "ko-07"},
		},
		{
			name:      "unknown phase is treated as running",
			retention: Retention{},
			children:  []Child{{Name: "odd", Time: day(1), Phase: Phase(42)}},
		},
		{
			name:      "equal times: the name breaks the tie, the greater is newer",
			retention: Retention{SuccessfulLimit: 1},
			children:  []Child{{Name: "b", Time: day(1), Phase: Succeeded}, {Name: "a", Time: day(1), Phase: Succeeded}, {Name: "c", Time: day(1), Phase: Succeeded}},
			want:      []string{"a", "b"},
		},
		{
			name:      "keepWithin keeps a week beyond the count limit",
			retention: Retention{SuccessfulLimit: 3, FailedLimit: 3, KeepWithin: 7 * 24 * time.Hour},
			// now - 7d is day 13 12:00: days 14 to 20 are within.
			children: daily("ok", 1, 20, Succeeded),
			want:     []string{"ok-01", "ok-02", "ok-03", "ok-04", "ok-05", "ok-06", "ok-07", "ok-08", "ok-09", "ok-10", "ok-11", "ok-12", "ok-13"},
		},
		{
			name:      "keepWithin boundary: exactly keepWithin old is kept",
			retention: Retention{KeepWithin: 48 * time.Hour},
			children: []Child{
				{Name: "old", Time: now.Add(-48*time.Hour - time.Nanosecond), Phase: Failed},
				{Name: "edge", Time: now.Add(-48 * time.Hour), Phase: Failed},
				{Name: "new", Time: now.Add(-time.Hour), Phase: Failed},
			},
			want: []string{"old"},
		},
		{
			name:      "keepWithin shorter than the limits changes nothing",
			retention: Retention{SuccessfulLimit: 7, FailedLimit: 3, KeepWithin: time.Hour},
			children:  daily("ok", 1, 9, Succeeded),
			want:      []string{"ok-01", "ok-02"},
		},
		{
			name:      "keepWithin keeps failed backups despite a limit of 0",
			retention: Retention{KeepWithin: 72 * time.Hour},
			children:  daily("ko", 15, 20, Failed),
			want:      []string{"ko-15", "ko-16", "ko-17"},
		},
		{
			name:      "keepWithin never deletes the newest succeeded backup, even when old",
			retention: Retention{KeepWithin: time.Hour},
			children:  daily("ok", 1, 3, Succeeded),
			want:      []string{"ok-01", "ok-02"},
		},
		{
			name:      "negative keepWithin counts as 0",
			retention: Retention{SuccessfulLimit: 1, KeepWithin: -time.Hour},
			children:  daily("ok", 19, 20, Succeeded),
			want:      []string{"ok-19"},
		},
		{
			name:      "future times (clock skew) are within keepWithin",
			retention: Retention{KeepWithin: time.Hour},
			children:  []Child{{Name: "future", Time: day(25), Phase: Failed}, {Name: "past", Time: day(1), Phase: Failed}},
			want:      []string{"past"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := slices.Clone(tt.children)
			got := tt.retention.Prune(tt.children, now)
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("Prune = %q, want %q", names(got), tt.want)
			}
			if !slices.EqualFunc(input, tt.children, func(a, b Child) bool { return a.Name == b.Name }) {
				t.Errorf("Prune reordered its input")
			}
			for _, d := range got {
				if d.Phase == Running || d.Reason == "" {
					t.Errorf("deletion %+v: running, or without a reason", d)
				}
			}
		})
	}
}

func TestPruneReason(t *testing.T) {
	now := day(20)
	tests := []struct {
		name      string
		retention Retention
		children  []Child
		want      []string
	}{
		{
			name:      "several kept",
			retention: Retention{SuccessfulLimit: 2},
			children:  daily("ok", 1, 3, Succeeded),
			want:      []string{"successfulBackupsHistoryLimit is 2: the 2 newest succeeded backups are kept"},
		},
		{
			name:      "limit 0 for successes keeps one",
			retention: Retention{},
			children:  daily("ok", 1, 2, Succeeded),
			want:      []string{"successfulBackupsHistoryLimit is 0: the newest succeeded backup is kept"},
		},
		{
			name:      "limit 0 for failures with keepWithin",
			retention: Retention{KeepWithin: 24 * time.Hour},
			children:  daily("ko", 1, 1, Failed),
			want:      []string{"failedBackupsHistoryLimit is 0: no failed backup is kept, and it is older than keepWithin 24h0m0s"},
		},
		{
			name:      "limit 1 for failures",
			retention: Retention{FailedLimit: 1},
			children:  daily("ko", 1, 2, Failed),
			want:      []string{"failedBackupsHistoryLimit is 1: the newest failed backup is kept"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.retention.Prune(tt.children, now)
			reasons := make([]string, 0, len(got))
			for _, d := range got {
				reasons = append(reasons, d.Reason)
			}
			if !slices.Equal(reasons, tt.want) {
				t.Errorf("reasons:\n%s\nwant:\n%s", strings.Join(reasons, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestPhaseString(t *testing.T) {
	for p, want := range map[Phase]string{Running: "Running", Succeeded: "Succeeded", Failed: "Failed", Phase(9): "Phase(9)"} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(p), got, want)
		}
	}
}
