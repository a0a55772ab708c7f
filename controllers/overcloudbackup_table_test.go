package controllers

// The table tier of the OvercloudBackup controller, in the manner of Kubernetes'
// TestControllerV2SyncCronJob: the state machine driven against the real API server
// (envtest) with canned probe reports through the Prober seam instead of the local
// overcloud, so each case states its inputs (reports, Job outcomes) and its expected
// status, Jobs, events and probes. envtest runs no kubelet: finishJob stands in for it.
// The sandbox tier (overcloudbackup_*_test.go) keeps what needs real Galera, HAProxy, SSH.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// fakeProber answers probes with canned reports, in order (the last one repeats), and
// counts what it was asked. It reaches nothing.
type fakeProber struct {
	mu       sync.Mutex
	reports  []probe.Report
	probes   int
	resets   int
	resetErr error
	wasOn    bool
	// release, when set, holds the probe that would give the last report until it is
	// closed: a test sees the state the earlier reports led to before it passes (the
	// controller re-probes as soon as its own status changes, faster than a test polls).
	release chan struct{}
}

var _ Prober = (*fakeProber)(nil)

func (f *fakeProber) Probe(ctx context.Context, name string, _ *backupv1alpha1.OvercloudSpec, _ *backupv1alpha1.NodeSelectionSpec,
	_ probe.Credentials) (probe.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.release != nil && f.probes >= len(f.reports)-1 {
		f.mu.Unlock()
		select {
		case <-f.release:
		case <-ctx.Done():
			f.mu.Lock()
			return probe.Report{}, ctx.Err()
		}
		f.mu.Lock()
	}
	r := f.reports[min(f.probes, len(f.reports)-1)]
	f.probes++
	r.Overcloud = name
	return r, nil
}

func (f *fakeProber) ResetDesync(context.Context, *backupv1alpha1.OvercloudSpec, string, probe.Credentials) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets++
	return f.wasOn, f.resetErr
}

func (f *fakeProber) counts() (probes, resets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes, f.resets
}

// tableNodes are the canned overcloud's nodes, on a documentation range nothing dials.
var tableNodes = []string{"ctl-0", "ctl-1", "ctl-2"}

func tableOvercloud(ns string) *backupv1alpha1.Overcloud {
	oc := &backupv1alpha1.Overcloud{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: testOvercloud}}
	for i, n := range tableNodes {
		oc.Spec.Nodes = append(oc.Spec.Nodes, backupv1alpha1.NodeSpec{Name: n, Address: fmt.Sprintf("198.51.100.%d", 11+i)})
	}
	oc.Spec.Database.CredentialsSecret.Name = "db"
	oc.Spec.Monitoring = &backupv1alpha1.MonitoringSpec{Interval: &metav1.Duration{}}
	return oc
}

// tableRefs creates what the canned backups name: the Secret, the claim and (unless
// without) the Overcloud.
func tableRefs(t *testing.T, c client.Client, ns string, withOvercloud bool) {
	t.Helper()
	create(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Data: map[string][]byte{"username": []byte("backup"), "password": []byte("table-tier-not-a-secret")}}, claim(t, c, ns))
	if withOvercloud {
		create(t, c, tableOvercloud(ns))
	}
}

// report is a canned probe: ctl-0 active, the chosen node (none when "") idle and synced.
func report(selected string) probe.Report {
	r := probe.Report{ActiveNode: "ctl-0", ActiveSource: "HAProxy stick table", ClusterStateUUID: "3f1c0e2a-0000-11f1-0000-00000000000a", ClusterSize: 3}
	for _, n := range tableNodes {
		r.Nodes = append(r.Nodes, backupv1alpha1.NodeStatus{Name: n, Galera: &backupv1alpha1.GaleraNodeStatus{Reachable: true, Synced: true}})
	}
	if selected == "" {
		r.Reason = "no node is idle: ctl-1 and ctl-2 are desynced"
		return r
	}
	r.SelectedNode, r.Reason = selected, selected+" is synced and idle"
	return r
}

type tableCase struct {
	name string
	// reports are the probes' answers, in order.
	reports []probe.Report
	// change adjusts the backup; noOvercloud creates the Overcloud only after the backup
	// waited for it.
	change      func(*backupv1alpha1.OvercloudBackup)
	noOvercloud bool
	// jobs are the outcomes given to the attempts' Jobs, in order (true: succeeded with a
	// result; false: failed without one).
	jobs []bool
	// want is the backup's end; wantReason its Ready reason; wantJobs and the events.
	want        func(*backupv1alpha1.OvercloudBackup) bool
	wantWhat    string
	wantJobs    int
	wantEvents  []string
	wantProbes  int // at least
	wantResets  int // at least
	resetErr    error
	resetWasOn  bool
	waitingOn   string // a NodeSelected/ReferencesResolved reason seen on the way
	waitingWhat string
}

