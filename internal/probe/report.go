package probe

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// Report is one probe and its decision, in the API's words: what the `probe` command
// prints and what the OvercloudBackup controller writes to status.
type Report struct {
	// Overcloud is the Overcloud's name.
	Overcloud string `json:"overcloud"`
	// Nodes is the node table, as status.nodes.
	Nodes []backupv1alpha1.NodeStatus `json:"nodes"`
	// ActiveNode, ActiveSource, VIPNode and SelectedNode are the decision.
	ActiveNode   string `json:"activeNode,omitempty"`
	ActiveSource string `json:"activeSource,omitempty"`
	VIPNode      string `json:"vipNode,omitempty"`
	SelectedNode string `json:"selectedNode,omitempty"`
	// Reason explains the choice or why there is none.
	Reason string `json:"reason"`
	// Pacemaker and HAProxy say how those sources went ("" when not configured).
	Pacemaker string `json:"pacemaker,omitempty"`
	HAProxy   string `json:"haproxy,omitempty"`
	// ClusterStateUUID and ClusterSize are the Galera cluster's identity and size, as the
	// primary component's members report them ("" and 0 when no member answered).
	ClusterStateUUID string `json:"clusterStateUUID,omitempty"`
	ClusterSize      int32  `json:"clusterSize,omitempty"`
	// NoQuorum is true when the Pacemaker partition that answered has no quorum.
	NoQuorum bool `json:"noQuorum,omitempty"`
	// SplitBrain is true when several primary components claim the cluster.
	SplitBrain bool `json:"splitBrain,omitempty"`
}

// NewReport turns a snapshot and its decision into a Report.
func NewReport(overcloud string, s selection.Snapshot, d selection.Decision) Report {
	r := Report{
		Overcloud: overcloud, ActiveNode: d.Active, ActiveSource: d.ActiveSource,
		VIPNode: d.VIPNode, SelectedNode: d.Selected, Reason: d.Reason, SplitBrain: d.SplitBrain,
	}
	r.ClusterStateUUID, r.ClusterSize = clusterIdentity(s.Nodes)
	switch {
	case s.Pacemaker == nil:
	case s.Pacemaker.Error != "":
		r.Pacemaker = "not read: " + s.Pacemaker.Error
	case !s.Pacemaker.Quorum:
		r.Pacemaker = "read, without quorum"
		r.NoQuorum = true
	case s.Pacemaker.MaintenanceMode:
		r.Pacemaker = "read, cluster in maintenance-mode"
	default:
		r.Pacemaker = "read"
	}
	switch {
	case s.HAProxy == nil:
	case s.HAProxy.Error != "":
		r.HAProxy = "not read: " + s.HAProxy.Error
	default:
		r.HAProxy = "read"
	}
	for i, n := range s.Nodes {
		row := d.Nodes[i]
		ns := backupv1alpha1.NodeStatus{
			Name: n.Name, Role: backupv1alpha1.NodeRole(row.Role), Eligible: row.Eligible, Selected: row.Selected,
			Reason: Clip(row.Reason, 1024),
			Galera: &backupv1alpha1.GaleraNodeStatus{
				Reachable: n.Galera.Reachable, LocalState: int32(n.Galera.LocalState), //nolint:gosec // G115: wsrep_local_state is 0-6
				LocalStateComment: Clip(n.Galera.LocalStateComment, 64), ClusterStatus: Clip(n.Galera.ClusterStatus, 64),
				ClusterSize: int32(n.Galera.ClusterSize), //nolint:gosec // G115: a cluster has a handful of nodes
				Ready:       n.Galera.Ready, Connected: n.Galera.Connected, Desynced: n.Galera.Desynced,
				ClientConnections: int32(max(n.Galera.ClientConnections, 0)), //nolint:gosec // G115: bounded by max_connections
				RecvQueue:         n.Galera.RecvQueue, Error: Clip(n.Galera.Error, 1024),
				Synced: n.Galera.Synced(), FlowControlPausedNs: n.Galera.FlowControlPausedNs,
			},
		}
		if p := n.Pacemaker; p != nil {
			ns.Pacemaker = &backupv1alpha1.PacemakerNodeStatus{
				Online: p.Online, Standby: p.Standby, Maintenance: p.Maintenance, Unclean: p.Unclean,
				GaleraRole: Clip(p.GaleraRole, 64), HoldsVIP: p.HoldsVIP,
			}
		}
		if h := n.HAProxy; h != nil {
			ns.HAProxy = &backupv1alpha1.HAProxyNodeStatus{
				Status: Clip(h.Status, 64), CurrentSessions: h.CurrentSessions, StickTarget: h.StickTarget,
			}
		}
		r.Nodes = append(r.Nodes, ns)
	}
	return r
}

