package controllers

// spec.job held to the administrator's policy (internal/jobpolicy) by the OvercloudBackup
// controller, against the real API server with canned probes: a refused backup fails at
// once, before its references are read; a backup that ran under a wider policy is not
// cleaned up under a narrower one until an administrator allows it.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/jobpolicy"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// TestJobPolicyBeforeReferences: a backup whose spec.job the policy refuses fails for
// good with NotAllowed, naming the field, though its Overcloud does not exist: it does
// not wait for references (nor read their Secrets) that could never make it run.
func TestJobPolicyBeforeReferences(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	fake := &fakeProber{reports: []probe.Report{report("ctl-1")}}
	runManager(t, ns, managerOptions{backups: true, prober: fake})
	tableRefs(t, c, ns, false)
	b := newBackup(nil, ns, "refused")
	b.Spec.Job = &backupv1alpha1.JobSpec{Image: "evil.example/miner:1"}
	create(t, c, b)
	got := waitBackup(t, c, client.ObjectKeyFromObject(b), "Failed NotAllowed",
		hasCondition(backupv1alpha1.ConditionFailed, metav1.ConditionTrue, backupv1alpha1.ReasonNotAllowed))
	if m := condition(got, backupv1alpha1.ConditionFailed).Message; !strings.Contains(m, "spec.job.image") {
		t.Errorf("Failed message %q does not name the field", m)
	}
	if r := condition(got, backupv1alpha1.ConditionReferencesResolved).Reason; r != "" {
		t.Errorf("ReferencesResolved %s: the references were looked at for a refused backup", r)
	}
	if probes, _ := fake.counts(); probes != 0 || len(jobsOf(t, c, got)) != 0 {
		t.Errorf("%d probes and %d Jobs for a refused backup", probes, len(jobsOf(t, c, got)))
	}
	waitEvents(t, c, ns, b.Name, "BackupFailed")
}

// TestCleanupJobPolicy: a backup with deletionPolicy Delete ran on its node's network
// while its namespace was privileged; the manager is restarted with the namespace no
// longer privileged, and the backup deleted. The cleanup Job, built from the same
// spec.job, is not created: the data and the finalizer stay, the status and an event
// say why. Restarted with the namespace privileged again, the manager cleans up.
func TestCleanupJobPolicy(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	ctx := context.Background()
	fake := &fakeProber{reports: []probe.Report{report("ctl-1")}}
	privileged := jobpolicy.Policy{PrivilegedNamespaces: []string{ns}}
	stop := runManager(t, ns, managerOptions{backups: true, prober: fake, policy: privileged})
	tableRefs(t, c, ns, true)
	b := newBackup(nil, ns, "hostnet")
	b.Spec.DeletionPolicy = backupv1alpha1.DeletionDelete
	b.Spec.Job = &backupv1alpha1.JobSpec{HostNetwork: true}
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "running", running(1))
	finishJob(t, c, getJob(t, c, ns, got.JobName(1)), okResult(got, got.Status.SelectedNode), true)
	got = waitBackup(t, c, key, "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
	stop()

	stop = runManager(t, ns, managerOptions{backups: true, prober: fake})
	if err := c.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	held := waitBackup(t, c, key, "DataDeleted NotAllowed",
		hasCondition(backupv1alpha1.ConditionDataDeleted, metav1.ConditionFalse, backupv1alpha1.ReasonNotAllowed))
	if m := condition(held, backupv1alpha1.ConditionDataDeleted).Message; !strings.Contains(m, "spec.job.hostNetwork") ||
		!strings.Contains(m, "data is kept") {
		t.Errorf("DataDeleted message %q", m)
	}
	if !controllerutil.ContainsFinalizer(held, backupv1alpha1.FinalizerCleanup) {
		t.Errorf("finalizers %v: the data's finalizer went", held.Finalizers)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: held.CleanupJobName()}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Errorf("a cleanup Job the policy refuses: %v", err)
	}
	waitEvents(t, c, ns, b.Name, backupv1alpha1.ReasonCleanupFailed)
	stop()

	runManager(t, ns, managerOptions{backups: true, prober: fake, policy: privileged})
	job := waitJob(t, c, ns, held.CleanupJobName())
	if !job.Spec.Template.Spec.HostNetwork {
		t.Errorf("the cleanup pod is not placed as spec.job says")
	}
	removed, err := json.Marshal(agent.RemoveResult{Removed: []string{ns + "/hostnet"}, Bytes: 1536*1024 + 512})
	if err != nil {
		t.Fatal(err)
	}
	msg := string(removed)
	finishJobMessage(t, c, job, &msg, true)
	waitGone(t, c, held)
}
