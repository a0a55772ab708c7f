// Package remote runs commands on overcloud nodes over SSH (golang.org/x/crypto/ssh), with host
// keys always verified against a known_hosts document and every step bounded in time and size.
//
// A Runner is safe for concurrent use: each Run dials its own connection, so one slow node never
// holds up another.
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Defaults for the zero values of Config's bounds.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultCommandTimeout = 60 * time.Second
	DefaultMaxOutput      = 16 << 20
	DefaultIdleTimeout    = 30 * time.Second
	// DefaultKeepaliveInterval and DefaultKeepaliveTimeout: a keepalive every 10 s, a
	// connection silent for 30 s closed (OpenSSH's ServerAliveInterval 10 with
	// ServerAliveCountMax 3).
	DefaultKeepaliveInterval = 10 * time.Second
	DefaultKeepaliveTimeout  = 30 * time.Second
	// stderrTail is how much of the end of stderr an ExitError keeps.
	stderrTail = 2048
	// killGrace is how long a cancelled Run waits for its SIGKILL request to be written.
	killGrace = 200 * time.Millisecond
)

// ErrUnknownHost is wrapped when the host has no entry in known_hosts.
var ErrUnknownHost = errors.New("host key unknown: no known_hosts entry for this host")

// ErrHostKeyMismatch is wrapped when the host presents a key other than the one known_hosts has.
var ErrHostKeyMismatch = errors.New("host key mismatch: known_hosts has a different key for this host")

// ErrOutputTooLarge is wrapped when the command prints more than Config.MaxOutput bytes.
var ErrOutputTooLarge = errors.New("command output too large")

// ErrNoAnswer is wrapped when a connection was closed because nothing came from the host
// for Config.KeepaliveTimeout while keepalives asked it to answer: the host died, or left
// the network, without closing the connection.
var ErrNoAnswer = errors.New("the host stopped answering")

// Config holds what a Runner needs. There is no option to skip host key verification.
type Config struct {
	// User is the remote login.
	User string
	// PrivateKey is the client key in PEM (OpenSSH or PKCS#1/PKCS#8), unencrypted.
	PrivateKey []byte
	// KnownHosts is the content of a known_hosts file; hosts on a port other than 22 are written
	// "[host]:port", as OpenSSH does.
	KnownHosts []byte
	// ConnectTimeout bounds dialing plus the SSH handshake; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// CommandTimeout bounds the whole Run, connection included; 0 means DefaultCommandTimeout.
	CommandTimeout time.Duration
	// MaxOutput caps the stdout kept; a command that prints more fails. 0 means DefaultMaxOutput.
	MaxOutput int
	// IdleTimeout is how long a connection is kept for reuse after its last command; 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// KeepaliveInterval is how often an open connection asks the host to answer (the
	// keepalive@openssh.com request, as OpenSSH's ServerAliveInterval); 0 means
	// DefaultKeepaliveInterval.
	KeepaliveInterval time.Duration
	// KeepaliveTimeout: a connection from which nothing at all arrived for that long, its
	// keepalives unanswered, is closed, and what runs on it fails with ErrNoAnswer. A host
	// that dies or leaves the network sends neither FIN nor RST: without this, a command
	// would wait for TCP's retransmissions to give up (15 minutes on Linux) or, a stream's
	// write blocked on a full window, for its context. Longer than KeepaliveInterval; 0
	// means DefaultKeepaliveTimeout.
	KeepaliveTimeout time.Duration
}

// Runner runs commands over SSH. Create it with NewRunner.
type Runner struct {
	user              string
	signer            ssh.Signer
	hostKeys          ssh.HostKeyCallback
	connectTimeout    time.Duration
	commandTimeout    time.Duration
	idleTimeout       time.Duration
	keepaliveInterval time.Duration
	keepaliveTimeout  time.Duration
	maxOutput         int

	mu    sync.Mutex
	conns map[string]*conn
}

