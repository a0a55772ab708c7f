package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// The pure half of the Overcloud controller: what one probe means for the status, and
// which changes since the previous probe are worth an event. No I/O, `now` passed in.

// overcloudProbe is one probe of an overcloud as the watch saw it.
type overcloudProbe struct {
	// Report is the probe and its decision; empty when Err is set.
	Report probe.Report
	// Err is set when the probe could not run at all (a spec the probe refuses).
	Err error
	// Start and Took time the probe.
	Start time.Time
	Took  time.Duration
}

// ocEvent is an event the watch emits once the status that records the change is written.
type ocEvent struct {
	warning      bool
	reason, note string
}

// setOvercloudCondition sets one condition with the object's generation.
func setOvercloudCondition(oc *backupv1alpha1.Overcloud, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&oc.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: clip(msg, 32768), ObservedGeneration: oc.Generation,
	})
}

// observeOvercloud writes one probe into the status: the node table and the decision, the
// cluster's identity, and the Ready and Degraded conditions.
func observeOvercloud(oc *backupv1alpha1.Overcloud, p overcloudProbe) {
	st := &oc.Status
	st.ObservedGeneration = oc.Generation
	st.LastProbeTime = &metav1.Time{Time: p.Start}
	st.LastProbeDuration = &metav1.Duration{Duration: p.Took.Round(time.Millisecond)}
	if p.Err != nil {
		clearObservation(st)
		msg := "The probe could not run: " + p.Err.Error()
		setOvercloudCondition(oc, backupv1alpha1.ConditionReady, metav1.ConditionFalse, backupv1alpha1.ReasonProbeFailed, msg)
		setOvercloudCondition(oc, backupv1alpha1.ConditionDegraded, metav1.ConditionTrue, backupv1alpha1.ReasonProbeFailed, msg)
		return
	}
	r := p.Report
	st.Nodes = r.Nodes
	st.ActiveNode, st.ActiveSource, st.VIPNode = r.ActiveNode, clip(r.ActiveSource, 256), r.VIPNode
	st.BackupFrom, st.Reason = r.SelectedNode, clip(r.Reason, 1024)
	st.Pacemaker, st.HAProxy = clip(r.Pacemaker, 1024), clip(r.HAProxy, 1024)
	st.ClusterStateUUID, st.ClusterSize = r.ClusterStateUUID, r.ClusterSize
	synced := 0
	for _, n := range r.Nodes {
		if nodeSynced(n) {
			synced++
		}
	}
	st.Synced = fmt.Sprintf("%d/%d", synced, len(r.Nodes))

	reachable := slices.ContainsFunc(r.Nodes, func(n backupv1alpha1.NodeStatus) bool { return n.Galera != nil && n.Galera.Reachable })
	switch {
	case !reachable:
		setOvercloudCondition(oc, backupv1alpha1.ConditionReady, metav1.ConditionFalse, backupv1alpha1.ReasonProbeFailed,
			"No Galera node answered: "+r.Reason)
	case r.SelectedNode != "":
		setOvercloudCondition(oc, backupv1alpha1.ConditionReady, metav1.ConditionTrue, backupv1alpha1.ReasonBackupPossible,
			fmt.Sprintf("A backup would be taken from %s now: %s", r.SelectedNode, r.Reason))
	default:
		setOvercloudCondition(oc, backupv1alpha1.ConditionReady, metav1.ConditionFalse, backupv1alpha1.ReasonNoIdleNode,
			"No node may be backed up from now: "+r.Reason)
	}
	reason, msg := degradation(r, reachable)
	status := metav1.ConditionTrue
	if reason == backupv1alpha1.ReasonAllSynced {
		status = metav1.ConditionFalse
	}
	setOvercloudCondition(oc, backupv1alpha1.ConditionDegraded, status, reason, msg)
}

// clearObservation forgets what the last probe found, when the probe could not run.
func clearObservation(st *backupv1alpha1.OvercloudStatus) {
	st.Nodes = nil
	st.ActiveNode, st.ActiveSource, st.VIPNode, st.BackupFrom, st.Reason = "", "", "", "", ""
	st.Pacemaker, st.HAProxy, st.Synced = "", "", ""
	st.ClusterStateUUID, st.ClusterSize = "", 0
}

