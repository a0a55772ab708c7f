package loadimpact

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample", ms(7), 99, 7 * time.Millisecond},
		{"median of five", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"median of four: the lower middle", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p is the min", ms(hundred...), 0.001, 1 * time.Millisecond},
		{"p99 of ten: the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	var r Result
	lat := ms(5, 1, 4, 2, 3)
	done := []time.Duration{100 * time.Millisecond, 1500 * time.Millisecond, 1600 * time.Millisecond, 2900 * time.Millisecond, 3 * time.Second}
	Summarize(&r, 2500*time.Millisecond, lat, done)
	if !slices.IsSorted(lat) {
		t.Error("the latencies are not sorted in place")
	}
	if r.Tx != 5 || r.TPS != 2 || r.Seconds != 2.5 {
		t.Errorf("tx %d, tps %v, seconds %v; want 5, 2, 2.5", r.Tx, r.TPS, r.Seconds)
	}
	if r.P50us != 3000 || r.P99us != 5000 || r.MaxUs != 5000 {
		t.Errorf("p50 %vus p99 %vus max %vus; want 3000, 5000, 5000", r.P50us, r.P99us, r.MaxUs)
	}
	// Three buckets for 2.5 s; completions past the window are not counted.
	if !slices.Equal(r.PerSecond, []int64{1, 2, 1}) {
		t.Errorf("per second %v, want [1 2 1]", r.PerSecond)
	}
}

func TestSetupSQLGrantsOnlyTheSchema(t *testing.T) {
	s := SetupSQL("ocb_load", "ocbload", "pw", 100)
	for _, want := range []string{"seq_1_to_100", "GRANT SELECT, INSERT, UPDATE, DELETE ON ocb_load.* TO 'ocbload'@'%'", "CHAR(120)"} {
		if !strings.Contains(s, want) {
			t.Errorf("setup SQL lacks %q:\n%s", want, s)
		}
	}
}
