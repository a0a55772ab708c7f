package agent

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpfilter"
)

// RestoreConfig is `agent restore`: chosen databases of a logical backup restored into the
// running Galera cluster through one node (Galera replicates them to the others), then
// proven on every node named: a dump of the restored databases there, digested, equals
// what the backup recorded.
type RestoreConfig struct {
	// Dir is the backup's directory (read only).
	Dir string
	// Node, Address and Port name the node the restore goes through.
	Node    string
	Address string
	Port    int
	// User and Password log in to every node: an account that may drop and create the
	// databases (and, with Users, accounts and grants), not the read-only backup user.
	User     string
	Password string
	// TLS encrypts (and verifies) the connections; nil: the tools' defaults.
	TLS *TLSOptions
	// Databases are the backup's databases to restore; empty: every one of its manifest.
	Databases []string
	// Users also restores users.sql: the backup's accounts and grants (existing accounts
	// get the backup's passwords and grants back).
	Users bool
	// ProveNodes are the nodes whose restored databases are dumped and compared with the
	// backup's digests once the restore is done.
	ProveNodes []NodeAddress
	// ConnectTimeout and QueryTimeout bound every connection and SQL statement of the
	// agent's own (the re-check, DROP DATABASE, the positions).
	ConnectTimeout time.Duration
	QueryTimeout   time.Duration
	// StepTimeout bounds each client run: one database's restore, users.sql, one node's
	// proving dump (default 1 h).
	StepTimeout time.Duration
	// CatchUpTimeout bounds the wait for a proving node to apply everything the restore
	// node committed (default 2 min).
	CatchUpTimeout time.Duration
	// Client and DumpTool are the mariadb and mariadb-dump programs (default: on PATH).
	Client, DumpTool string
	// TempDir holds the private directories of the client sessions: the defaults file
	// with the password (0600), the client plugins, the TLS gate's socket (default
	// os.TempDir()).
	TempDir string
	// Space checks the nodes' free space over SSH before anything is dropped (nil: not
	// checked; SQL cannot see a node's file systems).
	Space *SpaceCheck
	// Log receives what the programs said when they failed and the time of each step
	// (default os.Stderr, the pod's log). Never a password; the client's own words about
	// users.sql never either (they may quote password hashes).
	Log io.Writer
}

// NodeAddress is a node to prove the restore on.
type NodeAddress struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
}

// RestoreResult is what `agent restore` reports to the controller (the termination
// message): bounded, and no text of the dump's but database and table names, quoted and
// clipped.
type RestoreResult struct {
	Node string `json:"node"`
	// Databases are the databases restored (at most 20 named, then how many more).
	Databases []string `json:"databases,omitempty"`
	// Tables and Rows are what the manifest records of the restored databases.
	Tables int   `json:"tables"`
	Rows   int64 `json:"rows"`
	// Bytes is how many bytes of SQL were streamed into the client.
	Bytes int64 `json:"bytes"`
	// Users says users.sql was restored.
	Users   bool    `json:"users"`
	Seconds float64 `json:"seconds"`
	// Proofs are, node by node, whether its copy of the restored databases equals what
	// the backup recorded.
	Proofs []NodeProof `json:"proofs,omitempty"`
	// Steps are, for `agent restore-cluster`, each step as it ran: when, on which node,
	// whether it succeeded, and the end of what it printed.
	Steps []StepRecord `json:"steps,omitempty"`
	Error string       `json:"error,omitempty"`
}

