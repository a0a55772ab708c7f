package selection

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
)

const uuid = "5f3b2a10-1111-11ef-8000-0242ac110002"

// synced is a healthy member of a 3-node primary component (conf_id 7).
func synced(name, addr string, clients int) Node {
	return Node{Name: name, Address: addr, Galera: Galera{
		Reachable: true, LocalState: 4, LocalStateComment: "Synced", ClusterStatus: "Primary",
		ClusterSize: 3, ClusterStateUUID: uuid, ClusterConfID: 7, Ready: true, Connected: true,
		ClientConnections: clients,
		IncomingAddresses: []string{"10.77.0.11:3306", "10.77.0.12:3306", "10.77.0.13:3306"},
	}}
}

func three(c0, c1, c2 int) []Node {
	return []Node{synced("controller-0", "10.77.0.11", c0), synced("controller-1", "10.77.0.12", c1), synced("controller-2", "10.77.0.13", c2)}
}

type edit func([]Node)

func withGalera(i int, f func(*Galera)) edit { return func(n []Node) { f(&n[i].Galera) } }

func pcmk(i int, f func(*Pacemaker)) edit {
	return func(n []Node) {
		if n[i].Pacemaker == nil {
			n[i].Pacemaker = &Pacemaker{Online: true, GaleraRole: "Promoted"}
		}
		f(n[i].Pacemaker)
	}
}

func hap(i int, scur int64) edit {
	return func(n []Node) {
		n[i].HAProxy = &HAProxyServer{Status: "UP", CurrentSessions: scur}
	}
}

// healthyPacemaker gives every node an online, promoted galera, VIP on vip.
func healthyPacemaker(vip int) edit {
	return func(n []Node) {
		for i := range n {
			n[i].Pacemaker = &Pacemaker{Online: true, GaleraRole: "Promoted", HoldsVIP: i == vip}
		}
	}
}

// stickOn makes HAProxy send clients to node i (all servers UP).
func stickOn(i int) edit {
	return func(n []Node) {
		for j := range n {
			n[j].HAProxy = &HAProxyServer{Status: "UP"}
		}
		n[i].HAProxy.StickTarget = true
		n[i].HAProxy.CurrentSessions = 12
	}
}

