package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/units"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/jobpolicy"
)

// The cleanup Job of a deleted backup with deletionPolicy Delete.
const (
	cleanupComponent = "backup-cleanup"
	// annotationBackupUID ties a cleanup Job to one backup object: a Job left by an
	// earlier backup of the same name is not taken for this one's.
	annotationBackupUID = "backup.overcloud.io/backup-uid"
	cleanupDeadline     = int64(600)
	cleanupBackoffLimit = int32(2)
)

// BuildCleanupJob is the Job that removes the backup's directory (and the leftovers of
// interrupted attempts) from its volume: `agent remove`, which refuses a directory whose
// manifest names another backup. It runs in the same locked-down pod as the backup, with
// the volume and no Secret.
//
// It has no owner reference, on purpose: the backup is being deleted, and a deletion
// with foreground propagation (Argo CD's, for one) would have the garbage collector
// delete the Job as soon as it is created. The controller deletes it once it succeeded.
func BuildCleanupJob(b *backupv1alpha1.OvercloudBackup, defaultImage string) (*batchv1.Job, error) {
	js, image, err := agentJobSpec(b, defaultImage)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		backupv1alpha1.LabelBackup:    b.Name,
		backupv1alpha1.LabelOvercloud: b.Spec.OvercloudRef.Name,
		labelManagedBy:                managedBy,
		labelComponent:                cleanupComponent,
	}
	annotations := map[string]string{annotationBackupUID: string(b.UID)}
	args := []string{
		agentCommand, "remove",
		"--root=" + backupMountPath,
		"--namespace=" + b.Namespace,
		"--name=" + b.Name,
		"--uid=" + string(b.UID),
		"--termination-log=" + corev1.TerminationMessagePathDefault,
	}
	volumes, mounts := storageVolumes(b)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: b.CleanupJobName(), Namespace: b.Namespace, Labels: labels, Annotations: annotations,
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To(cleanupBackoffLimit),
			ActiveDeadlineSeconds: ptr.To(cleanupDeadline),
			Template:              agentPod(js, image, args, volumes, mounts, labels, annotations),
		},
	}, nil
}

// finalize runs for a backup being deleted that holds our finalizer: stop its running
// attempt, check the node it may have left desynced, then remove its data through the
// cleanup Job. release is true once the finalizer may go.
func (p *pass) finalize(ctx context.Context) (res ctrl.Result, release bool, err error) {
	b := p.b
	log := logf.FromContext(ctx)
	jobs, err := p.r.volumeJobs(ctx, b)
	if err != nil {
		return ctrl.Result{}, false, err
	}
	// An attempt's pod may still write to the volume: delete its running Jobs in the
	// foreground (the Job goes only once its pods are gone; the agent cleans up on
	// SIGTERM) and wait for them; the Owns watch brings the deletions back here. A
	// finished attempt's Job goes at once (background).
	var waiting []string
	for i := range jobs {
		j := &jobs[i]
		if !j.DeletionTimestamp.IsZero() {
			waiting = append(waiting, j.Name)
			continue
		}
		policy := metav1.DeletePropagationBackground
		if !jobFinished(j) {
			policy = metav1.DeletePropagationForeground
		}
		err := p.r.Delete(ctx, j, client.PropagationPolicy(policy))
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return ctrl.Result{}, false, fmt.Errorf("deleting Job %s: %w", j.Name, err)
		case policy == metav1.DeletePropagationForeground:
			waiting = append(waiting, j.Name)
		}
	}
	if len(waiting) > 0 {
		setMessage(b, "Being deleted: waiting for the attempt Jobs to go before removing the data: "+strings.Join(waiting, ", "))
		return ctrl.Result{RequeueAfter: agentPodWait}, false, nil
	}
	if b.Status.DesyncLeftOn != "" {
		if _, done, err := p.repair(ctx); err != nil || !done {
			// Deletion does not wait on an unreachable node: the condition and the event
			// said what to check by hand.
			log.Info("Deleting the backup without having checked wsrep_desync", "node", b.Status.DesyncLeftOn, "error", err)
		}
	}
	if b.EffectiveDeletionPolicy() != backupv1alpha1.DeletionDelete {
		return ctrl.Result{}, true, nil
	}
	if b.Status.Attempts == 0 && b.Status.Artifact == nil {
		p.dataDeleted("The backup never started an attempt: no data to remove")
		return ctrl.Result{}, true, nil
	}
	pvc := &corev1.PersistentVolumeClaim{}
	err = p.r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Storage.ClaimName}, pvc)
	if apierrors.IsNotFound(err) || (err == nil && !pvc.DeletionTimestamp.IsZero()) {
		p.dataDeleted(fmt.Sprintf("The claim %s is gone or being deleted: its data goes with it (per its volume's reclaim policy)",
			b.Spec.Storage.ClaimName))
		return ctrl.Result{}, true, nil
	}
	if err != nil {
		return ctrl.Result{}, false, fmt.Errorf("getting PersistentVolumeClaim %s: %w", b.Spec.Storage.ClaimName, err)
	}
	return p.cleanup(ctx)
}

