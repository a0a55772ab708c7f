package agent

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sys/unix"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
)

// Config is what `agent dump` is asked to do. Credentials come from files (a Secret
// volume), never from the command line.
type Config struct {
	// Node, Address and Port name the selected node.
	Node    string
	Address string
	Port    int
	// User and Password log in to the node.
	User     string
	Password string
	// Root is where the volume is mounted; the backup goes to Root/Namespace/Name.
	Root      string
	Namespace string
	Name      string
	UID       string
	// Databases to dump; empty means every non-system database.
	Databases []string
	// Users also dumps users and grants (mariadb-dump --system=users) to users.sql.
	Users bool
	// Compression and Level of the files.
	Compression string
	Level       int
	// Desync sets wsrep_desync=ON for the dump, and always OFF after it.
	Desync bool
	// Method is Logical (mariadb-dump) or Mariabackup (mariadb-backup over SSH, see
	// Physical).
	Method string
	// Physical is what the Mariabackup method needs: SSH to the node and the command.
	Physical PhysicalConfig
	// TLS encrypts (and verifies) the connections to the node; nil: the tools' defaults.
	TLS *TLSOptions
	// ConnectTimeout and QueryTimeout bound every SQL call.
	ConnectTimeout time.Duration
	QueryTimeout   time.Duration
	// DumpTool is the mariadb-dump binary (default: found on PATH).
	DumpTool string
	// TempDir holds the dump's private directory (0700, removed after it): the client
	// defaults file with the password, the client plugins and the TLS gate's socket
	// (default: os.TempDir()).
	TempDir string
	// HAProxy, when set, re-reads HAProxy before anything is touched: a node HAProxy
	// serves the clients through is refused.
	HAProxy HAProxyReader
	// MaxRate caps, in bytes per second, how fast the dump tool's output is taken (0: no
	// cap), so that the dump loads the node and the cluster no more than that.
	MaxRate int64
	// Progress receives a JSON progress line every ProgressEvery (nil: none).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Log receives what the agent tells a person (default: os.Stderr, the pod's log).
	Log io.Writer
}

func (cfg Config) log() io.Writer {
	if cfg.Log == nil {
		return os.Stderr
	}
	return cfg.Log
}

// Result is what the agent reports to the controller (the termination message).
type Result struct {
	Dir        string     `json:"dir"`
	Node       string     `json:"node"`
	Files      []FileInfo `json:"files"`
	TotalBytes int64      `json:"totalBytes"`
	Position   *Position  `json:"position,omitempty"`
	// DesyncSet and DesyncReset say whether wsrep_desync was set ON and set OFF again.
	DesyncSet   bool   `json:"desyncSet"`
	DesyncReset bool   `json:"desyncReset"`
	Error       string `json:"error,omitempty"`
}

// systemDatabases are never dumped as data (users and grants go to users.sql).
var systemDatabases = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true}

