package pacemaker

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// maxGuestDepth bounds the walk from a guest node to its host (a bundle on a remote node is two
// steps; anything deeper is a loop in a damaged document).
const maxGuestDepth = 8

// Parse reads crm_mon's XML status. It does no I/O. See the package documentation for the formats
// accepted; errors wrap ErrMalformed, ErrGaleraNotFound or are a *ResultError.
func Parse(data []byte, opts Options) (*Status, error) {
	var doc xmlDocument
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: decoding XML: %w", ErrMalformed, err)
	}
	st := &Status{}
	switch doc.XMLName.Local {
	case "pacemaker-result":
		st.Format, st.Version = "pacemaker-result", doc.APIVersion
	case "crm_mon":
		st.Format, st.Version = "crm_mon", doc.Version
	default:
		return nil, fmt.Errorf("%w: unexpected root element <%s>", ErrMalformed, doc.XMLName.Local)
	}
	if err := resultError(&doc); err != nil {
		return nil, err
	}
	if doc.Summary == nil {
		return nil, fmt.Errorf("%w: no <summary> (crm_mon could not read the CIB)", ErrMalformed)
	}
	if len(doc.Nodes) == 0 {
		return nil, fmt.Errorf("%w: no nodes", ErrMalformed)
	}

	sum := doc.Summary
	st.Stack = sum.Stack.Type
	if parseBool(sum.CurrentDC.Present) {
		st.DC = sum.CurrentDC.Name
		st.WithQuorum = parseBool(sum.CurrentDC.WithQuorum)
	}
	st.MaintenanceMode = parseBool(sum.ClusterOptions.MaintenanceMode)
	st.StopAllResources = parseBool(sum.ClusterOptions.StopAllResources)

	idx := indexResources(&doc.Resources)
	st.Nodes = make([]Node, 0, len(doc.Nodes))
	for _, xn := range doc.Nodes {
		if xn.Name == "" {
			return nil, fmt.Errorf("%w: a node without a name", ErrMalformed)
		}
		st.Nodes = append(st.Nodes, Node{
			Name:          xn.Name,
			ID:            xn.ID,
			Type:          nodeType(xn, idx),
			Online:        parseBool(xn.Online),
			Standby:       parseBool(xn.Standby),
			StandbyOnFail: parseBool(xn.StandbyOnFail),
			Maintenance:   parseBool(xn.Maintenance),
			Pending:       parseBool(xn.Pending),
			Unclean:       parseBool(xn.Unclean),
			Shutdown:      parseBool(xn.Shutdown),
			DC:            parseBool(xn.IsDC),
		})
	}
	hosts := newHostResolver(doc.Nodes, idx)
	for i := range st.Nodes {
		switch st.Nodes[i].Type {
		case NodeGuest:
			st.Nodes[i].Host = hosts.host(st.Nodes[i].Name)
		case NodeRemote:
			st.Nodes[i].Connection = remoteConnection(st.Nodes[i].Name, idx)
		}
	}

	id, instances, ok := findGalera(&doc.Resources, opts.GaleraResource, hosts)
	if !ok {
		want := strings.Join(DefaultGaleraResources, ", ")
		if opts.GaleraResource != "" {
			want = opts.GaleraResource
		}
		return nil, fmt.Errorf("%w: looked for %s", ErrGaleraNotFound, want)
	}
	st.GaleraResource, st.Galera = id, instances
	st.indexGalera()

	vipID := opts.VIPResource
	if vipID == "" && opts.VIP != "" {
		vipID = "ip-" + opts.VIP
	}
	if vipID != "" {
		st.VIP = findVIP(&doc.Resources, vipID)
	}
	return st, nil
}

// resultError returns crm_mon's own error report, if the document has one.
func resultError(doc *xmlDocument) error {
	e := &ResultError{}
	e.Errors = append(e.Errors, doc.Errors...)
	if doc.Status != nil {
		e.Code = parseCode(doc.Status.Code)
		e.Message = doc.Status.Message
		e.Errors = append(e.Errors, doc.Status.Errors...)
	}
	for i, s := range e.Errors {
		e.Errors[i] = strings.TrimSpace(s)
	}
	if e.Code != 0 || len(e.Errors) > 0 {
		return e
	}
	return nil
}

// indexed is a primitive found in the document; bundle is true inside a bundle replica.
type indexed struct {
	*xmlResource
	bundle bool
}

// resourceIndex finds every primitive in the document by id; a clone's instances share one id.
type resourceIndex map[string][]indexed

func indexResources(rs *xmlResources) resourceIndex {
	idx := resourceIndex{}
	add := func(list []xmlResource, bundle bool) {
		for i := range list {
			idx[list[i].ID] = append(idx[list[i].ID], indexed{&list[i], bundle})
		}
	}
	add(rs.Resources, false)
	for i := range rs.Groups {
		add(rs.Groups[i].Resources, false)
	}
	for i := range rs.Clones {
		add(rs.Clones[i].Resources, false)
		for j := range rs.Clones[i].Groups {
			add(rs.Clones[i].Groups[j].Resources, false)
		}
	}
	for i := range rs.Bundles {
		for j := range rs.Bundles[i].Replicas {
			add(rs.Bundles[i].Replicas[j].Resources, true)
		}
	}
	return idx
}

