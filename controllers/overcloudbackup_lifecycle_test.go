package controllers

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// TestDesyncRepair: an attempt's agent desynced its node and was killed (no result, no
// pod). The node really is desynced in the sandbox: the test sets wsrep_desync=ON there
// as the agent does, since no kubelet runs here to run and SIGKILL it. The controller
// waits while another agent pod still runs on that node, then turns wsrep_desync OFF
// itself and records it.
func TestDesyncRepair(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	startManager(t, ns)

	b := newBackup(sb, ns, "killed")
	b.Spec.Job = &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(1))}
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "running attempt 1", running(1))
	node := got.Status.SelectedNode
	i, _ := strconv.Atoi(nodeIndex(t, sb, node))
	sb.RootQuery(t, i, "SET GLOBAL wsrep_desync=ON", false)
	t.Cleanup(func() { sb.RootQuery(t, i, "SET GLOBAL wsrep_desync=OFF", true) })

	// An agent pod of the overcloud still runs on that node (the kubelet has not yet
	// reported it ended): the controller must not touch the node under it.
	busy := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: "killed-1-stopping",
			Labels: map[string]string{
				backupv1alpha1.LabelBackup: "killed", backupv1alpha1.LabelOvercloud: b.Spec.OvercloudRef.Name,
				labelManagedBy: managedBy, labelComponent: agentComponent,
			},
			Annotations: map[string]string{annotationNode: node},
		},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: agentContainer, Image: testImage}}},
	}
	create(t, c, busy)
	busy.Status.Phase = corev1.PodRunning
	if err := c.Status().Update(context.Background(), busy); err != nil {
		t.Fatal(err)
	}
	finishJob(t, c, getJob(t, c, ns, "killed-1"), nil, false)
	got = waitBackup(t, c, key, "waiting for the agent pod", func(b *backupv1alpha1.OvercloudBackup) bool {
		return strings.Contains(condition(b, backupv1alpha1.ConditionDesyncCleared).Message, "waiting for agent pod killed-1-stopping") &&
			controllerutil.ContainsFinalizer(b, backupv1alpha1.FinalizerCleanup)
	})
	if got.Status.DesyncLeftOn != node || got.Status.Phase != backupv1alpha1.PhaseFailed {
		t.Errorf("desyncLeftOn %q (want %s), phase %s", got.Status.DesyncLeftOn, node, got.Status.Phase)
	}
	if v := strings.TrimSpace(sb.RootQuery(t, i, "SELECT @@wsrep_desync", false)); v != "1" {
		t.Fatalf("wsrep_desync on %s = %q while the agent pod runs, want still 1", node, v)
	}

	busy.Status.Phase = corev1.PodFailed
	if err := c.Status().Update(context.Background(), busy); err != nil {
		t.Fatal(err)
	}
	got = waitBackup(t, c, key, "desync repaired", hasCondition(backupv1alpha1.ConditionDesyncCleared, metav1.ConditionTrue, backupv1alpha1.ReasonDesyncRepaired))
	if v := strings.TrimSpace(sb.RootQuery(t, i, "SELECT @@wsrep_desync", false)); v != "0" {
		t.Errorf("wsrep_desync on %s = %q after the repair, want 0", node, v)
	}
	if got.Status.DesyncLeftOn != "" || got.Status.Phase != backupv1alpha1.PhaseFailed {
		t.Errorf("desyncLeftOn %q, phase %s", got.Status.DesyncLeftOn, got.Status.Phase)
	}
	// The finalizer held the (Retain) backup only while the node was to be checked.
	waitBackup(t, c, key, "without its finalizer", func(b *backupv1alpha1.OvercloudBackup) bool { return len(b.Finalizers) == 0 })
	waitEvents(t, c, ns, "killed", "DesyncLeftOn", "DesyncRepaired", "BackupFailed")
}