func TestDecide(t *testing.T) {
	okPcmk := &PacemakerCluster{Quorum: true}
	okHAP := &HAProxyBackend{}
	cases := []struct {
		name       string
		nodes      []Node
		edits      []edit
		pcmk       *PacemakerCluster
		hap        *HAProxyBackend
		policy     Policy
		selected   string
		active     string
		source     string
		vip        string
		reason     string            // substring of the decision's reason
		nodeReason map[string]string // substrings of rows' reasons
		ineligible []string
	}{
		{
			name:  "healthy: idle node that is not the stick-table server and not the VIP holder",
			nodes: three(40, 0, 0), edits: []edit{healthyPacemaker(1), stickOn(0)}, pcmk: okPcmk, hap: okHAP,
			selected: "controller-2", active: "controller-0", source: "HAProxy stick table", vip: "controller-1",
			reason:     "does not hold the database VIP",
			nodeReason: map[string]string{"controller-0": "serves clients (HAProxy stick table)", "controller-1": "holds the database VIP"},
		},
		{
			name:  "after failover the new active node is avoided",
			nodes: three(0, 35, 0), edits: []edit{healthyPacemaker(0), stickOn(1), withGalera(0, func(g *Galera) { g.Reachable = false; g.Error = "connection refused" })},
			pcmk: okPcmk, hap: okHAP, selected: "controller-2", active: "controller-1", vip: "controller-0",
			ineligible: []string{"controller-0"}, nodeReason: map[string]string{"controller-0": "Galera did not answer: connection refused"},
		},
		{
			name:  "stickiness survives recovery: old node recovered, table still points to the new one",
			nodes: three(0, 20, 0), edits: []edit{stickOn(1)}, hap: okHAP,
			selected: "controller-0", active: "controller-1", source: "HAProxy stick table",
		},
		{
			name:  "no HAProxy: the node with clearly the most client connections is active",
			nodes: three(3, 57, 1), selected: "controller-2", active: "controller-1", source: "Galera client connections",
			reason: "fewest client connections (1)",
		},
		{
			name:  "no HAProxy and no clear active: fewest connections wins",
			nodes: three(9, 7, 8), selected: "controller-1", active: "",
		},
		{
			name:  "HAProxy probe failed: fall back to client connections",
			nodes: three(0, 0, 44), hap: &HAProxyBackend{Error: "timeout"}, selected: "controller-0", active: "controller-2",
			source: "Galera client connections",
		},
		{
			name:  "HAProxy without stick entry: the server with sessions is active",
			nodes: three(0, 0, 0), edits: []edit{hap(0, 0), hap(1, 0), hap(2, 4)}, hap: okHAP,
			selected: "controller-0", active: "controller-2", source: "HAProxy current sessions",
		},
		{
			name:  "idle cluster: avoid the server HAProxy would send the next client to",
			nodes: three(0, 0, 0), edits: []edit{hap(0, 0), hap(1, 0), hap(2, 0), func(n []Node) { n[0].HAProxy.NextTarget = true }},
			hap: okHAP, selected: "controller-1", active: "", reason: "ties with controller-2, first by name",
		},
		{
			name:  "idle cluster: nothing active, first by name",
			nodes: three(0, 0, 0), edits: []edit{hap(0, 0), hap(1, 0), hap(2, 0)}, hap: okHAP,
			selected: "controller-0", active: "", reason: "ties with controller-1, first by name",
		},
		{
			name:  "desynced node excluded",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0), withGalera(1, func(g *Galera) { g.Desynced = true })}, hap: okHAP,
			selected: "controller-2", ineligible: []string{"controller-1"}, nodeReason: map[string]string{"controller-1": "already desynced"},
		},
		{
			name:  "donor node excluded",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0), withGalera(2, func(g *Galera) { g.LocalState = 2; g.LocalStateComment = "Donor/Desynced"; g.Desynced = true })}, hap: okHAP,
			selected: "controller-1", ineligible: []string{"controller-2"}, nodeReason: map[string]string{"controller-2": "already desynced (wsrep_local_state=2 Donor/Desynced)"},
		},
		{
			name:  "non-Primary node excluded",
			nodes: three(30, 0, 0),
			edits: []edit{stickOn(0), withGalera(1, func(g *Galera) {
				g.ClusterStatus = "non-Primary"
				g.Ready = false
				g.ClusterSize = 1
				g.ClusterConfID = -1
				g.LocalState = 0
				g.LocalStateComment = "Initialized"
			})},
			hap: okHAP, selected: "controller-2", ineligible: []string{"controller-1"},
			nodeReason: map[string]string{"controller-1": "not in the primary component (wsrep_cluster_status=non-Primary)"},
		},
		{
			name:  "frozen node resumed: stale view contradicted by its peers",
			nodes: three(30, 0, 0),
			edits: []edit{stickOn(0), withGalera(0, func(g *Galera) { g.ClusterSize = 2; g.ClusterConfID = 8 }), withGalera(1, func(g *Galera) { g.ClusterSize = 2; g.ClusterConfID = 8 }),
				withGalera(2, func(g *Galera) { g.ClientConnections = 0 })},
			hap: okHAP, selected: "controller-1", ineligible: []string{"controller-2"},
			nodeReason: map[string]string{"controller-2": "stale view (conf_id 7, size 3) contradicted by controller-0,controller-1 (conf_id 8, size 2)"},
		},
		{
			name:  "split brain: two self-consistent primary components, nothing is trusted",
			nodes: three(5, 5, 5),
			edits: []edit{withGalera(0, func(g *Galera) { g.ClusterSize = 1; g.ClusterConfID = 9 }), withGalera(1, func(g *Galera) { g.ClusterSize = 2; g.ClusterConfID = 8 }),
				withGalera(2, func(g *Galera) { g.ClusterSize = 2; g.ClusterConfID = 8 })},
			selected: "", ineligible: []string{"controller-0", "controller-1", "controller-2"}, reason: "none of the 3 nodes is eligible",
			nodeReason: map[string]string{"controller-0": "split brain"},
		},
		{
			name:  "split brain with different state UUIDs",
			nodes: three(0, 0, 0),
			edits: []edit{withGalera(0, func(g *Galera) { g.ClusterSize = 1; g.ClusterStateUUID = "aaaaaaaa-2222" }),
				withGalera(1, func(g *Galera) { g.ClusterSize = 2 }), withGalera(2, func(g *Galera) { g.ClusterSize = 2 })},
			selected: "", ineligible: []string{"controller-0", "controller-1", "controller-2"},
		},
		{
			name:  "evicted node missing from the incoming addresses",
			nodes: three(20, 0, 0),
			edits: []edit{stickOn(0), func(n []Node) {
				for i := range n {
					n[i].Galera.IncomingAddresses = []string{"10.77.0.11:3306", "10.77.0.12:3306"}
				}
			}},
			hap: okHAP, selected: "controller-1", ineligible: []string{"controller-2"},
			nodeReason: map[string]string{"controller-2": "not among its primary component's incoming addresses"},
		},
		{
			name:  "DNS names are not compared with incoming IP addresses",
			nodes: []Node{synced("controller-0", "c0.example.com", 20), synced("controller-1", "c1.example.com", 0), synced("controller-2", "c2.example.com", 0)},
			edits: []edit{stickOn(0)}, hap: okHAP, selected: "controller-1",
		},
		{
			name:  "Pacemaker standby, maintenance and unclean nodes excluded",
			nodes: []Node{synced("controller-0", "10.77.0.11", 30), synced("controller-1", "10.77.0.12", 0), synced("controller-2", "10.77.0.13", 0), synced("controller-3", "10.77.0.14", 0)},
			edits: []edit{healthyPacemaker(0), stickOn(0),
				pcmk(1, func(p *Pacemaker) { p.Standby = true }), pcmk(2, func(p *Pacemaker) { p.Maintenance = true }), pcmk(3, func(p *Pacemaker) { p.Unclean = true; p.Online = false })},
			pcmk: okPcmk, hap: okHAP, selected: "", vip: "controller-0", ineligible: []string{"controller-1", "controller-2", "controller-3"},
			nodeReason: map[string]string{"controller-1": "in standby", "controller-2": "in maintenance", "controller-3": "offline in Pacemaker; unclean (to be fenced)"},
			reason:     "the only eligible node, controller-0, serves clients",
		},
		{
			name:  "demoted, stopped and failed galera excluded",
			nodes: three(0, 0, 0),
			edits: []edit{healthyPacemaker(0), pcmk(0, func(p *Pacemaker) { p.GaleraRole = "Unpromoted" }), pcmk(1, func(p *Pacemaker) { p.GaleraRole = "" }),
				pcmk(2, func(p *Pacemaker) { p.GaleraFailed = true })},
			pcmk: okPcmk, selected: "", vip: "controller-0", ineligible: []string{"controller-0", "controller-1", "controller-2"},
			nodeReason: map[string]string{"controller-0": "galera is Unpromoted here, not promoted", "controller-1": "galera is not running here", "controller-2": "galera failed here"},
		},
		{
			name:  "a remote node whose connection runs on an unclean node is about to be fenced: excluded although online and Promoted",
			nodes: three(30, 0, 0), edits: []edit{healthyPacemaker(0), stickOn(0), pcmk(1, func(p *Pacemaker) { p.ConnectionUnclean = "controller-0" })},
			pcmk: okPcmk, hap: okHAP, selected: "controller-2", vip: "controller-0", ineligible: []string{"controller-1"},
			nodeReason: map[string]string{"controller-1": "its remote connection runs on controller-0, which is unclean (to be fenced, and the connection with it)"},
		},
		{
			name:  "blocked galera excluded: nobody would recover it",
			nodes: three(30, 0, 0), edits: []edit{healthyPacemaker(0), stickOn(0), pcmk(1, func(p *Pacemaker) { p.GaleraBlocked = true })},
			pcmk: okPcmk, hap: okHAP, selected: "controller-2", vip: "controller-0", ineligible: []string{"controller-1"},
			nodeReason: map[string]string{"controller-1": "galera blocked here (Pacemaker cannot act on it)"},
		},
		{
			name:  "unmanaged galera excluded outside a maintenance",
			nodes: three(30, 0, 0), edits: []edit{healthyPacemaker(0), stickOn(0), pcmk(1, func(p *Pacemaker) { p.GaleraUnmanaged = true })},
			pcmk: okPcmk, hap: okHAP, selected: "controller-2", vip: "controller-0", ineligible: []string{"controller-1"},
			nodeReason: map[string]string{"controller-1": "galera unmanaged here (Pacemaker neither monitors nor recovers it)"},
		},
		{
			name:  "a node with a pending shutdown excluded",
			nodes: three(30, 0, 0), edits: []edit{healthyPacemaker(0), stickOn(0), pcmk(1, func(p *Pacemaker) { p.Shutdown = true })},
			pcmk: okPcmk, hap: okHAP, selected: "controller-2", vip: "controller-0", ineligible: []string{"controller-1"},
			nodeReason: map[string]string{"controller-1": "shutting down"},
		},
		{
			name:  "a joining (pending) node excluded",
			nodes: three(30, 0, 0), edits: []edit{healthyPacemaker(0), stickOn(0), pcmk(1, func(p *Pacemaker) { p.Pending = true })},
			pcmk: okPcmk, hap: okHAP, selected: "controller-2", vip: "controller-0", ineligible: []string{"controller-1"},
			nodeReason: map[string]string{"controller-1": "joining the cluster (pending)"},
		},
		{
			name:  "node missing from Pacemaker's status excluded",
			nodes: three(0, 0, 0), edits: []edit{healthyPacemaker(0), func(n []Node) { n[2].Pacemaker = nil }}, pcmk: okPcmk,
			selected: "controller-1", vip: "controller-0", ineligible: []string{"controller-2"}, nodeReason: map[string]string{"controller-2": "not in Pacemaker's status"},
		},
		{
			name:  "Pacemaker unreadable: Galera decides, every row says so",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0)}, pcmk: &PacemakerCluster{Error: "ssh: handshake failed"}, hap: okHAP,
			selected: "controller-1", nodeReason: map[string]string{"controller-1": "Pacemaker not read: ssh: handshake failed"},
		},
		{
			name:  "Pacemaker without quorum is ignored",
			nodes: three(30, 0, 0), edits: []edit{healthyPacemaker(2), stickOn(0), pcmk(1, func(p *Pacemaker) { p.Standby = true })},
			pcmk: &PacemakerCluster{Quorum: false}, hap: okHAP, selected: "controller-1", vip: "",
			nodeReason: map[string]string{"controller-1": "Pacemaker ignored: the answering node has no quorum"},
		},
		{
			name:  "cluster maintenance-mode is noted, not blocking",
			nodes: three(30, 0, 0), edits: []edit{healthyPacemaker(0), stickOn(0)}, pcmk: &PacemakerCluster{Quorum: true, MaintenanceMode: true}, hap: okHAP,
			selected: "controller-1", vip: "controller-0", nodeReason: map[string]string{"controller-1": "cluster in maintenance-mode"},
		},
		{
			name:  "the VIP holder is used when it is the only idle node",
			nodes: three(30, 0, 0), edits: []edit{healthyPacemaker(1), stickOn(0), withGalera(2, func(g *Galera) { g.Desynced = true })}, pcmk: okPcmk, hap: okHAP,
			selected: "controller-1", vip: "controller-1", reason: "the only eligible node that does not serve clients", ineligible: []string{"controller-2"},
		},
		{
			name:  "every node ineligible",
			nodes: three(0, 0, 0),
			edits: []edit{withGalera(0, func(g *Galera) { g.Reachable = false; g.Error = "i/o timeout" }), withGalera(1, func(g *Galera) { g.Desynced = true }),
				withGalera(2, func(g *Galera) { g.LocalState = 1; g.LocalStateComment = "Joining" })},
			selected: "", ineligible: []string{"controller-0", "controller-1", "controller-2"}, reason: "no idle node: none of the 3 nodes is eligible",
		},
		{
			name:  "only the active node is eligible: wait",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0), withGalera(1, func(g *Galera) { g.Desynced = true }), withGalera(2, func(g *Galera) { g.Desynced = true })}, hap: okHAP,
			selected: "", active: "controller-0", reason: "set allowActiveNode to use it", ineligible: []string{"controller-1", "controller-2"},
		},
		{
			name:  "only the active node is eligible and allowActiveNode: use it",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0), withGalera(1, func(g *Galera) { g.Desynced = true }), withGalera(2, func(g *Galera) { g.Desynced = true })}, hap: okHAP,
			policy: Policy{AllowActive: true}, selected: "controller-0", reason: "allowActiveNode is set", ineligible: []string{"controller-1", "controller-2"},
		},
		{
			name:  "allowActiveNode does not win over an idle node",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0)}, hap: okHAP, policy: Policy{AllowActive: true}, selected: "controller-1",
		},
		{
			name:  "all nodes busy: several servers with sessions, the busiest is active",
			nodes: three(10, 12, 11), edits: []edit{hap(0, 3), hap(1, 9), hap(2, 2)}, hap: okHAP,
			selected: "controller-0", active: "controller-1", source: "HAProxy current sessions (most of several)",
		},
		{
			name:  "preferred nodes in order, when eligible",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0), withGalera(2, func(g *Galera) { g.ClientConnections = 5 })}, hap: okHAP,
			policy: Policy{Preferred: []string{"controller-2", "controller-1"}}, selected: "controller-2", reason: "a preferred node",
		},
		{
			name:  "preferred but active: not chosen",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0)}, hap: okHAP,
			policy: Policy{Preferred: []string{"controller-0"}}, selected: "controller-1",
		},
		{
			name:  "excluded node never chosen",
			nodes: three(30, 0, 5), edits: []edit{stickOn(0)}, hap: okHAP,
			policy: Policy{Excluded: []string{"controller-1"}}, selected: "controller-2", ineligible: []string{"controller-1"},
			nodeReason: map[string]string{"controller-1": "excluded by nodeSelection.excludedNodes"},
		},
		{
			name:  "pinned node chosen even with more connections",
			nodes: three(30, 0, 5), edits: []edit{stickOn(0)}, hap: okHAP,
			policy: Policy{Pinned: "controller-2"}, selected: "controller-2", ineligible: []string{"controller-0", "controller-1"},
			nodeReason: map[string]string{"controller-1": "not the pinned node controller-2"},
		},
		{
			name:  "pinned node not eligible: wait",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0), withGalera(2, func(g *Galera) { g.Desynced = true })}, hap: okHAP,
			policy: Policy{Pinned: "controller-2"}, selected: "", ineligible: []string{"controller-0", "controller-1", "controller-2"},
		},
		{
			name:  "pinned node is the active one: wait unless allowed",
			nodes: three(30, 0, 0), edits: []edit{stickOn(0)}, hap: okHAP,
			policy: Policy{Pinned: "controller-0"}, selected: "", reason: "the only eligible node, controller-0, serves clients",
			ineligible: []string{"controller-1", "controller-2"},
		},
		{
			name:  "equal connections: shorter receive queue wins",
			nodes: three(30, 2, 2), edits: []edit{stickOn(0), withGalera(1, func(g *Galera) { g.RecvQueue = 40 })}, hap: okHAP,
			selected: "controller-2", reason: "shortest receive queue (0)",
		},
		{
			name:  "unknown client count sorts last",
			nodes: three(30, -1, 6), edits: []edit{stickOn(0)}, hap: okHAP, selected: "controller-2",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nodes := tc.nodes
			for _, e := range tc.edits {
				e(nodes)
			}
			d := Decide(Snapshot{Nodes: nodes, Pacemaker: tc.pcmk, HAProxy: tc.hap}, tc.policy)
			if d.Selected != tc.selected {
				t.Errorf("selected %q, want %q (reason: %s; rows: %+v)", d.Selected, tc.selected, d.Reason, d.Nodes)
			}
			if tc.active != "" && d.Active != tc.active {
				t.Errorf("active %q, want %q", d.Active, tc.active)
			}
			if tc.source != "" && d.ActiveSource != tc.source {
				t.Errorf("active source %q, want %q", d.ActiveSource, tc.source)
			}
			if d.VIPNode != tc.vip {
				t.Errorf("VIP node %q, want %q", d.VIPNode, tc.vip)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reason)
			}
			if len(d.Nodes) != len(nodes) {
				t.Fatalf("%d rows for %d nodes", len(d.Nodes), len(nodes))
			}
			bad := set(tc.ineligible)
			selectedRows := 0
			for _, r := range d.Nodes {
				if r.Reason == "" {
					t.Errorf("%s has no reason", r.Name)
				}
				if bad[r.Name] == r.Eligible {
					t.Errorf("%s eligible=%v, want %v (reason: %s)", r.Name, r.Eligible, !bad[r.Name], r.Reason)
				}
				if want, ok := tc.nodeReason[r.Name]; ok && !strings.Contains(r.Reason, want) {
					t.Errorf("%s reason %q does not contain %q", r.Name, r.Reason, want)
				}
				if r.Selected {
					selectedRows++
					if r.Name != d.Selected {
						t.Errorf("row %s marked selected, decision says %q", r.Name, d.Selected)
					}
				}
				if r.Name == d.Active && r.Role != RoleActive {
					t.Errorf("active node %s has role %s", r.Name, r.Role)
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.selected != ""]; selectedRows != want {
				t.Errorf("%d rows selected, want %d", selectedRows, want)
			}
			if d.Selected != "" && d.Selected == d.Active && !tc.policy.AllowActive {
				t.Errorf("chose the active node %s without allowActiveNode", d.Selected)
			}
		})
	}
}

