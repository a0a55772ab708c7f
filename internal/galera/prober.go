package galera

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Config is how the prober logs in.
type Config struct {
	// User and Password of a database account with the PROCESS privilege (to see every
	// client's connection).
	User     string
	Password string
	// TLS, when set, encrypts the connection (and verifies what its fields say);
	// TLSFallback lets a server without TLS be talked to in clear (mode Preferred).
	// Without TLS the driver never asks the server for its RSA key (caching_sha2_password
	// over a clear connection fails instead): an active attacker could answer with theirs.
	TLS         *tls.Config
	TLSFallback bool
	// ConnectTimeout bounds dialling and the handshake.
	ConnectTimeout time.Duration
	// QueryTimeout bounds every read and write on the connection: a SIGSTOPped server
	// accepts TCP and then never answers, so the dial timeout alone is not enough.
	QueryTimeout time.Duration
	// IgnoreUsers are accounts whose sessions are not clients (health checks,
	// monitoring, the backup agent).
	IgnoreUsers []string
	// MaxProcesses caps the rows of SHOW PROCESSLIST read (DefaultMaxProcesses when
	// zero): past it, the client count is unknown, never a partial count.
	MaxProcesses int
	// Sessions, when set, lends probes a connection shared with every prober of the same
	// address, account and TLS (see Sessions), kept SessionIdle after its last use. With
	// TLS, connections are shared only when TLSKey is set: it names what TLS verifies (the
	// mode and the CA), since a *tls.Config cannot be compared. Unset, every probe opens
	// its own connection and closes it.
	Sessions    *Sessions
	SessionIdle time.Duration
	TLSKey      string
}

// Caps on what a node may send: a tenant chooses the address, so the answer may come
// from anything that speaks the MySQL protocol. A real node's answers are far below.
const (
	// DefaultMaxProcesses is 10,000 rows: above the max_connections TripleO sets (4096).
	DefaultMaxProcesses = 10000
	// maxStatusRows bounds a SHOW answer read into a map: the wsrep status is ~70 rows.
	maxStatusRows = 1000
	// MaxReadBytes is what a connection may read between two of its writes (the
	// handshake, or the answer to one statement): a probe of a real node reads tens of
	// kilobytes (a full processlist of 4096 idle sessions, under a megabyte). 4 MiB per
	// answer keeps a probe of three hostile nodes to a few dozen MiB of the manager.
	MaxReadBytes = 4 << 20
)

// ErrAnswerTooLarge is wrapped when a node sends more than a cap allows.
var ErrAnswerTooLarge = errors.New("answer larger than a Galera node sends")

// cappedNet is the driver network the prober dials: TCP, with MaxReadBytes per
// connection (go-sql-driver reads whatever packet length the server announces).
const cappedNet = "ocb-capped-tcp"

func init() {
	mysql.RegisterDialContext(cappedNet, func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &cappedConn{Conn: c, left: MaxReadBytes}, nil
	})
}

// cappedConn fails reads past its budget, which every write (a new statement, since the
// client speaks first in each exchange) renews. It exposes the socket (syscall.Conn) so
// that the driver can tell a connection the server closed while it sat idle in a pool.
type cappedConn struct {
	net.Conn
	left int64
}

func (c *cappedConn) Write(p []byte) (int, error) {
	c.left = MaxReadBytes
	return c.Conn.Write(p)
}

// SyscallConn is the socket's, for the driver's liveness check of a pooled connection (a
// non-blocking read of the socket itself: it reads nothing from a live, quiet server).
func (c *cappedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	return sc.SyscallConn()
}

func (c *cappedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("%w: more than %d bytes on one connection", ErrAnswerTooLarge, MaxReadBytes)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
}

// Prober reads a node's Status over the MySQL protocol.
type Prober struct {
	cfg Config
}

// NewProber returns a Prober; zero timeouts become 5 s.
func NewProber(cfg Config) *Prober {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = 5 * time.Second
	}
	if cfg.MaxProcesses <= 0 {
		cfg.MaxProcesses = DefaultMaxProcesses
	}
	return &Prober{cfg: cfg}
}

