package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"
)

// These tests run the real haproxy binary (Debian: apt-get install haproxy socat) on
// 127.0.0.1 with a TripleO-like "listen mysql" in front of fake nodes served by the test:
// a clustercheck look-alike (200 or 503) and a TCP "database" that greets with its name.
// A missing binary fails the test: nothing is skipped.

// requireTool returns the path of a binary the test needs, or fails with what to install.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH: this test runs the real binary (Debian: apt-get install haproxy socat)", name)
	}
	return path
}

// fakeNode is one controller: health check port and database port.
type fakeNode struct {
	name  string
	code  atomic.Int32 // what clustercheck answers
	check *httptest.Server
	db    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startNode(t *testing.T, name string) *fakeNode {
	t.Helper()
	n := &fakeNode{name: name}
	n.code.Store(http.StatusOK)
	n.check = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		code := int(n.code.Load())
		w.WriteHeader(code)
		if code == http.StatusOK {
			_, _ = io.WriteString(w, "Galera cluster node is synced.\r\n")
		} else {
			_, _ = io.WriteString(w, "Galera cluster node is not synced.\r\n")
		}
	}))
	db, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.db = db
	go func() {
		for {
			c, err := db.Accept()
			if err != nil {
				return
			}
			n.mu.Lock()
			n.conns = append(n.conns, c)
			n.mu.Unlock()
			go func() {
				defer func() { _ = c.Close() }()
				if _, err := io.WriteString(c, name+"\n"); err == nil {
					_, _ = io.Copy(io.Discard, c)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		n.check.Close()
		_ = db.Close()
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, c := range n.conns {
			_ = c.Close()
		}
	})
	return n
}

func (n *fakeNode) port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// freePort reserves nothing: it asks the kernel for a port that is free now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

const liveConfig = `global
  stats socket {{.Dir}}/admin.sock mode 600 level admin
  stats socket {{.Dir}}/user.sock mode 600 level user

defaults
  mode tcp
  timeout connect 1s
  timeout check 1s
  timeout client 1m
  timeout server 1m

listen haproxy.stats
  bind 127.0.0.1:{{.StatsPort}}
  mode http
  stats enable
  stats uri /
  stats auth admin:{{.Password}}

listen stats_legacy_uri
  bind 127.0.0.1:{{.LegacyStatsPort}}
  mode http
  stats enable
  stats uri /haproxy?stats
  stats auth admin:{{.Password}}

listen mysql
  bind 127.0.0.1:{{.FrontPort}}
  option tcpka
  option httpchk
  stick on dst
  stick-table type ip size 1000
{{- range .Nodes}}
  server {{.Name}} 127.0.0.1:{{.DBPort}} backup check inter 200 fall 2 rise 2 on-marked-down shutdown-sessions port {{.CheckPort}}
{{- end}}

listen mysql_nocheck
  bind 127.0.0.1:{{.NoCheckPort}}
{{- range .Nodes}}
  server {{.Name}} 127.0.0.1:{{.DBPort}} backup
{{- end}}
`

// liveHAProxy is a running haproxy started by the test, with its fake nodes.
type liveHAProxy struct {
	dir, password string
	statsURL      string
	legacyURL     string
	front         string
	nodes         []*fakeNode
}

func startHAProxy(t *testing.T) *liveHAProxy {
	t.Helper()
	bin := requireTool(t, "haproxy")
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "hap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	type nodeCfg struct {
		Name              string
		DBPort, CheckPort int
	}
	h := &liveHAProxy{dir: dir, password: "live-secret"}
	nodes := make([]nodeCfg, 0, len(serverNames))
	for _, name := range serverNames {
		n := startNode(t, name)
		h.nodes = append(h.nodes, n)
		nodes = append(nodes, nodeCfg{name, n.port(t, n.db.Addr().String()), n.port(t, n.check.URL)})
	}
	cfg := struct {
		Dir, Password                                      string
		StatsPort, LegacyStatsPort, FrontPort, NoCheckPort int
		Nodes                                              []nodeCfg
	}{dir, h.password, freePort(t), freePort(t), freePort(t), freePort(t), nodes}
	var buf bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(liveConfig)).Execute(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	// The binary found in PATH with the config written above.
	cmd := exec.CommandContext(context.Background(), bin, "-db", "-f", cfgPath) //nolint:gosec // G204: see above
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // only the PID this test started
		if err := <-exited; err != nil {
			t.Logf("haproxy (pid %d) stopped: %v", cmd.Process.Pid, err)
		}
	})
	h.statsURL = fmt.Sprintf("http://127.0.0.1:%d", cfg.StatsPort)
	h.legacyURL = fmt.Sprintf("http://127.0.0.1:%d/haproxy?stats", cfg.LegacyStatsPort)
	h.front = fmt.Sprintf("127.0.0.1:%d", cfg.FrontPort)

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("haproxy exited: %v\n%s", err, logs.String())
		default:
		}
		if _, err := os.Stat(filepath.Join(dir, "admin.sock")); err == nil {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatal("haproxy's stats socket did not appear within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *liveHAProxy) node(name string) *fakeNode {
	for _, n := range h.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// lockedBuffer collects haproxy's output from its two pipes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// localRunner runs the command on this machine with sh: a real peer for FetchSocket
// (socat talking to the real haproxy's socket), standing in for SSH only.
type localRunner struct{ calls atomic.Int32 }

func (r *localRunner) Run(ctx context.Context, _ string, _ int, command string, stdin []byte) ([]byte, error) {
	r.calls.Add(1)
	// Running the given command is the runner's job (the SSH runner does the same remotely).
	cmd := exec.CommandContext(ctx, "sh", "-c", command) //nolint:gosec // G204: see above
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", command, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

var _ CommandRunner = (*localRunner)(nil)

func (h *liveHAProxy) socket(t *testing.T, r *localRunner, sock, backend string) (*Backend, *Table, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return FetchSocket(ctx, r, "127.0.0.1", 22, SocketCommand("socat stdio UNIX-CONNECT:{socket}", filepath.Join(h.dir, sock)), backend)
}

// eventually polls cond every 50 ms for at most 10 s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s; last: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client connects through the VIP and returns the connection and the node that greeted.
func (h *liveHAProxy) client(t *testing.T) (net.Conn, string) {
	t.Helper()
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(t.Context(), "tcp", h.front)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return c, ""
	}
	return c, strings.TrimSpace(line)
}

// liveSnapshots reads Snapshots of the live haproxy's mysql proxy over its admin socket.
type liveSnapshots struct {
	t *testing.T
	h *liveHAProxy
	r *localRunner
}

func (l *liveSnapshots) get() (*Snapshot, error) {
	b, tbl, err := l.h.socket(l.t, l.r, "admin.sock", "mysql")
	if err != nil {
		return nil, err
	}
	return NewSnapshot(b, tbl), nil
}

// wait polls until cond holds and returns the Snapshot that satisfied it.
func (l *liveSnapshots) wait(what string, cond func(*Snapshot) bool) *Snapshot {
	l.t.Helper()
	var last *Snapshot
	eventually(l.t, what, func() (bool, string) {
		s, err := l.get()
		if err != nil {
			return false, err.Error()
		}
		last = s
		return cond(s), describe(s)
	})
	return last
}

func describe(s *Snapshot) string {
	parts := make([]string, 0, len(s.Servers)+1)
	for _, sr := range s.Servers {
		parts = append(parts, fmt.Sprintf("%s=%s/%d", sr.Name, sr.Status, sr.CurrentSessions))
	}
	parts = append(parts, fmt.Sprintf("active=%q next=%q (%s)", s.Active, s.Next, s.ActiveReason))
	return strings.Join(parts, " ")
}

func allUp(s *Snapshot) bool {
	for _, sr := range s.Servers {
		if sr.State != StateUp || s.Backend.Server(sr.Name).CheckStatus != "L7OK" {
			return false
		}
	}
	return len(s.Servers) == 3
}

// TestLiveHAProxyFailover drives the real haproxy through the TripleO failover story and
// checks what the package concludes at each step.
func TestLiveHAProxyFailover(t *testing.T) {
	requireTool(t, "socat")
	h := startHAProxy(t)
	snaps := &liveSnapshots{t: t, h: h, r: &localRunner{}}

	// 1. All synced, no client: nobody is active, the first client will go to controller-0.
	s := snaps.wait("all servers UP", allUp)
	if s.Active != "" || s.Next != "controller-0" || len(s.Table.Entries) != 0 || !strings.Contains(s.ActiveReason, "no client yet") {
		t.Fatalf("no client: %s", describe(s))
	}

	// 2. One client: stick entry and session on controller-0.
	c1, got := h.client(t)
	if got != "controller-0" {
		t.Fatalf("first client reached %q, want controller-0", got)
	}
	s = snaps.wait("controller-0 active", func(s *Snapshot) bool { return s.Active == "controller-0" && s.Servers[0].CurrentSessions == 1 })
	if e := s.Table.Entries[0]; e.ServerKey != "controller-0" || e.ServerID != 1 {
		t.Errorf("stick entry = %+v", e)
	}

	liveFailover(t, snaps, c1)
	liveRecovery(t, snaps)
	liveStatsPage(t, h)
	if snaps.r.calls.Load() == 0 {
		t.Error("the runner was never called")
	}
}

// liveFailover: controller-0 desynced is marked down, its session shut down, the entry goes
// stale; a new client fails over to controller-1 and the entry moves.
func liveFailover(t *testing.T, snaps *liveSnapshots, c1 net.Conn) {
	t.Helper()
	snaps.h.node("controller-0").code.Store(http.StatusServiceUnavailable)
	snaps.wait("controller-0 DOWN", func(s *Snapshot) bool { return s.Servers[0].State == StateDown })
	_ = c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("client on the downed server: read err = %v, want EOF (shutdown-sessions)", err)
	}
	s := snaps.wait("no sessions left", func(s *Snapshot) bool { return s.Backend.CurrentSessions == 0 })
	if s.Active != "" || s.Next != "controller-1" || !s.Servers[0].Sticky || !strings.Contains(s.ActiveReason, "which is DOWN") {
		t.Errorf("after failure: %s", describe(s))
	}

	if _, got := snaps.h.client(t); got != "controller-1" {
		t.Fatalf("client after failure reached %q, want controller-1", got)
	}
	s = snaps.wait("controller-1 active", func(s *Snapshot) bool { return s.Active == "controller-1" })
	if e := s.Table.Entries[0]; e.ServerKey != "controller-1" || e.ServerID != 2 {
		t.Errorf("stick entry after failover = %+v", e)
	}
}

// liveRecovery: controller-0 recovers, stickiness survives, new clients still go to controller-1.
func liveRecovery(t *testing.T, snaps *liveSnapshots) {
	t.Helper()
	snaps.h.node("controller-0").code.Store(http.StatusOK)
	snaps.wait("controller-0 UP", func(s *Snapshot) bool { return s.Servers[0].State == StateUp })
	if _, got := snaps.h.client(t); got != "controller-1" {
		t.Errorf("client after recovery reached %q, want controller-1 (sticky)", got)
	}
	s := snaps.wait("2 sessions on controller-1", func(s *Snapshot) bool { return s.Servers[1].CurrentSessions == 2 })
	if s.Active != "controller-1" || s.Next != "controller-1" || s.Servers[0].CurrentSessions != 0 {
		t.Errorf("after recovery: %s", describe(s))
	}
}

// liveStatsPage: the stats page tells the same from the sessions alone, with either
// stats URI style, and hides server addresses.
func liveStatsPage(t *testing.T, h *liveHAProxy) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for _, u := range []string{h.statsURL, h.statsURL + "/", h.legacyURL} {
		b, err := FetchHTTP(ctx, nil, u, "admin", h.password, "mysql")
		if err != nil {
			t.Fatalf("FetchHTTP(%s): %v", u, err)
		}
		if active, _ := Active(b, nil); active != "controller-1" || b.Servers[0].Address != "" {
			t.Errorf("FetchHTTP(%s): active %q, %+v", u, active, b.Servers[0])
		}
	}
}

