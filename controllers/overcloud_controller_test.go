package controllers

// The Overcloud controller against the real API server (envtest) and the real local
// overcloud: the watch's status, its events on real changes (a node desynced, the active
// node killed), its Secrets, and one backup at a time per Galera cluster across two
// namespaces.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// watchInterval is the test Overclouds' monitoring.interval: each change must show
// within two of them.
const watchInterval = 2 * time.Second

// waitOvercloud polls the Overcloud until ok says so (at most timeout), and returns it.
func waitOvercloud(t *testing.T, c client.Client, key client.ObjectKey, what string, timeout time.Duration,
	ok func(*backupv1alpha1.Overcloud) bool,
) *backupv1alpha1.Overcloud {
	t.Helper()
	oc := &backupv1alpha1.Overcloud{}
	waitObject(t, c, key, oc, "overcloud", what, timeout, func() bool { return ok(oc) }, func() any { return oc.Status })
	return oc
}

func ocCondition(oc *backupv1alpha1.Overcloud, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(oc.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// watchedOvercloud creates the Secrets and an Overcloud watched every watchInterval, and waits
// for its first probe that found a node to back up from.
func watchedOvercloud(t *testing.T, c client.Client, sb *sandbox.Sandbox, ns string) client.ObjectKey {
	t.Helper()
	db, ssh, hap := secrets(t, sb, ns)
	create(t, c, db, ssh, hap, newOvercloud(sb, ns, testOvercloud, watchInterval))
	key := client.ObjectKey{Namespace: ns, Name: testOvercloud}
	waitOvercloud(t, c, key, "Ready", waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return ocCondition(oc, backupv1alpha1.ConditionReady).Status == metav1.ConditionTrue
	})
	return key
}

// watchedWithClient starts the Overcloud controller on a new namespace with a client of
// the database connected through the VIP, and a watched Overcloud of the sandbox whose
// first probe found the active node and a node to back up from.
func watchedWithClient(t *testing.T) (*sandbox.Sandbox, client.Client, string, client.ObjectKey, string) {
	t.Helper()
	return watchedWithClientOn(t, lockedSandbox(t))
}

// watchedWithClientOn is watchedWithClient on a given (locked, healthy) sandbox.
func watchedWithClientOn(t *testing.T, sb *sandbox.Sandbox) (*sandbox.Sandbox, client.Client, string, client.ObjectKey, string) {
	t.Helper()
	c := newClient(t)
	ns := newNamespace(t, c)
	active := clientSession(t, sb)
	runManager(t, ns, managerOptions{overclouds: true})
	key := watchedOvercloud(t, c, sb, ns)
	waitOvercloud(t, c, key, "active node known", 2*watchInterval+waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.ActiveNode == active
	})
	return sb, c, ns, key, active
}

