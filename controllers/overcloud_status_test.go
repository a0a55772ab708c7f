package controllers

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// row is a node table row: reachable and synced or not.
func row(name string, reachable, synced bool) backupv1alpha1.NodeStatus {
	g := &backupv1alpha1.GaleraNodeStatus{Reachable: reachable, Synced: synced, LocalState: 4, LocalStateComment: "Synced", ClusterStatus: "Primary"}
	if !synced {
		g.LocalState, g.LocalStateComment = 2, "Donor/Desynced"
	}
	return backupv1alpha1.NodeStatus{Name: name, Galera: g}
}

func healthyReport() probe.Report {
	return probe.Report{
		Overcloud: "oc", Nodes: []backupv1alpha1.NodeStatus{row("c0", true, true), row("c1", true, true), row("c2", true, true)},
		ActiveNode: "c0", ActiveSource: "HAProxy stick table", VIPNode: "c0", SelectedNode: "c1", Reason: "c1 is idle",
		Pacemaker: "read", HAProxy: "read", ClusterStateUUID: "uuid-1", ClusterSize: 3,
	}
}

func TestObserveOvercloud(t *testing.T) {
	start := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	cases := []struct {
		name                  string
		probe                 overcloudProbe
		ready                 metav1.ConditionStatus
		readyReason, degraded string
		synced, backupFrom    string
	}{
		{"healthy", overcloudProbe{Report: healthyReport()}, metav1.ConditionTrue, backupv1alpha1.ReasonBackupPossible,
			backupv1alpha1.ReasonAllSynced, "3/3", "c1"},
		{"one node not synced", overcloudProbe{Report: func() probe.Report {
			r := healthyReport()
			r.Nodes[2] = row("c2", true, false)
			return r
		}()}, metav1.ConditionTrue, backupv1alpha1.ReasonBackupPossible, backupv1alpha1.ReasonNodeNotSynced, "2/3", "c1"},
		{"no idle node", overcloudProbe{Report: func() probe.Report {
			r := healthyReport()
			r.SelectedNode, r.Reason = "", "only the active node is synced"
			r.Nodes[1], r.Nodes[2] = row("c1", true, false), row("c2", false, false)
			return r
		}()}, metav1.ConditionFalse, backupv1alpha1.ReasonNoIdleNode, backupv1alpha1.ReasonNodeNotSynced, "1/3", ""},
		{"split brain first", overcloudProbe{Report: func() probe.Report {
			r := healthyReport()
			r.SplitBrain, r.NoQuorum, r.SelectedNode = true, true, ""
			return r
		}()}, metav1.ConditionFalse, backupv1alpha1.ReasonNoIdleNode, backupv1alpha1.ReasonSplitBrain, "3/3", ""},
		{"no quorum", overcloudProbe{Report: func() probe.Report {
			r := healthyReport()
			r.NoQuorum, r.Pacemaker = true, "read, without quorum"
			return r
		}()}, metav1.ConditionTrue, backupv1alpha1.ReasonBackupPossible, backupv1alpha1.ReasonNoQuorum, "3/3", "c1"},
		{"pacemaker unreadable", overcloudProbe{Report: func() probe.Report {
			r := healthyReport()
			r.Pacemaker = "not read: ssh: handshake failed"
			return r
		}()}, metav1.ConditionTrue, backupv1alpha1.ReasonBackupPossible, backupv1alpha1.ReasonPacemakerUnreadable, "3/3", "c1"},
		{"no node answered", overcloudProbe{Report: probe.Report{
			Nodes: []backupv1alpha1.NodeStatus{row("c0", false, false), row("c1", false, false)}, Reason: "no node answered",
		}}, metav1.ConditionFalse, backupv1alpha1.ReasonProbeFailed, backupv1alpha1.ReasonProbeFailed, "0/2", ""},
		{"probe could not run", overcloudProbe{Err: errors.New("the overcloud has no nodes")}, metav1.ConditionFalse,
			backupv1alpha1.ReasonProbeFailed, backupv1alpha1.ReasonProbeFailed, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oc := &backupv1alpha1.Overcloud{ObjectMeta: metav1.ObjectMeta{Generation: 4}}
			// A previous probe's findings, to be replaced or cleared.
			oc.Status.ActiveNode, oc.Status.BackupFrom = "old", "old"
			tc.probe.Start, tc.probe.Took = start, 1234567*time.Microsecond
			observeOvercloud(oc, tc.probe)
			st := oc.Status
			ready := meta.FindStatusCondition(st.Conditions, backupv1alpha1.ConditionReady)
			deg := meta.FindStatusCondition(st.Conditions, backupv1alpha1.ConditionDegraded)
			if ready == nil || ready.Status != tc.ready || ready.Reason != tc.readyReason || ready.ObservedGeneration != 4 {
				t.Errorf("Ready %+v, want %s/%s", ready, tc.ready, tc.readyReason)
			}
			if deg == nil || deg.Reason != tc.degraded || (deg.Status == metav1.ConditionTrue) != (tc.degraded != backupv1alpha1.ReasonAllSynced) {
				t.Errorf("Degraded %+v, want reason %s", deg, tc.degraded)
			}
			if st.Synced != tc.synced || st.BackupFrom != tc.backupFrom {
				t.Errorf("synced %q backupFrom %q, want %q %q", st.Synced, st.BackupFrom, tc.synced, tc.backupFrom)
			}
			if !st.LastProbeTime.Time.Equal(start) || st.LastProbeDuration.Duration != 1235*time.Millisecond || st.ObservedGeneration != 4 {
				t.Errorf("probe time %v duration %v generation %d", st.LastProbeTime, st.LastProbeDuration, st.ObservedGeneration)
			}
			if tc.probe.Err == nil && (st.ClusterStateUUID != tc.probe.Report.ClusterStateUUID || st.ActiveNode != tc.probe.Report.ActiveNode) {
				t.Errorf("cluster %q active %q", st.ClusterStateUUID, st.ActiveNode)
			}
			if tc.probe.Err != nil && (st.ActiveNode != "" || st.Nodes != nil) {
				t.Errorf("a failed probe left the previous findings: %+v", st)
			}
		})
	}
}

