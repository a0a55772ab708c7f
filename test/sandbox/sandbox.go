// Package sandbox gives tests the local overcloud that hack/overcloud.sh runs: three
// controllers, each its own namespaces, where Corosync and Pacemaker run a real Galera
// node, the database VIP and HAProxy, with clustercheck and sshd. Tests find it through
// OCB_SANDBOX (the sandbox.json the script writes); `make test` brings it up. A test
// that needs it fails, never skips, when it is missing, and refuses to run when an
// address would leave the machine.
package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Node is one controller of the sandbox.
type Node struct {
	Name             string `json:"name"`
	Netns            string `json:"netns"`
	Address          string `json:"address"`
	MySQLPort        int    `json:"mysqlPort"`
	SSHPort          int    `json:"sshPort"`
	ClustercheckPort int    `json:"clustercheckPort"`
	Socket           string `json:"socket"`
	CIBFile          string `json:"cibFile"`
}

// Sandbox is sandbox.json.
type Sandbox struct {
	// Pacemaker is "file" (crm_mon reads a CIB file per controller) or "live" (Corosync and
	// Pacemaker run the cluster: OCB_PACEMAKER=live hack/overcloud.sh).
	Pacemaker string `json:"pacemaker"`
	VIP       string `json:"vip"`
	Bridge    string `json:"bridge"`
	Nodes     []Node `json:"nodes"`
	Database  struct {
		User         string `json:"user"`
		PasswordFile string `json:"passwordFile"`
	} `json:"database"`
	// TLS is MariaDB's TLS: the CA that signed the nodes' certificates, an unrelated CA,
	// and a user that must use TLS (REQUIRE SSL) with the backup user's password.
	TLS struct {
		User        string `json:"user"`
		CAFile      string `json:"caFile"`
		OtherCAFile string `json:"otherCAFile"`
	} `json:"tls"`
	SSH struct {
		User           string `json:"user"`
		PrivateKeyFile string `json:"privateKeyFile"`
		KnownHostsFile string `json:"knownHostsFile"`
	} `json:"ssh"`
	HAProxy struct {
		Frontend          string `json:"frontend"`
		StatsURL          string `json:"statsURL"`
		StatsUser         string `json:"statsUser"`
		StatsPasswordFile string `json:"statsPasswordFile"`
		StatsSocket       string `json:"statsSocket"`
		Backend           string `json:"backend"`
	} `json:"haproxy"`

	// Path is the sandbox.json file; Script is hack/overcloud.sh.
	Path   string `json:"-"`
	Script string `json:"-"`
}

// Load reads the local overcloud named by OCB_SANDBOX, the live Pacemaker sandbox
// (hack/overcloud.sh up), and checks that every address it names is routed through the
// sandbox's own bridge, so no test traffic can leave the machine.
func Load(t testing.TB) *Sandbox {
	t.Helper()
	path := os.Getenv("OCB_SANDBOX")
	if path == "" {
		t.Fatal("OCB_SANDBOX is not set: this test needs the local overcloud; run `make test`, " +
			"or `hack/overcloud.sh up` and export OCB_SANDBOX=/tmp/ocb-live/sandbox.json")
	}
	s, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Live() {
		t.Fatalf("OCB_SANDBOX=%s is not the live Pacemaker sandbox (pacemaker %q): the tests expect Pacemaker "+
			"to act (restart a killed node, move the VIP, fence); run `hack/overcloud.sh up` without OCB_PACEMAKER=file", path, s.Pacemaker)
	}
	return s
}

// Live reports whether Corosync and Pacemaker run this sandbox's cluster.
func (s *Sandbox) Live() bool { return s.Pacemaker == "live" }

// ScriptEnv is the environment hack/overcloud.sh needs to act on this sandbox.
func (s *Sandbox) ScriptEnv() []string {
	env := append(os.Environ(), "OCB_SANDBOX_DIR="+filepath.Dir(s.Path))
	if s.Live() {
		env = append(env, "OCB_PACEMAKER=live")
	}
	return env
}

// Read reads a sandbox.json and checks the routes of every address it names.
func Read(path string) (*Sandbox, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the caller's own sandbox.json
	if err != nil {
		return nil, fmt.Errorf("reading the sandbox description: %w", err)
	}
	s := &Sandbox{Path: path, Script: filepath.Join(repoRoot(), "hack", "overcloud.sh")}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if len(s.Nodes) == 0 || s.Bridge == "" {
		return nil, fmt.Errorf("%s names no nodes or no bridge", path)
	}
	addrs := make([]string, 0, 1+len(s.Nodes))
	addrs = append(addrs, s.VIP)
	for _, n := range s.Nodes {
		addrs = append(addrs, n.Address)
	}
	for _, a := range addrs {
		if err := CheckRoute(a, s.Bridge); err != nil {
			return nil, fmt.Errorf("refusing to send traffic: %w", err)
		}
	}
	return s, nil
}

// CheckRoute fails unless `ip route get addr` goes through dev bridge (or loopback).
func CheckRoute(addr, bridge string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	//nolint:gosec // G204: a fixed program; the address comes from sandbox.json
	out, err := exec.CommandContext(ctx, "ip", "route", "get", addr).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip route get %s: %w: %s", addr, err, out)
	}
	fields := strings.Fields(string(out))
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "dev" && (fields[i+1] == bridge || fields[i+1] == "lo") {
			return nil
		}
	}
	return fmt.Errorf("%s is not routed through the sandbox bridge %s: %s", addr, bridge, strings.TrimSpace(string(out)))
}

