package controllers

// The OvercloudBackup controller's pass: the reconciler, and the state machine that
// takes a backup from its references through its queue, the probe, the Job of each
// attempt and its end. Job and pod I/O are in overcloudbackup_jobs.go, the references
// in overcloudbackup_refs.go, the watches in overcloudbackup_watches.go, the live
// prober in prober.go; the pure status functions in overcloudbackup_status.go.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/jobpolicy"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
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
	// WatchNamespaces are the namespaces the manager watches (all when empty): reads
	// across namespaces that bypass the cache are limited to them.
	WatchNamespaces []string
	// JobPolicy is what spec.job may ask beyond the defaults (the manager's flags); its
	// AgentImage is AgentImage.
	JobPolicy jobpolicy.Policy
	// MaxConcurrentReconciles lets a slow probe of one overcloud not hold up the others
	// (1 when zero). The queue order keeps two backups of one overcloud apart whatever
	// the concurrency.
	MaxConcurrentReconciles int
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
	// a node a failed attempt left desynced, and a succeeded one's restore drill.
	if !deleting && b.IsFinished() && b.Status.DesyncLeftOn == "" && !drillPending(b) {
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
		if err != nil {
			return res, err
		}
		repairRes = res
	}
	if !b.IsFinished() {
		res, retErr = p.run(ctx)
	}
	if retErr == nil {
		res, retErr = p.thenVerify(ctx, res)
	}
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
		p.fail(backupv1alpha1.ReasonAttemptsExhausted, msg)
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
	if b.Spec.Dump.DesyncsNode() {
		p.markDesyncLeftOn(cmp.Or(job.Annotations[annotationNode], b.Status.SelectedNode),
			fmt.Sprintf("Job %s, stopped at the deadline,", job.Name))
	}
	p.fail(backupv1alpha1.ReasonDeadlineExceeded, msg)
	return ctrl.Result{RequeueAfter: agentPodWait}
}

// fail ends the backup for good: the Failed condition with reason and msg, then, once
// the status is written, the failure counted and a BackupFailed event.
func (p *pass) fail(reason, msg string) {
	markFailed(p.b, p.now, reason, msg)
	ns, oc, at, dur := p.b.Namespace, p.b.Spec.OvercloudRef.Name, p.now, durationOf(p.b)
	p.fx.transition(func() {
		recordFinished(ns, oc, false, dur, 0, at)
		backupFailures.WithLabelValues(ns, oc, reason).Inc()
	})
	p.event(true, "BackupFailed", msg)
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
		p.fail(reason, msg)
		return ctrl.Result{}, nil
	}
	untilDeadline := ctrl.Result{RequeueAfter: deadline.Sub(p.now)}

	// What spec.job asks of the agent pod, held to what the administrator allows: a
	// refusal does not go away by waiting, and no Secret is read for a backup refused.
	if err := jobpolicy.Check(b.Namespace, b.Spec.Job, p.r.jobPolicy()); err != nil {
		p.fail(backupv1alpha1.ReasonNotAllowed, "The backup Job is not allowed: "+err.Error())
		return ctrl.Result{}, nil
	}

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

	// Spec errors the Job builder finds are known before probing (a missing image waits
	// for the manager's --agent-image).
	if _, err := BuildJob(b, JobParams{Overcloud: oc, Attempt: n, Node: oc.Nodes[0].Name, Image: p.r.AgentImage}); err != nil {
		msg := "The backup Job cannot be built: " + err.Error()
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
		reason := backupv1alpha1.ReasonQueued
		msg := fmt.Sprintf("Queued: %s runs on the same Galera cluster (%s); one backup or restore per cluster at a time",
			other, report.ClusterStateUUID)
		if strings.HasPrefix(other, "restore ") {
			// A restore is replacing the data this backup would copy: it waits for the
			// restore's end, and says so in its own words.
			reason = backupv1alpha1.ReasonRestoreRunning
			msg = fmt.Sprintf("Waiting: %s is restoring the same Galera cluster (%s); the backup starts when it ends",
				other, report.ClusterStateUUID)
		}
		setCondition(b, backupv1alpha1.ConditionNodeSelected, metav1.ConditionFalse, reason, msg)
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

func (r *OvercloudBackupReconciler) jobPolicy() jobpolicy.Policy {
	p := r.JobPolicy
	p.AgentImage = r.AgentImage
	return p
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

// durationOf is status.duration as a time.Duration, nil when unset.
func durationOf(b *backupv1alpha1.OvercloudBackup) *time.Duration {
	if b.Status.Duration == nil {
		return nil
	}
	d := b.Status.Duration.Duration
	return &d
}