func TestOvercloudEvents(t *testing.T) {
	observed := func(r probe.Report) *backupv1alpha1.OvercloudStatus {
		oc := &backupv1alpha1.Overcloud{}
		observeOvercloud(oc, overcloudProbe{Report: r})
		return &oc.Status
	}
	failed := func() *backupv1alpha1.OvercloudStatus {
		oc := &backupv1alpha1.Overcloud{}
		observeOvercloud(oc, overcloudProbe{Err: errors.New("x")})
		return &oc.Status
	}
	with := func(f func(*probe.Report)) probe.Report {
		r := healthyReport()
		f(&r)
		return r
	}
	cases := []struct {
		name       string
		prev, next *backupv1alpha1.OvercloudStatus
		want       []string
		lastActive string // known before prev (prev's probe saw none)
	}{
		{"first probe, healthy", &backupv1alpha1.OvercloudStatus{}, observed(healthyReport()), nil, ""},
		{"first probe, a node not synced", &backupv1alpha1.OvercloudStatus{},
			observed(with(func(r *probe.Report) { r.Nodes[2] = row("c2", true, false) })), []string{"NodeNotSynced"}, ""},
		{"nothing changed", observed(healthyReport()), observed(healthyReport()), nil, ""},
		{"failover", observed(healthyReport()), observed(with(func(r *probe.Report) {
			r.ActiveNode, r.SelectedNode = "c1", "c2"
			r.Nodes[0] = row("c0", false, false)
		})), []string{"ActiveNodeChanged", "NodeNotSynced"}, ""},
		{"VIP moved", observed(healthyReport()), observed(with(func(r *probe.Report) { r.VIPNode = "c2" })), []string{"VIPMoved"}, ""},
		{"still not synced: once", observed(with(func(r *probe.Report) { r.Nodes[2] = row("c2", true, false) })),
			observed(with(func(r *probe.Report) { r.Nodes[2] = row("c2", true, false) })), nil, ""},
		{"synced again", observed(with(func(r *probe.Report) { r.Nodes[2] = row("c2", true, false) })), observed(healthyReport()),
			[]string{"NodeSynced"}, ""},
		{"split brain", observed(healthyReport()), observed(with(func(r *probe.Report) { r.SplitBrain = true })), []string{"SplitBrain"}, ""},
		{"probe failed", observed(healthyReport()), failed(), []string{"ProbeFailed"}, ""},
		{"probe still failing", failed(), failed(), nil, ""},
		{"probe recovered", failed(), observed(healthyReport()), []string{"ProbeRecovered"}, ""},
		{"active unknown then known: no change told", observed(with(func(r *probe.Report) { r.ActiveNode = "" })),
			observed(healthyReport()), nil, ""},
		{"failover with a probe in between that saw no active node", observed(with(func(r *probe.Report) { r.ActiveNode = "" })),
			observed(with(func(r *probe.Report) { r.ActiveNode, r.SelectedNode = "c1", "c2" })), []string{"ActiveNodeChanged"}, "c0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			lastActive, lastVIP := tc.prev.ActiveNode, tc.prev.VIPNode
			if tc.lastActive != "" {
				lastActive = tc.lastActive
			}
			for _, e := range overcloudEvents(tc.prev, tc.next, lastActive, lastVIP) {
				got = append(got, e.reason)
				if e.note == "" {
					t.Errorf("event %s has no note", e.reason)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("events %v, want %v", got, tc.want)
			}
		})
	}
}

