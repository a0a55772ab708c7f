package agent

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sys/unix"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
)

// DrillConfig is a restore drill of one backup: a scratch MariaDB server of its own,
// started on an empty directory, the backup restored into it, and every table of the
// restored copy compared with what the backup recorded when it was taken.
type DrillConfig struct {
	// Dir is the backup's directory (read only).
	Dir string
	// Scratch is an empty directory for the scratch server's datadir, socket and logs
	// (an emptyDir in the drill's pod).
	Scratch string
	// ScratchLimit, when positive, is the most the scratch directory may hold (the drill
	// pod's emptyDir sizeLimit, past which the kubelet evicts the pod): the space check
	// takes it as the free space when the file system has more.
	ScratchLimit int64
	// BufferPool is the scratch server's InnoDB buffer pool (default 128M).
	BufferPool string
	// Server, InstallDB, Client and DumpTool are the MariaDB programs (defaults: found on
	// PATH, mariadbd in /usr/sbin).
	Server, InstallDB, Client, DumpTool string
	// BackupTool is mariadb-backup, which prepares a physical backup (default: on PATH).
	BackupTool string
	// Log receives what the programs said when they failed (the scratch server's error
	// log, mariadb-dump's messages) and the time of each phase: the pod's log, never the
	// result (default os.Stderr).
	Log io.Writer
	// KeepServer, for tests, is called with the scratch server's socket once the drill is
	// done with the server and before it stops.
	KeepServer func(socket string)
}

func (cfg DrillConfig) log() io.Writer {
	if cfg.Log == nil {
		return os.Stderr
	}
	return cfg.Log
}

// DrillResult is what a restore drill found.
type DrillResult struct {
	// Reason is empty when every table is equal; else one of the reasons below.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
	Tables  int    `json:"tables"`
	Rows    int64  `json:"rows"`
	// Users is how many accounts and roles restoring users.sql added to the scratch
	// server's (mysql.global_priv's rows after it less those before: the accounts the
	// scratch server already had, root@localhost and mariadb.sys, are not counted).
	Users int `json:"users"`
	// Checked is how many restored tables the engine's CHECK TABLE found OK (a table
	// whose engine does not check, MEMORY, is neither OK nor corrupt).
	Checked int `json:"checked"`
	// Mismatches are the tables that differ (at most 20 listed).
	Mismatches []string `json:"mismatches,omitempty"`
	// ServerVersion is the scratch server's version; SourceVersion the version of the
	// server the backup was taken from, as its manifest records it (at most 64 bytes,
	// printable).
	ServerVersion string  `json:"serverVersion,omitempty"`
	SourceVersion string  `json:"sourceVersion,omitempty"`
	Seconds       float64 `json:"seconds"`
	// Error is set when the drill could not be run (Drill's error): the backup is not
	// proven either way.
	Error string `json:"error,omitempty"`
}

// Drill reasons. RestoreFailed, TableMismatch and CorruptTable say the backup did not
// restore as recorded; TooLarge and VersionMismatch that this drill could not prove it
// (its scratch space, its server), whatever the backup holds.
const (
	// ReasonRestoreFailed: the server refused the dump or the users (a server error code
	// and the dump's line).
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonTableMismatch: tables whose rows or digest differ from the manifest's.
	ReasonTableMismatch = "TableMismatch"
	// ReasonCorruptTable: the engine's CHECK TABLE found restored tables not OK.
	ReasonCorruptTable = "CorruptTable"
	// ReasonTooLarge: the scratch space is smaller than the restore needs.
	ReasonTooLarge = "TooLarge"
	// ReasonVersionMismatch: the scratch server is older than the backup's source.
	ReasonVersionMismatch = "VersionMismatch"
	// ReasonNotCompared: a physical backup restored (extracted, prepared, started) and
	// every table OK by CHECK TABLE, but with no table digests recorded to compare with.
	ReasonNotCompared = "NotCompared"
)

// Drill runs a restore drill. An error means the drill could not be run (a damaged
// backup, a server that would not start); a result with a Reason means it ran and the
// backup did not restore as recorded. The result and the error are bounded (see bound):
// the controller reads them from the pod's termination message, and no text of the
// backup's dump, which comes from the overcloud, reaches them but table names, quoted.
func Drill(ctx context.Context, cfg DrillConfig) (DrillResult, error) {
	start := time.Now()
	var res DrillResult
	err := drill(ctx, cfg, &res)
	res.Seconds = time.Since(start).Seconds()
	res.bound()
	if err != nil {
		return res, boundedError{err}
	}
	return res, nil
}