// NewRunner checks the key and the known_hosts content and returns a Runner.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.User == "" {
		return nil, errors.New("ssh user is empty")
	}
	signer, err := ssh.ParsePrivateKey(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("parsing ssh private key: %w", err)
	}
	if len(bytes.TrimSpace(cfg.KnownHosts)) == 0 {
		return nil, errors.New("known_hosts is empty: host keys are always verified")
	}
	cb, err := knownHostsCallback(cfg.KnownHosts)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		user:              cfg.User,
		signer:            signer,
		hostKeys:          cb,
		connectTimeout:    orDefault(cfg.ConnectTimeout, DefaultConnectTimeout),
		commandTimeout:    orDefault(cfg.CommandTimeout, DefaultCommandTimeout),
		idleTimeout:       orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		keepaliveInterval: orDefault(cfg.KeepaliveInterval, DefaultKeepaliveInterval),
		keepaliveTimeout:  orDefault(cfg.KeepaliveTimeout, DefaultKeepaliveTimeout),
		maxOutput:         cfg.MaxOutput,
		conns:             map[string]*conn{},
	}
	if r.keepaliveTimeout <= r.keepaliveInterval {
		return nil, fmt.Errorf("keepalive timeout %s is not longer than the keepalive interval %s: a host that answers "+
			"every keepalive could be taken for dead", r.keepaliveTimeout, r.keepaliveInterval)
	}
	if r.maxOutput <= 0 {
		r.maxOutput = DefaultMaxOutput
	}
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// knownHostsCallback builds knownhosts' callback from bytes. knownhosts only reads files, so the
// content goes through a private temporary file that is removed at once (it is read in New).
func knownHostsCallback(content []byte) (ssh.HostKeyCallback, error) {
	f, err := os.CreateTemp("", "known_hosts-*")
	if err != nil {
		return nil, fmt.Errorf("staging known_hosts in the temporary directory %s: %w", os.TempDir(), unwrapPath(err))
	}
	// Errors name "known_hosts", never the random temporary path: a message that changes
	// on every call would make every reconcile write a new status.
	name := f.Name()
	defer func() { _ = os.Remove(name) }()
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("staging known_hosts: %w", unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("staging known_hosts: %w", unwrapPath(err))
	}
	cb, err := knownhosts.New(name)
	if err != nil {
		return nil, fmt.Errorf("parsing known_hosts: %s", strings.ReplaceAll(err.Error(), name, "known_hosts"))
	}
	return cb, nil
}

// unwrapPath drops the path from a *fs.PathError (the operation and the cause stay).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// verifyHostKey wraps knownhosts' errors in ErrUnknownHost / ErrHostKeyMismatch with the
// fingerprints an operator needs to compare.
func verifyHostKey(cb ssh.HostKeyCallback) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		if err == nil {
			return nil
		}
		return describeHostKeyError(hostname, key, err)
	}
}

