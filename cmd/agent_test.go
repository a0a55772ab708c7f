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

// TestAgentDrillCommand: the drill's command line. A backup whose manifest names no method
// is refused before any server starts; --scratch is required. (The drill itself:
// internal/agent's TestDrill.)
func TestAgentDrillCommand(t *testing.T) {
	dir := backupFor(t, t.TempDir(), "")
	if _, err := runCLI(t, "agent", "drill", dir); err == nil || !strings.Contains(err.Error(), `"scratch" not set`) {
		t.Fatalf("drill without --scratch: %v", err)
	}
	scratch := t.TempDir()
	_, err := runCLI(t, "agent", "drill", dir, "--scratch", scratch)
	if err == nil || !strings.Contains(err.Error(), "no backup method this agent knows") {
		t.Fatalf("drill of a backup whose manifest names no method: %v", err)
	}
	if entries, _ := os.ReadDir(scratch); len(entries) != 0 {
		t.Errorf("the scratch directory was used: %v", entries)
	}
}