// drillable reads and verifies the backup, and says why it cannot be drilled.
func drillable(ctx context.Context, dir string) (*Manifest, *FileInfo, error) {
	m, err := Verify(ctx, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("the backup's files: %w", err)
	}
	var data *FileInfo
	switch m.Options.Method {
	case Logical:
		data = m.file("databases.sql")
	case Mariabackup:
		data = m.file(PhysicalFile)
	default:
		return nil, nil, fmt.Errorf("the manifest names no backup method this agent knows (%q)", clipBytes(m.Options.Method, 32))
	}
	if m.TablesError != "" && m.Options.Method != Mariabackup {
		return nil, nil, fmt.Errorf("the backup recorded no table digests (%q): nothing to compare with", clipBytes(m.TablesError, 200))
	}
	if data == nil {
		return nil, nil, errors.New("the backup holds no data file (databases.sql or backup.xbstream): nothing to restore")
	}
	if len(m.Tables) == 0 && m.Options.Method != Mariabackup {
		return nil, nil, errors.New("the manifest records no table digests (a backup older than them): nothing to compare with")
	}
	return m, data, nil
}

// phases times the steps of a drill, for the agent's log.
type phases struct {
	t    time.Time
	done []string
}

func (p *phases) mark(name string) {
	p.done = append(p.done, fmt.Sprintf("%s %.2f s", name, time.Since(p.t).Seconds()))
	p.t = time.Now()
}

// drill fills res; an error means the drill could not be run.
func drill(ctx context.Context, cfg DrillConfig, res *DrillResult) error {
	ph := &phases{t: time.Now()}
	defer func() { _, _ = fmt.Fprintf(cfg.log(), "Drill phases: %s\n", strings.Join(ph.done, ", ")) }()
	m, data, err := drillable(ctx, cfg.Dir)
	if err != nil {
		return err
	}
	ph.mark("verify")
	res.SourceVersion = m.ServerVersion
	need := scratchNeeded(m)
	free, limited, err := scratchFree(cfg.Scratch, cfg.ScratchLimit)
	if err != nil {
		return err
	}
	if free < need {
		res.Reason, res.Message = ReasonTooLarge, tooLargeMessage(need, free, limited)
		return nil
	}
	var srv *scratch
	if m.Options.Method == Mariabackup {
		var failed error
		if srv, failed, err = startPrepared(ctx, cfg, *data, ph); failed != nil {
			res.Reason, res.Message = ReasonRestoreFailed, failed.Error()
			return nil
		}
	} else {
		srv, err = startScratch(ctx, cfg, ph)
	}
	if err != nil {
		return err
	}
	defer func() {
		if cfg.KeepServer != nil {
			cfg.KeepServer(srv.sock)
			ph.t = time.Now()
		}
		srv.stop()
		ph.mark("stop")
	}()
	res.ServerVersion = srv.version(ctx)
	older, note := versionVerdict(res.ServerVersion, m.ServerVersion)
	if older {
		res.Reason, res.Message = ReasonVersionMismatch, note
		return nil
	}
	srv.drill(ctx, cfg, m, *data, res)
	if note != "" {
		res.Message += "; " + note
	}
	return nil
}

// majorMinor is a MariaDB version's major and minor numbers ("10.11.14-MariaDB-...").
var majorMinor = regexp.MustCompile(`^(\d{1,4})\.(\d{1,4})(?:[.-]|$)`)

// versionVerdict compares the scratch server's version with the backup's source's, by
// major.minor: older when the scratch server is older (a dump of a newer server may use
// what an older one does not know: the drill would prove nothing), with a message naming
// both; a note when it is newer (the drill proves a restore into it, not into the
// source's version) or when either version is unknown; "" when they are the same. Pure.
func versionVerdict(server, source string) (older bool, msg string) {
	sv, sok := parseMajorMinor(server)
	bv, bok := parseMajorMinor(source)
	name := func(v string) string { return fmt.Sprintf("%q", clipBytes(v, maxVersion)) }
	switch {
	case !bok:
		return false, fmt.Sprintf("the backup's source server version is unknown (%s): restored into %s", name(source), name(server))
	case !sok:
		return false, fmt.Sprintf("the scratch server's version is unknown (%s), the backup's source is %s", name(server), name(source))
	case sv[0] < bv[0] || sv[0] == bv[0] && sv[1] < bv[1]:
		return true, fmt.Sprintf("the scratch server %s is older than the backup's source %s: a dump of a newer server "+
			"may not load into an older one; drill it with MariaDB %d.%d or newer", name(server), name(source), bv[0], bv[1])
	case sv != bv:
		return false, fmt.Sprintf("the scratch server %s is newer than the backup's source %s", name(server), name(source))
	}
	return false, ""
}

