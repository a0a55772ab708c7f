// Package selection decides, from one snapshot of what the probes saw, which node serves
// the database's clients and which idle, synced node a backup may be taken from, with a
// reason for every node. It is pure: no I/O, no clock, so a table test covers every case.
package selection

import (
	"fmt"
	"net"
	"sort"
	"strings"
)

// Galera is what a node's own wsrep status said.
type Galera struct {
	// Reachable is false when the probe got no answer; Error says why.
	Reachable bool
	Error     string
	// LocalState is wsrep_local_state (4 = Synced); LocalStateComment its words.
	LocalState        int
	LocalStateComment string
	// ClusterStatus is wsrep_cluster_status (Primary, non-Primary, Disconnected).
	ClusterStatus string
	// ClusterSize, ClusterStateUUID and ClusterConfID describe the node's view of the
	// primary component; peers that disagree expose a stale (frozen, evicted) node.
	ClusterSize      int
	ClusterStateUUID string
	ClusterConfID    int64
	// Ready and Connected are wsrep_ready and wsrep_connected.
	Ready     bool
	Connected bool
	// Desynced is true when the node is desynced by any means (wsrep_desync, a
	// desync count, donor state).
	Desynced bool
	// ClientConnections counts client sessions; -1 when unknown.
	ClientConnections int
	// RecvQueue is wsrep_local_recv_queue.
	RecvQueue int64
	// IncomingAddresses is wsrep_incoming_addresses (host:port of each member).
	IncomingAddresses []string
}

// Pacemaker is what crm_mon said of one node.
type Pacemaker struct {
	Online      bool
	Standby     bool
	Maintenance bool
	Unclean     bool
	Shutdown    bool
	// GaleraRole is Promoted, Unpromoted, Started or Stopped ("" when galera does not
	// run there).
	GaleraRole string
	// GaleraFailed is true when the galera resource failed on the node.
	GaleraFailed bool
	// HoldsVIP is true when the database VIP runs on the node.
	HoldsVIP bool
}

// PacemakerCluster is the cluster-wide part of the Pacemaker probe.
type PacemakerCluster struct {
	// Error is set when no node answered with a usable status.
	Error string
	// MaintenanceMode is the cluster property maintenance-mode.
	MaintenanceMode bool
	// Quorum is false when the answering node's partition has no quorum.
	Quorum bool
}

// HAProxyServer is what HAProxy said of one node's server in the database backend.
type HAProxyServer struct {
	// Status is the server's state word (UP, DOWN, MAINT, NOLB, ...).
	Status string
	// CurrentSessions is scur.
	CurrentSessions int64
	// StickTarget is true when the stick table sends clients to this server.
	StickTarget bool
	// NextTarget is true when HAProxy would send the next new client here (no live
	// stick entry, every server a backup: the first usable one in configuration order).
	NextTarget bool
}

// HAProxyBackend is the backend-wide part of the HAProxy probe.
type HAProxyBackend struct {
	// Error is set when HAProxy could not be read.
	Error string
}

// Node is one node as the probes saw it.
type Node struct {
	// Name is the node's name in the spec.
	Name string
	// Address is the node's client address (host or IP), to match against peers'
	// wsrep_incoming_addresses.
	Address string
	Galera  Galera
	// Pacemaker is nil when Pacemaker was not probed, or the node is not in its status.
	Pacemaker *Pacemaker
	// HAProxy is nil when HAProxy was not probed, or has no server for the node.
	HAProxy *HAProxyServer
}

// Snapshot is one observation of every node.
type Snapshot struct {
	Nodes []Node
	// Pacemaker is nil when Pacemaker is not configured.
	Pacemaker *PacemakerCluster
	// HAProxy is nil when HAProxy is not configured.
	HAProxy *HAProxyBackend
}

// Policy is what the user asked of the choice.
type Policy struct {
	// Preferred nodes are chosen first, in this order.
	Preferred []string
	// Excluded nodes are never chosen.
	Excluded []string
	// Pinned, when set, is the only node that may be chosen.
	Pinned string
	// AllowActive allows the active node when no idle node is eligible.
	AllowActive bool
}

