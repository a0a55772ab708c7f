package controllers

// The Overcloud watch against the live Pacemaker sandbox (OCB_PACEMAKER=live
// hack/overcloud.sh; OCB_SANDBOX): Corosync and Pacemaker move the VIP and restart a
// crashed node, and the watch must say so within two probe intervals after the cluster
// itself reacted (the cluster's time, measured, is logged). Fails, never skips, without
// the live sandbox.

import (
	"testing"
	"time"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// liveLocked is the live sandbox, locked and healthy; the cleanup waits until it is whole.
func liveLocked(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	sb := lock(t, sandbox.Load(t))
	t.Cleanup(func() { sb.WaitHealthy(t) })
	return sb
}

// TestLiveOvercloudSeesStandbyOfVIPHolder: the VIP holder goes to standby. Pacemaker moves
// the VIP (a second or two); the watch says VIPMoved with the new holder; once the services
// reconnect, the new holder's HAProxy chose the node they use and the watch names it. A
// backup would never use the node in standby or the new active node.
func TestLiveOvercloudSeesStandbyOfVIPHolder(t *testing.T) {
	sb, c, ns, key, active := watchedWithClientOn(t, liveLocked(t))
	oc := waitOvercloud(t, c, key, "the VIP holder known", 2*watchInterval+waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.VIPNode != ""
	})
	holder := oc.Status.VIPNode
	hi := nodeIndex(t, sb, holder)
	sb.Run(t, "standby", hi)
	start := time.Now()
	t.Cleanup(func() { sb.Run(t, "unstandby", hi); sb.Run(t, "start", hi) })
	waitOvercloud(t, c, key, "the VIP moved", 2*watchInterval+20*time.Second, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.VIPNode != "" && oc.Status.VIPNode != holder
	})
	vipSeen := time.Since(start)
	waitEvents(t, c, ns, testOvercloud, backupv1alpha1.EventVIPMoved)
	moved := clientSession(t, sb)
	oc = waitOvercloud(t, c, key, "the node the reconnected client uses named active", 2*watchInterval+waitTimeout,
		func(oc *backupv1alpha1.Overcloud) bool {
			return oc.Status.ActiveNode == moved && oc.Status.BackupFrom != ""
		})
	t.Logf("standby of %s: the watch saw the VIP on %s %v after; clients were on %s, reconnected to %s, named active %v after the standby",
		holder, oc.Status.VIPNode, vipSeen.Round(time.Millisecond), active, moved, time.Since(start).Round(time.Millisecond))
	if oc.Status.BackupFrom == holder || oc.Status.BackupFrom == moved {
		t.Errorf("a backup would use %s (in standby: %s, active: %s)", oc.Status.BackupFrom, holder, moved)
	}
	if moved != active {
		waitEvents(t, c, ns, testOvercloud, backupv1alpha1.EventActiveNodeChanged)
	}
}

// TestLiveOvercloudSeesKill: kill -9 of the active node's mariadbd. HAProxy moves the
// clients, Pacemaker restarts and re-promotes the node. The watch names the new active node
// (ActiveNodeChanged) and the crashed node as not synced (NodeNotSynced), then synced again
// (NodeSynced) once Pacemaker brought it back; a backup never uses the crashed node or the
// node the clients moved to.
func TestLiveOvercloudSeesKill(t *testing.T) {
	sb, c, ns, key, active := watchedWithClientOn(t, liveLocked(t))
	ai := nodeIndex(t, sb, active)
	killed := time.Now()
	t.Cleanup(func() { sb.Run(t, "cleanup"); sb.Run(t, "start", ai) })
	moved := sb.KillServing(t, active)
	clientSession(t, sb) // held: the stick entry names where the clients are
	oc := waitOvercloud(t, c, key, "the new active node", 2*watchInterval+20*time.Second, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.ActiveNode != "" && oc.Status.ActiveNode != active
	})
	t.Logf("killed %s; clients moved to %s; the watch named %s %v after the kill", active, moved, oc.Status.ActiveNode,
		time.Since(killed).Round(time.Millisecond))
	if oc.Status.BackupFrom == oc.Status.ActiveNode || oc.Status.BackupFrom == active {
		t.Errorf("a backup would use %s (active %s, killed %s)", oc.Status.BackupFrom, oc.Status.ActiveNode, active)
	}
	waitEvents(t, c, ns, testOvercloud, backupv1alpha1.EventActiveNodeChanged, backupv1alpha1.EventNodeNotSynced)
	sb.Run(t, "start", ai)
	back := time.Since(killed)
	waitOvercloud(t, c, key, active+" synced again", 2*watchInterval+waitTimeout, func(oc *backupv1alpha1.Overcloud) bool {
		return oc.Status.Synced == "3/3"
	})
	waitEvents(t, c, ns, testOvercloud, backupv1alpha1.EventNodeSynced)
	t.Logf("Pacemaker had %s back %v after the kill; the watch said 3/3 %v after it", active, back.Round(time.Millisecond),
		time.Since(killed).Round(time.Millisecond))
}