// TestDecideIsATotalOrder: the choice does not depend on the order nodes are listed in.
func TestDecideIsATotalOrder(t *testing.T) {
	base := three(0, 0, 0)
	perms := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, p := range perms {
		nodes := []Node{base[p[0]], base[p[1]], base[p[2]]}
		if got := Decide(Snapshot{Nodes: nodes}, Policy{}).Selected; got != "controller-0" {
			t.Errorf("order %v: selected %s, want controller-0", p, got)
		}
	}
}

func TestRoles(t *testing.T) {
	nodes := three(30, 0, 0)
	stickOn(0)(nodes)
	withGalera(1, func(g *Galera) { g.Reachable = false })(nodes)
	withGalera(2, func(g *Galera) { g.ClusterStatus = "non-Primary" })(nodes)
	d := Decide(Snapshot{Nodes: nodes, HAProxy: &HAProxyBackend{}}, Policy{})
	want := []Role{RoleActive, RoleUnknown, RoleUnavailable}
	for i, r := range d.Nodes {
		if r.Role != want[i] {
			t.Errorf("%s role %s, want %s", r.Name, r.Role, want[i])
		}
	}
}

// TestChoiceNamesTheDecidingCriterion: for every criterion of the order, two idle
// candidates that differ in it alone. The one it favours wins although it is second by
// name (but for the name itself), and the decision's reason and the loser's row both give
// that criterion's words: the order and its explanation come from one table.
func TestChoiceNamesTheDecidingCriterion(t *testing.T) {
	cases := []struct {
		criterion     string
		edits         []edit
		policy        Policy
		winner, loser string
		why           string // the deciding criterion's words, exactly
		source        string // the node whose crm_mon gave Pacemaker's view
	}{
		{
			criterion: "Pacemaker's view from another node", source: "controller-1",
			winner: "controller-2", loser: "controller-1",
			why: "another node's Pacemaker view shows it (controller-1's is its own, which a node cut off from Corosync cannot judge)",
		},
		{
			criterion: "preferred", policy: Policy{Preferred: []string{"controller-2"}},
			winner: "controller-2", loser: "controller-1", why: "a preferred node",
		},
		{
			criterion: "preferred", policy: Policy{Preferred: []string{"controller-2", "controller-1"}},
			winner: "controller-2", loser: "controller-1", why: "a preferred node, listed before controller-1",
		},
		{
			criterion: "database VIP", edits: []edit{pcmk(1, func(p *Pacemaker) { p.HoldsVIP = true })},
			winner: "controller-2", loser: "controller-1", why: "does not hold the database VIP (controller-1 does)",
		},
		{
			criterion: "HAProxy next target", edits: []edit{func(n []Node) { n[1].HAProxy.NextTarget = true }},
			winner: "controller-2", loser: "controller-1", why: "HAProxy would send its next client to controller-1",
		},
		{
			criterion: "client connections",
			edits:     []edit{withGalera(1, func(g *Galera) { g.ClientConnections = 5 }), withGalera(2, func(g *Galera) { g.ClientConnections = 4 })},
			winner:    "controller-2", loser: "controller-1", why: "fewest client connections (4)",
		},
		{
			criterion: "client connections", edits: []edit{withGalera(1, func(g *Galera) { g.ClientConnections = -1 })},
			winner: "controller-2", loser: "controller-1", why: "fewest client connections (0; unknown on controller-1)",
		},
		{
			criterion: "receive queue", edits: []edit{withGalera(1, func(g *Galera) { g.RecvQueue = 40 })},
			winner: "controller-2", loser: "controller-1", why: "shortest receive queue (0)",
		},
		{
			criterion: "name",
			winner:    "controller-1", loser: "controller-2", why: "ties with controller-2, first by name",
		},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.criterion+": "+tc.why, func(t *testing.T) {
			covered[tc.criterion] = true
			// controller-0 serves the clients (stick table); controller-1 and controller-2
			// are the candidates; nobody holds the VIP unless a case says so.
			nodes := three(30, 0, 0)
			for _, e := range append([]edit{healthyPacemaker(-1), stickOn(0)}, tc.edits...) {
				e(nodes)
			}
			byName := map[string]candidate{}
			for _, n := range nodes {
				byName[n.Name] = candidate{Node: n, rank: rank(tc.policy.Preferred, n.Name), ownView: n.Name == tc.source}
			}
			w, l := byName[tc.winner], byName[tc.loser]
			for _, c := range criteria {
				if got := c.cmp(w, l); c.name != tc.criterion && c.name != "name" && got != 0 {
					t.Fatalf("the candidates differ in %q too (cmp %d): the case must isolate %q", c.name, got, tc.criterion)
				}
			}
			if r, k := decisive(w, l); r >= 0 || k.name != tc.criterion {
				t.Fatalf("decisive(%s, %s) = %d by %q, want < 0 by %q", tc.winner, tc.loser, r, k.name, tc.criterion)
			}

			d := Decide(Snapshot{Nodes: nodes, Pacemaker: &PacemakerCluster{Quorum: true, Source: tc.source}, HAProxy: &HAProxyBackend{}}, tc.policy)
			if d.Selected != tc.winner {
				t.Fatalf("selected %q, want %q (reason: %s)", d.Selected, tc.winner, d.Reason)
			}
			if want := tc.winner + " is synced and idle: " + tc.why; d.Reason != want {
				t.Errorf("reason %q, want %q", d.Reason, want)
			}
			for _, r := range d.Nodes {
				switch r.Name {
				case tc.winner:
					if strings.Contains(r.Reason, "not chosen") || !strings.HasPrefix(r.Reason, "selected: ") {
						t.Errorf("winner's row %q", r.Reason)
					}
				case tc.loser:
					if want := "; not chosen, " + tc.winner + " goes first: " + tc.why; !strings.HasSuffix(r.Reason, want) {
						t.Errorf("loser's row %q does not end with %q", r.Reason, want)
					}
				default:
					if strings.Contains(r.Reason, "not chosen") {
						t.Errorf("active node's row %q explains a choice it was never part of", r.Reason)
					}
				}
			}
		})
	}
	for _, c := range criteria {
		if !covered[c.name] {
			t.Errorf("criterion %q has no case here", c.name)
		}
	}
}

