package controllers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// Field indexes on OvercloudBackups, so that an Overcloud, a claim or another backup of
// the same overcloud finds the backups it concerns without a scan (registerIndexes).
const (
	indexClaim     = "spec.storage.claimName"
	indexOvercloud = "spec.overcloudRef.name"
)

// Defaults of the reconciler.
const (
	defaultMinProbeBackoff = 5 * time.Second
	defaultMaxProbeBackoff = 2 * time.Minute
	// foreignJobRetry is how often a backup blocked by a Job it does not own looks again:
	// such a Job carries none of our labels, so no watch tells when it goes.
	foreignJobRetry = 30 * time.Second
	eventAction     = "Reconcile"
)

// Prober reaches the overcloud for the controller: it probes and decides which node a
// backup may be taken from, and turns wsrep_desync OFF on a node a killed agent left
// desynced. The live one is internal/probe + internal/selection; it must return within
// the overcloud's own timeouts, as it runs on a reconcile worker.
type Prober interface {
	Probe(ctx context.Context, name string, oc *backupv1alpha1.OvercloudSpec, ns *backupv1alpha1.NodeSelectionSpec,
		c probe.Credentials) (probe.Report, error)
	ResetDesync(ctx context.Context, oc *backupv1alpha1.OvercloudSpec, node string, c probe.Credentials) (wasOn bool, err error)
}

// OvercloudBackupReconciler runs one backup: it checks the references, waits its turn
// among the backups of the overcloud, probes, chooses an idle node, starts the Job of the
// attempt and follows it to the end, and explains every step in status.
type OvercloudBackupReconciler struct {
	client.Client
	// APIReader reads what is not cached: Secrets (only their metadata is watched, their
	// data never sits in the cache) and a Job or Pod the cache may not show yet.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// AgentImage is the backup agent's image when spec.job.image is empty.
	AgentImage string
	// Prober is the live probe when nil.
	Prober Prober
	// Now is time.Now when nil.
	Now func() time.Time
	// MinProbeBackoff and MaxProbeBackoff bound the wait between two probes of a backup
	// that found no idle node (5s and 2m when zero).
	MinProbeBackoff, MaxProbeBackoff time.Duration
	// MaxConcurrentReconciles lets a slow probe of one overcloud not hold up the others
	// (1 when zero). The queue order keeps two backups of one overcloud apart whatever
	// the concurrency.
	MaxConcurrentReconciles int
}

// CacheByObject restricts the manager's cache of Jobs and Pods to the operator's own,
// so its memory does not grow with unrelated workloads.
func CacheByObject() map[client.Object]cache.ByObject {
	ours := labels.SelectorFromSet(labels.Set{labelManagedBy: managedBy})
	return map[client.Object]cache.ByObject{
		&batchv1.Job{}: {Label: ours},
		&corev1.Pod{}:  {Label: ours},
	}
}

// UncachedObjects are never cached by the manager's client: Secrets are read from the API
// server when needed and watched by metadata only.
func UncachedObjects() []client.Object {
	return []client.Object{&corev1.Secret{}}
}

// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile gathers what the backup depends on, decides its next step with the pure
// functions of overcloudbackup_status.go, acts (at most one Job created), and writes the
// status in one merge patch at the end of the pass, skipped when nothing changed.
func (r *OvercloudBackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, req)
	return passResult(ctx, res, err)
}

func (r *OvercloudBackupReconciler) reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	b := &backupv1alpha1.OvercloudBackup{}
	if err := r.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	deleting := !b.DeletionTimestamp.IsZero()
	if deleting && !controllerutil.ContainsFinalizer(b, backupv1alpha1.FinalizerCleanup) {
		return ctrl.Result{}, nil
	}
	if !deleting {
		if err := r.syncFinalizer(ctx, b); err != nil {
			return ctrl.Result{}, err
		}
	}
	// A finished backup is a record: it is never run again; what may remain is checking
	// a node a failed attempt left desynced.
	if !deleting && b.IsFinished() && b.Status.DesyncLeftOn == "" {
		return ctrl.Result{}, nil
	}
	oc, err := r.overcloud(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}
	p := &pass{r: r, b: b, oc: oc, orig: b.DeepCopy(), now: r.now(), fx: newSideEffects(r.Recorder, b)}
	release := false
	defer func() {
		if err := p.patchStatus(ctx, retErr == nil); err != nil {
			retErr = errors.Join(retErr, err)
		} else if release && retErr == nil {
			// The finalizer goes last: after it, the object may be gone.
			retErr = r.releaseFinalizer(ctx, b)
		}
	}()
	if deleting {
		res, release, retErr = p.finalize(ctx)
		if errors.Is(retErr, errStale) {
			p.skipPatch = true
			return ctrl.Result{}, nil
		}
		return res, retErr
	}
	var repairRes ctrl.Result
	if b.Status.DesyncLeftOn != "" {
		res, _, err := p.repair(ctx)
		if err != nil || b.IsFinished() {
			return res, err
		}
		repairRes = res
	}
	res, retErr = p.run(ctx)
	return earlier(res, repairRes), retErr
}

// earlier is the result that comes back sooner (zero RequeueAfter means never).
func earlier(a, b ctrl.Result) ctrl.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter != 0 && b.RequeueAfter < a.RequeueAfter) {
		a.RequeueAfter = b.RequeueAfter
	}
	return a
}