// TestOvercloudWatch: the status answers at a glance (Ready, Degraded, the node table,
// the active node and the VIP holder, the node a backup would use, the cluster's
// identity and size, synced 3/3, the probe's time and duration); a node desynced by
// someone shows as NodeNotSynced within two intervals, once, and NodeSynced once back.
func TestOvercloudWatch(t *testing.T) {
	sb, c, ns, key, active := watchedWithClient(t)

	oc := &backupv1alpha1.Overcloud{}
	if err := c.Get(context.Background(), key, oc); err != nil {
		t.Fatal(err)
	}
	st := oc.Status
	if st.BackupFrom == "" || st.BackupFrom == active || st.Synced != "3/3" || st.ClusterSize != 3 ||
		len(st.ClusterStateUUID) != 36 || len(st.Nodes) != 3 || st.VIPNode == "" || st.Pacemaker != "read" || st.HAProxy != "read" {
		t.Errorf("status at a glance: %+v", st)
	}
	if st.LastProbeTime == nil || st.LastProbeDuration == nil || st.LastProbeDuration.Duration <= 0 || st.ObservedGeneration != oc.Generation {
		t.Errorf("probe time %v duration %v", st.LastProbeTime, st.LastProbeDuration)
	}
	if d := ocCondition(oc, backupv1alpha1.ConditionDegraded); d.Status != metav1.ConditionFalse || d.Reason != backupv1alpha1.ReasonAllSynced {
		t.Errorf("Degraded %+v, want False/AllSynced", d)
	}
	if r := ocCondition(oc, backupv1alpha1.ConditionReady); r.Reason != backupv1alpha1.ReasonBackupPossible || !strings.Contains(r.Message, st.BackupFrom) {
		t.Errorf("Ready %+v", r)
	}
	raw, _ := json.Marshal(st)
	if strings.Contains(string(raw), sb.Password(t)) || strings.Contains(string(raw), sb.StatsPassword(t)) {
		t.Fatal("a password is in the Overcloud's status")
	}

	// Someone desyncs the idle node a backup would use.
	victim := st.BackupFrom
	sb.Run(t, "desync", nodeIndex(t, sb, victim), "on")
	desynced := true
	t.Cleanup(func() {
		if desynced {
			sb.Run(t, "desync", nodeIndex(t, sb, victim), "off")
		}
		sb.WaitHealthy(t)
	})
	oc = waitOvercloud(t, c, key, victim+" not synced", 2*watchInterval+5*time.Second, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.Synced == "2/3"
	})
	if d := ocCondition(oc, backupv1alpha1.ConditionDegraded); d.Status != metav1.ConditionTrue || d.Reason != backupv1alpha1.ReasonNodeNotSynced ||
		!strings.Contains(d.Message, victim) {
		t.Errorf("Degraded %+v, want True/NodeNotSynced naming %s", d, victim)
	}
	if oc.Status.BackupFrom == victim || oc.Status.BackupFrom == active {
		t.Errorf("a backup would use %s: the desynced node or the active one", oc.Status.BackupFrom)
	}
	waitEvents(t, c, ns, testOvercloud, backupv1alpha1.EventNodeNotSynced)

	sb.Run(t, "desync", nodeIndex(t, sb, victim), "off")
	desynced = false
	waitOvercloud(t, c, key, "synced again", 2*watchInterval+15*time.Second, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.Synced == "3/3"
	})
	waitEvents(t, c, ns, testOvercloud, backupv1alpha1.EventNodeSynced)
	// Several probes later, still one event per change.
	time.Sleep(2 * watchInterval)
	if n := countEvents(t, c, ns, testOvercloud, backupv1alpha1.EventNodeNotSynced); n != 1 {
		t.Errorf("%d NodeNotSynced events, want 1 (one per change, not one per probe)", n)
	}
}

// TestOvercloudSeesFailover: the active node's mariadbd is killed; HAProxy moves the
// clients, and the watch names the new active node with an ActiveNodeChanged event
// within two intervals (plus HAProxy's own check time), and the node as not synced.
func TestOvercloudSeesFailover(t *testing.T) {
	sb, c, ns, key, active := watchedWithClient(t)
	ai := nodeIndex(t, sb, active)
	killed := time.Now()
	t.Cleanup(func() {
		sb.Run(t, "cleanup")
		sb.Run(t, "start", ai)
		sb.WaitHealthy(t)
	})
	// A new client session lands where HAProxy now sends clients.
	moved := sb.KillServing(t, active)
	clientSession(t, sb)
	oc := waitOvercloud(t, c, key, "the new active node", 2*watchInterval+20*time.Second, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.ActiveNode != "" && oc.Status.ActiveNode != active
	})
	t.Logf("killed %s; clients moved to %s; the watch names %s %v after the kill", active, moved, oc.Status.ActiveNode,
		time.Since(killed).Round(time.Millisecond))
	if oc.Status.BackupFrom == oc.Status.ActiveNode || oc.Status.BackupFrom == active {
		t.Errorf("a backup would use %s (active %s, killed %s)", oc.Status.BackupFrom, oc.Status.ActiveNode, active)
	}
	waitEvents(t, c, ns, testOvercloud, backupv1alpha1.EventActiveNodeChanged, backupv1alpha1.EventNodeNotSynced)
}