// TestNotChosenAgainstTheChosen: with three candidates, each one not chosen is told the
// criterion that put the chosen node before it, which need not be the one that decided
// against the runner-up.
func TestNotChosenAgainstTheChosen(t *testing.T) {
	nodes := append(three(30, 2, 2), synced("controller-3", "10.77.0.14", 2))
	for i := range nodes {
		nodes[i].Galera.ClusterSize = 4
		nodes[i].Galera.IncomingAddresses = append(slices.Clone(nodes[i].Galera.IncomingAddresses), "10.77.0.14:3306")
	}
	stickOn(0)(nodes)
	withGalera(2, func(g *Galera) { g.RecvQueue = 9 })(nodes)
	nodes[3].HAProxy.NextTarget = true
	d := Decide(Snapshot{Nodes: nodes, HAProxy: &HAProxyBackend{}}, Policy{})
	if want := "controller-1 is synced and idle: shortest receive queue (0)"; d.Selected != "controller-1" || d.Reason != want {
		t.Fatalf("selected %q: %q, want controller-1: %q", d.Selected, d.Reason, want)
	}
	want := []string{
		"",
		"selected: synced in the primary component, 2 client connections",
		"synced in the primary component, 2 client connections; not chosen, controller-1 goes first: shortest receive queue (0)",
		"synced in the primary component, 2 client connections; not chosen, controller-1 goes first: HAProxy would send its next client to controller-3",
	}
	for i, r := range d.Nodes[1:] {
		if r.Reason != want[i+1] {
			t.Errorf("%s: %q, want %q", r.Name, r.Reason, want[i+1])
		}
	}
}

