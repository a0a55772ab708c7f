package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

const restoreCluster = "39c27411-f0ff-11f1-9d54-e767733f6249"

// restoreObjects are a restore of a verified logical backup of overcloud oc, the
// overcloud probed (controller-1 idle), as decideRestore reads them.
func restoreObjects() (*backupv1alpha1.OvercloudRestore, restoreWorld) {
	rs := &backupv1alpha1.OvercloudRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "openstack", Name: "r"},
		Spec: backupv1alpha1.OvercloudRestoreSpec{
			BackupRef: backupv1alpha1.BackupReference{Name: "b"}, OvercloudRef: backupv1alpha1.OvercloudReference{Name: "oc"},
			Mode: backupv1alpha1.RestoreDatabases, Databases: []string{"nova"},
			CredentialsSecret: &backupv1alpha1.CredentialsSecretReference{Name: "restore-account"},
		},
	}
	b := &backupv1alpha1.OvercloudBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "openstack", Name: "b"},
		Spec: backupv1alpha1.OvercloudBackupSpec{OvercloudRef: backupv1alpha1.OvercloudReference{Name: "oc"},
			Storage: backupv1alpha1.StorageSpec{ClaimName: "backup"}},
		Status: backupv1alpha1.OvercloudBackupStatus{
			Phase: backupv1alpha1.PhaseSucceeded,
			Conditions: []metav1.Condition{{Type: backupv1alpha1.ConditionVerified, Status: metav1.ConditionTrue,
				Reason: backupv1alpha1.ReasonRestored}},
			Artifact: &backupv1alpha1.BackupArtifact{ClaimName: "backup", Path: "openstack/b", Method: backupv1alpha1.DumpLogical,
				Position: &backupv1alpha1.GaleraPosition{ClusterUUID: restoreCluster, Seqno: 42}},
		},
	}
	oc := &backupv1alpha1.Overcloud{
		ObjectMeta: metav1.ObjectMeta{Namespace: "openstack", Name: "oc"},
		Spec: backupv1alpha1.OvercloudSpec{Nodes: []backupv1alpha1.NodeSpec{
			{Name: "controller-0", Address: "10.0.0.11"}, {Name: "controller-1", Address: "10.0.0.12"}, {Name: "controller-2", Address: "10.0.0.13"}},
			Database: backupv1alpha1.DatabaseAccess{CredentialsSecret: backupv1alpha1.CredentialsSecretReference{Name: "backup-account"}}},
		Status: backupv1alpha1.OvercloudStatus{ClusterStateUUID: restoreCluster, BackupFrom: "controller-1"},
	}
	return rs, restoreWorld{backup: b, overcloud: oc, now: time.Date(2026, 12, 5, 23, 59, 0, 0, time.UTC)}
}

// wholeCluster makes the restore a WholeCluster one of a backup made by method, the
// overcloud reached over SSH with Pacemaker.
func wholeCluster(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld, method backupv1alpha1.DumpMethod) {
	rs.Spec.Mode, rs.Spec.Databases = backupv1alpha1.RestoreWholeCluster, nil
	w.backup.Status.Artifact.Method = method
	w.overcloud.Spec.SSH = &backupv1alpha1.SSHAccess{SecretName: "ssh", User: "tripleo-admin"}
	w.overcloud.Spec.Pacemaker = &backupv1alpha1.PacemakerAccess{}
}

