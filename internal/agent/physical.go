package agent

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/remote"
)

// Dump methods, as in the API's dump.method.
const (
	Logical     = "Logical"
	Mariabackup = "Mariabackup"
)

// DefaultsFilePlaceholder is replaced, in PhysicalConfig.Command, by the path of the
// client defaults file holding the credentials.
const DefaultsFilePlaceholder = "{defaultsFile}"

// DefaultMariabackupCommand is the API's default mariabackupCommand.
const DefaultMariabackupCommand = "sudo -n mariadb-backup --defaults-extra-file=" + DefaultsFilePlaceholder +
	" --backup --galera-info --no-lock --stream=xbstream"

// PhysicalFile is the backup file of the Mariabackup method (plus the compression's
// extension): mariadb-backup's xbstream as it came, to be extracted with `mbstream -x`.
const PhysicalFile = "backup.xbstream"

// PhysicalConfig is what the Mariabackup method needs: SSH access to the selected node
// and the command that writes an xbstream to stdout there.
type PhysicalConfig struct {
	// SSHUser, SSHPort (0: 22), KeyFile and KnownHostsFile reach the node's sshd.
	SSHUser        string
	SSHPort        int
	KeyFile        string
	KnownHostsFile string
	// SSHTimeout bounds connecting to the node (0: 10s); the backup itself is bounded
	// only by the agent's context (the Job's deadline).
	SSHTimeout time.Duration
	// Command is the command template run on the node (see the API's mariabackupCommand);
	// empty means DefaultMariabackupCommand.
	Command string
}

func (p PhysicalConfig) command() string {
	if p.Command == "" {
		return DefaultMariabackupCommand
	}
	return p.Command
}

// check refuses a configuration the method cannot run with, before anything is touched:
// the key and known_hosts are read and parsed here.
func (p PhysicalConfig) check() error {
	if p.SSHPort < 0 || p.SSHPort > 65535 {
		return fmt.Errorf("ssh port %d is not a port", p.SSHPort)
	}
	if !strings.Contains(p.command(), DefaultsFilePlaceholder) {
		return fmt.Errorf("the mariabackup command does not contain %s: mariadb-backup must read the credentials from it",
			DefaultsFilePlaceholder)
	}
	r, err := p.runner()
	if err != nil {
		return err
	}
	r.Close()
	return nil
}

// runner reads the key and known_hosts files and builds the SSH runner.
func (p PhysicalConfig) runner() (*remote.Runner, error) {
	if p.SSHUser == "" {
		return nil, errors.New("no ssh user")
	}
	key, err := os.ReadFile(p.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the ssh private key: %w", err)
	}
	knownHosts, err := os.ReadFile(p.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("reading known_hosts: %w", err)
	}
	r, err := remote.NewRunner(remote.Config{User: p.SSHUser, PrivateKey: key, KnownHosts: knownHosts, ConnectTimeout: p.SSHTimeout})
	if err != nil {
		return nil, fmt.Errorf("%w (key %s, known_hosts %s)", err, p.KeyFile, p.KnownHostsFile)
	}
	return r, nil
}

// How the credentials reach mariadb-backup on the node. They travel on the SSH session's
// stdin, never on a command line (the node's process list) nor in a file by name: the
// preamble below creates a private file (mktemp: 0600) in /dev/shm (memory), else
// $TMPDIR, /tmp or $HOME, opens it twice and unlinks it before anything is written to
// it, copies stdin into it, and makes the other descriptor the command's stdin.
// {defaultsFile} is then /dev/stdin: mariadb-backup reads its defaults files more than
// once (server and client option groups), which a pipe would not survive (the second
// read finds it empty and, as root, mariadb-backup then silently logs in as root over
// the socket instead), but every open of /dev/stdin on a regular file starts again at
// its beginning. sudo keeps stdin. The secret is written only once the file has no name,
// so it leaves nothing behind whatever happens (at worst an empty file, when the session
// dies between mktemp and rm). The command is run with exec, so that the stop signals
// (SIGINT and SIGTERM, which sudo passes on) reach it.
const preamble = `f=; for d in /dev/shm "${TMPDIR:-/tmp}" "$HOME"; do ` +
	`f=$(mktemp "$d/.ocb-defaults.XXXXXXXX" 2>/dev/null) && break; f=; done; ` +
	`[ -n "$f" ] || { echo 'overcloud-backup: cannot create a private file for the client defaults ` +
	`in /dev/shm, $TMPDIR, /tmp or $HOME' >&2; exit 125; }; ` +
	`exec 3>"$f" 4<"$f" || { rm -f "$f"; exit 125; }; rm -f "$f" || exit 125; unset f d; ` +
	`cat >&3 || exit 125; exec 3>&- 0<&4 4<&-; exec `

