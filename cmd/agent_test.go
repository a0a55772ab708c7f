package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentVerifyCommand(t *testing.T) {
	dir := backupFor(t, t.TempDir(), "")
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