func parseMajorMinor(v string) ([2]int, bool) {
	m := majorMinor.FindStringSubmatch(v)
	if m == nil {
		return [2]int{}, false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return [2]int{major, minor}, true
}

// drill restores the backup into the scratch server, checks the restored tables and
// compares them with the manifest's, and says what it found in res.
func (s *scratch) drill(ctx context.Context, cfg DrillConfig, m *Manifest, data FileInfo, res *DrillResult) {
	phase := s.phases.mark
	failed := func(err error) { res.Reason, res.Message = ReasonRestoreFailed, err.Error() }

	users := m.file("users.sql")
	if m.Options.Method == Mariabackup {
		// The copy holds the overcloud's own grant tables: its accounts are counted, and
		// not enforced (the scratch server runs without them: nothing logs in but the drill).
		var err error
		if res.Users, err = s.accounts(ctx); err != nil {
			failed(fmt.Errorf("reading the restored grant tables: %s", sqlError(err)))
			return
		}
	} else if err := s.restore(ctx, cfg, data, true); err != nil {
		failed(err)
		return
	} else {
		phase("restore")
	}
	if users != nil && m.Options.Method == Logical {
		var err error
		if res.Users, err = s.restoreUsers(ctx, cfg, *users); err != nil {
			failed(err)
			return
		}
		phase("users")
	}
	// CHECK TABLE, then the re-dump (run together they took as long, on 2 vCPUs: both
	// are the server's CPU).
	checked, corrupt, err := s.check(ctx, m)
	if err != nil {
		failed(err)
		return
	}
	phase("check")
	res.Checked = checked
	if len(corrupt) > 0 {
		res.Reason, res.Mismatches = ReasonCorruptTable, listed(corrupt)
		res.Message = fmt.Sprintf("CHECK TABLE found %d of %d restored tables not OK: %s",
			len(corrupt), checked+len(corrupt), strings.Join(res.Mismatches, "; "))
		return
	}
	got, err := s.digest(ctx, cfg, m)
	if err != nil {
		failed(err)
		return
	}
	phase("re-dump and digest")
	if m.TablesError != "" && m.Options.Method == Mariabackup {
		// Nothing recorded to compare with: what the copy holds is said, not judged.
		for _, t := range got {
			res.Tables++
			res.Rows += t.Rows
		}
		res.Reason = ReasonNotCompared
		res.Message = fmt.Sprintf("restored: the copy extracted, prepared and started; %d tables OK by CHECK TABLE; %d tables, "+
			"%d rows dumped from it; %d accounts and roles in its grant tables; not compared: physical backups record no table "+
			"digests (see its manifest's tablesError)", res.Checked, res.Tables, res.Rows, res.Users)
		return
	}
	for _, t := range m.Tables {
		res.Tables++
		res.Rows += t.Rows
	}
	if diffs := dumpdigest.Compare(m.Tables, got); len(diffs) > 0 {
		res.Reason = ReasonTableMismatch
		names := make([]string, len(diffs))
		for i, d := range diffs {
			names[i] = quoteTable(d.Database, d.Table) + ": " + d.Reason
		}
		res.Mismatches = listed(names)
		res.Message = fmt.Sprintf("%d of %d tables differ from what the backup recorded: %s",
			len(diffs), res.Tables, strings.Join(res.Mismatches, "; "))
		return
	}
	res.Message = fmt.Sprintf("restored: %d tables, %d rows, all equal to what the backup recorded; %d tables OK by CHECK TABLE",
		res.Tables, res.Rows, res.Checked)
	switch {
	case m.Options.Method == Mariabackup:
		res.Message += fmt.Sprintf("; %d accounts and roles in its grant tables", res.Users)
	case users != nil:
		res.Message += fmt.Sprintf("; users and grants restored (%d accounts and roles)", res.Users)
	}
}

// file is the manifest's entry of the data file named base (compressed or not).
func (m *Manifest) file(base string) *FileInfo {
	for i, f := range m.Files {
		if f.Name == base || strings.HasPrefix(f.Name, base+".") {
			return &m.Files[i]
		}
	}
	return nil
}

// The scratch space a restore needs: InnoDB holds a logical dump's rows in up to about
// twice the dump's bytes (pages kept partly free, the secondary indexes the dump does not
// hold, the undo log of the restore), plus a fixed part for the system tablespace, the
// redo log (96 MiB by default), the system tables and the server's temporary files.
const (
	restoreFactor = 2
	restoreFixed  = 200 << 20
)

// scratchNeeded is the scratch space a restore of the backup's files needs (their
// uncompressed bytes, which Verify has checked). Pure.
func scratchNeeded(m *Manifest) int64 {
	var n int64
	for _, f := range m.Files {
		n = min(n+max(f.UncompressedBytes, 0), math.MaxInt64/restoreFactor-restoreFixed)
	}
	return n*restoreFactor + restoreFixed
}

// scratchFree is the space the drill may use in dir: what its file system has free, or
// limit when positive and smaller (limited then says so).
func scratchFree(dir string, limit int64) (free int64, limited bool, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false, fmt.Errorf("reading the free space of the scratch directory: %w", err)
	}
	free = int64(min(st.Bavail, math.MaxInt64/uint64(max(st.Bsize, 1)))) * st.Bsize //nolint:gosec // G115: bounded
	if limit > 0 && limit < free {
		return limit, true, nil
	}
	return free, false, nil
}