// remoteCommand is what the node's login shell runs: /bin/sh (whatever the login shell
// is) with the preamble, then the template with {defaultsFile} as /dev/stdin.
func remoteCommand(template string) string {
	script := preamble + strings.ReplaceAll(template, DefaultsFilePlaceholder, "/dev/stdin")
	return "exec /bin/sh -c " + shellQuote(script)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// clientDefaults is the option file sent on stdin. host and port are the node's address
// as the agent reaches it, so that mariadb-backup copies the server this agent re-checked
// and desynced (a --host or --socket on the template's command line overrides them).
// With a TLS mode that requires TLS, mariadb-backup is asked for it too (ssl: clients
// before MariaDB 10.10 do not take TLS by themselves, and a user created REQUIRE SSL
// needs it). Its connection goes from the node to the node's own address and never leaves
// the host, and the CA is the agent's file, not one on the node: the certificate is not
// verified there (docs/security.md).
func clientDefaults(cfg Config) []byte {
	b := fmt.Appendf(nil, "[client]\nuser=%s\npassword=%s\nhost=%s\nport=%d\n",
		optionValue(cfg.User), optionValue(cfg.Password), optionValue(cfg.Address), cfg.Port)
	if cfg.TLS != nil && cfg.TLS.Mode != galera.TLSPreferred {
		b = append(b, "ssl\n"...)
	}
	return b
}

// Files of the stream the agent reads.
const (
	galeraInfoFile = "xtrabackup_galera_info"
	binlogInfoFile = "xtrabackup_binlog_info"
	backupInfoFile = "xtrabackup_info"
)

// physicalBackup streams mariadb-backup's xbstream from the node into the artifact and
// returns the exact Galera position it recorded and the tool's version. The stream is
// checked as it passes (every chunk's CRC-32, every file ended) and never held in memory.
func physicalBackup(ctx context.Context, cfg Config, art *Artifact) (*Position, string, error) {
	p := cfg.Physical
	r, err := p.runner()
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	f, err := art.Create(PhysicalFile, cfg.Compression, cfg.Level)
	if err != nil {
		return nil, "", err
	}
	follow := followXBStream(galeraInfoFile, binlogInfoFile, backupInfoFile)
	// A login that did not use the credentials stops the backup at once, rather than
	// after copying the whole datadir.
	streamCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	login := &loginWatch{user: cfg.User, mismatch: func(err error) { stop(err) }}
	runErr := r.Stream(streamCtx, cfg.Address, p.SSHPort, remoteCommand(p.command()), clientDefaults(cfg),
		paced(streamCtx, &teeWriter{file: f, follow: follow}, cfg.MaxRate), login)
	closeErr := f.Close()
	if runErr != nil {
		follow.abort()
		if ctx.Err() == nil && streamCtx.Err() != nil {
			return nil, "", fmt.Errorf("mariadb-backup on %s: %w", cfg.Node, context.Cause(streamCtx))
		}
		return nil, "", errors.Join(fmt.Errorf("mariadb-backup on %s: %w", cfg.Node, runErr), login.check())
	}
	kept, streamErr := follow.finish()
	if err := errors.Join(login.check(), streamErr, closeErr); err != nil {
		return nil, "", fmt.Errorf("mariadb-backup on %s: %w", cfg.Node, err)
	}
	pos, err := parseGaleraInfo(kept[galeraInfoFile])
	if err != nil {
		return nil, "", fmt.Errorf("mariadb-backup on %s: %w", cfg.Node, err)
	}
	pos.GTID = binlogGTID(kept[binlogInfoFile])
	return pos, backupToolVersion(kept[backupInfoFile]), nil
}

// teeWriter writes the stream to the backup file, then to the follower: a disk error or
// a malformed stream stops the command.
type teeWriter struct {
	file   *File
	follow *xbFollower
}

func (t *teeWriter) Write(p []byte) (int, error) {
	if n, err := t.file.Write(p); err != nil {
		return n, err
	}
	return t.follow.Write(p)
}

var galeraUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// parseGaleraInfo reads xtrabackup_galera_info: "<cluster uuid>:<seqno>", followed in
// MariaDB 10.11 by " <wsrep_gtid_domain_id>". mariadb-backup writes it while commits are
// blocked (BACKUP STAGE BLOCK_COMMIT): the exact position of the copy.
func parseGaleraInfo(b []byte) (*Position, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("the stream has no %s: does the command pass --galera-info?", galeraInfoFile)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s is empty", galeraInfoFile)
	}
	i := strings.LastIndexByte(fields[0], ':')
	if i < 0 || !galeraUUID.MatchString(fields[0][:i]) {
		return nil, fmt.Errorf("%s: %q is not <cluster uuid>:<seqno>", galeraInfoFile, line)
	}
	seqno, err := strconv.ParseInt(fields[0][i+1:], 10, 64)
	if err != nil || seqno < 0 {
		return nil, fmt.Errorf("%s: %q has no valid seqno (a node outside the cluster?)", galeraInfoFile, line)
	}
	return &Position{ClusterUUID: fields[0][:i], Seqno: seqno}, nil
}