// pass is one reconcile of one backup.
type pass struct {
	r *OvercloudBackupReconciler
	b *backupv1alpha1.OvercloudBackup
	// oc is the Overcloud the backup names, nil when it does not exist.
	oc   *backupv1alpha1.Overcloud
	orig *backupv1alpha1.OvercloudBackup
	now  time.Time
	// fx tells actions at once and transitions once the status is written.
	fx *sideEffects
	// skipPatch is set when the pass found its backup stale: nothing to write.
	skipPatch bool
}

func (p *pass) patchStatus(ctx context.Context, ok bool) error {
	if p.skipPatch {
		return nil
	}
	b := p.b
	if meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionReady) == nil {
		markProgress(b, "Starting")
	}
	b.Status.Phase = phaseOf(b.Status.Conditions)
	if ok {
		b.Status.ObservedGeneration = b.Generation
	}
	// A stale backup read from the cache (its Job seen before its last status) gets a
	// conflict, and the retry reads the fresh object.
	return p.fx.writeStatus(ctx, p.r.Client, b, p.orig, !equality.Semantic.DeepEqual(p.orig.Status, b.Status))
}

// event is a transition's: emitted once the status that records it is written.
func (p *pass) event(warning bool, reason, note string) { p.fx.transitionEvent(warning, reason, note) }

func (p *pass) run(ctx context.Context) (ctrl.Result, error) {
	b := p.b
	jobs, err := p.r.ownedJobs(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}
	attempt := b.Status.Attempts
	var cur *batchv1.Job
	for i := range jobs {
		if n := attemptOf(b, &jobs[i]); n >= attempt {
			attempt, cur = n, &jobs[i]
		}
	}
	if len(jobs) > 0 && b.Status.StartTime == nil {
		b.Status.StartTime = startTimeOf(&jobs[0])
	}
	if attempt > 0 && cur == nil {
		// The status names an attempt whose Job the cache does not show: it may have
		// been created a moment ago, so ask the API server before calling it lost.
		if cur, err = p.r.liveJob(ctx, b, attempt); err != nil {
			return ctrl.Result{}, err
		}
		if cur == nil {
			if res, done := p.attemptFailed(attempt, fmt.Sprintf("its Job %s was deleted before it finished", b.JobName(attempt)), nil); done {
				return res, nil
			}
			return p.startAttempt(ctx, attempt+1)
		}
	}
	if cur != nil {
		b.Status.JobName, b.Status.Attempts = cur.Name, attempt
		if node := cur.Annotations[annotationNode]; node != "" {
			b.Status.SelectedNode = node
		}
		if res, done := p.follow(ctx, cur, attempt); done {
			return res, nil
		}
	}
	return p.startAttempt(ctx, attempt+1)
}

// follow updates the status from the attempt's Job. done is true when the pass ends here
// (the Job runs, or the backup reached its end); false after a failed attempt that may
// be retried.
func (p *pass) follow(ctx context.Context, job *batchv1.Job, attempt int32) (ctrl.Result, bool) {
	b := p.b
	finished, succeeded, why := jobOutcome(job)
	of := b.MaxAttempts()
	if !finished {
		reason, verb := backupv1alpha1.ReasonJobCreated, "created"
		if job.Status.Active > 0 || job.Status.StartTime != nil {
			reason, verb = backupv1alpha1.ReasonJobRunning, "running"
		}
		deadline := b.DeadlineTime()
		if !p.now.Before(deadline) {
			return p.stopAtDeadline(ctx, job, deadline), true
		}
		msg := fmt.Sprintf("Job %s (attempt %d of %d) %s: backing up from %s", job.Name, attempt, of, verb, b.Status.SelectedNode)
		setCondition(b, backupv1alpha1.ConditionJobRunning, metav1.ConditionTrue, reason, msg)
		b.Status.NextProbeTime = nil
		markProgress(b, msg)
		// The Job's own events (Owns) bring the next pass; its activeDeadlineSeconds
		// bounds the attempt, and spec.deadline the whole backup.
		return ctrl.Result{RequeueAfter: deadline.Sub(p.now)}, true
	}
	res, found, err := p.r.agentResult(ctx, job)
	if err != nil {
		// The pass is retried: an error here is the API server's, not the attempt's.
		logf.FromContext(ctx).Error(err, "Reading the agent's result", "job", job.Name)
		return ctrl.Result{RequeueAfter: time.Second}, true
	}
	if succeeded && found && res.Error == "" {
		art := artifactOf(b, res)
		msg := fmt.Sprintf("Backup complete: %d files, %s on claim %s at %s, from %s",
			len(res.Files), art.Size, art.ClaimName, art.Path, b.Status.SelectedNode)
		markSucceeded(b, p.now, art, msg)
		p.noteDesync(&res, attempt)
		ns, oc, size, at := b.Namespace, b.Spec.OvercloudRef.Name, res.TotalBytes, p.now
		dur := durationOf(b)
		p.fx.transition(func() { recordFinished(ns, oc, true, dur, size, at) })
		p.event(false, "BackupSucceeded", msg)
		return ctrl.Result{}, true
	}
	var cause string
	switch {
	case found && res.Error != "":
		cause = "the agent failed: " + res.Error
	case succeeded:
		cause = "its Job completed but its pod left no readable result (the pod is gone, or the agent wrote no termination message)"
	case found:
		cause = "its Job failed (" + why + ") without an error from the agent"
	default:
		cause = "its Job failed (" + why + ") and its pod left no result (killed, or the pod is gone)"
	}
	var reported *agent.Result
	if found {
		reported = &res
	}
	return p.attemptFailed(attempt, cause, reported)
}