// tooLargeMessage says why a restore does not fit. Pure.
func tooLargeMessage(need, free int64, limited bool) string {
	where := "free on the scratch directory's file system"
	if limited {
		where = "the scratch directory's size limit"
	}
	return fmt.Sprintf("the restore needs about %d MiB of scratch space (%d x the backup's uncompressed size, plus %d MiB), "+
		"%d MiB is %s", need>>20, restoreFactor, restoreFixed>>20, free>>20, where)
}

// scratch is the drill's scratch server.
type scratch struct {
	dir, sock, client string
	// cnf is the client option file with the drill's own account (--defaults-file).
	cnf     string
	db      *sql.DB
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	phases  *phases
}

// startScratch makes a datadir and starts a standalone mariadbd on it: no networking (a
// socket only, in a directory only the agent may enter), no Galera, no file reads or
// writes by SQL. Its grant tables are on, so that the backup's users and grants are
// restored and enforced as on the overcloud; the drill logs in with an account of its own
// (see account), made by root@localhost, which mariadb-install-db leaves without a
// password.
func startScratch(ctx context.Context, cfg DrillConfig, ph *phases) (*scratch, error) {
	d, err := scratchDirs(cfg)
	if err != nil {
		return nil, err
	}
	user := rootUser()
	installArgs := append([]string{noDefaults, "--datadir=" + d.data, "--skip-test-db", "--auth-root-authentication-method=normal"}, user...)
	//nolint:gosec // G204: a fixed program, our own paths
	install := exec.CommandContext(ctx, cmp.Or(cfg.InstallDB, "mariadb-install-db"), installArgs...)
	if out, err := install.CombinedOutput(); err != nil {
		logOutput(cfg.log(), "mariadb-install-db", out)
		return nil, fmt.Errorf("mariadb-install-db: %w%s (its output is in the agent's log)", err, errorCodes(out, false))
	}
	ph.mark("install-db")
	s, err := startServer(ctx, cfg, d, ph)
	if err != nil {
		return nil, err
	}
	if err := s.account(ctx); err != nil {
		s.stop()
		return nil, err
	}
	ph.mark("start")
	return s, nil
}

// scratchPaths are the scratch directory's parts: the datadir, the server's socket, pid
// file and logs, and the empty directory secure-file-priv names.
type scratchPaths struct{ dir, data, run, nofiles string }

// scratchDirs checks that the scratch directory is empty and makes its parts.
func scratchDirs(cfg DrillConfig) (scratchPaths, error) {
	dir, err := filepath.Abs(cfg.Scratch)
	if err != nil {
		return scratchPaths{}, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return scratchPaths{}, fmt.Errorf("the scratch directory: %w", err)
	}
	if len(entries) > 0 {
		return scratchPaths{}, fmt.Errorf("the scratch directory %s is not empty", dir)
	}
	d := scratchPaths{dir: dir, data: filepath.Join(dir, "data"), run: filepath.Join(dir, "run"), nofiles: filepath.Join(dir, "nofiles")}
	for _, p := range []string{d.data, d.run, d.nofiles} {
		if err := os.Mkdir(p, 0o700); err != nil {
			return scratchPaths{}, err
		}
	}
	return d, nil
}

// rootUser is the option mariadbd needs to run as root, which it refuses unless told:
// the tests run as root, the drill's pod never does.
func rootUser() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