func TestDecideRestore(t *testing.T) {
	for name, tc := range map[string]struct {
		change                         func(*backupv1alpha1.OvercloudRestore, *restoreWorld)
		planned                        metav1.ConditionStatus
		reason, confirmReason, message string
		waits, runs                    bool
		// step is in a step's command or description.
		step string
	}{
		"planned, awaiting confirmation": {
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonAwaitingConfirmation,
			message: `set spec.confirm to "oc"`,
		},
		"confirmed: run": {
			change:  func(rs *backupv1alpha1.OvercloudRestore, _ *restoreWorld) { rs.Spec.Confirm = "oc" },
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonConfirmed,
			message: "the plan is confirmed: running it", runs: true,
		},
		"confirmed, WholeCluster of a logical backup: run": {
			change: func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				wholeCluster(rs, w, backupv1alpha1.DumpLogical)
				rs.Spec.Confirm = "oc"
			},
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonConfirmed,
			message: "the plan is confirmed: running it", runs: true,
		},
		"confirmed, WholeCluster of a physical backup: run": {
			change: func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				wholeCluster(rs, w, backupv1alpha1.DumpMariabackup)
				rs.Spec.Confirm = "oc"
			},
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonConfirmed,
			message: "the plan is confirmed: running it", runs: true,
		},
		"WholeCluster, no SSH to the nodes": {
			change: func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				wholeCluster(rs, w, backupv1alpha1.DumpMariabackup)
				w.overcloud.Spec.SSH = nil
			},
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonPlanRefused, message: "has no spec.ssh",
		},
		"WholeCluster, no Pacemaker": {
			change: func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				wholeCluster(rs, w, backupv1alpha1.DumpMariabackup)
				w.overcloud.Spec.Pacemaker = nil
			},
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonPlanRefused, message: "has no spec.pacemaker",
		},
		"WholeCluster, nodes on two SSH ports": {
			change: func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				wholeCluster(rs, w, backupv1alpha1.DumpMariabackup)
				w.overcloud.Spec.Nodes[2].SSHPort = ptr.To(int32(2222))
			},
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonPlanRefused, message: "use 22 and 2222",
		},
		"WholeCluster, a TripleO bundle without its galera image": {
			change: func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				wholeCluster(rs, w, backupv1alpha1.DumpMariabackup)
				w.overcloud.Spec.Pacemaker.GaleraResource = "galera-bundle"
			},
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonPlanRefused, message: "image",
		},
		"Databases, the nodes' free space checked over SSH": {
			change: func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				w.overcloud.Spec.SSH = &backupv1alpha1.SSHAccess{SecretName: "ssh", User: "tripleo-admin"}
			},
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonAwaitingConfirmation,
			step: "df -Pk -- /var/lib/mysql",
		},
		"Databases, no SSH: free space not checked, and the plan says so": {
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonAwaitingConfirmation,
			step: "Free space is not checked: the restore runs its steps on the nodes over SSH, and Overcloud oc has no spec.ssh",
		},
		"confirmed with another name": {
			change:  func(rs *backupv1alpha1.OvercloudRestore, _ *restoreWorld) { rs.Spec.Confirm = "other" },
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonConfirmMismatch,
		},
		"no backup": {
			change:  func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) { w.backup = nil },
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonRestoreBackupNotFound,
		},
		"a backup still running": {
			change: func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				w.backup.Status.Phase = backupv1alpha1.PhaseRunning
			},
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonBackupNotSucceeded,
		},
		"an unverified backup": {
			change: func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				w.backup.Status.Conditions[0].Status, w.backup.Status.Conditions[0].Reason = metav1.ConditionFalse, backupv1alpha1.ReasonTableMismatch
			},
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonBackupUnverified, message: "Verified=False, TableMismatch", waits: true,
		},
		"an undrilled backup": {
			change:  func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) { w.backup.Status.Conditions = nil },
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonBackupUnverified, message: "no restore drill", waits: true,
		},
		"an unverified backup, allowed": {
			change: func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				w.backup.Status.Conditions, rs.Spec.AllowUnverified = nil, true
			},
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonAwaitingConfirmation,
		},
		"no overcloud": {
			change:  func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) { w.overcloud = nil },
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonOvercloudNotFound,
		},
		"a backup of another Galera cluster": {
			change: func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				w.overcloud.Status.ClusterStateUUID = "5ed05ba5-0000-11f1-9d54-e767733f6249"
			},
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonOtherCluster, message: "only into the cluster it was taken from",
		},
		"the overcloud's cluster not known yet": {
			change:  func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) { w.overcloud.Status.ClusterStateUUID = "" },
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonClusterUnknown, waits: true,
		},
		"a backup of the overcloud running": {
			change:  func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) { w.running = []string{"nightly-1"} },
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonBackupInProgress, message: "nightly-1", waits: true,
		},
		"no idle node": {
			change:  func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) { w.overcloud.Status.BackupFrom = "" },
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonNoIdleNode, waits: true,
		},
		"a physical backup, Databases": {
			change: func(_ *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				w.backup.Status.Artifact.Method = backupv1alpha1.DumpMariabackup
			},
			planned: metav1.ConditionFalse, reason: backupv1alpha1.ReasonPlanRefused, message: "needs a logical backup",
		},
		"a physical backup, WholeCluster, a TripleO bundle": {
			change: func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
				wholeCluster(rs, w, backupv1alpha1.DumpMariabackup)
				w.overcloud.Spec.Pacemaker.GaleraResource = "galera-bundle"
				w.overcloud.Spec.Restore = &backupv1alpha1.RestoreAccess{GaleraImage: "registry.example/tripleo/openstack-mariadb:17.1"}
			},
			planned: metav1.ConditionTrue, reason: backupv1alpha1.ReasonPlanned, confirmReason: backupv1alpha1.ReasonAwaitingConfirmation,
		},
	} {
		t.Run(name, func(t *testing.T) {
			rs, w := restoreObjects()
			if tc.change != nil {
				tc.change(rs, &w)
			}
			d := decideRestore(rs, w)
			if d.planned != tc.planned || d.plannedReason != tc.reason || d.confirmedReason != tc.confirmReason {
				t.Fatalf("Planned=%s/%s Confirmed %s (%s), want Planned=%s/%s Confirmed %s", d.planned, d.plannedReason,
					d.confirmedReason, d.message, tc.planned, tc.reason, tc.confirmReason)
			}
			if !strings.Contains(d.message, tc.message) {
				t.Errorf("message %q lacks %q", d.message, tc.message)
			}
			if runs := d.confirmed == metav1.ConditionTrue; runs != tc.runs {
				t.Errorf("runs %v, want %v", runs, tc.runs)
			}
			if (d.wait > 0) != tc.waits {
				t.Errorf("wait %s, want a wait: %v", d.wait, tc.waits)
			}
			if (len(d.steps) > 0) != (tc.planned == metav1.ConditionTrue) {
				t.Errorf("%d steps with Planned=%s", len(d.steps), d.planned)
			}
			if tc.step != "" && !slices.ContainsFunc(d.steps, func(s restoreplan.Step) bool {
				return s.Command == tc.step || strings.Contains(s.Description, tc.step)
			}) {
				t.Errorf("no step says %q: %+v", tc.step, d.steps)
			}
		})
	}
}