// firstNode is the first node a resource is placed on, or "".
func firstNode(r *xmlResource) string {
	for _, n := range r.Nodes {
		if n.Name != "" {
			return n.Name
		}
	}
	return ""
}

func nodeType(xn xmlNode, idx resourceIndex) NodeType {
	switch strings.ToLower(xn.Type) {
	case "member", "normal", "":
		return NodeMember
	case "ping":
		return NodePing
	case "remote":
		if xn.IDAsResource != "" {
			return NodeGuest
		}
		// A bundle guest whose container crm_mon did not name: the remote connection resource
		// of a bundle replica carries the guest's name.
		for _, r := range idx[xn.Name] {
			if r.bundle && isRemoteAgent(r.Agent) {
				return NodeGuest
			}
		}
		return NodeRemote
	default:
		return NodeOther
	}
}

// remoteConnection is the node running the connection resource of the pacemaker remote
// node name (an ocf:pacemaker:remote primitive outside bundles, named like the node).
func remoteConnection(name string, idx resourceIndex) string {
	for _, r := range idx[name] {
		if !r.bundle && isRemoteAgent(r.Agent) && parseBool(r.Active) {
			if node := firstNode(r.xmlResource); node != "" {
				return node
			}
		}
	}
	return ""
}

// hostResolver maps guest nodes to the node that runs their container.
type hostResolver struct {
	nodes map[string]xmlNode
	idx   resourceIndex
}

func newHostResolver(nodes []xmlNode, idx resourceIndex) *hostResolver {
	m := make(map[string]xmlNode, len(nodes))
	for _, n := range nodes {
		if _, dup := m[n.Name]; !dup {
			m[n.Name] = n
		}
	}
	return &hostResolver{nodes: m, idx: idx}
}

// direct returns the node that runs guest's container, one step up, or "".
func (h *hostResolver) direct(guest string) string {
	n, ok := h.nodes[guest]
	if !ok || strings.ToLower(n.Type) != "remote" {
		return ""
	}
	if n.IDAsResource != "" {
		for _, r := range h.idx[n.IDAsResource] {
			if node := firstNode(r.xmlResource); node != "" {
				return node
			}
		}
	}
	// Bundle guests: the replica's connection resource (named like the guest) runs on the host.
	for _, r := range h.idx[guest] {
		if r.bundle && isRemoteAgent(r.Agent) {
			if node := firstNode(r.xmlResource); node != "" {
				return node
			}
		}
	}
	return ""
}

// isGuest reports whether name is a guest node (not a member and not a pacemaker remote node).
func (h *hostResolver) isGuest(name string) bool {
	n, ok := h.nodes[name]
	if !ok {
		return false
	}
	return nodeType(n, h.idx) == NodeGuest
}

// host follows guest → container host until it reaches a member or remote node; "" if unknown.
func (h *hostResolver) host(name string) string {
	cur := name
	for range maxGuestDepth {
		if !h.isGuest(cur) {
			if cur == name {
				return ""
			}
			return cur
		}
		next := h.direct(cur)
		if next == "" {
			return ""
		}
		cur = next
	}
	return ""
}

// placement is the host (member or remote node) for a node a resource runs on.
func (h *hostResolver) placement(node string) (host, guest string) {
	if node == "" {
		return "", ""
	}
	if h.isGuest(node) {
		return h.host(node), node
	}
	return node, ""
}

func isRemoteAgent(agent string) bool {
	return strings.EqualFold(agentType(agent), "remote") && strings.EqualFold(agentProvider(agent), "pacemaker")
}

func isContainerAgent(agent string) bool {
	switch strings.ToLower(agentType(agent)) {
	case "podman", "docker", "rkt":
		return true
	}
	return false
}

// agentType is the type part of "ocf:heartbeat:galera", "ocf::heartbeat:galera" (1.1) or
// "systemd:haproxy".
func agentType(agent string) string {
	if i := strings.LastIndexByte(agent, ':'); i >= 0 {
		return agent[i+1:]
	}
	return agent
}

func agentProvider(agent string) string {
	parts := strings.Split(agent, ":")
	if len(parts) < 3 {
		return ""
	}
	return parts[len(parts)-2]
}

func toInstance(r *xmlResource, host, guest string) GaleraInstance {
	return GaleraInstance{
		Host:    host,
		Guest:   guest,
		Role:    NormaliseRole(r.Role),
		Active:  parseBool(r.Active),
		Failed:  parseBool(r.Failed),
		Managed: parseBool(r.Managed),
		Blocked: parseBool(r.Blocked),
	}
}

// clusterInstances turns the resources of a clone (or a lone primitive) into instances: one per
// node it is placed on; inactive instances without a node are left out (crm_mon --inactive lists
// them, but they say nothing about any host).
func clusterInstances(list []*xmlResource, h *hostResolver) []GaleraInstance {
	var out []GaleraInstance
	for _, r := range list {
		for _, n := range r.Nodes {
			if n.Name == "" {
				continue
			}
			host, guest := h.placement(n.Name)
			out = append(out, toInstance(r, host, guest))
		}
	}
	return out
}

