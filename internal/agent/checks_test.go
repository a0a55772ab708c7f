package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/haproxy"
)

// fixture reads HAProxy's own output recorded from a real haproxy 2.6.12 (see
// internal/haproxy/testdata/README.md).
func fixture(t *testing.T, scenario string) HAProxyReader {
	t.Helper()
	dir := filepath.Join("..", "haproxy", "testdata", "haproxy-2.6.12")
	stat, err := os.ReadFile(filepath.Join(dir, scenario+".stat.csv")) //nolint:gosec // G304: test data
	if err != nil {
		t.Fatal(err)
	}
	table, err := os.ReadFile(filepath.Join(dir, scenario+".table.txt")) //nolint:gosec // G304: test data
	if err != nil {
		t.Fatal(err)
	}
	b, err := haproxy.ParseStatCSV(stat, "mysql")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := haproxy.ParseTable(table)
	if err != nil {
		t.Fatal(err)
	}
	return func(context.Context) (*haproxy.Backend, *haproxy.Table, error) { return b, tb, nil }
}

func TestCheckNotServed(t *testing.T) {
	failing := func(context.Context) (*haproxy.Backend, *haproxy.Table, error) {
		return nil, nil, errors.New("dial tcp 10.77.0.10:1993: connection refused")
	}
	cases := []struct {
		name, scenario, node, address string
		read                          HAProxyReader
		want                          string // "" = allowed
	}{
		{"idle node by address", "02-one-client", "controller-2", "127.0.77.13", nil, ""},
		{"idle node by name", "02-one-client", "controller-2", "", nil, ""},
		{"the served node", "02-one-client", "controller-0", "127.0.77.11", nil, "HAProxy serves the database clients through it now"},
		{"became active after a failover", "04-failover-new-client", "controller-1", "127.0.77.12", nil, "HAProxy serves"},
		{"the old active, now down", "04-failover-new-client", "controller-0", "127.0.77.11", nil, ""},
		{"no client yet", "01-all-up-no-client", "controller-0", "127.0.77.11", nil, ""},
		{"unknown node", "02-one-client", "db-9", "10.0.0.9", nil, `has no server for it`},
		{"HAProxy unreadable", "", "controller-2", "127.0.77.13", failing, "reading HAProxy: dial tcp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			read := tc.read
			if read == nil {
				read = fixture(t, tc.scenario)
			}
			err := checkNotServed(t.Context(), read, tc.node, tc.address)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), "no data written"):
				t.Errorf("the refusal does not say that nothing was written: %v", err)
			}
		})
	}
}

func TestSpaceNeeded(t *testing.T) {
	cases := []struct {
		estimate    int64
		compression string
		want        int64
	}{
		{0, Zstd, 0},
		{1 << 30, Zstd, 107374182},
		{1 << 30, Gzip, 107374182},
		{1 << 30, None, 1 << 29},
		{1 << 30, "unknown", 1 << 29},
	}
	for _, tc := range cases {
		if got := spaceNeeded(tc.estimate, tc.compression); got != tc.want {
			t.Errorf("spaceNeeded(%d, %s) = %d, want %d", tc.estimate, tc.compression, got, tc.want)
		}
	}
	if err := checkSpace(t.TempDir(), 1<<20, Zstd); err != nil {
		t.Errorf("1 MiB does not fit on the test's disk: %v", err)
	}
	err := checkSpace(t.TempDir(), 1<<62, None)
	if err == nil || !strings.Contains(err.Error(), "not enough space on the backup volume") || !strings.Contains(err.Error(), "2.0 EiB") {
		t.Errorf("an impossible backup: %v", err)
	}
}

func TestEstimateBytes(t *testing.T) {
	dbs := []Database{{Name: "nova", DataBytes: 100, IndexBytes: 40}, {Name: "keystone", DataBytes: 10, IndexBytes: 5}}
	if got := estimateBytes(dbs, Logical); got != 110 {
		t.Errorf("logical: %d, want 110 (data only)", got)
	}
	if got := estimateBytes(dbs, Mariabackup); got != 155 {
		t.Errorf("physical: %d, want 155 (data and indexes)", got)
	}
}

func TestProgressLine(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name          string
		msg           string
		after         time.Duration
		raw, estimate int64
		rate          int64
		percent       float64 // -1: none
	}{
		{"half way", "progress", 10 * time.Second, 50 << 20, 100 << 20, 5 << 20, 50},
		{"beyond the estimate", "progress", 10 * time.Second, 150 << 20, 100 << 20, 15 << 20, 99},
		{"done", "done", 20 * time.Second, 150 << 20, 100 << 20, 7864320, 100},
		{"no estimate", "progress", 5 * time.Second, 10, 0, 2, -1},
		{"at the start", "progress", 0, 0, 100, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := progressLine(tc.msg, "ns/b", "controller-2", start, start.Add(tc.after), tc.raw, tc.raw/3, tc.estimate)
			if l.BytesPerSecond != tc.rate || l.Bytes != tc.raw || l.Written != tc.raw/3 || l.Msg != tc.msg {
				t.Errorf("line %+v, want rate %d", l, tc.rate)
			}
			switch {
			case tc.percent < 0 && l.Percent != nil:
				t.Errorf("percent %v without an estimate", *l.Percent)
			case tc.percent >= 0 && (l.Percent == nil || *l.Percent != tc.percent):
				t.Errorf("percent %v, want %v", l.Percent, tc.percent)
			}
		})
	}
}

func TestReportProgress(t *testing.T) {
	a, err := Begin(t.TempDir(), "ns", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Abort() }()
	f, err := a.Create("x.sql", None, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	stop := reportProgress(&out, 10*time.Millisecond, a, "ns/b", "controller-2", 1000)
	if _, err := f.Write(make([]byte, 400)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), `"bytes":400`) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop(true)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.Contains(out.String(), `"msg":"progress"`) || !strings.Contains(out.String(), `"percent":40`) {
		t.Errorf("no progress line at 40%%: %s", out.String())
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"msg":"done"`) || !strings.Contains(last, `"percent":100`) {
		t.Errorf("last line %s", last)
	}
	_ = f.Close()
}

func TestTail(t *testing.T) {
	var tl tail
	for range 1000 {
		_, _ = tl.Write([]byte("INSERT INTO t VALUES (1);\n"))
	}
	_, _ = tl.Write([]byte("-- Dump completed on 2026-11-25 12:00:00\n"))
	if len(tl.b) != 256 || !strings.HasSuffix(string(tl.b), "-- Dump completed on 2026-11-25 12:00:00\n") {
		t.Errorf("tail of %d bytes: %q", len(tl.b), tl.b)
	}
	big := strings.Repeat("x", 1000) + dumpTrailer
	_, _ = tl.Write([]byte(big))
	if string(tl.b) != big[len(big)-256:] {
		t.Errorf("tail after a big write: %q", tl.b)
	}
}

// syncBuffer is a bytes.Buffer safe for the reporter goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