func describeHostKeyError(hostname string, key ssh.PublicKey, err error) error {
	var keyErr *knownhosts.KeyError
	if errors.As(err, &keyErr) {
		if len(keyErr.Want) == 0 {
			return fmt.Errorf("%w: %s presented %s %s", ErrUnknownHost, hostname, key.Type(), ssh.FingerprintSHA256(key))
		}
		want := make([]string, 0, len(keyErr.Want))
		for _, k := range keyErr.Want {
			want = append(want, fmt.Sprintf("%s %s (line %d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Line))
		}
		return fmt.Errorf("%w: %s presented %s %s, known_hosts has %s", ErrHostKeyMismatch, hostname,
			key.Type(), ssh.FingerprintSHA256(key), strings.Join(want, ", "))
	}
	var revoked *knownhosts.RevokedError
	if errors.As(err, &revoked) {
		return fmt.Errorf("%w: %s presented a revoked key %s", ErrHostKeyMismatch, hostname, ssh.FingerprintSHA256(key))
	}
	return fmt.Errorf("verifying host key of %s: %w", hostname, err)
}

// hostKeyAlgorithms lists the algorithms of the keys known_hosts has for addr, so the server is
// asked for a key we can check (otherwise it may offer, say, RSA while we know its ed25519 key,
// and the check fails as a mismatch). Nil when none is known: the handshake then fails with
// ErrUnknownHost.
func hostKeyAlgorithms(cb ssh.HostKeyCallback, addr string, remote net.Addr) []string {
	err := cb(addr, remote, probeKey{})
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range keyErr.Want {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// algorithmsForKeyType maps a key type to the signature algorithms that can prove it.
func algorithmsForKeyType(t string) []string {
	switch t {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	default:
		return []string{t}
	}
}

// probeKey is a key no known_hosts line has; checking it makes knownhosts list the known ones.
type probeKey struct{}

func (probeKey) Type() string    { return "x-probe-key@overcloud-backup" }
func (probeKey) Marshal() []byte { return []byte("x-probe-key@overcloud-backup") }
func (probeKey) Verify(_ []byte, _ *ssh.Signature) error {
	return errors.New("probe key verifies nothing")
}

// ExitError is a command that ran and exited non-zero (or was killed by a signal).
type ExitError struct {
	// Host is host:port.
	Host string
	// Status is the exit status; -1 if the command was killed by a signal.
	Status int
	// Signal is the signal name when the command was killed by one.
	Signal string
	// Stderr is the end of the command's standard error (at most 2 KiB).
	Stderr string
}

// Error implements error. It names the host and the status, not the command, which may carry
// arguments that are nobody's business in a log.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "command on %s ", e.Host)
	if e.Signal != "" {
		fmt.Fprintf(&b, "killed by signal %s", e.Signal)
	} else {
		fmt.Fprintf(&b, "exited with status %d", e.Status)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, ": %s", s)
	}
	return b.String()
}

// ExitStatus returns the exit status (pacemaker.CommandRunner's callers read it through this).
func (e *ExitError) ExitStatus() int { return e.Status }

// Run runs command with stdin on host:port (port 0 means 22) and returns its standard
// output. On a non-zero exit it returns the output together with an *ExitError. The
// connection is kept for IdleTimeout and reused by the next Run on the same host (a probe
// then costs a session, not a handshake); a stale kept connection is replaced once. The
// connection, the handshake and the command are bounded by the Runner's timeouts and by
// ctx; when either expires the command is sent SIGKILL (honoured by sshd for non-root
// users), the connection is closed and forgotten, and the error wraps ctx's error
// (context.DeadlineExceeded or context.Canceled).
func (r *Runner) Run(ctx context.Context, host string, port int, command string, stdin []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.commandTimeout)
	defer cancel()
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	for {
		c, reused, err := r.connection(ctx, addr)
		if err != nil {
			return nil, err
		}
		out, stale, err := r.runOn(ctx, c, addr, command, stdin)
		if stale && reused && ctx.Err() == nil {
			continue // the kept connection had died; dial a fresh one
		}
		return out, err
	}
}

// conn is one SSH connection, kept between runs while it works.
type conn struct {
	raw    net.Conn
	client *ssh.Client
	pooled bool
	idle   *time.Timer // closes a pooled connection nobody used for IdleTimeout
	active int         // runs using the connection now, guarded by Runner.mu
	once   sync.Once
	// closed is closed with the connection (it ends the keepalives).
	closed chan struct{}
	// heard tells when a byte last came from the host; silent is why keepalive closed the
	// connection (an ErrNoAnswer), nil while it did not.
	heard  *heardConn
	silent atomic.Pointer[error]
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.client.Close()
		_ = c.raw.Close()
	})
}

// cause is err, or why keepalive closed the connection under it: a session that fails
// because its connection was found dead says so, not "EOF".
func (c *conn) cause(err error) error {
	if silent := c.silent.Load(); silent != nil {
		return *silent
	}
	return err
}

// heardConn is the connection as the SSH transport reads it, noting when a byte last
// came (monotonic time since born): any byte, a keepalive's answer, a window adjust or
// the command's output, proves the host alive.
type heardConn struct {
	net.Conn
	born time.Time
	last atomic.Int64
}

func newHeardConn(raw net.Conn) *heardConn { return &heardConn{Conn: raw, born: time.Now()} }

// Read implements net.Conn.
func (h *heardConn) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	if n > 0 {
		h.last.Store(int64(time.Since(h.born)))
	}
	return n, err
}

// silence is how long nothing came from the host.
func (h *heardConn) silence() time.Duration { return time.Since(h.born) - time.Duration(h.last.Load()) }

