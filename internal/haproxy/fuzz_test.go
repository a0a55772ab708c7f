package haproxy

import (
	"os"
	"strings"
	"testing"
)

// seeds returns every recorded fixture whose name ends with one of the suffixes.
func seeds(f *testing.F, suffixes ...string) [][]byte {
	f.Helper()
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		for _, s := range suffixes {
			if strings.HasSuffix(e.Name(), s) {
				out = append(out, fixture(f, e.Name()))
			}
		}
	}
	if len(out) == 0 {
		f.Fatalf("no fixtures %v in %s", suffixes, fixtureDir)
	}
	return out
}

func FuzzParseStatCSV(f *testing.F) {
	for _, s := range seeds(f, ".stat.csv", ".http.csv", ".socket-combined.txt") {
		f.Add(s, "mysql")
		f.Add(s, "mysql_nocheck")
	}
	tbl, err := ParseTable(fixture(f, "04-failover-new-client.table.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, backend string) {
		b, err := ParseStatCSV(data, backend)
		if err != nil {
			if b != nil {
				t.Fatalf("backend with error %v", err)
			}
			return
		}
		if b.Name != backend {
			t.Fatalf("asked for %q, got %q", backend, b.Name)
		}
		seen := map[string]bool{}
		for _, s := range b.Servers {
			if s.Name == "" || seen[s.Name] {
				t.Fatalf("empty or duplicate server name %q", s.Name)
			}
			seen[s.Name] = true
			_ = s.Host()
		}
		for _, tb := range []*Table{nil, tbl} {
			snap := NewSnapshot(b, tb)
			if len(snap.Servers) != len(b.Servers) {
				t.Fatalf("snapshot has %d servers, backend %d", len(snap.Servers), len(b.Servers))
			}
			if snap.Active != "" && b.Server(snap.Active) == nil {
				t.Fatalf("active %q is not a server", snap.Active)
			}
			if snap.Next != "" && b.Server(snap.Next) == nil {
				t.Fatalf("next %q is not a server", snap.Next)
			}
		}
	})
}

func FuzzParseTable(f *testing.F) {
	for _, s := range seeds(f, ".table.txt") {
		f.Add(s)
	}
	b, err := ParseStatCSV(fixture(f, "04-failover-new-client.stat.csv"), "mysql")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := ParseTable(data)
		if err != nil {
			if tbl != nil {
				t.Fatalf("table with error %v", err)
			}
			return
		}
		if tbl.Name == "" {
			t.Fatal("table without a name")
		}
		for _, e := range tbl.Entries {
			if !strings.HasPrefix(e.Ref, "0x") {
				t.Fatalf("entry ref %q", e.Ref)
			}
		}
		snap := NewSnapshot(b, tbl)
		if snap.Active != "" && b.Server(snap.Active) == nil {
			t.Fatalf("active %q is not a server", snap.Active)
		}
		_, _ = Active(b, tbl)
	})
}