// Role is what a node is doing for the database's clients.
type Role string

// Roles, as in the API's status.nodes[].role.
const (
	RoleActive      Role = "Active"
	RoleStandby     Role = "Standby"
	RoleUnavailable Role = "Unavailable"
	RoleUnknown     Role = "Unknown"
)

// NodeDecision is one row of the node table.
type NodeDecision struct {
	Name     string
	Role     Role
	Eligible bool
	Selected bool
	// Reason explains the role, the eligibility and, for the chosen node, the choice.
	Reason string
}

// Decision is the outcome: the chosen node, or none and why.
type Decision struct {
	// Selected is the chosen node, "" when none.
	Selected string
	// Active is the node serving clients, "" when no signal shows one.
	Active string
	// ActiveSource says which signal named the active node.
	ActiveSource string
	// VIPNode holds the database VIP per Pacemaker, "" when unknown.
	VIPNode string
	// Nodes has one row per node, in the snapshot's order.
	Nodes []NodeDecision
	// Reason explains the choice, or why there is none, in one sentence.
	Reason string
}

// Decide chooses the node to back up from.
func Decide(s Snapshot, p Policy) Decision {
	d := Decision{}
	active, source := activeNode(s)
	d.Active, d.ActiveSource = active, source
	pcmkUsable, pcmkNote := pacemakerUsable(s.Pacemaker)
	ev := evaluator{views: viewProblems(s.Nodes), excluded: set(p.Excluded), pinned: p.Pinned,
		pacemaker: pcmkUsable, active: active, source: source}

	d.Nodes = make([]NodeDecision, len(s.Nodes))
	var eligible []int
	for i, n := range s.Nodes {
		if n.Pacemaker != nil && n.Pacemaker.HoldsVIP && pcmkUsable {
			d.VIPNode = n.Name
		}
		d.Nodes[i] = ev.row(n)
		if pcmkNote != "" {
			d.Nodes[i].Reason += " (" + pcmkNote + ")"
		}
		if d.Nodes[i].Eligible {
			eligible = append(eligible, i)
		}
	}

	var idle []int
	for _, i := range eligible {
		if s.Nodes[i].Name != active {
			idle = append(idle, i)
		}
	}
	pref := map[string]int{}
	for i, n := range p.Preferred {
		if _, dup := pref[n]; !dup {
			pref[n] = i
		}
	}
	sort.SliceStable(idle, func(a, b int) bool { return better(s.Nodes[idle[a]], s.Nodes[idle[b]], pref) })

	switch {
	case len(idle) > 0:
		chosen := s.Nodes[idle[0]]
		d.Selected = chosen.Name
		d.Reason = fmt.Sprintf("%s is synced and idle: %s", chosen.Name, choiceWhy(chosen, idle, s.Nodes, pref))
	case p.AllowActive && active != "" && contains(eligible, s.Nodes, active):
		d.Selected = active
		d.Reason = fmt.Sprintf("no idle node is eligible; %s serves clients but allowActiveNode is set", active)
	default:
		d.Reason = noIdleReason(eligible, active, len(s.Nodes))
	}
	for i := range d.Nodes {
		if d.Nodes[i].Name == d.Selected {
			d.Nodes[i].Selected = true
			d.Nodes[i].Reason = "selected: " + d.Nodes[i].Reason
		}
	}
	return d
}

// evaluator judges one node at a time against what holds for the whole snapshot.
type evaluator struct {
	views     map[string]string
	excluded  map[string]bool
	pinned    string
	pacemaker bool
	active    string
	source    string
}