// galeraOf is the snapshot's copy of a node's status, field for field as internal/probe
// makes it (galeraView).
func galeraOf(st *galera.Status) Galera {
	return Galera{
		Reachable: true, LocalState: int(st.LocalState), LocalStateComment: st.LocalStateComment,
		ClusterStatus: st.ClusterStatus, ClusterSize: st.ClusterSize, ClusterStateUUID: st.ClusterStateUUID,
		ClusterConfID: st.ClusterConfID, Ready: st.Ready, Connected: st.Connected, Desynced: st.Desynced(),
		ClientConnections: st.ClientConnections, RecvQueue: st.RecvQueue,
		FlowControlPausedNs: st.FlowControlPausedNs, IncomingAddresses: st.IncomingAddresses,
	}
}

// TestSyncedAgreesWithTheAgent: on every combination of wsrep_local_state 4/2/1,
// wsrep_cluster_status Primary/non-Primary, wsrep_ready and wsrep_connected ON/OFF and
// no desync, @@wsrep_desync or wsrep_desync_count, the controller and the agent agree.
// The controller's "synced" (Galera.Synced, the node table's and the Overcloud's word) is
// galera.Status.Synced(); and the controller finds the node eligible exactly when the
// agent's re-check (internal/agent recheck: refused when !Synced() || Desynced()) would
// accept it, its reason naming every wsrep variable that failed.
func TestSyncedAgreesWithTheAgent(t *testing.T) {
	states := []struct{ state, comment string }{{"4", "Synced"}, {"2", "Donor/Desynced"}, {"1", "Joining"}}
	desyncs := []struct {
		name         string
		status, vars map[string]string
	}{
		{"no desync", nil, nil},
		{"wsrep_desync=ON", nil, map[string]string{"wsrep_desync": "ON"}},
		{"wsrep_desync_count=1", map[string]string{"wsrep_desync_count": "1"}, nil},
	}
	n := 0
	for _, ls := range states {
		for _, cluster := range []string{"Primary", "non-Primary"} {
			for _, ready := range []string{"ON", "OFF"} {
				for _, connected := range []string{"ON", "OFF"} {
					for _, ds := range desyncs {
						name := fmt.Sprintf("local_state=%s %s, %s, ready=%s, connected=%s, %s", ls.state, ls.comment, cluster, ready, connected, ds.name)
						status := map[string]string{
							"wsrep_local_state": ls.state, "wsrep_local_state_comment": ls.comment,
							"wsrep_cluster_status": cluster, "wsrep_ready": ready, "wsrep_connected": connected,
							"wsrep_cluster_size": "1", "wsrep_cluster_state_uuid": uuid, "wsrep_cluster_conf_id": "7",
							"wsrep_desync_count": "0",
						}
						vars := map[string]string{"wsrep_desync": "OFF", "wsrep_node_name": "controller-0"}
						for k, v := range ds.status {
							status[k] = v
						}
						for k, v := range ds.vars {
							vars[k] = v
						}
						n++
						t.Run(name, func(t *testing.T) {
							st, err := galera.ParseStatus(status, vars)
							if err != nil {
								t.Fatal(err)
							}
							g := galeraOf(st)
							if g.Synced() != st.Synced() {
								t.Errorf("controller synced=%v, galera.Status.Synced()=%v", g.Synced(), st.Synced())
							}
							agentAccepts := st.Synced() && !st.Desynced() // internal/agent recheck
							row := Decide(Snapshot{Nodes: []Node{{Name: "controller-0", Galera: g}}}, Policy{}).Nodes[0]
							if row.Eligible != agentAccepts {
								t.Errorf("controller eligible=%v, agent accepts=%v (reason: %s)", row.Eligible, agentAccepts, row.Reason)
							}
							for _, c := range st.NotSynced() {
								if !strings.Contains(row.Reason, string(c)) {
									t.Errorf("reason %q does not name %s", row.Reason, c)
								}
							}
							if st.Desynced() != strings.Contains(row.Reason, "already desynced") {
								t.Errorf("desynced=%v, reason %q", st.Desynced(), row.Reason)
							}
						})
					}
				}
			}
		}
	}
	if n != 72 {
		t.Errorf("%d wsrep states, want 72", n)
	}
}