// attemptFailed records a failed attempt: the backup fails for good when the attempts
// are used up, else the next attempt follows (a new probe, a new Job).
func (p *pass) attemptFailed(attempt int32, cause string, res *agent.Result) (ctrl.Result, bool) {
	b := p.b
	of := b.MaxAttempts()
	p.noteDesync(res, attempt)
	msg := fmt.Sprintf("Attempt %d of %d failed: %s", attempt, of, cause)
	if attempt >= of {
		markFailed(b, p.now, backupv1alpha1.ReasonAttemptsExhausted, msg)
		p.finishedFailed()
		p.event(true, "BackupFailed", msg)
		return ctrl.Result{}, true
	}
	wasRunning := meta.IsStatusConditionTrue(p.orig.Status.Conditions, backupv1alpha1.ConditionJobRunning)
	setCondition(b, backupv1alpha1.ConditionJobRunning, metav1.ConditionFalse, backupv1alpha1.ReasonJobFailed, msg)
	markProgress(b, msg+"; probing again for attempt "+fmt.Sprint(attempt+1))
	if wasRunning {
		p.event(true, backupv1alpha1.ReasonJobFailed, msg)
	}
	return ctrl.Result{}, false
}

// noteDesync records an attempt that may have left wsrep_desync=ON on its node, which the
// controller then checks and repairs (repair). Meanwhile the next probe sees the node
// desynced and does not choose it. res is nil when the agent left no result.
func (p *pass) noteDesync(res *agent.Result, attempt int32) {
	b := p.b
	if !b.Spec.Dump.DesyncsNode() {
		return
	}
	if res != nil && (!res.DesyncSet || res.DesyncReset) {
		return
	}
	node := b.Status.SelectedNode
	if res != nil {
		node = cmp.Or(res.Node, node)
	}
	p.markDesyncLeftOn(node, fmt.Sprintf("Attempt %d (its agent did not report turning wsrep_desync OFF)", attempt))
}

// stopAtDeadline fails a backup whose spec.deadline passed while its Job runs: the Job
// is deleted (its pod gets SIGTERM: the agent turns wsrep_desync OFF and leaves no
// partial directory), and the node is checked once the pod is gone.
func (p *pass) stopAtDeadline(ctx context.Context, job *batchv1.Job, deadline time.Time) ctrl.Result {
	b := p.b
	if err := p.r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		logf.FromContext(ctx).Error(err, "Deleting the Job at the deadline", "job", job.Name)
		return ctrl.Result{RequeueAfter: time.Second}
	}
	msg := fmt.Sprintf("The backup did not finish within its deadline (%s after creation): Job %s was stopped",
		deadline.Sub(b.CreationTimestamp.Time), job.Name)
	markFailed(b, p.now, backupv1alpha1.ReasonDeadlineExceeded, msg)
	if b.Spec.Dump.DesyncsNode() {
		p.markDesyncLeftOn(cmp.Or(job.Annotations[annotationNode], b.Status.SelectedNode),
			fmt.Sprintf("Job %s, stopped at the deadline,", job.Name))
	}
	p.finishedFailed()
	p.event(true, "BackupFailed", msg)
	return ctrl.Result{RequeueAfter: agentPodWait}
}

// finishedFailed counts a backup that failed for good.
func (p *pass) finishedFailed() {
	ns, oc, at := p.b.Namespace, p.b.Spec.OvercloudRef.Name, p.now
	dur := durationOf(p.b)
	reason := "Unknown"
	if c := meta.FindStatusCondition(p.b.Status.Conditions, backupv1alpha1.ConditionFailed); c != nil {
		reason = c.Reason
	}
	p.fx.transition(func() {
		recordFinished(ns, oc, false, dur, 0, at)
		backupFailures.WithLabelValues(ns, oc, reason).Inc()
	})
}

