package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
)

// WaitHealthy waits (at most three minutes) until the script's status is clean and the
// three nodes are Synced, not desynced, with nothing queued, and share one view of full
// size, twice in a row a second apart: a resumed or restarted node may report a stale
// "Synced" for a moment. Tests call it after they killed, paused or desynced a node, so
// that the next test meets the overcloud it expects. It runs in cleanups, after the
// test's context is cancelled: context.Background() throughout.
func (s *Sandbox) WaitHealthy(t testing.TB) {
	t.Helper()
	p := galera.NewProber(galera.Config{User: s.Database.User, Password: s.Password(t),
		ConnectTimeout: time.Second, QueryTimeout: time.Second})
	deadline := time.Now().Add(3 * time.Minute)
	stable := 0
	for {
		problem := s.problem(p)
		if problem == "" {
			if stable++; stable == 2 {
				return
			}
			time.Sleep(time.Second)
			continue
		}
		stable = 0
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox is not healthy after three minutes: %s", problem)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// problem says what is not healthy in the sandbox, "" when nothing.
func (s *Sandbox) problem(p *galera.Prober) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Script, "status") //nolint:gosec // G204: our own script
	cmd.Env = s.ScriptEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Sprintf("hack/overcloud.sh status: %v: %s", err, bytes.TrimSpace(out))
	}
	views := map[int64]bool{}
	for i, n := range s.Nodes {
		st, err := p.Probe(ctx, s.NodeAddr(i))
		switch {
		case err != nil:
			return n.Name + ": " + err.Error()
		case !st.Synced() || st.Desynced() || st.ClusterSize != len(s.Nodes) || st.RecvQueue > 0:
			return fmt.Sprintf("%s: %s %s size %d desynced=%v recv queue %d",
				n.Name, st.LocalStateComment, st.ClusterStatus, st.ClusterSize, st.Desynced(), st.RecvQueue)
		}
		views[st.ClusterConfID] = true
	}
	if len(views) > 1 {
		return "the nodes report different views (conf_id)"
	}
	return ""
}