func TestLiveHAProxyErrors(t *testing.T) {
	requireTool(t, "socat")
	h := startHAProxy(t)
	r := &localRunner{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := FetchHTTP(ctx, nil, h.statsURL, "admin", "not-the-password", "mysql")
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("wrong password: %v", err)
	}
	_, err = FetchHTTP(ctx, nil, h.statsURL, "admin", h.password, "nosuch")
	if !errors.Is(err, ErrBackendNotFound) {
		t.Errorf("unknown backend over HTTP: %v", err)
	}

	// TripleO's default socket level hides the stick table's contents.
	b, tbl, err := h.socket(t, r, "user.sock", "mysql")
	if err != nil || tbl == nil || !tbl.Hidden || len(b.Servers) != 3 {
		t.Errorf("level user: %+v %+v %v", b, tbl, err)
	}
	// A proxy without a stick table: the backend, no table, ErrNoTable.
	b, tbl, err = h.socket(t, r, "admin.sock", "mysql_nocheck")
	if !errors.Is(err, ErrNoTable) || b == nil || tbl != nil || b.Servers[0].State != StateNoCheck {
		t.Errorf("no stick table: %+v %+v %v", b, tbl, err)
	}
	_, _, err = h.socket(t, r, "admin.sock", "nosuch")
	if !errors.Is(err, ErrBackendNotFound) {
		t.Errorf("unknown backend over the socket: %v", err)
	}
	_, _, err = h.socket(t, r, "missing.sock", "mysql")
	if err == nil {
		t.Error("missing socket: no error")
	}
}