// TestOvercloudRestorePlanned: the controller in a manager against a real API server.
// The restore's plan lands in status (Planned, awaiting confirmation, no Job); the
// confirmation is the only change the API accepts; once given, the restore Job runs the
// plan's `agent restore` (the claim read-only, the restore account's Secret), and its
// result (every node proved equal) makes the restore Succeeded. The backup and the
// overcloud get their status by hand here, as their controllers (not running in this
// test) would write it.
func TestOvercloudRestorePlanned(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	runManager(t, ns, managerOptions{restores: true})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rs, w := restoreObjects()
	createWithStatus(ctx, t, c, ns, w.overcloud, w.backup)
	rs.Namespace = ns
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	got := &backupv1alpha1.OvercloudRestore{}
	wait := func(what string, done func() bool) { t.Helper(); waitRestore(ctx, t, c, rs, got, what, done) }
	wait("planned", func() bool { return got.Status.Phase == backupv1alpha1.RestorePlanned })
	c0 := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionConfirmed)
	if c0 == nil || c0.Reason != backupv1alpha1.ReasonAwaitingConfirmation || got.Status.Node != "controller-1" ||
		len(got.Status.Plan) != 7 || got.Status.Plan[2].Name != "check-space" || got.Status.Plan[3].Name != "restore-database-1" {
		t.Fatalf("status %+v", got.Status)
	}
	t.Logf("plan: %d steps; %s: %s", len(got.Status.Plan), got.Status.Plan[3].Name, got.Status.Plan[3].Command)

	changed := got.DeepCopy()
	changed.Spec.Databases = []string{"keystone"}
	if err := c.Update(ctx, changed); err == nil || !strings.Contains(err.Error(), "only spec.confirm can change") {
		t.Fatalf("changing spec.databases after creation: %v, want refused", err)
	}
	got.Spec.Confirm = "oc"
	if err := c.Update(ctx, got); err != nil {
		t.Fatalf("confirming: %v", err)
	}
	wait("running", func() bool { return got.Status.Phase == backupv1alpha1.RestoreRunning && got.Status.JobName != "" })
	job := getJob(t, c, ns, got.Status.JobName)
	pod := job.Spec.Template.Spec
	args := strings.Join(pod.Containers[0].Args, " ")
	for _, want := range []string{"agent restore /backup/openstack/b --node=controller-1 --address=10.0.0.12 --port=3306",
		"--credentials-dir=/etc/overcloud-backup/restore-credentials --database=nova",
		"--prove-node=controller-2=10.0.0.13:3306", "--termination-log=/dev/termination-log"} {
		if !strings.Contains(args, want) {
			t.Errorf("the restore Job's arguments lack %q: %s", want, args)
		}
	}
	if job.Labels[backupv1alpha1.LabelCluster] != restoreCluster || job.Labels[labelComponent] != restoreComponent ||
		!metav1.IsControlledBy(job, got) || *job.Spec.BackoffLimit != 0 {
		t.Errorf("the restore Job's labels, owner, backoff: %v %v %d", job.Labels, job.OwnerReferences, *job.Spec.BackoffLimit)
	}
	var claimRO, secret bool
	for _, v := range pod.Volumes {
		claimRO = claimRO || (v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "backup" && v.PersistentVolumeClaim.ReadOnly)
		secret = secret || (v.Secret != nil && v.Secret.SecretName == "restore-account")
	}
	if !claimRO || !secret {
		t.Errorf("the restore Job mounts the claim read-only: %v, the restore account's Secret: %v", claimRO, secret)
	}

	// The Job ends (a test stands in for the Job controller and the kubelet, see
	// finishJob): the agent's result says every node proved equal.
	res := agent.RestoreResult{Node: "controller-1", Databases: []string{`"nova"`}, Tables: 3, Rows: 1000, Bytes: 4 << 20, Seconds: 2,
		Proofs: []agent.NodeProof{{Node: "controller-0", Equal: true, Tables: 3, Rows: 1000},
			{Node: "controller-1", Equal: true, Tables: 3, Rows: 1000}, {Node: "controller-2", Equal: true, Tables: 3, Rows: 1000}}}
	msg := string(res.Summary())
	finishJobMessage(t, c, job, &msg, true)
	wait("succeeded", func() bool { return got.Status.Phase == backupv1alpha1.RestoreSucceeded })
	if r := got.Status.Result; !meta.IsStatusConditionTrue(got.Status.Conditions, backupv1alpha1.ConditionComplete) ||
		r == nil || r.Rows != 1000 || r.ThroughputMiB != "2.0" || len(r.Proofs) != 3 || !r.Proofs[2].Equal {
		t.Fatalf("after the Job: %+v, result %+v", got.Status, got.Status.Result)
	}
	t.Logf("%s", got.Status.Message)
}

