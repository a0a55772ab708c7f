package controllers

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/units"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// This file is the pure half of the OvercloudBackup controller: condition setters, the
// phase derived from the conditions, and the small decisions (deadline, backoff, queue,
// the outcome of a Job) taken from an observation. Nothing here does I/O or reads the
// clock: `now` is passed in, so table tests cover every case.

// maxMessage is the API's bound on status.message and a condition's message.
const maxMessage = 2048

// setCondition sets one condition at the backup's generation.
func setCondition(b *backupv1alpha1.OvercloudBackup, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: clip(msg, maxMessage), ObservedGeneration: b.Generation,
	})
}

// markProgress says what the backup is waiting for or doing: Ready=False/Progressing
// and status.message carry the same words.
func markProgress(b *backupv1alpha1.OvercloudBackup, msg string) {
	b.Status.Message = clip(msg, maxMessage)
	setCondition(b, backupv1alpha1.ConditionReady, metav1.ConditionFalse, backupv1alpha1.ReasonProgressing, msg)
	setCondition(b, backupv1alpha1.ConditionReconciling, metav1.ConditionTrue, backupv1alpha1.ReasonProgressing, msg)
}

// markSucceeded records a finished backup: Complete=True, Ready=True, the artifact and
// the times.
func markSucceeded(b *backupv1alpha1.OvercloudBackup, now time.Time, art *backupv1alpha1.BackupArtifact, msg string) {
	b.Status.Artifact = art
	finish(b, now)
	setCondition(b, backupv1alpha1.ConditionJobRunning, metav1.ConditionFalse, backupv1alpha1.ReasonJobSucceeded, msg)
	setCondition(b, backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded, msg)
	setCondition(b, backupv1alpha1.ConditionReady, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded, msg)
	meta.RemoveStatusCondition(&b.Status.Conditions, backupv1alpha1.ConditionReconciling)
	b.Status.NextProbeTime = nil
	b.Status.Message = clip(msg, maxMessage)
}

// markFailed records a backup that failed for good: Failed=True and Ready=False with the
// failure's reason. It is not retried.
func markFailed(b *backupv1alpha1.OvercloudBackup, now time.Time, reason, msg string) {
	finish(b, now)
	if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionJobRunning); c != nil && c.Status == metav1.ConditionTrue {
		setCondition(b, backupv1alpha1.ConditionJobRunning, metav1.ConditionFalse, reason, msg)
	}
	setCondition(b, backupv1alpha1.ConditionFailed, metav1.ConditionTrue, reason, msg)
	setCondition(b, backupv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(b, backupv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&b.Status.Conditions, backupv1alpha1.ConditionReconciling)
	b.Status.NextProbeTime = nil
	b.Status.Message = clip(msg, maxMessage)
}

// finish sets completionTime and duration (from startTime, when a Job ever started).
func finish(b *backupv1alpha1.OvercloudBackup, now time.Time) {
	if b.Status.CompletionTime == nil {
		b.Status.CompletionTime = &metav1.Time{Time: now.UTC().Truncate(time.Second)}
	}
	if b.Status.StartTime != nil {
		d := b.Status.CompletionTime.Sub(b.Status.StartTime.Time)
		b.Status.Duration = &metav1.Duration{Duration: max(d, 0)}
	}
}

// phaseOf is the one-word summary of the conditions.
func phaseOf(conds []metav1.Condition) backupv1alpha1.BackupPhase {
	switch {
	case meta.IsStatusConditionTrue(conds, backupv1alpha1.ConditionComplete):
		return backupv1alpha1.PhaseSucceeded
	case meta.IsStatusConditionTrue(conds, backupv1alpha1.ConditionFailed):
		return backupv1alpha1.PhaseFailed
	case meta.IsStatusConditionTrue(conds, backupv1alpha1.ConditionJobRunning):
		return backupv1alpha1.PhaseRunning
	}
	return backupv1alpha1.PhasePending
}

// probeBackoff is how long a backup that found no idle node waits before probing again:
// half the time it has waited so far, between lo and hi, so a short disturbance is
// retried quickly and a long one is not probed in a tight loop. It never waits past the
// deadline.
func probeBackoff(waitingSince, now, deadline time.Time, lo, hi time.Duration) time.Duration {
	d := min(max(now.Sub(waitingSince)/2, lo), hi)
	if left := deadline.Sub(now); left < d {
		d = max(left, 0)
	}
	return d
}