// clusterIdentity is the Galera cluster's state UUID and size as the members of a primary
// component report them: the UUID most of them report (the smallest on a tie, as in a
// split brain), with the largest size reported with it.
func clusterIdentity(nodes []selection.Node) (string, int32) {
	count, size := map[string]int{}, map[string]int{}
	for _, n := range nodes {
		g := n.Galera
		if !g.Reachable || g.ClusterStatus != "Primary" || g.ClusterStateUUID == "" {
			continue
		}
		count[g.ClusterStateUUID]++
		size[g.ClusterStateUUID] = max(size[g.ClusterStateUUID], g.ClusterSize)
	}
	best := ""
	for u, c := range count {
		if best == "" || c > count[best] || (c == count[best] && u < best) {
			best = u
		}
	}
	return Clip(best, 64), int32(min(size[best], 1<<16)) //nolint:gosec // G115: bounded above
}

// WriteTable prints the report for a person: one line per node, then the decision.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tGALERA\tPACEMAKER\tHAPROXY\tCLIENTS\tROLE\tELIGIBLE\tREASON")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, galeraCell(n.Galera), pacemakerCell(n.Pacemaker),
			haproxyCell(n.HAProxy), clientsCell(n.Galera), n.Role, yesNo(n.Eligible), n.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	active := dash(r.ActiveNode)
	if r.ActiveSource != "" {
		active += " (" + r.ActiveSource + ")"
	}
	fmt.Fprintf(w, "\nActive node:   %s\nVIP holder:    %s\n", active, dash(r.VIPNode))
	if r.Pacemaker != "" {
		fmt.Fprintf(w, "Pacemaker:     %s\n", r.Pacemaker)
	}
	if r.HAProxy != "" {
		fmt.Fprintf(w, "HAProxy:       %s\n", r.HAProxy)
	}
	_, err := fmt.Fprintf(w, "Selected node: %s\nReason:        %s\n", dash(r.SelectedNode), r.Reason)
	return err
}

func galeraCell(g *backupv1alpha1.GaleraNodeStatus) string {
	switch {
	case g == nil:
		return "-"
	case !g.Reachable:
		return "unreachable"
	}
	s := fmt.Sprintf("%s %s/%d", dash(g.LocalStateComment), dash(g.ClusterStatus), g.ClusterSize)
	if g.Desynced {
		s += " desync"
	}
	return s
}

func pacemakerCell(p *backupv1alpha1.PacemakerNodeStatus) string {
	if p == nil {
		return "-"
	}
	var parts []string
	switch {
	case p.Unclean:
		parts = append(parts, "unclean")
	case !p.Online:
		parts = append(parts, "offline")
	case p.Standby:
		parts = append(parts, "standby")
	case p.Maintenance:
		parts = append(parts, "maintenance")
	default:
		parts = append(parts, "online")
	}
	parts = append(parts, dash(p.GaleraRole))
	if p.HoldsVIP {
		parts = append(parts, "VIP")
	}
	return strings.Join(parts, " ")
}

func haproxyCell(h *backupv1alpha1.HAProxyNodeStatus) string {
	if h == nil {
		return "-"
	}
	s := fmt.Sprintf("%s scur=%d", dash(h.Status), h.CurrentSessions)
	if h.StickTarget {
		s += " stick"
	}
	return s
}

func clientsCell(g *backupv1alpha1.GaleraNodeStatus) string {
	if g == nil || !g.Reachable {
		return "-"
	}
	return fmt.Sprint(g.ClientConnections)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Clip makes text from an overcloud endpoint (or a message quoting it) fit a status
// field of at most n characters: control characters become spaces (a status is read in
// terminals), invalid UTF-8 is replaced, and a longer text is cut on a character
// boundary, ending in "...". The API server refuses a status patch with a field over its
// limit, and a refused patch is retried forever: every such field goes through Clip.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + "..."
}