// StepRecord is one step of a restore as it ran. Output is the end of what the step's
// command printed (a node's words: bounded, control characters replaced).
type StepRecord struct {
	Name   string    `json:"name"`
	Node   string    `json:"node,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	OK     bool      `json:"ok"`
	Output string    `json:"output,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// NodeProof is one node's proof.
type NodeProof struct {
	Node  string `json:"node"`
	Equal bool   `json:"equal"`
	// Tables and Rows are what the node's dump of the restored databases holds.
	Tables int   `json:"tables"`
	Rows   int64 `json:"rows"`
	// Differences are the tables that differ (at most 20 named, then how many more).
	Differences []string `json:"differences,omitempty"`
	// Error says why the node could not be proven.
	Error string `json:"error,omitempty"`
}

// Summary is the termination message: the result as JSON, kept under Kubernetes' 4096
// bytes by dropping the lists when needed.
func (r RestoreResult) Summary() []byte {
	return terminationJSON(r, func(r RestoreResult) RestoreResult {
		r.Databases, r.Error = nil, clipError(r.Error)
		proofs := make([]NodeProof, len(r.Proofs))
		for i, p := range r.Proofs {
			p.Differences, p.Error = nil, clipBytes(p.Error, 200)
			proofs[i] = p
		}
		r.Proofs = proofs
		if len(r.Steps) == 0 {
			return r
		}
		// restore-cluster: every step kept (name, node, times, outcome), the failed one's
		// error clipped, the outputs dropped; the error and the proofs' errors shorter.
		steps := make([]StepRecord, len(r.Steps))
		for i, st := range r.Steps {
			st.Output, st.Error = "", ""
			if !st.OK {
				st.Error = clipBytes(r.Steps[i].Error, 150)
			}
			steps[i] = st
		}
		r.Steps = steps
		r.Error = clipBytes(r.Error, 1200)
		for i := range r.Proofs {
			r.Proofs[i].Error = clipBytes(r.Proofs[i].Error, 100)
		}
		return r
	})
}

// Restore restores the databases, then proves them on every node asked. An error names
// the step that failed; nothing is dropped before the backup was verified, the node
// re-checked and the dump read through once (every database asked found in it).
func Restore(ctx context.Context, cfg RestoreConfig) (RestoreResult, error) {
	start := time.Now()
	res := RestoreResult{Node: cfg.Node}
	err := restore(ctx, cfg, &res)
	res.Databases = listed(res.Databases)
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		return res, boundedError{err}
	}
	return res, nil
}

func (cfg RestoreConfig) withDefaults() (RestoreConfig, error) {
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, 5*time.Second)
	cfg.QueryTimeout = cmp.Or(cfg.QueryTimeout, 30*time.Second)
	cfg.StepTimeout = cmp.Or(cfg.StepTimeout, time.Hour)
	cfg.CatchUpTimeout = cmp.Or(cfg.CatchUpTimeout, 2*time.Minute)
	cfg.Client = cmp.Or(cfg.Client, "mariadb")
	cfg.DumpTool = cmp.Or(cfg.DumpTool, "mariadb-dump")
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if err := checkCredential("user name", cfg.User); err != nil {
		return cfg, err
	}
	if err := checkCredential("password", cfg.Password); err != nil {
		return cfg, err
	}
	if cfg.Node == "" || cfg.Address == "" || cfg.Port <= 0 {
		return cfg, errors.New("the node to restore through needs a name, an address and a port")
	}
	for i, n := range cfg.ProveNodes {
		if n.Name == "" || n.Address == "" || n.Port <= 0 {
			return cfg, fmt.Errorf("proving node #%d of %d needs a name, an address and a port", i+1, len(cfg.ProveNodes))
		}
	}
	return cfg, nil
}

// session is the agent's Config for the dump session and SQL helpers of dump.go, for one
// node.
func (cfg RestoreConfig) session(node, address string, port int) Config {
	return Config{Node: node, Address: address, Port: port, User: cfg.User, Password: cfg.Password, TLS: cfg.TLS,
		ConnectTimeout: cfg.ConnectTimeout, QueryTimeout: cfg.QueryTimeout, TempDir: cfg.TempDir, DumpTool: cfg.DumpTool}
}

