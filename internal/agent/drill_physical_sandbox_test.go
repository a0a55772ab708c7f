package agent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
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

	backup := func(t *testing.T, command string) (agent.Result, int) {
		t.Helper()
		w := writer(t, sb, 0, schema)
		ctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
		var wg sync.WaitGroup
		writes := 0
		wg.Go(func() {
			for i := 0; i < 100000 && ctx.Err() == nil; i++ {
				if _, err := w.ExecContext(ctx, "INSERT INTO "+schema+".instances (uuid, name, vcpus) VALUES (UUID(), ?, 2)", fmt.Sprintf("written-during-%d", i)); err == nil {
					writes++
				}
			}
		})
		time.Sleep(300 * time.Millisecond)
		cfg := physicalConfig(t, sb)
		cfg.Physical.Command = command
		cfg.Databases = []string{schema}
		var log strings.Builder
		cfg.Log = &log
		res, err := agent.Dump(context.Background(), cfg)
		stop()
		wg.Wait()
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