// startServer starts the scratch mariadbd on the datadir and waits for its socket; extra
// are more of its options.
func startServer(ctx context.Context, cfg DrillConfig, d scratchPaths, ph *phases, extra ...string) (*scratch, error) {
	s := &scratch{dir: d.dir, sock: filepath.Join(d.run, "mysqld.sock"), cnf: filepath.Join(d.run, "client.cnf"),
		client: cmp.Or(cfg.Client, "mariadb"), exited: make(chan struct{}), phases: ph}
	args := append([]string{noDefaults, "--datadir=" + d.data, "--socket=" + s.sock,
		"--pid-file=" + filepath.Join(d.run, "mysqld.pid"), "--log-error=" + filepath.Join(d.run, "error.log"),
		"--tmpdir=" + d.run, "--skip-networking", "--wsrep-on=OFF", "--skip-log-bin",
		"--secure-file-priv=" + d.nofiles, "--local-infile=0",
		"--innodb-buffer-pool-size=" + cmp.Or(cfg.BufferPool, "128M"),
		// A throwaway copy: no durability, and MyISAM's and Aria's caches (128 MiB each by
		// default, 28 MiB of resident memory at start) small, so that the buffer pool is
		// what bounds the server's memory (docs/benchmarks.md, "Restore drill").
		"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
		"--aria-pagecache-buffer-size=16M", "--key-buffer-size=8M"}, rootUser()...)
	args = append(args, extra...)
	// Stopped by stop(), by its PID, not by ctx: a cancelled drill still shuts it down cleanly.
	s.cmd = exec.Command(cmp.Or(cfg.Server, "/usr/sbin/mariadbd"), args...) //nolint:gosec,noctx // G204: a fixed program
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the scratch server: %w", err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	if err := s.waitSocket(ctx, cfg, d.run); err != nil {
		return nil, err
	}
	return s, nil
}

// waitSocket waits (at most 60 s) until the server accepts connections on its socket.
func (s *scratch) waitSocket(ctx context.Context, cfg DrillConfig, run string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := (&net.Dialer{}).DialContext(ctx, "unix", s.sock); err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(run, "error.log")) //nolint:gosec // G304: our own log
			logOutput(cfg.log(), "the scratch server's error log", log)
			return fmt.Errorf("the scratch server exited: %w%s (its error log is in the agent's log)", s.waitErr, errorCodes(log, true))
		case <-ctx.Done():
			s.stop()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return errors.New("the scratch server did not open its socket within 60 s")
		}
	}
}

// account makes the drill's own account, as root@localhost, and writes the client
// option file the mariadb programs read it from. Not root itself: the backup's users.sql
// sets root@localhost's authentication to the overcloud's (GRANT ... IDENTIFIED VIA, e.g.
// unix_socket, which only the OS user root passes), and the drill must still log in
// after restoring it. The name is random, so no account of the backup's can be it; it
// holds every privilege, and the PROXY privilege on every account with grant option, as
// root@localhost does, without which users.sql's GRANT PROXY statements are refused
// (error 1698).
func (s *scratch) account(ctx context.Context) error {
	root, err := socketDB(s.sock, "root", "")
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	name, password := make([]byte, 8), make([]byte, 16)
	if _, err := rand.Read(name); err != nil {
		return err
	}
	if _, err := rand.Read(password); err != nil {
		return err
	}
	user := "ocb_drill_" + hex.EncodeToString(name)
	pw := hex.EncodeToString(password)
	account := "'" + user + "'@'localhost'"
	for _, q := range []string{
		"CREATE USER " + account + " IDENTIFIED BY '" + pw + "'",
		"GRANT ALL PRIVILEGES ON *.* TO " + account + " WITH GRANT OPTION",
		"GRANT PROXY ON ''@'%' TO " + account + " WITH GRANT OPTION",
	} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("making the drill's account on the scratch server: %s", sqlError(err))
		}
	}
	cnf := fmt.Sprintf("[client]\nuser=%s\npassword=%s\nsocket=%s\n", user, pw, s.sock)
	if err := os.WriteFile(s.cnf, []byte(cnf), 0o600); err != nil {
		return err
	}
	s.db, err = socketDB(s.sock, user, pw)
	return err
}

// socketDB is a connection pool to the scratch server's socket.
func socketDB(sock, user, password string) (*sql.DB, error) {
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = user, password, "unix", sock
	mc.Timeout = 10 * time.Second
	mc.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	return db, nil
}

