// Package galera reads one MariaDB Galera node's replication state over the MySQL
// protocol: wsrep status, desync state and client connections. Parsing is pure; the
// prober in prober.go is the only part that does I/O.
package galera

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Galera's wsrep_local_state values.
const (
	StateJoining LocalState = 1
	StateDonor   LocalState = 2 // Donor/Desynced
	StateJoined  LocalState = 3
	StateSynced  LocalState = 4
)

// LocalState is wsrep_local_state.
type LocalState int

// Status is one node's replication state, as its own server reports it.
type Status struct {
	// LocalState is wsrep_local_state (4 = Synced).
	LocalState LocalState
	// LocalStateComment is wsrep_local_state_comment (Synced, Donor/Desynced, ...).
	LocalStateComment string
	// ClusterStatus is wsrep_cluster_status: Primary, non-Primary or Disconnected.
	ClusterStatus string
	// ClusterSize is wsrep_cluster_size.
	ClusterSize int
	// ClusterStateUUID is wsrep_cluster_state_uuid: the history the node belongs to.
	ClusterStateUUID string
	// ClusterConfID is wsrep_cluster_conf_id: it grows with every membership change
	// of the primary component, so a node with an older one has a stale view.
	ClusterConfID int64
	// Ready is wsrep_ready.
	Ready bool
	// Connected is wsrep_connected.
	Connected bool
	// DesyncVar is @@wsrep_desync.
	DesyncVar bool
	// DesyncCount is wsrep_desync_count: also counts desyncs that do not show in
	// @@wsrep_desync, such as FLUSH TABLES WITH READ LOCK or a running SST donation.
	DesyncCount int
	// RecvQueue is wsrep_local_recv_queue.
	RecvQueue int64
	// FlowControlPausedNs is wsrep_flow_control_paused_ns: the time replication has been
	// paused for flow control since the node started (its rate is the paused fraction).
	FlowControlPausedNs int64
	// LastCommitted is wsrep_last_committed.
	LastCommitted int64
	// IncomingAddresses is wsrep_incoming_addresses: the client addresses of the
	// members of the node's view.
	IncomingAddresses []string
	// NodeName is @@wsrep_node_name.
	NodeName string
	// ClientConnections counts client sessions (see CountClients); -1 when unknown.
	ClientConnections int
}

// ClusterPrimary is wsrep_cluster_status of a member of a primary component.
const ClusterPrimary = "Primary"

// Check names one condition of Synced by the wsrep variable it reads.
type Check string

// The conditions of Synced.
const (
	CheckReady         Check = "wsrep_ready"
	CheckConnected     Check = "wsrep_connected"
	CheckClusterStatus Check = "wsrep_cluster_status"
	CheckLocalState    Check = "wsrep_local_state"
)

// syncedChecks are the conditions of Synced, in the order NotSynced lists them. Synced
// and NotSynced both read this one table, so the verdict and its explanation (the
// selection's reasons) cannot disagree.
var syncedChecks = []struct {
	check Check
	ok    func(*Status) bool
}{
	{CheckReady, func(s *Status) bool { return s.Ready }},
	{CheckConnected, func(s *Status) bool { return s.Connected }},
	{CheckClusterStatus, (*Status).Primary},
	{CheckLocalState, func(s *Status) bool { return s.LocalState == StateSynced }},
}

// Desynced reports whether the node is desynced by any means.
func (s *Status) Desynced() bool {
	return s.DesyncVar || s.DesyncCount > 0 || s.LocalState == StateDonor
}

// Primary reports whether the node is in a primary component (by its own view, which a
// frozen node may still hold after its peers evicted it).
func (s *Status) Primary() bool {
	return s.ClusterStatus == ClusterPrimary
}

// Synced reports whether the node is a synced member of a primary component, ready
// for queries: the one predicate for "synced", in the controller's selection and
// status and in the agent's re-check alike. Being desynced is a separate fact
// (Desynced): a node under FLUSH TABLES WITH READ LOCK may report both.
func (s *Status) Synced() bool {
	for _, c := range syncedChecks {
		if !c.ok(s) {
			return false
		}
	}
	return true
}

// NotSynced lists the conditions of Synced the node fails, in a fixed order (readiness,
// connection, primary component, local state); none exactly when Synced is true.
func (s *Status) NotSynced() []Check {
	var out []Check
	for _, c := range syncedChecks {
		if !c.ok(s) {
			out = append(out, c.check)
		}
	}
	return out
}

