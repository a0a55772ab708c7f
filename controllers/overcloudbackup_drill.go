package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/jobpolicy"
)

// The restore drill's Job.
const (
	drillComponent = "restore-drill"
	// annotationDrillRequest on a drill Job is the verify annotation's value it answers
	// (absent for the drill spec.verification asked for).
	annotationDrillRequest = "backup.overcloud.io/drill-request"
	scratchPath            = "/scratch"
	// drillFixedScratch is what the scratch server needs whatever the backup's size:
	// system tables, redo log, undo tablespaces.
	drillFixedScratch = int64(256 << 20)
	// drillScratchFactor: the restored copy of a logical dump takes up to about twice the
	// dump's size in InnoDB files (pages not full, secondary indexes).
	drillScratchFactor = 2
)

// BuildDrillJob is the Job that runs `agent drill` on a succeeded backup: the backup's
// claim mounted read-only at the same path as when it was written, the scratch server on
// an emptyDir bounded by spec.verification.scratchSize, in the same locked-down pod as
// the backup's (non-root, read-only root filesystem, no capabilities, no token), with no
// Secret at all: the drill never talks to the overcloud. It is pure.
func BuildDrillJob(b *backupv1alpha1.OvercloudBackup, defaultImage string) (*batchv1.Job, error) {
	art := b.Status.Artifact
	if art == nil {
		return nil, fmt.Errorf("backup %s has no artifact to drill", b.Name)
	}
	js, image, err := agentJobSpec(b, defaultImage)
	if err != nil {
		return nil, err
	}
	v := b.Spec.Verification
	pool := v.BufferPoolOrDefault()
	scratch := scratchSize(v, art)
	args := []string{
		agentCommand, "drill", backupMountPath + "/" + b.Namespace + "/" + b.Name,
		"--scratch=" + scratchPath,
		"--buffer-pool=" + strconv.FormatInt(pool.Value(), 10),
		"--termination-log=" + corev1.TerminationMessagePathDefault,
	}
	if scratch != nil {
		args = append(args, "--scratch-limit="+strconv.FormatInt(scratch.Value(), 10))
	}
	volumes, mounts := storageVolumes(b)
	volumes[0].PersistentVolumeClaim.ReadOnly = true
	mounts[0].ReadOnly = true
	volumes = append(volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: scratch},
	}})
	mounts = append(mounts, corev1.VolumeMount{Name: "scratch", MountPath: scratchPath})

	labels := map[string]string{
		backupv1alpha1.LabelBackup:    b.Name,
		backupv1alpha1.LabelOvercloud: b.Spec.OvercloudRef.Name,
		labelManagedBy:                managedBy,
		labelComponent:                drillComponent,
	}
	podAnnotations := map[string]string{}
	for k, val := range js.PodAnnotations {
		podAnnotations[k] = val
	}
	pod := agentPod(js, image, args, volumes, mounts, labels, podAnnotations)
	pod.Spec.HostNetwork = false // the drill has no network to reach: the scratch server listens on a socket
	pod.Spec.Containers[0].Resources = drillResources(v, pool)
	var annotations map[string]string
	if st := b.Status.Verification; st != nil && st.Request != "" {
		annotations = map[string]string{annotationDrillRequest: st.Request}
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: b.DrillJobName(), Namespace: b.Namespace, Labels: labels, Annotations: annotations, OwnerReferences: controlledBy(b),
		},
		Spec: batchv1.JobSpec{
			// A drill that failed to run says so; running it again is the user's call
			// (deleting the Job's outcome is not possible: the condition stays).
			BackoffLimit:          ptr.To(int32(0)),
			ActiveDeadlineSeconds: ptr.To(int64(v.DeadlineOrDefault() / time.Second)),
			Template:              pod,
		},
	}, nil
}

// scratchSize is the scratch emptyDir's limit: spec.verification.scratchSize, else
// twice the backup's uncompressed size plus a fixed part; nil (no limit but the node's
// disk, which the agent checks) for a backup that did not record its uncompressed size.
func scratchSize(v *backupv1alpha1.VerificationSpec, art *backupv1alpha1.BackupArtifact) *resource.Quantity {
	if v != nil && v.ScratchSize != nil && v.ScratchSize.Sign() > 0 {
		return ptr.To(v.ScratchSize.DeepCopy())
	}
	if art.UncompressedBytes <= 0 {
		return nil
	}
	return resource.NewQuantity(drillScratchFactor*art.UncompressedBytes+drillFixedScratch, resource.BinarySI)
}

