package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// runRemove runs `agent remove` with args and returns its output, the result it wrote to
// the termination log, and its error.
func runRemove(t *testing.T, args ...string) (string, agent.RemoveResult, error) {
	t.Helper()
	term := filepath.Join(t.TempDir(), "termination-log")
	cmd := newRemoveCommand()
	var out bytes.Buffer
	cmd.SetArgs(append(args, "--termination-log="+term))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	var res agent.RemoveResult
	if b, rerr := os.ReadFile(term); rerr == nil { //nolint:gosec // G304: test file
		if jerr := json.Unmarshal(b, &res); jerr != nil {
			t.Fatalf("termination message %q: %v", b, jerr)
		}
	}
	return out.String(), res, err
}

// backupFor writes a real backup of the OvercloudBackup openstack/a with the UID.
func backupFor(t *testing.T, root, uid string) string {
	t.Helper()
	a, err := agent.Begin(root, "openstack", "a")
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
	dir, err := a.Commit(&agent.Manifest{Backup: agent.Identity{Namespace: "openstack", Name: "a", UID: uid}})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAgentRemoveCommand(t *testing.T) {
	root := t.TempDir()
	dir := backupFor(t, root, "uid-a")
	args := []string{"--root=" + root, "--namespace=openstack", "--name=a"}

	// Another object's UID: refused, non-zero, nothing removed, and the controller is told.
	out, res, err := runRemove(t, append(args, "--uid=uid-other")...)
	if err == nil || !res.Refused || res.Error != err.Error() || !strings.Contains(res.Error, "UID uid-a, not uid-other") {
		t.Fatalf("remove with another UID: %v %+v\n%s", err, res, out)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a refusal removed the backup: %v", err)
	}

	// An empty UID proves nothing: refused too.
	if _, res, err := runRemove(t, append(args, "--uid=")...); err == nil || !res.Refused || !strings.Contains(res.Error, "--uid is empty") {
		t.Fatalf("remove with an empty UID: %v %+v", err, res)
	}
	if _, _, err := runRemove(t, args...); err == nil || !strings.Contains(err.Error(), `"uid" not set`) {
		t.Fatalf("remove without --uid: %v", err)
	}

	out, res, err = runRemove(t, append(args, "--uid=uid-a")...)
	if err != nil || len(res.Removed) != 1 || res.Removed[0] != "openstack/a" || res.Bytes == 0 || res.NotFound || res.Error != "" {
		t.Fatalf("remove: %v %+v\n%s", err, res, out)
	}
	if !strings.HasPrefix(out, "Removed openstack/a: ") || strings.Count(out, "\n") != 1 {
		t.Errorf("output %q, want one line", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the backup is still there: %v", err)
	}

	out, res, err = runRemove(t, append(args, "--uid=uid-a")...)
	if err != nil || !res.NotFound || !strings.HasPrefix(out, "Nothing to remove: ") {
		t.Fatalf("remove again: %v %+v\n%s", err, res, out)
	}

	if _, res, err := runRemove(t, "--root="+root, "--namespace=openstack", "--name=../a", "--uid=uid-a"); err == nil || !res.Refused {
		t.Fatalf("remove with an unsafe name: %v %+v", err, res)
	}
}