func restore(ctx context.Context, cfg RestoreConfig, res *RestoreResult) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	ph := &phases{t: time.Now()}
	defer func() { _, _ = fmt.Fprintf(cfg.Log, "Restore phases: %s\n", strings.Join(ph.done, ", ")) }()

	// 1. The backup: whole, logical, with digests, holding every database asked.
	m, data, users, err := restorable(ctx, cfg)
	if err != nil {
		return fmt.Errorf("verifying the backup: %w", err)
	}
	dbs, err := chooseRestored(m, cfg.Databases)
	if err != nil {
		return fmt.Errorf("verifying the backup: %w", err)
	}
	sqlBytes, err := readThrough(ctx, cfg.Dir, *data, dbs)
	if err != nil {
		return fmt.Errorf("reading the dump before anything is dropped: %w", err)
	}
	ph.mark("verify")

	// 2. The node: synced, primary, not desynced; else what is restored may be lost.
	sess := cfg.session(cfg.Node, cfg.Address, cfg.Port)
	addr := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
	if err := recheck(ctx, sess, addr); err != nil {
		return err
	}
	db, err := open(sess, addr)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	client, err := openDumpSession(ctx, sess)
	if err != nil {
		return err
	}
	defer client.Close()
	ph.mark("re-check")

	// 2b. Room on every node for what it will take in, before anything is dropped.
	if err := checkSpaceFirst(ctx, cfg, db, dbs, sqlBytes); err != nil {
		return err
	}
	if cfg.Space != nil {
		ph.mark("space")
	}

	// 3. Each database: dropped, then its sections of the dump.
	for i, name := range dbs {
		step := fmt.Sprintf("restoring database %d of %d", i+1, len(dbs))
		if err := dropDatabase(ctx, db, name, cfg.QueryTimeout); err != nil {
			return fmt.Errorf("%s: dropping it: %s", step, sqlError(err))
		}
		n, err := restoreDatabase(ctx, cfg, client, *data, name)
		res.Bytes += n
		if err != nil {
			return fmt.Errorf("%s: %w", step, explainClient(client, err))
		}
		res.Databases = append(res.Databases, quoteName(name))
	}
	restored := map[string]bool{}
	for _, d := range dbs {
		restored[d] = true
	}
	var want []dumpdigest.Table
	for _, t := range m.Tables {
		if restored[t.Database] {
			want = append(want, t)
			res.Tables++
			res.Rows += t.Rows
		}
	}
	ph.mark("databases")

	// 4. Users and grants.
	if cfg.Users {
		n, err := restoreUsers(ctx, cfg, db, client, *users)
		res.Bytes += n
		if err != nil {
			return fmt.Errorf("restoring users and grants: %w", explainClient(client, err))
		}
		res.Users = true
		ph.mark("users")
	}

	// 5. The proof, node by node, once it has applied what the restore committed.
	target, err := position(ctx, db, cfg.QueryTimeout)
	if err != nil {
		return fmt.Errorf("reading %s's position after the restore: %s", cfg.Node, sqlError(err))
	}
	var failed int
	res.Proofs, failed = proveAll(ctx, cfg, target, dbs, want, ph)
	if failed > 0 {
		return fmt.Errorf("proving: %d of %d nodes do not hold what the backup recorded (see proofs)", failed, len(cfg.ProveNodes))
	}
	return nil
}

// restorable reads and verifies the backup, and says why it cannot be restored here.
func restorable(ctx context.Context, cfg RestoreConfig) (m *Manifest, data, users *FileInfo, err error) {
	if m, err = Verify(ctx, cfg.Dir); err != nil {
		return nil, nil, nil, fmt.Errorf("the backup's files: %w", err)
	}
	if m.Options.Method != Logical {
		return nil, nil, nil, fmt.Errorf("a %q backup: only a logical backup restores databases into a running cluster",
			clipBytes(m.Options.Method, 32))
	}
	if m.TablesError != "" || len(m.Tables) == 0 {
		return nil, nil, nil, errors.New("the manifest records no table digests: the restored copy could not be proven")
	}
	if data = m.file("databases.sql"); data == nil {
		return nil, nil, nil, errors.New("the backup holds no databases.sql")
	}
	if users = m.file("users.sql"); users == nil && cfg.Users {
		return nil, nil, nil, errors.New("users and grants asked for, and the backup holds no users.sql")
	}
	return m, data, users, nil
}