// stop kills the scratch server by its PID and waits for it: its datadir is thrown
// away, and a clean shutdown would only write pages nobody reads (0.25 s of a drill of
// 150 MB).
func (s *scratch) stop() {
	if s.db != nil {
		_ = s.db.Close()
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// clientArgs make a mariadb program log in with the drill's account, reading no other
// option file.
func (s *scratch) clientArgs() []string {
	return []string{"--defaults-file=" + s.cnf}
}

func (s *scratch) version(ctx context.Context) string {
	var v string
	_ = s.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v)
	return v
}

// accounts is the number of rows of mysql.global_priv (accounts and roles).
func (s *scratch) accounts(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.global_priv").Scan(&n)
	return n, err
}

// restoreUsers restores users.sql and says how many accounts and roles it added. The
// statements are CREATE USER and GRANT, which take effect at once: no FLUSH PRIVILEGES.
func (s *scratch) restoreUsers(ctx context.Context, cfg DrillConfig, f FileInfo) (int, error) {
	before, err := s.accounts(ctx)
	if err != nil {
		return 0, fmt.Errorf("counting the scratch server's accounts: %s", sqlError(err))
	}
	if err := s.restore(ctx, cfg, f, false); err != nil {
		return 0, err
	}
	after, err := s.accounts(ctx)
	if err != nil {
		return 0, fmt.Errorf("counting the scratch server's accounts: %s", sqlError(err))
	}
	return after - before, nil
}

// restore pipes the dump, decompressed, into the mariadb client. When it fails, the
// client's output goes to the agent's log if logged (never for users.sql: the statement
// it quotes may hold password hashes), and the result has the error code alone.
func (s *scratch) restore(ctx context.Context, cfg DrillConfig, f FileInfo, logged bool) error {
	data, closeData, err := openData(cfg.Dir, f)
	if err != nil {
		return err
	}
	defer closeData()
	args := append(s.clientArgs(), "--default-character-set=utf8mb4", "--binary-mode")
	cmd := exec.CommandContext(ctx, s.client, args...) //nolint:gosec // G204: fixed program
	cmd.Stdin = data
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limited{w: &out, n: 4096}, &limited{w: &out, n: 4096}
	if err := cmd.Run(); err != nil {
		if logged {
			logOutput(cfg.log(), "the mariadb client restoring "+f.Name, out.Bytes())
		}
		return fmt.Errorf("restoring %s into the scratch server: %w%s", f.Name, err, clientError(out.Bytes()))
	}
	return nil
}

// clientErrorLine is how the mariadb client reports the statement that failed.
var clientErrorLine = regexp.MustCompile(`ERROR (\d{1,5}) \(([0-9A-Z]{5})\)(?: at line (\d{1,12}))?`)

// clientError is the server's error code and the dump's line from the client's output,
// without its text: the text quotes the dump, whose bytes come from the overcloud.
func clientError(out []byte) string {
	m := clientErrorLine.FindSubmatch(out)
	if m == nil {
		return ""
	}
	s := fmt.Sprintf(": server error %s (%s)", m[1], m[2])
	if len(m[3]) > 0 {
		s += fmt.Sprintf(" at line %s of the dump", m[3])
	}
	return s
}

// checkRow is one row of CHECK TABLE's result.
type checkRow struct{ Table, Op, MsgType, MsgText string }

// checkVerdict reads one table's CHECK TABLE rows (testdata/checktable): "" when the
// engine found it OK, notChecked when its engine does not check (MEMORY), else the
// status the server gave ("Corrupt", "Operation failed"), or "not OK". Never the rows'
// other text: an error message names the table, whose name comes from the dump. Pure.
func checkVerdict(rows []checkRow) string {
	verdict := notChecked
	for _, r := range rows {
		kind := strings.ToLower(r.MsgType)
		if kind != "status" && kind != "error" {
			continue // notes and warnings: a status or an error follows when it matters
		}
		switch {
		case kind == "status" && (r.MsgText == "OK" || r.MsgText == "Table is already up to date"):
			if verdict == notChecked {
				verdict = ""
			}
		case r.MsgText == "Corrupt" || r.MsgText == "Operation failed":
			verdict = r.MsgText
		case verdict == "" || verdict == notChecked:
			verdict = "not OK"
		}
	}
	return verdict
}

// notChecked is checkVerdict's word for a table its engine does not check.
const notChecked = "-"

// maxListed is how many tables a result names (then how many more).
const maxListed = 20

// check runs CHECK TABLE on every base table restored into the backup's databases, four
// at a time, and says how many were OK and which were not.
func (s *scratch) check(ctx context.Context, m *Manifest) (int, []string, error) {
	type name struct{ db, table string }
	var tables []name
	for _, d := range m.Databases {
		err := func() error {
			rows, err := s.db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables "+
				"WHERE table_schema = ? AND table_type IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY table_name", d.Name)
			if err != nil {
				return err
			}
			defer func() { _ = rows.Close() }()
			for rows.Next() {
				var t string
				if err := rows.Scan(&t); err != nil {
					return err
				}
				tables = append(tables, name{d.Name, t})
			}
			return rows.Err()
		}()
		if err != nil {
			return 0, nil, fmt.Errorf("listing the restored tables: %s", sqlError(err))
		}
	}
	verdicts := make([]string, len(tables)) // checkVerdict's
	work := make(chan int)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				rows, err := s.checkTable(ctx, tables[i].db, tables[i].table)
				if err != nil {
					errs <- fmt.Errorf("CHECK TABLE of %s: %s", quoteTable(tables[i].db, tables[i].table), sqlError(err))
					return
				}
				verdicts[i] = checkVerdict(rows)
			}
		})
	}