// degradation is the Degraded condition's reason and message: the most serious problem
// first (a split brain, then no quorum, nodes not synced, a source unreadable), every
// problem in the message; AllSynced when there is none.
func degradation(r probe.Report, reachable bool) (string, string) {
	var reasons, msgs []string
	add := func(reason, msg string) {
		reasons = append(reasons, reason)
		msgs = append(msgs, msg)
	}
	if !reachable {
		add(backupv1alpha1.ReasonProbeFailed, "no Galera node answered")
	}
	if r.SplitBrain {
		add(backupv1alpha1.ReasonSplitBrain, "several primary components claim the cluster")
	}
	if r.NoQuorum {
		add(backupv1alpha1.ReasonNoQuorum, "Pacemaker has no quorum")
	}
	var notSynced []string
	for _, n := range r.Nodes {
		if !nodeSynced(n) {
			notSynced = append(notSynced, n.Name+" ("+nodeState(n)+")")
		}
	}
	if len(notSynced) > 0 && reachable {
		add(backupv1alpha1.ReasonNodeNotSynced, "not synced: "+strings.Join(notSynced, ", "))
	}
	if strings.HasPrefix(r.Pacemaker, "not read") {
		add(backupv1alpha1.ReasonPacemakerUnreadable, "Pacemaker "+r.Pacemaker)
	}
	if strings.HasPrefix(r.HAProxy, "not read") {
		add(backupv1alpha1.ReasonHAProxyUnreadable, "HAProxy "+r.HAProxy)
	}
	if len(reasons) == 0 {
		return backupv1alpha1.ReasonAllSynced, fmt.Sprintf("Every node is a synced member of the primary component (%d)", len(r.Nodes))
	}
	return reasons[0], strings.Join(msgs, "; ")
}

// nodeSynced is the node table's word on "synced": what galera.Status.Synced() said when
// the row was made (probe.NewReport), the one predicate the agent's re-check uses too.
func nodeSynced(n backupv1alpha1.NodeStatus) bool { return n.Galera != nil && n.Galera.Synced }

// nodeState says in a few words what a node that is not synced is.
func nodeState(n backupv1alpha1.NodeStatus) string {
	g := n.Galera
	switch {
	case g == nil || !g.Reachable:
		return "unreachable"
	case g.Desynced:
		return "desynced"
	}
	return strings.TrimSpace(g.LocalStateComment + " " + g.ClusterStatus)
}

// overcloudEvents are the changes from prev to next worth telling, each once: the pass
// that records them in status emits them after the patch. lastActive and lastVIP are the
// active node and the VIP holder last known before next (prev's, or an earlier probe's
// when prev's probe could not tell: during a failover a probe may see no active node).
func overcloudEvents(prev, next *backupv1alpha1.OvercloudStatus, lastActive, lastVIP string) []ocEvent {
	out := probeEvents(prev, next)
	if lastActive != "" && next.ActiveNode != "" && lastActive != next.ActiveNode {
		out = append(out, ocEvent{true, backupv1alpha1.EventActiveNodeChanged, fmt.Sprintf(
			"The node serving clients changed from %s to %s (%s): a failover, or the VIP moved",
			lastActive, next.ActiveNode, next.ActiveSource)})
	}
	if lastVIP != "" && next.VIPNode != "" && lastVIP != next.VIPNode {
		out = append(out, ocEvent{true, backupv1alpha1.EventVIPMoved,
			fmt.Sprintf("The database VIP moved from %s to %s", lastVIP, next.VIPNode)})
	}
	out = append(out, syncEvents(prev, next)...)
	split := func(st *backupv1alpha1.OvercloudStatus) *metav1.Condition {
		c := meta.FindStatusCondition(st.Conditions, backupv1alpha1.ConditionDegraded)
		if c != nil && c.Reason == backupv1alpha1.ReasonSplitBrain {
			return c
		}
		return nil
	}
	if c := split(next); c != nil && split(prev) == nil {
		out = append(out, ocEvent{true, backupv1alpha1.EventSplitBrain, c.Message})
	}
	return out
}

// probeEvents tell a probe that starts or stops failing.
func probeEvents(prev, next *backupv1alpha1.OvercloudStatus) []ocEvent {
	prevReady := meta.FindStatusCondition(prev.Conditions, backupv1alpha1.ConditionReady)
	nextReady := meta.FindStatusCondition(next.Conditions, backupv1alpha1.ConditionReady)
	failed := func(c *metav1.Condition) bool { return c != nil && c.Reason == backupv1alpha1.ReasonProbeFailed }
	switch {
	case failed(nextReady) && !failed(prevReady):
		return []ocEvent{{true, backupv1alpha1.EventProbeFailed, nextReady.Message}}
	case failed(prevReady) && nextReady != nil && !failed(nextReady):
		return []ocEvent{{false, backupv1alpha1.EventProbeRecovered, "The probe works again: " + nextReady.Message}}
	}
	return nil
}

// syncEvents tell each node that leaves or rejoins the synced members (a node not synced
// at the first probe is told too).
func syncEvents(prev, next *backupv1alpha1.OvercloudStatus) []ocEvent {
	var out []ocEvent
	before := map[string]backupv1alpha1.NodeStatus{}
	for _, n := range prev.Nodes {
		before[n.Name] = n
	}
	for _, n := range next.Nodes {
		was, seen := before[n.Name]
		switch {
		case !nodeSynced(n) && (!seen || nodeSynced(was)):
			out = append(out, ocEvent{true, backupv1alpha1.EventNodeNotSynced, fmt.Sprintf("%s is not synced: %s", n.Name, nodeState(n))})
		case nodeSynced(n) && seen && !nodeSynced(was):
			out = append(out, ocEvent{false, backupv1alpha1.EventNodeSynced, n.Name + " is a synced member of the primary component again"})
		}
	}
	return out
}