// startAttempt takes the backup from "no Job running" to the Job of attempt n: deadline,
// references, queue, probe, launch. Each step that cannot go on says why and waits.
func (p *pass) startAttempt(ctx context.Context, n int32) (ctrl.Result, error) {
	b := p.b
	deadline := b.DeadlineTime()
	if !p.now.Before(deadline) {
		reason := backupv1alpha1.ReasonDeadlineExceeded
		msg := fmt.Sprintf("The backup did not finish within its deadline (%s after creation)", deadline.Sub(b.CreationTimestamp.Time))
		if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionNodeSelected); c != nil &&
			c.Status == metav1.ConditionFalse && c.Reason == backupv1alpha1.ReasonNoIdleNode {
			reason = backupv1alpha1.ReasonNoIdleNode
			msg += ": no idle node was found (" + c.Message + ")"
		}
		markFailed(b, p.now, reason, msg)
		p.finishedFailed()
		p.event(true, "BackupFailed", msg)
		return ctrl.Result{}, nil
	}
	untilDeadline := ctrl.Result{RequeueAfter: deadline.Sub(p.now)}

	creds, problem, err := p.r.references(ctx, b, p.oc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if problem != nil {
		setCondition(b, backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, problem.reason, problem.message)
		markProgress(b, "Waiting for references: "+problem.message)
		b.Status.NextProbeTime = nil
		// Creating or fixing the Overcloud, a Secret or the claim re-queues the backup
		// (watched through the field indexes); the requeue is only for the deadline.
		return untilDeadline, nil
	}
	setCondition(b, backupv1alpha1.ConditionReferencesResolved, metav1.ConditionTrue, backupv1alpha1.ReasonResolved,
		fmt.Sprintf("Overcloud %s, its Secrets and the claim %s are present", p.oc.Name, b.Spec.Storage.ClaimName))
	oc := &p.oc.Spec

	blocker, err := p.r.queueBlocker(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}
	if blocker != "" {
		msg := fmt.Sprintf("Queued: backup %s of overcloud %s goes first (one backup per overcloud at a time)", blocker, b.Spec.OvercloudRef.Name)
		setCondition(b, backupv1alpha1.ConditionNodeSelected, metav1.ConditionFalse, backupv1alpha1.ReasonQueued, msg)
		markProgress(b, msg)
		b.Status.NextProbeTime = nil
		// The other backup's changes re-queue this one (watch on backups of the overcloud).
		return untilDeadline, nil
	}

	// Spec errors the Job builder finds are known before probing: a TLS backup cannot
	// run (fails for good); a missing image waits for the manager's --agent-image.
	if _, err := BuildJob(b, JobParams{Overcloud: oc, Attempt: n, Node: oc.Nodes[0].Name, Image: p.r.AgentImage}); err != nil {
		msg := "The backup Job cannot be built: " + err.Error()
		if errors.Is(err, ErrAgentTLS) {
			markFailed(b, p.now, backupv1alpha1.ReasonInvalidSpec, msg)
			p.finishedFailed()
			p.event(true, "BackupFailed", msg)
			return ctrl.Result{}, nil
		}
		setCondition(b, backupv1alpha1.ConditionNodeSelected, metav1.ConditionFalse, backupv1alpha1.ReasonInvalidSpec, msg)
		markProgress(b, msg)
		return untilDeadline, nil
	}

	report, err := p.r.prober().Probe(ctx, p.oc.Name, oc, b.Spec.NodeSelection, creds)
	if err != nil {
		// The Secrets hold something the probe cannot use (a malformed key, a CA
		// without certificates): fixing the Secret re-queues the backup.
		msg := "The probe cannot be configured from the Secrets: " + err.Error()
		setCondition(b, backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, backupv1alpha1.ReasonInvalidSpec, msg)
		markProgress(b, msg)
		// A spec problem: recorded in status, the backup waits for a Secret change.
		return untilDeadline, nil
	}
	b.Status.Nodes, b.Status.ActiveNode, b.Status.VIPNode = report.Nodes, report.ActiveNode, report.VIPNode
	if report.SelectedNode == "" {
		return p.noIdleNode(report, deadline), nil
	}
	b.Status.SelectedNode = report.SelectedNode
	b.Status.NextProbeTime = nil
	setCondition(b, backupv1alpha1.ConditionNodeSelected, metav1.ConditionTrue, backupv1alpha1.ReasonNodeSelected, report.Reason)
	// One backup Job per Galera cluster at a time, whatever objects name it: the check
	// and the create hold the cluster's lock.
	unlock := p.r.lockCluster(report.ClusterStateUUID)
	defer unlock()
	if other, err := p.r.clusterBusy(ctx, b, report.ClusterStateUUID); err != nil || other != "" {
		if err != nil {
			return ctrl.Result{}, err
		}
		msg := fmt.Sprintf("Queued: backup %s runs on the same Galera cluster (%s); one backup per cluster at a time",
			other, report.ClusterStateUUID)
		setCondition(b, backupv1alpha1.ConditionNodeSelected, metav1.ConditionFalse, backupv1alpha1.ReasonQueued, msg)
		markProgress(b, msg)
		// Its Job's end re-queues this backup (agent Jobs map to the backups of their cluster).
		return ctrl.Result{RequeueAfter: min(deadline.Sub(p.now), foreignJobRetry)}, nil
	}
	return p.launch(ctx, n, report)
}

// noIdleNode records a probe that found no node to use, and when it probes again.
func (p *pass) noIdleNode(report probe.Report, deadline time.Time) ctrl.Result {
	b := p.b
	reason := backupv1alpha1.ReasonNoIdleNode
	reachable := 0
	for _, n := range report.Nodes {
		if n.Galera != nil && n.Galera.Reachable {
			reachable++
		}
	}
	if reachable == 0 {
		reason = backupv1alpha1.ReasonProbeFailed
	}
	since := p.now
	if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionNodeSelected); c != nil &&
		c.Status == metav1.ConditionFalse && (c.Reason == backupv1alpha1.ReasonNoIdleNode || c.Reason == backupv1alpha1.ReasonProbeFailed) {
		since = c.LastTransitionTime.Time
	}
	wait := probeBackoff(since, p.now, deadline, p.r.minBackoff(), p.r.maxBackoff())
	next := p.now.Add(wait)
	b.Status.SelectedNode = ""
	b.Status.NextProbeTime = &metav1.Time{Time: next.UTC().Truncate(time.Second)}
	wasWaiting := meta.IsStatusConditionFalse(p.orig.Status.Conditions, backupv1alpha1.ConditionNodeSelected) &&
		meta.FindStatusCondition(p.orig.Status.Conditions, backupv1alpha1.ConditionNodeSelected).Reason == reason
	setCondition(b, backupv1alpha1.ConditionNodeSelected, metav1.ConditionFalse, reason, report.Reason)
	msg := fmt.Sprintf("No idle node: %s; probing again at %s (waiting until the deadline %s)",
		report.Reason, next.UTC().Format(time.RFC3339), deadline.UTC().Format(time.RFC3339))
	markProgress(b, msg)
	if !wasWaiting {
		p.event(true, reason, msg)
	}
	// At the deadline the next pass fails the backup with NoIdleNode.
	return ctrl.Result{RequeueAfter: max(wait, time.Millisecond)}
}

