package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
)

func TestParseProveNode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want agent.NodeAddress
		ok   bool
	}{
		{"controller-0=10.79.0.11:3306", agent.NodeAddress{Name: "controller-0", Address: "10.79.0.11", Port: 3306}, true},
		{"c=[fd00::1]:3307", agent.NodeAddress{Name: "c", Address: "fd00::1", Port: 3307}, true},
		{"c=db.example.com:3306", agent.NodeAddress{Name: "c", Address: "db.example.com", Port: 3306}, true},
		{"10.79.0.11:3306", agent.NodeAddress{}, false},
		{"=10.79.0.11:3306", agent.NodeAddress{}, false},
		{"c=10.79.0.11", agent.NodeAddress{}, false},
		{"c=:3306", agent.NodeAddress{}, false},
		{"c=10.79.0.11:0", agent.NodeAddress{}, false},
		{"c=10.79.0.11:65536", agent.NodeAddress{}, false},
		{"c=10.79.0.11:mysql", agent.NodeAddress{}, false},
	} {
		got, err := parseProveNode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseProveNode(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

// runAgentRestoreCmd runs `agent restore` with args and returns its output, the result it
// wrote to the termination log, and its error.
func runAgentRestoreCmd(t *testing.T, args ...string) (string, agent.RestoreResult, error) {
	t.Helper()
	term := filepath.Join(t.TempDir(), "termination-log")
	cmd := newAgentRestoreCommand()
	var out bytes.Buffer
	cmd.SetArgs(append(args, "--termination-log="+term))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	var res agent.RestoreResult
	if b, rerr := os.ReadFile(term); rerr == nil { //nolint:gosec // G304: test file
		if jerr := json.Unmarshal(b, &res); jerr != nil {
			t.Fatalf("termination message %q: %v", b, jerr)
		}
	}
	return out.String(), res, err
}

// TestAgentRestoreFlags: the flags reach the restore as given (a --database with a comma is
// one name), the credentials come from their files, and every refusal before the first
// connection reaches the termination log without the password.
func TestAgentRestoreFlags(t *testing.T) {
	creds := t.TempDir()
	const password = "restore-flags-test-secret" //nolint:gosec // G101: a test's
	for k, v := range map[string]string{"username": "ocbrestore\n", "password": password + "\n"} {
		if err := os.WriteFile(filepath.Join(creds, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := agent.Begin(t.TempDir(), "openstack", "b")
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Create("databases.sql", agent.Zstd, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("-- Dump completed\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dir, err := a.Commit(&agent.Manifest{Options: agent.Options{Method: agent.Logical, Compression: agent.Zstd},
		Databases: []agent.Database{{Name: "a,b"}}, Tables: []dumpdigest.Table{{Database: "a,b", Table: "t"}}})
	if err != nil {
		t.Fatal(err)
	}
	base := []string{dir, "--node=controller-1", "--address=10.79.0.12", "--credentials-dir=" + creds}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a bad proving node", []string{"--prove-node=controller-0=10.79.0.11:3306", "--prove-node=controller-2"},
			`--prove-node #2: "controller-2" is not name=address:port`},
		{"no credentials", []string{"--credentials-dir=" + t.TempDir()}, "reading the database credentials"},
		{"a database not in the backup", []string{"--database=a,b", "--database=c"},
			`verifying the backup: 1 of the 2 databases asked for are not in the backup (the first: "c")`},
		{"users.sql missing", []string{"--database=a,b", "--users"}, "the backup holds no users.sql"},
		{"a dump without the database's section", []string{"--database=a,b"}, "reading the dump before anything is dropped: 1 of the 1 databases"},
		{"a bad space node", []string{"--space-node=controller-0"}, `--space-node #1: "controller-0" is not NAME=SSHHOST`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, res, err := runAgentRestoreCmd(t, append(append([]string{}, base...), tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || res.Error != err.Error() || res.Node != "controller-1" {
				t.Fatalf("err %v, result %+v, want %q", err, res, tc.want)
			}
			if strings.Contains(out+res.Error, password) {
				t.Fatal("the password is in the output or the result")
			}
		})
	}
	if _, _, err := runAgentRestoreCmd(t, dir, "--address=10.79.0.12"); err == nil || !strings.Contains(err.Error(), `"node" not set`) {
		t.Errorf("without --node: %v", err)
	}
}
