package probe_test

// Database connections shared by the watch's targets (galera.Sessions), against the local
// overcloud's real mariadbd: what each node sees of them (its processlist, read as root
// over the node's socket), and that sharing never hands a connection to a prober that
// could not have opened it.

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// sessionsOf lists the ids of user's sessions on node i, read as root.
func sessionsOf(t *testing.T, sb *sandbox.Sandbox, i int, user string) []string {
	t.Helper()
	out := sb.RootQuery(t, i, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '"+user+"' ORDER BY ID", false)
	return strings.Fields(out)
}

// keptTarget is a watch's target of the sandbox, kept for keep, drawing on sessions.
func keptTarget(t *testing.T, oc *backupv1alpha1.OvercloudSpec, c probe.Credentials, keep time.Duration, sessions *galera.Sessions) probe.Target {
	t.Helper()
	tg, err := probe.NewKeptTarget(oc, c, probeTimeout, keep, sessions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	return tg
}

// gather probes once and fails the test unless every node answered as reachable is.
func gather(t *testing.T, tg probe.Target, reachable bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*probeTimeout)
	defer cancel()
	for _, n := range probe.Gather(ctx, tg).Nodes {
		if n.Galera.Reachable != reachable {
			t.Fatalf("%s: reachable %v, want %v (%s)", n.Name, n.Galera.Reachable, reachable, n.Galera.Error)
		}
	}
}

func TestSharedSessions(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	user := sb.Database.User
	for i := range sb.Nodes {
		if s := sessionsOf(t, sb, i, user); len(s) > 0 {
			t.Fatalf("%s has sessions of %s before the test: %v", sb.Nodes[i].Name, user, s)
		}
	}
	sessions := galera.NewSessions()
	defer sessions.Close()
	c := creds(t, sb)
	a := keptTarget(t, spec(sb), c, time.Minute, sessions)
	b := keptTarget(t, spec(sb), c, time.Minute, sessions)

	// Ten probes by two targets one after the other: one session on each node, the same
	// one throughout (a probe without Sessions leaves none behind, and a new id each time).
	seen := make([][]string, len(sb.Nodes))
	for k := range 10 {
		gather(t, []probe.Target{a, b}[k%2], true)
		for i := range sb.Nodes {
			for _, id := range sessionsOf(t, sb, i, user) {
				if !slices.Contains(seen[i], id) {
					seen[i] = append(seen[i], id)
				}
			}
		}
	}
	for i, n := range sb.Nodes {
		if len(seen[i]) != 1 {
			t.Errorf("%s: sessions %v of %s over ten probes by two targets, want one", n.Name, seen[i], user)
		}
	}
	if got := sessions.Len(); got != len(sb.Nodes) {
		t.Errorf("%d pools open, want one per node (%d)", got, len(sb.Nodes))
	}

	t.Run("a session the server killed is replaced at the next probe", func(t *testing.T) {
		for i := range sb.Nodes {
			for _, id := range sessionsOf(t, sb, i, user) {
				sb.RootQuery(t, i, "KILL "+id, false)
			}
		}
		gather(t, a, true)
		for i, n := range sb.Nodes {
			now := sessionsOf(t, sb, i, user)
			if len(now) != 1 || slices.Contains(seen[i], now[0]) {
				t.Errorf("%s: sessions %v after the kill, want one new one (killed %v)", n.Name, now, seen[i])
			}
		}
	})

	t.Run("another password is never handed the open sessions", func(t *testing.T) {
		wrong := c
		wrong.DatabasePassword = c.DatabasePassword + "x"
		gather(t, keptTarget(t, spec(sb), wrong, time.Minute, sessions), false)
	})

	t.Run("closed: no session left on any node", func(t *testing.T) {
		sessions.Close()
		waitNoSessions(t, sb, user, 5*time.Second)
	})
}

// TestSharedSessionsTLS: a connection verified against one CA is never handed to a
// prober that trusts another, though account and password are the same.
func TestSharedSessionsTLS(t *testing.T) {
	sb := sandbox.Load(t)
	sb.RequireTLS(t)
	sb.Lock(t)
	sessions := galera.NewSessions()
	defer sessions.Close()
	tlsTarget := func(caFile string) probe.Target {
		oc := spec(sb)
		oc.Database.TLS = &backupv1alpha1.DatabaseTLS{Mode: backupv1alpha1.TLSVerifyFull}
		c := creds(t, sb)
		c.DatabaseUser = sb.TLS.User
		c.DatabaseCA = sb.ReadFile(t, caFile)
		return keptTarget(t, oc, c, time.Minute, sessions)
	}
	gather(t, tlsTarget(sb.TLS.CAFile), true)
	for i, n := range sb.Nodes {
		if s := sessionsOf(t, sb, i, sb.TLS.User); len(s) != 1 {
			t.Fatalf("%s: sessions %v of %s after a probe, want the one kept", n.Name, s, sb.TLS.User)
		}
	}
	gather(t, tlsTarget(sb.TLS.OtherCAFile), false)
	sessions.Close()
	waitNoSessions(t, sb, sb.TLS.User, 5*time.Second)
}

// TestSharedSessionsIdle: a kept session is closed once idle past the target's keep.
func TestSharedSessionsIdle(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	sessions := galera.NewSessions()
	defer sessions.Close()
	gather(t, keptTarget(t, spec(sb), creds(t, sb), time.Second, sessions), true)
	// database/sql's cleaner looks once a second: closed within a few seconds of the keep.
	waitNoSessions(t, sb, sb.Database.User, 5*time.Second)
}

// waitNoSessions waits, bounded, until no node has a session of user.
func waitNoSessions(t *testing.T, sb *sandbox.Sandbox, user string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		left := 0
		for i := range sb.Nodes {
			left += len(sessionsOf(t, sb, i, user))
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of %s still open %v later", left, user, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkProbeGaleraShared is BenchmarkProbeGaleraOneNode through the watch's shared
// sessions: the connection is kept between probes. cpu-µs/op is this process's CPU time
// (user and system) per probe, the manager's cost.
func BenchmarkProbeGaleraShared(b *testing.B) {
	sb, _ := benchTarget(b)
	sessions := galera.NewSessions()
	defer sessions.Close()
	tg, err := probe.NewKeptTarget(spec(sb), creds(b, sb), probeTimeout, time.Minute, sessions)
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	addr := sb.NodeAddr(0)
	cpu0 := sandbox.ProcessCPU(b)
	for b.Loop() {
		if _, err := tg.Galera.Probe(b.Context(), addr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((sandbox.ProcessCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