// chooseRestored is the list to restore: the asked databases (each in the manifest, each
// once), or every one of the manifest. Pure.
func chooseRestored(m *Manifest, asked []string) ([]string, error) {
	have := map[string]bool{}
	var all []string
	for i, d := range m.Databases {
		if err := checkDatabaseName(d.Name, fmt.Sprintf("database #%d of the %d in the manifest", i+1, len(m.Databases))); err != nil {
			return nil, err
		}
		if !have[d.Name] {
			have[d.Name] = true
			all = append(all, d.Name)
		}
	}
	if len(asked) == 0 {
		if len(all) == 0 {
			return nil, errors.New("the manifest lists no databases")
		}
		return all, nil
	}
	var out []string
	missing, first := 0, ""
	for i, a := range asked {
		if err := checkDatabaseName(a, fmt.Sprintf("database #%d of the %d asked for", i+1, len(asked))); err != nil {
			return nil, err
		}
		switch {
		case !have[a]:
			if missing == 0 {
				first = a
			}
			missing++
		case !slices.Contains(out, a):
			out = append(out, a)
		}
	}
	if missing > 0 {
		return nil, fmt.Errorf("%d of the %d databases asked for are not in the backup (the first: %s)", missing, len(asked), quoteName(first))
	}
	return out, nil
}

// quoteName is a database's name for a result: Go-quoted and clipped (it comes from the
// backup or the overcloud).
func quoteName(s string) string { return fmt.Sprintf("%q", clipBytes(s, 64)) }

// readThrough reads the dump through the filter, choosing every database to restore: the
// stream is one the filter can follow, and holds each of them.
func readThrough(ctx context.Context, dir string, data FileInfo, dbs []string) (int64, error) {
	r, closeData, err := openData(dir, data)
	if err != nil {
		return 0, err
	}
	defer closeData()
	chosen := &countingWriter{w: io.Discard, total: &atomic.Int64{}}
	f := dumpfilter.New(chosen, dbs)
	if _, err := io.Copy(f, &ctxReader{ctx: ctx, r: r}); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if seen := f.Seen(); len(seen) != len(dbs) {
		return 0, fmt.Errorf("%d of the %d databases to restore have no section in the dump", len(dbs)-len(seen), len(dbs))
	}
	return chosen.n, nil
}

func dropDatabase(ctx context.Context, db *sql.DB, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+sqlName(name))
	return err
}

// clientArgs are the mariadb client's: the session's connection, a whole dump's options.
func (cfg RestoreConfig) clientArgs(s *dumpSession) []string {
	return append(append([]string{}, s.args...), "--binary-mode", "--default-character-set=utf8mb4", "--batch",
		"--connect-timeout="+strconv.Itoa(max(1, int(cfg.ConnectTimeout.Seconds()))))
}

// restoreDatabase streams the database's sections of the dump (with its header and
// trailer) into the client, and returns how many bytes it streamed.
func restoreDatabase(ctx context.Context, cfg RestoreConfig, s *dumpSession, data FileInfo, name string) (int64, error) {
	r, closeData, err := openData(cfg.Dir, data)
	if err != nil {
		return 0, err
	}
	defer closeData()
	var filter *dumpfilter.Filter
	n, out, err := runClient(ctx, cfg, cfg.clientArgs(s), func(w io.Writer) error {
		filter = dumpfilter.New(w, []string{name})
		if _, err := io.Copy(filter, &ctxReader{ctx: ctx, r: r}); err != nil {
			return err
		}
		return filter.Close()
	})
	if err != nil {
		logOutput(cfg.Log, "the mariadb client restoring "+quoteName(name), out)
		line := func(int64) int64 { return 0 }
		if filter != nil {
			line = filter.InputLine
		}
		return n, fmt.Errorf("%w%s", err, clientErrorOf(out, line))
	}
	return n, nil
}

// importRoleLine is users.sql's statement that grants mariadb-dump's temporary role to
// the importing account. Galera's other nodes apply it with no current user, making an
// anonymous account there (docs/restore.md): the restore names its own account instead.
const importRoleLine = "GRANT mariadb_dump_import_role TO CURRENT_USER();"

// restoreUsers streams users.sql into the client, the import role granted to the
// restoring account by name. The client's words are never logged: they may quote a
// password hash.
func restoreUsers(ctx context.Context, cfg RestoreConfig, db *sql.DB, s *dumpSession, users FileInfo) (int64, error) {
	account, err := currentAccount(ctx, db, cfg.QueryTimeout)
	if err != nil {
		return 0, fmt.Errorf("reading the restoring account: %s", sqlError(err))
	}
	r, closeData, err := openData(cfg.Dir, users)
	if err != nil {
		return 0, err
	}
	defer closeData()
	n, out, err := runClient(ctx, cfg, cfg.clientArgs(s), func(w io.Writer) error {
		return replaceLine(w, &ctxReader{ctx: ctx, r: r}, importRoleLine, "GRANT mariadb_dump_import_role TO "+account+";")
	})
	if err != nil {
		return n, fmt.Errorf("%w%s", err, clientErrorOf(out, func(l int64) int64 { return l }))
	}
	return n, nil
}