// queueBlocker is the backup this one must wait for, "" when it may go: another backup of
// the same overcloud with a Job still running, or an unfinished one that comes first
// (older creationTimestamp, then name). The order makes the answer the same for every
// backup of the overcloud whatever the order they are reconciled in, so two of them can
// never both launch. others may include b itself; jobs are the overcloud's Jobs.
func queueBlocker(b *backupv1alpha1.OvercloudBackup, others []backupv1alpha1.OvercloudBackup, jobs []batchv1.Job) string {
	var running []string
	for i := range jobs {
		j := &jobs[i]
		// Only a backup Job touches the overcloud: a cleanup or drill Job does not hold
		// the queue.
		if j.Labels[labelComponent] != agentComponent {
			continue
		}
		if owner := j.Labels[backupv1alpha1.LabelBackup]; owner != b.Name && j.DeletionTimestamp == nil && !jobFinished(j) {
			running = append(running, owner)
		}
	}
	if len(running) > 0 {
		sort.Strings(running)
		return running[0]
	}
	var first *backupv1alpha1.OvercloudBackup
	for i := range others {
		o := &others[i]
		if o.Name == b.Name || o.Spec.OvercloudRef.Name != b.Spec.OvercloudRef.Name || o.IsFinished() || o.DeletionTimestamp != nil {
			continue
		}
		if comesFirst(o, b) && (first == nil || comesFirst(o, first)) {
			first = o
		}
	}
	if first != nil {
		return first.Name
	}
	return ""
}

// comesFirst orders the backups of one overcloud: older first, then by name.
func comesFirst(a, b *backupv1alpha1.OvercloudBackup) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// jobFinished reports whether the Job has its terminal Complete or Failed condition.
func jobFinished(j *batchv1.Job) bool {
	done, _, _ := jobOutcome(j)
	return done
}

// jobOutcome says whether the Job finished, whether it succeeded, and for a failure the
// Job controller's words (reason: message).
func jobOutcome(j *batchv1.Job) (done, succeeded bool, why string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true, ""
		case batchv1.JobFailed:
			why = c.Reason
			if c.Message != "" {
				why += ": " + c.Message
			}
			return true, false, why
		}
	}
	return false, false, ""
}

// attemptOf is the attempt a Job of backup b runs, from its name <backup>-<attempt>; 0
// when the name does not fit.
func attemptOf(b *backupv1alpha1.OvercloudBackup, j *batchv1.Job) int32 {
	rest, ok := strings.CutPrefix(j.Name, b.Name+"-")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || n < 1 {
		return 0
	}
	return int32(n)
}

// artifactOf turns the agent's result into status.artifact.
func artifactOf(b *backupv1alpha1.OvercloudBackup, res agent.Result) *backupv1alpha1.BackupArtifact {
	art := &backupv1alpha1.BackupArtifact{
		ClaimName:   b.Spec.Storage.ClaimName,
		Path:        backupPath(b),
		TotalBytes:  res.TotalBytes,
		Size:        units.HumanBytes(res.TotalBytes),
		Method:      b.Spec.Dump.EffectiveMethod(),
		Compression: b.Spec.Dump.EffectiveCompression(),
	}
	for _, f := range res.Files {
		art.UncompressedBytes += f.UncompressedBytes
	}
	for i, f := range res.Files {
		if i == 64 { // the API's bound; manifest.json has every file
			break
		}
		art.Files = append(art.Files, backupv1alpha1.ArtifactFile{Name: f.Name, SizeBytes: f.Bytes, SHA256: f.SHA256})
	}
	if p := res.Position; p != nil {
		art.Position = &backupv1alpha1.GaleraPosition{ClusterUUID: p.ClusterUUID, Seqno: p.Seqno, GTID: clip(p.GTID, 1024)}
	}
	return art
}

// backupPath is the backup's directory inside the volume: <subPath>/<namespace>/<name>.
func backupPath(b *backupv1alpha1.OvercloudBackup) string {
	parts := []string{b.Namespace, b.Name}
	if sp := b.Spec.Storage.SubPath; sp != "" {
		parts = append([]string{sp}, parts...)
	}
	return strings.Join(parts, "/")
}

// startTimeOf is when the first attempt's Job started (its status.startTime, else its
// creation), nil before any Job.
func startTimeOf(first *batchv1.Job) *metav1.Time {
	if first == nil {
		return nil
	}
	t := first.CreationTimestamp
	if first.Status.StartTime != nil {
		t = *first.Status.StartTime
	}
	return ptr.To(t)
}

// clip bounds a message (often quoting an endpoint's words) to a status field's n
// characters: probe.Clip.
func clip(s string, n int) string { return probe.Clip(s, n) }
