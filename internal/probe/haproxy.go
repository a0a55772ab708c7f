package probe

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/haproxy"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// HAProxyHTTP reads the backend from HAProxy's HTTP stats page (CSV export).
type HAProxyHTTP struct {
	Client   *http.Client
	URL      string
	User     string
	Password string
	Backend  string
}

var _ HAProxySource = (*HAProxyHTTP)(nil)

// Read implements HAProxySource; node is ignored (the page is reached directly).
func (h *HAProxyHTTP) Read(ctx context.Context, _ *Node, nodes []Node) (*HAProxyView, error) {
	b, err := haproxy.FetchHTTP(ctx, h.Client, h.URL, h.User, h.Password, h.Backend)
	if err != nil {
		return nil, err
	}
	return viewOf(haproxy.NewSnapshot(b, nil), nodes), nil
}

// HAProxySocket reads the backend and its stick table through the stats socket of
// the HAProxy on a node, over SSH.
type HAProxySocket struct {
	Runner haproxy.CommandRunner
	// Command is the command run over SSH, with the socket path already in it.
	Command string
	Backend string
	// Timeout bounds one read (haproxy.timeout); none but the context's when zero.
	Timeout time.Duration
}

var _ HAProxySource = (*HAProxySocket)(nil)

// Read implements HAProxySource.
func (h *HAProxySocket) Read(ctx context.Context, node *Node, nodes []Node) (*HAProxyView, error) {
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	b, t, err := haproxy.FetchSocket(ctx, h.Runner, node.Address, node.SSHPort, h.Command, h.Backend)
	if err != nil && (b == nil || !errors.Is(err, haproxy.ErrNoTable)) {
		return nil, err
	}
	return viewOf(haproxy.NewSnapshot(b, t), nodes), nil
}

// viewOf maps HAProxy's servers to the overcloud's nodes: by address, else by name
// (exactly, or as the first label of a name like controller-0.internalapi.localdomain).
func viewOf(s *haproxy.Snapshot, nodes []Node) *HAProxyView {
	v := &HAProxyView{Servers: map[string]selection.HAProxyServer{}}
	for _, r := range s.Servers {
		name := nodeFor(r, nodes)
		if name == "" {
			continue
		}
		// A stick entry naming a server that is down or in maintenance is stale: HAProxy
		// will move the next client elsewhere, so it names no active node.
		stick := r.Sticky && r.State.TakesStickyClients()
		v.Servers[name] = selection.HAProxyServer{
			Status: r.Status, CurrentSessions: int64(r.CurrentSessions), StickTarget: stick, NextTarget: r.Next,
		}
		if stick || r.CurrentSessions > 0 {
			v.Clients = true
		}
	}
	return v
}

func nodeFor(r haproxy.ServerReport, nodes []Node) string {
	for _, n := range nodes {
		if r.IsNode(n.Address, "") {
			return n.Name
		}
	}
	for _, n := range nodes {
		if r.IsNode("", n.Name) {
			return n.Name
		}
	}
	return ""
}