// drillResources are the user's, or what the scratch server needs: its buffer pool and
// about 256 MiB more (the server's own buffers, the client and the agent), limited to the
// buffer pool plus 512 MiB whatever the backup's size.
func drillResources(v *backupv1alpha1.VerificationSpec, pool resource.Quantity) corev1.ResourceRequirements {
	if v != nil && v.Resources != nil {
		return *v.Resources.DeepCopy()
	}
	request := pool.DeepCopy()
	request.Add(resource.MustParse("256Mi"))
	limit := pool.DeepCopy()
	limit.Add(resource.MustParse("512Mi"))
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: request},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: limit},
	}
}

// requestOf is the verify annotation's value the backup's current drill answers.
func requestOf(b *backupv1alpha1.OvercloudBackup) string {
	if b.Status.Verification == nil {
		return ""
	}
	return b.Status.Verification.Request
}

// drillPending reports whether a succeeded backup still waits for its drill's outcome, or
// for the drill its verify annotation asks for.
func drillPending(b *backupv1alpha1.OvercloudBackup) bool {
	if !meta.IsStatusConditionTrue(b.Status.Conditions, backupv1alpha1.ConditionComplete) {
		return false
	}
	if b.VerifyRequest() != "" {
		return true
	}
	if !b.WantsDrill() && requestOf(b) == "" {
		return false
	}
	c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionVerified)
	return c == nil || (c.Status == metav1.ConditionUnknown && c.Reason != backupv1alpha1.ReasonNotCompared)
}

// thenVerify runs the drill of a backup that waits for it, after the pass's other work
// (res): the pass that ended the backup starts its drill too, since its status patch may
// bring no other pass.
func (p *pass) thenVerify(ctx context.Context, res ctrl.Result) (ctrl.Result, error) {
	if !drillPending(p.b) {
		return res, nil
	}
	vres, err := p.verify(ctx)
	return earlier(res, vres), err
}

// verify runs the restore drill of a succeeded backup: creates its Job, follows it, and
// records its outcome in the Verified condition and status.verification. It never
// touches Complete, Failed or Ready: a backup that does not restore is still the backup
// that was taken.
func (p *pass) verify(ctx context.Context) (ctrl.Result, error) {
	b := p.b
	if req := b.VerifyRequest(); req != "" {
		// A drill asked for by the annotation: the last outcome no longer stands, and a
		// drill still running answers an older question (it goes, below).
		meta.RemoveStatusCondition(&b.Status.Conditions, backupv1alpha1.ConditionVerified)
		b.Status.Verification = &backupv1alpha1.VerificationStatus{Request: clip(req, 256)}
		p.fx.actionEvent(backupv1alpha1.ReasonDrillPending,
			fmt.Sprintf("A restore drill asked for by %s=%q", backupv1alpha1.AnnotationVerify, clip(req, 64)))
	}
	job, err := p.startDrill(ctx)
	if err != nil || job == nil {
		return ctrl.Result{}, err
	}
	if !metav1.IsControlledBy(job, b) {
		setVerified(b, metav1.ConditionUnknown, backupv1alpha1.ReasonJobNotOwned,
			fmt.Sprintf("A Job named %s exists and is not this backup's: delete it so the drill can run", job.Name))
		return ctrl.Result{RequeueAfter: foreignJobRetry}, nil
	}
	if !job.DeletionTimestamp.IsZero() || job.Annotations[annotationDrillRequest] != requestOf(b) {
		// An earlier drill's Job, answering another request: it goes, and the new one takes
		// its name once it is gone.
		if job.DeletionTimestamp.IsZero() {
			if err := p.r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("deleting the earlier drill Job %s: %w", job.Name, err)
			}
		}
		setVerified(b, metav1.ConditionUnknown, backupv1alpha1.ReasonDrillPending, "Waiting for the earlier drill's Job "+job.Name+" to go")
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if b.Status.Verification == nil {
		b.Status.Verification = &backupv1alpha1.VerificationStatus{}
	}
	v := b.Status.Verification
	v.JobName = job.Name
	if v.StartTime == nil {
		v.StartTime = ptr.To(job.CreationTimestamp)
	}
	finished, _, why := jobOutcome(job)
	if !finished {
		if job.Status.Active > 0 || job.Status.StartTime != nil {
			setVerified(b, metav1.ConditionUnknown, backupv1alpha1.ReasonDrillRunning, "Job "+job.Name+" restores the backup into a scratch server")
		} else {
			setVerified(b, metav1.ConditionUnknown, backupv1alpha1.ReasonDrillPending, "Job "+job.Name+" is created and has not started")
		}
		return ctrl.Result{}, nil
	}
	res, err := p.drillResult(ctx, job, why)
	if err != nil {
		return ctrl.Result{}, err
	}
	p.recordDrill(res)
	// The Job's pod holds the scratch emptyDir until it is deleted: delete it now that its
	// outcome is in the status, so finished drills never keep node disk.
	if err := p.r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("deleting the finished drill Job %s: %w", job.Name, err)
	}
	return ctrl.Result{}, nil
}