// currentAccount is CURRENT_USER() of a session, quoted as an account ('user'@'host').
func currentAccount(ctx context.Context, db *sql.DB, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var cur string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&cur); err != nil {
		return "", err
	}
	i := strings.LastIndexByte(cur, '@')
	if i < 0 {
		return "", fmt.Errorf("CURRENT_USER() is not user@host (%d bytes)", len(cur))
	}
	q := func(s string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'" }
	return q(cur[:i]) + "@" + q(cur[i+1:]), nil
}

// replaceLine copies r to w with every line equal to old replaced by repl. Lines are not
// kept: only the start of one, as long as old, is held.
func replaceLine(w io.Writer, r io.Reader, old, repl string) error {
	br := bufio.NewReaderSize(r, 1<<20)
	bw := bufio.NewWriterSize(w, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		full := line
		// A long line comes in pieces: only a whole short line can be old.
		if err == nil && string(bytes.TrimSuffix(full, []byte("\n"))) == old {
			full = []byte(repl + "\n")
		}
		if _, werr := bw.Write(full); werr != nil {
			return werr
		}
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			if _, werr := bw.Write(line); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
	}
}

// runClient runs the mariadb client with args, its input written by feed, and returns how
// many bytes it was fed and its output (at most 4 KiB). When feed fails, the client is
// killed before its input is closed: at the end of its input the client would run the
// statement it holds, cut short.
func runClient(ctx context.Context, cfg RestoreConfig, args []string, feed func(io.Writer) error) (int64, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.StepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.Client, args...) //nolint:gosec // G204: fixed program, arguments built here, no secret in them
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limited{w: &out, n: 4096}, &limited{w: &out, n: 4096}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("starting %s: %w", cfg.Client, err)
	}
	cw := &countingWriter{w: stdin, total: new(atomic.Int64)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	feedErr := feed(bw)
	if feedErr == nil {
		feedErr = bw.Flush()
	}
	if feedErr != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	_ = stdin.Close()
	waitErr := cmd.Wait()
	switch {
	case waitErr != nil && clientErrorLine.Match(out.Bytes()):
		return cw.n, out.Bytes(), fmt.Errorf("the client: %w", waitErr) // the server refused a statement
	case ctx.Err() != nil:
		return cw.n, out.Bytes(), fmt.Errorf("stopped after %s: %w", cfg.StepTimeout, ctx.Err())
	case feedErr != nil:
		return cw.n, out.Bytes(), feedErr
	case waitErr != nil:
		return cw.n, out.Bytes(), fmt.Errorf("the client: %w%s", waitErr, errorCodes(out.Bytes(), false))
	}
	return cw.n, out.Bytes(), nil
}

// clientErrorOf is the server's error code and the dump's line from the client's output
// (line maps the client's input line to the dump's), without its text.
func clientErrorOf(out []byte, line func(int64) int64) string {
	m := clientErrorLine.FindSubmatch(out)
	if m == nil {
		return ""
	}
	s := fmt.Sprintf(": server error %s (%s)", m[1], m[2])
	if n, err := strconv.ParseInt(string(m[3]), 10, 64); err == nil {
		if at := line(n); at > 0 {
			s += fmt.Sprintf(" at line %d of the dump", at)
		}
	}
	return s
}

// explainClient prefers the TLS gate's reason to the client's error ("lost connection"),
// and says why a client plugin could not be loaded (see dumpSession.explain).
func explainClient(s *dumpSession, err error) error {
	if s.gate != nil {
		if gerr := s.gate.Err(); gerr != nil {
			return fmt.Errorf("TLS to the database: %w", gerr)
		}
	}
	if strings.Contains(err.Error(), "could not be loaded: "+s.plugins) {
		return fmt.Errorf("%w (the node asked for a login method that would hand the password over, or that the agent "+
			"does not carry: the agent logs in only with mysql_native_password or ed25519)", err)
	}
	return err
}