// cleanup creates or follows the cleanup Job.
func (p *pass) cleanup(ctx context.Context) (ctrl.Result, bool, error) {
	b := p.b
	want, err := BuildCleanupJob(b, p.r.AgentImage)
	if err != nil {
		msg := "The cleanup Job cannot be built: " + err.Error()
		setCondition(b, backupv1alpha1.ConditionDataDeleted, metav1.ConditionFalse, backupv1alpha1.ReasonCleanupFailed, msg)
		setMessage(b, msg)
		return ctrl.Result{}, false, nil //nolint:nilerr // a spec problem, said in status; the manager's --agent-image fixes it
	}
	job := &batchv1.Job{}
	err = p.r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), job)
	switch {
	case apierrors.IsNotFound(err):
		// The cache may still show a backup whose finalizer a moment ago's pass removed
		// after deleting its finished cleanup Job: ask the API server before starting
		// another cleanup.
		live := &backupv1alpha1.OvercloudBackup{}
		if err := p.r.APIReader.Get(ctx, client.ObjectKeyFromObject(b), live); apierrors.IsNotFound(err) ||
			(err == nil && (live.UID != b.UID || !controllerutil.ContainsFinalizer(live, backupv1alpha1.FinalizerCleanup))) {
			return ctrl.Result{}, false, errStale
		} else if err != nil {
			return ctrl.Result{}, false, fmt.Errorf("getting the backup: %w", err)
		}
		// The cleanup pod is built from spec.job too: held to the policy of now, which may
		// be narrower than when the backup ran. Refused, the data stays, as when it fails.
		if err := jobpolicy.Check(b.Namespace, b.Spec.Job, p.r.jobPolicy()); err != nil {
			p.cleanupNotAllowed(err)
			return ctrl.Result{}, false, nil
		}
		if err := p.r.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, false, fmt.Errorf("creating the cleanup Job %s: %w", want.Name, err)
		}
		msg := fmt.Sprintf("Being deleted: Job %s removes the backup's data from claim %s", want.Name, b.Spec.Storage.ClaimName)
		setCondition(b, backupv1alpha1.ConditionDataDeleted, metav1.ConditionFalse, backupv1alpha1.ReasonCleanupRunning, msg)
		setMessage(b, msg)
		p.fx.actionEvent(backupv1alpha1.ReasonCleanupRunning, msg) // the Job is created: told now
		return ctrl.Result{}, false, nil
	case err != nil:
		return ctrl.Result{}, false, fmt.Errorf("getting the cleanup Job %s: %w", want.Name, err)
	}
	if job.Annotations[annotationBackupUID] != string(b.UID) || job.Labels[labelManagedBy] != managedBy {
		if job.Labels[labelManagedBy] != managedBy {
			msg := fmt.Sprintf("A Job named %s exists and is not this operator's; delete it so the backup's data can be removed", job.Name)
			setCondition(b, backupv1alpha1.ConditionDataDeleted, metav1.ConditionFalse, backupv1alpha1.ReasonJobNotOwned, msg)
			setMessage(b, msg)
			return ctrl.Result{RequeueAfter: foreignJobRetry}, false, nil
		}
		// The cleanup Job of an earlier backup of the same name: it is done with.
		if err := p.r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, false, fmt.Errorf("deleting the stale cleanup Job %s: %w", job.Name, err)
		}
		return ctrl.Result{RequeueAfter: agentPodWait}, false, nil
	}
	return p.cleanupFinished(ctx, job)
}

// cleanupFinished follows the cleanup Job to its end: the data is gone (release the
// finalizer), or the cleanup failed (say so, keep the data and the finalizer).
func (p *pass) cleanupFinished(ctx context.Context, job *batchv1.Job) (ctrl.Result, bool, error) {
	b := p.b
	finished, succeeded, why := jobOutcome(job)
	if !finished {
		return ctrl.Result{}, false, nil
	}
	msg, found, err := p.r.terminationMessage(ctx, job)
	if err != nil {
		return ctrl.Result{}, false, err
	}
	var out agent.RemoveResult // what `agent remove` writes to its termination log
	if found {
		if jerr := json.Unmarshal([]byte(msg), &out); jerr != nil {
			out.Error = clip(strings.TrimSpace(msg), 1024)
		}
	}
	ns, oc := b.Namespace, b.Spec.OvercloudRef.Name
	if !succeeded || out.Error != "" {
		cause := out.Error
		if cause == "" {
			cause = "its Job failed (" + why + ") without a result"
		}
		text := fmt.Sprintf("The cleanup Job %s failed: %s. The data is kept and the finalizer %s stays: "+
			"delete the Job to try again, or remove the finalizer to let the object go and keep the data",
			job.Name, cause, backupv1alpha1.FinalizerCleanup)
		if !isCondition(p.orig, backupv1alpha1.ConditionDataDeleted, backupv1alpha1.ReasonCleanupFailed) {
			p.event(true, backupv1alpha1.ReasonCleanupFailed, text)
			p.fx.transition(func() { cleanups.WithLabelValues(ns, oc, resultFailed).Inc() })
		}
		setCondition(b, backupv1alpha1.ConditionDataDeleted, metav1.ConditionFalse, backupv1alpha1.ReasonCleanupFailed, text)
		setMessage(b, text)
		return ctrl.Result{}, false, nil
	}
	what := "nothing was left to remove"
	if !out.NotFound {
		what = fmt.Sprintf("removed %s (%s)", strings.Join(out.Removed, ", "), units.HumanBytes(out.Bytes))
	}
	p.dataDeleted(fmt.Sprintf("The cleanup Job %s %s from claim %s", job.Name, what, b.Spec.Storage.ClaimName))
	p.fx.transition(func() { cleanups.WithLabelValues(ns, oc, resultSucceeded).Inc() })
	if err := p.r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, false, fmt.Errorf("deleting the finished cleanup Job %s: %w", job.Name, err)
	}
	return ctrl.Result{}, true, nil
}

