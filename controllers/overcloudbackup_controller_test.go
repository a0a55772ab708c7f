package controllers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// TestBackupHappyPath: a backup with its Secrets and claim in place probes the sandbox,
// chooses an idle node (not the one serving the client), starts attempt 1, and ends
// Complete with the agent's result in status.artifact.
func TestBackupHappyPath(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	active := clientSession(t, sb)
	ready(t, c, sb, ns)
	startManager(t, ns)

	b := newBackup(sb, ns, "nightly")
	b.Spec.DeletionPolicy = backupv1alpha1.DeletionRetain
	start := time.Now()
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "running attempt 1", running(1))
	t.Logf("created to Job created: %v", time.Since(start).Round(time.Millisecond))

	if len(got.Status.Nodes) != len(sb.Nodes) {
		t.Errorf("status.nodes has %d rows, want %d", len(got.Status.Nodes), len(sb.Nodes))
	}
	if got.Status.ActiveNode != active {
		t.Errorf("activeNode %q, but the client is served by %q", got.Status.ActiveNode, active)
	}
	if got.Status.SelectedNode == "" || got.Status.SelectedNode == active {
		t.Errorf("selectedNode %q, want an idle node (not %q)", got.Status.SelectedNode, active)
	}
	for _, typ := range []string{backupv1alpha1.ConditionReferencesResolved, backupv1alpha1.ConditionNodeSelected, backupv1alpha1.ConditionJobRunning} {
		if c := condition(got, typ); c.Status != metav1.ConditionTrue {
			t.Errorf("condition %s = %+v, want True", typ, c)
		}
	}
	if c := condition(got, backupv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != backupv1alpha1.ReasonProgressing {
		t.Errorf("Ready while running = %+v, want False/Progressing", c)
	}
	if got.Status.ObservedGeneration != got.Generation || got.Status.StartTime == nil {
		t.Errorf("observedGeneration %d (generation %d), startTime %v", got.Status.ObservedGeneration, got.Generation, got.Status.StartTime)
	}

	jobs := jobsOf(t, c, got)
	if len(jobs) != 1 || jobs[0].Name != "nightly-1" || !metav1.IsControlledBy(&jobs[0], got) {
		t.Fatalf("jobs %v, want one Job nightly-1 controlled by the backup", names(jobs))
	}
	if jobs[0].Annotations[annotationNode] != got.Status.SelectedNode {
		t.Errorf("the Job's node %q, the status says %q", jobs[0].Annotations[annotationNode], got.Status.SelectedNode)
	}

	finishJob(t, c, &jobs[0], okResult(got, got.Status.SelectedNode), true)
	done := waitBackup(t, c, key, "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
	if done.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Errorf("phase %s, want Succeeded", done.Status.Phase)
	}
	if c := condition(done, backupv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v, want True", c)
	}
	art := done.Status.Artifact
	if art == nil || art.ClaimName != "backups" || art.Path != ns+"/nightly" || len(art.Files) != 2 ||
		art.TotalBytes != 1536*1024+512 || art.Size != "1.5 MiB" || art.Method != backupv1alpha1.DumpLogical ||
		art.Compression != backupv1alpha1.CompressionZstd || art.Position == nil || art.Position.Seqno != 4242 {
		t.Errorf("artifact %+v", art)
	}
	if done.Status.CompletionTime == nil || done.Status.Duration == nil {
		t.Errorf("completionTime %v, duration %v", done.Status.CompletionTime, done.Status.Duration)
	}
	st, _ := json.Marshal(done.Status)
	for _, secret := range []string{sb.Password(t), sb.StatsPassword(t)} {
		if strings.Contains(string(st), secret) {
			t.Fatal("a password is in the status")
		}
	}
	waitEvents(t, c, ns, "nightly", "NodeSelected", "JobCreated", "BackupSucceeded")
}