func TestBackupStateMachine(t *testing.T) {
	failed := func(reason string) func(*backupv1alpha1.OvercloudBackup) bool {
		return hasCondition(backupv1alpha1.ConditionFailed, metav1.ConditionTrue, reason)
	}
	complete := hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded)
	cases := []tableCase{
		{name: "happy path", reports: []probe.Report{report("ctl-2")}, jobs: []bool{true},
			want: complete, wantWhat: "Complete", wantJobs: 1, wantProbes: 1,
			wantEvents: []string{"NodeSelected", "JobCreated", "BackupSucceeded"}},
		{name: "no idle node, then one frees up", reports: []probe.Report{report(""), report(""), report("ctl-1")}, jobs: []bool{true},
			want: complete, wantWhat: "Complete", wantJobs: 1, wantProbes: 3,
			waitingOn: backupv1alpha1.ReasonNoIdleNode, waitingWhat: "NoIdleNode with a next probe time",
			wantEvents: []string{backupv1alpha1.ReasonNoIdleNode, "NodeSelected", "JobCreated", "BackupSucceeded"}},
		{name: "no idle node until the deadline", reports: []probe.Report{report("")},
			change: func(b *backupv1alpha1.OvercloudBackup) { b.Spec.Deadline = &metav1.Duration{Duration: 3 * time.Second} },
			want:   failed(backupv1alpha1.ReasonNoIdleNode), wantWhat: "Failed NoIdleNode", wantProbes: 2,
			wantEvents: []string{backupv1alpha1.ReasonNoIdleNode, "BackupFailed"}},
		{name: "attempts exhausted, each node checked", reports: []probe.Report{report("ctl-1"), report("ctl-2")}, jobs: []bool{false, false},
			change: func(b *backupv1alpha1.OvercloudBackup) {
				b.Spec.Job = &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(2))}
			},
			want: failed(backupv1alpha1.ReasonAttemptsExhausted), wantWhat: "Failed AttemptsExhausted", wantJobs: 2, wantProbes: 2, wantResets: 1,
			wantEvents: []string{backupv1alpha1.ReasonJobFailed, "BackupFailed", backupv1alpha1.ReasonDesyncVerified}},
		{name: "desync left on, repaired", reports: []probe.Report{report("ctl-2")}, jobs: []bool{false}, resetWasOn: true,
			change: func(b *backupv1alpha1.OvercloudBackup) {
				b.Spec.Job = &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(1))}
			},
			want:     hasCondition(backupv1alpha1.ConditionDesyncCleared, metav1.ConditionTrue, backupv1alpha1.ReasonDesyncRepaired),
			wantWhat: "DesyncRepaired", wantJobs: 1, wantProbes: 1, wantResets: 1,
			wantEvents: []string{backupv1alpha1.ReasonDesyncLeftOn, backupv1alpha1.ReasonDesyncRepaired}},
		{name: "desync check failing, retried with backoff", reports: []probe.Report{report("ctl-2")}, jobs: []bool{false},
			resetErr: errors.New("dial tcp: connection refused"),
			change: func(b *backupv1alpha1.OvercloudBackup) {
				b.Spec.Job = &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(1))}
			},
			want: func(b *backupv1alpha1.OvercloudBackup) bool {
				return hasCondition(backupv1alpha1.ConditionDesyncCleared, metav1.ConditionFalse, backupv1alpha1.ReasonDesyncRepairFailed)(b)
			},
			wantWhat: "DesyncRepairFailed", wantJobs: 1, wantProbes: 1, wantResets: 2,
			wantEvents: []string{backupv1alpha1.ReasonDesyncRepairFailed}},
		{name: "Overcloud missing, then created", reports: []probe.Report{report("ctl-1")}, noOvercloud: true, jobs: []bool{true},
			want: complete, wantWhat: "Complete", wantJobs: 1, wantProbes: 1,
			waitingOn: backupv1alpha1.ReasonOvercloudNotFound, waitingWhat: "OvercloudNotFound",
			wantEvents: []string{"JobCreated", "BackupSucceeded"}},
		{name: "nodeSelection names a node the Overcloud lacks", reports: []probe.Report{report("ctl-1")},
			change: func(b *backupv1alpha1.OvercloudBackup) {
				b.Spec.NodeSelection = &backupv1alpha1.NodeSelectionSpec{PreferredNodes: []string{"ctl-9"}}
			},
			want:     hasCondition(backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, backupv1alpha1.ReasonInvalidSpec),
			wantWhat: "ReferencesResolved InvalidSpec", wantProbes: 0},
		// spec.job held to the administrator's policy (internal/jobpolicy): refused for
		// good, before any probe or Job.
		{name: "an image the administrator did not allow", reports: []probe.Report{report("ctl-1")},
			change: func(b *backupv1alpha1.OvercloudBackup) {
				b.Spec.Job = &backupv1alpha1.JobSpec{Image: "evil.example/miner:1"}
			},
			want: failed(backupv1alpha1.ReasonNotAllowed), wantWhat: "Failed NotAllowed", wantProbes: 0,
			wantEvents: []string{"BackupFailed"}},
		{name: "hostNetwork outside the privileged namespaces", reports: []probe.Report{report("ctl-1")},
			change: func(b *backupv1alpha1.OvercloudBackup) {
				b.Spec.Job = &backupv1alpha1.JobSpec{HostNetwork: true}
			},
			want: failed(backupv1alpha1.ReasonNotAllowed), wantWhat: "Failed NotAllowed", wantProbes: 0,
			wantEvents: []string{"BackupFailed"}},
	}
	c := newClient(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t, c)
			fake := &fakeProber{reports: tc.reports, resetErr: tc.resetErr, wasOn: tc.resetWasOn}
			if tc.waitingOn == backupv1alpha1.ReasonNoIdleNode {
				fake.release = make(chan struct{})
			}
			runManager(t, ns, managerOptions{backups: true, prober: fake})
			tableRefs(t, c, ns, !tc.noOvercloud)
			b := newBackup(nil, ns, "table")
			if tc.change != nil {
				tc.change(b)
			}
			create(t, c, b)
			key := client.ObjectKeyFromObject(b)
			if tc.waitingOn != "" {
				waitBackup(t, c, key, tc.waitingWhat, func(b *backupv1alpha1.OvercloudBackup) bool {
					r := condition(b, backupv1alpha1.ConditionNodeSelected).Reason
					if tc.waitingOn == backupv1alpha1.ReasonOvercloudNotFound {
						r = condition(b, backupv1alpha1.ConditionReferencesResolved).Reason
					}
					return r == tc.waitingOn && (r != backupv1alpha1.ReasonNoIdleNode || b.Status.NextProbeTime != nil)
				})
				if tc.noOvercloud {
					create(t, c, tableOvercloud(ns))
				}
				if fake.release != nil {
					close(fake.release)
				}
			}
			for i, ok := range tc.jobs {
				got := waitBackup(t, c, key, fmt.Sprintf("running attempt %d", i+1), running(int32(i+1)))
				var res = okResult(got, got.Status.SelectedNode)
				if !ok {
					res = nil
				}
				finishJob(t, c, getJob(t, c, ns, got.JobName(int32(i+1))), res, ok)
			}
			got := waitBackup(t, c, key, tc.wantWhat, tc.want)
			if n := len(jobsOf(t, c, got)); n != tc.wantJobs {
				t.Errorf("%d Jobs, want %d", n, tc.wantJobs)
			}
			probes, resets := fake.counts()
			if probes < tc.wantProbes || (tc.wantProbes == 0 && probes != 0) || resets < tc.wantResets {
				t.Errorf("%d probes and %d desync checks, want at least %d and %d", probes, resets, tc.wantProbes, tc.wantResets)
			}
			if len(tc.wantEvents) > 0 {
				waitEvents(t, c, ns, b.Name, tc.wantEvents...)
			}
			if tc.resetErr != nil {
				// Each failed check counts, though the status stays the same from one to the
				// next (an action is told when taken, not when the status changes).
				counter := desyncRepairs.WithLabelValues(ns, testOvercloud, got.Status.SelectedNode, resultError)
				deadline := time.Now().Add(waitTimeout)
				for counterValue(t, counter) < 3 && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				if n := counterValue(t, counter); n < 3 {
					t.Errorf("ocb_desync_repairs_total{result=error} = %v after repeated failed checks, want at least 3", n)
				}
			}
			if tc.jobs != nil && tc.want(got) && got.Status.Source == nil && got.Status.JobName != "" {
				t.Errorf("a backup with a Job records no status.source")
			}
		})
	}
}

// counterValue reads a counter as /metrics would show it.
func counterValue(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := c.Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