// cleanupNotAllowed says that the policy refuses the cleanup Job: the data and the
// finalizer stay until an administrator allows it (the manager restarted with the new
// flags reconciles every backup) or removes the finalizer.
func (p *pass) cleanupNotAllowed(err error) {
	text := fmt.Sprintf("The cleanup Job is not allowed: %v. The data is kept and the finalizer %s stays: an administrator "+
		"may allow it, or remove the finalizer to let the object go and keep the data", err, backupv1alpha1.FinalizerCleanup)
	if !isCondition(p.orig, backupv1alpha1.ConditionDataDeleted, backupv1alpha1.ReasonNotAllowed) {
		p.event(true, backupv1alpha1.ReasonCleanupFailed, text)
	}
	setCondition(p.b, backupv1alpha1.ConditionDataDeleted, metav1.ConditionFalse, backupv1alpha1.ReasonNotAllowed, text)
	setMessage(p.b, text)
}

// errStale ends a pass that worked from a cached backup the API server no longer has
// (or no longer holds our finalizer): nothing is written.
var errStale = errors.New("the cached backup is stale")

// setMessage is status.message alone: a backup being deleted keeps its outcome (Ready,
// Complete or Failed) and only says what its deletion waits for.
func setMessage(b *backupv1alpha1.OvercloudBackup, msg string) {
	b.Status.Message = clip(msg, maxMessage)
}

// dataDeleted records that the backup's data is gone (or there was none).
func (p *pass) dataDeleted(msg string) {
	setCondition(p.b, backupv1alpha1.ConditionDataDeleted, metav1.ConditionTrue, backupv1alpha1.ReasonDataDeleted, msg)
	setMessage(p.b, msg)
	p.event(false, backupv1alpha1.ReasonDataDeleted, msg)
}

// isCondition reports whether the backup has the condition with that reason.
func isCondition(b *backupv1alpha1.OvercloudBackup, typ, reason string) bool {
	for _, c := range b.Status.Conditions {
		if c.Type == typ {
			return c.Reason == reason
		}
	}
	return false
}

// needsFinalizer: the cleanup finalizer holds a backup while its deletion has work to do:
// removing its data (deletionPolicy Delete), or checking a node an attempt may have left
// desynced (whatever the policy; released once checked).
func needsFinalizer(b *backupv1alpha1.OvercloudBackup) bool {
	return b.EffectiveDeletionPolicy() == backupv1alpha1.DeletionDelete || b.Status.DesyncLeftOn != ""
}

// syncFinalizer adds the cleanup finalizer when needsFinalizer says so, and removes it
// when it is no longer needed (one metadata patch each time).
func (r *OvercloudBackupReconciler) syncFinalizer(ctx context.Context, b *backupv1alpha1.OvercloudBackup) error {
	has := controllerutil.ContainsFinalizer(b, backupv1alpha1.FinalizerCleanup)
	switch need := needsFinalizer(b); {
	case need && !has:
		orig := b.DeepCopy()
		controllerutil.AddFinalizer(b, backupv1alpha1.FinalizerCleanup)
		if err := r.Patch(ctx, b, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("adding the finalizer %s: %w", backupv1alpha1.FinalizerCleanup, err)
		}
	case !need && has:
		return r.releaseFinalizer(ctx, b)
	}
	return nil
}

// releaseFinalizer removes the cleanup finalizer: the object then goes.
func (r *OvercloudBackupReconciler) releaseFinalizer(ctx context.Context, b *backupv1alpha1.OvercloudBackup) error {
	if !controllerutil.ContainsFinalizer(b, backupv1alpha1.FinalizerCleanup) {
		return nil
	}
	orig := b.DeepCopy()
	controllerutil.RemoveFinalizer(b, backupv1alpha1.FinalizerCleanup)
	if err := r.Patch(ctx, b, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing the finalizer %s: %w", backupv1alpha1.FinalizerCleanup, err)
	}
	return nil
}