// Dump takes one backup of the node with the method. On any failure nothing that looks like a
// completed backup is left, and wsrep_desync is set OFF again when this agent set it.
func Dump(ctx context.Context, cfg Config) (res Result, err error) {
	res.Node = cfg.Node
	if cfg, err = withDefaults(cfg); err != nil {
		return res, err
	}
	addr := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))

	// 1. Re-check before touching anything: the node may have changed since the probe.
	if err := recheck(ctx, cfg, addr); err != nil {
		return res, err
	}

	db, err := open(cfg, addr)
	if err != nil {
		return res, err
	}
	defer func() { _ = db.Close() }()

	art, err := Begin(cfg.Root, cfg.Namespace, cfg.Name)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			_ = art.Abort()
		}
	}()

	// 2. The desync guard, undone whatever happens next (a cancelled ctx included).
	if cfg.Desync {
		if err := setDesync(ctx, db, true, cfg.QueryTimeout); err != nil {
			return res, fmt.Errorf("setting wsrep_desync=ON on %s: %w", cfg.Node, err)
		}
		res.DesyncSet = true
		defer func() {
			offErr := setDesync(context.Background(), db, false, cfg.QueryTimeout)
			res.DesyncReset = offErr == nil
			if offErr != nil {
				err = errors.Join(err, fmt.Errorf("setting wsrep_desync=OFF on %s: %w", cfg.Node, offErr))
			}
		}()
	}

	// 3. Causality: wait until the node has applied everything committed cluster-wide
	// before this point, then record the position.
	pos, dbs, err := snapshotInfo(ctx, db, cfg)
	if err != nil {
		return res, err
	}
	res.Position = pos
	estimate := estimateBytes(dbs, cfg.Method)
	if err := checkSpace(cfg.Root, estimate, cfg.Compression); err != nil {
		return res, err
	}

	start := time.Now().UTC()
	stopProgress := reportProgress(cfg.Progress, cfg.ProgressEvery, art, cfg.Namespace+"/"+cfg.Name, cfg.Node, estimate)
	defer func() { stopProgress(err == nil) }()
	got, err := copyData(ctx, cfg, art, db, dbs)
	if err != nil {
		return res, err
	}
	if got.exact != nil {
		pos, res.Position = got.exact, got.exact
	}
	m := &Manifest{
		Backup: Identity{Namespace: cfg.Namespace, Name: cfg.Name, UID: cfg.UID}, Node: cfg.Node,
		ServerVersion: serverVersion(ctx, db), ToolVersion: got.tool, Position: pos,
		StartTime: start, EndTime: time.Now().UTC(),
		Options: Options{
			Method: cfg.Method, Compression: cfg.Compression, CompressionLevel: cfg.Level,
			Desync: cfg.Desync, Databases: cfg.Databases,
		},
		Databases: dbs, Tables: got.tables, TablesError: got.tablesErr,
	}
	dir, err := art.Commit(m)
	if err != nil {
		return res, err
	}
	res.Dir = dir
	res.Files = art.Files()
	for _, f := range res.Files {
		res.TotalBytes += f.Bytes
	}
	return res, nil
}

