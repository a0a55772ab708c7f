// Package probe gathers one snapshot of an overcloud: every node's Galera status, the
// Pacemaker status and HAProxy's view of the database backend, all in parallel, each
// call with its own deadline, so one hung node costs one timeout, never one per node.
// The snapshot feeds the pure decision in internal/selection.
package probe

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// Node is one host of the overcloud.
type Node struct {
	Name      string
	Address   string
	MySQLPort int
	SSHPort   int
}

// GaleraSource reads one node's wsrep status (galera.Prober).
type GaleraSource interface {
	Probe(ctx context.Context, addr string) (*galera.Status, error)
}

// PacemakerView is what one node's crm_mon said of the whole cluster.
type PacemakerView struct {
	Cluster selection.PacemakerCluster
	// Nodes maps a node name to its state; a node missing here is not in the status.
	Nodes map[string]selection.Pacemaker
}

// PacemakerSource reads the cluster status through one node (crm_mon over SSH).
type PacemakerSource interface {
	Status(ctx context.Context, node Node) (*PacemakerView, error)
}

// HAProxyView is what one HAProxy said of the database backend.
type HAProxyView struct {
	// Servers maps a node name to its server's state.
	Servers map[string]selection.HAProxyServer
	// Clients is true when the view shows clients: a stick entry or sessions.
	Clients bool
}

// HAProxySource reads HAProxy's view of the backend. Through a node (the stats socket
// over SSH) when node is not nil, or directly (the HTTP stats page) when it is.
type HAProxySource interface {
	Read(ctx context.Context, node *Node, nodes []Node) (*HAProxyView, error)
}

// Target is what to probe and with what.
type Target struct {
	Nodes  []Node
	Galera GaleraSource
	// Pacemaker is nil when Pacemaker is not configured.
	Pacemaker PacemakerSource
	// HAProxyHTTP and HAProxySocket are nil when not configured.
	HAProxyHTTP   HAProxySource
	HAProxySocket HAProxySource
	// Timeout bounds every single call (one node's Galera probe, one crm_mon run...).
	Timeout time.Duration
	// AskLast names the nodes to ask Pacemaker through last, in that order, the last one
	// last of all. The watch names the node a backup would use and then the node serving
	// clients, as the last probe found them: crm_mon runs on an idle node whenever one
	// answers, and on the one a backup would not use. The view a node gives of itself
	// counts least in the choice (PacemakerCluster.Source), so asking the chosen node
	// would make the choice flip to another idle node from one probe to the next.
	AskLast []string
	// StatsPageLast reads HAProxy's stats page only when the stats socket did not
	// decide (socketDecides): both show the VIP holder's HAProxy, and a watch, unlike a
	// backup waiting on its probe, need not buy latency with a second read.
	StatsPageLast bool

	// closers release what the sources keep between probes (SSH connections).
	closers []func()
	// vipHint remembers the VIP holder of the last probe (index+1, 0 for none), so the
	// next probe reads that node's stats socket while Pacemaker is still being asked.
	vipHint *atomic.Int32
}

// Close releases the connections the sources keep between probes.
func (t Target) Close() {
	for _, c := range t.closers {
		c()
	}
}

// Gather probes everything at once and returns the snapshot. It never fails: what a
// source could not read is recorded in the snapshot for the decision to explain.
func Gather(ctx context.Context, t Target) selection.Snapshot {
	timeout := t.callTimeout()
	call := func(f func(context.Context)) func() {
		return func() {
			c, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			f(c)
		}
	}
	n := len(t.Nodes)
	gal := make([]*galera.Status, n)
	galErr := make([]error, n)
	sock := make([]*HAProxyView, n)
	sockErr := make([]error, n)
	var view *PacemakerView
	var pcmkErrs []error
	var http *HAProxyView
	var httpErr error

	var wg sync.WaitGroup
	for i, node := range t.Nodes {
		addr := net.JoinHostPort(node.Address, strconv.Itoa(node.MySQLPort))
		wg.Go(call(func(c context.Context) { gal[i], galErr[i] = t.Galera.Probe(c, addr) }))
	}
	httpLast := t.StatsPageLast && t.HAProxySocket != nil
	if t.HAProxyHTTP != nil && !httpLast {
		wg.Go(call(func(c context.Context) { http, httpErr = t.HAProxyHTTP.Read(c, nil, t.Nodes) }))
	}
	// Pacemaker's status is cluster-wide: one answer is enough, so nodes are asked one
	// after the other, the next one as soon as one fails or is slow (a hedged request).
	// The stats socket then goes to the VIP holder, the only HAProxy clients reach. Both
	// share one deadline, so this chain costs at most one timeout too.
	if t.Pacemaker != nil || t.HAProxySocket != nil {
		wg.Go(call(func(c context.Context) { view, pcmkErrs = t.pacemakerThenSocket(c, sock, sockErr) }))
	}
	wg.Wait()
	if t.HAProxyHTTP != nil && httpLast && !socketDecides(t.Nodes, view, sock) {
		call(func(c context.Context) { http, httpErr = t.HAProxyHTTP.Read(c, nil, t.Nodes) })()
	}

	s := selection.Snapshot{Nodes: make([]selection.Node, n)}
	for i, node := range t.Nodes {
		s.Nodes[i] = selection.Node{Name: node.Name, Address: node.Address, Galera: galeraView(gal[i], galErr[i])}
	}
	if t.Pacemaker != nil {
		addPacemaker(&s, view, pcmkErrs)
	}

	if t.HAProxyHTTP != nil || t.HAProxySocket != nil {
		hv, backend := pickHAProxy(t.Nodes, view, sock, sockErr, http, httpErr, t.HAProxySocket != nil, t.HAProxyHTTP != nil)
		s.HAProxy = backend
		if hv != nil {
			for i := range s.Nodes {
				if srv, ok := hv.Servers[s.Nodes[i].Name]; ok {
					s.Nodes[i].HAProxy = &srv
				}
			}
		}
	}
	return s
}

