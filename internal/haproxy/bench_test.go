package haproxy

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func BenchmarkParseStatCSV(b *testing.B) {
	data := fixture(b, "04-failover-new-client.stat.csv")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStatCSV(data, "mysql"); err != nil {
			b.Fatal(err)
		}
	}
}

// A TripleO VIP holder has dozens of proxies; the mysql one is among them. This repeats
// the recorded non-mysql rows under other proxy names to that size.
func BenchmarkParseStatCSVManyProxies(b *testing.B) {
	rec := string(fixture(b, "04-failover-new-client.stat.csv"))
	lines := strings.Split(strings.TrimRight(rec, "\n"), "\n")
	var buf bytes.Buffer
	buf.WriteString(lines[0] + "\n")
	for i := range 40 {
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "mysql_nocheck,") {
				buf.WriteString(fmt.Sprintf("svc%02d", i) + strings.TrimPrefix(l, "mysql_nocheck") + "\n")
			}
		}
	}
	for _, l := range lines[1:] {
		buf.WriteString(l + "\n")
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStatCSV(data, "mysql"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTable(b *testing.B) {
	data := fixture(b, "04-failover-new-client.table.txt")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTable(data); err != nil {
			b.Fatal(err)
		}
	}
}

// 1000 entries (the table's size) derived from the recorded entry line.
func BenchmarkParseTableFull(b *testing.B) {
	lines := strings.Split(string(fixture(b, "04-failover-new-client.table.txt")), "\n")
	var buf bytes.Buffer
	buf.WriteString(strings.Replace(lines[0], "used:1", "used:1000", 1) + "\n")
	for i := range 1000 {
		buf.WriteString(strings.Replace(lines[1], "key=127.0.77.10", fmt.Sprintf("key=10.0.%d.%d", i/256, i%256), 1) + "\n")
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTable(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewSnapshot(b *testing.B) {
	be, err := ParseStatCSV(fixture(b, "04-failover-new-client.stat.csv"), "mysql")
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := ParseTable(fixture(b, "04-failover-new-client.table.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = NewSnapshot(be, tbl)
	}
}