// Probe connects to addr (host:port), reads its wsrep status, desync state and client
// connections, and disconnects. It returns within the context's deadline, or within
// ConnectTimeout plus a few QueryTimeouts when the context has none. It works on a node
// outside the primary component, where most queries fail with ERROR 1047 but SHOW
// statements still answer.
func (p *Prober) Probe(ctx context.Context, addr string) (*Status, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout+3*p.cfg.QueryTimeout)
	defer cancel()
	conn, done, err := p.connect(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer done()

	// One round trip: the wsrep status; the session's own pseudo_thread_id (the
	// processlist row to leave out) with the global-only wsrep variables; the processlist.
	rows, err := conn.QueryContext(ctx, probeQuery)
	if err != nil {
		return nil, fmt.Errorf("reading wsrep status of %s: %w", addr, cleanErr(err))
	}
	defer func() { _ = rows.Close() }()
	status, err := mapOf(rows, "SHOW GLOBAL STATUS")
	if err != nil {
		return nil, fmt.Errorf("reading wsrep status of %s: %w", addr, cleanErr(err))
	}
	vars, err := nextMap(rows, "SHOW SESSION VARIABLES")
	if err != nil {
		return nil, fmt.Errorf("reading wsrep variables of %s: %w", addr, cleanErr(err))
	}
	s, err := ParseStatus(status, vars)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	// The client count is best effort: unknown (-1) when the processlist cannot be read.
	if self, err := parseInt(vars, "pseudo_thread_id"); err == nil && rows.NextResultSet() {
		if n, err := p.clients(rows, self); err == nil {
			s.ClientConnections = n
		}
	}
	return s, nil
}

// probeQuery is what Probe asks, as one multi-statement query. SHOW statements answer
// outside the primary component too. Not SHOW FULL PROCESSLIST: a query's text is not
// needed, 100 characters of it are plenty to carry.
var probeQuery = statusQuery + "; " + //nolint:gosec // G202: constants only, no input of any kind
	"SHOW SESSION VARIABLES WHERE Variable_name IN ('wsrep_desync', 'wsrep_node_name', 'pseudo_thread_id'); " +
	"SHOW PROCESSLIST"

// statusQuery reads the wsrep status variables ParseStatus uses, and no others (a node
// has some 70): SHOW statements answer outside the primary component too.
var statusQuery = "SHOW GLOBAL STATUS WHERE Variable_name IN ('" + strings.Join([]string{
	"wsrep_local_state", "wsrep_local_state_comment", "wsrep_cluster_status", "wsrep_cluster_state_uuid",
	"wsrep_cluster_conf_id", "wsrep_cluster_size", "wsrep_ready", "wsrep_connected", "wsrep_desync_count",
	"wsrep_local_recv_queue", "wsrep_last_committed", "wsrep_flow_control_paused_ns", "wsrep_incoming_addresses",
}, "', '") + "')"

// ResetDesync makes sure wsrep_desync is OFF on the node at addr: it reads the variable
// and sets it OFF when it is ON. wasOn says whether it had to. This is the repair after a
// backup agent that desynced the node was killed before it could turn it off; the
// account needs the privilege the agent uses for the same statement.
func (p *Prober) ResetDesync(ctx context.Context, addr string) (wasOn bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout+2*p.cfg.QueryTimeout)
	defer cancel()
	conn, done, err := p.connect(ctx, addr)
	if err != nil {
		return false, err
	}
	defer done()
	vars, err := showMap(ctx, conn, "SHOW GLOBAL VARIABLES LIKE 'wsrep_desync'")
	if err != nil {
		return false, fmt.Errorf("reading wsrep_desync of %s: %w", addr, cleanErr(err))
	}
	v, ok := vars["wsrep_desync"]
	if !ok {
		return false, fmt.Errorf("%s has no wsrep_desync variable: not a Galera node", addr)
	}
	if !onOff(v) {
		return false, nil
	}
	if _, err := conn.ExecContext(ctx, "SET GLOBAL wsrep_desync=OFF"); err != nil {
		return true, fmt.Errorf("setting wsrep_desync=OFF on %s: %w", addr, cleanErr(err))
	}
	return true, nil
}