// row is a node's role, eligibility and reason (every failing check is listed).
func (e evaluator) row(n Node) NodeDecision {
	var why []string
	synced := false
	if !n.Galera.Reachable {
		why = append(why, "Galera did not answer: "+n.Galera.Error)
	} else {
		gw := galeraProblems(n.Galera)
		synced = len(gw) == 0
		why = append(why, gw...)
		if v, ok := e.views[n.Name]; ok {
			why = append(why, v)
		}
	}
	if e.pacemaker {
		why = append(why, pacemakerProblems(n.Pacemaker)...)
	}
	if e.excluded[n.Name] {
		why = append(why, "excluded by nodeSelection.excludedNodes")
	}
	if e.pinned != "" && e.pinned != n.Name {
		why = append(why, fmt.Sprintf("not the pinned node %s", e.pinned))
	}
	r := NodeDecision{Name: n.Name, Eligible: len(why) == 0}
	switch {
	case n.Name == e.active:
		r.Role = RoleActive
	case !n.Galera.Reachable:
		r.Role = RoleUnknown
	case synced && e.views[n.Name] == "":
		r.Role = RoleStandby
	default:
		r.Role = RoleUnavailable
	}
	if r.Eligible {
		r.Reason = eligibleReason(n, r.Role, e.source)
	} else {
		r.Reason = strings.Join(why, "; ")
	}
	return r
}

// activeNode names the node serving clients, by the strongest signal available:
// HAProxy's stick table, then HAProxy's current sessions, then clearly the most Galera
// client connections.
func activeNode(s Snapshot) (string, string) {
	if s.HAProxy != nil && s.HAProxy.Error == "" {
		var stick, busy []string
		var most string
		var mostSessions int64
		for _, n := range s.Nodes {
			if n.HAProxy == nil {
				continue
			}
			if n.HAProxy.StickTarget {
				stick = append(stick, n.Name)
			}
			if n.HAProxy.CurrentSessions > 0 {
				busy = append(busy, n.Name)
				if n.HAProxy.CurrentSessions > mostSessions {
					most, mostSessions = n.Name, n.HAProxy.CurrentSessions
				}
			}
		}
		switch {
		case len(stick) == 1:
			return stick[0], "HAProxy stick table"
		case len(busy) == 1:
			return busy[0], "HAProxy current sessions"
		case len(busy) > 1:
			return most, "HAProxy current sessions (most of several)"
		}
	}
	first, second := -1, -1
	var name string
	for _, n := range s.Nodes {
		c := n.Galera.ClientConnections
		if !n.Galera.Reachable || c < 0 {
			continue
		}
		switch {
		case c > first:
			second, first, name = first, c, n.Name
		case c > second:
			second = c
		}
	}
	// "Clearly the most": at least one, and at least twice the runner-up plus one.
	if first > 0 && first >= 2*max(second, 0)+1 {
		return name, "Galera client connections"
	}
	return "", ""
}

func galeraProblems(g Galera) []string {
	var why []string
	if !g.Ready {
		why = append(why, "wsrep_ready is OFF")
	}
	if !g.Connected {
		why = append(why, "wsrep_connected is OFF")
	}
	if g.ClusterStatus != "Primary" {
		why = append(why, fmt.Sprintf("not in the primary component (wsrep_cluster_status=%s)", g.ClusterStatus))
	}
	switch {
	case g.Desynced:
		why = append(why, fmt.Sprintf("already desynced (wsrep_local_state=%d %s): another backup, a state transfer donor or a global read lock",
			g.LocalState, g.LocalStateComment))
	case g.LocalState != 4:
		why = append(why, fmt.Sprintf("not synced (wsrep_local_state=%d %s)", g.LocalState, g.LocalStateComment))
	}
	return why
}

// viewKey identifies a primary component view.
type viewKey struct {
	uuid string
	conf int64
}