// TestReferencesMissingThenCreated: without its Secrets and claim the backup waits and
// says which is missing; creating them (without touching the backup) lets it go on.
func TestReferencesMissingThenCreated(t *testing.T) {
	// The Overcloud, then its Secrets, then the claim: each created while the backup waits.
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	startManager(t, ns)

	b := newBackup(sb, ns, "refs")
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "OvercloudNotFound", hasCondition(backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, backupv1alpha1.ReasonOvercloudNotFound))
	if msg := condition(got, backupv1alpha1.ConditionReferencesResolved).Message; !strings.Contains(msg, "Overcloud site-a not found") {
		t.Errorf("message %q does not name the Overcloud", msg)
	}
	create(t, c, newOvercloud(sb, ns, testOvercloud, 0))
	got = waitBackup(t, c, key, "SecretNotFound", hasCondition(backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, backupv1alpha1.ReasonSecretNotFound))
	msg := condition(got, backupv1alpha1.ConditionReferencesResolved).Message
	for _, want := range []string{"Secret db (database credentials) not found", "Secret ssh (SSH)", "Secret haproxy"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if got.Status.Phase != backupv1alpha1.PhasePending || condition(got, backupv1alpha1.ConditionReady).Status != metav1.ConditionFalse {
		t.Errorf("phase %s, Ready %+v: want Pending, False", got.Status.Phase, condition(got, backupv1alpha1.ConditionReady))
	}

	db, ssh, hap := secrets(t, sb, ns)
	delete(ssh.Data, "known_hosts")
	create(t, c, db, ssh, hap)
	got = waitBackup(t, c, key, "SecretKeyMissing", hasCondition(backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, backupv1alpha1.ReasonSecretKeyMissing))
	if msg := condition(got, backupv1alpha1.ConditionReferencesResolved).Message; !strings.Contains(msg, "known_hosts") {
		t.Errorf("message %q does not name the missing key", msg)
	}

	_, full, _ := secrets(t, sb, ns)
	ssh.Data = full.Data
	if err := c.Update(context.Background(), ssh); err != nil {
		t.Fatal(err)
	}
	got = waitBackup(t, c, key, "ClaimNotFound", hasCondition(backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, backupv1alpha1.ReasonClaimNotFound))
	if msg := condition(got, backupv1alpha1.ConditionReferencesResolved).Message; !strings.Contains(msg, "PersistentVolumeClaim backups not found") {
		t.Errorf("message %q", msg)
	}

	create(t, c, claim(t, c, ns))
	got = waitBackup(t, c, key, "running attempt 1", running(1))
	if got.Generation != 1 {
		t.Errorf("the backup's generation is %d: the test must not touch it", got.Generation)
	}
	st, _ := json.Marshal(got.Status)
	if strings.Contains(string(st), sb.Password(t)) {
		t.Fatal("the password is in the status")
	}
}

// TestNoIdleNodeThenFrees: the two idle nodes desynced and the third serving a client,
// the backup says there is no idle node and when it probes again; once one node is synced
// again it goes on with that node.
func TestNoIdleNodeThenFrees(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	active := clientSession(t, sb)
	var idle []string
	for _, n := range sb.Nodes {
		if n.Name != active {
			idle = append(idle, n.Name)
		}
	}
	for _, n := range idle {
		sb.Run(t, "desync", nodeIndex(t, sb, n), "on")
	}
	t.Cleanup(func() {
		for _, n := range idle {
			sb.Run(t, "desync", nodeIndex(t, sb, n), "off")
		}
		sb.WaitHealthy(t)
	})
	ready(t, c, sb, ns)
	startManager(t, ns)

	b := newBackup(sb, ns, "busy")
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "NoIdleNode", hasCondition(backupv1alpha1.ConditionNodeSelected, metav1.ConditionFalse, backupv1alpha1.ReasonNoIdleNode))
	if got.Status.NextProbeTime == nil || !strings.Contains(got.Status.Message, "No idle node") || !strings.Contains(got.Status.Message, "probing again at") {
		t.Errorf("nextProbeTime %v, message %q", got.Status.NextProbeTime, got.Status.Message)
	}
	if got.Status.Phase != backupv1alpha1.PhasePending || got.Status.ActiveNode != active || len(jobsOf(t, c, got)) != 0 {
		t.Errorf("phase %s, activeNode %q (want %q), jobs %d", got.Status.Phase, got.Status.ActiveNode, active, len(jobsOf(t, c, got)))
	}
	for _, row := range got.Status.Nodes {
		if row.Name != active && !strings.Contains(row.Reason, "desynced") {
			t.Errorf("node %s: reason %q does not say it is desynced", row.Name, row.Reason)
		}
	}

	sb.Run(t, "desync", nodeIndex(t, sb, idle[0]), "off")
	got = waitBackup(t, c, key, "running attempt 1", running(1))
	if got.Status.SelectedNode != idle[0] || got.Status.NextProbeTime != nil {
		t.Errorf("selectedNode %q (want %q), nextProbeTime %v", got.Status.SelectedNode, idle[0], got.Status.NextProbeTime)
	}
}

