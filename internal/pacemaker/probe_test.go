package pacemaker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/pacemaker"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/remote"
)

// The SSH runner is what Probe runs on in production.
var _ pacemaker.CommandRunner = (*remote.Runner)(nil)

// exitError mimics remote.ExitError: crm_mon ran and exited non-zero.
type exitError struct{ status int }

func (e exitError) Error() string   { return fmt.Sprintf("exited with status %d", e.status) }
func (e exitError) ExitStatus() int { return e.status }

type answer struct {
	out   string
	err   error
	delay time.Duration // wait this long (or until ctx ends) before answering
}

// fakeRunner answers per host address and records the calls.
type fakeRunner struct {
	mu        sync.Mutex
	answers   map[string]answer
	calls     []string
	deadlines []time.Duration
}

func (f *fakeRunner) Run(ctx context.Context, host string, port int, command string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s:%d %s", host, port, command))
	if dl, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(dl))
	} else {
		f.deadlines = append(f.deadlines, -1)
	}
	a, ok := f.answers[host]
	f.mu.Unlock()
	if !ok {
		return nil, errors.New("dial tcp: connection refused")
	}
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-ctx.Done():
			return nil, fmt.Errorf("running command: %w", ctx.Err())
		}
	}
	return []byte(a.out), a.err
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/crm_mon/" + name + ".xml") //nolint:gosec // G304: our own testdata
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var hosts = []pacemaker.Host{
	{Name: "controller-0", Address: "10.77.0.100"},
	{Name: "controller-1", Address: "10.77.0.101", Port: 2222},
	{Name: "controller-2"},
}

func TestProbeFirstAnswerWins(t *testing.T) {
	r := &fakeRunner{answers: map[string]answer{
		"10.77.0.100": {out: fixture(t, "bundle-healthy")},
		"10.77.0.101": {out: fixture(t, "bundle-galera-demoted")},
	}}
	st, err := pacemaker.Probe(context.Background(), r, hosts, "", pacemaker.ProbeOptions{HostTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st.Host != "controller-0" || len(r.calls) != 1 {
		t.Fatalf("answered by %q after calls %v", st.Host, r.calls)
	}
	if r.calls[0] != "10.77.0.100:22 "+pacemaker.DefaultCommand {
		t.Errorf("call = %q", r.calls[0])
	}
	if d := r.deadlines[0]; d <= 0 || d > 3*time.Second {
		t.Errorf("per-host deadline %v, want within 3s", d)
	}
}

func TestProbeFallsThrough(t *testing.T) {
	r := &fakeRunner{answers: map[string]answer{
		// crm_mon on a node without a cluster: exit 102 and its explanation on stdout.
		"10.77.0.100": {out: fixture(t, "error-no-cluster"), err: exitError{102}},
		// exit 0 but the CIB could not be read: only the XML says so.
		"10.77.0.101":  {out: fixture(t, "error-unreadable-cib")},
		"controller-2": {out: fixture(t, "clone-galera-demoted")},
	}}
	st, err := pacemaker.Probe(context.Background(), r, hosts, "sudo crm_mon -1 -r --output-as=xml",
		pacemaker.ProbeOptions{Options: pacemaker.Options{VIP: "10.77.0.10"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Host != "controller-2" || st.GaleraOn("controller-1").Role != pacemaker.RoleUnpromoted || st.VIP.Node != "controller-0" {
		t.Fatalf("status from %s: %+v", st.Host, st)
	}
	want := []string{
		"10.77.0.100:22 sudo crm_mon -1 -r --output-as=xml",
		"10.77.0.101:2222 sudo crm_mon -1 -r --output-as=xml",
		"controller-2:22 sudo crm_mon -1 -r --output-as=xml",
	}
	if strings.Join(r.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls = %q, want %q", r.calls, want)
	}
	if d := r.deadlines[2]; d <= 0 || d > pacemaker.DefaultHostTimeout {
		t.Errorf("default per-host deadline %v", d)
	}
}

func TestProbeAllFail(t *testing.T) {
	r := &fakeRunner{answers: map[string]answer{
		"10.77.0.100":  {out: fixture(t, "error-no-cluster"), err: exitError{102}},
		"10.77.0.101":  {out: "", delay: time.Minute},
		"controller-2": {out: fixture(t, "error-missing-cib")},
	}}
	start := time.Now()
	_, err := pacemaker.Probe(context.Background(), r, hosts, "", pacemaker.ProbeOptions{HostTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("Probe succeeded with no usable host")
	}
	// The hung host answers after a minute; HostTimeout is 200 ms. Loose for a loaded machine.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a hung host held Probe for %v", took)
	}
	var herr *pacemaker.HostError
	if !errors.As(err, &herr) || herr.Host != "controller-0" || herr.ExitStatus != 102 {
		t.Fatalf("first HostError = %+v", herr)
	}
	var re *pacemaker.ResultError
	if !errors.As(err, &re) || re.Code != 102 {
		t.Errorf("crm_mon's own report (102 Not connected) not in the chain: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the timed-out host is not in the error: %v", err)
	}
	for _, want := range []string{
		"controller-0: crm_mon exited with status 102: crm_mon reported status 102 (Not connected)",
		"controller-1: running command: context deadline exceeded",
		"controller-2: crm_mon exited with status 0: parsing crm_mon output from controller-2:22: crm_mon reported: Could not connect to the CIB",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestProbeStopsWhenCancelled(t *testing.T) {
	r := &fakeRunner{answers: map[string]answer{"10.77.0.100": {delay: time.Minute}}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := pacemaker.Probe(ctx, r, hosts, "", pacemaker.ProbeOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(r.calls) != 1 {
		t.Errorf("Probe went on after cancel: %v", r.calls)
	}
}

func TestProbeNoHosts(t *testing.T) {
	_, err := pacemaker.Probe(context.Background(), &fakeRunner{}, nil, "", pacemaker.ProbeOptions{})
	if !errors.Is(err, pacemaker.ErrNoHosts) {
		t.Fatalf("err = %v", err)
	}
}