// binlogGTID is the GTID position of xtrabackup_binlog_info ("<file> <pos> <gtid>"),
// written when the node has a binary log.
func binlogGTID(b []byte) string {
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return ""
	}
	return fields[2]
}

// backupToolVersion is "tool_name tool_version" from xtrabackup_info, such as
// "mariadb-backup 10.11.19-MariaDB".
func backupToolVersion(b []byte) string {
	v := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, val, ok := strings.Cut(l, "="); ok {
			v[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
	}
	return strings.TrimSpace(v["tool_name"] + " " + v["tool_version"])
}

// loginWatch reads mariadb-backup's stderr for the line saying how it logs in
// ("Connecting to MariaDB server host: h, user: u, password: set, ..."). A login as
// another user or without a password means the defaults file was not read (as root,
// mariadb-backup would then log in over the socket by unix_socket and succeed): mismatch
// is called with the error as soon as that line is seen.
type loginWatch struct {
	user     string
	mismatch func(error)

	mu   sync.Mutex
	line []byte
	seen bool
	err  error
}

var connectingLine = regexp.MustCompile(`Connecting to (?:MariaDB|MySQL) server host: .*?, user: (.*?), password: (set|not set)`)

// Write implements io.Writer.
func (w *loginWatch) Write(p []byte) (int, error) {
	n := len(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(p) > 0 && !w.seen {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(w.line)+len(p) <= 4096 {
				w.line = append(w.line, p...)
			}
			break
		}
		w.line = append(w.line, p[:i]...)
		if m := connectingLine.FindSubmatch(w.line); m != nil {
			w.seen = true
			if user, password := string(m[1]), string(m[2]); user != w.user || password != "set" {
				w.err = fmt.Errorf("mariadb-backup connected as %q (password %s), not as %q: it did not read the credentials; "+
					"the command must pass %s to --defaults-extra-file, and anything between (a container's exec) must keep "+
					"its stdin a file, not a pipe", user, password, w.user, DefaultsFilePlaceholder)
				if w.mismatch != nil {
					w.mismatch(w.err)
				}
			}
		}
		w.line = w.line[:0]
		p = p[i+1:]
	}
	return n, nil
}

// check returns the mismatch seen, if any.
func (w *loginWatch) check() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// noLockOption is mariadb-backup's option that skips its own BACKUP STAGE locks.
const noLockOption = "--no-lock"

// physicalCopy takes the physical backup and, when the command passes --no-lock, the
// digest of every table at the copy's own position.
//
// The node is held still while mariadb-backup copies it: FLUSH TABLES WITH READ LOCK on
// the agent's own session, on the node already desynced (Galera pauses its applier there
// and queues the cluster's write sets; the rest of the cluster goes on). Nothing changes
// on the node from the lock to the unlock, so the copy's position (xtrabackup_galera_info)
// is the seqno read under the lock, and a mariadb-dump run meanwhile sees exactly the
// data of the copy: its stream is digested as a logical backup's is (internal/dumpdigest)
// and thrown away. The two run together, so the lock lasts the longer of the two. The
// copy's seqno is checked against the lock's: digests of another position are never kept.
// mariadb-backup must not take its own locks: its BACKUP STAGE BLOCK_DDL waits for the
// agent's lock (seen on MariaDB 10.11), hence --no-lock, without which no digests are
// recorded and the drill restores and checks the copy but cannot compare it.
func physicalCopy(ctx context.Context, cfg Config, art *Artifact, db *sql.DB, dbs []Database) (copied, error) {
	if !slices.Contains(strings.Fields(cfg.Physical.command()), noLockOption) {
		exact, tool, err := physicalBackup(ctx, cfg, art)
		return copied{exact: exact, tool: tool, tablesErr: physicalUnlocked}, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return copied{}, fmt.Errorf("a session to hold %s still: %w", cfg.Node, err)
	}
	// The session is closed, never returned to the pool: whatever happens, its lock ends
	// with it.
	defer func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = conn.Close()
	}()
	held, err := holdStill(ctx, conn, cfg)
	if err != nil {
		return copied{}, err
	}
	lockedAt := time.Now()

	copyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var tables []dumpdigest.Table
	var digestErr error
	digested := make(chan struct{})
	go func() {
		defer close(digested)
		tables, digestErr = digestDump(copyCtx, cfg, dbs)
	}()
	exact, tool, err := physicalBackup(copyCtx, cfg, art)
	if err != nil {
		cancel()
	}
	<-digested
	uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.QueryTimeout)
	_, unlockErr := conn.ExecContext(uctx, "UNLOCK TABLES")
	ucancel()
	_, _ = fmt.Fprintf(cfg.log(), "Held %s still at seqno %d for %.1f s (FLUSH TABLES WITH READ LOCK): the copy and the digest of %d tables\n",
		cfg.Node, held.Seqno, time.Since(lockedAt).Seconds(), len(tables))
	if unlockErr != nil {
		_, _ = fmt.Fprintf(cfg.log(), "UNLOCK TABLES on %s failed (%v): the session is closed instead, which ends its lock\n",
			cfg.Node, unlockErr)
	}
	got := copied{exact: exact, tool: tool}
	if err != nil {
		return got, err
	}
	switch {
	case digestErr != nil:
		_, _ = fmt.Fprintf(cfg.log(), "The digest dump beside mariadb-backup failed: %v\n", digestErr)
		got.tablesErr = "the digest dump beside mariadb-backup failed (its messages are in the agent's log): " + notCompared
	case exact.ClusterUUID != held.ClusterUUID || exact.Seqno != held.Seqno:
		got.tablesErr = fmt.Sprintf("the copy is at seqno %d, the node was held still at %d: no digests; %s",
			exact.Seqno, held.Seqno, notCompared)
	default:
		got.tables = tables
	}
	return got, nil
}