// ParseStatus builds a Status from the rows of `SHOW GLOBAL STATUS LIKE 'wsrep_%'` and
// of `SHOW GLOBAL VARIABLES` (wsrep_desync, wsrep_node_name), keyed by lower-case
// variable name. A node without the wsrep provider loaded is an error.
func ParseStatus(status, variables map[string]string) (*Status, error) {
	get := func(m map[string]string, k string) string { return strings.TrimSpace(m[k]) }
	if _, ok := status["wsrep_local_state"]; !ok {
		return nil, errors.New("the server reports no wsrep_local_state: it is not a Galera node (wsrep provider not loaded)")
	}
	s := &Status{
		LocalStateComment: get(status, "wsrep_local_state_comment"),
		ClusterStatus:     get(status, "wsrep_cluster_status"),
		ClusterStateUUID:  get(status, "wsrep_cluster_state_uuid"),
		Ready:             onOff(get(status, "wsrep_ready")),
		Connected:         onOff(get(status, "wsrep_connected")),
		DesyncVar:         onOff(get(variables, "wsrep_desync")),
		NodeName:          get(variables, "wsrep_node_name"),
		ClientConnections: -1,
	}
	var err error
	var ls int64
	if ls, err = parseInt(status, "wsrep_local_state"); err != nil {
		return nil, err
	}
	s.LocalState = LocalState(ls)
	// Outside the primary component Galera reports conf_id as 2^64-1, that is -1.
	if v := get(status, "wsrep_cluster_conf_id"); v != "" {
		u, err := strconv.ParseUint(strings.TrimPrefix(v, "-"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("wsrep_cluster_conf_id=%q is not a number: %w", v, err)
		}
		s.ClusterConfID = int64(u) //nolint:gosec // G115: 2^64-1 is Galera's -1 and must wrap to it
		if strings.HasPrefix(v, "-") {
			s.ClusterConfID = -s.ClusterConfID
		}
	}
	ints := []struct {
		key string
		dst *int64
	}{
		{"wsrep_local_recv_queue", &s.RecvQueue},
		{"wsrep_last_committed", &s.LastCommitted},
		{"wsrep_flow_control_paused_ns", &s.FlowControlPausedNs},
	}
	for _, f := range ints {
		if *f.dst, err = parseOptionalInt(status, f.key); err != nil {
			return nil, err
		}
	}
	size, err := parseOptionalInt(status, "wsrep_cluster_size")
	if err != nil {
		return nil, err
	}
	s.ClusterSize = int(size)
	dc, err := parseOptionalInt(status, "wsrep_desync_count")
	if err != nil {
		return nil, err
	}
	s.DesyncCount = int(dc)
	for _, a := range strings.Split(get(status, "wsrep_incoming_addresses"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			s.IncomingAddresses = append(s.IncomingAddresses, a)
		}
	}
	return s, nil
}

func onOff(v string) bool {
	switch strings.ToUpper(v) {
	case "ON", "1", "TRUE", "YES":
		return true
	}
	return false
}

func parseInt(m map[string]string, k string) (int64, error) {
	v := strings.TrimSpace(m[k])
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a number: %w", k, v, err)
	}
	return n, nil
}

// parseOptionalInt parses m[k], or returns 0 when the server does not report k
// (older Galera versions lack some counters).
func parseOptionalInt(m map[string]string, k string) (int64, error) {
	if strings.TrimSpace(m[k]) == "" {
		return 0, nil
	}
	return parseInt(m, k)
}

// Process is one row of SHOW PROCESSLIST.
type Process struct {
	ID      int64
	User    string
	Command string
	Info    string
}

// systemUsers are server threads, never clients.
var systemUsers = map[string]bool{"system user": true, "event_scheduler": true, "unauthenticated user": true}

// systemCommands are replication and daemon threads.
var systemCommands = map[string]bool{"Daemon": true, "Binlog Dump": true, "Slave_IO": true, "Slave_SQL": true, "Slave_worker": true}

// CountClients counts client sessions in a process list: every connection, idle ones
// included (OpenStack services keep pooled connections open on the node they use),
// except server threads, replication threads, the users in ignoreUsers (health
// checks, monitoring) and the probe's own session, the one with id self.
func CountClients(procs []Process, self int64, ignoreUsers []string) int {
	ignore := make(map[string]bool, len(ignoreUsers))
	for _, u := range ignoreUsers {
		ignore[u] = true
	}
	n := 0
	for _, p := range procs {
		if p.ID == self || systemUsers[p.User] || systemCommands[p.Command] || ignore[p.User] {
			continue
		}
		n++
	}
	return n
}