// withDefaults checks the method and fills in the defaults.
func withDefaults(cfg Config) (Config, error) {
	switch cfg.Method {
	case "", Logical:
		cfg.Method = Logical
	case Mariabackup:
		if err := cfg.Physical.check(); err != nil {
			return cfg, fmt.Errorf("method Mariabackup: %w", err)
		}
	default:
		return cfg, fmt.Errorf("unknown method %q (want %s or %s)", cfg.Method, Logical, Mariabackup)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = 30 * time.Second
	}
	if err := checkCredential("user name", cfg.User); err != nil {
		return cfg, err
	}
	if err := checkCredential("password", cfg.Password); err != nil {
		return cfg, err
	}
	for i, name := range cfg.Databases {
		if err := checkDatabaseName(name, fmt.Sprintf("database #%d of the %d asked for", i+1, len(cfg.Databases))); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// recheck refuses a node that is no longer a synced, primary, ready node that is not
// desynced, or (when HAProxy can be read) that HAProxy now serves the clients through.
func recheck(ctx context.Context, cfg Config, addr string) error {
	tlsCfg, fallback, err := tlsOf(cfg.TLS)
	if err != nil {
		return err
	}
	prober := galera.NewProber(galera.Config{User: cfg.User, Password: cfg.Password, TLS: tlsCfg, TLSFallback: fallback,
		ConnectTimeout: cfg.ConnectTimeout, QueryTimeout: cfg.ConnectTimeout})
	st, err := prober.Probe(ctx, addr)
	if err != nil {
		return fmt.Errorf("re-checking %s: %w", cfg.Node, err)
	}
	if !st.Synced() || st.Desynced() {
		return fmt.Errorf("re-checking %s: not a synced, primary, ready node that is not desynced (%s, %s, desynced=%v); no data written",
			cfg.Node, st.LocalStateComment, st.ClusterStatus, st.Desynced())
	}
	if cfg.HAProxy != nil {
		return checkNotServed(ctx, cfg.HAProxy, cfg.Node, cfg.Address)
	}
	return nil
}

// copyData writes the backup's data files with the method, and returns the exact
// position when the method records one (mariadb-backup's xtrabackup_galera_info) and
// the tool's version.
func copyData(ctx context.Context, cfg Config, art *Artifact, db *sql.DB, dbs []Database) (copied, error) {
	if cfg.Method == Mariabackup {
		return physicalCopy(ctx, cfg, art, db, dbs)
	}
	got, err := dumpFiles(ctx, cfg, art, dbs)
	if err != nil {
		return got, err
	}
	got.tool = toolVersion(ctx, cfg)
	return got, nil
}

// copied is what copying the data learnt: the exact position (physical backups), the
// tool's version, and the digest of each table the dump holds (logical backups), or why
// there is none.
type copied struct {
	exact     *Position
	tool      string
	tables    []dumpdigest.Table
	tablesErr string
}

// dumpDataArgs are mariadb-dump's options for the databases, the names following: a
// restore drill dumps the restored copy with the same ones, so that equal rows give equal
// statements (internal/dumpdigest).
var dumpDataArgs = []string{"--single-transaction", "--quick", "--routines", "--events", "--triggers", "--hex-blob", "--databases",
	// Every name is an operand, never an option: a schema named "--where=0" (anyone who
	// may create one on the overcloud chooses its name) would otherwise empty the dump.
	"--"}

// dataArgs are mariadb-dump's arguments for the data of dbs, after the connection's.
func dataArgs(conn []string, dbs []Database) []string {
	args := append(append([]string{}, conn...), dumpDataArgs...)
	for _, d := range dbs {
		args = append(args, d.Name)
	}
	return args
}

// dumpFiles runs mariadb-dump for the databases and, if asked, for users and grants.
func dumpFiles(ctx context.Context, cfg Config, art *Artifact, dbs []Database) (got copied, err error) {
	sess, err := openDumpSession(ctx, cfg)
	if err != nil {
		return got, err
	}
	defer sess.Close()
	conn := sess.args
	if len(dbs) > 0 {
		args := dataArgs(conn, dbs)
		// The digest of each table, read from the stream as it goes to the volume: what a
		// restore drill compares a re-dump of the restored copy with (internal/dumpdigest).
		dg := dumpdigest.New(0)
		if err := runDump(ctx, cfg, art, "databases.sql", args, dg); err != nil {
			return got, sess.explain("databases.sql", err)
		}
		if got.tables, err = dg.Tables(); err != nil {
			// The dump is whole (mariadb-dump said so): keep it, and say why no digest.
			got.tablesErr = err.Error() // our own words, never the stream's bytes
		}
	}
	if cfg.Users {
		args := append(append([]string{}, conn...), "--system=users", "--insert-ignore")
		return got, sess.explain("users.sql", runDump(ctx, cfg, art, "users.sql", args, nil))
	}
	return got, nil
}

func open(cfg Config, addr string) (*sql.DB, error) {
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = cfg.User, cfg.Password, "tcp", addr
	mc.Timeout, mc.ReadTimeout, mc.WriteTimeout = cfg.ConnectTimeout, cfg.QueryTimeout, cfg.QueryTimeout
	mc.Logger = &mysql.NopLogger{}
	if err := applyTLS(mc, cfg.TLS); err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(2)
	return db, nil
}

func setDesync(ctx context.Context, db *sql.DB, on bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v := "OFF"
	if on {
		v = "ON"
	}
	_, err := db.ExecContext(ctx, "SET GLOBAL wsrep_desync="+v)
	return err
}

// snapshotInfo waits for causality, records the Galera position, and lists the databases
// to dump with their table counts.
func snapshotInfo(ctx context.Context, db *sql.DB, cfg Config) (*Position, []Database, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.QueryTimeout)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait=1"); err != nil {
		return nil, nil, fmt.Errorf("causality wait: %w", err)
	}
	sizes := map[string]Database{}
	if err := eachRow(ctx, conn, "SELECT table_schema, COUNT(*), COALESCE(SUM(data_length), 0), COALESCE(SUM(index_length), 0) "+
		"FROM information_schema.tables WHERE table_type = 'BASE TABLE' GROUP BY table_schema",
		func(name string, n, data, index int64) {
			sizes[name] = Database{Name: name, Tables: int(n), DataBytes: data, IndexBytes: index}
		}); err != nil {
		return nil, nil, fmt.Errorf("counting tables: %w", err)
	}
	var schemas []string
	if err := eachRow(ctx, conn, "SELECT schema_name, 0, 0, 0 FROM information_schema.schemata ORDER BY schema_name",
		func(name string, _, _, _ int64) { schemas = append(schemas, name) }); err != nil {
		return nil, nil, fmt.Errorf("listing databases: %w", err)
	}
	dbs, err := chooseDatabases(schemas, cfg.Databases, sizes)
	if err != nil {
		return nil, nil, err
	}
	pos, err := galeraPosition(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	var gtid sql.NullString
	_ = conn.QueryRowContext(ctx, "SELECT @@gtid_current_pos").Scan(&gtid)
	pos.GTID = gtid.String
	return pos, dbs, nil
}

// galeraPosition is the node's Galera position: its cluster's state UUID and the seqno of
// the last write set it committed.
func galeraPosition(ctx context.Context, conn *sql.Conn) (*Position, error) {
	var uuid, k, v string
	if err := conn.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_state_uuid'").Scan(&k, &uuid); err != nil {
		return nil, err
	}
	if err := conn.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'").Scan(&k, &v); err != nil {
		return nil, err
	}
	seqno, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("wsrep_last_committed %q: %w", v, err)
	}
	return &Position{ClusterUUID: uuid, Seqno: seqno}, nil
}