// TestTwoBackupsOfOneOvercloud: the second backup of an overcloud is Queued until the
// first finishes, then runs.
func TestTwoBackupsOfOneOvercloud(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	startManager(t, ns)

	first, second := newBackup(sb, ns, "a-first"), newBackup(sb, ns, "b-second")
	create(t, c, first, second)
	got1 := waitBackup(t, c, client.ObjectKeyFromObject(first), "running attempt 1", running(1))
	got2 := waitBackup(t, c, client.ObjectKeyFromObject(second), "Queued", hasCondition(backupv1alpha1.ConditionNodeSelected, metav1.ConditionFalse, backupv1alpha1.ReasonQueued))
	if !strings.Contains(got2.Status.Message, "a-first") || got2.Status.Phase != backupv1alpha1.PhasePending || len(jobsOf(t, c, got2)) != 0 {
		t.Errorf("second: phase %s, message %q, jobs %d", got2.Status.Phase, got2.Status.Message, len(jobsOf(t, c, got2)))
	}

	jobs := jobsOf(t, c, got1)
	finishJob(t, c, &jobs[0], okResult(got1, got1.Status.SelectedNode), true)
	waitBackup(t, c, client.ObjectKeyFromObject(first), "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, ""))
	waitBackup(t, c, client.ObjectKeyFromObject(second), "running attempt 1", running(1))
}

// TestAgentFailureThenNextAttempt: attempt 1's agent fails, so attempt 2 probes again and
// runs as a new Job (-2); attempt 2's pod disappears without a result: with maxAttempts 2
// the backup fails for good, and says the node may still be desynced.
func TestAgentFailureThenNextAttempt(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	startManager(t, ns)

	b := newBackup(sb, ns, "flaky")
	b.Spec.Job = &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(2))}
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "running attempt 1", running(1))
	failed := &agent.Result{Node: got.Status.SelectedNode, Error: "re-check: " + got.Status.SelectedNode + " now serves clients through HAProxy"}
	finishJob(t, c, getJob(t, c, ns, "flaky-1"), failed, false)

	got = waitBackup(t, c, key, "running attempt 2", running(2))
	if len(jobsOf(t, c, got)) != 2 {
		t.Errorf("jobs %v, want flaky-1 and flaky-2", names(jobsOf(t, c, got)))
	}
	if cond := condition(got, backupv1alpha1.ConditionDesyncCleared); cond.Status != "" {
		t.Errorf("DesyncCleared %+v after an agent that never desynced", cond)
	}

	// The pod of attempt 2 is gone and the Job failed: no result at all.
	finishJob(t, c, getJob(t, c, ns, "flaky-2"), nil, false)
	got = waitBackup(t, c, key, "Failed", hasCondition(backupv1alpha1.ConditionFailed, metav1.ConditionTrue, backupv1alpha1.ReasonAttemptsExhausted))
	if got.Status.Phase != backupv1alpha1.PhaseFailed || got.Status.CompletionTime == nil {
		t.Errorf("phase %s, completionTime %v", got.Status.Phase, got.Status.CompletionTime)
	}
	if r := condition(got, backupv1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != backupv1alpha1.ReasonAttemptsExhausted {
		t.Errorf("Ready %+v, want False/AttemptsExhausted", r)
	}
	if !strings.Contains(got.Status.Message, "Attempt 2 of 2 failed") || !strings.Contains(got.Status.Message, "left no result") {
		t.Errorf("message %q", got.Status.Message)
	}
	// The pod left no word on wsrep_desync: the controller checks the node, and finds it
	// OFF (the sandbox node was never desynced; TestDesyncRepair desyncs one for real).
	got = waitBackup(t, c, key, "desync verified", hasCondition(backupv1alpha1.ConditionDesyncCleared, metav1.ConditionTrue, backupv1alpha1.ReasonDesyncVerified))
	if got.Status.DesyncLeftOn != "" {
		t.Errorf("desyncLeftOn %q after the check", got.Status.DesyncLeftOn)
	}
	waitEvents(t, c, ns, "flaky", "JobFailed", "BackupFailed", "DesyncLeftOn", "DesyncVerified")
}

