//go:build e2e

package e2e_test

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// drillTimeout bounds one restore drill of the e2e dataset in the cluster.
const drillTimeout = 4 * time.Minute

// TestScheduleVerified: a BackupSchedule with restore drills at most once a day, keeping one
// successful backup. Run-now "1" is a real backup whose real drill Job (the operator's
// image, a scratch mariadbd in its pod, the claim read-only) makes it Verified=True with the
// tables and rows it restored; the Overcloud's status, the schedule's status and the
// manager's metrics name it, and the drill's Job is gone (its scratch space with it).
// Run-now "2" succeeds without a drill (within the day), and the history limit of one would
// prune the first: it stays, the newest verified backup.
func TestScheduleVerified(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	sb.ClientSession(t)
	ns := k.namespace(t, "verify")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)
	scrapeMetrics := k.metricsReader(t, ns)

	tmpl := controllerBackup(sb, ns, "template", accessHTTP, "nova")
	tmpl.Spec.DeletionPolicy = backupv1alpha1.DeletionDelete
	k.createOvercloud(t, tmpl.Overcloud)
	s := &backupv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "verified", Labels: map[string]string{e2eLabel: "true"}},
		Spec: backupv1alpha1.BackupScheduleSpec{
			Schedule:                      "@yearly",
			SuccessfulBackupsHistoryLimit: ptr.To(int32(1)),
			Verification:                  &backupv1alpha1.ScheduleVerificationSpec{Policy: backupv1alpha1.VerifyInterval},
			BackupTemplate: backupv1alpha1.BackupTemplate{
				Metadata: &backupv1alpha1.BackupTemplateMetadata{Labels: map[string]string{e2eLabel: "true"}},
				Spec:     tmpl.Spec,
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	if err := k.c.Create(ctx, s); err != nil {
		t.Fatalf("creating BackupSchedule %s: %v", s.Name, err)
	}

	first := k.runNow(t, s, "1", secrets)
	if !first.WantsDrill() {
		t.Fatalf("the first backup of the day has no drill: %+v", first.Spec.Verification)
	}
	verified := k.waitVerified(ctx, t, first, secrets)
	v := verified.Status.Verification
	if v.Tables < 1 || v.Rows < 1 || v.ServerVersion == "" || v.CompletionTime == nil || len(v.Mismatches) != 0 {
		t.Errorf("status.verification %+v: want the tables and rows restored, the scratch server's version", v)
	}
	t.Logf("Verified: %s (%d tables, %d rows, %d users, server %s, %v)", meta.FindStatusCondition(verified.Status.Conditions,
		backupv1alpha1.ConditionVerified).Message, v.Tables, v.Rows, v.Users, v.ServerVersion, v.Duration)
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: first.DrillJobName()}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Errorf("the finished drill's Job is still there (its scratch emptyDir with it): %v", err)
	}

	oc := &backupv1alpha1.Overcloud{}
	k.poll(withTimeout(t, ctx, time.Minute), t, "the Overcloud's lastVerifiedBackup", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(tmpl.Overcloud), oc); err != nil {
			return false, err
		}
		return oc.Status.LastVerifiedBackup != nil && oc.Status.LastVerifiedBackup.Name == first.Name, nil
	})
	k.poll(withTimeout(t, ctx, time.Minute), t, "the schedule's lastVerifiedBackup", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err
		}
		return s.Status.LastVerifiedBackup == first.Name && s.Status.LastVerifiedTime != nil, nil
	})
	k.poll(withTimeout(t, ctx, time.Minute), t, "the verification metrics", func(ctx context.Context) (bool, error) {
		body, err := scrapeMetrics(ctx)
		if err != nil {
			return false, nil //nolint:nilerr // the Service or the token not ready yet: scrape again
		}
		all := parseSeries(body)
		at, ok := seriesValue(all, "ocb_backup_last_verified_timestamp_seconds", ocLabels(oc, ""))
		since, ok2 := seriesValue(all, "ocb_schedule_seconds_since_last_verified", map[string]string{"namespace": ns, "schedule": s.Name})
		every, ok3 := seriesValue(all, "ocb_schedule_verification_interval_seconds", map[string]string{"namespace": ns, "schedule": s.Name})
		return ok && ok2 && ok3 && int64(at) == oc.Status.LastVerifiedBackup.Time.Unix() && since < 600 && every >= 24*3600, nil
	})

	// The second backup of the day gets no drill; the limit of one would prune the first,
	// the newest verified: it stays.
	second := k.runNow(t, s, "2", secrets)
	if second.WantsDrill() {
		t.Errorf("the second backup within the day has a drill: %+v", second.Spec.Verification)
	}
	time.Sleep(5 * time.Second) // a negative check: the schedule had its chance to prune
	if names := k.scheduleChildren(ctx, t, s); !slices.Equal(names, []string{first.Name, second.Name}) {
		t.Errorf("the schedule's backups are %v, want %s (the newest verified) kept beside %s", names, first.Name, second.Name)
	}
	if err := k.c.Get(ctx, client.ObjectKeyFromObject(second), second); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(second.Status.Conditions, backupv1alpha1.ConditionVerified); c != nil {
		t.Errorf("the undrilled backup has a Verified condition: %+v", c)
	}
}