// TestOvercloudRestoreWholeCluster: a confirmed WholeCluster restore of a physical
// backup runs `agent restore-cluster` in its Job, with the plan's words (the galera
// resource, the datadir, the stamp of the restore's creation, every node), the claim
// read-only and the Overcloud's SSH Secret; the agent's steps, as they ran, land in
// status.result.steps. The Job's end is played as the Job controller would (finishJob).
func TestOvercloudRestoreWholeCluster(t *testing.T) {
	ctx, c, rs, got := runConfirmedRestore(t, func(rs *backupv1alpha1.OvercloudRestore, w *restoreWorld) {
		wholeCluster(rs, w, backupv1alpha1.DumpMariabackup)
		w.overcloud.Spec.Restore = &backupv1alpha1.RestoreAccess{Datadir: "/srv/galera/data"}
		rs.Spec.CredentialsSecret = nil // the proof logs in with the backup account
	})
	ns := rs.Namespace
	databases := &backupv1alpha1.OvercloudRestore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-account"},
		Spec: backupv1alpha1.OvercloudRestoreSpec{BackupRef: rs.Spec.BackupRef, OvercloudRef: rs.Spec.OvercloudRef}}
	if err := c.Create(ctx, databases); err == nil || !strings.Contains(err.Error(), "a Databases restore needs credentialsSecret") {
		t.Errorf("a Databases restore without credentialsSecret: %v, want refused by the API", err)
	}
	stamp := got.CreationTimestamp.UTC().Format(restoreplan.StampLayout)
	job := getJob(t, c, ns, got.Status.JobName)
	pod := job.Spec.Template.Spec
	args := strings.Join(pod.Containers[0].Args, " ")
	for _, want := range []string{"agent restore-cluster /backup/openstack/b --resource=galera-clone --datadir=/srv/galera/data",
		"--stamp=" + stamp, "--ssh-user=tripleo-admin", "--ssh-port=22", "--node=controller-0=10.0.0.11",
		"--prove-node=controller-2=10.0.0.13:3306"} {
		if !strings.Contains(args, want) {
			t.Errorf("the restore Job's arguments lack %q: %s", want, args)
		}
	}
	var ssh, account bool
	for _, v := range pod.Volumes {
		ssh = ssh || (v.Secret != nil && v.Secret.SecretName == "ssh")
		account = account || (v.Secret != nil && v.Secret.SecretName == "backup-account")
	}
	if !ssh || !account || got.Status.Node != "controller-0" {
		t.Errorf("the Job mounts the SSH Secret: %v, the backup account's (for the proof): %v; status.node %q, "+
			"want controller-0 (restored onto)", ssh, account, got.Status.Node)
	}
	var aside bool
	for _, st := range got.Status.Plan {
		aside = aside || strings.Contains(st.Command, "/srv/galera/data.before-restore-"+stamp)
	}
	if !aside {
		t.Errorf("no step of the plan keeps the datadir aside as /srv/galera/data.before-restore-%s: %+v", stamp, got.Status.Plan)
	}

	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	res := agent.RestoreResult{Node: "controller-0", Tables: 8, Rows: 120000, Bytes: 200 << 20, Seconds: 40,
		Steps: []agent.StepRecord{
			{Name: "stop-galera", Node: "controller-0", Start: t0, End: t0.Add(20 * time.Second), OK: true},
			{Name: "copy-back", Node: "controller-0", Start: t0.Add(20 * time.Second), End: t0.Add(30 * time.Second), OK: true},
			{Name: "start-galera", Node: "controller-0", Start: t0.Add(30 * time.Second), End: t0.Add(38 * time.Second), OK: true},
		},
		Proofs: []agent.NodeProof{{Node: "controller-0", Equal: true, Tables: 8, Rows: 120000},
			{Node: "controller-1", Equal: true, Tables: 8, Rows: 120000}, {Node: "controller-2", Equal: true, Tables: 8, Rows: 120000}}}
	msg := string(res.Summary())
	finishJobMessage(t, c, job, &msg, true)
	waitRestore(ctx, t, c, rs, got, "succeeded", func() bool { return got.Status.Phase == backupv1alpha1.RestoreSucceeded })
	r := got.Status.Result
	if r == nil || len(r.Steps) != 3 || r.Steps[1].Name != "copy-back" || !r.Steps[1].Succeeded || r.ThroughputMiB != "20.0" ||
		r.Steps[1].CompletionTime == nil || !r.Steps[1].CompletionTime.Time.Equal(t0.Add(30*time.Second)) ||
		!strings.Contains(got.Status.Message, "kept aside") {
		t.Fatalf("after the Job: %s\nresult %+v", got.Status.Message, r)
	}
	t.Logf("%s", got.Status.Message)
}