// holdStill takes FLUSH TABLES WITH READ LOCK on conn, waiting at most the query timeout
// for the statements running on the node, and returns the node's position under it.
func holdStill(ctx context.Context, conn *sql.Conn, cfg Config) (*Position, error) {
	secs := max(int(cfg.QueryTimeout/time.Second), 1)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+5)*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout="+strconv.Itoa(secs)); err != nil {
		return nil, fmt.Errorf("holding %s still: %w", cfg.Node, err)
	}
	if _, err := conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return nil, fmt.Errorf("holding %s still for the copy (FLUSH TABLES WITH READ LOCK, waiting at most %d s "+
			"for the statements running there): %w", cfg.Node, secs, err)
	}
	pos, err := galeraPosition(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("reading %s's position under the lock: %w", cfg.Node, err)
	}
	return pos, nil
}

// digestDump is the digest of every table of dbs, from a mariadb-dump of them run with a
// logical backup's options; the dump itself is not kept.
func digestDump(ctx context.Context, cfg Config, dbs []Database) ([]dumpdigest.Table, error) {
	if len(dbs) == 0 {
		return nil, nil
	}
	sess, err := openDumpSession(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	dg := dumpdigest.New(0)
	if err := runTool(ctx, cfg, "the digest", dataArgs(sess.args, dbs), dg); err != nil {
		return nil, sess.explain("the digest", err)
	}
	return dg.Tables()
}

const notCompared = "its restore drill restores and checks the copy, and cannot compare it"

// physicalUnlocked is the tablesError of a physical backup taken without --no-lock.
const physicalUnlocked = "the mariabackupCommand does not pass " + noLockOption + ", so the agent could not hold the node " +
	"still beside mariadb-backup's own locks: no table digests; " + notCompared
