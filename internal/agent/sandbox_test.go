package agent_test

// These tests dump from the real Galera nodes of the local overcloud (hack/overcloud.sh,
// see test/sandbox) with the real mariadb-dump. They fail, never skip, without it.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

func config(t testing.TB, sb *sandbox.Sandbox, node int) agent.Config {
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
	p := galera.NewProber(galera.Config{User: sb.Database.User, Password: sb.Password(t), ConnectTimeout: 2 * time.Second, QueryTimeout: 2 * time.Second})
	st, err := p.Probe(context.Background(), sb.NodeAddr(node))
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
	m, err := agent.Verify(t.Context(), res.Dir)
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
	undone(t, sb, res, cfg)
}

// undone checks what a stopped or failed dump must leave behind: wsrep_desync set and
// set OFF again by the agent, the node no longer desynced, nothing under the backup's
// parent directory (no .partial-* either).
func undone(t *testing.T, sb *sandbox.Sandbox, res agent.Result, cfg agent.Config) {
	t.Helper()
	node := slices.IndexFunc(sb.Nodes, func(n sandbox.Node) bool { return n.Name == cfg.Node })
	if !res.DesyncSet || !res.DesyncReset {
		t.Errorf("desync set=%v reset=%v, want both", res.DesyncSet, res.DesyncReset)
	}
	if !notDesynced(t, sb, node) {
		t.Error("the node is left desynced")
	}
	if left := leftovers(t, filepath.Join(cfg.Root, cfg.Namespace)); len(left) != 0 {
		t.Errorf("left %v behind", left)
	}
}

