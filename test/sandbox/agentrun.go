package sandbox

// Running the real agent binary against the sandbox, for the benchmarks: built once per
// benchmark from this checkout, credentials in a 0600 Secret-like directory, one
// `agent dump` per call as a subprocess whose peak RSS the kernel reports (rusage).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// BuildCommand builds the package pkg of this repository (e.g. "./cmd") into a temporary
// directory of t and returns the binary's path. The Go build cache makes it cheap after
// the first time.
func BuildCommand(t testing.TB, pkg, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg) //nolint:gosec // G204: our own packages
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// AgentRunner runs `agent dump` of the real binary against the sandbox.
type AgentRunner struct {
	// Bin is the operator binary; Root is where the backups go (each removed after
	// the run that made it); Creds holds the files username and password.
	Bin, Root, Creds string
	sb               *Sandbox
	seq              int
}

// AgentRun is one `agent dump`.
type AgentRun struct {
	// Result is the agent's termination message.
	Result agent.Result
	// Wall is the time from start to exit.
	Wall time.Duration
	// AgentHWM is the agent process's own peak resident set (VmHWM, read every 50 ms
	// until it exits), ChildHWM the largest of its children's (mariadb-dump), in bytes.
	// RusageMaxRSS is what wait4 reports, which is not the agent's alone: Linux gives the
	// larger of the process's and its reaped children's peaks, and the peak counts the
	// parent's memory that the vfork-and-exec child shared until it exec'd (the test
	// binary's, with os/exec).
	AgentHWM, ChildHWM, RusageMaxRSS int64
	// AgentAnon is the largest anonymous part of the agent's resident set seen (RssAnon:
	// heap, stacks, buffers). The rest is the binary's own pages (RssFile), which every
	// role of the one binary maps alike and the kernel maps more or fewer of.
	AgentAnon int64
	// CPU is the user + system time of the agent and its reaped children (mariadb-dump).
	CPU time.Duration
	// UncompressedBytes is what mariadb-dump wrote (every file of the backup).
	UncompressedBytes int64
}

// NewAgentRunner builds the binary (or takes OCB_BENCH_AGENT_BIN, to compare a changed
// agent built elsewhere) and writes the backup user's credentials into a 0700 directory
// of 0600 files, as the Job's Secret volume holds them.
func (s *Sandbox) NewAgentRunner(t testing.TB) *AgentRunner {
	t.Helper()
	bin := os.Getenv("OCB_BENCH_AGENT_BIN")
	if bin == "" {
		bin = BuildCommand(t, "./cmd", "overcloud-backup-operator")
	} else {
		t.Logf("Agent binary from OCB_BENCH_AGENT_BIN: %s", bin)
	}
	a := &AgentRunner{Bin: bin, Root: t.TempDir(), Creds: filepath.Join(t.TempDir(), "credentials"), sb: s}
	if err := errors.Join(os.Mkdir(a.Creds, 0o700),
		os.WriteFile(filepath.Join(a.Creds, "username"), []byte(s.Database.User), 0o600),
		os.WriteFile(filepath.Join(a.Creds, "password"), []byte(s.Password(t)), 0o600)); err != nil {
		t.Fatal(err)
	}
	return a
}

// Command is one `agent dump` of node i (not started), run through prefix (e.g. taskset
// -c 1) when given, with extra flags (e.g. --desync=false, --database=x). The stop of
// ctx sends SIGTERM, as Kubernetes does: the agent then stops the dump and sets
// wsrep_desync OFF again. done reads the outcome after Wait and removes the backup.
func (a *AgentRunner) Command(ctx context.Context, i int, prefix []string, extra ...string) (cmd *exec.Cmd, done func() (AgentRun, error)) {
	a.seq++
	n := a.sb.Nodes[i]
	name := fmt.Sprintf("dump-%d-%d", time.Now().UnixNano(), a.seq)
	term := filepath.Join(a.Root, name+".json")
	args := append(append([]string{}, prefix...), a.Bin, "agent", "dump",
		"--node="+n.Name, "--address="+n.Address, "--port="+strconv.Itoa(n.MySQLPort),
		"--credentials-dir="+a.Creds, "--root="+a.Root, "--namespace=bench", "--name="+name,
		"--users=false", "--termination-log="+term)
	args = append(args, extra...)
	cmd = exec.CommandContext(ctx, args[0], args[1:]...) //nolint:gosec // G204: our own binary, arguments built here
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	start := time.Now()
	var agentHWM, agentAnon, childHWM atomic.Int64
	stop := make(chan struct{})
	var watching sync.WaitGroup
	watching.Go(func() { watchHWM(cmd, stop, &agentHWM, &agentAnon, &childHWM) })
	return cmd, func() (AgentRun, error) {
		close(stop)
		watching.Wait()
		run := AgentRun{Wall: time.Since(start), AgentHWM: agentHWM.Load(), AgentAnon: agentAnon.Load(), ChildHWM: childHWM.Load()}
		if cmd.ProcessState != nil {
			run.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				run.RusageMaxRSS = ru.Maxrss << 10 // kilobytes on Linux
			}
		}
		data, err := os.ReadFile(term) //nolint:gosec // G304: our own temporary directory
		if err == nil {
			err = json.Unmarshal(data, &run.Result)
		}
		for _, f := range run.Result.Files {
			run.UncompressedBytes += f.UncompressedBytes
		}
		_ = os.Remove(term)
		if run.Result.Dir != "" {
			_ = os.RemoveAll(run.Result.Dir)
		}
		if err == nil && run.Result.Error != "" {
			err = errors.New(run.Result.Error)
		}
		return run, err
	}
}