// TestOvercloudReferences: without its Secrets the Overcloud says which are missing and
// probes nothing; once created it probes. With interval 0 it is not watched.
func TestOvercloudReferences(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	runManager(t, ns, managerOptions{overclouds: true})
	create(t, c, newOvercloud(sb, ns, testOvercloud, watchInterval), newOvercloud(sb, ns, "unwatched", 0))
	key := client.ObjectKey{Namespace: ns, Name: testOvercloud}
	oc := waitOvercloud(t, c, key, "SecretNotFound", waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return ocCondition(oc, backupv1alpha1.ConditionReady).Reason == backupv1alpha1.ReasonSecretNotFound
	})
	if msg := ocCondition(oc, backupv1alpha1.ConditionReferencesResolved).Message; !strings.Contains(msg, "Secret db (database credentials) not found") {
		t.Errorf("message %q", msg)
	}
	if oc.Status.LastProbeTime != nil {
		t.Error("probed without its Secrets")
	}
	// kubectl ocb probe asks meanwhile: answered at once, the Ready condition saying why
	// no probe ran.
	askProbe(t, c, key, "while-no-secrets")
	oc = waitOvercloud(t, c, key, "the probe request answered", waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.LastProbeRequest == "while-no-secrets"
	})
	if oc.Status.LastProbeTime != nil || ocCondition(oc, backupv1alpha1.ConditionReady).Reason != backupv1alpha1.ReasonSecretNotFound {
		t.Errorf("a probe request without Secrets: %+v", oc.Status)
	}
	db, ssh, hap := secrets(t, sb, ns)
	create(t, c, db, ssh, hap)
	waitOvercloud(t, c, key, "Ready once the Secrets exist", waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return ocCondition(oc, backupv1alpha1.ConditionReady).Status == metav1.ConditionTrue
	})
	un := waitOvercloud(t, c, client.ObjectKey{Namespace: ns, Name: "unwatched"}, "NotWatched", waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return ocCondition(oc, backupv1alpha1.ConditionReady).Reason == backupv1alpha1.ReasonNotWatched
	})
	if un.Status.LastProbeTime != nil || ocCondition(un, backupv1alpha1.ConditionReady).Status != metav1.ConditionUnknown {
		t.Errorf("interval 0: %+v", un.Status)
	}

	// The probe annotation probes an unwatched overcloud once per value; a value too long
	// for status is recorded by its hash.
	unKey := client.ObjectKeyFromObject(un)
	for _, value := range []string{"kubectl-ocb-1", strings.Repeat("x", 300)} {
		askProbe(t, c, unKey, value)
		un = waitOvercloud(t, c, unKey, "probed on request", waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
			return oc.Status.LastProbeRequest == backupv1alpha1.RequestKey(value)
		})
		if un.Status.LastProbeTime == nil || len(un.Status.Nodes) != 3 || un.Status.BackupFrom == "" {
			t.Errorf("probe on request of an unwatched overcloud: %+v", un.Status)
		}
	}
	if !strings.HasPrefix(un.Status.LastProbeRequest, "sha256:") {
		t.Errorf("a 300-byte request recorded as %q", un.Status.LastProbeRequest)
	}
	probed := un.Status.LastProbeTime
	time.Sleep(2 * watchInterval)
	if err := c.Get(context.Background(), unKey, un); err != nil {
		t.Fatal(err)
	}
	if !un.Status.LastProbeTime.Equal(probed) {
		t.Errorf("interval 0 probed again without a new request: %v then %v", probed, un.Status.LastProbeTime)
	}
}

// askProbe sets the probe annotation as kubectl ocb probe does (a merge patch).
func askProbe(t *testing.T, c client.Client, key client.ObjectKey, value string) {
	t.Helper()
	oc := &backupv1alpha1.Overcloud{}
	oc.Name, oc.Namespace = key.Name, key.Namespace
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{backupv1alpha1.AnnotationProbe: value}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Patch(context.Background(), oc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("annotating %s: %v", key, err)
	}
}

