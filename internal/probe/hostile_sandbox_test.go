package probe_test

// The manager must survive any endpoint a tenant points it at. These tests point the
// probe at hostile answers from real servers: the sandbox's sshd running commands that
// print far more than crm_mon or HAProxy ever do, an HTTP stats page on loopback that
// never ends or redirects elsewhere, and a real Galera node with more sessions than the
// processlist cap. The memory test runs them, many at once, in a child process held to
// the manager's memory limit (256 MiB, config/manager/manager.yaml) by a cgroup.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// managerMemoryLimit is the manager container's memory limit.
const managerMemoryLimit = 256 << 20

// endlessStats serves a stats page that starts like HAProxy's CSV and never ends.
func endlessStats(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status\n")
		row := []byte(strings.Repeat("mysql,controller-0,0,0,0,0,,0,UP\n", 64))
		for i := 0; i < 1<<20; i++ { // bounded: 2 GiB at most, ends with the client
			if _, err := w.Write(row); err != nil {
				return
			}
			if r.Context().Err() != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hostileSpec is the sandbox's spec with crm_mon, the stats socket and the stats page
// replaced by hostile answers of the given sizes.
func hostileSpec(sb *sandbox.Sandbox, crmMonBytes, socketBytes int, statsURL string) *backupv1alpha1.OvercloudSpec {
	oc := spec(sb)
	oc.Pacemaker.Command = fmt.Sprintf("head -c %d /dev/zero", crmMonBytes)
	oc.HAProxy.StatsSocketCommand = fmt.Sprintf("head -c %d /dev/zero; test -n {socket}", socketBytes)
	oc.HAProxy.StatsURL = statsURL
	return oc
}

// TestHostileAnswers: each hostile answer is refused with an error that says what was
// too large, quotes none of it, and leaves the probe's Galera view intact.
func TestHostileAnswers(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	stats := endlessStats(t)
	for _, tc := range []struct {
		name                     string
		crmMonBytes, socketBytes int
		pacemaker, haproxy       string // in the report's Pacemaker and HAProxy lines
	}{
		{"20 MB from crm_mon and the socket: the SSH runner's cap", 20 << 20, 20 << 20, "more than", "more than"},
		{"3 MiB from crm_mon: the crm_mon cap", 3 << 20, 20 << 20, "more than the 2097152", "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := probe.NewTarget(hostileSpec(sb, tc.crmMonBytes, tc.socketBytes, stats.URL), creds(t, sb), probeTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			start := time.Now()
			report := gatherReport(t, tg)
			if took := time.Since(start); took > 3*probeTimeout {
				t.Errorf("the probe took %v", took)
			}
			if !strings.Contains(report.Pacemaker, "not read") || !strings.Contains(report.Pacemaker, tc.pacemaker) {
				t.Errorf("Pacemaker: %q, want not read, %q", report.Pacemaker, tc.pacemaker)
			}
			if !strings.Contains(report.HAProxy, "not read") {
				t.Errorf("HAProxy: %q, want not read", report.HAProxy)
			}
			for _, n := range report.Nodes {
				if n.Galera == nil || !n.Galera.Reachable {
					t.Errorf("%s: Galera unread by the side of hostile HAProxy and Pacemaker answers: %+v", n.Name, n.Galera)
				}
			}
		})
	}
}

func gatherReport(t testing.TB, tg probe.Target) probe.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*probeTimeout)
	defer cancel()
	snap := probe.Gather(ctx, tg)
	return probe.NewReport("hostile", snap, selection.Decide(snap, selection.Policy{}))
}