func TestProbeDue(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		written     *time.Time // status.lastProbeTime
		observedGen int64
		inMemory    time.Time // the manager's last probe of this generation
		want        time.Time
	}{
		{name: "never probed: at once", observedGen: 0},
		{name: "probed and written", written: &at, observedGen: 2, want: at.Add(time.Minute)},
		{name: "probed since, not written (nothing changed)", written: &at, observedGen: 2,
			inMemory: at.Add(50 * time.Second), want: at.Add(110 * time.Second)},
		{name: "written after the manager's own (another replica's)", written: &at, observedGen: 2,
			inMemory: at.Add(-time.Hour), want: at.Add(time.Minute)},
		{name: "probed by this manager, status not yet seen", observedGen: 2, inMemory: at, want: at.Add(time.Minute)},
		{name: "spec changed since the last probe: at once", written: &at, observedGen: 1, inMemory: at},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oc := &backupv1alpha1.Overcloud{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
			oc.Status.ObservedGeneration = tc.observedGen
			if tc.written != nil {
				oc.Status.LastProbeTime = &metav1.Time{Time: *tc.written}
			}
			if got := probeDue(oc, time.Minute, tc.inMemory); !got.Equal(tc.want) {
				t.Errorf("due %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStatusWorthWriting: a probe that changed only the traffic counters and the probe's
// time is not written until the written one is statusRefresh old; any other change is.
func TestStatusWorthWriting(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	status := func(probed time.Time, mutate func(*backupv1alpha1.OvercloudStatus)) *backupv1alpha1.OvercloudStatus {
		st := &backupv1alpha1.OvercloudStatus{
			LastProbeTime: &metav1.Time{Time: probed}, LastProbeDuration: &metav1.Duration{Duration: 40 * time.Millisecond},
			ActiveNode: "controller-0", BackupFrom: "controller-1", Synced: "2/2",
			Nodes: []backupv1alpha1.NodeStatus{
				{Name: "controller-0", Galera: &backupv1alpha1.GaleraNodeStatus{Reachable: true, LocalState: 4,
					LastCommitted: 100, ClientConnections: 12, FlowControlPausedNs: 5, RecvQueue: 1},
					HAProxy: &backupv1alpha1.HAProxyNodeStatus{Status: "UP", CurrentSessions: 12}},
				{Name: "controller-1", Galera: &backupv1alpha1.GaleraNodeStatus{Reachable: true, LocalState: 4, LastCommitted: 100}},
			},
		}
		if mutate != nil {
			mutate(st)
		}
		return st
	}
	counters := func(st *backupv1alpha1.OvercloudStatus) {
		st.LastProbeDuration = &metav1.Duration{Duration: 55 * time.Millisecond}
		g := st.Nodes[0].Galera
		g.LastCommitted, g.ClientConnections, g.FlowControlPausedNs, g.RecvQueue = 250, 30, 9, 0
		st.Nodes[1].Galera.LastCommitted = 250
		st.Nodes[0].HAProxy.CurrentSessions = 30
	}
	for _, tc := range []struct {
		name string
		prev *backupv1alpha1.OvercloudStatus
		next *backupv1alpha1.OvercloudStatus
		want bool
	}{
		{"first probe", &backupv1alpha1.OvercloudStatus{}, status(at, nil), true},
		{"same, 10 s later", status(at, nil), status(at.Add(10*time.Second), nil), false},
		{"counters only, 4 min later", status(at, nil), status(at.Add(4*time.Minute), counters), false},
		{"counters only, 5 min later: refreshed", status(at, nil), status(at.Add(statusRefresh), counters), true},
		{"a node left sync", status(at, nil), status(at.Add(10*time.Second), func(st *backupv1alpha1.OvercloudStatus) {
			st.Nodes[1].Galera.LocalState = 2
		}), true},
		{"the backup node changed", status(at, nil), status(at.Add(10*time.Second), func(st *backupv1alpha1.OvercloudStatus) {
			st.BackupFrom = "controller-2"
		}), true},
		{"HAProxy's status changed", status(at, nil), status(at.Add(10*time.Second), func(st *backupv1alpha1.OvercloudStatus) {
			st.Nodes[0].HAProxy.Status = "DOWN"
		}), true},
		{"a new backup recorded", status(at, nil), status(at.Add(10*time.Second), func(st *backupv1alpha1.OvercloudStatus) {
			st.LastBackup = &backupv1alpha1.BackupRecord{Name: "b1"}
		}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusWorthWriting(tc.prev, tc.next, tc.next.LastProbeTime.Time); got != tc.want {
				t.Errorf("statusWorthWriting = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLastBackups(t *testing.T) {
	at := func(m int) *metav1.Time { return &metav1.Time{Time: time.Date(2026, 12, 5, 1, m, 0, 0, time.UTC)} }
	b := func(name string, phase backupv1alpha1.BackupPhase, created int, done *metav1.Time) backupv1alpha1.OvercloudBackup {
		x := backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: *at(created)}}
		x.Status.Phase, x.Status.CompletionTime = phase, done
		return x
	}
	last, ok := lastBackups([]backupv1alpha1.OvercloudBackup{
		b("old-ok", backupv1alpha1.PhaseSucceeded, 1, at(5)),
		b("new-failed", backupv1alpha1.PhaseFailed, 10, at(12)),
		b("running", backupv1alpha1.PhaseRunning, 11, nil),
		b("mid-ok", backupv1alpha1.PhaseSucceeded, 6, at(9)),
	})
	if last == nil || last.Name != "new-failed" || ok == nil || ok.Name != "mid-ok" || !ok.Time.Equal(at(9)) {
		t.Errorf("last %+v, last successful %+v", last, ok)
	}
	if last, ok := lastBackups(nil); last != nil || ok != nil {
		t.Error("no backups: no records")
	}
}

func TestOvercloudMismatch(t *testing.T) {
	oc := testOvercloudSpec() // controller-0 and controller-1, no ssh
	cases := []struct {
		name   string
		change func(b *backupv1alpha1.OvercloudBackup)
		want   string
	}{
		{"fits", nil, ""},
		{"preferred node unknown", func(b *backupv1alpha1.OvercloudBackup) {
			b.Spec.NodeSelection = &backupv1alpha1.NodeSelectionSpec{PreferredNodes: []string{"controller-1", "controller-7"}}
		}, "nodeSelection.preferredNodes names controller-7, which is not a node of Overcloud overcloud"},
		{"excluded node unknown", func(b *backupv1alpha1.OvercloudBackup) {
			b.Spec.NodeSelection = &backupv1alpha1.NodeSelectionSpec{ExcludedNodes: []string{"db-0"}}
		}, "nodeSelection.excludedNodes names db-0"},
		{"pinned node unknown", func(b *backupv1alpha1.OvercloudBackup) {
			b.Spec.NodeSelection = &backupv1alpha1.NodeSelectionSpec{Node: "controller-9"}
		}, "nodeSelection.node names controller-9"},
		{"mariabackup without ssh", func(b *backupv1alpha1.OvercloudBackup) {
			b.Spec.Dump = &backupv1alpha1.DumpSpec{Method: backupv1alpha1.DumpMariabackup}
		}, "the Mariabackup method needs ssh, which Overcloud overcloud does not set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testBackup()
			if tc.change != nil {
				tc.change(b)
			}
			p := overcloudMismatch(b, oc)
			switch {
			case tc.want == "" && p != nil:
				t.Errorf("mismatch %+v, want none", p)
			case tc.want != "" && (p == nil || p.reason != backupv1alpha1.ReasonInvalidSpec || !strings.Contains(p.message, tc.want)):
				t.Errorf("mismatch %+v, want InvalidSpec with %q", p, tc.want)
			}
		})
	}
}