// keepalive asks the host to answer every KeepaliveInterval while the connection is open
// (one request at a time: on a dead connection the first never returns until it is
// closed), and closes it once nothing came for KeepaliveTimeout, which unblocks whatever
// waits on it (a session's reads, a write held by a full window or a full socket buffer).
// Any answer will do: OpenSSH's to keepalive@openssh.com is a refusal.
func (r *Runner) keepalive(c *conn, addr string) {
	tick := time.NewTicker(r.keepaliveInterval)
	defer tick.Stop()
	ended := make(chan struct{})
	go func() { _ = c.client.Wait(); close(ended) }()
	var asking atomic.Bool
	for {
		select {
		case <-c.closed:
			return
		case <-ended:
			return
		case <-tick.C:
		}
		if silence := c.heard.silence(); silence >= r.keepaliveTimeout {
			err := fmt.Errorf("%w: nothing came from %s for %s, its SSH keepalives unanswered; connection closed",
				ErrNoAnswer, addr, silence.Round(100*time.Millisecond))
			c.silent.Store(&err)
			c.close()
			return
		}
		if asking.CompareAndSwap(false, true) {
			go func() {
				defer asking.Store(false)
				_, _, _ = c.client.SendRequest("keepalive@openssh.com", true, nil)
			}()
		}
	}
}

// connection returns the kept connection to addr, or dials one.
func (r *Runner) connection(ctx context.Context, addr string) (*conn, bool, error) {
	r.mu.Lock()
	if c, ok := r.conns[addr]; ok {
		c.idle.Stop()
		c.active++
		r.mu.Unlock()
		return c, true, nil
	}
	r.mu.Unlock()
	c, err := r.dial(ctx, addr)
	if err != nil {
		return nil, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.conns[addr]; !taken {
		c.pooled = true
		c.active = 1
		c.idle = time.AfterFunc(r.idleTimeout, func() { r.forget(addr, c) })
		c.idle.Stop()
		r.conns[addr] = c
	}
	return c, false, nil
}

// release keeps a pooled connection for IdleTimeout more, or closes an unpooled one.
func (r *Runner) release(addr string, c *conn) {
	if !c.pooled {
		c.close()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c.active--
	if r.conns[addr] == c && c.active == 0 {
		c.idle.Reset(r.idleTimeout)
	}
}

// forget closes a connection and drops it from the pool.
func (r *Runner) forget(addr string, c *conn) {
	r.mu.Lock()
	if r.conns[addr] == c {
		delete(r.conns, addr)
	}
	r.mu.Unlock()
	c.close()
}

// Close closes every kept connection. The Runner stays usable (each Run then dials).
func (r *Runner) Close() {
	r.mu.Lock()
	conns := r.conns
	r.conns = map[string]*conn{}
	r.mu.Unlock()
	for _, c := range conns {
		c.idle.Stop()
		c.close()
	}
}

// dial connects and authenticates, within the connect timeout and ctx.
func (r *Runner) dial(ctx context.Context, addr string) (*conn, error) {
	dialCtx, dialCancel := context.WithTimeout(ctx, r.connectTimeout)
	defer dialCancel()
	var d net.Dialer
	raw, err := d.DialContext(dialCtx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	// A ctx ending during the handshake closes the connection, whatever blocks on it.
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	handshakeDeadline := time.Now().Add(r.connectTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(handshakeDeadline) {
		handshakeDeadline = dl
	}
	if err := raw.SetDeadline(handshakeDeadline); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	heard := newHeardConn(raw)
	cfg := &ssh.ClientConfig{
		User:              r.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(r.signer)},
		HostKeyCallback:   verifyHostKey(r.hostKeys),
		HostKeyAlgorithms: hostKeyAlgorithms(r.hostKeys, addr, raw.RemoteAddr()),
	}
	sconn, chans, reqs, err := ssh.NewClientConn(heard, addr, cfg)
	if err != nil {
		_ = raw.Close()
		return nil, r.wrap(ctx, addr, "ssh handshake with", err)
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		_ = sconn.Close()
		return nil, fmt.Errorf("ssh connection to %s: %w", addr, err)
	}
	c := &conn{raw: raw, client: ssh.NewClient(sconn, chans, reqs), closed: make(chan struct{}), heard: heard}
	go r.keepalive(c, addr)
	return c, nil
}

// runOn runs command in a new session of c. stale is true when the session could not
// even be opened (a kept connection that died meanwhile).
func (r *Runner) runOn(ctx context.Context, c *conn, addr, command string, stdin []byte) (out []byte, stale bool, err error) {
	healthy := false
	defer func() {
		if healthy {
			r.release(addr, c)
		} else {
			r.forget(addr, c)
		}
	}()
	// From here on, ctx ending closes the connection, whatever is blocked on it. A running
	// command is first sent SIGKILL: without a pty, sshd would leave it running after the
	// disconnect.
	var running atomic.Pointer[ssh.Session]
	stop := context.AfterFunc(ctx, func() {
		if sess := running.Load(); sess != nil {
			signalled := make(chan struct{})
			go func() { _ = sess.Signal(ssh.SIGKILL); close(signalled) }()
			select {
			case <-signalled:
			case <-time.After(killGrace):
			}
		}
		c.close()
	})
	defer stop()

	sess, err := c.client.NewSession()
	if err != nil {
		return nil, true, r.wrap(ctx, addr, "opening ssh session on", c.cause(err))
	}
	defer func() { _ = sess.Close() }()

	stdout := &cappedBuffer{limit: r.maxOutput, onOverflow: c.close}
	stderr := &tailBuffer{limit: stderrTail}
	if len(stdin) > 0 {
		// Only then: any Stdin makes the session copy it through a pipe with io.Copy's
		// 32 KiB buffer; none sends EOF at once.
		sess.Stdin = bytes.NewReader(stdin)
	}
	sess.Stdout = stdout
	sess.Stderr = stderr

	running.Store(sess)
	err = sess.Run(command)
	out = stdout.Bytes()
	if stdout.Overflowed() {
		return nil, false, fmt.Errorf("%w: %s printed more than %d bytes", ErrOutputTooLarge, addr, r.maxOutput)
	}
	if err == nil {
		healthy = ctx.Err() == nil
		return out, false, nil
	}
	var exitErr *ssh.ExitError
	if errors.As(err, &exitErr) {
		healthy = ctx.Err() == nil
		return out, false, &ExitError{Host: addr, Status: exitStatus(exitErr), Signal: exitErr.Signal(), Stderr: stderr.String()}
	}
	return out, false, r.wrap(ctx, addr, "running command on", c.cause(err))
}

func exitStatus(e *ssh.ExitError) int {
	if e.Signal() != "" {
		return -1
	}
	return e.ExitStatus()
}

// wrap prefers the context's error: a closed connection after a timeout is a timeout.
func (r *Runner) wrap(ctx context.Context, addr, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: %w (%w)", what, addr, ctxErr, err)
	}
	return fmt.Errorf("%s %s: %w", what, addr, err)
}

// cappedBuffer keeps up to limit bytes; past that it drops the rest and calls onOverflow once
// (Run closes the connection then, rather than reading a flood to the end).
type cappedBuffer struct {
	mu         sync.Mutex
	buf        bytes.Buffer
	limit      int
	overflow   bool
	onOverflow func()
}

// Write implements io.Writer; it never fails, so the SSH session keeps draining the channel.
func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.overflow {
		return len(p), nil
	}
	if room := c.limit - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:room])
		c.overflow = true
		if c.onOverflow != nil {
			go c.onOverflow()
		}
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}