// watchHWM samples, every 50 ms until stop, the peak resident set (VmHWM) and the
// anonymous resident set (RssAnon) of the command's process, and the peak of its
// children, keeping the largest values seen.
func watchHWM(cmd *exec.Cmd, stop <-chan struct{}, agentHWM, agentAnon, childHWM *atomic.Int64) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if cmd.Process == nil {
			continue
		}
		pid := strconv.Itoa(cmd.Process.Pid)
		if v := procStatus(pid, "VmHWM:"); v > agentHWM.Load() {
			agentHWM.Store(v)
		}
		if v := procStatus(pid, "RssAnon:"); v > agentAnon.Load() {
			agentAnon.Store(v)
		}
		tasks, _ := os.ReadDir(filepath.Join("/proc", pid, "task"))
		for _, task := range tasks {
			children, _ := os.ReadFile(filepath.Join("/proc", pid, "task", task.Name(), "children")) //nolint:gosec // G304: procfs
			for _, c := range strings.Fields(string(children)) {
				// Only the exec'd tool: a child not yet past exec shares the agent's memory.
				comm, _ := os.ReadFile(filepath.Join("/proc", c, "comm")) //nolint:gosec // G304: procfs
				if !strings.HasPrefix(string(comm), "mariadb") {
					continue
				}
				if v := procStatus(c, "VmHWM:"); v > childHWM.Load() {
					childHWM.Store(v)
				}
			}
		}
	}
}

// procStatus is a field of /proc/<pid>/status in kB (VmHWM:, RssAnon:...) in bytes, 0
// when unknown.
func procStatus(pid, field string) int64 {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "status")) //nolint:gosec // G304: procfs
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// Dump runs one `agent dump` of node i to its end (bounded by ten minutes).
func (a *AgentRunner) Dump(t testing.TB, i int, prefix []string, extra ...string) AgentRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd, done := a.Command(ctx, i, prefix, extra...)
	out, runErr := cmd.CombinedOutput()
	run, err := done()
	if err := errors.Join(runErr, err); err != nil {
		t.Fatalf("agent dump of %s: %v\n%s", a.sb.Nodes[i].Name, err, out)
	}
	return run
}

// WaitSynced waits, at most timeout, until node i is Synced and not desynced: after
// wsrep_desync=OFF the node passes through Joined while it catches up, and the agent's
// re-check refuses a node that is not Synced.
func (s *Sandbox) WaitSynced(t testing.TB, i int, timeout time.Duration) {
	t.Helper()
	db := s.Open(t, s.NodeAddr(i))
	defer func() { _ = db.Close() }()
	deadline := time.Now().Add(timeout)
	var state, desync string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.QueryRowContext(ctx, "SELECT (SELECT variable_value FROM information_schema.global_status "+
			"WHERE variable_name = 'wsrep_local_state'), @@wsrep_desync").Scan(&state, &desync)
		cancel()
		if err == nil && state == "4" && desync == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not Synced after %v (wsrep_local_state %q, wsrep_desync %q, %v)", s.Nodes[i].Name, timeout, state, desync, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// GlobalStatus reads numeric global status variables of node i (e.g.
// wsrep_flow_control_paused_ns), as the backup user.
func (s *Sandbox) GlobalStatus(t testing.TB, i int, names ...string) map[string]int64 {
	t.Helper()
	db := s.Open(t, s.NodeAddr(i))
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := map[string]int64{}
	for _, n := range names {
		var v string
		err := db.QueryRowContext(ctx, "SELECT variable_value FROM information_schema.global_status WHERE variable_name = ?", n).Scan(&v)
		if err != nil {
			t.Fatalf("%s on %s: %v", n, s.Nodes[i].Name, err)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("%s on %s: %q: %v", n, s.Nodes[i].Name, v, err)
		}
		out[n] = int64(f)
	}
	return out
}