// TestStatsPageRedirect: a stats page that redirects is an error naming the status, and
// the basic-auth credentials never reach the redirect's target.
func TestStatsPageRedirect(t *testing.T) {
	var mu sync.Mutex
	var reached []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = fmt.Fprint(w, "# pxname,svname,status\nmysql,BACKEND,UP\n")
	}))
	defer elsewhere.Close()
	redirector := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/;csv", http.StatusFound))
	defer redirector.Close()

	oc := &backupv1alpha1.OvercloudSpec{
		DatabaseVIP: "127.0.0.1",
		Nodes:       []backupv1alpha1.NodeSpec{{Name: "controller-0", Address: "127.0.0.1"}},
		HAProxy:     &backupv1alpha1.HAProxyAccess{StatsURL: redirector.URL},
	}
	tg, err := probe.NewTarget(oc, probe.Credentials{DatabaseUser: "u", DatabasePassword: "p", HAProxyUser: "admin",
		HAProxyPassword: "s3cret-stats"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	_, err = tg.HAProxyHTTP.Read(context.Background(), nil, tg.Nodes)
	if err == nil || !strings.Contains(err.Error(), "302") || strings.Contains(err.Error(), elsewhere.URL) {
		t.Errorf("err = %v, want one naming HTTP 302 and not where it points", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reached) != 0 {
		t.Errorf("the redirect was followed (%d requests reached its target)", len(reached))
	}
}

// TestProcesslistCap: past Config.MaxProcesses rows the client count is unknown (-1:
// never a partial count that would make a busy node look idle), and the error says so.
func TestProcesslistCap(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	addr := sb.NodeAddr(1)
	// Sessions of another account, so that they count as clients.
	const sessions = 12
	db := sb.Open(t, addr)
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(sessions)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range sessions {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
	}
	cfg := galera.Config{User: sb.Database.User, Password: sb.Password(t), ConnectTimeout: 2 * time.Second, QueryTimeout: 2 * time.Second}
	full, err := galera.NewProber(cfg).Probe(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if full.ClientConnections < sessions {
		t.Fatalf("%d client connections counted, want at least the %d held", full.ClientConnections, sessions)
	}
	cfg.MaxProcesses = sessions / 2
	capped, err := galera.NewProber(cfg).Probe(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if capped.ClientConnections != -1 {
		t.Errorf("with %d rows allowed: %d client connections, want -1 (unknown)", cfg.MaxProcesses, capped.ClientConnections)
	}
}

// TestHostileEndpointsUnderMemoryLimit runs 8 probes of hostile endpoints at once, twice
// over, in a child process whose memory cgroup allows what the manager's container
// does: the child must finish (the kernel kills it past the limit), and the peak it
// reached is logged.
func TestHostileEndpointsUnderMemoryLimit(t *testing.T) {
	if os.Getenv("OCB_HOSTILE_CHILD") == "1" {
		hostileChild(t)
		return
	}
	sb := sandbox.Load(t)
	sb.Lock(t)
	cg := filepath.Join("/sys/fs/cgroup/memory", fmt.Sprintf("ocb-hostile-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o750); err != nil {
		t.Fatalf("a memory cgroup for the child (cgroup v1, as on this machine kind): %v", err)
	}
	defer func() {
		// The child is gone; an empty cgroup can be removed.
		for i := 0; i < 50 && os.Remove(cg) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}()
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(cg, name), []byte(v), 0o600); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	write("memory.limit_in_bytes", strconv.Itoa(managerMemoryLimit))
	// The shell moves itself into the cgroup, then becomes the test binary: every byte
	// the child allocates counts.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const script = `echo $$ > "$0/cgroup.procs" && exec "$1" -test.run '^TestHostileEndpointsUnderMemoryLimit$' -test.v`
	cmd := exec.CommandContext(ctx, "sh", "-c", script, cg, os.Args[0]) //nolint:gosec // G204: this test binary, re-run
	cmd.Env = append(os.Environ(), "OCB_HOSTILE_CHILD=1", "GOMEMLIMIT=200MiB")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	peak, _ := os.ReadFile(filepath.Join(cg, "memory.max_usage_in_bytes")) //nolint:gosec // G304: the test's cgroup
	oom, _ := os.ReadFile(filepath.Join(cg, "memory.oom_control"))         //nolint:gosec // G304: the test's cgroup
	if err != nil {
		t.Fatalf("the child failed (%v) under a %d MiB limit; peak %s bytes; %s\n%s", err, managerMemoryLimit>>20,
			strings.TrimSpace(string(peak)), strings.ReplaceAll(string(oom), "\n", " "), out.String())
	}
	if !strings.Contains(out.String(), "hostile probes done") {
		t.Fatalf("the child did not run the probes:\n%s", out.String())
	}
	p, _ := strconv.ParseInt(strings.TrimSpace(string(peak)), 10, 64)
	t.Logf("8 hostile probes at once, twice: peak memory of the child %d MiB, limit %d MiB", p>>20, managerMemoryLimit>>20)
}

// hostileChild is the child's half: 8 probes at once, each of an overcloud answering
// 20 MB to crm_mon and the socket and an endless stats page, twice.
func hostileChild(t *testing.T) {
	sb := sandbox.Load(t)
	stats := endlessStats(t)
	for round := range 2 {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				tg, err := probe.NewTarget(hostileSpec(sb, 20<<20, 20<<20, stats.URL), creds(t, sb), probeTimeout)
				if err != nil {
					errs <- err
					return
				}
				defer tg.Close()
				r := gatherReport(t, tg)
				if !strings.Contains(r.Pacemaker, "not read") || !strings.Contains(r.HAProxy, "not read") {
					errs <- fmt.Errorf("round %d: Pacemaker %q, HAProxy %q: a hostile answer was read", round, r.Pacemaker, r.HAProxy)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	if !t.Failed() {
		fmt.Println("hostile probes done")
	}
}

// TestHAProxyTimeoutRead: haproxy.timeout bounds a stats read although the target's own
// timeout is longer (it was never read before).
func TestHAProxyTimeoutRead(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	oc := &backupv1alpha1.OvercloudSpec{
		DatabaseVIP: "127.0.0.1",
		Nodes:       []backupv1alpha1.NodeSpec{{Name: "controller-0", Address: "127.0.0.1"}},
		HAProxy:     &backupv1alpha1.HAProxyAccess{StatsURL: slow.URL, Timeout: &metav1.Duration{Duration: 300 * time.Millisecond}},
	}
	tg, err := probe.NewTarget(oc, probe.Credentials{DatabaseUser: "u", DatabasePassword: "p"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	start := time.Now()
	_, err = tg.HAProxyHTTP.Read(context.Background(), nil, tg.Nodes)
	// haproxy.timeout is 300 ms, the probe's own 10 s: the bound lies between them.
	if took := time.Since(start); err == nil || took > 5*time.Second {
		t.Errorf("a stats page that never answers: err %v after %v, want an error after haproxy.timeout (300ms)", err, took)
	}
}