// NodeAddr is node i's MySQL address, host:port.
func (s *Sandbox) NodeAddr(i int) string {
	return net.JoinHostPort(s.Nodes[i].Address, strconv.Itoa(s.Nodes[i].MySQLPort))
}

// Open returns a connection pool to addr (host:port) as the sandbox's database user,
// with dial, read and write timeouts so that a frozen server never hangs a test. The
// caller closes it.
func (s *Sandbox) Open(t testing.TB, addr string) *sql.DB {
	t.Helper()
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = s.Database.User, s.Password(t), "tcp", addr
	mc.Timeout, mc.ReadTimeout, mc.WriteTimeout = 2*time.Second, 30*time.Second, 30*time.Second
	mc.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	return sql.OpenDB(connector)
}

// RequireTLS fails the test when the sandbox was brought up before it had TLS.
func (s *Sandbox) RequireTLS(t testing.TB) {
	t.Helper()
	const redo = "run hack/overcloud.sh down && hack/overcloud.sh up"
	if s.TLS.User == "" || s.TLS.CAFile == "" || s.TLS.OtherCAFile == "" {
		t.Fatal("the sandbox has no TLS (brought up by an older hack/overcloud.sh): " + redo)
	}
	for i, n := range s.Nodes {
		if got := strings.TrimSpace(s.RootQuery(t, i, "SELECT @@have_ssl", false)); got != "YES" {
			t.Fatalf("%s serves no TLS (have_ssl %s: its mariadbd started before the sandbox had TLS): %s", n.Name, got, redo)
		}
	}
}

// Password reads the database password.
func (s *Sandbox) Password(t testing.TB) string {
	t.Helper()
	return readSecret(t, s.Database.PasswordFile)
}

// StatsPassword reads the HAProxy stats password.
func (s *Sandbox) StatsPassword(t testing.TB) string {
	t.Helper()
	return readSecret(t, s.HAProxy.StatsPasswordFile)
}

// ReadFile reads a file the sandbox names (a key, known_hosts...).
func (s *Sandbox) ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // G304: paths come from sandbox.json
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return b
}

func readSecret(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // G304: paths come from sandbox.json
	if err != nil {
		t.Fatalf("reading a sandbox secret file: %v", err)
	}
	return strings.TrimRight(string(b), "\r\n")
}

// Lock serialises the tests that use the sandbox, across test packages (go test runs
// packages in parallel): a test that kills or isolates a node must not meet another
// test's probe. The lock is released when the test ends.
func (s *Sandbox) Lock(t testing.TB) {
	t.Helper()
	lock := filepath.Join(filepath.Dir(s.Path), "tests.lock")
	f, err := os.OpenFile(lock, os.O_CREATE|os.O_RDWR, 0o600) //nolint:gosec // G304: next to sandbox.json
	if err != nil {
		t.Fatalf("opening the sandbox test lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("locking the sandbox: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	})
}

// Run runs hack/overcloud.sh with args, bounded to two minutes, failing the test on
// error.
func (s *Sandbox) Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Script, args...) //nolint:gosec // G204: our own script
	cmd.Env = s.ScriptEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/overcloud.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// repoRoot is the repository holding this file (tests and the demo run from a checkout).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FenceLogOffset is where the live sandbox's power controller log (fencebmc.log, one line
// per power request and its answer) ends now, for FenceLogSince.
func (s *Sandbox) FenceLogOffset() int64 {
	st, err := os.Stat(s.fenceLog())
	if err != nil {
		return 0
	}
	return st.Size()
}

// FenceLogSince is what the power controller logged past offset (at most 64 KiB), ""
// when the log cannot be read.
func (s *Sandbox) FenceLogSince(offset int64) string {
	f, err := os.Open(s.fenceLog())
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, 64<<10)
	n, _ := f.ReadAt(buf, offset)
	return string(buf[:n])
}

func (s *Sandbox) fenceLog() string { return filepath.Join(filepath.Dir(s.Path), "fencebmc.log") }

// HostPID is the host PID of the process COMM (mariadbd, haproxy...) in controller i: a PID
// file inside a controller holds its PID namespace's own number.
func (s *Sandbox) HostPID(t testing.TB, i int, comm string) int {
	t.Helper()
	out := strings.TrimSpace(s.Run(t, "pid", strconv.Itoa(i), comm))
	pid, err := strconv.Atoi(out)
	if err != nil || pid <= 1 {
		t.Fatalf("hack/overcloud.sh pid %d %s: not a PID: %q", i, comm, out)
	}
	return pid
}

// VIPHolder is the index of the controller Pacemaker runs the database VIP on.
func (s *Sandbox) VIPHolder(t testing.TB) int {
	t.Helper()
	name := strings.TrimSpace(s.Run(t, "vip"))
	for i, n := range s.Nodes {
		if n.Name == name {
			return i
		}
	}
	t.Fatalf("hack/overcloud.sh vip: %q is not a controller of the sandbox", name)
	return -1
}

// NodeDir is controller i's state directory (its logs: sshd.log, mysqld.log...).
func (s *Sandbox) NodeDir(i int) string {
	return filepath.Join(filepath.Dir(s.Path), "c"+strconv.Itoa(i))
}
