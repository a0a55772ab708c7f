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

// TestAgentRestoreClusterFlags: the flags' refusals, and a logical backup without its
// users.sql refused, each before any node is reached, in the termination log, without
// the password.
func TestAgentRestoreClusterFlags(t *testing.T) {
	creds := t.TempDir()
	const password = "restore-cluster-flags-secret"
	for k, v := range map[string]string{"username": "ocbbackup\n", "password": password + "\n"} {
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
		Databases: []agent.Database{{Name: "nova"}}, Tables: []dumpdigest.Table{{Database: "nova", Table: "t"}}})
	if err != nil {
		t.Fatal(err)
	}
	base := []string{dir, "--node=controller-0=10.79.0.11", "--node=controller-1=10.79.0.12",
		"--prove-node=controller-0=10.79.0.11:3306", "--credentials-dir=" + creds, "--ssh-dir=" + t.TempDir(),
		"--stamp=20261206T030000Z", "--datadir=/tmp/ocb-live/local/data"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a node without its host", []string{"--node=controller-2"}, `--node #3: "controller-2" is not NAME=SSHHOST`},
		{"a bad proving node", []string{"--prove-node=controller-2"}, `--prove-node #2: "controller-2" is not name=address:port`},
		{"no credentials", []string{"--credentials-dir=" + t.TempDir()}, "reading the database credentials"},
		{"a stamp that is not a time", []string{"--stamp=x y"}, `the stamp "x y" is not a UTC time as 20060102T150405Z`},
		{"a bundle without its image", []string{"--bundle"}, "is not an image name"},
		{"a logical backup without users.sql", nil, "check-backup: the backup holds no users.sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			term := filepath.Join(t.TempDir(), "termination-log")
			cmd := newAgentRestoreClusterCommand()
			var out bytes.Buffer
			cmd.SetArgs(append(append(append([]string{}, base...), tc.args...), "--termination-log="+term))
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			err := cmd.ExecuteContext(t.Context())
			var res agent.RestoreResult
			b, rerr := os.ReadFile(term) //nolint:gosec // G304: test file
			if rerr != nil {
				t.Fatal(rerr)
			}
			if jerr := json.Unmarshal(b, &res); jerr != nil {
				t.Fatalf("termination message %q: %v", b, jerr)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || res.Error != err.Error() {
				t.Fatalf("err %v, result %+v, want %q", err, res, tc.want)
			}
			if strings.Contains(out.String()+string(b), password) {
				t.Fatal("the password is in the output or the result")
			}
			if tc.args == nil && (len(res.Steps) != 1 || res.Steps[0].Name != "check-backup" || res.Steps[0].OK ||
				!strings.Contains(err.Error(), "Nothing was changed")) {
				t.Fatalf("steps %+v, error %v", res.Steps, err)
			}
		})
	}
}