// launch creates (or adopts) the Job of attempt n on the selected node.
func (p *pass) launch(ctx context.Context, n int32, report probe.Report) (ctrl.Result, error) {
	b := p.b
	want, err := BuildJob(b, JobParams{Overcloud: &p.oc.Spec, Cluster: report.ClusterStateUUID, Attempt: n,
		Node: report.SelectedNode, Image: p.r.AgentImage})
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("building the Job: %w", err)
	}
	job, created, err := p.r.ensureJob(ctx, b, want)
	if errors.Is(err, errNotOurs) {
		msg := err.Error()
		setCondition(b, backupv1alpha1.ConditionJobRunning, metav1.ConditionFalse, backupv1alpha1.ReasonJobNotOwned, msg)
		markProgress(b, msg)
		return ctrl.Result{RequeueAfter: foreignJobRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	node := cmp.Or(job.Annotations[annotationNode], report.SelectedNode)
	b.Status.JobName, b.Status.Attempts, b.Status.SelectedNode = job.Name, n, node
	b.Status.Source = sourceOf(p.oc, node, report.ClusterStateUUID)
	if b.Status.StartTime == nil {
		b.Status.StartTime = startTimeOf(job)
	}
	msg := fmt.Sprintf("Job %s (attempt %d of %d) created: backing up from %s", job.Name, n, b.MaxAttempts(), node)
	setCondition(b, backupv1alpha1.ConditionJobRunning, metav1.ConditionTrue, backupv1alpha1.ReasonJobCreated, msg)
	markProgress(b, msg)
	if created {
		logf.FromContext(ctx).Info("Created the backup Job", "job", job.Name, "attempt", n, "node", node)
		ns, oc := b.Namespace, b.Spec.OvercloudRef.Name
		// The Job is created: told now, since a pass retried after a failed patch finds it
		// and does not create it again.
		p.fx.action(func() { nodeSelections.WithLabelValues(ns, oc, node).Inc() })
		p.fx.actionEvent(backupv1alpha1.ReasonNodeSelected, report.Reason)
		p.fx.actionEvent(backupv1alpha1.ReasonJobCreated, msg)
	}
	return ctrl.Result{}, nil
}

// errNotOurs is returned when a Job with the attempt's name exists and belongs to
// something else.
var errNotOurs = errors.New("not owned by this backup")

// ensureJob gets the Job before creating it, and adopts only a Job this backup controls:
// the deterministic name is the lock, so a restarted controller never runs an attempt
// twice.
func (r *OvercloudBackupReconciler) ensureJob(
	ctx context.Context, b *backupv1alpha1.OvercloudBackup, want *batchv1.Job,
) (*batchv1.Job, bool, error) {
	key := client.ObjectKeyFromObject(want)
	got := &batchv1.Job{}
	err := r.Get(ctx, key, got)
	if apierrors.IsNotFound(err) {
		err = r.Create(ctx, want)
		if err == nil {
			return want, true, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("creating Job %s: %w", key.Name, err)
		}
		// Created meanwhile (by us before a restart, or by someone else): the cache
		// may not show it yet, or not at all if it lacks our labels.
		err = r.APIReader.Get(ctx, key, got)
	}
	if err != nil {
		return nil, false, fmt.Errorf("getting Job %s: %w", key.Name, err)
	}
	if !metav1.IsControlledBy(got, b) {
		return nil, false, fmt.Errorf("a Job named %s exists but is %w %s; delete it or it blocks this backup", key.Name, errNotOurs, b.Name)
	}
	return got, false, nil
}

// ownedJobs are the backup's Jobs, by the backup label, keeping only those it controls;
// sorted by attempt.
func (r *OvercloudBackupReconciler) ownedJobs(ctx context.Context, b *backupv1alpha1.OvercloudBackup) ([]batchv1.Job, error) {
	list := &batchv1.JobList{}
	if err := r.List(ctx, list, client.InNamespace(b.Namespace), client.MatchingLabels{backupv1alpha1.LabelBackup: b.Name}); err != nil {
		return nil, fmt.Errorf("listing the backup's Jobs: %w", err)
	}
	jobs := slices.DeleteFunc(list.Items, func(j batchv1.Job) bool { return !metav1.IsControlledBy(&j, b) || attemptOf(b, &j) == 0 })
	slices.SortFunc(jobs, func(x, y batchv1.Job) int { return cmp.Compare(attemptOf(b, &x), attemptOf(b, &y)) })
	return jobs, nil
}

// liveJob reads the attempt's Job from the API server; nil when it does not exist or is
// not ours.
func (r *OvercloudBackupReconciler) liveJob(ctx context.Context, b *backupv1alpha1.OvercloudBackup, attempt int32) (*batchv1.Job, error) {
	j := &batchv1.Job{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.JobName(attempt)}, j)
	if apierrors.IsNotFound(err) || (err == nil && !metav1.IsControlledBy(j, b)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting Job %s: %w", b.JobName(attempt), err)
	}
	return j, nil
}