// position is a node's Galera position: its cluster's state UUID and wsrep_last_committed.
func position(ctx context.Context, db *sql.DB, timeout time.Duration) (*Position, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	return galeraPosition(ctx, conn)
}

// proveAll proves every node of cfg.ProveNodes (see prove), and counts those that
// differ; ph, when not nil, marks each.
func proveAll(ctx context.Context, cfg RestoreConfig, target *Position, dbs []string, want []dumpdigest.Table,
	ph *phases) ([]NodeProof, int) {
	proofs := make([]NodeProof, 0, len(cfg.ProveNodes))
	failed := 0
	for _, n := range cfg.ProveNodes {
		p := prove(ctx, cfg, n, target, dbs, want)
		if !p.Equal {
			failed++
		}
		proofs = append(proofs, p)
		if ph != nil {
			ph.mark("prove " + n.Name)
		}
	}
	return proofs, failed
}

// prove dumps the restored databases on the node, once it has committed the write set
// target (the restore node's last), and compares the dump's digest with the backup's.
func prove(ctx context.Context, cfg RestoreConfig, n NodeAddress, target *Position, dbs []string, want []dumpdigest.Table) NodeProof {
	p := NodeProof{Node: clipBytes(n.Name, 64)}
	sess := cfg.session(n.Name, n.Address, n.Port)
	addr := net.JoinHostPort(n.Address, strconv.Itoa(n.Port))
	got, err := func() ([]dumpdigest.Table, error) {
		db, err := open(sess, addr)
		if err != nil {
			return nil, err
		}
		defer func() { _ = db.Close() }()
		if err := catchUp(ctx, db, target, cfg); err != nil {
			return nil, err
		}
		s, err := openDumpSession(ctx, sess)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return digestNode(ctx, cfg, s, dbs)
	}()
	if err != nil {
		p.Error = bounded(err.Error(), 300)
		return p
	}
	for _, t := range got {
		p.Tables++
		p.Rows += t.Rows
	}
	diffs := dumpdigest.Compare(want, got)
	p.Equal = len(diffs) == 0
	names := make([]string, len(diffs))
	for i, d := range diffs {
		names[i] = quoteTable(d.Database, d.Table) + ": " + d.Reason
	}
	if len(names) > 0 {
		p.Differences = listed(names)
	}
	return p
}

// catchUp waits, at most CatchUpTimeout, until the node, of the restore node's cluster,
// has committed the write set target: what mariadb-dump then reads holds the restore (it
// has no wsrep_sync_wait).
func catchUp(ctx context.Context, db *sql.DB, target *Position, cfg RestoreConfig) error {
	deadline := time.Now().Add(cfg.CatchUpTimeout)
	for {
		pos, err := position(ctx, db, cfg.QueryTimeout)
		if err != nil {
			return fmt.Errorf("reading its position: %s", sqlError(err))
		}
		if pos.ClusterUUID != target.ClusterUUID {
			return fmt.Errorf("its cluster state UUID %q is not the restore node's %q", clipBytes(pos.ClusterUUID, 40),
				clipBytes(target.ClusterUUID, 40))
		}
		if pos.Seqno >= target.Seqno {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("it committed up to %d, not the restore's %d, within %s", pos.Seqno, target.Seqno, cfg.CatchUpTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// digestNode dumps the databases on the session's node as a backup does, and digests it.
func digestNode(ctx context.Context, cfg RestoreConfig, s *dumpSession, dbs []string) ([]dumpdigest.Table, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.StepTimeout)
	defer cancel()
	args := append(append([]string{}, s.args...), dumpDataArgs...)
	args = append(args, dbs...)
	cmd := exec.CommandContext(ctx, cfg.DumpTool, args...) //nolint:gosec // G204: fixed program, the names operands after --
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	dg := dumpdigest.New(0)
	cmd.Stdout = dg
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	if err := cmd.Run(); err != nil {
		logOutput(cfg.Log, "mariadb-dump proving the restore", stderr.Bytes())
		return nil, explainClient(s, fmt.Errorf("mariadb-dump: %w%s (its messages are in the agent's log)",
			err, errorCodes(stderr.Bytes(), false)))
	}
	return dg.Tables()
}
