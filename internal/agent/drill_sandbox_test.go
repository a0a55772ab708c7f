package agent_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
	"github.com/overcloud-backup/overcloud-backup-operator/test/tamper"
)

// TestDrill: a logical backup of the generated dataset, taken from an idle node while a
// client keeps writing to the same tables through another node, restores into a scratch
// server with every table equal to what the backup recorded. The same backup with one row
// removed, or one byte of one value changed, its checksums rewritten so that `agent verify`
// passes, is a TableMismatch naming the table; cut short, a RestoreFailed. The backup's
// users and grants are restored and enforced: an application account logs in to the
// scratch server with its password (and not without it) and holds its grants.
func TestDrill(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const schema = "ocb_drill_test"
	testDataset(t, sb, schema)
	const appUser, appPassword = "ocb_drill_app", "drill-app-test-only-secret" //nolint:gosec // G101: a test account's
	rootSQL(t, sb, 0, strings.NewReader(fmt.Sprintf("CREATE OR REPLACE USER '%s'@'%%' IDENTIFIED BY '%s';\n"+
		"GRANT SELECT, INSERT ON %s.* TO '%s'@'%%';\n", appUser, appPassword, schema, appUser)))
	t.Cleanup(func() { rootSQL(t, sb, 0, strings.NewReader("DROP USER IF EXISTS '"+appUser+"'@'%';")) })
	appGrants := grantsOf(t, sqlDB(t, sb, 0), "'"+appUser+"'@'%'")

	// A client writes through controller-0 for as long as the backup runs.
	stop := keepWriting(t, sb, schema, "UPDATE "+schema+".flavors SET vcpus = vcpus + 1 WHERE id = 1")
	cfg := config(t, sb, 2)
	cfg.Databases = []string{schema}
	res, err := agent.Dump(context.Background(), cfg)
	writes := stop()
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	if writes == 0 {
		t.Fatal("the client wrote nothing during the backup")
	}

	drill := func(t *testing.T, dir string, keep ...func(socket string)) agent.DrillResult {
		t.Helper()
		cfg := agent.DrillConfig{Dir: dir, Scratch: t.TempDir(), Log: t.Output()}
		if len(keep) > 0 {
			cfg.KeepServer = keep[0]
		}
		r, err := agent.Drill(t.Context(), cfg)
		if err != nil {
			t.Fatalf("drill: %v", err)
		}
		t.Logf("drill: %s (%.1f s, server %s)", r.Message, r.Seconds, r.ServerVersion)
		// The dump's values never reach the result (the client quotes them when a
		// statement fails: the agent's log has them).
		if text := r.Message + strings.Join(r.Mismatches, ""); strings.Contains(text, "vm-") || strings.Contains(text, "quoted") {
			t.Errorf("the result quotes the dump: %q", text)
		}
		return r
	}
	t.Run("the backup as taken", func(t *testing.T) {
		r := drill(t, res.Dir)
		if r.Reason != "" || r.Tables != 3 || r.Rows < 5000 || r.Checked != 3 || r.SourceVersion != r.ServerVersion ||
			strings.Contains(r.Message, "newer") {
			t.Fatalf("%+v, want 3 tables, 5000+ rows, all equal, all 3 found OK by CHECK TABLE, the source's version", r)
		}
		t.Logf("%d writes by the client while the backup ran", writes)
	})
	t.Run("too large for its scratch space", func(t *testing.T) {
		scratch := t.TempDir()
		r, err := agent.Drill(t.Context(), agent.DrillConfig{Dir: res.Dir, Scratch: scratch, ScratchLimit: 150 << 20, Log: t.Output()})
		if err != nil {
			t.Fatalf("drill: %v", err)
		}
		t.Logf("drill: %s", r.Message)
		if r.Reason != agent.ReasonTooLarge || !strings.Contains(r.Message, "150 MiB is the scratch directory's size limit") {
			t.Fatalf("%+v, want TooLarge, 150 MiB named", r)
		}
		if entries, _ := os.ReadDir(scratch); len(entries) > 0 {
			t.Errorf("the scratch directory holds %d entries: a server was started", len(entries))
		}
	})
	t.Run("from a newer server", func(t *testing.T) {
		r := drill(t, manifestCopy(t, res.Dir, func(m *agent.Manifest) { m.ServerVersion = "99.1.0-MariaDB" }))
		if r.Reason != agent.ReasonVersionMismatch || r.SourceVersion != "99.1.0-MariaDB" ||
			!strings.Contains(r.Message, `older than the backup's source "99.1.0-MariaDB"`) || r.Tables != 0 {
			t.Fatalf("%+v, want VersionMismatch naming both versions, before any restore", r)
		}
	})
	t.Run("from an older server", func(t *testing.T) {
		r := drill(t, manifestCopy(t, res.Dir, func(m *agent.Manifest) { m.ServerVersion = "10.6.5-MariaDB-log" }))
		if r.Reason != "" || r.Tables != 3 || !strings.Contains(r.Message, `is newer than the backup's source "10.6.5-MariaDB-log"`) {
			t.Fatalf("%+v, want restored, the newer scratch server said", r)
		}
	})
	t.Run("users and grants", func(t *testing.T) {
		var kept bool
		r := drill(t, res.Dir, func(socket string) {
			kept = true
			if _, err := scratchLogin(t, socket, appUser, "not-the-password"); err == nil {
				t.Error("the scratch server let the application account in with a wrong password: grants are not enforced")
			}
			grants, err := scratchLogin(t, socket, appUser, appPassword)
			if err != nil {
				t.Fatalf("the application account cannot log in to the scratch server with its password: %v", err)
			}
			if !slices.Equal(grants, appGrants) {
				t.Errorf("its grants on the scratch server:\n%v\nwant, as on the overcloud,\n%v", grants, appGrants)
			}
		})
		if !kept {
			t.Fatal("KeepServer was not called")
		}
		if r.Reason != "" || r.Users < 3 { // the backup user, the TLS user, the application's
			t.Fatalf("%+v, want all equal and the overcloud's accounts restored", r)
		}
	})
	for _, tc := range []struct {
		name, want string
		change     func(t *testing.T, dump []byte) []byte
	}{
		{"one row removed", agent.ReasonTableMismatch, func(t *testing.T, dump []byte) []byte {
			start, end := rowLine(t, dump, 17)
			return append(append([]byte{}, dump[:start]...), dump[end:]...)
		}},
		{"one byte of one value changed", agent.ReasonTableMismatch, func(t *testing.T, dump []byte) []byte {
			changed := bytes.Replace(dump, []byte("'vm-17-"), []byte("'vm-18-"), 1)
			if bytes.Equal(changed, dump) {
				t.Fatal("no row named vm-17 in the dump")
			}
			return changed
		}},
		{"cut short", agent.ReasonRestoreFailed, func(t *testing.T, dump []byte) []byte {
			start, _ := rowLine(t, dump, 17)
			return dump[:start]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tamperedCopy(t, res.Dir, tc.change)
			if _, err := agent.Verify(t.Context(), dir); err != nil {
				t.Fatalf("agent verify of the tampered copy: %v (it must pass: only a restore can tell)", err)
			}
			r := drill(t, dir)
			if r.Reason != tc.want {
				t.Fatalf("%+v, want %s", r, tc.want)
			}
			if tc.want == agent.ReasonTableMismatch && (len(r.Mismatches) != 1 || !strings.HasPrefix(r.Mismatches[0], `"`+schema+`"."instances": `)) {
				t.Errorf("mismatches %q, want %s.instances alone", r.Mismatches, schema)
			}
		})
	}
}