// sqlDB opens a pool on a sandbox node, closed when the test ends.
func sqlDB(t *testing.T, sb *sandbox.Sandbox, node int) *sql.DB {
	t.Helper()
	db := sb.Open(t, sb.NodeAddr(node))
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// checksums returns CHECKSUM TABLE of every table of the database, after a causality
// wait so that a node reads what was just written on another.
func checksums(t *testing.T, pool *sql.DB, schema string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	db, err := pool.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(ctx, "SET SESSION wsrep_sync_wait=15"); err != nil {
		t.Fatal(err)
	}
	var tables []string
	func() {
		rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'", schema)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}()
	out := map[string]int64{}
	for _, tb := range tables {
		var name string
		var sum sql.NullInt64
		if err := db.QueryRowContext(ctx, fmt.Sprintf("CHECKSUM TABLE `%s`.`%s`", schema, tb)).Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		out[tb] = sum.Int64
	}
	return out
}

// testDataset creates a database with rows of every kind (utf8mb4 text, BLOBs, NULLs,
// dates) and a trigger: 5000 instances, their audit rows, two flavors. The backup user
// may not create databases (least privilege): it is made, and dropped when the test
// ends, as root over controller-0's socket.
func testDataset(t *testing.T, sb *sandbox.Sandbox, schema string) {
	t.Helper()
	t.Cleanup(func() { rootSQL(t, sb, 0, strings.NewReader("DROP DATABASE IF EXISTS "+schema)) })
	var b strings.Builder
	b.WriteString("DROP DATABASE IF EXISTS " + schema + "; CREATE DATABASE " + schema + " CHARACTER SET utf8mb4; USE " + schema + ";\n" +
		"CREATE TABLE instances (id INT PRIMARY KEY AUTO_INCREMENT, uuid CHAR(36), name VARCHAR(255), vcpus INT, " +
		"deleted_at DATETIME NULL, metadata BLOB, notes TEXT) ENGINE=InnoDB;\n" +
		"CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, instance_id INT, what VARCHAR(64)) ENGINE=InnoDB;\n" +
		"CREATE TABLE flavors (id INT PRIMARY KEY, name VARCHAR(64), vcpus INT) ENGINE=InnoDB;\n" +
		"INSERT INTO flavors VALUES (1, 'm1.small', 1), (2, 'm1.large', 4);\n" +
		"CREATE TRIGGER instances_audit AFTER INSERT ON instances FOR EACH ROW INSERT INTO audit (instance_id, what) VALUES (NEW.id, 'create');\n")
	for batch := range 10 {
		b.WriteString("INSERT INTO instances (uuid, name, vcpus, deleted_at, metadata, notes) VALUES ")
		for i := range 500 {
			if i > 0 {
				b.WriteString(",")
			}
			n := batch*500 + i
			deleted := "NULL"
			if n%7 == 0 {
				deleted = "'2026-11-25 10:00:00'"
			}
			notes := "'it''s \\\\ quoted'"
			if n%5 == 0 {
				notes = "NULL"
			}
			fmt.Fprintf(&b, "(UUID(), 'vm-%d-été-🙂', %d, %s, UNHEX('%x'), %s)", n, n%64, deleted, []byte{byte(n & 0xff), 0, 0xff, byte(n >> 8 & 0xff)}, notes)
		}
		b.WriteString(";\n")
	}
	rootSQL(t, sb, 0, strings.NewReader(b.String()))
}

// TestDumpRestoresIdentically: a generated dataset is dumped from an idle node, dropped,
// restored from the backup with the mariadb client, and every table's CHECKSUM TABLE is
// what it was. Rows written on another node just before the dump are in it (causality).
func TestDumpRestoresIdentically(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const schema = "ocb_restore_test"
	testDataset(t, sb, schema)
	w := sqlDB(t, sb, 0)
	ctx := context.Background()
	before := checksums(t, w, schema)
	if len(before) != 3 {
		t.Fatalf("checksums of %d tables, want 3", len(before))
	}

	cfg := config(t, sb, 2)
	cfg.Databases = []string{schema}
	res, err := agent.Dump(ctx, cfg)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	if _, err := agent.Verify(t.Context(), res.Dir); err != nil {
		t.Fatalf("verify: %v", err)
	}

	rootSQL(t, sb, 0, strings.NewReader("DROP DATABASE "+schema))
	restore(t, sb, 0, filepath.Join(res.Dir, "databases.sql.zst"))
	after := checksums(t, sqlDB(t, sb, 1), schema) // read back on a third node: replicated too
	for tb, sum := range before {
		if after[tb] != sum {
			t.Errorf("table %s: checksum %d after restore, %d before", tb, after[tb], sum)
		}
	}
	var rows int
	if err := w.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+schema+".instances").Scan(&rows); err != nil || rows != 5000 {
		t.Errorf("restored %d rows (%v), want 5000", rows, err)
	}

	// The digest of each table, read from the dump as it was written, is exactly the
	// digest of a dump of the restored copy: what a restore drill compares.
	m, err := agent.ReadManifest(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.TablesError != "" || len(m.Tables) != 3 {
		t.Fatalf("the manifest's table digests: %+v (%s), want 3", m.Tables, m.TablesError)
	}
	for _, tb := range m.Tables {
		if tb.Database != schema || tb.Table == "instances" && tb.Rows != 5000 {
			t.Errorf("manifest: %+v, want %s's tables, instances with 5000 rows", tb, schema)
		}
	}
	again := config(t, sb, 1)
	again.Databases = []string{schema}
	res2, err := agent.Dump(ctx, again)
	if err != nil {
		t.Fatalf("dump of the restored copy: %v", err)
	}
	m2, err := agent.ReadManifest(res2.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if diffs := dumpdigest.Compare(m.Tables, m2.Tables); len(diffs) != 0 || len(m2.Tables) != 3 {
		t.Errorf("the restored copy's tables differ from the backup's: %v", diffs)
	}
	// One row changed on the cluster: its table, and only it, differs.
	rootSQL(t, sb, 0, strings.NewReader("UPDATE "+schema+".instances SET name=CONCAT(name,'x') ORDER BY id LIMIT 1"))
	again.Root = t.TempDir()
	res3, err := agent.Dump(ctx, again)
	if err != nil {
		t.Fatalf("dump after one row changed: %v", err)
	}
	m3, err := agent.ReadManifest(res3.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if diffs := dumpdigest.Compare(m.Tables, m3.Tables); len(diffs) != 1 || diffs[0].Table != "instances" {
		t.Errorf("after one row changed: %v, want instances only", diffs)
	}
}

// restore pipes a zstd backup file into the mariadb client on a node.
func restore(t *testing.T, sb *sandbox.Sandbox, node int, file string) {
	t.Helper()
	rootSQL(t, sb, node, strings.NewReader(decompressed(t, file)))
}

// rootSQL runs SQL as root over a node's unix socket with the mariadb client.
func rootSQL(t testing.TB, sb *sandbox.Sandbox, node int, in io.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	//nolint:gosec // G204: a path from sandbox.json
	cmd := exec.CommandContext(ctx, "mariadb", "--user=root", "--socket="+sb.Nodes[node].Socket, "--default-character-set=utf8mb4")
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		if len(out) > 600 {
			out = out[len(out)-600:]
		}
		t.Fatalf("mariadb client as root on %s: %v\n...%s", sb.Nodes[node].Name, err, out)
	}
}