// TestManagerRestart: the manager stops while attempt 1 runs and its status is lost; a
// new manager finds the Job (no second one) and rebuilds the status from it, then
// follows it to the end.
func TestManagerRestart(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	stop := startManager(t, ns)

	b := newBackup(sb, ns, "restart")
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "running attempt 1", running(1))
	node := got.Status.SelectedNode
	stop()

	// Lose the status, as if it had never been written.
	lost := got.DeepCopy()
	lost.Status = backupv1alpha1.OvercloudBackupStatus{}
	if err := c.Status().Update(context.Background(), lost); err != nil {
		t.Fatal(err)
	}
	startManager(t, ns)
	got = waitBackup(t, c, key, "running attempt 1 again", running(1))
	if got.Status.SelectedNode != node || got.Status.StartTime == nil {
		t.Errorf("recovered selectedNode %q (was %q), startTime %v", got.Status.SelectedNode, node, got.Status.StartTime)
	}
	if jobs := jobsOf(t, c, got); len(jobs) != 1 {
		t.Fatalf("jobs %v after the restart, want only restart-1", names(jobs))
	}
	finishJob(t, c, getJob(t, c, ns, "restart-1"), okResult(got, node), true)
	waitBackup(t, c, key, "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, ""))
	if jobs := jobsOf(t, c, got); len(jobs) != 1 {
		t.Errorf("jobs %v at the end, want only restart-1", names(jobs))
	}
}

// TestFaultsFromTheClient drives Reconcile directly through a client that fails on cue,
// where the real API server cannot be made to: the Job's create answers AlreadyExists
// (it was created meanwhile: adopted, not duplicated), and the status patch answers a
// conflict once (a quiet retry, with no error for controller-runtime to log, which then
// writes the status).
func TestFaultsFromTheClient(t *testing.T) {
	sb := lockedSandbox(t)
	real := newClient(t)
	ns := newNamespace(t, real)
	ready(t, real, sb, ns)
	b := newBackup(sb, ns, "faults")
	create(t, real, b)

	creates, patches := 0, 0
	faulty := interceptor.NewClient(real, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*batchv1.Job); !ok {
				return c.Create(ctx, obj, opts...)
			}
			creates++
			// Someone (this controller before a restart) created it a moment ago.
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			return apierrors.NewAlreadyExists(schema.GroupResource{Group: "batch", Resource: "jobs"}, obj.GetName())
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			patches++
			if patches == 1 {
				return apierrors.NewConflict(schema.GroupResource{Group: backupv1alpha1.GroupVersion.Group, Resource: "overcloudbackups"}, obj.GetName(), nil)
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	r := &OvercloudBackupReconciler{Client: faulty, APIReader: real, Scheme: scheme, AgentImage: testImage}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(b)}

	if res, err := r.Reconcile(context.Background(), req); err != nil || res.RequeueAfter != conflictRetry {
		t.Fatalf("first pass: %+v, %v; want a quiet retry after %s", res, err, conflictRetry)
	}
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	got := &backupv1alpha1.OvercloudBackup{}
	if err := real.Get(context.Background(), req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if !running(1)(got) {
		t.Errorf("status after the retry: phase %s, jobName %q, attempts %d", got.Status.Phase, got.Status.JobName, got.Status.Attempts)
	}
	if jobs := jobsOf(t, real, got); len(jobs) != 1 {
		t.Errorf("jobs %v, want only faults-1", names(jobs))
	}
	if creates != 1 {
		t.Errorf("%d Job creates, want 1: the second pass must find the Job", creates)
	}
	// A third pass changes nothing: no patch at all.
	before := patches
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if patches != before {
		t.Errorf("a pass with nothing new patched the status")
	}
}

func names(jobs []batchv1.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.Name
	}
	return out
}

// waitEvents waits until the backup has events with each reason.
func waitEvents(t *testing.T, c client.Client, namespace, backup string, reasons ...string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		list := &eventsv1.EventList{}
		if err := c.List(context.Background(), list, client.InNamespace(namespace)); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range list.Items {
			if e.Regarding.Name == backup {
				seen[e.Reason] = true
				if strings.Contains(e.Note, "password") {
					t.Errorf("event %s mentions a password: %q", e.Reason, e.Note)
				}
			}
		}
		missing := []string{}
		for _, r := range reasons {
			if !seen[r] {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events of %s: missing %v (seen %v)", backup, missing, seen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
