// Package selection decides, from one snapshot of what the probes saw, which node serves
// the database's clients and which idle, synced node a backup may be taken from, with a
// reason for every node. It is pure: no I/O, no clock, so a table test covers every case.
package selection

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/pacemaker"
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
	// FlowControlPausedNs is wsrep_flow_control_paused_ns (reported, not used to decide).
	FlowControlPausedNs int64
	// IncomingAddresses is wsrep_incoming_addresses (host:port of each member).
	IncomingAddresses []string
}

// status is the node's wsrep state in the galera package's type, so that galera's
// predicates (Synced, Primary, NotSynced) decide here exactly as they decide in the
// agent's re-check. Desynced has no field there to go to: it already is
// galera.Status.Desynced()'s verdict (internal/probe), and is read as such.
func (g Galera) status() *galera.Status {
	return &galera.Status{
		LocalState: galera.LocalState(g.LocalState), LocalStateComment: g.LocalStateComment,
		ClusterStatus: g.ClusterStatus, ClusterSize: g.ClusterSize,
		ClusterStateUUID: g.ClusterStateUUID, ClusterConfID: g.ClusterConfID,
		Ready: g.Ready, Connected: g.Connected, RecvQueue: g.RecvQueue,
		FlowControlPausedNs: g.FlowControlPausedNs, IncomingAddresses: g.IncomingAddresses,
		ClientConnections: g.ClientConnections,
	}
}

// Synced is true for a synced member of a primary component, ready for queries:
// internal/galera's Status.Synced(), which the agent's re-check uses, applied to the
// snapshot's copy of the status; false when Galera did not answer. Being desynced is
// the separate fact Desynced.
func (g Galera) Synced() bool { return g.Reachable && g.status().Synced() }

// primary is galera.Status.Primary() of a node that answered.
func (g Galera) primary() bool { return g.Reachable && g.status().Primary() }

// Pacemaker is what crm_mon said of one node.
type Pacemaker struct {
	Online      bool
	Standby     bool
	Maintenance bool
	Unclean     bool
	Shutdown    bool
	// Pending is true while the node joins the cluster (its membership not settled).
	Pending bool
	// ConnectionUnclean, for a pacemaker remote node, names the cluster node that runs its
	// connection when that node is UNCLEAN: Pacemaker fences it and the connection with it,
	// while crm_mon still shows the remote node online and galera Promoted there.
	ConnectionUnclean string
	// GaleraBlocked is true when Pacemaker cannot act on galera there (a failed stop, or a
	// failed promote with on-fail=block): nobody will recover it if the backup upsets it.
	GaleraBlocked bool
	// GaleraUnmanaged is true when galera there is unmanaged (is-managed=false) outside a
	// maintenance of the cluster or the node: Pacemaker neither monitors nor recovers it.
	GaleraUnmanaged bool
	// GaleraRole is Promoted, Unpromoted, Started or Stopped ("" when galera does not
	// run there).
	GaleraRole string
	// GaleraFailed is true when the galera resource failed on the node.
	GaleraFailed bool
	// HoldsVIP is true when the database VIP runs on the node.
	HoldsVIP bool
}

// promoted is Pacemaker's own fact, not Galera's: galera runs promoted on the node
// (pacemaker.RolePromoted, to which crm_mon's Master is normalised). A failed instance is
// the separate fact GaleraFailed.
func (p *Pacemaker) promoted() bool { return p.GaleraRole == string(pacemaker.RolePromoted) }