// viewProblems cross-checks the nodes that claim to be in a primary component. A node
// frozen (SIGSTOP) and resumed still reports its old view for a few seconds (size 3,
// Primary, Synced) after its peers evicted it: its view is contradicted by peers whose
// own view is self-consistent. Two self-consistent views at once are a split brain, and
// then no node is trusted.
func viewProblems(nodes []Node) map[string]string {
	groups := map[viewKey][]Node{}
	var keys []viewKey
	for _, n := range nodes {
		if !n.Galera.Reachable || n.Galera.ClusterStatus != "Primary" {
			continue
		}
		k := viewKey{n.Galera.ClusterStateUUID, n.Galera.ClusterConfID}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], n)
	}
	out := map[string]string{}
	if len(keys) == 0 {
		return out
	}
	current, splitBrain := currentView(groups, keys)
	for _, k := range keys {
		if k == current && !splitBrain {
			continue
		}
		for _, n := range groups[k] {
			if splitBrain {
				out[n.Name] = "split brain: several primary components claim the cluster: " + describeViews(groups, keys)
			} else {
				out[n.Name] = fmt.Sprintf("stale view (conf_id %d, size %d) contradicted by %s (conf_id %d, size %d): frozen or evicted",
					k.conf, n.Galera.ClusterSize, names(groups[current]), current.conf, groups[current][0].Galera.ClusterSize)
			}
		}
	}
	if !splitBrain {
		for name, why := range incomingProblems(groups[current]) {
			out[name] = why
		}
	}
	return out
}

// currentView picks the view to trust: the only one, else the only self-consistent one
// (as many members as its reported size), else the newest; several self-consistent
// views are a split brain.
func currentView(groups map[viewKey][]Node, keys []viewKey) (viewKey, bool) {
	if len(keys) == 1 {
		return keys[0], false
	}
	var confirmed []viewKey
	for _, k := range keys {
		if groups[k][0].Galera.ClusterSize == len(groups[k]) {
			confirmed = append(confirmed, k)
		}
	}
	switch len(confirmed) {
	case 0:
		newest := keys[0]
		for _, k := range keys[1:] {
			if k.conf > newest.conf {
				newest = k
			}
		}
		return newest, false
	case 1:
		return confirmed[0], false
	}
	return viewKey{}, true
}

func describeViews(groups map[viewKey][]Node, keys []viewKey) string {
	desc := make([]string, 0, len(keys))
	for _, k := range keys {
		desc = append(desc, fmt.Sprintf("%s (%s, conf_id %d, size %d)", names(groups[k]), short(k.uuid), k.conf, groups[k][0].Galera.ClusterSize))
	}
	return strings.Join(desc, " vs ")
}

// incomingProblems: members of a view must be listed in its incoming addresses
// (checked only when both sides are IP addresses, so DNS names never cause a false alarm).
func incomingProblems(members []Node) map[string]string {
	incoming := map[string]bool{}
	for _, n := range members {
		for _, a := range n.Galera.IncomingAddresses {
			host, _, err := net.SplitHostPort(a)
			if err != nil || net.ParseIP(host) == nil {
				return nil
			}
			incoming[host] = true
		}
	}
	out := map[string]string{}
	if len(incoming) == 0 {
		return out
	}
	for _, n := range members {
		if net.ParseIP(n.Address) != nil && !incoming[n.Address] {
			out[n.Name] = fmt.Sprintf("its address %s is not among its primary component's incoming addresses", n.Address)
		}
	}
	return out
}

// pacemakerUsable says whether Pacemaker's view may decide eligibility, and a note for
// every row when it may not or has something to say.
func pacemakerUsable(c *PacemakerCluster) (bool, string) {
	switch {
	case c == nil:
		return false, ""
	case c.Error != "":
		return false, "Pacemaker not read: " + c.Error
	case !c.Quorum:
		return false, "Pacemaker ignored: the answering node has no quorum"
	case c.MaintenanceMode:
		return true, "cluster in maintenance-mode"
	}
	return true, ""
}

func pacemakerProblems(p *Pacemaker) []string {
	if p == nil {
		return []string{"not in Pacemaker's status"}
	}
	var why []string
	if !p.Online {
		why = append(why, "offline in Pacemaker")
	}
	if p.Standby {
		why = append(why, "in standby")
	}
	if p.Maintenance {
		why = append(why, "in maintenance")
	}
	if p.Unclean {
		why = append(why, "unclean (to be fenced)")
	}
	if p.Shutdown {
		why = append(why, "shutting down")
	}
	if p.GaleraFailed {
		why = append(why, "galera failed here")
	}
	if p.GaleraRole != "Promoted" {
		role := p.GaleraRole
		if role == "" {
			role = "not running"
		}
		why = append(why, fmt.Sprintf("galera is %s here, not promoted", role))
	}
	return why
}