// TestOneBackupPerGaleraCluster: two namespaces, each with its own Overcloud object naming
// the same three nodes, each with a backup created at once: one Job runs, the other backup
// waits (Queued, naming the first) until that Job ends, then runs. Two backups never
// desync two nodes of one cluster at once, whatever the objects say.
func TestOneBackupPerGaleraCluster(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns1, ns2 := newNamespace(t, c), newNamespace(t, c)
	ready(t, c, sb, ns1)
	ready(t, c, sb, ns2)
	runManager(t, ns1, managerOptions{backups: true, namespaces: []string{ns2}})
	b1, b2 := newBackup(sb, ns1, "first"), newBackup(sb, ns2, "second")
	create(t, c, b1, b2)

	var runningB, waitingB *backupv1alpha1.OvercloudBackup
	deadline := time.Now().Add(waitTimeout)
	for runningB == nil {
		g1, g2 := &backupv1alpha1.OvercloudBackup{}, &backupv1alpha1.OvercloudBackup{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(b1), g1); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(b2), g2); err != nil {
			t.Fatal(err)
		}
		if g1.Status.JobName != "" && g2.Status.JobName != "" {
			t.Fatalf("both backups have a Job: %s/%s and %s/%s", ns1, g1.Status.JobName, ns2, g2.Status.JobName)
		}
		switch {
		case g1.Status.JobName != "" && queued(g2):
			runningB, waitingB = g1, g2
		case g2.Status.JobName != "" && queued(g1):
			runningB, waitingB = g2, g1
		}
		if time.Now().After(deadline) {
			t.Fatalf("want one backup running and the other queued:\n%+v\n%+v", g1.Status, g2.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	msg := condition(waitingB, backupv1alpha1.ConditionNodeSelected).Message
	if !strings.Contains(msg, runningB.Namespace+"/"+runningB.Name) || !strings.Contains(msg, "same Galera cluster") {
		t.Errorf("the queued backup says %q, want it to name %s/%s and the cluster", msg, runningB.Namespace, runningB.Name)
	}
	src := runningB.Status.Source
	if src == nil || len(src.ClusterStateUUID) != 36 || src.Overcloud != testOvercloud || src.Node != runningB.Status.SelectedNode || src.Address == "" {
		t.Errorf("status.source %+v", src)
	}
	job := getJob(t, c, runningB.Namespace, runningB.Status.JobName)
	if job.Labels[backupv1alpha1.LabelCluster] != src.ClusterStateUUID {
		t.Errorf("the Job's cluster label %q, want %q", job.Labels[backupv1alpha1.LabelCluster], src.ClusterStateUUID)
	}
	// Standing in for the kubelet (envtest runs no pod): the first Job ends.
	finishJob(t, c, job, okResult(runningB, runningB.Status.SelectedNode), true)
	waitBackup(t, c, client.ObjectKeyFromObject(waitingB), "running its Job", running(1))
}

func queued(b *backupv1alpha1.OvercloudBackup) bool {
	return condition(b, backupv1alpha1.ConditionNodeSelected).Reason == backupv1alpha1.ReasonQueued
}

// countEvents counts the object's events with the reason.
func countEvents(t *testing.T, c client.Client, namespace, name, reason string) int {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := c.List(context.Background(), list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			n++
			if e.DeprecatedCount > 1 {
				n += int(e.DeprecatedCount) - 1
			}
			if e.Series != nil {
				n += int(e.Series.Count) - 1
			}
		}
	}
	return n
}

// TestOvercloudStatusWritesAndRotation: an overcloud at rest is probed every interval
// but its status is not rewritten for counters alone (statusWorthWriting: the object's
// resourceVersion holds while probes go on); a credential rotated in its Secret is used
// by the next probe (the Secrets are re-read when their version changes, not every
// probe): a wrong password shows as ProbeFailed, the right one as Ready again.
func TestOvercloudStatusWritesAndRotation(t *testing.T) {
	_, c, ns, key, _ := watchedWithClient(t)
	ctx := context.Background()

	// At rest: several probes, no status write. The client session of watchedWithClient
	// is idle, so only counters can move. From the second probe on: the first cannot know
	// the active node, so it may read crm_mon there, and the reason of the choice names
	// whose view it read (Target.AskLast).
	for deadline := time.Now().Add(3 * watchInterval); histogramCount(t, ocProbeSeconds, ns, testOvercloud) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("no second probe within 3 intervals")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(watchInterval / 4) // the second probe's status write, if any, lands
	before := &backupv1alpha1.Overcloud{}
	if err := c.Get(ctx, key, before); err != nil {
		t.Fatal(err)
	}
	probes0 := histogramCount(t, ocProbeSeconds, ns, testOvercloud)
	time.Sleep(3*watchInterval + watchInterval/2)
	after := &backupv1alpha1.Overcloud{}
	if err := c.Get(ctx, key, after); err != nil {
		t.Fatal(err)
	}
	if probes := histogramCount(t, ocProbeSeconds, ns, testOvercloud) - probes0; probes < 2 {
		t.Fatalf("%d probes in 3.5 intervals, want 3 or so", probes)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("status rewritten at rest: resourceVersion %s -> %s; status was %+v, now %+v",
			before.ResourceVersion, after.ResourceVersion, before.Status, after.Status)
	}

	// A wrong password in the Secret: the next probes use it.
	db := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db"}, db); err != nil {
		t.Fatal(err)
	}
	right := db.Data["password"]
	db.Data["password"] = []byte("not-the-password")
	if err := c.Update(ctx, db); err != nil {
		t.Fatal(err)
	}
	waitOvercloud(t, c, key, "ProbeFailed with the wrong password", 2*watchInterval+waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		r := ocCondition(oc, backupv1alpha1.ConditionReady)
		return r.Status == metav1.ConditionFalse && r.Reason == backupv1alpha1.ReasonProbeFailed
	})
	db.Data["password"] = right
	if err := c.Update(ctx, db); err != nil {
		t.Fatal(err)
	}
	waitOvercloud(t, c, key, "Ready with the right password again", 2*watchInterval+waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return ocCondition(oc, backupv1alpha1.ConditionReady).Status == metav1.ConditionTrue
	})
}

