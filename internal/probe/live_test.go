package probe_test

// These tests run against the live Pacemaker overcloud (OCB_PACEMAKER=live
// hack/overcloud.sh; OCB_SANDBOX names its sandbox.json): Corosync and Pacemaker
// really run Galera (the ocf:heartbeat:galera agent), hold the VIP (IPaddr2) and run
// HAProxy on every controller. What they check is what only a live cluster shows: the VIP
// moving, Pacemaker re-promoting a crashed node, Pacemaker and Galera disagreeing. They
// fail, never skip, when the live sandbox is missing.

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// liveSandbox is the live sandbox, locked for the test and healthy: every galera Promoted,
// every node Synced. The cleanup waits for the same, so the next test meets it whole.
func liveSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	sb := sandbox.Load(t)
	sb.Lock(t)
	sb.WaitHealthy(t)
	t.Cleanup(func() { sb.WaitHealthy(t) })
	return sb
}

// untilDecision probes every 500 ms, for at most limit, until ok holds; every decision on
// the way goes through each (for invariants). It returns the decision that held.
func untilDecision(t *testing.T, tg probe.Target, limit time.Duration, what string,
	each func(selection.Decision), ok func(selection.Decision) bool,
) selection.Decision {
	t.Helper()
	start := time.Now()
	var d selection.Decision
	for n := 0; ; n++ {
		_, d = probe.GatherDecided(t.Context(), tg, selection.Policy{})
		if each != nil {
			each(d)
		}
		if ok(d) {
			took := time.Since(start)
			t.Logf("%s after %v (%d probes): active=%q (%s) vip=%q selected=%q: %s", what, took.Round(time.Millisecond), n+1,
				d.Active, d.ActiveSource, d.VIPNode, d.Selected, d.Reason)
			return d
		}
		if time.Since(start) > limit {
			for _, r := range d.Nodes {
				t.Logf("  %s role=%s eligible=%v: %s", r.Name, r.Role, r.Eligible, r.Reason)
			}
			t.Fatalf("%s: not within %v; last: active=%q vip=%q selected=%q: %s", what, limit, d.Active, d.VIPNode, d.Selected, d.Reason)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// newSession waits (at most a minute) for a client session through the VIP, as a service
// reconnecting after a failover, keeps it open and returns the node it landed on.
func newSession(t *testing.T, sb *sandbox.Sandbox, not string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	seen := map[string]int{} // what the attempts met, for the failure message
	for {
		got, err := sb.ServedBy(t)
		if got != "" && got != not {
			_, name := sb.ClientSession(t)
			return name
		}
		if err != nil {
			got = err.Error()
		}
		seen[got]++
		if time.Now().After(deadline) {
			t.Fatalf("no client session through the VIP on a node other than %q within a minute; attempts met %v; Pacemaker: %s",
				not, seen, sb.Run(t, "crm"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestLiveHealthy: Pacemaker's live view over SSH (crm_mon on an idle controller), the VIP
// where IPaddr2 put it, the active node from the VIP holder's HAProxy, and a backup from an
// idle node that does not hold the VIP.
func TestLiveHealthy(t *testing.T) {
	sb := liveSandbox(t)
	_, active := sb.ClientSession(t)
	tg := target(t, sb)
	d := untilDecision(t, tg, 30*time.Second, "the client's node named active", nil,
		func(d selection.Decision) bool { return d.Active == active })
	if d.VIPNode == "" {
		t.Errorf("no VIP holder in the decision: %s", d.Reason)
	}
	if d.Selected == "" || d.Selected == active || d.Selected == d.VIPNode {
		t.Errorf("selected %q; want an idle node other than the active %s and the VIP holder %s", d.Selected, active, d.VIPNode)
	}
	for _, r := range d.Nodes {
		if r.Name != active && !r.Eligible {
			t.Errorf("%s not eligible on a healthy live cluster: %s", r.Name, r.Reason)
		}
	}
}

// TestLiveStandbyOfVIPHolder: the VIP holder goes to standby. Pacemaker moves the VIP, the
// new holder's HAProxy starts with an empty stick table and serves its own first healthy
// server, so the node serving clients may change although no database node failed. The
// probe names the VIP's new holder and the new active node, and never selects either, nor
// the node in standby.
func TestLiveStandbyOfVIPHolder(t *testing.T) {
	sb := liveSandbox(t)
	_, first := sb.ClientSession(t)
	tg := target(t, sb)
	d := untilDecision(t, tg, 30*time.Second, "the VIP holder known", nil,
		func(d selection.Decision) bool { return d.VIPNode != "" && d.Active == first })
	holder := d.VIPNode
	hi := nodeIndex(t, sb, holder)
	start := time.Now()
	sb.Run(t, "standby", strconv.Itoa(hi))
	t.Cleanup(func() { sb.Run(t, "unstandby", strconv.Itoa(hi)); sb.Run(t, "start", strconv.Itoa(hi)) })

	noBadChoice := func(d selection.Decision) {
		if d.Selected != "" && (d.Selected == d.Active || d.Selected == holder) {
			t.Errorf("selected %q while the active node is %q and %s is in standby: %s", d.Selected, d.Active, holder, d.Reason)
		}
	}
	d = untilDecision(t, tg, time.Minute, "the VIP moved off "+holder, noBadChoice,
		func(d selection.Decision) bool { return d.VIPNode != "" && d.VIPNode != holder })
	vipMoved := time.Since(start)
	// Services reconnect through the VIP: the new holder's HAProxy picks a node.
	second := newSession(t, sb, "")
	d = untilDecision(t, tg, 30*time.Second, "the new active node named", noBadChoice,
		func(d selection.Decision) bool { return d.Active == second && d.Selected != "" })
	t.Logf("standby of %s: VIP on %s after %v; clients were on %s, now on %s (named after %v)", holder, d.VIPNode,
		vipMoved.Round(time.Millisecond), first, second, time.Since(start).Round(time.Millisecond))
	if r := row(d, holder); r.Eligible || !strings.Contains(r.Reason, "standby") {
		t.Errorf("%s in standby: %+v, want ineligible, saying standby", holder, r)
	}
}

// TestLiveKillActiveNode: kill -9 the mariadbd of the node serving clients. HAProxy moves
// the clients to a standby; Pacemaker's monitor sees the crash and restarts and
// re-promotes the node (the galera agent rejoins it by IST). No probe in all that time
// selects the node serving clients or the crashed one, and once the node is back a backup
// has an idle node again, never the one a new client lands on.
//
// Failback depends on the VIP. When its holder stayed, that HAProxy keeps its stick entry and
// does not move the clients back. When the VIP moved (the sandbox colocates it with a
// Promoted galera, so killing the holder's database moves it), the new holder's HAProxy
// starts with an empty stick table and sends the next client to the first server up, which
// may be the node just back: that is HAProxy's behaviour, and the probe must follow it.
func TestLiveKillActiveNode(t *testing.T) {
	sb := liveSandbox(t)
	_, first := sb.ClientSession(t)
	tg := target(t, sb)
	d0 := untilDecision(t, tg, 30*time.Second, "the client's node named active", nil,
		func(d selection.Decision) bool { return d.Active == first })
	fi := nodeIndex(t, sb, first)
	start := time.Now()
	t.Cleanup(func() { sb.Run(t, "cleanup"); sb.Run(t, "start", strconv.Itoa(fi)) })
	second := sb.KillServing(t, first)
	sb.ClientSession(t) // held: the stick entry names where the clients are

	noBadChoice := func(d selection.Decision) {
		if d.Selected != "" && (d.Selected == first && !row(d, first).Eligible || d.Selected == d.Active) {
			t.Errorf("selected %q (active %q, crashed %s): %s", d.Selected, d.Active, first, d.Reason)
		}
		if d.Selected == first && time.Since(start) < 5*time.Second {
			t.Errorf("selected the crashed %s %v after the kill", first, time.Since(start))
		}
	}
	untilDecision(t, tg, time.Minute, "clients moved to "+second, noBadChoice,
		func(d selection.Decision) bool { return d.Active == second })
	// Pacemaker brings the node back: galera Promoted on it again, and Galera synced.
	sb.Run(t, "start", strconv.Itoa(fi))
	back := time.Since(start)
	d := untilDecision(t, tg, time.Minute, first+" eligible again", noBadChoice,
		func(d selection.Decision) bool { return row(d, first).Eligible && d.Selected != "" })
	t.Logf("kill of %s: clients on %s; Pacemaker had it Promoted and synced again %v after the kill", first, second, back.Round(time.Millisecond))
	got, err := sb.ServedBy(t)
	if err != nil {
		t.Fatalf("a new session through the VIP after %s came back: %v", first, err)
	}
	if d.VIPNode == d0.VIPNode {
		// No failback: a new session still lands where HAProxy moved the clients.
		if got != second {
			t.Errorf("a new session after %s came back landed on %q; HAProxy's stick entry on %s stays on %s (no failback)", first, got, d.VIPNode, second)
		}
		if d.Active != second {
			t.Errorf("active %q after %s came back, want %s (no failback)", d.Active, first, second)
		}
	} else {
		t.Logf("the VIP moved from %s to %s: its HAProxy started with an empty stick table; a new session landed on %q", d0.VIPNode, d.VIPNode, got)
	}
	// Wherever HAProxy sends clients now, the probe names that node and selects another.
	untilDecision(t, tg, 30*time.Second, "the new session's node ("+got+") named active", noBadChoice,
		func(d selection.Decision) bool { return d.Active == got && d.Selected != "" })
}

// idleOffVIP is the live sandbox with a client session, a target, the node serving the
// client once the probe names it, and an idle node that does not hold the VIP.
func idleOffVIP(t *testing.T) (sb *sandbox.Sandbox, tg probe.Target, active string, idle int) {
	t.Helper()
	sb = liveSandbox(t)
	_, active = sb.ClientSession(t)
	tg = target(t, sb)
	d := untilDecision(t, tg, 30*time.Second, "the client's node named active", nil,
		func(d selection.Decision) bool { return d.Active == active && d.VIPNode != "" })
	return sb, tg, active, otherThan(t, sb, active, d.VIPNode)
}

// TestLiveFrozenCorosync: Corosync frozen (SIGSTOP) on an idle node. The other two lose it
// after Corosync's token timeout and fence it (fence_ocb through the sandbox's power
// controller: powered off, then on), as a production overcloud would; meanwhile crm_mon
// there shows it UNCLEAN or OFFLINE, while its mariadbd keeps running in Galera's Primary
// component (Galera's membership is not Corosync's), and its own crm_mon still shows
// everyone online with quorum. Pacemaker and Galera disagree, and the node cannot tell: no
// probe selects it, whichever node's crm_mon answered (its own view is the weakest evidence:
// PacemakerCluster.Source), and the other idle node is chosen. After the fence it comes
// back by itself (Pacemaker starts galera on it, which rejoins by IST).
func TestLiveFrozenCorosync(t *testing.T) {
	sb, tg, active, fi := idleOffVIP(t)
	frozen := sb.Nodes[fi].Name
	before := sb.FenceLogOffset()
	sb.Run(t, "freeze-corosync", strconv.Itoa(fi))
	frozenAt := time.Now()
	t.Cleanup(func() { sb.Run(t, "thaw-corosync", strconv.Itoa(fi)); sb.Run(t, "start", strconv.Itoa(fi)) })
	// Corosync's token (3 s) and consensus, Pacemaker's reaction: 10 s before the others
	// are sure to have lost it; from then on the node is never chosen.
	const lost = 10 * time.Second
	time.Sleep(lost)
	probes, seen := 0, map[string]int{}
	var fencedAfter time.Duration
	untilDecision(t, tg, 2*time.Minute, frozen+" fenced, then 10 s more of probes", func(d selection.Decision) {
		probes++
		r := row(d, frozen)
		// Once powered on again it restarts and rejoins from scratch: it may rightly be
		// chosen when the others see it back, and while it rejoins its donor is desynced
		// (then no node may be chosen at all).
		back := strings.Contains(sb.FenceLogSince(before), "on "+frozen+": ok")
		if (!back && (d.Selected == "" || d.Selected == frozen)) || d.Selected == active {
			t.Errorf("probe %d: selected %q, want the other idle node (not %s, frozen; not the active %s): %s",
				probes, d.Selected, frozen, active, d.Reason)
		}
		switch {
		case r.Eligible:
			seen["its own view (online, chosen last)"]++
		case strings.Contains(r.Reason, "unclean"):
			seen["unclean"]++
		case strings.Contains(r.Reason, "offline"):
			seen["offline"]++
		default:
			seen[r.Reason]++
		}
		if fencedAfter == 0 && strings.Contains(sb.FenceLogSince(before), "off "+frozen+": ok") {
			fencedAfter = time.Since(frozenAt)
		}
	}, func(selection.Decision) bool { return fencedAfter > 0 && time.Since(frozenAt) > fencedAfter+lost })
	t.Logf("%s: Corosync frozen, fenced (powered off) %v after; %d probes saw it as %v; the power controller: %q", frozen,
		fencedAfter.Round(time.Millisecond), probes, seen, strings.TrimSpace(sb.FenceLogSince(before)))
	if !strings.Contains(sb.FenceLogSince(before), "on "+frozen+": ok") {
		t.Errorf("%s was powered off but not on again: %q", frozen, sb.FenceLogSince(before))
	}
}

// TestLiveGaleraStoppedAndStarted: the whole galera clone stopped through Pacemaker leaves
// no node to back up from; started again (the agent bootstraps from the last node to
// stop, the others join), a backup has an idle node again.
func TestLiveGaleraStoppedAndStarted(t *testing.T) {
	sb := liveSandbox(t)
	tg := target(t, sb)
	sb.Run(t, "stop-galera")
	t.Cleanup(func() { sb.Run(t, "start-galera"); sb.Run(t, "start", "0") })
	untilDecision(t, tg, 90*time.Second, "no node to back up from", nil,
		func(d selection.Decision) bool { return d.Selected == "" })
	sb.Run(t, "start-galera")
	untilDecision(t, tg, 3*time.Minute, "an idle node again", nil,
		func(d selection.Decision) bool { return d.Selected != "" })
}

// TestLiveMaintenanceMode: maintenance-mode=true (Pacemaker manages nothing: no monitor, no
// recovery). The databases run and replicate as before, so a backup still runs, from an
// idle synced node, and the decision says the cluster is in maintenance: a person doing
// maintenance usually wants the backup most (docs/selection.md).
func TestLiveMaintenanceMode(t *testing.T) {
	sb := liveSandbox(t)
	_, active := sb.ClientSession(t)
	tg := target(t, sb)
	sb.Run(t, "maintenance", "on")
	t.Cleanup(func() { sb.Run(t, "maintenance", "off") })
	d := untilDecision(t, tg, 30*time.Second, "the maintenance seen", nil, func(d selection.Decision) bool {
		for _, r := range d.Nodes {
			if strings.Contains(r.Reason, "maintenance") {
				return true
			}
		}
		return strings.Contains(d.Reason, "maintenance")
	})
	if d.Selected == "" || d.Selected == active {
		t.Errorf("selected %q during maintenance-mode; want an idle synced node, not the active %s", d.Selected, active)
	}
}

// askedFirst records, per probe, the nodes Pacemaker was asked through.
type askedFirst struct {
	inner probe.PacemakerSource
	mu    sync.Mutex
	calls []string
}

func (a *askedFirst) Status(ctx context.Context, n probe.Node) (*probe.PacemakerView, error) {
	a.mu.Lock()
	a.calls = append(a.calls, n.Name)
	a.mu.Unlock()
	return a.inner.Status(ctx, n)
}

// take returns the nodes asked since the last take.
func (a *askedFirst) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.calls
	a.calls = nil
	return out
}

// TestLiveFrozenOnlyCandidate: Corosync frozen on an idle node X while fencing fails (the
// power controller down, as an unreachable BMC), so X stays UNCLEAN to the others while its
// mariadbd stays Synced in Galera's Primary component; the other idle node Y is then
// desynced by someone else (not eligible), which leaves X the only candidate. X is asked first, and its
// own crm_mon still shows everyone online with quorum: on its word alone X would be chosen.
// GatherDecided asks Pacemaker again through Y, sees X UNCLEAN, and chooses nobody. Fencing
// works again at the end, and Pacemaker's next retry fences X.
func TestLiveFrozenOnlyCandidate(t *testing.T) {
	sb, tg, active, xi := idleOffVIP(t)
	x := sb.Nodes[xi].Name
	yi := otherThan(t, sb, active, x)
	y := sb.Nodes[yi].Name

	// Undone in this order: Y synced again, then fencing, so that Pacemaker's next retry
	// fences X, which comes back by itself. (Y is desynced rather than put in standby: a
	// standby stops its galera, and then fencing X would leave the active node alone, one
	// of two, out of Galera's primary component; nor would Pacemaker start galera on Y
	// again while X is UNCLEAN.)
	t.Cleanup(func() {
		sb.Run(t, "desync", strconv.Itoa(yi), "off")
		sb.Run(t, "fencing", "working")
		sb.Run(t, "thaw-corosync", strconv.Itoa(xi))
		sb.Run(t, "cleanup")
		sb.Run(t, "start", strconv.Itoa(xi))
	})
	sb.Run(t, "fencing", "broken")
	sb.Run(t, "freeze-corosync", strconv.Itoa(xi))
	// Corosync's token and consensus: after 10 s the others have lost X for sure.
	time.Sleep(10 * time.Second)
	sb.Run(t, "desync", strconv.Itoa(yi), "on")

	// X first, then Y, the active node last.
	rec := &askedFirst{inner: tg.Pacemaker}
	tg.Pacemaker, tg.AskLast = rec, []string{y, active}
	confirmed, probes := 0, 0
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s, d := probe.GatherDecided(t.Context(), tg, selection.Policy{})
		asked := rec.take()
		probes++
		if d.Selected == x {
			t.Errorf("probe %d: chose %s, cut off from Corosync (view from %s, asked %v): %s", probes, x, s.Pacemaker.Source, asked, d.Reason)
		}
		if d.Selected == active {
			t.Errorf("probe %d: chose the active node %s: %s", probes, active, d.Reason)
		}
		if len(asked) > 1 && asked[0] == x && s.Pacemaker != nil && s.Pacemaker.Source != x {
			confirmed++
		}
		time.Sleep(time.Second)
	}
	t.Logf("%s frozen, fencing broken, %s desynced: %d probes, %d confirmed through another node's view", x, y, probes, confirmed)
	if confirmed == 0 {
		t.Errorf("no probe read %s's own view and then another node's: the confirmation never ran", x)
	}
}
