//go:build e2e

package e2e_test

// The Overcloud resource through the deployed manager: two namespaces whose Overclouds
// name the same Galera cluster never run two backups at once, and an Overcloud watched
// in-cluster answers "could a backup run now, and from where" in its status and columns.

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// TestTwoNamespacesOneGaleraCluster: two tenants, each with its own Overcloud object,
// Secrets and claim, all naming the same sandbox nodes, create a backup at the same
// moment. The queue is keyed by the cluster's identity as probed, so one backup waits
// (Queued, naming the cluster) until the other's Job is over: their Jobs never overlap
// (never two nodes of one cluster desynced), and both succeed.
func TestTwoNamespacesOneGaleraCluster(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	const db = "ocb_e2e_two_ns"
	// A database whose dump outlasts the second backup's first probe: 48 MiB through an
	// agent held to a tenth of a CPU.
	schema(t, sb, db, 0, blobStatements(killedMiB)...)

	backups := make([]e2eBackup, 0, 2)
	for _, prefix := range []string{"tenant-a", "tenant-b"} {
		ns := k.namespace(t, prefix)
		k.controllerSecrets(t, sb, ns)
		k.claim(t, ns)
		b := controllerBackup(sb, ns, "shared-1", accessSSH, db)
		b.Spec.Dump.Users = backupv1alpha1.UsersExclude
		b.Spec.Job.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(killedCPU), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(killedCPU), corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
		backups = append(backups, b)
	}
	for _, b := range backups {
		k.createBackup(t, b) // its Overcloud, then the backup
	}

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	final := make([]*backupv1alpha1.OvercloudBackup, len(backups))
	queued := map[int]string{} // backup index -> the Queued message seen
	k.poll(ctx, t, "both backups finished", func(ctx context.Context) (bool, error) {
		done := 0
		for i, b := range backups {
			got := &backupv1alpha1.OvercloudBackup{}
			if err := k.c.Get(ctx, client.ObjectKeyFromObject(b.OvercloudBackup), got); err != nil {
				return false, nil //nolint:nilerr // a transient read error: poll again
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionNodeSelected); c != nil &&
				c.Reason == backupv1alpha1.ReasonQueued {
				queued[i] = c.Message
			}
			if got.Status.Phase == backupv1alpha1.PhaseSucceeded || got.Status.Phase == backupv1alpha1.PhaseFailed {
				final[i] = got
				done++
			}
		}
		return done == len(backups), nil
	})
	uuid := ""
	for _, got := range final {
		if got.Status.Phase != backupv1alpha1.PhaseSucceeded {
			t.Fatalf("backup %s/%s ended %s: %s\nevents:\n%s", got.Namespace, got.Name, got.Status.Phase, got.Status.Message,
				k.events(got.Namespace))
		}
		if got.Status.Source == nil || got.Status.Source.ClusterStateUUID == "" {
			t.Fatalf("%s/%s records no source cluster: %+v", got.Namespace, got.Name, got.Status.Source)
		}
		if uuid != "" && got.Status.Source.ClusterStateUUID != uuid {
			t.Errorf("the two backups recorded clusters %s and %s", uuid, got.Status.Source.ClusterStateUUID)
		}
		uuid = got.Status.Source.ClusterStateUUID
		t.Logf("%s/%s: node %s, cluster %s", got.Namespace, got.Name, got.Status.SelectedNode, uuid)
	}
	if len(queued) == 0 {
		t.Errorf("neither backup was ever Queued: the test did not make them overlap")
	}
	for i, msg := range queued {
		if !strings.Contains(msg, "Queued") && !strings.Contains(msg, "one backup per") {
			t.Errorf("%s: Queued message %q", backups[i].Namespace, msg)
		}
		if strings.Contains(msg, "same Galera cluster") && !strings.Contains(msg, uuid) {
			t.Errorf("%s: Queued message %q does not name the cluster %s", backups[i].Namespace, msg, uuid)
		}
	}

	// Their Jobs never overlapped: one was created after the other completed.
	type span struct {
		ns            string
		created, done time.Time
	}
	spans := make([]span, 0, len(backups))
	for _, b := range backups {
		jobs := &batchv1.JobList{}
		if err := k.c.List(ctx, jobs, client.InNamespace(b.Namespace)); err != nil {
			t.Fatal(err)
		}
		if len(jobs.Items) != 1 {
			t.Fatalf("%s: %d Jobs, want 1", b.Namespace, len(jobs.Items))
		}
		j := jobs.Items[0]
		if j.Status.CompletionTime == nil {
			t.Fatalf("%s: Job %s has no completion time", b.Namespace, j.Name)
		}
		spans = append(spans, span{b.Namespace, j.CreationTimestamp.Time, j.Status.CompletionTime.Time})
	}
	first, second := spans[0], spans[1]
	if second.created.Before(first.created) {
		first, second = second, first
	}
	if second.created.Before(first.done) {
		t.Errorf("Jobs overlapped: %s's ran %s..%s, %s's was created at %s", first.ns,
			first.created.Format(time.RFC3339), first.done.Format(time.RFC3339), second.ns, second.created.Format(time.RFC3339))
	}
	t.Logf("%s's Job %s..%s; %s's created %v after", first.ns, first.created.Format("15:04:05"),
		first.done.Format("15:04:05"), second.ns, second.created.Sub(first.done).Round(time.Second))
}