feed:
	for i := range tables {
		select {
		case work <- i:
		case err := <-errs:
			close(work)
			wg.Wait()
			return 0, nil, err
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return 0, nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	checked := 0
	var corrupt []string
	for i, v := range verdicts {
		switch v {
		case "":
			checked++
		case notChecked:
		default:
			corrupt = append(corrupt, quoteTable(tables[i].db, tables[i].table)+": CHECK TABLE says "+v)
		}
	}
	return checked, corrupt, nil
}

// checkTable runs CHECK TABLE on one table and reads its rows.
func (s *scratch) checkTable(ctx context.Context, db, table string) ([]checkRow, error) {
	rows, err := s.db.QueryContext(ctx, "CHECK TABLE "+sqlName(db)+"."+sqlName(table))
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []checkRow
	for rows.Next() {
		var r checkRow
		if err := rows.Scan(&r.Table, &r.Op, &r.MsgType, &r.MsgText); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// sqlName is a name quoted for SQL, its backticks doubled.
func sqlName(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// quoteTable names a table for a result: database and table, each Go-quoted (the bytes
// come from the backup) and bounded.
func quoteTable(db, table string) string {
	return fmt.Sprintf("%q.%q", clipBytes(db, 64), clipBytes(table, 64))
}

// clipBytes is s cut to at most n bytes, at a character boundary.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// digest dumps the restored databases as the backup did and digests the stream.
func (s *scratch) digest(ctx context.Context, cfg DrillConfig, m *Manifest) ([]dumpdigest.Table, error) {
	args := append(s.clientArgs(), dumpDataArgs...)
	for _, d := range m.Databases {
		args = append(args, d.Name)
	}
	//nolint:gosec // G204: fixed program, the names operands after --
	cmd := exec.CommandContext(ctx, cmp.Or(cfg.DumpTool, "mariadb-dump"), args...)
	dg := dumpdigest.New(0)
	cmd.Stdout = dg
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	if err := cmd.Run(); err != nil {
		logOutput(cfg.log(), "mariadb-dump of the restored copy", stderr.Bytes())
		return nil, fmt.Errorf("dumping the restored copy: %w%s (mariadb-dump's messages are in the agent's log)",
			err, errorCodes(stderr.Bytes(), false))
	}
	return dg.Tables()
}

// logOutput writes a program's output to the agent's log (the pod's), in a drill or a
// restore: its last 4 KiB at most, control characters but newlines and tabs replaced.
// The log is for people; the result is for the controller and never holds this text.
func logOutput(w io.Writer, what string, out []byte) {
	if len(out) > 4096 {
		out = out[len(out)-4096:]
	}
	text := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, strings.ToValidUTF8(string(out), "?"))
	_, _ = fmt.Fprintf(w, "%s said:\n%s\n", what, strings.TrimSpace(text))
}

// errorCodeIn finds the numeric error codes the MariaDB programs write: "Errcode: 28",
// "errno: 13", "error number 28", "Got error: 1146:", "(1146)" at a line's end.
var errorCodeIn = regexp.MustCompile(`(?i)(?:errcode|errno|error number|error)[:=]? ?(\d{1,5})\b|\((\d{4,5})\)\s*$`)

// errorCodes is what a program's output says that may reach the result: the numeric
// error codes of its lines (only the "[ERROR]" lines of a server's log when serverLog),
// at most five, as ": error codes 28, 13" ("" when none), and, when a server's [ERROR]
// line speaks of corruption (InnoDB's "corrupted page"), that in our own words. The text
// around them can quote the dump's bytes and never does.
func errorCodes(out []byte, serverLog bool) string {
	var codes []string
	lines := 0
	corrupt := false
	for _, line := range strings.Split(string(out), "\n") {
		if serverLog && !strings.Contains(line, "[ERROR]") {
			continue
		}
		lines++
		corrupt = corrupt || (serverLog && strings.Contains(strings.ToLower(line), "corrupt"))
		for _, m := range errorCodeIn.FindAllStringSubmatch(line, -1) {
			code := m[1] + m[2]
			if len(codes) < 5 && !slices.Contains(codes, code) {
				codes = append(codes, code)
			}
		}
	}
	said := ""
	switch {
	case len(codes) > 0:
		said = ": error codes " + strings.Join(codes, ", ")
	case serverLog && lines > 0:
		said = fmt.Sprintf(": %d [ERROR] lines without an error code", lines)
	}
	if corrupt {
		said += " (InnoDB reports corruption: a damaged page or file in the backup)"
	}
	return said
}

// sqlError is a query's error without the server's message text (which may quote
// names from the dump): its error number and SQLSTATE, or the driver's own error.
func sqlError(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("server error %d (%s)", me.Number, string(me.SQLState[:]))
	}
	return err.Error()
}

// Bounds of a DrillResult, which the controller reads from the pod's termination
// message (at most 4 KiB; the result stays under 3 KiB as JSON): lengths as
// encoding/json writes them.
const (
	maxMessage      = 1024
	maxMismatch     = 300
	maxMismatches   = 1200
	maxVersion      = 64
	clippedEllipsis = "..."
)

// bound keeps every string of the result within its bound, printable.
func (r *DrillResult) bound() {
	r.Reason = bounded(r.Reason, 32)
	r.Message = bounded(r.Message, maxMessage)
	r.ServerVersion = bounded(r.ServerVersion, maxVersion)
	r.SourceVersion = bounded(r.SourceVersion, maxVersion)
	r.Error = bounded(r.Error, maxMessage)
	total := 0
	for i, m := range r.Mismatches {
		m = bounded(m, maxMismatch)
		if i > maxListed || total+jsonLen(m) > maxMismatches {
			r.Mismatches = append(r.Mismatches[:i], "and more")
			break
		}
		r.Mismatches[i], total = m, total+jsonLen(m)
	}
}

// listed is at most maxListed of items, within maxMismatches bytes of JSON in all,
// then how many more.
func listed(items []string) []string {
	var out []string
	total := len(`"and 99999 more",`)
	for _, it := range items {
		it = bounded(it, maxMismatch)
		if len(out) == maxListed || total+jsonLen(it)+3 > maxMismatches {
			break
		}
		out, total = append(out, it), total+jsonLen(it)+3
	}
	if n := len(items) - len(out); n > 0 {
		out = append(out, fmt.Sprintf("and %d more", n))
	}
	return out
}

// bounded is s with its non-printable characters (and invalid UTF-8) replaced by '?'
// and cut so that encoding/json writes it in at most n bytes (its quotes not counted),
// "..." ending it when cut.
func bounded(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, strings.ToValidUTF8(s, "?"))
	if jsonLen(s) <= n {
		return s
	}
	used := len(clippedEllipsis)
	for i, r := range s {
		if used+jsonRuneLen(r) > n {
			return s[:i] + clippedEllipsis
		}
		used += jsonRuneLen(r)
	}
	return s
}

// jsonLen is how many bytes encoding/json writes for the string s, quotes not counted.
func jsonLen(s string) int {
	n := 0
	for _, r := range s {
		n += jsonRuneLen(r)
	}
	return n
}

// jsonRuneLen is how many bytes encoding/json writes for r inside a string: escaped
// quotes and backslashes, \u00XX for control characters and for <, > and & (HTML-safe
// escaping), \u2028 and \u2029, \ufffd for invalid UTF-8.
func jsonRuneLen(r rune) int {
	switch {
	case r == '"' || r == '\\':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029 || r == utf8.RuneError:
		return 6
	}
	return utf8.RuneLen(r)
}

// boundedError is a Drill error as the result may carry it: its text bounded like a
// message, the error itself kept for errors.Is and errors.As.
type boundedError struct{ err error }

func (e boundedError) Error() string { return bounded(e.err.Error(), maxMessage) }
func (e boundedError) Unwrap() error { return e.err }

// noDefaults keeps the MariaDB programs from reading any option file.
const noDefaults = "--no-defaults"
