package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/haproxy"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// statsReader reads the sandbox HAProxy's real stats page, as `agent dump
// --haproxy-stats-url` does.
func statsReader(t *testing.T, sb *sandbox.Sandbox) agent.HAProxyReader {
	t.Helper()
	password := sb.StatsPassword(t)
	return func(ctx context.Context) (*haproxy.Backend, *haproxy.Table, error) {
		b, err := haproxy.FetchHTTP(ctx, nil, sb.HAProxy.StatsURL, sb.HAProxy.StatsUser, password, sb.HAProxy.Backend)
		return b, nil, err
	}
}

// TestDumpRefusesTheServedNode: a client holds a session through the VIP, so HAProxy
// serves the clients through one node. A dump aimed at that node (the controller chose
// it when it was idle; a failover made it active since) is refused by the re-check
// before anything is written or desynced; a dump from another node with the same check
// goes ahead.
func TestDumpRefusesTheServedNode(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	_, served := sb.ClientSession(t)
	active, idle := -1, -1
	for i, n := range sb.Nodes {
		if n.Name == served {
			active = i
		} else {
			idle = i
		}
	}
	if active < 0 {
		t.Fatalf("the VIP served %q, not a sandbox node", served)
	}
	// HAProxy's counters follow the session at once; wait for them all the same.
	read := statsReader(t, sb)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _, err := read(t.Context())
		if err == nil && b.Server(served) != nil && b.Server(served).CurrentSessions > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy does not show the session on %s (%v)", served, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	cfg := config(t, sb, active)
	cfg.HAProxy = read
	_, err := agent.Dump(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "HAProxy serves the database clients through it now") {
		t.Fatalf("dump from the served node %s: err = %v, want a refusal", served, err)
	}
	if _, statErr := os.Stat(filepath.Join(cfg.Root, cfg.Namespace)); statErr == nil {
		t.Error("a directory was created before the re-check passed")
	}
	if st := status(t, sb, active); st.DesyncVar || st.Desynced() {
		t.Errorf("the served node was desynced: %+v", st)
	}

	cfg = config(t, sb, idle)
	cfg.HAProxy = read
	res, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dump from the idle %s with the HAProxy check: %v", sb.Nodes[idle].Name, err)
	}
	if _, err := agent.Verify(t.Context(), res.Dir); err != nil {
		t.Fatal(err)
	}
	if !notDesynced(t, sb, idle) {
		t.Error("the idle node is left desynced")
	}
}
