package controllers

import (
	"context"
	"encoding/json"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// TestRestoreDrillLifecycle: once a backup succeeds, the controller creates its drill Job
// and records the drill's outcome in the Verified condition and status.verification,
// without touching Complete; then deletes the finished drill Job (its scratch emptyDir
// goes with its pod). A mismatch is Verified=False naming the table; a drill Job that
// fails without a result is DrillFailed; drill Disabled makes no Job and no condition.
// envtest runs no kubelet and no Job controller: finishJobMessage plays them.
func TestRestoreDrillLifecycle(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	oc := newOvercloud(sb, ns, testOvercloud, 0)
	runManager(t, ns, managerOptions{backups: true, overclouds: true})

	// backupThenDrill takes a backup to Complete and returns it with its drill's Job.
	backupThenDrill := func(t *testing.T, name string) (*backupv1alpha1.OvercloudBackup, *batchv1.Job) {
		t.Helper()
		b := newBackup(sb, ns, name)
		b.Spec.Verification = nil // the default: a drill
		create(t, c, b)
		key := client.ObjectKeyFromObject(b)
		got := waitBackup(t, c, key, "running attempt 1", running(1))
		res := okResult(got, got.Status.SelectedNode)
		res.Files[0].UncompressedBytes, res.Files[1].UncompressedBytes = 10<<20, 4096
		finishJob(t, c, getJob(t, c, ns, got.JobName(1)), res, true)
		got = waitBackup(t, c, key, "Verified Unknown/DrillPending", hasCondition(backupv1alpha1.ConditionVerified, metav1.ConditionUnknown, backupv1alpha1.ReasonDrillPending))
		if got.Status.Artifact.UncompressedBytes != 10<<20+4096 {
			t.Errorf("artifact.uncompressedBytes %d", got.Status.Artifact.UncompressedBytes)
		}
		if v := got.Status.Verification; v == nil || v.JobName != name+"-drill" || v.StartTime == nil {
			t.Errorf("status.verification %+v", v)
		}
		return got, getJob(t, c, ns, name+"-drill")
	}
	drillMessage := func(res agent.DrillResult) *string {
		b, _ := json.Marshal(res)
		s := string(b)
		return &s
	}
	stillComplete := func(t *testing.T, b *backupv1alpha1.OvercloudBackup) {
		t.Helper()
		if b.Status.Phase != backupv1alpha1.PhaseSucceeded || condition(b, backupv1alpha1.ConditionComplete).Status != metav1.ConditionTrue ||
			condition(b, backupv1alpha1.ConditionReady).Status != metav1.ConditionTrue || condition(b, backupv1alpha1.ConditionFailed).Status == metav1.ConditionTrue {
			t.Errorf("the drill changed the backup's outcome: phase %s, conditions %+v", b.Status.Phase, b.Status.Conditions)
		}
	}
	jobGone := func(t *testing.T, name string) {
		t.Helper()
		waitGone(t, c, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}

	t.Run("verified", func(t *testing.T) {
		b, job := backupThenDrill(t, "good")
		if job.Spec.Template.Spec.Containers[0].Args[2] != "/backup/"+ns+"/good" || !metav1.IsControlledBy(job, b) {
			t.Errorf("drill Job %v, args %q", job.OwnerReferences, job.Spec.Template.Spec.Containers[0].Args)
		}
		finishJobMessage(t, c, job, drillMessage(agent.DrillResult{Message: "restored: 3 tables, 5021 rows, all equal to what the backup recorded",
			Tables: 3, Rows: 5021, Users: 4, ServerVersion: "10.11.14-MariaDB", Seconds: 12.4}), true)
		got := waitBackup(t, c, client.ObjectKeyFromObject(b), "Verified", hasCondition(backupv1alpha1.ConditionVerified, metav1.ConditionTrue, backupv1alpha1.ReasonRestored))
		v := got.Status.Verification
		if v.Tables != 3 || v.Rows != 5021 || v.Users != 4 || v.ServerVersion != "10.11.14-MariaDB" || v.CompletionTime == nil ||
			v.Duration == nil || v.Duration.Seconds() != 12 {
			t.Errorf("status.verification %+v", v)
		}
		stillComplete(t, got)
		jobGone(t, job.Name)
		waitEvents(t, c, ns, "good", backupv1alpha1.ReasonDrillPending, backupv1alpha1.ConditionVerified)
		got2 := &backupv1alpha1.Overcloud{}
		waitObject(t, c, client.ObjectKeyFromObject(oc), got2, "Overcloud", "lastVerifiedBackup good", waitTimeout, func() bool {
			return got2.Status.LastVerifiedBackup != nil && got2.Status.LastVerifiedBackup.Name == "good"
		}, func() any { return got2.Status.LastVerifiedBackup })
	})
	t.Run("table mismatch", func(t *testing.T) {
		b, job := backupThenDrill(t, "tampered")
		finishJobMessage(t, c, job, drillMessage(agent.DrillResult{Reason: agent.ReasonTableMismatch,
			Message:    `1 of 3 tables differ from what the backup recorded: "nova"."instances": 1021 rows, the backup recorded 1022`,
			Mismatches: []string{`"nova"."instances": 1021 rows, the backup recorded 1022`}, Tables: 3, Rows: 5020}), false)
		got := waitBackup(t, c, client.ObjectKeyFromObject(b), "Verified False/TableMismatch", hasCondition(backupv1alpha1.ConditionVerified, metav1.ConditionFalse, backupv1alpha1.ReasonTableMismatch))
		if m := got.Status.Verification.Mismatches; len(m) != 1 || m[0] != `"nova"."instances": 1021 rows, the backup recorded 1022` {
			t.Errorf("mismatches %q", m)
		}
		stillComplete(t, got)
		jobGone(t, job.Name)
		waitEvents(t, c, ns, "tampered", backupv1alpha1.ReasonTableMismatch)
	})
	t.Run("the drill could not run, then the verify annotation runs it again", func(t *testing.T) {
		b, job := backupThenDrill(t, "nodrill")
		finishJobMessage(t, c, job, nil, false)
		key := client.ObjectKeyFromObject(b)
		got := waitBackup(t, c, key, "Verified False/DrillFailed", hasCondition(backupv1alpha1.ConditionVerified, metav1.ConditionFalse, backupv1alpha1.ReasonDrillFailed))
		stillComplete(t, got)
		annotateVerify(t, c, got, "again-1")
		waitBackup(t, c, key, "a new drill for request again-1", func(b *backupv1alpha1.OvercloudBackup) bool {
			v := b.Status.Verification
			return v != nil && v.Request == "again-1" && v.JobName != "" &&
				hasCondition(backupv1alpha1.ConditionVerified, metav1.ConditionUnknown, backupv1alpha1.ReasonDrillPending)(b)
		})
		again := getJob(t, c, ns, "nodrill-drill")
		if again.UID == job.UID || again.Annotations[annotationDrillRequest] != "again-1" {
			t.Fatalf("the drill Job %s (annotations %v) is not a new one for the request", again.UID, again.Annotations)
		}
		finishJobMessage(t, c, again, drillMessage(agent.DrillResult{Message: "restored: 3 tables, 10 rows, all equal", Tables: 3, Rows: 10}), true)
		got = waitBackup(t, c, key, "Verified", hasCondition(backupv1alpha1.ConditionVerified, metav1.ConditionTrue, backupv1alpha1.ReasonRestored))
		if got.Status.Verification.Request != "again-1" || got.Status.Verification.Rows != 10 {
			t.Errorf("status.verification %+v", got.Status.Verification)
		}
		stillComplete(t, got)
	})
	t.Run("drill disabled", func(t *testing.T) {
		b := newBackup(sb, ns, "unverified")
		b.Spec.Verification = &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
		create(t, c, b)
		key := client.ObjectKeyFromObject(b)
		got := waitBackup(t, c, key, "running attempt 1", running(1))
		finishJob(t, c, getJob(t, c, ns, got.JobName(1)), okResult(got, got.Status.SelectedNode), true)
		got = waitBackup(t, c, key, "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
		// The pass that writes Complete creates the drill Job before it writes the status.
		err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "unverified-drill"}, &batchv1.Job{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("a drill Job for a backup with drill Disabled: %v", err)
		}
		if cond := condition(got, backupv1alpha1.ConditionVerified); cond.Type != "" {
			t.Errorf("Verified %+v on a backup with drill Disabled", cond)
		}
		// Asked for by the annotation, it runs all the same.
		annotateVerify(t, c, got, "now")
		waitBackup(t, c, key, "a drill asked for", hasCondition(backupv1alpha1.ConditionVerified, metav1.ConditionUnknown, backupv1alpha1.ReasonDrillPending))
		getJob(t, c, ns, "unverified-drill")
	})
}

// annotateVerify sets the backup's verify annotation, as `kubectl annotate` would.
func annotateVerify(t *testing.T, c client.Client, b *backupv1alpha1.OvercloudBackup, value string) {
	t.Helper()
	patch := client.MergeFrom(b.DeepCopy())
	if b.Annotations == nil {
		b.Annotations = map[string]string{}
	}
	b.Annotations[backupv1alpha1.AnnotationVerify] = value
	if err := c.Patch(context.Background(), b, patch); err != nil {
		t.Fatal(err)
	}
}