// startDrill is the backup's drill Job, created the first time. It is nil, with the
// Verified condition saying why, when the drill cannot run: its Job cannot be built or is
// not allowed, or was deleted before it recorded an outcome.
func (p *pass) startDrill(ctx context.Context) (*batchv1.Job, error) {
	b := p.b
	want, berr := BuildDrillJob(b, p.r.AgentImage)
	if berr != nil {
		p.drillOutcome(metav1.ConditionFalse, backupv1alpha1.ReasonDrillFailed, "The drill's Job cannot be built: "+berr.Error())
		return nil, nil //nolint:nilerr // said in the Verified condition; the manager's --agent-image fixes it
	}
	key := client.ObjectKeyFromObject(want)
	job := &batchv1.Job{}
	err := p.r.Get(ctx, key, job)
	if err == nil {
		return job, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("getting the drill's Job %s: %w", want.Name, err)
	}
	if b.Status.Verification != nil && b.Status.Verification.JobName != "" {
		// Created by an earlier pass: the cache may lag, the API server knows.
		err := p.r.APIReader.Get(ctx, key, job)
		if apierrors.IsNotFound(err) {
			p.drillOutcome(metav1.ConditionFalse, backupv1alpha1.ReasonDrillFailed,
				fmt.Sprintf("The drill's Job %s was deleted before it recorded an outcome: the backup is not verified", want.Name))
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("getting the drill's Job %s: %w", want.Name, err)
		}
		return job, nil
	}
	// The drill's pod is built from spec.job too: held to the policy of now.
	if perr := jobpolicy.Check(b.Namespace, b.Spec.Job, p.r.jobPolicy()); perr != nil {
		p.drillOutcome(metav1.ConditionFalse, backupv1alpha1.ReasonDrillFailed, "The drill's Job is not allowed: "+perr.Error())
		return nil, nil //nolint:nilerr // said in the Verified condition: the administrator's policy
	}
	got, created, err := p.r.ensureJob(ctx, b, want)
	if err != nil {
		return nil, err
	}
	if created {
		p.fx.actionEvent(backupv1alpha1.ReasonDrillPending, fmt.Sprintf("Created Job %s: a restore drill of the backup", got.Name))
	}
	return got, nil
}

// volumeJobs are the backup's Jobs that use its volume: its attempts' and its drill's.
// A deletion stops them before the cleanup pulls the backup from under them.
func (r *OvercloudBackupReconciler) volumeJobs(ctx context.Context, b *backupv1alpha1.OvercloudBackup) ([]batchv1.Job, error) {
	jobs, err := r.ownedJobs(ctx, b)
	if err != nil {
		return nil, err
	}
	drill, err := r.drillJob(ctx, b)
	if err != nil || drill == nil {
		return jobs, err
	}
	return append(jobs, *drill), nil
}

// drillJob is the backup's drill Job when it exists and the backup controls it.
func (r *OvercloudBackupReconciler) drillJob(ctx context.Context, b *backupv1alpha1.OvercloudBackup) (*batchv1.Job, error) {
	j := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.DrillJobName()}, j)
	if apierrors.IsNotFound(err) || (err == nil && !metav1.IsControlledBy(j, b)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting the drill's Job %s: %w", b.DrillJobName(), err)
	}
	return j, nil
}

// drillResult is the agent's DrillResult from the Job's pod, or one that says why there
// is none (the pod evicted for outgrowing its scratch space, the Job's deadline).
func (p *pass) drillResult(ctx context.Context, job *batchv1.Job, why string) (agent.DrillResult, error) {
	pods := &corev1.PodList{}
	err := p.r.APIReader.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name})
	if err != nil {
		return agent.DrillResult{}, fmt.Errorf("listing the pods of Job %s: %w", job.Name, err)
	}
	return drillResultOf(pods.Items, job, why), nil
}

