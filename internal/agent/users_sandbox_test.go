package agent_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// grantsOf is SHOW GRANTS of a user, sorted, read on one node after a causality wait.
func grantsOf(t *testing.T, db *sql.DB, user string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait=15"); err != nil {
		t.Fatal(err)
	}
	var out []string
	rows, err := conn.QueryContext(ctx, "SHOW GRANTS FOR "+user)
	if err == nil {
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				t.Fatal(err)
			}
			out = append(out, g)
		}
		err = rows.Err()
	}
	if me := (*mysql.MySQLError)(nil); errors.As(err, &me) && me.Number == 1141 {
		return nil // ER_NONEXISTING_GRANT: no such user
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestDumpRestoresUsersAndGrants: an OpenStack service user with a password, a role and
// grants on its database is in users.sql; after DROP USER, restoring users.sql brings
// the same grants back on every node, and the user logs in with its password again.
func TestDumpRestoresUsersAndGrants(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const user, role, schema = "'ocb_glance'@'%'", "ocb_glance_role", "ocb_glance"
	const password = "glance-test-only-secret"
	cleanup := "DROP USER IF EXISTS " + user + "; DROP ROLE IF EXISTS " + role + "; DROP DATABASE IF EXISTS " + schema + ";"
	t.Cleanup(func() {
		rootSQL(t, sb, 0, strings.NewReader(cleanup))
		// Should the restore have left the anonymous account (see below) on a node, it is
		// local to that node (mysql.global_priv is not replicated): remove it there.
		for i := range sb.Nodes {
			rootSQL(t, sb, i, strings.NewReader("SET SESSION wsrep_on=OFF; DELETE FROM mysql.global_priv WHERE user = '' AND host = ''; FLUSH PRIVILEGES;"))
		}
	})
	rootSQL(t, sb, 0, strings.NewReader(cleanup+
		"CREATE DATABASE "+schema+"; CREATE TABLE "+schema+".images (id CHAR(36) PRIMARY KEY, size BIGINT);"+
		"CREATE ROLE "+role+"; GRANT SELECT ON "+schema+".* TO "+role+";"+
		"CREATE USER "+user+" IDENTIFIED BY '"+password+"';"+
		"GRANT ALL PRIVILEGES ON "+schema+".* TO "+user+"; GRANT "+role+" TO "+user+";"+
		"SET DEFAULT ROLE "+role+" FOR "+user+";"))
	admin := sqlDB(t, sb, 0)
	before := grantsOf(t, admin, user)
	if len(before) < 2 {
		t.Fatalf("grants before the dump: %v", before)
	}

	cfg := config(t, sb, 2)
	cfg.Databases = []string{schema}
	res, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	if _, err := agent.Verify(t.Context(), res.Dir); err != nil {
		t.Fatal(err)
	}

	rootSQL(t, sb, 0, strings.NewReader("DROP USER "+user+"; DROP ROLE "+role+";"))
	if g := grantsOf(t, admin, user); g != nil {
		t.Fatalf("the user survived DROP USER: %v", g)
	}
	// docs/restore.md: mariadb-dump's users.sql grants its import role TO CURRENT_USER(),
	// which Galera's replication threads apply with an empty current user, creating an
	// anonymous account ''@'' on every other node (and making their next users dump
	// fail). The documented restore names the restoring account instead.
	users := strings.Replace(decompressed(t, filepath.Join(res.Dir, "users.sql.zst")),
		"GRANT mariadb_dump_import_role TO CURRENT_USER();", "GRANT mariadb_dump_import_role TO 'root'@'localhost';", 1)
	rootSQL(t, sb, 0, strings.NewReader(users))
	for i := range sb.Nodes {
		var n int
		if err := sqlDB(t, sb, i).QueryRowContext(t.Context(), "SELECT COUNT(*) FROM mysql.global_priv WHERE user = '' AND host = ''").Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d anonymous accounts after the restore (%v)", sb.Nodes[i].Name, n, err)
		}
	}
	if after := grantsOf(t, sqlDB(t, sb, 1), user); !slices.Equal(after, before) { // replicated too
		t.Errorf("grants after the restore, on another node:\n%v\nwant\n%v", after, before)
	}

	// The password came back too: the user logs in through another node.
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = "ocb_glance", password, "tcp", sb.NodeAddr(1)
	mc.Timeout, mc.ReadTimeout = 2*time.Second, 5*time.Second
	mc.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer func() { _ = db.Close() }()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+schema+".images").Scan(&n); err != nil {
		t.Errorf("the restored user cannot log in and read its database: %v", err)
	}
}