func eligibleReason(n Node, role Role, source string) string {
	conns := "client connections unknown"
	if c := n.Galera.ClientConnections; c >= 0 {
		conns = fmt.Sprintf("%d client connections", c)
	}
	r := fmt.Sprintf("synced in the primary component, %s", conns)
	if role == RoleActive {
		r = fmt.Sprintf("serves clients (%s); %s", source, r)
	}
	if n.Pacemaker != nil && n.Pacemaker.HoldsVIP {
		r += ", holds the database VIP"
	}
	return r
}

// better orders idle candidates: preferred (in the listed order), then not holding
// the VIP, then not where HAProxy sends the next client, then fewest client connections
// (unknown last), then shortest receive queue, then name.
func better(a, b Node, pref map[string]int) bool {
	pa, aok := pref[a.Name]
	pb, bok := pref[b.Name]
	if aok != bok {
		return aok
	}
	if aok && pa != pb {
		return pa < pb
	}
	va, vb := a.Pacemaker != nil && a.Pacemaker.HoldsVIP, b.Pacemaker != nil && b.Pacemaker.HoldsVIP
	if va != vb {
		return !va
	}
	na, nb := a.HAProxy != nil && a.HAProxy.NextTarget, b.HAProxy != nil && b.HAProxy.NextTarget
	if na != nb {
		return !na
	}
	ca, cb := a.Galera.ClientConnections, b.Galera.ClientConnections
	if (ca < 0) != (cb < 0) {
		return ca >= 0
	}
	if ca != cb {
		return ca < cb
	}
	if a.Galera.RecvQueue != b.Galera.RecvQueue {
		return a.Galera.RecvQueue < b.Galera.RecvQueue
	}
	return a.Name < b.Name
}

// choiceWhy explains why the first idle candidate won.
func choiceWhy(chosen Node, idle []int, nodes []Node, pref map[string]int) string {
	if len(idle) == 1 {
		return "the only eligible node that does not serve clients"
	}
	runner := nodes[idle[1]]
	if _, ok := pref[chosen.Name]; ok {
		return "a preferred node"
	}
	if runner.Pacemaker != nil && runner.Pacemaker.HoldsVIP && (chosen.Pacemaker == nil || !chosen.Pacemaker.HoldsVIP) {
		return fmt.Sprintf("does not hold the database VIP (%s does)", runner.Name)
	}
	if runner.HAProxy != nil && runner.HAProxy.NextTarget && (chosen.HAProxy == nil || !chosen.HAProxy.NextTarget) {
		return fmt.Sprintf("HAProxy would send its next client to %s", runner.Name)
	}
	ca, cb := chosen.Galera.ClientConnections, runner.Galera.ClientConnections
	if ca >= 0 && ca != cb {
		return fmt.Sprintf("fewest client connections (%d)", ca)
	}
	if chosen.Galera.RecvQueue != runner.Galera.RecvQueue {
		return fmt.Sprintf("shortest receive queue (%d)", chosen.Galera.RecvQueue)
	}
	return fmt.Sprintf("ties with %s, first by name", runner.Name)
}

func noIdleReason(eligible []int, active string, total int) string {
	switch {
	case len(eligible) == 0:
		return fmt.Sprintf("no idle node: none of the %d nodes is eligible", total)
	case active != "":
		return fmt.Sprintf("no idle node: the only eligible node, %s, serves clients (set allowActiveNode to use it)", active)
	}
	return "no idle node"
}

func contains(idx []int, nodes []Node, name string) bool {
	for _, i := range idx {
		if nodes[i].Name == name {
			return true
		}
	}
	return false
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func names(ns []Node) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return strings.Join(out, ",")
}

func short(uuid string) string {
	if len(uuid) > 8 {
		return uuid[:8]
	}
	return uuid
}