// TestOvercloudRestoreStepFailed: a restore Job whose agent stopped at a step: the
// restore is Failed, the condition names the step and says what to do.
func TestOvercloudRestoreStepFailed(t *testing.T) {
	ctx, c, rs, got := runConfirmedRestore(t, nil)
	ns := rs.Namespace
	res := agent.RestoreResult{Node: "controller-1", Error: "restoring database 1 of 1: the client: exit status 1: server error 1064 (42000) at line 5051 of the dump"}
	msg := string(res.Summary())
	finishJobMessage(t, c, getJob(t, c, ns, got.Status.JobName), &msg, false)
	waitRestore(ctx, t, c, rs, got, "failed", func() bool { return got.Status.Phase == backupv1alpha1.RestoreFailed })
	f := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionFailed)
	if f == nil || f.Reason != backupv1alpha1.ReasonRestoreStepFailed || !strings.Contains(f.Message, "restoring database 1 of 1") ||
		!strings.Contains(f.Message, "docs/restore.md") {
		t.Fatalf("Failed condition %+v", f)
	}
}

// TestOvercloudRestoreJobKilled: the restore Job's pod is gone without a result (deleted,
// evicted, its node lost: the Job controller then fails the Job, played here as it would,
// see finishJob): the restore is Failed RestoreJobFailed, and says that what it did is
// unknown and what to check; it is not retried.
func TestOvercloudRestoreJobKilled(t *testing.T) {
	ctx, c, rs, got := runConfirmedRestore(t, nil)
	ns := rs.Namespace
	finishJobMessage(t, c, getJob(t, c, ns, got.Status.JobName), nil, false)
	waitRestore(ctx, t, c, rs, got, "failed", func() bool { return got.Status.Phase == backupv1alpha1.RestoreFailed })
	f := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionFailed)
	if f == nil || f.Reason != backupv1alpha1.ReasonRestoreJobFailed || !strings.Contains(f.Message, "what it did is unknown") ||
		!strings.Contains(f.Message, "check the restored databases on every node") || got.Status.CompletionTime == nil {
		t.Fatalf("Failed condition %+v, status %+v", f, got.Status)
	}
	if u := unknownOutcome(&backupv1alpha1.OvercloudRestore{
		Spec: backupv1alpha1.OvercloudRestoreSpec{Mode: backupv1alpha1.RestoreWholeCluster},
		Status: backupv1alpha1.OvercloudRestoreStatus{Plan: []backupv1alpha1.RestoreStep{
			{Name: "start-galera", Command: "sudo -n crm_resource --resource galera-bundle --meta --set-parameter target-role --parameter-value Started"}}},
	}); !strings.Contains(u, "GALERA MAY BE LEFT STOPPED") || !strings.Contains(u, "--resource galera-bundle") {
		t.Errorf("a WholeCluster Job killed says %q: want galera's state said plainly and the command to start it", u)
	}
	if jobs := jobsNamed(t, c, ns, backupv1alpha1.LabelRestore, rs.Name); jobs != 1 {
		t.Errorf("%d restore Jobs, want the one that failed (a failed restore is not retried)", jobs)
	}
}

