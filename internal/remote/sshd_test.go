package remote

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const sshdPath = "/usr/sbin/sshd"

// testSSHD is a real OpenSSH server on a loopback port, started for one test.
type testSSHD struct {
	logs      *lockedBuffer
	port      int
	user      string
	clientKey []byte        // PEM, authorized on the server
	ed25519   ssh.PublicKey // host keys the server presents
	ecdsa     ssh.PublicKey
}

// signals counts the signal requests sshd has logged.
func (s *testSSHD) signals() int { return strings.Count(s.logs.String(), "req signal") }

func (s *testSSHD) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// knownHosts returns a known_hosts line for this server with the given key.
func (s *testSSHD) knownHosts(key ssh.PublicKey) []byte {
	return []byte(knownhosts.Line([]string{knownhosts.Normalize(s.addr())}, key) + "\n")
}

func (s *testSSHD) runner(t *testing.T, knownHosts []byte, commandTimeout time.Duration, maxOutput int) *Runner {
	t.Helper()
	r, err := NewRunner(Config{
		User: s.user, PrivateKey: s.clientKey, KnownHosts: knownHosts,
		ConnectTimeout: 5 * time.Second, CommandTimeout: commandTimeout, MaxOutput: maxOutput,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Kept connections hold sshd's session processes (and its log pipe) open.
	t.Cleanup(r.Close)
	return r
}

// lockedBuffer collects sshd's log for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l := listen(t)
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func writeKey(t *testing.T, path string, key crypto.PrivateKey) {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startSSHD starts Debian's sshd in the foreground (-D -e) with a throwaway configuration: its own
// host keys (ed25519 and ECDSA), one authorized client key, the current user allowed (root with
// PermitRootLogin prohibit-password), loopback only. It is a test peer, so its absence fails.
func startSSHD(t *testing.T) *testSSHD {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Fatalf("%s is missing (%v): install it with `apt-get install openssh-server`; this test needs a real sshd", sshdPath, err)
	}
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &testSSHD{user: u.Username}

	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeKey(t, filepath.Join(dir, "host_ed25519"), edKey)
	writeKey(t, filepath.Join(dir, "host_ecdsa"), ecKey)
	for _, k := range []struct {
		priv crypto.Signer
		dst  *ssh.PublicKey
	}{{edKey, &s.ed25519}, {ecKey, &s.ecdsa}} {
		pub, err := ssh.NewPublicKey(k.priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		*k.dst = pub
	}

	clientSigner, clientPEM := newKey(t)
	s.clientKey = clientPEM
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(clientSigner.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}

	// A free loopback port: taken from the kernel, released, then given to sshd.
	s.port = freePort(t)

	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
HostKey %s
AuthorizedKeysFile %s
PidFile none
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowUsers %s
MaxStartups 50
LogLevel DEBUG1
`, s.port, filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "host_ecdsa"), authorized, s.user)
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd insists on its privilege separation directory.
	_ = os.MkdirAll("/run/sshd", 0o755) //nolint:gosec // G301: sshd's own directory, with Debian's mode

	logs := &lockedBuffer{}
	s.logs = logs
	cmd := exec.CommandContext(context.Background(), sshdPath, "-D", "-e", "-f", cfgPath) //nolint:gosec // G204: fixed program and config
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", logs.String())
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("sshd exited: %v\n%s", waitErr, logs.String())
		default:
		}
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.DialContext(context.Background(), "tcp", s.addr())
		if err == nil {
			_ = c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", s.addr(), err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunAgainstSSHD(t *testing.T) {
	s := startSSHD(t)
	tests := []struct {
		name string
		test func(t *testing.T, s *testSSHD)
	}{
		{"output", sshdOutput},
		{"stdin passthrough", sshdStdinPassthrough},
		{"non-zero exit", sshdNonZeroExit},
		{"host key negotiated from known_hosts", sshdHostKeyNegotiatedFromKnownHosts},
		{"unknown host refused", sshdUnknownHostRefused},
		{"wrong host key refused", sshdWrongHostKeyRefused},
		{"command timeout", sshdCommandTimeout},
		{"caller cancels", sshdCallerCancels},
		{"output capped", sshdOutputCapped},
		{"parallel runs", sshdParallelRuns},
		{"connection reused, stale one replaced", sshdConnectionReuse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, s) })
	}
}

func sshdOutput(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	good := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	out, err := good.Run(ctx, "127.0.0.1", s.port, `printf 'hello\nworld'`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "hello\nworld" {
		t.Fatalf("stdout = %q", out)
	}
}

func sshdStdinPassthrough(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	good := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	in := append([]byte("line 1\n\x00binary\xff"), bytes.Repeat([]byte("0123456789abcdef"), 1<<16)...)
	out, err := good.Run(ctx, "127.0.0.1", s.port, "cat", in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("cat returned %d bytes, want the %d sent", len(out), len(in))
	}
}

func sshdNonZeroExit(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	good := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	out, err := good.Run(ctx, "127.0.0.1", s.port, "echo partial; echo oops >&2; exit 102", nil)
	var exitErr *ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("err = %v (%T), want *ExitError", err, err)
	}
	if exitErr.Status != 102 || exitErr.ExitStatus() != 102 || !strings.Contains(exitErr.Stderr, "oops") {
		t.Fatalf("ExitError = %+v", exitErr)
	}
	if !strings.Contains(err.Error(), "status 102") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("message = %q", err)
	}
	if string(out) != "partial\n" {
		t.Errorf("stdout with the error = %q, want %q", out, "partial\n")
	}
}

func sshdHostKeyNegotiatedFromKnownHosts(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	// The server offers ed25519 first; knowing only its ECDSA key must still work.
	r := s.runner(t, s.knownHosts(s.ecdsa), 20*time.Second, 0)
	if _, err := r.Run(ctx, "127.0.0.1", s.port, "true", nil); err != nil {
		t.Fatal(err)
	}
}

func sshdUnknownHostRefused(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	kh := []byte(knownhosts.Line([]string{"[127.0.0.2]:22"}, s.ed25519) + "\n")
	r := s.runner(t, kh, 20*time.Second, 0)
	_, err := r.Run(ctx, "127.0.0.1", s.port, "true", nil)
	if !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("err = %v, want ErrUnknownHost", err)
	}
	if !strings.Contains(err.Error(), ssh.FingerprintSHA256(s.ed25519)) && !strings.Contains(err.Error(), ssh.FingerprintSHA256(s.ecdsa)) {
		t.Errorf("error should show the presented key's fingerprint: %v", err)
	}
}

func sshdWrongHostKeyRefused(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	other, _ := newKey(t)
	r := s.runner(t, s.knownHosts(other.PublicKey()), 20*time.Second, 0)
	_, err := r.Run(ctx, "127.0.0.1", s.port, "true", nil)
	if !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("err = %v, want ErrHostKeyMismatch", err)
	}
}

func sshdCommandTimeout(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	r := s.runner(t, s.knownHosts(s.ed25519), time.Second, 0)
	before := s.signals()
	start := time.Now()
	_, err := r.Run(ctx, "127.0.0.1", s.port, "sleep 30.0101", nil)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	// The command sleeps 30 s: returning well before that is the timeout at work. The
	// bound is loose so that a loaded machine does not fail it.
	if took > 10*time.Second {
		t.Fatalf("Run returned after %v, want about the 1 s timeout, not the 30 s sleep", took)
	}
	s.checkKilled(t, "30.0101", before)
}

func sshdCallerCancels(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	good := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, cancel)
	before := s.signals()
	start := time.Now()
	_, err := good.Run(cctx, "127.0.0.1", s.port, "sleep 30.0202", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 10*time.Second { // the sleep is 30 s; loose for a loaded machine
		t.Fatalf("Run returned after %v, want soon after the 300 ms cancel", took)
	}
	s.checkKilled(t, "30.0202", before)
}

func sshdOutputCapped(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	r := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 1024)
	start := time.Now()
	_, err := r.Run(ctx, "127.0.0.1", s.port, "yes", nil)
	if !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("err = %v, want ErrOutputTooLarge", err)
	}
	if took := time.Since(start); took > 10*time.Second { // below the 20 s CommandTimeout; loose for a loaded machine
		t.Fatalf("an endless writer took %v to stop", took)
	}
}

func sshdParallelRuns(t *testing.T, s *testSSHD) {
	ctx := context.Background()
	good := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := good.Run(ctx, "127.0.0.1", s.port, fmt.Sprintf("echo %d", i), nil)
			if err == nil && string(out) != fmt.Sprintf("%d\n", i) {
				err = fmt.Errorf("run %d got %q", i, out)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// checkKilled checks that Run asked sshd to kill the command it gave up on. sshd honours the
// request only for unprivileged users ("session signalling requires privilege separation" for
// root), so the process itself is checked when the test does not run as root.
func (s *testSSHD) checkKilled(t *testing.T, arg string, signalsBefore int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for s.signals() <= signalsBefore {
		if time.Now().After(deadline) {
			t.Fatal("sshd never received the signal request for the abandoned command")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.user == "root" {
		return
	}
	want := []byte("sleep\x00" + arg + "\x00")
	for {
		found := false
		cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range cmdlines {
			if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, want) { //nolint:gosec // G304: /proc/<pid>/cmdline
				found = true
				break
			}
		}
		if !found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the remote command `sleep %s` is still running after Run returned", arg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunConnectionRefused(t *testing.T) {
	signer, keyPEM := newKey(t)
	port := freePort(t)
	r, err := NewRunner(Config{User: "root", PrivateKey: keyPEM,
		KnownHosts: []byte(knownhosts.Line([]string{"127.0.0.1"}, signer.PublicKey()) + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(context.Background(), "127.0.0.1", port, "true", nil)
	if err == nil || !strings.Contains(err.Error(), "connecting to 127.0.0.1:") {
		t.Fatalf("err = %v", err)
	}
}

// TestHandshakeTimeout: a peer that accepts TCP but never speaks SSH must not hold Run beyond
// the connect timeout.
func TestHandshakeTimeout(t *testing.T) {
	signer, keyPEM := newKey(t)
	l := listen(t)
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }()
		}
	}()
	r, err := NewRunner(Config{User: "root", PrivateKey: keyPEM, ConnectTimeout: 500 * time.Millisecond,
		KnownHosts: []byte(knownhosts.Line([]string{"127.0.0.1"}, signer.PublicKey()) + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = r.Run(context.Background(), "127.0.0.1", l.Addr().(*net.TCPAddr).Port, "true", nil)
	if err == nil {
		t.Fatal("handshake with a silent peer succeeded")
	}
	// The peer never speaks: without the connect timeout, Run would wait for its command
	// timeout. 10 times the connect timeout, so that a loaded machine does not fail it.
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run returned after %v, want about the 500ms connect timeout", took)
	}
}

// sshdConnectionReuse: a second Run on the same host reuses the kept connection (no new
// handshake), and a kept connection that died is replaced transparently.
func sshdConnectionReuse(t *testing.T, s *testSSHD) {
	r := s.runner(t, s.knownHosts(s.ed25519), 10*time.Second, 0)
	host, port := "127.0.0.1", s.port
	ctx := context.Background()
	if _, err := r.Run(ctx, host, port, "echo one", nil); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	first := r.conns[net.JoinHostPort(host, strconv.Itoa(port))]
	r.mu.Unlock()
	if first == nil {
		t.Fatal("the connection was not kept")
	}
	out, err := r.Run(ctx, host, port, "echo two", nil)
	if err != nil || string(out) != "two\n" {
		t.Fatalf("second run: %q %v", out, err)
	}
	r.mu.Lock()
	second := r.conns[net.JoinHostPort(host, strconv.Itoa(port))]
	r.mu.Unlock()
	if second != first {
		t.Fatal("the second run dialled again instead of reusing the kept connection")
	}
	_ = first.raw.Close() // the connection dies behind the runner's back
	out, err = r.Run(ctx, host, port, "echo three", nil)
	if err != nil || string(out) != "three\n" {
		t.Fatalf("run after the kept connection died: %q %v", out, err)
	}
}