// TestDeadlineWhileRunning: spec.deadline passes while the attempt's Job runs: the
// controller deletes the Job, fails the backup, and then checks the node.
func TestDeadlineWhileRunning(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	startManager(t, ns)

	b := newBackup(sb, ns, "slow")
	b.Spec.Deadline = &metav1.Duration{Duration: 6 * time.Second}
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	waitBackup(t, c, key, "running attempt 1", running(1))
	got := waitBackup(t, c, key, "failed at the deadline", hasCondition(backupv1alpha1.ConditionFailed, metav1.ConditionTrue, backupv1alpha1.ReasonDeadlineExceeded))
	if !strings.Contains(got.Status.Message, "slow-1 was stopped") {
		t.Errorf("message %q", got.Status.Message)
	}
	j := &batchv1.Job{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "slow-1"}, j); !apierrors.IsNotFound(err) && j.DeletionTimestamp.IsZero() {
		t.Errorf("the Job slow-1 is still there (err %v)", err)
	}
	waitBackup(t, c, key, "desync verified", hasCondition(backupv1alpha1.ConditionDesyncCleared, metav1.ConditionTrue, backupv1alpha1.ReasonDesyncVerified))
	waitEvents(t, c, ns, "slow", "BackupFailed", "DesyncVerified")
}

// TestDeletionPolicies: Retain lets the object go and keeps the data; Delete holds the
// object with a finalizer until a cleanup Job has removed the data, keeps it when the
// cleanup fails (deleting the cleanup Job retries), and stops a running attempt first.
// No kubelet, Job controller or garbage collector runs in envtest: the test finishes the
// Jobs as they would (finishJobMessage) and removes the foreground-deletion finalizer of
// a deleted Job as the garbage collector does once its pods are gone.
func TestDeletionPolicies(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	startManager(t, ns)
	ctx := context.Background()

	t.Run("Retain", func(t *testing.T) {
		b := newBackup(sb, ns, "kept")
		b.Spec.DeletionPolicy = backupv1alpha1.DeletionRetain
		create(t, c, b)
		got := waitBackup(t, c, client.ObjectKeyFromObject(b), "running", running(1))
		if len(got.Finalizers) != 0 {
			t.Errorf("finalizers %v on a Retain backup", got.Finalizers)
		}
		finishJob(t, c, getJob(t, c, ns, "kept-1"), okResult(got, got.Status.SelectedNode), true)
		waitBackup(t, c, client.ObjectKeyFromObject(b), "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
		if err := c.Delete(ctx, got); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, got)
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: got.CleanupJobName()}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
			t.Errorf("a cleanup Job for a Retain backup: %v", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		b := newBackup(sb, ns, "dropped")
		b.Spec.DeletionPolicy = backupv1alpha1.DeletionDelete
		create(t, c, b)
		key := client.ObjectKeyFromObject(b)
		got := waitBackup(t, c, key, "running", running(1))
		if !controllerutil.ContainsFinalizer(got, backupv1alpha1.FinalizerCleanup) {
			t.Fatalf("finalizers %v, want %s", got.Finalizers, backupv1alpha1.FinalizerCleanup)
		}
		finishJob(t, c, getJob(t, c, ns, "dropped-1"), okResult(got, got.Status.SelectedNode), true)
		got = waitBackup(t, c, key, "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
		if err := c.Delete(ctx, got); err != nil {
			t.Fatal(err)
		}
		job := waitJob(t, c, ns, got.CleanupJobName())
		checkCleanupJob(t, job, got)
		waitBackup(t, c, key, "cleanup running", hasCondition(backupv1alpha1.ConditionDataDeleted, metav1.ConditionFalse, backupv1alpha1.ReasonCleanupRunning))

		// The cleanup fails: the data and the object stay, and the status says how to go on.
		refused := `{"bytes":0,"notFound":false,"refused":true,"error":"refused: the manifest names another backup; nothing was removed"}`
		finishJobMessage(t, c, job, &refused, false)
		failed := waitBackup(t, c, key, "cleanup failed", hasCondition(backupv1alpha1.ConditionDataDeleted, metav1.ConditionFalse, backupv1alpha1.ReasonCleanupFailed))
		if m := condition(failed, backupv1alpha1.ConditionDataDeleted).Message; !strings.Contains(m, "nothing was removed") || !strings.Contains(m, "delete the Job to try again") {
			t.Errorf("DataDeleted message %q", m)
		}
		waitEvents(t, c, ns, "dropped", "CleanupRunning", "CleanupFailed")

		// Deleting the failed cleanup Job retries; this time it removes the data.
		if err := c.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Fatal(err)
		}
		job2 := waitJobUID(t, c, ns, got.CleanupJobName(), job.UID)
		removed, _ := json.Marshal(agent.RemoveResult{Removed: []string{ns + "/dropped"}, Bytes: 1536*1024 + 512})
		msg := string(removed)
		finishJobMessage(t, c, job2, &msg, true)
		waitGone(t, c, got)
		waitEvents(t, c, ns, "dropped", "DataDeleted")
		if err := c.Get(ctx, client.ObjectKeyFromObject(job2), &batchv1.Job{}); !apierrors.IsNotFound(err) {
			t.Errorf("the finished cleanup Job is still there: %v", err)
		}
	})

	t.Run("DeleteWhileRunning", func(t *testing.T) {
		b := newBackup(sb, ns, "interrupted")
		b.Spec.DeletionPolicy = backupv1alpha1.DeletionDelete
		create(t, c, b)
		got := waitBackup(t, c, client.ObjectKeyFromObject(b), "running", running(1))
		if err := c.Delete(ctx, got); err != nil {
			t.Fatal(err)
		}
		// The attempt's Job is deleted in the foreground; the garbage collector (absent
		// here) would remove it once its pod is gone.
		attempt := waitJobDeleting(t, c, ns, "interrupted-1")
		attempt.Finalizers = slices.DeleteFunc(attempt.Finalizers, func(f string) bool { return f == metav1.FinalizerDeleteDependents })
		if err := c.Update(ctx, attempt); client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
		job := waitJob(t, c, ns, got.CleanupJobName())
		nothing, _ := json.Marshal(agent.RemoveResult{NotFound: true})
		msg := string(nothing)
		finishJobMessage(t, c, job, &msg, true)
		waitGone(t, c, got)
	})

	t.Run("DeleteNeverStarted", func(t *testing.T) {
		b := newBackup(sb, ns, "never")
		b.Spec.DeletionPolicy = backupv1alpha1.DeletionDelete
		b.Spec.Storage.ClaimName = "no-such-claim"
		create(t, c, b)
		got := waitBackup(t, c, client.ObjectKeyFromObject(b), "waiting for its claim",
			hasCondition(backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, backupv1alpha1.ReasonClaimNotFound))
		if !controllerutil.ContainsFinalizer(got, backupv1alpha1.FinalizerCleanup) {
			t.Fatalf("finalizers %v", got.Finalizers)
		}
		if err := c.Delete(ctx, got); err != nil {
			t.Fatal(err)
		}
		waitGone(t, c, got)
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: got.CleanupJobName()}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
			t.Errorf("a cleanup Job for a backup that never wrote: %v", err)
		}
	})
}