// eachRow runs a query returning (string, int, int, int) rows and calls f for each.
func eachRow(ctx context.Context, conn *sql.Conn, query string, f func(string, int64, int64, int64)) error {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var name string
		var a, b, c int64
		if err := rows.Scan(&name, &a, &b, &c); err != nil {
			return err
		}
		f(name, a, b, c)
	}
	return rows.Err()
}

// chooseDatabases is the list to dump: the asked ones (each must exist), or every
// non-system database.
func chooseDatabases(existing, asked []string, sizes map[string]Database) ([]Database, error) {
	have := map[string]bool{}
	for _, e := range existing {
		have[e] = true
	}
	var out []Database
	if len(asked) > 0 {
		for _, a := range asked {
			if !have[a] {
				return nil, fmt.Errorf("database %q does not exist on the node", a)
			}
			d := sizes[a]
			d.Name = a
			out = append(out, d)
		}
		return out, nil
	}
	for i, e := range existing {
		what := fmt.Sprintf("database #%d of the %d on the node (information_schema.schemata)", i+1, len(existing))
		if err := checkDatabaseName(e, what); err != nil {
			return nil, err
		}
		if !systemDatabases[e] {
			d := sizes[e]
			d.Name = e
			out = append(out, d)
		}
	}
	return out, nil
}

// runDump runs the dump tool with args into the file name; also, when not nil, sees the
// stream too.
func runDump(ctx context.Context, cfg Config, art *Artifact, name string, args []string, also io.Writer) error {
	f, err := art.Create(name, cfg.Compression, cfg.Level)
	if err != nil {
		return err
	}
	out := &firstError{w: f}
	var w io.Writer = out
	if also != nil {
		w = io.MultiWriter(out, also)
	}
	runErr := runTool(ctx, cfg, name, args, w)
	closeErr := f.Close()
	if out.err != nil {
		// The volume failed first (full, read-only, gone): the tool only saw a closed
		// pipe, so its own error would hide the cause.
		return fmt.Errorf("writing %s: %w", name, out.err)
	}
	if runErr != nil {
		return runErr
	}
	return closeErr
}

// runTool runs the dump tool with args, its output to w, and says whether the dump is
// whole: the tool exited 0 and its output ends with mariadb-dump's trailer.
func runTool(ctx context.Context, cfg Config, name string, args []string, w io.Writer) error {
	tool := cmp.Or(cfg.DumpTool, "mariadb-dump")
	cmd := exec.CommandContext(ctx, tool, args...) //nolint:gosec // G204: fixed tool, arguments built here, no secret in them
	// A stop kills the tool's whole process group, and Wait gives up on its pipes soon
	// after, so that nothing it started can hold the agent past its deadline.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	// mariadb-dump ends a complete dump with a "-- Dump completed" comment: a stream
	// without it is cut short, whatever the exit status says.
	end := &tail{}
	copied, err := stdoutPipe(cmd, paced(ctx, io.MultiWriter(w, end), cfg.MaxRate))
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	runErr := cmd.Start()
	_ = cmd.Stdout.(*os.File).Close() // the tool holds the write end now
	if runErr == nil {
		runErr = cmd.Wait()
	}
	<-copied
	if runErr != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s for %s: stopped: %w", filepath.Base(tool), name, ctx.Err())
		}
		msg := strings.TrimSpace(stderr.String()) + usersDumpHint(stderr.String())
		return fmt.Errorf("%s for %s: %w: %s", filepath.Base(tool), name, runErr, msg)
	}
	if !bytes.Contains(end.b, []byte(dumpTrailer)) {
		return fmt.Errorf("%s for %s: the dump is incomplete: it exited 0 but its output does not end with %q",
			filepath.Base(tool), name, dumpTrailer)
	}
	return nil
}