// bundleInstances reads each replica: the inner resource's state, placed on the host that runs
// the replica's container (or its connection). A replica whose galera is stopped inside a running
// container still names the host.
func bundleInstances(b *xmlBundle, inner string, h *hostResolver) []GaleraInstance {
	var out []GaleraInstance
	for ri := range b.Replicas {
		rep := &b.Replicas[ri]
		var containerHost, connHost string
		var primaries []*xmlResource
		for i := range rep.Resources {
			r := &rep.Resources[i]
			switch {
			case isContainerAgent(r.Agent):
				containerHost = firstNode(r)
			case isRemoteAgent(r.Agent):
				connHost = firstNode(r)
			case strings.HasPrefix(r.ID, b.ID+"-ip-"):
				// The replica's own address (bundle network ip-range-start).
			case inner == "" || r.ID == inner:
				primaries = append(primaries, r)
			}
		}
		replicaHost := containerHost
		if replicaHost == "" {
			replicaHost = connHost
		}
		if replicaHost != "" {
			// The container host may itself be a guest (nested): resolve it.
			if host, _ := h.placement(replicaHost); host != "" {
				replicaHost = host
			}
		}
		for _, r := range primaries {
			guest := firstNode(r)
			host := replicaHost
			if host == "" && guest != "" {
				host, _ = h.placement(guest)
			}
			if host == "" && guest == "" {
				continue
			}
			out = append(out, toInstance(r, host, guest))
		}
	}
	return out
}

// findGalera looks for the galera resource by the given id, or by DefaultGaleraResources.
func findGalera(rs *xmlResources, id string, h *hostResolver) (string, []GaleraInstance, bool) {
	names := DefaultGaleraResources
	if id != "" {
		names = []string{id}
	}
	for _, name := range names {
		if inst, ok := galeraByName(rs, name, h); ok {
			return name, inst, true
		}
	}
	return "", nil, false
}

func galeraByName(rs *xmlResources, name string, h *hostResolver) ([]GaleraInstance, bool) {
	// A bundle or clone with that id.
	for i := range rs.Bundles {
		if rs.Bundles[i].ID == name {
			return bundleInstances(&rs.Bundles[i], "", h), true
		}
	}
	for i := range rs.Clones {
		if rs.Clones[i].ID == name {
			return clusterInstances(cloneResources(&rs.Clones[i]), h), true
		}
	}
	// A primitive with that id: inside a bundle, inside a clone, or on its own.
	if b := bundleWithPrimitive(rs, name); b != nil {
		return bundleInstances(b, name, h), true
	}
	for i := range rs.Clones {
		if list := withID(cloneResources(&rs.Clones[i]), name); len(list) > 0 {
			return clusterInstances(list, h), true
		}
	}
	var top []*xmlResource
	for i := range rs.Resources {
		top = append(top, &rs.Resources[i])
	}
	for i := range rs.Groups {
		for j := range rs.Groups[i].Resources {
			top = append(top, &rs.Groups[i].Resources[j])
		}
	}
	if list := withID(top, name); len(list) > 0 {
		return clusterInstances(list, h), true
	}
	return nil, false
}

// bundleWithPrimitive returns the bundle whose inner primitive is called name.
func bundleWithPrimitive(rs *xmlResources, name string) *xmlBundle {
	for i := range rs.Bundles {
		for _, rep := range rs.Bundles[i].Replicas {
			for _, r := range rep.Resources {
				if r.ID == name && !isContainerAgent(r.Agent) && !isRemoteAgent(r.Agent) {
					return &rs.Bundles[i]
				}
			}
		}
	}
	return nil
}

func withID(list []*xmlResource, id string) []*xmlResource {
	var out []*xmlResource
	for _, r := range list {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out
}

func cloneResources(c *xmlClone) []*xmlResource {
	var out []*xmlResource
	for i := range c.Resources {
		out = append(out, &c.Resources[i])
	}
	for i := range c.Groups {
		for j := range c.Groups[i].Resources {
			out = append(out, &c.Groups[i].Resources[j])
		}
	}
	return out
}

// findVIP returns where the VIP resource with the given id runs; nil if there is none.
func findVIP(rs *xmlResources, id string) *VIP {
	var found *VIP
	consider := func(r *xmlResource) {
		if r.ID != id {
			return
		}
		v := &VIP{
			Resource: r.ID,
			Node:     firstNode(r),
			Role:     NormaliseRole(r.Role),
			Active:   parseBool(r.Active),
			Failed:   parseBool(r.Failed),
			Managed:  parseBool(r.Managed),
		}
		if !v.Active {
			v.Node = ""
		}
		// Prefer an active placement over a remembered one.
		if found == nil || (!found.Active && v.Active) {
			found = v
		}
	}
	for i := range rs.Resources {
		consider(&rs.Resources[i])
	}
	for i := range rs.Groups {
		for j := range rs.Groups[i].Resources {
			consider(&rs.Groups[i].Resources[j])
		}
	}
	return found
}