// checkCleanupJob: `agent remove` of exactly this backup, no owner reference (a
// foreground deletion of the backup would take it), no Secret, the agent's locked-down pod.
func checkCleanupJob(t *testing.T, job *batchv1.Job, b *backupv1alpha1.OvercloudBackup) {
	t.Helper()
	if len(job.OwnerReferences) != 0 {
		t.Errorf("cleanup Job owners %v, want none", job.OwnerReferences)
	}
	pod := job.Spec.Template.Spec
	args := strings.Join(pod.Containers[0].Args, " ")
	for _, want := range []string{"agent remove", "--namespace=" + b.Namespace, "--name=" + b.Name, "--uid=" + string(b.UID)} {
		if !strings.Contains(args, want) {
			t.Errorf("cleanup args %q lack %q", args, want)
		}
	}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			t.Errorf("the cleanup Job mounts Secret %s", v.Secret.SecretName)
		}
	}
	sc := pod.Containers[0].SecurityContext
	if sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(pod.AutomountServiceAccountToken, true) {
		t.Errorf("cleanup pod not locked down: %+v", sc)
	}
}

// waitGone waits until the object no longer exists.
func waitGone(t *testing.T, c client.Client, o client.Object) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(o), o)
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still there (err %v, finalizers %v)", o.GetName(), err, o.GetFinalizers())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitJob waits until the Job exists.
func waitJob(t *testing.T, c client.Client, namespace, name string) *batchv1.Job {
	t.Helper()
	return waitJobWhere(t, c, namespace, name, "to exist", func(*batchv1.Job) bool { return true })
}

