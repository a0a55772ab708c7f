// Package probe gathers one snapshot of an overcloud: every node's Galera status, the
// Pacemaker status and HAProxy's view of the database backend, all in parallel, each
// call with its own deadline, so one hung node costs one timeout, never one per node.
// The snapshot feeds the pure decision in internal/selection.
package probe

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
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
}

// Gather probes everything at once and returns the snapshot. It never fails: what a
// source could not read is recorded in the snapshot for the decision to explain.
func Gather(ctx context.Context, t Target) selection.Snapshot {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
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
	pcmk := make([]*PacemakerView, n)
	pcmkErr := make([]error, n)
	sock := make([]*HAProxyView, n)
	sockErr := make([]error, n)
	var http *HAProxyView
	var httpErr error

	var wg sync.WaitGroup
	for i, node := range t.Nodes {
		addr := net.JoinHostPort(node.Address, strconv.Itoa(node.MySQLPort))
		wg.Go(call(func(c context.Context) { gal[i], galErr[i] = t.Galera.Probe(c, addr) }))
		if t.Pacemaker != nil {
			wg.Go(call(func(c context.Context) { pcmk[i], pcmkErr[i] = t.Pacemaker.Status(c, node) }))
		}
		if t.HAProxySocket != nil {
			wg.Go(call(func(c context.Context) { sock[i], sockErr[i] = t.HAProxySocket.Read(c, &node, t.Nodes) }))
		}
	}
	if t.HAProxyHTTP != nil {
		wg.Go(call(func(c context.Context) { http, httpErr = t.HAProxyHTTP.Read(c, nil, t.Nodes) }))
	}
	wg.Wait()

	s := selection.Snapshot{Nodes: make([]selection.Node, n)}
	for i, node := range t.Nodes {
		s.Nodes[i] = selection.Node{Name: node.Name, Address: node.Address, Galera: galeraView(gal[i], galErr[i])}
	}

	var view *PacemakerView
	if t.Pacemaker != nil {
		view, s.Pacemaker = pickPacemaker(pcmk, pcmkErr)
		if view != nil {
			for i := range s.Nodes {
				if p, ok := view.Nodes[s.Nodes[i].Name]; ok {
					s.Nodes[i].Pacemaker = &p
				}
			}
		}
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
		Reachable:         true,
		LocalState:        int(st.LocalState),
		LocalStateComment: st.LocalStateComment,
		ClusterStatus:     st.ClusterStatus,
		ClusterSize:       st.ClusterSize,
		ClusterStateUUID:  st.ClusterStateUUID,
		ClusterConfID:     st.ClusterConfID,
		Ready:             st.Ready,
		Connected:         st.Connected,
		Desynced:          st.Desynced(),
		ClientConnections: st.ClientConnections,
		RecvQueue:         st.RecvQueue,
		IncomingAddresses: st.IncomingAddresses,
	}
}

// pickPacemaker takes the first answer (in node order) from a node with quorum, else
// the first answer at all; with none, the cluster status carries the errors.
func pickPacemaker(views []*PacemakerView, errs []error) (*PacemakerView, *selection.PacemakerCluster) {
	var first *PacemakerView
	for _, v := range views {
		if v == nil {
			continue
		}
		if v.Cluster.Quorum {
			c := v.Cluster
			return v, &c
		}
		if first == nil {
			first = v
		}
	}
	if first != nil {
		c := first.Cluster
		return first, &c
	}
	return nil, &selection.PacemakerCluster{Error: joinErrs(errs)}
}

// pickHAProxy prefers the stats socket of the node holding the VIP (the only HAProxy
// clients reach), then any socket answer showing clients, then the HTTP stats page,
// then any socket answer.
func pickHAProxy(nodes []Node, pv *PacemakerView, sock []*HAProxyView, sockErr []error,
	http *HAProxyView, httpErr error, useSocket, useHTTP bool) (*HAProxyView, *selection.HAProxyBackend) {
	if useSocket {
		if pv != nil {
			for i, n := range nodes {
				if p, ok := pv.Nodes[n.Name]; ok && p.HoldsVIP && sock[i] != nil {
					return sock[i], &selection.HAProxyBackend{}
				}
			}
		}
		for _, v := range sock {
			if v != nil && v.Clients {
				return v, &selection.HAProxyBackend{}
			}
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
