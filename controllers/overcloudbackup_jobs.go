package controllers

// Job and pod I/O of the OvercloudBackup controller: creating or adopting the Job of
// an attempt, finding the live one, and reading the agent's result from its pod's
// termination message; and which Jobs and Pods the manager caches.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

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
