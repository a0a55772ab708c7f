package pacemaker

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Role is a resource's role as crm_mon reports it, normalised to pacemaker 2.1's words.
type Role string

// The roles a galera instance or the VIP can have. Pacemaker 1.1 and 2.0 say Master and Slave;
// Parse turns those into Promoted and Unpromoted.
const (
	RolePromoted   Role = "Promoted"
	RoleUnpromoted Role = "Unpromoted"
	RoleStarted    Role = "Started"
	RoleStopped    Role = "Stopped"
	RoleUnknown    Role = "Unknown"
)

// rank orders roles from the least to the most useful, to merge instances conservatively.
func (r Role) rank() int {
	switch r {
	case RolePromoted:
		return 4
	case RoleUnpromoted:
		return 3
	case RoleStarted:
		return 2
	case RoleUnknown:
		return 1
	default:
		return 0
	}
}

// NormaliseRole maps crm_mon's role words, old and new, to a Role. Anything it does not know is
// RoleUnknown.
func NormaliseRole(s string) Role {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "promoted", "master":
		return RolePromoted
	case "unpromoted", "slave":
		return RoleUnpromoted
	case "started":
		return RoleStarted
	case "stopped":
		return RoleStopped
	default:
		return RoleUnknown
	}
}

// NodeType says what kind of node Pacemaker shows.
type NodeType string

// Node types. crm_mon says "remote" for both pacemaker remote nodes and guest nodes; Parse calls a
// remote node a guest when it is the guest of a container (a bundle replica such as
// galera-bundle-0, or a resource with the remote-node meta attribute).
const (
	NodeMember NodeType = "member"
	NodeRemote NodeType = "remote"
	NodeGuest  NodeType = "guest"
	NodePing   NodeType = "ping"
	NodeOther  NodeType = "unknown"
)

// Node is one entry of crm_mon's node list.
type Node struct {
	// Name is the node's uname (controller-0, database-1, galera-bundle-2).
	Name string
	// ID is the node's id (corosync node id, or the name for remote and guest nodes).
	ID string
	// Type is member, remote, guest or ping.
	Type NodeType
	// Host is, for a guest node, the node that runs its container (after following nested guests);
	// empty when the container is not running or for other node types.
	Host string
	// Online is true when the node is a member of the cluster (or its connection is up).
	Online bool
	// Standby is true when the node was put in standby by an administrator.
	Standby bool
	// StandbyOnFail is true when Pacemaker put the node in standby after a failure (on-fail=standby).
	StandbyOnFail bool
	// Maintenance is true when the node (or, for guests, the cluster) is in maintenance.
	Maintenance bool
	// Pending is true while the node is joining.
	Pending bool
	// Unclean is true when the node's state is unknown and it must be fenced.
	Unclean bool
	// Shutdown is true while the node is shutting down.
	Shutdown bool
	// DC is true for the designated controller.
	DC bool
	// Connection is, for a pacemaker remote node, the cluster node that runs its connection
	// resource (ocf:pacemaker:remote named like the node); empty when it runs nowhere or for
	// other node types. When that node is UNCLEAN, Pacemaker fences it and the connection
	// with it: crm_mon still shows the remote node online with its resources until then.
	Connection string
}

// GaleraInstance is one galera instance as placed by Pacemaker.
type GaleraInstance struct {
	// Host is the cluster node (member or pacemaker remote node) where galera runs: for bundles the
	// node that runs the replica's container. Empty when Pacemaker shows no node for it.
	Host string
	// Guest is the bundle guest node running galera (galera-bundle-N), empty for clones.
	Guest string
	// Role is the normalised role: Promoted, Unpromoted, Started, Stopped or Unknown.
	Role Role
	// Active is crm_mon's active flag: false for an instance Pacemaker only remembers.
	Active bool
	// Failed is true when the instance has a failure Pacemaker has not recovered from yet.
	Failed bool
	// Managed is false when the resource, its node or the cluster is in maintenance or unmanaged.
	Managed bool
	// Blocked is true when Pacemaker cannot act on the instance (a failed stop, on-fail=block).
	Blocked bool
}

// Promoted reports whether galera is promoted, active and not failed: the state in which a node
// can serve as a backup source.
func (g GaleraInstance) Promoted() bool {
	return g.Role == RolePromoted && g.Active && !g.Failed
}

// VIP is the placement of the database VIP resource.
type VIP struct {
	// Resource is the id of the IPaddr2 resource found.
	Resource string
	// Node is the node where the VIP is active; empty when it is stopped.
	Node string
	// Role is the normalised role (Started or Stopped).
	Role Role
	// Active, Failed and Managed are crm_mon's flags for the resource.
	Active, Failed, Managed bool
}

