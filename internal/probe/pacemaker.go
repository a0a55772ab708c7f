package probe

import (
	"context"
	"fmt"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/pacemaker"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// CommandRunner runs a command on a node (over SSH) with stdin, returning its stdout.
type CommandRunner interface {
	Run(ctx context.Context, host string, port int, command string, stdin []byte) ([]byte, error)
}

// PacemakerSSH reads the cluster status by running crm_mon on a node over SSH.
type PacemakerSSH struct {
	Runner  CommandRunner
	Command string
	Options pacemaker.Options
	// memo skips decoding a document crm_mon answered before (a kept target probes the
	// same cluster every interval).
	memo pacemaker.Memo
}

var _ PacemakerSource = (*PacemakerSSH)(nil)

func newPacemakerSSH(r CommandRunner, oc *backupv1alpha1.OvercloudSpec) *PacemakerSSH {
	return &PacemakerSSH{Runner: r, Command: oc.Pacemaker.CommandOrDefault(), Options: pacemaker.Options{
		GaleraResource: oc.Pacemaker.GaleraResource, VIPResource: oc.Pacemaker.VIPResource, VIP: oc.DatabaseVIP,
	}}
}

// Caps on crm_mon's answer. Decoding XML costs about 25 bytes of memory per byte of
// input: a real overcloud's document (18 KiB for three controllers with bundles, a few
// hundred KiB with a hundred pacemaker-remote computes) costs little, a hostile one
// could exhaust the manager.
const (
	// MaxCrmMonBytes is the largest crm_mon document read: 2 MiB, several times the
	// largest overcloud's.
	MaxCrmMonBytes = 2 << 20
	// bigCrmMon is the size from which a document waits for one of bigParses' slots.
	bigCrmMon = 256 << 10
)

// bigParses bounds the large documents decoded at once, across every overcloud the
// manager probes: two of MaxCrmMonBytes cost ~100 MiB at most, under the manager's
// 256 MiB limit with room for the rest. Small documents never wait.
var bigParses = make(chan struct{}, 2)

// Status implements PacemakerSource. crm_mon's exit code is not trusted: a missing or
// unreadable CIB exits 0 with an error document, so the document decides.
func (p *PacemakerSSH) Status(ctx context.Context, node Node) (*PacemakerView, error) {
	out, runErr := p.Runner.Run(ctx, node.Address, node.SSHPort, p.Command, nil)
	if len(out) == 0 && runErr != nil {
		return nil, fmt.Errorf("crm_mon on %s: %w", node.Name, runErr)
	}
	if len(out) > MaxCrmMonBytes {
		return nil, fmt.Errorf("crm_mon on %s: its answer is %d bytes, more than the %d an overcloud's status takes",
			node.Name, len(out), MaxCrmMonBytes)
	}
	if len(out) > bigCrmMon {
		select {
		case bigParses <- struct{}{}:
			defer func() { <-bigParses }()
		case <-ctx.Done():
			return nil, fmt.Errorf("crm_mon on %s: waiting to decode its %d-byte answer: %w", node.Name, len(out), ctx.Err())
		}
	}
	st, err := p.memo.Parse(out, p.Options)
	if err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("crm_mon on %s: %w (%w)", node.Name, err, runErr)
		}
		return nil, fmt.Errorf("crm_mon on %s: %w", node.Name, err)
	}
	v := PacemakerViewOf(st)
	v.Cluster.Source = node.Name
	return v, nil
}

// PacemakerViewOf turns a parsed crm_mon status into what selection reads: one entry
// per cluster node and pacemaker remote node (bundle guests are folded into their host).
func PacemakerViewOf(st *pacemaker.Status) *PacemakerView {
	v := &PacemakerView{
		Cluster: selection.PacemakerCluster{MaintenanceMode: st.MaintenanceMode, Quorum: st.WithQuorum},
		Nodes:   map[string]selection.Pacemaker{},
	}
	unclean := map[string]bool{}
	for _, n := range st.Nodes {
		if n.Unclean {
			unclean[n.Name] = true
		}
	}
	for _, n := range st.Nodes {
		if n.Type == pacemaker.NodeGuest || n.Type == pacemaker.NodePing {
			continue
		}
		g := st.GaleraOn(n.Name)
		conn := ""
		if n.Connection != "" && unclean[n.Connection] {
			conn = n.Connection
		}
		role := string(g.Role)
		if g.Role == pacemaker.RoleStopped {
			role = ""
		}
		v.Nodes[n.Name] = selection.Pacemaker{
			Online: n.Online, Standby: n.Standby || n.StandbyOnFail, Maintenance: n.Maintenance,
			Unclean: n.Unclean, Shutdown: n.Shutdown, Pending: n.Pending, ConnectionUnclean: conn,
			// crm_mon marks every resource unmanaged in a maintenance (the cluster's or the
			// node's): those are told apart and decided on their own.
			GaleraBlocked:   g.Role != pacemaker.RoleStopped && g.Blocked,
			GaleraUnmanaged: g.Role != pacemaker.RoleStopped && !g.Managed && !st.MaintenanceMode && !n.Maintenance,
			GaleraRole:      role, GaleraFailed: g.Failed || (g.Role == pacemaker.RolePromoted && !g.Active),
			HoldsVIP: st.VIP != nil && st.VIP.Active && st.VIP.Node == n.Name,
		}
	}
	return v
}