// agentResult reads the agent's termination message from the Job's pod: from the cache,
// else from the API server (the pod's last update may not have reached the cache when the
// Job's did). found is false when no pod holds one.
func (r *OvercloudBackupReconciler) agentResult(ctx context.Context, job *batchv1.Job) (agent.Result, bool, error) {
	for _, reader := range []client.Reader{r.Client, r.APIReader} {
		pods := &corev1.PodList{}
		if err := reader.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
			return agent.Result{}, false, fmt.Errorf("listing the pods of Job %s: %w", job.Name, err)
		}
		if res, ok := resultOf(pods.Items, job); ok {
			return res, true, nil
		}
	}
	return agent.Result{}, false, nil
}

// terminationMessage is the newest termination message of the agent container among the
// Job's pods, read from the API server (a cleanup Job is followed rarely: no cache).
func (r *OvercloudBackupReconciler) terminationMessage(ctx context.Context, job *batchv1.Job) (string, bool, error) {
	pods := &corev1.PodList{}
	err := r.APIReader.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name})
	if err != nil {
		return "", false, fmt.Errorf("listing the pods of Job %s: %w", job.Name, err)
	}
	t := newestTermination(pods.Items, job)
	if t == nil {
		return "", false, nil
	}
	return t.Message, true, nil
}

// resultOf is the agent's result from the newest pod of the Job that terminated with a
// message. A message that is not the agent's JSON (the log tail Kubernetes substitutes
// when the agent crashed before writing it) becomes the result's error.
func resultOf(pods []corev1.Pod, job *batchv1.Job) (agent.Result, bool) {
	newest := newestTermination(pods, job)
	if newest == nil {
		return agent.Result{}, false
	}
	var res agent.Result
	if err := json.Unmarshal([]byte(newest.Message), &res); err != nil {
		return agent.Result{Error: fmt.Sprintf("exit code %d, output: %s", newest.ExitCode, clip(strings.TrimSpace(newest.Message), 1024))}, true
	}
	return res, true
}

// newestTermination is the agent container's newest terminated state with a message
// among the Job's pods, nil when none.
func newestTermination(pods []corev1.Pod, job *batchv1.Job) *corev1.ContainerStateTerminated {
	var newest *corev1.ContainerStateTerminated
	var at metav1.Time
	for i := range pods {
		if !metav1.IsControlledBy(&pods[i], job) {
			continue
		}
		for _, cs := range pods[i].Status.ContainerStatuses {
			t := cs.State.Terminated
			if cs.Name != agentContainer || t == nil || strings.TrimSpace(t.Message) == "" {
				continue
			}
			if newest == nil || at.Before(&t.FinishedAt) {
				newest, at = t, t.FinishedAt
			}
		}
	}
	return newest
}

// references reads the Secrets (from the API server: their data is never cached) and the
// claim, and turns them into the probe's credentials or the first problem found.
func (r *OvercloudBackupReconciler) references(
	ctx context.Context, b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.Overcloud,
) (probe.Credentials, *refProblem, error) {
	if oc == nil {
		return probe.Credentials{}, &refProblem{backupv1alpha1.ReasonOvercloudNotFound, fmt.Sprintf(
			"Overcloud %s not found in namespace %s: create it (the backup starts when it appears)", b.Spec.OvercloudRef.Name, b.Namespace)}, nil
	}
	if problem := overcloudMismatch(b, &oc.Spec); problem != nil {
		return probe.Credentials{}, problem, nil
	}
	creds, problem, err := readCredentials(ctx, r.APIReader, b.Namespace, &oc.Spec)
	if err != nil || problem != nil {
		return creds, problem, err
	}
	pvc := &corev1.PersistentVolumeClaim{}
	err = r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Storage.ClaimName}, pvc)
	if apierrors.IsNotFound(err) {
		return creds, claimProblem(b.Namespace, b.Spec.Storage.ClaimName, nil, nil), nil
	}
	if err != nil {
		return creds, nil, fmt.Errorf("getting PersistentVolumeClaim %s: %w", b.Spec.Storage.ClaimName, err)
	}
	var sc *storagev1.StorageClass
	if pvc.Status.Phase == corev1.ClaimPending && pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		sc = &storagev1.StorageClass{}
		if err := r.Get(ctx, types.NamespacedName{Name: *pvc.Spec.StorageClassName}, sc); apierrors.IsNotFound(err) {
			sc = nil
		} else if err != nil {
			return creds, nil, fmt.Errorf("getting StorageClass %s: %w", *pvc.Spec.StorageClassName, err)
		}
	}
	return creds, claimProblem(b.Namespace, b.Spec.Storage.ClaimName, pvc, sc), nil
}