// waitJobUID waits until a Job of that name other than the one with uid exists.
func waitJobUID(t *testing.T, c client.Client, namespace, name string, old types.UID) *batchv1.Job {
	t.Helper()
	return waitJobWhere(t, c, namespace, name, "to be created again", func(j *batchv1.Job) bool { return j.UID != old })
}

// waitJobDeleting waits until the Job is being deleted.
func waitJobDeleting(t *testing.T, c client.Client, namespace, name string) *batchv1.Job {
	t.Helper()
	return waitJobWhere(t, c, namespace, name, "to be deleted", func(j *batchv1.Job) bool { return !j.DeletionTimestamp.IsZero() })
}

func waitJobWhere(t *testing.T, c client.Client, namespace, name, what string, ok func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		j := &batchv1.Job{}
		err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, j)
		if err == nil && ok(j) {
			return j
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Job %s: waited %v for it %s", name, waitTimeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestActiveNodeKilledBetweenProbeAndDump: attempt 1 is launched on an idle node; then the
// node serving the clients is SIGKILLed and HAProxy moves them to its next server in order.
// Where that is the node attempt 1 chose, the agent's re-check refuses it (internal/agent's
// TestDumpRefusesTheServedNode, against the same HAProxy; no kubelet runs here, so the test
// reports that refusal as the agent's result) and the next attempt's fresh probe must
// avoid both the dead node and the new active one. Where HAProxy chose the other standby,
// attempt 1's node is still idle: the dump goes ahead and the backup succeeds from a node
// that never served clients. Which case happens depends on which node was active when the
// test started; both are the behaviour the design asks for.
func TestActiveNodeKilledBetweenProbeAndDump(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	active := clientSession(t, sb)
	startManager(t, ns)

	b := newBackup(sb, ns, "failover")
	b.Spec.Job = &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(2))}
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "running attempt 1", running(1))
	first := got.Status.SelectedNode
	if first == active {
		t.Fatalf("attempt 1 chose %s, the active node", first)
	}

	ai := nodeIndex(t, sb, active)
	t.Cleanup(func() {
		sb.Run(t, "cleanup")
		sb.Run(t, "start", ai)
		sb.WaitHealthy(t)
	})
	// A client reconnects through the VIP (retrying until HAProxy has marked the dead
	// node down): HAProxy now serves it from a standby.
	now := sb.KillServing(t, active)
	sb.ClientSession(t) // held: the stick entry names where the clients are
	if now != first {
		finishJob(t, c, getJob(t, c, ns, "failover-1"), okResult(got, first), true)
		got = waitBackup(t, c, key, "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
		if got.Status.SelectedNode != first || got.Status.Attempts != 1 {
			t.Errorf("selected %s after %d attempts, want %s after 1", got.Status.SelectedNode, got.Status.Attempts, first)
		}
		t.Logf("attempt 1 on %s, %s killed, clients moved to %s: attempt 1's node stayed idle and its dump went ahead", first, active, now)
		return
	}
	refused := &agent.Result{Node: first, Error: "re-check: " + first + " now serves clients through HAProxy (proxy mysql); no data written"}
	finishJob(t, c, getJob(t, c, ns, "failover-1"), refused, false)

	got = waitBackup(t, c, key, "running attempt 2", running(2))
	second := got.Status.SelectedNode
	if second == active || second == now {
		t.Errorf("attempt 2 chose %s (dead: %s, now active: %s)", second, active, now)
	}
	if got.Status.ActiveNode != now {
		t.Errorf("status.activeNode %q after the failover, want %s", got.Status.ActiveNode, now)
	}
	for _, n := range got.Status.Nodes {
		if n.Name == active && n.Eligible {
			t.Errorf("the killed node is eligible: %+v", n)
		}
	}
	t.Logf("attempt 1 on %s, %s killed, clients moved to %s, attempt 2 on %s", first, active, now, second)
}
