package agent_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
	"github.com/overcloud-backup/overcloud-backup-operator/test/tamper"
)

// randomHex is n random bytes in hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// restoreAccount makes, as root, an account that may restore databases, users and grants
// (the backup user may not write), dropped when the test ends (DROP USER replicates, its
// PROXY rows with it). PROXY: users.sql grants root@localhost its PROXY privilege, which
// only an account holding it WITH GRANT OPTION may do (error 1698).
func restoreAccount(t testing.TB, sb *sandbox.Sandbox) (user, password string) {
	t.Helper()
	user, password = "ocbrestore_"+randomHex(t, 4), randomHex(t, 16)
	account := "'" + user + "'@'%'"
	t.Cleanup(func() { rootSQL(t, sb, 0, strings.NewReader("DROP USER IF EXISTS "+account+";")) })
	rootSQL(t, sb, 0, strings.NewReader("CREATE USER "+account+" IDENTIFIED BY '"+password+"';\n"+
		"GRANT ALL PRIVILEGES ON *.* TO "+account+" WITH GRANT OPTION;\n"))
	// PROXY on every node by itself: MariaDB 10.11.19's Galera appliers refuse a
	// replicated GRANT PROXY (error 1698 for '<wsrep_applier>', ignored with a warning),
	// so granted once it would exist only on the node it was granted on (docs/restore.md).
	// Each node first catches up with the account's creation (a causality wait).
	for i := range sb.Nodes {
		rootSQL(t, sb, i, strings.NewReader("SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM mysql.global_priv;\n"+
			"SET SESSION wsrep_sync_wait=0; SET SESSION wsrep_on=OFF;\n"+
			"GRANT PROXY ON ''@'%' TO "+account+" WITH GRANT OPTION;\n"))
	}
	return user, password
}

// restoreConfig restores through controller-1 (not the backup's node), proving on every
// node of the sandbox.
func restoreConfig(t testing.TB, sb *sandbox.Sandbox, dir, user, password string) agent.RestoreConfig {
	t.Helper()
	n := sb.Nodes[1]
	cfg := agent.RestoreConfig{Dir: dir, Node: n.Name, Address: n.Address, Port: n.MySQLPort, User: user, Password: password,
		TempDir: t.TempDir(), Log: t.Output(), CatchUpTimeout: 30 * time.Second}
	for _, p := range sb.Nodes {
		cfg.ProveNodes = append(cfg.ProveNodes, agent.NodeAddress{Name: p.Name, Address: p.Address, Port: p.MySQLPort})
	}
	return cfg
}

// spaceCheck checks every node's free space over SSH, as the backup's agent reaches them.
func spaceCheck(sb *sandbox.Sandbox) *agent.SpaceCheck {
	sc := &agent.SpaceCheck{Datadir: sb.ClusterDatadir(),
		SSH: agent.PhysicalConfig{SSHUser: sb.SSH.User, SSHPort: sb.Nodes[0].SSHPort, SSHTimeout: 5 * time.Second,
			KeyFile: sb.SSH.PrivateKeyFile, KnownHostsFile: sb.SSH.KnownHostsFile}}
	for _, n := range sb.Nodes {
		sc.Nodes = append(sc.Nodes, agent.ClusterNode{Name: n.Name, SSHHost: n.Address})
	}
	return sc
}

// copyBackup copies a backup directory with its dump and manifest changed (test/tamper
// rewrites the checksums, so that the copy verifies).
func copyBackup(t *testing.T, src string, change func([]byte) []byte, changeManifest ...func(*agent.Manifest)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "backup")
	if err := tamper.Copy(src, dir, func(dump []byte) ([]byte, error) { return change(dump), nil }, changeManifest...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// count is a single-number query's answer on a node, read after a causality wait.
func count(t *testing.T, sb *sandbox.Sandbox, node int, query string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := sqlDB(t, sb, node).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait=15"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s on %s: %v", query, sb.Nodes[node].Name, err)
	}
	return n
}