// ReadFrom implements io.ReaderFrom, so that the SSH session's copy of the command's
// output reads through a pooled buffer instead of allocating io.Copy's 32 KiB per
// session (the watch runs two commands per probe).
func (c *cappedBuffer) ReadFrom(r io.Reader) (int64, error) { return copyPooled(c, r) }

// Bytes returns what was kept. Call it once the writes are over (the session has ended):
// the bytes are the buffer's own, not a copy.
func (c *cappedBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Bytes()
}

// Overflowed reports whether more than limit bytes came.
func (c *cappedBuffer) Overflowed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.overflow
}

// tailBuffer keeps the last limit bytes written.
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
	cut   bool
}

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.limit; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

// ReadFrom implements io.ReaderFrom (see cappedBuffer.ReadFrom).
func (t *tailBuffer) ReadFrom(r io.Reader) (int64, error) { return copyPooled(t, r) }

// copyBuffers are the buffers copyPooled reads through.
var copyBuffers = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// copyPooled is io.Copy(w, r) through a pooled buffer; w's Write never fails.
func copyPooled(w io.Writer, r io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[16 << 10]byte)
	defer copyBuffers.Put(buf)
	var n int64
	for {
		k, err := r.Read(buf[:])
		if k > 0 {
			_, _ = w.Write(buf[:k])
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// String returns the tail, marked with "…" when the beginning was dropped.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.ToValidUTF8(string(t.buf), "")
	if t.cut {
		return "…" + s
	}
	return s
}