// TestPhysicalBackupDrilled: a Mariabackup backup through the deployed controller, from
// the idle node while a client session stays on the active one (the agent holds the node
// still beside mariadb-backup --no-lock and records every table's digest at the copy's
// position; TestDrillPhysical in internal/agent does it under a client's writes), then
// its drill Job in the cluster (the stream extracted, prepared by mariadb-backup, a scratch
// mariadbd on the copy, as uid 65532 on a read-only root filesystem): Verified=True, every
// table equal to what the backup recorded and OK by CHECK TABLE.
func TestPhysicalBackupDrilled(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	sb.ClientSession(t)
	ns := k.namespace(t, "physdrill")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)
	b := controllerBackup(sb, ns, "physical-1", accessSSH) // the whole instance: a physical backup copies it all
	b.Spec.Dump.Method = backupv1alpha1.DumpMariabackup
	k.createOvercloud(t, b.Overcloud)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	run := k.followBackup(t, b.OvercloudBackup, backupTimeout, func() {
		if err := k.c.Create(ctx, b.OvercloudBackup); err != nil {
			t.Fatalf("creating OvercloudBackup %s: %v", b.Name, err)
		}
	})
	if run.final.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Fatalf("backup %s ended %s: %s\nevents:\n%s", b.Name, run.final.Status.Phase, run.final.Status.Message, redactAll(k.events(ns), secrets))
	}
	got := k.waitVerified(ctx, t, b.OvercloudBackup, secrets)
	c := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionVerified)
	if v := got.Status.Verification; c.Reason != backupv1alpha1.ReasonRestored || v.Tables < 1 || v.Rows < 1 || v.Users < 1 {
		t.Fatalf("Verified %s/%s: %s; status.verification %+v: want Restored with the copy's tables, rows and accounts\nevents:\n%s",
			c.Status, c.Reason, c.Message, v, redactAll(k.events(ns), secrets))
	}
	t.Logf("Verified=True/%s: %s", c.Reason, c.Message)
}

// waitVerified waits for the backup's Verified condition to be True.
func (k *cluster) waitVerified(ctx context.Context, t *testing.T, b *backupv1alpha1.OvercloudBackup, secrets []string) *backupv1alpha1.OvercloudBackup {
	t.Helper()
	got := &backupv1alpha1.OvercloudBackup{}
	k.poll(withTimeout(t, ctx, drillTimeout), t, "Verified on "+b.Name, func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(b), got); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionVerified)
		if c != nil && c.Status == metav1.ConditionFalse {
			t.Fatalf("Verified=False on %s: %s: %s\nevents:\n%s", b.Name, c.Reason, c.Message, redactAll(k.events(b.Namespace), secrets))
		}
		return c != nil && c.Status == metav1.ConditionTrue, nil
	})
	return got
}