// Status is what Parse makes of one crm_mon document.
type Status struct {
	// Host is the host whose crm_mon answered; set by Probe, empty after Parse.
	Host string
	// Format is "pacemaker-result" (crm_mon --output-as=xml) or "crm_mon" (legacy --as-xml).
	Format string
	// Version is the api-version of a pacemaker-result or the version of a legacy document.
	Version string
	// Stack is the cluster stack (corosync).
	Stack string
	// DC is the name of the designated controller, empty when there is none.
	DC string
	// WithQuorum is true when the DC's partition has quorum.
	WithQuorum bool
	// MaintenanceMode is the cluster property maintenance-mode: Pacemaker manages nothing.
	MaintenanceMode bool
	// StopAllResources is the cluster property stop-all-resources.
	StopAllResources bool
	// Nodes are the nodes in crm_mon's order.
	Nodes []Node
	// GaleraResource is the id of the galera bundle, clone or primitive that was read.
	GaleraResource string
	// Galera are the galera instances, one per placement, in document order.
	Galera []GaleraInstance
	// VIP is the database VIP's placement; nil when no VIP was asked for or it was not found.
	VIP *VIP

	// galeraByHost is Galera merged per host (GaleraOn's answer for each host), made once by
	// Parse so that reading every node is linear; nil for a Status built by hand.
	galeraByHost map[string]GaleraInstance
}

// Node returns the node with the given name.
func (s *Status) Node(name string) (Node, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// GaleraOn returns galera's state on host, a member or pacemaker remote node. With no instance
// there it reports RoleStopped. When Pacemaker shows several instances on one host (a multi-active
// failure), they are merged conservatively: the lowest role, failed or blocked if any is, managed
// only if all are.
func (s *Status) GaleraOn(host string) GaleraInstance {
	if s.galeraByHost != nil {
		if g, ok := s.galeraByHost[host]; ok {
			return g
		}
		return GaleraInstance{Host: host, Role: RoleStopped, Managed: true}
	}
	out := GaleraInstance{Host: host, Role: RoleStopped, Managed: true}
	found := false
	for _, g := range s.Galera {
		if g.Host == host {
			out, found = mergeInstance(out, g, found), true
		}
	}
	return out
}

// indexGalera makes galeraByHost: every instance merged into its host's, in one pass.
func (s *Status) indexGalera() {
	m := make(map[string]GaleraInstance, len(s.Galera))
	for _, g := range s.Galera {
		if g.Host == "" {
			continue
		}
		out, found := m[g.Host]
		m[g.Host] = mergeInstance(out, g, found)
	}
	s.galeraByHost = m
}

// mergeInstance adds g to out, the instances already found on the same host (none when
// !found): the lowest role, failed or blocked if any is, active and managed only if all are.
func mergeInstance(out, g GaleraInstance, found bool) GaleraInstance {
	if !found {
		return g
	}
	if g.Role.rank() < out.Role.rank() {
		out.Role = g.Role
	}
	out.Active = out.Active && g.Active
	out.Failed = out.Failed || g.Failed
	out.Blocked = out.Blocked || g.Blocked
	out.Managed = out.Managed && g.Managed
	if out.Guest == "" {
		out.Guest = g.Guest
	}
	return out
}

// Options say which resources Parse reads.
type Options struct {
	// GaleraResource is the id of the galera bundle, clone or primitive. Empty: the first of
	// galera-bundle, galera-master, galera-clone, galera that exists.
	GaleraResource string
	// VIPResource is the id of the database VIP resource. Empty: ip-<VIP> (TripleO's naming).
	VIPResource string
	// VIP is the database VIP address, used to derive the resource id when VIPResource is empty.
	VIP string
}

// DefaultGaleraResources are the ids looked for, in order, when Options.GaleraResource is empty:
// TripleO's bundle, then the older promotable clone (ms) names, then a bare primitive.
var DefaultGaleraResources = []string{"galera-bundle", "galera-master", "galera-clone", "galera"}

// ErrMalformed is wrapped by Parse errors about documents that are not a usable crm_mon status.
var ErrMalformed = errors.New("not a usable crm_mon status")

// ErrGaleraNotFound is wrapped when the document has no galera resource by the names looked for.
var ErrGaleraNotFound = errors.New("galera resource not found")

// ResultError is crm_mon's own report of a failure: a non-zero <status code> or <errors>.
type ResultError struct {
	// Code is the status code (crm_exit_t: 102 is "Not connected"); 0 when only <errors> told.
	Code int
	// Message is the status message ("Not connected", "OK").
	Message string
	// Errors are the <error> texts.
	Errors []string
}

// Error implements error.
func (e *ResultError) Error() string {
	var b strings.Builder
	b.WriteString("crm_mon reported")
	if e.Code != 0 {
		fmt.Fprintf(&b, " status %d", e.Code)
		if e.Message != "" {
			fmt.Fprintf(&b, " (%s)", e.Message)
		}
	}
	if len(e.Errors) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Errors, "; "))
	}
	return b.String()
}

func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y", "on", "1":
		return true
	}
	return false
}

func parseCode(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return -1
	}
	return n
}