// claimProblem says why the claim cannot take the backup, nil when it can: it must exist
// and be Bound, or Pending on a StorageClass that binds at the first consumer.
func claimProblem(namespace, name string, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass) *refProblem {
	switch {
	case pvc == nil:
		return &refProblem{backupv1alpha1.ReasonClaimNotFound,
			fmt.Sprintf("PersistentVolumeClaim %s not found in namespace %s: create it (the backup is written to it)", name, namespace)}
	case !pvc.DeletionTimestamp.IsZero():
		return &refProblem{backupv1alpha1.ReasonClaimNotBound, fmt.Sprintf("PersistentVolumeClaim %s is being deleted", name)}
	case pvc.Status.Phase == corev1.ClaimBound:
		return nil
	case pvc.Status.Phase == corev1.ClaimPending && sc != nil && sc.VolumeBindingMode != nil &&
		*sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer:
		return nil
	}
	phase := cmp.Or(string(pvc.Status.Phase), "without a phase")
	class := "no StorageClass"
	if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		class = "StorageClass " + *pvc.Spec.StorageClassName
		if sc == nil && pvc.Status.Phase == corev1.ClaimPending {
			class += " (not found)"
		}
	}
	return &refProblem{backupv1alpha1.ReasonClaimNotBound,
		fmt.Sprintf("PersistentVolumeClaim %s is %s: it must be Bound, or Pending on a StorageClass "+
			"with volumeBindingMode WaitForFirstConsumer (it has %s)", name, phase, class)}
}

// queueBlocker is the backup of the same overcloud this one waits for, "" for none.
func (r *OvercloudBackupReconciler) queueBlocker(ctx context.Context, b *backupv1alpha1.OvercloudBackup) (string, error) {
	// The namespace's backups, filtered by queueBlocker: no field selector, so that the
	// reconciler also works with a client that reads the API server directly.
	backups := &backupv1alpha1.OvercloudBackupList{}
	if err := r.List(ctx, backups, client.InNamespace(b.Namespace)); err != nil {
		return "", fmt.Errorf("listing the backups of overcloud %s: %w", b.Spec.OvercloudRef.Name, err)
	}
	jobs := &batchv1.JobList{}
	if err := r.List(ctx, jobs, client.InNamespace(b.Namespace),
		client.MatchingLabels{backupv1alpha1.LabelOvercloud: b.Spec.OvercloudRef.Name}); err != nil {
		return "", fmt.Errorf("listing the Jobs of overcloud %s: %w", b.Spec.OvercloudRef.Name, err)
	}
	return queueBlocker(b, backups.Items, jobs.Items), nil
}

func (r *OvercloudBackupReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *OvercloudBackupReconciler) prober() Prober {
	if r.Prober != nil {
		return r.Prober
	}
	return LiveProber{}
}

func (r *OvercloudBackupReconciler) minBackoff() time.Duration {
	return cmp.Or(r.MinProbeBackoff, defaultMinProbeBackoff)
}

func (r *OvercloudBackupReconciler) maxBackoff() time.Duration {
	return max(cmp.Or(r.MaxProbeBackoff, defaultMaxProbeBackoff), r.minBackoff())
}

// SetupWithManager registers the controller, its field indexes and its watches: the
// backups, their Jobs (Owns), the Secrets (metadata only) and claims they name, and the
// other backups of the same overcloud (a finished one lets the next in the queue go).
func (r *OvercloudBackupReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := registerIndexes(ctx, mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&backupv1alpha1.OvercloudBackup{}).
		Owns(&batchv1.Job{}).
		// Cleanup Jobs have no owner reference (BuildCleanupJob says why), and an agent Job
		// may outlive its backup (an orphaning delete) yet hold the overcloud's queue:
		// both are mapped by label.
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(r.jobEvents)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretEvents)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.waitingOn(indexClaim))).
		Watches(&backupv1alpha1.Overcloud{}, handler.EnqueueRequestsFromMapFunc(r.waitingOn(indexOvercloud))).
		Watches(&backupv1alpha1.OvercloudBackup{}, handler.EnqueueRequestsFromMapFunc(r.sameOvercloud)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("overcloudbackup").
		Complete(r)
}

// jobEvents maps one of our Jobs to the backups it concerns: a cleanup Job to the backup
// it cleans up after; an agent Job to the unfinished backups of its overcloud, which may
// be queued behind it.
func (r *OvercloudBackupReconciler) jobEvents(ctx context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	if l[labelManagedBy] != managedBy {
		return nil
	}
	switch l[labelComponent] {
	case cleanupComponent:
		if l[backupv1alpha1.LabelBackup] != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: l[backupv1alpha1.LabelBackup]}}}
		}
	case agentComponent:
		var reqs []reconcile.Request
		if oc := l[backupv1alpha1.LabelOvercloud]; oc != "" {
			reqs = r.unfinished(ctx, o.GetNamespace(), indexOvercloud, oc, l[backupv1alpha1.LabelBackup])
		}
		if l[backupv1alpha1.LabelCluster] != "" {
			// Backups of other namespaces may wait for the same Galera cluster.
			reqs = append(reqs, r.queued(ctx)...)
		}
		return reqs
	}
	return nil
}

// queued are the backups, in every watched namespace, waiting in a queue.
func (r *OvercloudBackupReconciler) queued(ctx context.Context) []reconcile.Request {
	list := &backupv1alpha1.OvercloudBackupList{}
	if err := r.List(ctx, list); err != nil {
		logf.FromContext(ctx).Error(err, "Listing the queued backups to re-queue")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		b := &list.Items[i]
		if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionNodeSelected); !b.IsFinished() &&
			c != nil && c.Reason == backupv1alpha1.ReasonQueued {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
		}
	}
	return reqs
}

// waitingOn maps an object (Secret, claim) to the unfinished backups naming it.
func (r *OvercloudBackupReconciler) waitingOn(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.unfinished(ctx, o.GetNamespace(), index, o.GetName(), "")
	}
}

