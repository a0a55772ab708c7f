//go:build e2e

package e2e_test

// Backups through the deployed operator while the live Pacemaker overcloud
// (OCB_PACEMAKER=live hack/overcloud.sh, named by OCB_SANDBOX) goes through the faults
// a production overcloud meets: the active node's mariadbd killed, the VIP holder put in
// standby, Corosync frozen on an idle node (fenced by Pacemaker), the whole galera clone
// stopped and started, a maintenance window. Each backup is created right in the fault,
// with the Secrets and claim a user would make, and followed to its end: the manager's
// probe chooses the node and the agent's Job really runs in the one-node Kubernetes and
// dumps from it over the routed bridge. None may be taken from the node serving clients;
// each must succeed once a node is idle.

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// liveFault is one fault of TestLiveBackupsDuringFaults.
type liveFault struct {
	name string
	// do brings the fault about and returns what the backup must not use: the node serving
	// clients once the fault has settled (HAProxy does not fail back) and any node the
	// fault made unfit. It registers its own undo with t.Cleanup.
	do func(t *testing.T, sb *sandbox.Sandbox, active string) (avoid []string)
	// during runs once the backup was created (nil: nothing).
	during func(t *testing.T, sb *sandbox.Sandbox)
	// check looks at the finished backup (nil: nothing more).
	check func(t *testing.T, run *backupRun)
	// clientsCut is true when the fault ends every client session (the whole galera clone
	// stopped): no node serves clients while the backup runs, and HAProxy's stick table
	// starts empty afterwards, so where a client lands after the backup says nothing of it.
	clientsCut bool
}

func TestLiveBackupsDuringFaults(t *testing.T) {
	k := connect(t)
	for _, f := range []liveFault{
		{name: "kill -9 of the active node's mariadbd", do: killActive},
		{name: "standby of the VIP holder", do: standbyVIPHolder},
		{name: "Corosync frozen on an idle node", do: freezeIdle},
		{name: "galera clone stopped, then started", do: stopGalera, during: startGaleraLater, check: waitedForIdle, clientsCut: true},
		{name: "maintenance-mode", do: maintenance, check: saidMaintenance},
	} {
		t.Run(f.name, func(t *testing.T) { backupDuring(t, k, f) })
	}
}

// backupDuring brings the fault about on the healthy live sandbox, creates a backup at
// once, and follows it: Succeeded, from a node the fault left fit and that does not serve
// clients, its status naming a different active node.
func backupDuring(t *testing.T, k *cluster, f liveFault) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	sb.WaitHealthy(t)
	t.Cleanup(func() { sb.WaitHealthy(t) })
	ns := k.namespace(t, "live")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)
	_, active := sb.ClientSession(t)

	avoid := f.do(t, sb, active)
	b := controllerBackup(sb, ns, "during", accessSSH)
	b.Spec.Job = &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(3))}
	var during func()
	if f.during != nil {
		during = func() { f.during(t, sb) }
	}
	run := k.runBackup(t, b, 5*time.Minute, during)
	for _, s := range run.steps {
		t.Logf("%7.3fs %-9s %s | %s", s.at.Seconds(), s.phase, s.conditions, s.message)
	}
	got := run.final
	if got.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Fatalf("backup %s ended %s: %s\nevents:\n%s", got.Name, got.Status.Phase, got.Status.Message, redactAll(k.events(ns), secrets))
	}
	// The node serving clients now: where a service reconnecting through the VIP lands
	// (HAProxy does not fail back, so it served them during the backup too).
	_, serving := sb.ClientSession(t)
	if !f.clientsCut {
		avoid = append(avoid, serving)
	}
	for _, n := range avoid {
		if got.Status.SelectedNode == n {
			t.Errorf("the backup was taken from %s (to avoid: %v; clients on %s)", n, avoid, serving)
		}
	}
	if got.Status.SelectedNode == got.Status.ActiveNode {
		t.Errorf("the backup was taken from %s, which its own status names active", got.Status.SelectedNode)
	}
	t.Logf("%s: clients were on %s, now on %s; backup from %s after %d attempt(s), %v from creation (avoid %v)",
		f.name, active, serving, got.Status.SelectedNode, got.Status.Attempts, run.toDone.Round(time.Millisecond), avoid)
	if f.check != nil {
		f.check(t, run)
	}
}

// killActive kills -9 the mariadbd of the node serving clients and waits until a client
// reconnecting through the VIP lands elsewhere: HAProxy has moved the clients to a standby
// (its checks: inter 2 s, fall 5), while Pacemaker restarts and re-promotes the node (no
// failback). The backup is created in that moment; that node serves clients throughout.
// (A backup created before HAProxy has moved them may rightly use the node the clients move
// to a few seconds after its dump: controllers' TestActiveNodeKilledBetweenProbeAndDump.)
func killActive(t *testing.T, sb *sandbox.Sandbox, active string) []string {
	i := strconv.Itoa(nodeIndex(t, sb, active))
	t.Cleanup(func() { sb.Run(t, "cleanup"); sb.Run(t, "start", i) })
	// The node they moved to is the one backupDuring finds serving after the backup.
	sb.KillServing(t, active)
	sb.ClientSession(t) // held: the stick entry names where the clients are
	return nil
}