// connect gives a connection to addr with the prober's account and timeouts: its own,
// which done closes, or one of the shared Sessions, which done gives back.
func (p *Prober) connect(ctx context.Context, addr string) (*sql.Conn, func(), error) {
	if shareable(p.cfg) {
		db, err := p.cfg.Sessions.get(p.cfg, addr, time.Now())
		if err != nil {
			return nil, nil, err
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to %s: %w", addr, cleanErr(err))
		}
		return conn, func() { _ = conn.Close() }, nil
	}
	connector, err := mysql.NewConnector(dsn(p.cfg, addr))
	if err != nil {
		return nil, nil, fmt.Errorf("configuring the connection to %s: %w", addr, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("connecting to %s: %w", addr, cleanErr(err))
	}
	return conn, func() { _ = conn.Close(); _ = db.Close() }, nil
}

// dsn is the driver's configuration of a connection to addr.
func dsn(cfg Config, addr string) *mysql.Config {
	mc := mysql.NewConfig()
	mc.User = cfg.User
	mc.Passwd = cfg.Password
	mc.Net = cappedNet
	mc.Addr = addr
	mc.Timeout = cfg.ConnectTimeout
	mc.ReadTimeout = cfg.QueryTimeout
	mc.WriteTimeout = cfg.QueryTimeout
	mc.TLS = cfg.TLS
	mc.AllowFallbackToPlaintext = cfg.TLSFallback
	Harden(mc)
	mc.Logger = &mysql.NopLogger{}
	// Probe's three statements in one round trip. Every statement we send is a constant:
	// nothing a tenant or a node says is ever part of one.
	mc.MultiStatements = true
	return mc
}

// clients counts the client sessions in a processlist result, but selfID's.
// pseudo_thread_id defaults to the session's own id and, unlike CONNECTION_ID(), can be
// read outside the primary component.
func (p *Prober) clients(rows *sql.Rows, selfID int64) (int, error) {
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	idx := map[string]int{}
	for i, c := range cols {
		idx[strings.ToLower(c)] = i
	}
	for _, want := range []string{"id", "user", "command"} {
		if _, ok := idx[want]; !ok {
			return 0, fmt.Errorf("SHOW PROCESSLIST has no %q column", want)
		}
	}
	// RawBytes: a row's columns (a query's text may be long) are not copied, only the
	// three that CountClients reads, cut short.
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var procs []Process
	for rows.Next() {
		if len(procs) >= p.cfg.MaxProcesses {
			return 0, fmt.Errorf("%w: SHOW PROCESSLIST has more than %d rows", ErrAnswerTooLarge, p.cfg.MaxProcesses)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		id, err := strconv.ParseInt(string(vals[idx["id"]]), 10, 64)
		if err != nil {
			return 0, errors.New("SHOW PROCESSLIST: a process id is not a number")
		}
		procs = append(procs, Process{
			ID: id, User: cut(vals[idx["user"]], 128), Command: cut(vals[idx["command"]], 64),
		})
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return CountClients(procs, selfID, p.cfg.IgnoreUsers), nil
}

// showMap runs a SHOW statement returning (name, value) rows, keyed by lower-case name.
func showMap(ctx context.Context, conn *sql.Conn, query string) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	return mapOf(rows, query)
}

// nextMap is mapOf of the next result set of a multi-statement query.
func nextMap(rows *sql.Rows, what string) (map[string]string, error) {
	if !rows.NextResultSet() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("no answer to %s", what)
	}
	return mapOf(rows, what)
}

// mapOf reads the current result set of (name, value) rows, keyed by lower-case name.
func mapOf(rows *sql.Rows, what string) (map[string]string, error) {
	out := map[string]string{}
	for rows.Next() {
		if len(out) >= maxStatusRows {
			return nil, fmt.Errorf("%w: %s has more than %d rows", ErrAnswerTooLarge, what, maxStatusRows)
		}
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[strings.ToLower(k)] = v.String
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// cut is b as a string of at most n bytes.
func cut(b []byte, n int) string {
	return string(b[:min(len(b), n)])
}

// cleanErr turns the driver's errors into something a person reads in a status row.
func cleanErr(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer in time (server frozen, overloaded or unreachable): %w", err)
	case errors.Is(err, mysql.ErrInvalidConn):
		return fmt.Errorf("the connection broke (server frozen or gone): %w", err)
	}
	return err
}