// TestRestoreDatabases: two databases and an application account backed up from the idle
// controller-2; then refusals that drop nothing; a tampered dump that stops at the failed
// statement with the server's code and the dump's line; then database A and the account
// dropped, database B given one more row, and A restored with users and grants through
// controller-1: every node proves A equal to the backup, B keeps its row (its digest no
// longer the backup's), and the account logs in with its password on every node.
func TestRestoreDatabases(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const dbA, dbB = "ocb_restore_a", "ocb_restore_b"
	testDataset(t, sb, dbA)
	t.Cleanup(func() { rootSQL(t, sb, 0, strings.NewReader("DROP DATABASE IF EXISTS "+dbB)) })
	rootSQL(t, sb, 0, strings.NewReader("DROP DATABASE IF EXISTS "+dbB+"; CREATE DATABASE "+dbB+";\n"+
		"CREATE TABLE "+dbB+".items (id INT PRIMARY KEY, name VARCHAR(32));\n"+
		"INSERT INTO "+dbB+".items VALUES (1, 'one'), (2, 'two');\n"))
	const appUser = "ocb_restore_app"
	appPassword := randomHex(t, 12)
	t.Cleanup(func() {
		rootSQL(t, sb, 0, strings.NewReader("DROP USER IF EXISTS '"+appUser+"'@'%';"))
		for i := range sb.Nodes { // should the import role have made one (docs/restore.md): local to that node
			rootSQL(t, sb, i, strings.NewReader("SET SESSION wsrep_on=OFF; DELETE FROM mysql.global_priv WHERE user = '' AND host = ''; FLUSH PRIVILEGES;"))
		}
	})
	rootSQL(t, sb, 0, strings.NewReader(fmt.Sprintf("CREATE OR REPLACE USER '%s'@'%%' IDENTIFIED BY '%s';\n"+
		"GRANT SELECT ON %s.* TO '%s'@'%%';\n", appUser, appPassword, dbA, appUser)))

	cfg := config(t, sb, 2)
	cfg.Databases = []string{dbA, dbB}
	backup, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	user, password := restoreAccount(t, sb)
	instances := "SELECT COUNT(*) FROM " + dbA + ".instances"
	untouched := func(t *testing.T) {
		t.Helper()
		if n := count(t, sb, 0, instances); n != 5000 {
			t.Errorf("%s holds %d instances after a refusal, want its 5000", dbA, n)
		}
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			change func(cfg *agent.RestoreConfig)
			want   string
		}{
			{"a database not in the backup", func(cfg *agent.RestoreConfig) { cfg.Databases = []string{dbA, "no_such_db", "nor_this"} },
				`verifying the backup: 2 of the 3 databases asked for are not in the backup (the first: "no_such_db")`},
			{"a physical backup", func(cfg *agent.RestoreConfig) {
				cfg.Dir = copyBackup(t, backup.Dir, func(b []byte) []byte { return b }, func(m *agent.Manifest) { m.Options.Method = agent.Mariabackup })
			}, `verifying the backup: a "Mariabackup" backup: only a logical backup restores databases`},
			{"a backup without digests", func(cfg *agent.RestoreConfig) {
				cfg.Dir = copyBackup(t, backup.Dir, func(b []byte) []byte { return b }, func(m *agent.Manifest) {
					m.Tables, m.TablesError = nil, "more than 20000 tables"
				})
			}, "verifying the backup: the manifest records no table digests"},
			{"a dump the filter cannot follow", func(cfg *agent.RestoreConfig) {
				cfg.Dir = copyBackup(t, backup.Dir, func(b []byte) []byte {
					use := []byte("USE `" + dbA + "`;\n")
					if i := bytes.Index(b, use); i < 0 || bytes.Count(b[:i], []byte("\n")) != 24 {
						t.Fatalf("USE of %s not on line 25 of the dump", dbA)
					}
					return bytes.Replace(b, use, append(use, "USE `mysql`;\n"...), 1)
				})
			}, "reading the dump before anything is dropped: the dump is not a mariadb-dump --databases stream this filter " +
				"can follow: line 26: a USE statement naming another database than its section's"},
			{"not enough space on a node", func(cfg *agent.RestoreConfig) {
				cfg.Space = spaceCheck(sb)
				cfg.Space.MinFree = 1 << 50 // a PiB to keep free: no node has it
			}, "checking free space before anything is dropped: controller-0 has "},
			{"the backup user, which may not write", func(cfg *agent.RestoreConfig) {
				cfg.User, cfg.Password = sb.Database.User, sb.Password(t)
			}, "restoring database 1 of 1: dropping it: server error 1044 (42000)"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rcfg := restoreConfig(t, sb, backup.Dir, user, password)
				rcfg.Databases = []string{dbA}
				tc.change(&rcfg)
				res, err := agent.Restore(t.Context(), rcfg)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%v, want %q", err, tc.want)
				}
				if len(res.Databases) != 0 || strings.Contains(err.Error(), rcfg.Password) {
					t.Errorf("%+v", res)
				}
				untouched(t)
			})
		}
		t.Run("a desynced node", func(t *testing.T) {
			sb.Run(t, "desync", "1", "on")
			t.Cleanup(func() { sb.Run(t, "desync", "1", "off") })
			rcfg := restoreConfig(t, sb, backup.Dir, user, password)
			rcfg.Databases = []string{dbA}
			_, err := agent.Restore(t.Context(), rcfg)
			if err == nil || !strings.Contains(err.Error(), "re-checking controller-1: not a synced, primary, ready node that is not desynced") {
				t.Fatalf("%v, want the re-check's refusal", err)
			}
			untouched(t)
		})
	})
	if !notDesynced(t, sb, 1) {
		t.Fatal("controller-1 is still desynced")
	}

	t.Run("a statement that fails", func(t *testing.T) {
		var line int
		dir := copyBackup(t, backup.Dir, func(dump []byte) []byte {
			old := []byte("CREATE TABLE `flavors` (")
			i := bytes.Index(dump, old)
			if i < 0 {
				t.Fatal("no CREATE TABLE of flavors in the dump")
			}
			line = bytes.Count(dump[:i], []byte("\n")) + 1
			return append(append(append([]byte{}, dump[:i]...), "CREATE TABLE `flavors` `secret-text` ("...), dump[i+len(old):]...)
		})
		rcfg := restoreConfig(t, sb, dir, user, password)
		rcfg.Databases = []string{dbB, dbA}
		res, err := agent.Restore(t.Context(), rcfg)
		want := regexp.MustCompile(`^restoring database 2 of 2: the client: exit status 1: server error 1064 \(42000\) at line (\d+) of the dump$`)
		m := want.FindStringSubmatch(fmt.Sprint(err))
		if m == nil || m[1] != strconv.Itoa(line) {
			t.Fatalf("%v, want %s with the dump's line %d", err, want, line)
		}
		if strings.Contains(err.Error(), "secret-text") || len(res.Databases) != 1 || res.Databases[0] != `"`+dbB+`"` || res.Bytes == 0 {
			t.Errorf("%+v", res)
		}
	})

	// What happens after the backup: A and the account lost, B written to.
	rootSQL(t, sb, 0, strings.NewReader("DROP DATABASE "+dbA+"; DROP USER '"+appUser+"'@'%';\n"+
		"INSERT INTO "+dbB+".items VALUES (3, 'after the backup');\n"))

	rcfg := restoreConfig(t, sb, backup.Dir, user, password)
	rcfg.Databases, rcfg.Users = []string{dbA}, true
	rcfg.Space = spaceCheck(sb) // every node has room: the check passes
	res, err := agent.Restore(t.Context(), rcfg)
	t.Logf("restore: %s", res.Summary())
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Node != "controller-1" || len(res.Databases) != 1 || res.Databases[0] != `"`+dbA+`"` || res.Tables != 3 || res.Rows < 5000 ||
		!res.Users || res.Bytes == 0 || len(res.Proofs) != 3 {
		t.Fatalf("%+v", res)
	}
	for _, p := range res.Proofs {
		if !p.Equal || p.Tables != 3 || p.Rows != res.Rows || p.Error != "" {
			t.Errorf("proof on %s: %+v", p.Node, p)
		}
	}
	if strings.Contains(string(res.Summary()), password) {
		t.Fatal("the password is in the result")
	}

	// B untouched: its new row on every node, its digest no longer the backup's.
	for i := range sb.Nodes {
		if n := count(t, sb, i, "SELECT COUNT(*) FROM "+dbB+".items WHERE id = 3"); n != 1 {
			t.Errorf("%s: %s lost its row written after the backup", sb.Nodes[i].Name, dbB)
		}
	}
	m, err := agent.ReadManifest(backup.Dir)
	if err != nil {
		t.Fatal(err)
	}
	now := config(t, sb, 0)
	now.Databases, now.Users = []string{dbB}, false
	again, err := agent.Dump(t.Context(), now)
	if err != nil {
		t.Fatalf("dump of %s: %v", dbB, err)
	}
	m2, err := agent.ReadManifest(again.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var backedUp []dumpdigest.Table
	for _, tb := range m.Tables {
		if tb.Database == dbB {
			backedUp = append(backedUp, tb)
		}
	}
	if diffs := dumpdigest.Compare(backedUp, m2.Tables); len(diffs) != 1 || diffs[0].Table != "items" {
		t.Errorf("%s against the backup: %v, want items to differ", dbB, diffs)
	}

	// The account is back, with its password and grant, on every node; no anonymous account.
	for i := range sb.Nodes {
		if err := loginAndRead(t, sb.NodeAddr(i), appUser, appPassword, instances); err != nil {
			t.Errorf("%s: the restored account cannot log in and read %s: %v", sb.Nodes[i].Name, dbA, err)
		}
		if n := count(t, sb, i, "SELECT COUNT(*) FROM mysql.global_priv WHERE user = '' AND host = ''"); n != 0 {
			t.Errorf("%s: %d anonymous accounts after the restore", sb.Nodes[i].Name, n)
		}
	}
}

// loginAndRead logs in to addr as user and runs a one-number query.
func loginAndRead(t *testing.T, addr, user, password, query string) error {
	t.Helper()
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = user, password, "tcp", addr
	mc.Timeout, mc.ReadTimeout = 2*time.Second, 10*time.Second
	mc.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer func() { _ = db.Close() }()
	var n int
	return db.QueryRowContext(t.Context(), query).Scan(&n)
}