// secretEvents maps a Secret to the unfinished backups of the Overclouds that name it.
func (r *OvercloudBackupReconciler) secretEvents(ctx context.Context, o client.Object) []reconcile.Request {
	list := &backupv1alpha1.OvercloudList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexOvercloudSecrets: o.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "Listing the Overclouds naming a Secret", "secret", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		reqs = append(reqs, r.unfinished(ctx, o.GetNamespace(), indexOvercloud, list.Items[i].Name, "")...)
	}
	return reqs
}

// sameOvercloud maps a backup to the other unfinished backups of its overcloud.
func (r *OvercloudBackupReconciler) sameOvercloud(ctx context.Context, o client.Object) []reconcile.Request {
	b, ok := o.(*backupv1alpha1.OvercloudBackup)
	if !ok {
		return nil
	}
	return r.unfinished(ctx, b.Namespace, indexOvercloud, b.Spec.OvercloudRef.Name, b.Name)
}

func (r *OvercloudBackupReconciler) unfinished(ctx context.Context, namespace, index, value, except string) []reconcile.Request {
	list := &backupv1alpha1.OvercloudBackupList{}
	if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		logf.FromContext(ctx).Error(err, "Listing the backups to re-queue", "index", index, "value", value)
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if b := &list.Items[i]; b.Name != except && !b.IsFinished() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
		}
	}
	return reqs
}

// LiveProber probes the real overcloud (internal/probe) and decides (internal/selection),
// recording each call's duration. It returns within the overcloud's timeouts: every call
// has the spec's deadline (connect + query timeout), the calls run in parallel, and the
// whole probe is bounded by twice that.
type LiveProber struct{}

var _ Prober = LiveProber{}

// Probe implements Prober.
func (LiveProber) Probe(
	ctx context.Context, name string, oc *backupv1alpha1.OvercloudSpec, ns *backupv1alpha1.NodeSelectionSpec, c probe.Credentials,
) (probe.Report, error) {
	t, err := probe.NewTarget(oc, c, 0)
	if err != nil {
		return probe.Report{}, err
	}
	defer t.Close()
	timed(&t, name)
	ctx, cancel := context.WithTimeout(ctx, 2*t.Timeout+time.Second)
	defer cancel()
	snap := probe.Gather(ctx, t)
	return probe.NewReport(name, snap, selection.Decide(snap, probe.PolicyOf(ns))), nil
}

// ResetDesync implements Prober.
func (LiveProber) ResetDesync(
	ctx context.Context, oc *backupv1alpha1.OvercloudSpec, node string, c probe.Credentials,
) (bool, error) {
	t, err := probe.NewTarget(oc, c, 0)
	if err != nil {
		return false, err
	}
	defer t.Close()
	return t.ResetDesync(ctx, node)
}

// timed wraps the target's sources so that every call's duration lands in
// ocb_probe_duration_seconds.
func timed(t *probe.Target, overcloud string) {
	names := map[string]string{}
	for _, n := range t.Nodes {
		names[fmt.Sprintf("%s:%d", n.Address, n.MySQLPort)] = n.Name
		if strings.Contains(n.Address, ":") {
			names[fmt.Sprintf("[%s]:%d", n.Address, n.MySQLPort)] = n.Name
		}
	}
	t.Galera = timedGalera{inner: t.Galera, overcloud: overcloud, names: names}
	if t.Pacemaker != nil {
		t.Pacemaker = timedPacemaker{inner: t.Pacemaker, overcloud: overcloud}
	}
	if t.HAProxyHTTP != nil {
		t.HAProxyHTTP = timedHAProxy{inner: t.HAProxyHTTP, overcloud: overcloud, source: "haproxy-http"}
	}
	if t.HAProxySocket != nil {
		t.HAProxySocket = timedHAProxy{inner: t.HAProxySocket, overcloud: overcloud, source: "haproxy-socket"}
	}
}

type timedGalera struct {
	inner     probe.GaleraSource
	overcloud string
	names     map[string]string
}

func (s timedGalera) Probe(ctx context.Context, addr string) (*galera.Status, error) {
	start := time.Now()
	st, err := s.inner.Probe(ctx, addr)
	observeProbe(s.overcloud, cmp.Or(s.names[addr], addr), "galera", time.Since(start), err)
	return st, err
}

type timedPacemaker struct {
	inner     probe.PacemakerSource
	overcloud string
}

func (s timedPacemaker) Status(ctx context.Context, node probe.Node) (*probe.PacemakerView, error) {
	start := time.Now()
	v, err := s.inner.Status(ctx, node)
	observeProbe(s.overcloud, node.Name, "pacemaker", time.Since(start), err)
	return v, err
}

type timedHAProxy struct {
	inner             probe.HAProxySource
	overcloud, source string
}

func (s timedHAProxy) Read(ctx context.Context, node *probe.Node, nodes []probe.Node) (*probe.HAProxyView, error) {
	start := time.Now()
	v, err := s.inner.Read(ctx, node, nodes)
	name := "-" // the stats page speaks for HAProxy, not for one node
	if node != nil {
		name = node.Name
	}
	observeProbe(s.overcloud, name, s.source, time.Since(start), err)
	return v, err
}

// durationOf is status.duration as a time.Duration, nil when unset.
func durationOf(b *backupv1alpha1.OvercloudBackup) *time.Duration {
	if b.Status.Duration == nil {
		return nil
	}
	d := b.Status.Duration.Duration
	return &d
}