// stdoutPipe gives the tool a 1 MiB pipe as stdout, copied to w in 1 MiB reads: with
// exec's default (a 64 KiB pipe read 32 KiB at a time) mariadb-dump stalls whenever the
// compressor is busy. done is closed when the copy ends: the tool exited, or a write
// failed (the read end is closed, so the tool gets EPIPE and stops).
func stdoutPipe(cmd *exec.Cmd, w io.Writer) (<-chan struct{}, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	if rc, err := pr.SyscallConn(); err == nil { // best effort, capped by fs.pipe-max-size
		_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
	}
	cmd.Stdout = pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		// struct{ io.Reader } hides os.File's WriteTo, which would copy in 32 KiB reads.
		_, _ = io.CopyBuffer(w, struct{ io.Reader }{pr}, make([]byte, 1<<20))
		_ = pr.Close()
	}()
	return done, nil
}

// firstError passes writes on and keeps the first error.
type firstError struct {
	w   io.Writer
	err error
}

func (f *firstError) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil && f.err == nil {
		f.err = err
	}
	return n, err
}

// usersDumpHint explains the users-dump failures seen on Galera nodes, "" for others.
//
// SHOW CREATE USER of the anonymous account with an empty host: restoring a users.sql that
// grants mariadb-dump's import role TO CURRENT_USER() through one node makes the others'
// replication threads create that account, which then only exists there.
//
// SHOW CREATE USER of an account named by host name, answered "Can't find any matching row
// in the user table (1133)": the server runs with skip-name-resolve (as TripleO's
// galera.cnf sets it) and so ignores the account, which mariadb-dump still lists from the
// table (seen on the live sandbox: the anonymous account mariadb-install-db made for the
// host name controller-2).
func usersDumpHint(stderr string) string {
	switch {
	case strings.Contains(stderr, "SHOW CREATE USER ''@''"):
		return " (the node has an anonymous account ''@'' that only exists there, " +
			"left by a restore of a users dump through another Galera node; remove it on this node, see docs/restore.md)"
	case strings.Contains(stderr, "SHOW CREATE USER") && strings.Contains(stderr, "(1133)"):
		return " (an account named by host name, which the server ignores under skip-name-resolve: " +
			"mariadb-dump lists it but cannot dump it; drop the account, or name its host by address, see docs/restore.md)"
	}
	return ""
}

// dumpTrailer is the comment mariadb-dump ends a complete dump with.
const dumpTrailer = "-- Dump completed"

// tail keeps the last bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	const keep = 256
	if len(p) >= keep {
		t.b = append(t.b[:0], p[len(p)-keep:]...)
		return len(p), nil
	}
	t.b = append(t.b, p...)
	if len(t.b) > keep {
		t.b = append(t.b[:0], t.b[len(t.b)-keep:]...)
	}
	return len(p), nil
}

type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

func serverVersion(ctx context.Context, db *sql.DB) string {
	var v string
	_ = db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v)
	return v
}

func toolVersion(ctx context.Context, cfg Config) string {
	tool := cfg.DumpTool
	if tool == "" {
		tool = "mariadb-dump"
	}
	out, err := exec.CommandContext(ctx, tool, "--version").Output() //nolint:gosec // G204: fixed tool
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Summary is the termination message: the result as JSON, kept under Kubernetes' 4096
// bytes by dropping the file list (the manifest has it) when needed.
func (r Result) Summary() []byte {
	return terminationJSON(r, func(r Result) Result {
		r.Files, r.Error = nil, clipError(r.Error)
		return r
	})
}

// terminationJSON is v as JSON for a termination message, or shrink(v) when that is over
// 4000 bytes (Kubernetes keeps 4096).
func terminationJSON[T any](v T, shrink func(T) T) []byte {
	b, _ := json.Marshal(v)
	if len(b) <= 4000 {
		return b
	}
	b, _ = json.Marshal(shrink(v))
	return b
}

// clipError keeps the first 2000 bytes of an error for a termination message.
func clipError(s string) string { return clipBytes(s, 2000) }