func galeraView(st *galera.Status, err error) selection.Galera {
	if err != nil || st == nil {
		msg := "no status"
		if err != nil {
			msg = err.Error()
		}
		return selection.Galera{Error: msg, ClientConnections: -1}
	}
	return selection.Galera{
		Reachable:           true,
		LocalState:          int(st.LocalState),
		LocalStateComment:   st.LocalStateComment,
		ClusterStatus:       st.ClusterStatus,
		ClusterSize:         st.ClusterSize,
		ClusterStateUUID:    st.ClusterStateUUID,
		ClusterConfID:       st.ClusterConfID,
		Ready:               st.Ready,
		Connected:           st.Connected,
		Desynced:            st.Desynced(),
		ClientConnections:   st.ClientConnections,
		RecvQueue:           st.RecvQueue,
		FlowControlPausedNs: st.FlowControlPausedNs,
		IncomingAddresses:   st.IncomingAddresses,
	}
}

// pacemakerThenSocket asks Pacemaker (hedged over the nodes), then reads the stats socket
// of the VIP holder. The holder of the last probe is read while Pacemaker is asked, so a
// VIP that did not move costs no extra round trip.
func (t Target) pacemakerThenSocket(c context.Context, sock []*HAProxyView, sockErr []error) (view *PacemakerView, errs []error) {
	n := len(t.Nodes)
	timeout := t.callTimeout()
	hint := -1
	if t.vipHint != nil {
		hint = int(t.vipHint.Load()) - 1
	}
	type answer struct {
		view *HAProxyView
		err  error
	}
	var early chan answer
	if t.HAProxySocket != nil && hint >= 0 && hint < n {
		early = make(chan answer, 1)
		go func() {
			v, err := t.HAProxySocket.Read(c, &t.Nodes[hint], t.Nodes)
			early <- answer{v, err}
		}()
	}
	if t.Pacemaker != nil {
		view, errs = firstPacemaker(c, t.Pacemaker, lastOf(t.Nodes, t.AskLast...), hedgeDelay(timeout))
	}
	holder := vipHolder(view, t.Nodes)
	if t.vipHint != nil {
		t.vipHint.Store(int32(holder + 1)) //nolint:gosec // G115: a node index
	}
	if t.HAProxySocket == nil {
		return view, errs
	}
	if early != nil && holder == hint {
		a := <-early
		sock[hint], sockErr[hint] = a.view, a.err
		if a.err == nil {
			return view, errs
		}
	}
	// The VIP moved, or its holder is unknown: that early answer (if any) is dropped.
	readSockets(c, t.HAProxySocket, t.Nodes, holder, sock, sockErr)
	return view, errs
}

// callTimeout bounds one call of a probe: Timeout, or 5 s when unset.
func (t Target) callTimeout() time.Duration {
	if t.Timeout <= 0 {
		return 5 * time.Second
	}
	return t.Timeout
}

// lastOf is nodes with the ones named in last moved to the end, in last's order (nodes
// itself when none is there).
func lastOf(nodes []Node, last ...string) []Node {
	out := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		if !slices.Contains(last, n.Name) {
			out = append(out, n)
		}
	}
	for _, name := range last {
		if i := slices.IndexFunc(nodes, func(n Node) bool { return n.Name == name }); i >= 0 &&
			!slices.ContainsFunc(out, func(n Node) bool { return n.Name == name }) {
			out = append(out, nodes[i])
		}
	}
	return out
}

// hedgeDelay is how long a Pacemaker query may take before the next node is asked too.
func hedgeDelay(timeout time.Duration) time.Duration {
	return min(250*time.Millisecond, timeout/4)
}

