package agent

import (
	"context"
	"fmt"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/haproxy"
)

// HAProxyReader reads HAProxy's view of the database backend: its stats, and its stick
// table when read through the stats socket (nil from the stats page).
type HAProxyReader func(ctx context.Context) (*haproxy.Backend, *haproxy.Table, error)

// checkNotServed re-reads HAProxy and refuses the node when HAProxy sends the database
// clients to it: the node may have become the active one since the controller probed
// (a failover moved the clients). A HAProxy that cannot be read is a refusal too: the
// access was given so that this check is made.
func checkNotServed(ctx context.Context, read HAProxyReader, node, address string) error {
	b, t, err := read(ctx)
	if err != nil {
		return fmt.Errorf("re-checking %s: reading HAProxy: %w; no data written", node, err)
	}
	s := haproxy.NewSnapshot(b, t)
	for _, r := range s.Servers {
		if !r.IsNode(address, node) {
			continue
		}
		if r.Active {
			return fmt.Errorf("re-checking %s: HAProxy serves the database clients through it now (%s); "+
				"a backup is never taken from the active node; no data written", node, s.ActiveReason)
		}
		return nil
	}
	return fmt.Errorf("re-checking %s: HAProxy's backend %q has no server for it (by address %s or name); no data written",
		node, b.Name, address)
}