// standbyVIPHolder puts the VIP's holder in standby and waits until Pacemaker has moved
// the VIP and a client reconnecting lands somewhere: the new holder's HAProxy serves its
// own stick entry, left from when it last held the VIP (entries never expire), or, with
// none, its first healthy server, so the node serving clients may change although no
// database node failed. The backup is created then. (One created before the VIP moved
// may rightly use the node the new holder's HAProxy sends clients to next: nothing
// could have known it.)
func standbyVIPHolder(t *testing.T, sb *sandbox.Sandbox, _ string) []string {
	holder := vipHolder(t, sb)
	i := strconv.Itoa(nodeIndex(t, sb, holder))
	sb.Run(t, "standby", i)
	t.Cleanup(func() { sb.Run(t, "unstandby", i); sb.Run(t, "start", i) })
	deadline := time.Now().Add(time.Minute)
	for vipHolder(t, sb) == holder {
		if time.Now().After(deadline) {
			t.Fatalf("the VIP is still on %s a minute after its standby", holder)
		}
		time.Sleep(500 * time.Millisecond)
	}
	_, serving := sb.ClientSession(t) // backupDuring finds the same node serving after the backup
	t.Logf("standby of %s: the VIP moved to %s, clients land on %s", holder, vipHolder(t, sb), serving)
	return []string{holder}
}

// freezeIdle freezes Corosync on an idle node that does not hold the VIP, then waits the
// 10 s the others need to be sure they lost it (token, consensus, Pacemaker's reaction):
// it is fenced and powered on again, and must never be chosen meanwhile.
func freezeIdle(t *testing.T, sb *sandbox.Sandbox, active string) []string {
	holder := vipHolder(t, sb)
	frozen := ""
	for _, n := range sb.Nodes {
		if n.Name != active && n.Name != holder {
			frozen = n.Name
			break
		}
	}
	if frozen == "" {
		t.Fatalf("no idle node other than the VIP holder %s (clients on %s)", holder, active)
	}
	before := sb.FenceLogOffset()
	i := strconv.Itoa(nodeIndex(t, sb, frozen))
	sb.Run(t, "freeze-corosync", i)
	t.Cleanup(func() {
		sb.Run(t, "thaw-corosync", i)
		sb.Run(t, "start", i)
		t.Logf("the power controller while %s was frozen: %q", frozen, strings.TrimSpace(sb.FenceLogSince(before)))
	})
	time.Sleep(10 * time.Second)
	return []string{frozen}
}

// stopGalera stops the whole galera clone through Pacemaker: no node to back up from.
func stopGalera(t *testing.T, sb *sandbox.Sandbox, _ string) []string {
	sb.Run(t, "stop-galera")
	t.Cleanup(func() { sb.Run(t, "start-galera"); sb.Run(t, "start", "0") })
	return nil
}

// startGaleraLater starts the clone again 20 s after the backup's creation, long enough
// for the backup to have found no idle node.
func startGaleraLater(t *testing.T, sb *sandbox.Sandbox) {
	time.Sleep(20 * time.Second)
	sb.Run(t, "start-galera")
}

// waitedForIdle: the backup said it had no idle node before it ran.
func waitedForIdle(t *testing.T, run *backupRun) {
	for _, s := range run.steps {
		if strings.Contains(s.conditions, backupv1alpha1.ReasonNoIdleNode) || strings.Contains(s.conditions, backupv1alpha1.ReasonProbeFailed) {
			return
		}
	}
	t.Errorf("the backup never said it had no idle node while galera was stopped")
}

// maintenance sets maintenance-mode=true: Pacemaker manages nothing, the databases run.
func maintenance(t *testing.T, sb *sandbox.Sandbox, _ string) []string {
	sb.Run(t, "maintenance", "on")
	t.Cleanup(func() { sb.Run(t, "maintenance", "off") })
	return nil
}

// saidMaintenance: the node choice recorded in the backup says the cluster was in
// maintenance (docs/node-selection.md: backups go on, saying so).
func saidMaintenance(t *testing.T, run *backupRun) {
	c := meta.FindStatusCondition(run.final.Status.Conditions, backupv1alpha1.ConditionNodeSelected)
	if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(strings.ToLower(c.Message+" "+nodeReasons(run.final)), "maintenance") {
		t.Errorf("NodeSelected %+v; want True, saying the cluster is in maintenance", c)
	}
}

// nodeReasons is every node's recorded reason, for messages and checks.
func nodeReasons(b *backupv1alpha1.OvercloudBackup) string {
	out := make([]string, 0, len(b.Status.Nodes))
	for _, n := range b.Status.Nodes {
		out = append(out, n.Name+": "+n.Reason)
	}
	return strings.Join(out, "; ")
}

// vipHolder is the node Pacemaker runs the VIP on.
func vipHolder(t *testing.T, sb *sandbox.Sandbox) string {
	t.Helper()
	return sb.Nodes[sb.VIPHolder(t)].Name
}