// drillResultOf reads the drill's outcome from its pods: the agent's JSON termination
// message, else the kubelet's eviction of a pod whose scratch space outgrew its limit,
// else the Job controller's words.
func drillResultOf(pods []corev1.Pod, job *batchv1.Job, why string) agent.DrillResult {
	if t := newestTermination(pods, job); t != nil {
		var res agent.DrillResult
		if err := json.Unmarshal([]byte(t.Message), &res); err == nil {
			return res
		}
		return agent.DrillResult{Error: fmt.Sprintf("the drill exited with code %d without a result", t.ExitCode)}
	}
	for i := range pods {
		if metav1.IsControlledBy(&pods[i], job) && pods[i].Status.Reason == "Evicted" {
			return agent.DrillResult{Reason: agent.ReasonTooLarge, Message: "the kubelet evicted the drill's pod: " +
				clip(pods[i].Status.Message, 300) + " (raise spec.verification.scratchSize or the memory limit)"}
		}
	}
	return agent.DrillResult{Error: "its Job failed without a result (" + why + ")"}
}

// drillReasons maps the agent's reasons to the Verified condition's.
var drillReasons = map[string]string{
	agent.ReasonRestoreFailed:   backupv1alpha1.ReasonRestoreFailed,
	agent.ReasonTableMismatch:   backupv1alpha1.ReasonTableMismatch,
	agent.ReasonCorruptTable:    backupv1alpha1.ReasonCorruptTable,
	agent.ReasonTooLarge:        backupv1alpha1.ReasonTooLarge,
	agent.ReasonVersionMismatch: backupv1alpha1.ReasonVersionMismatch,
}

// recordDrill writes the drill's outcome: status.verification, the Verified condition,
// its event and metrics.
func (p *pass) recordDrill(res agent.DrillResult) {
	b := p.b
	v := b.Status.Verification
	v.Tables, v.Rows, v.Users = int32(min(res.Tables, 1<<30)), res.Rows, int32(min(res.Users, 1<<30)) //nolint:gosec // G115: bounded
	v.ServerVersion, v.SourceVersion = clip(res.ServerVersion, 64), clip(res.SourceVersion, 64)
	v.Mismatches = nil
	for i, m := range res.Mismatches {
		if i == 21 {
			break
		}
		v.Mismatches = append(v.Mismatches, clip(m, 320))
	}
	if res.Seconds > 0 {
		v.Duration = &metav1.Duration{Duration: time.Duration(res.Seconds * float64(time.Second)).Round(time.Second)}
	}
	restored := "Restored into a scratch server " + res.ServerVersion + ": " + res.Message
	switch {
	case res.Error != "":
		p.drillOutcome(metav1.ConditionFalse, backupv1alpha1.ReasonDrillFailed, "The restore drill could not run: "+res.Error)
	case res.Reason == "":
		p.drillOutcome(metav1.ConditionTrue, backupv1alpha1.ReasonRestored, restored)
	case res.Reason == agent.ReasonNotCompared:
		p.drillOutcome(metav1.ConditionUnknown, backupv1alpha1.ReasonNotCompared, restored)
	default:
		reason, ok := drillReasons[res.Reason]
		if !ok {
			reason = backupv1alpha1.ReasonDrillFailed
		}
		p.drillOutcome(metav1.ConditionFalse, reason, "The backup does not restore as recorded: "+res.Message)
	}
}

// drillOutcome sets the Verified condition to its final state, with the completion time,
// an event and the metrics, once.
func (p *pass) drillOutcome(status metav1.ConditionStatus, reason, msg string) {
	b := p.b
	if b.Status.Verification == nil {
		b.Status.Verification = &backupv1alpha1.VerificationStatus{}
	}
	at := metav1.NewTime(p.now)
	b.Status.Verification.CompletionTime = &at
	setVerified(b, status, reason, msg)
	ns, oc := b.Namespace, b.Spec.OvercloudRef.Name
	switch status {
	case metav1.ConditionTrue:
		p.event(false, backupv1alpha1.ConditionVerified, clip(msg, maxMessage))
	case metav1.ConditionFalse:
		p.event(true, reason, clip(msg, maxMessage))
	default: // NotCompared: restored and checked, nothing to compare with
		p.event(false, reason, clip(msg, maxMessage))
	}
	p.fx.transition(func() { drills.WithLabelValues(ns, oc, reason).Inc() })
}

// setVerified sets the Verified condition (its message bounded like status.message).
func setVerified(b *backupv1alpha1.OvercloudBackup, status metav1.ConditionStatus, reason, msg string) {
	setCondition(b, backupv1alpha1.ConditionVerified, status, reason, strings.TrimSpace(msg))
}
