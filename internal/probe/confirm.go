package probe

import (
	"context"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// GatherDecided probes the target (Gather) and decides with policy; when the decision
// would take the very node whose own crm_mon gave Pacemaker's view, it asks Pacemaker
// again through the other nodes and decides on their view.
//
// A node cut off from Corosync (its Corosync frozen, its links down) keeps seeing
// everyone online with quorum in its own crm_mon, while its mariadbd may stay Synced in
// Galera's Primary component: the others are about to fence it, and it cannot tell. The
// selection already prefers a node some other node's view vouches for, but when that node
// is the only candidate its own word would choose it. The second crm_mon costs one more
// SSH command, run only then, on an idle node first and on the active node last.
func GatherDecided(ctx context.Context, t Target, policy selection.Policy) (selection.Snapshot, selection.Decision) {
	s := Gather(ctx, t)
	d := selection.Decide(s, policy)
	if t.Pacemaker == nil || s.Pacemaker == nil || d.Selected == "" || s.Pacemaker.Source != d.Selected {
		return s, d
	}
	others := make([]Node, 0, len(t.Nodes))
	for _, n := range t.Nodes {
		if n.Name != d.Selected {
			others = append(others, n)
		}
	}
	timeout := t.callTimeout()
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	view, _ := firstPacemaker(c, t.Pacemaker, lastOf(others, d.Active), hedgeDelay(timeout))
	if view == nil {
		// Nobody else answers: the node's own view is all there is, and the selection has
		// ranked it last already.
		return s, d
	}
	s = withPacemaker(s, view)
	return s, selection.Decide(s, policy)
}

// withPacemaker is s with its Pacemaker facts taken from view instead.
func withPacemaker(s selection.Snapshot, view *PacemakerView) selection.Snapshot {
	out := s
	out.Nodes = make([]selection.Node, len(s.Nodes))
	copy(out.Nodes, s.Nodes)
	for i := range out.Nodes {
		out.Nodes[i].Pacemaker = nil
	}
	addPacemaker(&out, view, nil)
	return out
}