// jobsNamed counts the Jobs of the namespace with the label.
func jobsNamed(t *testing.T, c client.Client, ns, label, value string) int {
	t.Helper()
	jobs := &batchv1.JobList{}
	if err := c.List(context.Background(), jobs, client.InNamespace(ns), client.MatchingLabels{label: value}); err != nil {
		t.Fatal(err)
	}
	return len(jobs.Items)
}

// runConfirmedRestore runs the restore controller in a new namespace, creates there the
// restore of restoreObjects (changed by change, when given), confirmed, its backup and
// overcloud with their status, and waits until its Job is created. The context ends with
// the test.
func runConfirmedRestore(t *testing.T, change func(*backupv1alpha1.OvercloudRestore, *restoreWorld)) (
	context.Context, client.Client, *backupv1alpha1.OvercloudRestore, *backupv1alpha1.OvercloudRestore,
) {
	t.Helper()
	c := newClient(t)
	ns := newNamespace(t, c)
	runManager(t, ns, managerOptions{restores: true})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	rs, w := restoreObjects()
	if change != nil {
		change(rs, &w)
	}
	createWithStatus(ctx, t, c, ns, w.overcloud, w.backup)
	rs.Namespace, rs.Spec.Confirm = ns, "oc"
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	got := &backupv1alpha1.OvercloudRestore{}
	waitRestore(ctx, t, c, rs, got, "running", func() bool { return got.Status.JobName != "" })
	return ctx, c, rs, got
}