// TestOvercloudWatchedInCluster: an Overcloud watched by the deployed manager every 10 s
// says Ready with the node a backup would use (not the node the client is on), 3/3
// synced, the cluster's identity, and `kubectl get overcloud` shows its columns.
func TestOvercloudWatchedInCluster(t *testing.T) {
	k := connect(t)
	kubectl := kubectlPath(t)
	sb := lockSandbox(t)
	_, active := sb.ClientSession(t)
	ns := k.namespace(t, "watch")
	secrets := k.controllerSecrets(t, sb, ns)
	b := controllerBackup(sb, ns, "watched", accessSSH)
	oc := b.Overcloud
	oc.Spec.Monitoring = &backupv1alpha1.MonitoringSpec{Interval: &metav1.Duration{Duration: 10 * time.Second}}
	k.createOvercloud(t, oc)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got := &backupv1alpha1.Overcloud{}
	k.poll(ctx, t, "the Overcloud Ready with the active node known", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(oc), got); err != nil {
			return false, nil //nolint:nilerr // poll again
		}
		return meta.IsStatusConditionTrue(got.Status.Conditions, backupv1alpha1.ConditionReady) && got.Status.ActiveNode == active, nil
	})
	st := got.Status
	if st.BackupFrom == "" || st.BackupFrom == active || st.Synced != "3/3" || st.ClusterSize != 3 || len(st.ClusterStateUUID) != 36 ||
		len(st.Nodes) != 3 || st.LastProbeTime == nil {
		t.Errorf("status: %+v", st)
	}
	line := kubectlOut(t, kubectl, "-n", ns, "get", "overcloud", oc.Name, "--no-headers")
	if f := strings.Fields(line); len(f) < 5 || f[0] != oc.Name || f[1] != "True" || f[2] != active || f[3] != st.BackupFrom || f[4] != "3/3" {
		t.Errorf("kubectl get overcloud: %q; want NAME READY ACTIVE BACKUP-FROM SYNCED: %s True %s %s 3/3", line, oc.Name, active, st.BackupFrom)
	}
	t.Logf("kubectl get overcloud: %s", strings.TrimSpace(line))
	shown := line + " " + jsonOf(t, st) + " " + k.events(ns)
	for _, v := range secrets {
		if strings.Contains(shown, v) {
			t.Fatal("a secret value is in the Overcloud's columns, status or events")
		}
	}
}