// probeDue is when the next probe is due: interval after the last one (jittered by the
// caller), at once when none was made or the spec changed since. lastProbe is the last
// probe this manager made of the current generation (zero when none): the status may
// hold an older time, since an unchanged probe is not always written (statusWorthWriting).
func probeDue(oc *backupv1alpha1.Overcloud, interval time.Duration, lastProbe time.Time) time.Time {
	st := oc.Status
	if st.ObservedGeneration != oc.Generation {
		return time.Time{}
	}
	last := lastProbe
	if st.LastProbeTime != nil && st.LastProbeTime.After(last) {
		last = st.LastProbeTime.Time
	}
	if last.IsZero() {
		return time.Time{}
	}
	return last.Add(interval)
}

// statusRefresh is how old the written probe may grow while nothing but counters changes:
// the kubelet's rule for a Node's status (written on a change, else every 5 minutes,
// nodeStatusReportFrequency). Metrics carry every probe's figures.
const statusRefresh = 5 * time.Minute

// statusWorthWriting says whether a probe's status must be written: when anything but
// the probe's time and the counters that move with the overcloud's traffic changed
// (wsrep_last_committed, flow-control time, receive queue, client connections, HAProxy
// sessions), or when the written probe is statusRefresh old. With 100 overclouds
// watched every 10 s, writing every probe would be 10 status patches a second, each
// echoed back to every watch of Overclouds, for figures Prometheus has already.
func statusWorthWriting(prev, next *backupv1alpha1.OvercloudStatus, now time.Time) bool {
	if prev.LastProbeTime == nil || !now.Before(prev.LastProbeTime.Add(statusRefresh)) {
		return true
	}
	return !equality.Semantic.DeepEqual(withoutCounters(prev), withoutCounters(next))
}

// withoutCounters is a copy of st without the probe's time and the traffic counters.
func withoutCounters(st *backupv1alpha1.OvercloudStatus) *backupv1alpha1.OvercloudStatus {
	c := st.DeepCopy()
	c.LastProbeTime, c.LastProbeDuration = nil, nil
	for i := range c.Nodes {
		if g := c.Nodes[i].Galera; g != nil {
			g.LastCommitted, g.FlowControlPausedNs, g.RecvQueue, g.ClientConnections = 0, 0, 0, 0
		}
		if h := c.Nodes[i].HAProxy; h != nil {
			h.CurrentSessions = 0
		}
	}
	return c
}

// lastBackups picks the newest backup and the newest successful backup among those that
// name the overcloud: by completion time, else creation time; names break ties.
func lastBackups(backups []backupv1alpha1.OvercloudBackup) (last, lastOK *backupv1alpha1.BackupRecord) {
	when := func(b *backupv1alpha1.OvercloudBackup) time.Time {
		if b.Status.CompletionTime != nil {
			return b.Status.CompletionTime.Time
		}
		return b.CreationTimestamp.Time
	}
	newer := func(b *backupv1alpha1.OvercloudBackup, rec *backupv1alpha1.BackupRecord) bool {
		if rec == nil {
			return true
		}
		t := when(b)
		return t.After(rec.Time.Time) || (t.Equal(rec.Time.Time) && b.Name > rec.Name)
	}
	for i := range backups {
		b := &backups[i]
		rec := &backupv1alpha1.BackupRecord{Name: b.Name, Phase: b.Status.Phase, Time: &metav1.Time{Time: when(b)}}
		if newer(b, last) {
			last = rec
		}
		if b.Status.Phase == backupv1alpha1.PhaseSucceeded && newer(b, lastOK) {
			lastOK = rec
		}
	}
	return last, lastOK
}

// lastVerifiedBackup is the backup whose restore drill proved it most recently (by the
// drill's completion), nil when none has.
func lastVerifiedBackup(backups []backupv1alpha1.OvercloudBackup) *backupv1alpha1.BackupRecord {
	var rec *backupv1alpha1.BackupRecord
	for i := range backups {
		b := &backups[i]
		v := b.Status.Verification
		if !meta.IsStatusConditionTrue(b.Status.Conditions, backupv1alpha1.ConditionVerified) || v == nil || v.CompletionTime == nil {
			continue
		}
		if rec == nil || v.CompletionTime.After(rec.Time.Time) || (v.CompletionTime.Equal(rec.Time) && b.Name > rec.Name) {
			rec = &backupv1alpha1.BackupRecord{Name: b.Name, Phase: b.Status.Phase, Time: v.CompletionTime.DeepCopy()}
		}
	}
	return rec
}