// firstPacemaker asks the nodes for the cluster status in order, starting the next one
// when the current one fails or has not answered within hedge, and returns the first
// answer from a node with quorum (else the first answer at all) and the errors met.
func firstPacemaker(ctx context.Context, src PacemakerSource, nodes []Node, hedge time.Duration) (*PacemakerView, []error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		view *PacemakerView
		err  error
	}
	results := make(chan result, len(nodes))
	launched, received := 0, 0
	launch := func() {
		node := nodes[launched]
		launched++
		go func() {
			v, err := src.Status(ctx, node)
			results <- result{v, err}
		}()
	}
	launch()
	timer := time.NewTimer(hedge)
	defer timer.Stop()
	var errs []error
	var noQuorum *PacemakerView
	for received < launched {
		select {
		case r := <-results:
			received++
			switch {
			case r.err != nil:
				errs = append(errs, r.err)
			case r.view.Cluster.Quorum:
				return r.view, errs
			case noQuorum == nil:
				noQuorum = r.view
			}
			if launched < len(nodes) {
				launch()
			}
		case <-timer.C:
			if launched < len(nodes) {
				launch()
				timer.Reset(hedge)
			}
		case <-ctx.Done():
			return noQuorum, append(errs, ctx.Err())
		}
	}
	return noQuorum, errs
}

// vipHolder is the index of the node holding the database VIP per Pacemaker, or -1.
func vipHolder(v *PacemakerView, nodes []Node) int {
	if v == nil {
		return -1
	}
	for i, n := range nodes {
		if p, ok := v.Nodes[n.Name]; ok && p.HoldsVIP {
			return i
		}
	}
	return -1
}

// readSockets reads the stats socket of the VIP holder; when it is unknown or does not
// answer, of every node at once (pickHAProxy then prefers one showing clients).
func readSockets(ctx context.Context, src HAProxySource, nodes []Node, holder int, views []*HAProxyView, errs []error) {
	if holder >= 0 {
		views[holder], errs[holder] = src.Read(ctx, &nodes[holder], nodes)
		if errs[holder] == nil || ctx.Err() != nil {
			return
		}
	}
	var wg sync.WaitGroup
	for i := range nodes {
		if i != holder {
			wg.Go(func() { views[i], errs[i] = src.Read(ctx, &nodes[i], nodes) })
		}
	}
	wg.Wait()
}

// pickHAProxy prefers the stats socket of the node holding the VIP (the only HAProxy
// clients reach), then any socket answer showing clients, then the HTTP stats page,
// then any socket answer.
func pickHAProxy(nodes []Node, pv *PacemakerView, sock []*HAProxyView, sockErr []error,
	http *HAProxyView, httpErr error, useSocket, useHTTP bool,
) (*HAProxyView, *selection.HAProxyBackend) {
	if useSocket {
		if v := socketView(nodes, pv, sock); v != nil {
			return v, &selection.HAProxyBackend{}
		}
	}
	if useHTTP && http != nil {
		return http, &selection.HAProxyBackend{}
	}
	for _, v := range sock {
		if v != nil {
			return v, &selection.HAProxyBackend{}
		}
	}
	var errs []error
	if useHTTP {
		errs = append(errs, httpErr)
	}
	errs = append(errs, sockErr...)
	return nil, &selection.HAProxyBackend{Error: joinErrs(errs)}
}

// addPacemaker puts crm_mon's view (or why none was read) into the snapshot.
func addPacemaker(s *selection.Snapshot, view *PacemakerView, errs []error) {
	if view == nil {
		s.Pacemaker = &selection.PacemakerCluster{Error: joinErrs(errs)}
		return
	}
	c := view.Cluster
	s.Pacemaker = &c
	for i := range s.Nodes {
		if p, ok := view.Nodes[s.Nodes[i].Name]; ok {
			s.Nodes[i].Pacemaker = &p
		}
	}
}

// socketView is the stats socket's view that decides ahead of the stats page: the VIP
// holder's, else one whose HAProxy has clients; nil when none.
func socketView(nodes []Node, pv *PacemakerView, sock []*HAProxyView) *HAProxyView {
	if pv != nil {
		for i, n := range nodes {
			if p, ok := pv.Nodes[n.Name]; ok && p.HoldsVIP && sock[i] != nil {
				return sock[i]
			}
		}
	}
	for _, v := range sock {
		if v != nil && v.Clients {
			return v
		}
	}
	return nil
}

// socketDecides says whether the stats page would go unused: a socket view decides.
func socketDecides(nodes []Node, pv *PacemakerView, sock []*HAProxyView) bool {
	return socketView(nodes, pv, sock) != nil
}

// joinErrs keeps the distinct messages, in order.
func joinErrs(errs []error) string {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if e != nil && !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return "no answer"
	}
	msgs := make([]string, len(out))
	for i, e := range out {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// PolicyOf turns the API's nodeSelection into a selection policy.
func PolicyOf(ns *backupv1alpha1.NodeSelectionSpec) selection.Policy {
	if ns == nil {
		return selection.Policy{}
	}
	return selection.Policy{Preferred: ns.PreferredNodes, Excluded: ns.ExcludedNodes, Pinned: ns.Node, AllowActive: ns.AllowActiveNode}
}