// scratchLogin logs in to the scratch server's socket as user and reads its grants
// (SHOW GRANTS, sorted) and the test schema's tables.
func scratchLogin(t *testing.T, socket, user, password string) ([]string, error) {
	t.Helper()
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = user, password, "unix", socket
	mc.Timeout, mc.ReadTimeout = 2*time.Second, 10*time.Second
	mc.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	defer func() { _ = db.Close() }()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM ocb_drill_test.flavors").Scan(&n); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(t.Context(), "SHOW GRANTS")
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		grants = append(grants, g)
	}
	slices.Sort(grants)
	return grants, rows.Err()
}

// writer opens a connection to node as a user that may write to schema's tables, made for
// the test and dropped after it.
func writer(t *testing.T, sb *sandbox.Sandbox, node int, schema string) *sql.DB {
	t.Helper()
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		t.Fatal(err)
	}
	password := hex.EncodeToString(pw)
	rootSQL(t, sb, node, strings.NewReader(fmt.Sprintf("CREATE OR REPLACE USER 'ocbwriter'@'%%' IDENTIFIED BY '%s';\n"+
		"GRANT SELECT, INSERT, UPDATE ON %s.* TO 'ocbwriter'@'%%';\n", password, schema)))
	t.Cleanup(func() { rootSQL(t, sb, node, strings.NewReader("DROP USER IF EXISTS 'ocbwriter'@'%';")) })
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = "ocbwriter", password, "tcp", sb.NodeAddr(node)
	mc.Timeout, mc.ReadTimeout, mc.WriteTimeout = 5*time.Second, 10*time.Second, 10*time.Second
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// rowLine is the k-th row line of the instances table's INSERT (MariaDB 10.11's
// mariadb-dump writes a row per line): where it starts in dump, and where it ends (past
// its newline).
func rowLine(t *testing.T, dump []byte, k int) (start, end int) {
	t.Helper()
	head := []byte("INSERT INTO `instances` VALUES\n")
	i := bytes.Index(dump, head)
	if i < 0 {
		t.Fatal("no row-per-line INSERT of instances in the dump")
	}
	start = i + len(head)
	for range k - 1 {
		n := bytes.IndexByte(dump[start:], '\n')
		if n < 0 {
			t.Fatalf("fewer than %d rows of instances in the dump", k)
		}
		start += n + 1
	}
	n := bytes.IndexByte(dump[start:], '\n')
	if n < 0 || dump[start] != '(' {
		t.Fatalf("row line %d of instances: %q", k, dump[start:min(start+80, len(dump))])
	}
	return start, start + n + 1
}