// TestPromotedIsPacemakersWord: the role Pacemaker's parser produces for a promoted
// galera (Master normalised) is the one selection accepts.
func TestPromotedIsPacemakersWord(t *testing.T) {
	for role, want := range map[string]bool{"Promoted": true, "Unpromoted": false, "Started": false, "": false} {
		p := &Pacemaker{Online: true, GaleraRole: role}
		if p.promoted() != want {
			t.Errorf("promoted(%q) = %v, want %v", role, p.promoted(), want)
		}
		if got := slices.ContainsFunc(pacemakerProblems(p), func(s string) bool { return strings.Contains(s, "not promoted") }); got == want {
			t.Errorf("role %q: problems %v", role, pacemakerProblems(p))
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	nodes := three(30, 0, 0)
	healthyPacemaker(1)(nodes)
	stickOn(0)(nodes)
	s := Snapshot{Nodes: nodes, Pacemaker: &PacemakerCluster{Quorum: true}, HAProxy: &HAProxyBackend{}}
	for b.Loop() {
		_ = Decide(s, Policy{Preferred: []string{"controller-2"}})
	}
}

// TestSplitBrainFlag: Decision.SplitBrain is set when several self-consistent primary
// components claim the cluster, and only then (a stale view is not a split brain).
func TestSplitBrainFlag(t *testing.T) {
	cases := []struct {
		name  string
		edits []edit
		want  bool
	}{
		{name: "healthy", want: false},
		{name: "split brain: conf_ids differ", want: true, edits: []edit{
			withGalera(0, func(g *Galera) { g.ClusterSize = 1; g.ClusterConfID = 9 }),
			withGalera(1, func(g *Galera) { g.ClusterSize = 2; g.ClusterConfID = 8 }),
			withGalera(2, func(g *Galera) { g.ClusterSize = 2; g.ClusterConfID = 8 })}},
		{name: "split brain: state UUIDs differ", want: true, edits: []edit{
			withGalera(0, func(g *Galera) { g.ClusterSize = 1; g.ClusterStateUUID = "aaaaaaaa-2222" }),
			withGalera(1, func(g *Galera) { g.ClusterSize = 2 }), withGalera(2, func(g *Galera) { g.ClusterSize = 2 })}},
		{name: "stale view of a frozen node", want: false, edits: []edit{
			withGalera(0, func(g *Galera) { g.ClusterSize = 2; g.ClusterConfID = 8 }),
			withGalera(1, func(g *Galera) { g.ClusterSize = 2; g.ClusterConfID = 8 })}},
		{name: "one node non-Primary", want: false, edits: []edit{
			withGalera(2, func(g *Galera) { g.ClusterStatus = "non-Primary"; g.ClusterSize = 1 })}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nodes := three(0, 0, 0)
			for _, e := range tc.edits {
				e(nodes)
			}
			d := Decide(Snapshot{Nodes: nodes}, Policy{})
			if d.SplitBrain != tc.want {
				t.Errorf("SplitBrain=%v, want %v (reason: %s)", d.SplitBrain, tc.want, d.Reason)
			}
			if tc.want && d.Selected != "" {
				t.Errorf("selected %q during a split brain", d.Selected)
			}
		})
	}
}
