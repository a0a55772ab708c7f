package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

func TestAgentVerifyCommand(t *testing.T) {
	a, err := agent.Begin(t.TempDir(), "ns", "b")
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Create("nova.sql", agent.Zstd, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(strings.Repeat("INSERT INTO t VALUES (1);\n", 1000))); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dir, err := a.Commit(&agent.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "agent", "verify", dir)
	if err != nil || !strings.Contains(out, "OK: 1 files") {
		t.Fatalf("verify of a good backup: %v\n%s", err, out)
	}
	if err := os.Truncate(filepath.Join(dir, "nova.sql.zst"), 5); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "agent", "verify", dir); err == nil || !strings.Contains(err.Error(), "nova.sql.zst") {
		t.Fatalf("verify of a damaged backup: %v", err)
	}
}