// manifestCopy copies a backup directory with its manifest changed by change.
func manifestCopy(t *testing.T, src string, change func(*agent.Manifest)) string {
	t.Helper()
	return tamperedCopy(t, src, func(_ *testing.T, dump []byte) []byte { return dump }, change)
}

// tamperedCopy copies a backup directory, changes its databases dump with change, and
// rewrites the manifest's sizes and checksum of it, as someone hiding the change would
// (test/tamper).
func tamperedCopy(t *testing.T, src string, change func(*testing.T, []byte) []byte, changeManifest ...func(*agent.Manifest)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "backup")
	if err := tamper.Copy(src, dir, func(dump []byte) ([]byte, error) { return change(t, dump), nil }, changeManifest...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keepWriting starts a client writing through controller-0, with an account of its own
// (the backup user may not write): rows into schema.instances and, when also is not
// empty, that statement after each; at most 100000 rounds and two minutes. The writes are
// under way when it returns; stop ends them and says how many rows were written.
func keepWriting(t *testing.T, sb *sandbox.Sandbox, schema, also string) (stop func() int) {
	t.Helper()
	w := writer(t, sb, 0, schema)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var wg sync.WaitGroup
	writes := 0
	wg.Go(func() {
		for i := 0; i < 100000 && ctx.Err() == nil; i++ {
			//nolint:gosec // G202: the test's own schema name
			if _, err := w.ExecContext(ctx, "INSERT INTO "+schema+".instances (uuid, name, vcpus) VALUES (UUID(), ?, 2)",
				fmt.Sprintf("written-during-%d", i)); err == nil {
				writes++
			}
			if also == "" {
				continue
			}
			if _, err := w.ExecContext(ctx, also); err != nil && ctx.Err() == nil {
				t.Errorf("the writing client: %v", err)
				return
			}
		}
	})
	time.Sleep(300 * time.Millisecond)
	return func() int {
		cancel()
		wg.Wait()
		return writes
	}
}