// TestStatusTakesHostileServerText: a node table made of server text at and past every
// limit (HAProxy's own 65-character "MAINT (via ...)", kilobytes of control characters)
// is accepted by the real API server once NewReport has clipped it: a refused status
// patch would be retried forever.
func TestStatusTakesHostileServerText(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	oc := newOvercloud(sandbox.Load(t), ns, "hostile-text", 0)
	create(t, c, oc)
	long := strings.Repeat("\x1b[2J\n\xff", 2000)
	snap := selection.Snapshot{Nodes: []selection.Node{{
		Name: "controller-0", Address: "10.0.0.1",
		Galera: selection.Galera{Reachable: true, LocalState: 4, LocalStateComment: long, ClusterStatus: "Primary",
			ClusterStateUUID: strings.Repeat("u", 100), ClusterSize: 1, Error: long},
		Pacemaker: &selection.Pacemaker{Online: true, GaleraRole: long},
		HAProxy:   &selection.HAProxyServer{Status: "MAINT (via mysql/overcloud-controller-0.internalapi.redhat.local)"},
	}}}
	r := probe.NewReport(oc.Name, snap, selection.Decide(snap, selection.Policy{}))
	orig := oc.DeepCopy()
	observeOvercloud(oc, overcloudProbe{Report: r, Start: time.Now(), Took: time.Millisecond})
	if err := c.Status().Patch(context.Background(), oc, client.MergeFrom(orig)); err != nil {
		t.Fatalf("the API server refused the clipped node table: %v", err)
	}
}
