package agent_test

// These tests dump from the real Galera nodes of the local overcloud (hack/overcloud.sh,
// see test/sandbox) with the real mariadb-dump. They fail, never skip, without it.

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

func config(t *testing.T, sb *sandbox.Sandbox, node int) agent.Config {
	t.Helper()
	n := sb.Nodes[node]
	return agent.Config{
		Node: n.Name, Address: n.Address, Port: n.MySQLPort, User: sb.Database.User, Password: sb.Password(t),
		Root: t.TempDir(), Namespace: "openstack", Name: "test-backup", UID: "1234",
		Users: true, Compression: agent.Zstd, Desync: true, TempDir: t.TempDir(),
	}
}

func status(t *testing.T, sb *sandbox.Sandbox, node int) *galera.Status {
	t.Helper()
	n := sb.Nodes[node]
	p := galera.NewProber(galera.Config{User: sb.Database.User, Password: sb.Password(t), ConnectTimeout: 2 * time.Second, QueryTimeout: 2 * time.Second})
	st, err := p.Probe(context.Background(), net.JoinHostPort(n.Address, strconv.Itoa(n.MySQLPort)))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// notDesynced waits (at most 15 s) until the node is no longer desynced: wsrep_desync
// reads OFF at once, but the node passes through Joined before it is Synced again.
func notDesynced(t *testing.T, sb *sandbox.Sandbox, node int) bool {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := status(t, sb, node)
		if st.DesyncVar {
			return false // set and never reset: no waiting helps
		}
		if !st.Desynced() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func decompressed(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path) //nolint:gosec // G304: test output
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	d, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestDumpFromIdleNode dumps the sandbox's data from controller-2: the backup verifies,
// holds the tables and the users, and the node is no longer desynced afterwards.
func TestDumpFromIdleNode(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	cfg := config(t, sb, 2)
	res, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	if !res.DesyncSet || !res.DesyncReset {
		t.Errorf("desync set=%v reset=%v, want both", res.DesyncSet, res.DesyncReset)
	}
	if !notDesynced(t, sb, 2) {
		t.Error("the node is still desynced after the dump")
	}
	m, err := agent.Verify(res.Dir)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if m.Position == nil || m.Position.ClusterUUID == "" || m.Position.Seqno <= 0 || m.Node != "controller-2" {
		t.Errorf("manifest position/node: %+v %s", m.Position, m.Node)
	}
	data := decompressed(t, filepath.Join(res.Dir, "databases.sql.zst"))
	if !strings.Contains(data, "CREATE DATABASE") || !strings.Contains(data, "CREATE TABLE") {
		t.Errorf("the dump holds no CREATE DATABASE/TABLE (%d bytes)", len(data))
	}
	if strings.Contains(data, "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `mysql`") {
		t.Error("the data dump includes the mysql system database")
	}
	if users := decompressed(t, filepath.Join(res.Dir, "users.sql.zst")); !strings.Contains(users, sb.Database.User) {
		t.Errorf("users.sql lacks the %s user", sb.Database.User)
	}
	if len(res.Summary()) > 4096 {
		t.Errorf("termination message of %d bytes", len(res.Summary()))
	}
	if strings.Contains(string(res.Summary()), sb.Password(t)) {
		t.Fatal("the password is in the termination message")
	}
}

// TestDumpRefuses: a wrong password and a node already desynced (another backup) end with
// a clear error, before anything is written.
func TestDumpRefuses(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	cases := []struct {
		name  string
		setup func(cfg *agent.Config)
		want  string
	}{
		{"wrong password", func(cfg *agent.Config) { cfg.Password = "not-the-password" }, "Access denied"},
		{"unknown database", func(cfg *agent.Config) { cfg.Databases = []string{"no_such_db"} }, `database "no_such_db" does not exist`},
		{"physical method", func(cfg *agent.Config) { cfg.Method = "Mariabackup" }, "not built yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t, sb, 1)
			tc.setup(&cfg)
			_, err := agent.Dump(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			entries, _ := os.ReadDir(filepath.Join(cfg.Root, cfg.Namespace))
			if len(entries) != 0 {
				t.Errorf("left %v behind", entries)
			}
			if !notDesynced(t, sb, 1) {
				t.Error("the node is left desynced")
			}
		})
	}

	t.Run("node already desynced", func(t *testing.T) {
		sb.Run(t, "desync", "1", "on")
		t.Cleanup(func() { sb.Run(t, "desync", "1", "off") })
		cfg := config(t, sb, 1)
		_, err := agent.Dump(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), "re-checking controller-1") {
			t.Fatalf("err = %v, want a re-check failure", err)
		}
		if _, err := os.Stat(filepath.Join(cfg.Root, cfg.Namespace)); err == nil {
			t.Error("a directory was created before the re-check passed")
		}
	})
}

// TestDumpStoppedMidway: the agent is stopped (the Job's deadline, a deleted pod: its
// context is cancelled) while the dump runs. It ends with an error, leaves no directory,
// and the node is not left desynced. The dump tool is the real mariadb-dump behind a
// wrapper that first sleeps, so the stop lands mid-dump every time.
func TestDumpStoppedMidway(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	cfg := config(t, sb, 2)
	cfg.DumpTool = filepath.Join(t.TempDir(), "slow-dump")
	if err := os.WriteFile(cfg.DumpTool, []byte("#!/bin/sh\nsleep 30\nexec mariadb-dump \"$@\"\n"), 0o700); err != nil { //nolint:gosec // G306: an executable
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	res, err := agent.Dump(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("err = %v, want the dump stopped", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("stopping took %v", took)
	}
	if !res.DesyncSet || !res.DesyncReset {
		t.Errorf("desync set=%v reset=%v, want both", res.DesyncSet, res.DesyncReset)
	}
	if !notDesynced(t, sb, 2) {
		t.Error("the node is left desynced")
	}
	if entries, _ := os.ReadDir(filepath.Join(cfg.Root, cfg.Namespace)); len(entries) != 0 {
		t.Errorf("left %v behind", entries)
	}
}