// PacemakerCluster is the cluster-wide part of the Pacemaker probe.
type PacemakerCluster struct {
	// Error is set when no node answered with a usable status.
	Error string
	// MaintenanceMode is the cluster property maintenance-mode.
	MaintenanceMode bool
	// Quorum is false when the answering node's partition has no quorum.
	Quorum bool
	// Source is the node whose crm_mon gave this view, "" when not known. A node cut off
	// from Corosync (its Corosync frozen or partitioned away) still shows itself, and the
	// others, online and with quorum from its last membership, while the rest of the
	// cluster has lost it (seen on the live cluster: TestLiveFrozenCorosync). So a node's
	// state as it reports it itself is the weakest evidence: the order prefers a node that
	// another node's view shows.
	Source string
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

// holdsVIP reports whether Pacemaker runs the database VIP on the node.
func (n Node) holdsVIP() bool { return n.Pacemaker != nil && n.Pacemaker.HoldsVIP }

// nextTarget reports whether HAProxy would send the next new client to the node.
func (n Node) nextTarget() bool { return n.HAProxy != nil && n.HAProxy.NextTarget }

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
	// SplitBrain is true when several primary components claim the cluster.
	SplitBrain bool
}

// Decide chooses the node to back up from.
func Decide(s Snapshot, p Policy) Decision {
	d := Decision{}
	active, source := activeNode(s)
	d.Active, d.ActiveSource = active, source
	pcmkUsable, pcmkNote := pacemakerUsable(s.Pacemaker)
	ev := evaluator{views: viewProblems(s.Nodes), excluded: set(p.Excluded), pinned: p.Pinned,
		pacemaker: pcmkUsable, active: active, source: source}

	for _, why := range ev.views {
		d.SplitBrain = d.SplitBrain || strings.HasPrefix(why, splitBrainReason)
	}
	d.Nodes = make([]NodeDecision, len(s.Nodes))
	var eligible []int
	var idle []candidate
	for i, n := range s.Nodes {
		if n.holdsVIP() && pcmkUsable {
			d.VIPNode = n.Name
		}
		d.Nodes[i] = ev.row(n)
		if d.Nodes[i].Eligible {
			eligible = append(eligible, i)
			if n.Name != active {
				idle = append(idle, candidate{Node: n, rank: rank(p.Preferred, n.Name),
					ownView: s.Pacemaker != nil && s.Pacemaker.Source == n.Name && pcmkUsable})
			}
		}
	}
	slices.SortStableFunc(idle, func(a, b candidate) int { r, _ := decisive(a, b); return r })

	notChosen := map[string]string{}
	switch {
	case len(idle) > 0:
		chosen := idle[0]
		d.Selected = chosen.Name
		d.Reason = fmt.Sprintf("%s is synced and idle: %s", chosen.Name, choiceWhy(idle))
		for _, c := range idle[1:] {
			_, k := decisive(chosen, c)
			notChosen[c.Name] = fmt.Sprintf("not chosen, %s goes first: %s", chosen.Name, k.why(chosen, c))
		}
	case p.AllowActive && active != "" && contains(eligible, s.Nodes, active):
		d.Selected = active
		d.Reason = fmt.Sprintf("no idle node is eligible; %s serves clients but allowActiveNode is set", active)
	default:
		d.Reason = noIdleReason(eligible, active, len(s.Nodes))
	}
	for i := range d.Nodes {
		r := &d.Nodes[i]
		if why, ok := notChosen[r.Name]; ok {
			r.Reason += "; " + why
		}
		if pcmkNote != "" {
			r.Reason += " (" + pcmkNote + ")"
		}
		if r.Name == d.Selected {
			r.Selected = true
			r.Reason = "selected: " + r.Reason
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
	usable := false // synced and not desynced, as the agent's re-check requires
	if !n.Galera.Reachable {
		why = append(why, "Galera did not answer: "+n.Galera.Error)
	} else {
		gw := galeraProblems(n.Galera)
		usable = len(gw) == 0
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
	case usable && e.views[n.Name] == "":
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

// galeraProblems words what keeps a node that answered from being a backup source as far
// as Galera goes: each condition of galera.Status.Synced() it fails (NotSynced reads the
// same table as Synced), then a desync (galera.Status.Desynced()). It is empty exactly
// when the node is synced and not desynced, the test the agent's re-check makes.
func galeraProblems(g Galera) []string {
	var why []string
	for _, c := range g.status().NotSynced() {
		if c == galera.CheckLocalState && g.Desynced {
			continue // a desynced node's state is worded as the desync, below
		}
		why = append(why, notSyncedWords(c, g))
	}
	if g.Desynced {
		why = append(why, fmt.Sprintf("already desynced (wsrep_local_state=%d %s): another backup, a state transfer donor or a global read lock",
			g.LocalState, g.LocalStateComment))
	}
	return why
}

// notSyncedWords says how a node fails one condition of galera.Status.Synced().
func notSyncedWords(c galera.Check, g Galera) string {
	switch c {
	case galera.CheckReady:
		return "wsrep_ready is OFF"
	case galera.CheckConnected:
		return "wsrep_connected is OFF"
	case galera.CheckClusterStatus:
		return fmt.Sprintf("not in the primary component (wsrep_cluster_status=%s)", g.ClusterStatus)
	case galera.CheckLocalState:
		return fmt.Sprintf("not synced (wsrep_local_state=%d %s)", g.LocalState, g.LocalStateComment)
	}
	return fmt.Sprintf("not synced (%s)", c)
}

// viewKey identifies a primary component view.
type viewKey struct {
	uuid string
	conf int64
}

// splitBrainReason starts the reason of every node of a split brain.
const splitBrainReason = "split brain: several primary components claim the cluster: "

// viewProblems cross-checks the nodes that claim to be in a primary component. A node
// frozen (SIGSTOP) and resumed still reports its old view for a few seconds (size 3,
// Primary, Synced) after its peers evicted it: its view is contradicted by peers whose
// own view is self-consistent. Two self-consistent views at once are a split brain, and
// then no node is trusted.
func viewProblems(nodes []Node) map[string]string {
	groups := map[viewKey][]Node{}
	var keys []viewKey
	for _, n := range nodes {
		if !n.Galera.primary() {
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
				out[n.Name] = splitBrainReason + describeViews(groups, keys)
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
	if p.Pending {
		why = append(why, "joining the cluster (pending)")
	}
	if p.ConnectionUnclean != "" {
		why = append(why, fmt.Sprintf("its remote connection runs on %s, which is unclean (to be fenced, and the connection with it)",
			p.ConnectionUnclean))
	}
	if p.GaleraBlocked {
		why = append(why, "galera blocked here (Pacemaker cannot act on it)")
	}
	if p.GaleraUnmanaged {
		why = append(why, "galera unmanaged here (Pacemaker neither monitors nor recovers it)")
	}
	if p.GaleraFailed {
		why = append(why, "galera failed here")
	}
	if !p.promoted() {
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
	if n.holdsVIP() {
		r += ", holds the database VIP"
	}
	return r
}

// candidate is an eligible node that does not serve clients, as the order sees it.
type candidate struct {
	Node
	// rank is the node's position in nodeSelection.preferredNodes (its first one),
	// math.MaxInt when it is not listed.
	rank int
	// ownView is true when Pacemaker's view of the node was read on the node itself.
	ownView bool
}

func (c candidate) preferred() bool { return c.rank != math.MaxInt }

// rank is name's position in preferred, math.MaxInt when it is not there.
func rank(preferred []string, name string) int {
	if i := slices.Index(preferred, name); i >= 0 {
		return i
	}
	return math.MaxInt
}

// criterion is one step of the order among candidates.
type criterion struct {
	// name is what the criterion is called (in tests and by readers).
	name string
	// cmp is negative when a goes first, zero when the criterion does not tell a and b
	// apart.
	cmp func(a, b candidate) int
	// why says what put w before l, when this criterion is the one that decided.
	why func(w, l candidate) string
}

// criteria is the order among candidates, the one table that both sorts them and
// explains the choice (the decision's reason and the row of every candidate not chosen),
// so the two cannot drift: the first criterion on which two candidates differ decides,
// and its words say why. Preferred nodes (in the listed order), then not holding the VIP,
// then not where HAProxy sends the next client, then a node whose Pacemaker state another
// node's view gave before the node whose own view was read (PacemakerCluster.Source: a
// node cut off from Corosync does not know it; choosing that node makes the probe ask
// another node, probe.GatherDecided, so this one saves that second crm_mon), then fewest
// client connections (unknown last), then shortest receive queue, then name: the name
// makes it a total order, so the choice does not depend on the order nodes are listed in.
var criteria = []criterion{
	{
		name: "preferred",
		cmp:  func(a, b candidate) int { return cmp.Compare(a.rank, b.rank) },
		why: func(_, l candidate) string {
			if l.preferred() {
				return fmt.Sprintf("a preferred node, listed before %s", l.Name)
			}
			return "a preferred node"
		},
	},
	{
		name: "database VIP",
		cmp:  falseFirst(Node.holdsVIP),
		why:  func(_, l candidate) string { return fmt.Sprintf("does not hold the database VIP (%s does)", l.Name) },
	},
	{
		name: "HAProxy next target",
		cmp:  falseFirst(Node.nextTarget),
		why:  func(_, l candidate) string { return fmt.Sprintf("HAProxy would send its next client to %s", l.Name) },
	},
	{
		name: "Pacemaker's view from another node",
		cmp:  func(a, b candidate) int { return falseFirstBool(a.ownView, b.ownView) },
		why: func(_, l candidate) string {
			return fmt.Sprintf("another node's Pacemaker view shows it (%s's is its own, which a node cut off from Corosync cannot judge)", l.Name)
		},
	},
	{
		name: "client connections",
		cmp:  func(a, b candidate) int { return cmp.Compare(connections(a), connections(b)) },
		why: func(w, l candidate) string {
			if connections(l) == math.MaxInt {
				return fmt.Sprintf("fewest client connections (%d; unknown on %s)", w.Galera.ClientConnections, l.Name)
			}
			return fmt.Sprintf("fewest client connections (%d)", w.Galera.ClientConnections)
		},
	},
	{
		name: "receive queue",
		cmp:  func(a, b candidate) int { return cmp.Compare(a.Galera.RecvQueue, b.Galera.RecvQueue) },
		why:  func(w, _ candidate) string { return fmt.Sprintf("shortest receive queue (%d)", w.Galera.RecvQueue) },
	},
	{
		name: "name",
		cmp:  func(a, b candidate) int { return strings.Compare(a.Name, b.Name) },
		why:  func(_, l candidate) string { return fmt.Sprintf("ties with %s, first by name", l.Name) },
	},
}

// decisive is the first criterion on which a and b differ and its comparison; the last
// criterion (the name) when none tells them apart.
func decisive(a, b candidate) (int, criterion) {
	for _, c := range criteria {
		if r := c.cmp(a, b); r != 0 {
			return r, c
		}
	}
	return 0, criteria[len(criteria)-1]
}

// falseFirst orders the candidates of which f is false before those of which it is true.
func falseFirst(f func(Node) bool) func(a, b candidate) int {
	return func(a, b candidate) int { return falseFirstBool(f(a.Node), f(b.Node)) }
}

// falseFirstBool is negative when only b is true, positive when only a is.
func falseFirstBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// connections is the candidate's client connections as the order ranks them: unknown last.
func connections(c candidate) int {
	if c.Galera.ClientConnections < 0 {
		return math.MaxInt
	}
	return c.Galera.ClientConnections
}

// choiceWhy explains why the first of the sorted candidates won: by the criterion that
// put it before the runner-up, its closest contender.
func choiceWhy(sorted []candidate) string {
	if len(sorted) == 1 {
		return "the only eligible node that does not serve clients"
	}
	_, k := decisive(sorted[0], sorted[1])
	return k.why(sorted[0], sorted[1])
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
