package agent_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
	"github.com/overcloud-backup/overcloud-backup-operator/test/tamper"
)

// TestDrillPhysical: a Mariabackup backup of the generated dataset, taken from the idle
// node while a client keeps writing through another node, records the digest of every
// table at the copy's own position (the node held still beside mariadb-backup --no-lock),
// and its drill (the stream extracted, prepared, a scratch server on the copy) finds every
// table equal, the writes made during the backup included, and OK by CHECK TABLE. A
// recorded digest changed afterwards is a TableMismatch naming the table: the comparison
// is real. The same backup taken with a command without --no-lock records no digests and
// its drill says NotCompared.
func TestDrillPhysical(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const schema = "ocb_drill_physical"
	testDataset(t, sb, schema)
	// The damaged page below must not be rebuilt by --prepare from the backup's redo log:
	// the backup starts after a checkpoint past the dataset's writes, and the client then
	// writes to instances and audit only, never to flavors.
	waitCheckpoint(t, sqlDB(t, sb, 2))

	backup := func(t *testing.T, command string) (agent.Result, int) {
		t.Helper()
		stop := keepWriting(t, sb, schema, "")
		cfg := physicalConfig(t, sb)
		cfg.Physical.Command = command
		cfg.Databases = []string{schema}
		var log strings.Builder
		cfg.Log = &log
		res, err := agent.Dump(context.Background(), cfg)
		writes := stop()
		t.Logf("agent: %s", strings.TrimSpace(log.String()))
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		if writes == 0 {
			t.Fatal("the client wrote nothing during the backup")
		}
		if !notDesynced(t, sb, 2) {
			t.Error("the node is still desynced after the backup")
		}
		return res, writes
	}
	drill := func(t *testing.T, dir string) agent.DrillResult {
		t.Helper()
		r, err := agent.Drill(t.Context(), agent.DrillConfig{Dir: dir, Scratch: t.TempDir()})
		if err != nil {
			t.Fatalf("drill: %v", err)
		}
		t.Logf("drill: %s: %s (%.1f s, server %s)", r.Reason, r.Message, r.Seconds, r.ServerVersion)
		return r
	}

	res, writes := backup(t, agent.DefaultMariabackupCommand)
	m, err := agent.Verify(t.Context(), res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.TablesError != "" || len(m.Tables) != 3 {
		t.Fatalf("the physical backup's digests: %d tables, tablesError %q: want 3, and no error", len(m.Tables), m.TablesError)
	}
	t.Run("the backup as taken", func(t *testing.T) {
		r := drill(t, res.Dir)
		if r.Reason != "" || r.Tables != 3 || r.Rows < 5000 || r.Checked != 3 || r.Users < 1 {
			t.Fatalf("%+v, want Restored: 3 tables, 5000+ rows, 3 checked, the grant tables' accounts", r)
		}
		t.Logf("%d writes by the client while the backup ran", writes)
	})
	t.Run("a recorded digest changed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "changed")
		err := tamper.CopyFile(res.Dir, dir, agent.PhysicalFile, func(b []byte) ([]byte, error) { return b, nil },
			func(m *agent.Manifest) {
				for i := range m.Tables {
					if m.Tables[i].Table == "instances" {
						m.Tables[i].Rows--
					}
				}
			})
		if err != nil {
			t.Fatal(err)
		}
		r := drill(t, dir)
		if r.Reason != agent.ReasonTableMismatch || len(r.Mismatches) != 1 || !strings.Contains(r.Mismatches[0], `"instances"`) {
			t.Fatalf("%+v, want TableMismatch naming instances only", r)
		}
	})
	t.Run("a damaged page", func(t *testing.T) {
		// Page 3 of flavors.ibd is its clustered index's root, and its only leaf.
		dir := filepath.Join(t.TempDir(), "damaged")
		if err := tamper.CopyFile(res.Dir, dir, agent.PhysicalFile, tamper.DamagePage(schema+"/flavors.ibd", 3)); err != nil {
			t.Fatal(err)
		}
		if _, err := agent.Verify(t.Context(), dir); err != nil {
			t.Fatalf("agent verify of the damaged copy: %v (its checksums were rewritten: only a drill can tell)", err)
		}
		r := drill(t, dir)
		if r.Reason != agent.ReasonCorruptTable || len(r.Mismatches) != 1 || !strings.Contains(r.Mismatches[0], `"flavors"`) {
			t.Fatalf("%+v, want CorruptTable naming flavors only", r)
		}
	})
	t.Run("a command without --no-lock", func(t *testing.T) {
		res, _ := backup(t, strings.Replace(agent.DefaultMariabackupCommand, " --no-lock", "", 1))
		m, err := agent.Verify(t.Context(), res.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.TablesError, "--no-lock") || len(m.Tables) != 0 {
			t.Fatalf("%d tables, tablesError %q: want none, and why", len(m.Tables), m.TablesError)
		}
		if r := drill(t, res.Dir); r.Reason != agent.ReasonNotCompared || r.Tables != 3 || r.Checked != 3 {
			t.Fatalf("%+v, want NotCompared with 3 tables checked", r)
		}
	})
}

// waitCheckpoint, after a causality wait and InnoDB's purge, makes the node's InnoDB flush every dirty page (innodb_max_dirty_pages_pct
// 0, its own value back after) and waits, at most a minute, until its checkpoint has passed
// every write made so far: pages written before are then on disk, and a backup's redo log
// holds nothing for them. Left alone, an idle node keeps a few hundred dirty pages and its
// checkpoint where it is.
func waitCheckpoint(t *testing.T, db *sql.DB) {
	t.Helper()
	lsn := func(name string) int64 {
		var v int64
		if err := db.QueryRowContext(t.Context(), "SELECT variable_value FROM information_schema.global_status WHERE variable_name = ?",
			name).Scan(&v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	// A causality wait first: the node has applied every write set of the cluster before
	// its LSN is read (the dataset was written through another node).
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if _, err := conn.ExecContext(t.Context(), "SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(t.Context(), "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	// Then purge: it rewrites the records the dataset inserted (their DB_TRX_ID reset to 0
	// once no read view needs it), a page write after the inserts.
	start := time.Now()
	for lsn("Innodb_history_list_length") > 0 {
		if time.Since(start) > time.Minute {
			t.Fatal("InnoDB's purge did not empty the history list within a minute")
		}
		time.Sleep(200 * time.Millisecond)
	}
	want := lsn("Innodb_lsn_current")
	var pct string
	if err := db.QueryRowContext(t.Context(), "SELECT @@GLOBAL.innodb_max_dirty_pages_pct").Scan(&pct); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), "SET GLOBAL innodb_max_dirty_pages_pct = 0"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := db.ExecContext(context.Background(), "SET GLOBAL innodb_max_dirty_pages_pct = "+pct); err != nil {
			t.Errorf("setting innodb_max_dirty_pages_pct back to %s: %v", pct, err)
		}
	}()
	for lsn("Innodb_lsn_last_checkpoint") < want {
		if time.Since(start) > time.Minute {
			t.Fatalf("InnoDB's checkpoint did not pass LSN %d within a minute", want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("checkpoint past LSN %d after %s", want, time.Since(start).Round(time.Millisecond))
}