// createWithStatus creates the objects in ns, then writes their status as given, as
// their controllers (not running in these tests) would.
func createWithStatus(ctx context.Context, t *testing.T, c client.Client, ns string, oc *backupv1alpha1.Overcloud, b *backupv1alpha1.OvercloudBackup) {
	t.Helper()
	ocStatus, bStatus := oc.Status, b.Status
	oc.Namespace, b.Namespace = ns, ns
	for _, o := range []client.Object{oc, b} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	oc.Status, b.Status = ocStatus, bStatus
	for i := range b.Status.Conditions {
		b.Status.Conditions[i].LastTransitionTime = metav1.Now()
	}
	for _, o := range []client.Object{oc, b} {
		if err := c.Status().Update(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// waitRestore reads the restore into got until done says so, or fails the test when ctx ends.
func waitRestore(ctx context.Context, t *testing.T, c client.Client, rs, got *backupv1alpha1.OvercloudRestore, what string, done func() bool) {
	t.Helper()
	for ctx.Err() == nil {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rs), got); err == nil && done() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: status %+v", what, got.Status)
}

// TestBackupWaitsForRestore: while a restore Job runs on the sandbox's Galera cluster (its
// cluster label, as the restore controller sets it), a backup of that cluster waits with
// reason RestoreRunning, naming the restore; it runs once the restore Job has ended. The
// restore Job is created here as the restore controller creates it, and ended as the Job
// controller would end it (envtest runs neither the Job controller nor pods).
func TestBackupWaitsForRestore(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	startManager(t, ns)

	db := sb.Open(t, sb.NodeAddr(0))
	var name, cluster string
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_state_uuid'").Scan(&name, &cluster); err != nil || len(cluster) != 36 {
		t.Fatalf("reading the cluster's state UUID: %q %v", cluster, err)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restore-r1", Labels: map[string]string{
			labelManagedBy: managedBy, labelComponent: restoreComponent,
			backupv1alpha1.LabelCluster: cluster, backupv1alpha1.LabelRestore: "r1",
		}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: agentContainer, Image: testImage}},
		}}},
	}
	create(t, c, job)

	b := newBackup(sb, ns, "during-restore")
	create(t, c, b)
	key := client.ObjectKeyFromObject(b)
	got := waitBackup(t, c, key, "waiting for the restore", hasCondition(backupv1alpha1.ConditionNodeSelected,
		metav1.ConditionFalse, backupv1alpha1.ReasonRestoreRunning))
	msg := condition(got, backupv1alpha1.ConditionNodeSelected).Message
	if !strings.Contains(msg, "restore "+ns+"/r1") || !strings.Contains(msg, cluster) || len(jobsOf(t, c, got)) != 0 ||
		got.Status.Phase != backupv1alpha1.PhasePending {
		t.Fatalf("the backup waits with %q (want the restore and the cluster named), phase %s, %d Jobs", msg, got.Status.Phase, len(jobsOf(t, c, got)))
	}
	t.Logf("%s", msg)
	finishJobMessage(t, c, job, nil, true)
	waitBackup(t, c, key, "running once the restore ended", running(1))
}
