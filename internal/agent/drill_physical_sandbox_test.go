package agent_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// TestDrillPhysical: a Mariabackup backup of the generated dataset, taken from the idle
// node while a client keeps writing through another node, restores in its drill (the
// stream extracted, prepared, a scratch server on the copy) with every table OK by CHECK
// TABLE; it records no table digests, so the drill says NotCompared, with the tables and
// rows it found.
func TestDrillPhysical(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const schema = "ocb_drill_physical"
	testDataset(t, sb, schema)

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
	cfg.Databases = []string{schema}
	res, err := agent.Dump(context.Background(), cfg)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	if writes == 0 {
		t.Fatal("the client wrote nothing during the backup")
	}
	m, err := agent.Verify(t.Context(), res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.TablesError == "" || len(m.Tables) != 0 {
		t.Fatalf("the physical backup's digests: %d tables, tablesError %q: want none, and why", len(m.Tables), m.TablesError)
	}
	if !notDesynced(t, sb, 2) {
		t.Error("the node is still desynced after the backup")
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
	t.Run("the backup as taken", func(t *testing.T) {
		r := drill(t, res.Dir)
		if r.Reason != agent.ReasonNotCompared || r.Tables != 3 || r.Rows < 5000 || r.Checked != 3 || r.Users < 1 {
			t.Fatalf("%+v, want NotCompared: 3 tables, 5000+ rows, 3 checked, the grant tables' accounts", r)
		}
		t.Logf("%d writes by the client while the backup ran", writes)
	})
}
