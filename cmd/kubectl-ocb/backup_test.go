package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// fakeSession is a session on the fake client holding objs, with the fixed clock; funcs
// play the operator's part (what its controllers would write).
func fakeSession(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) (*session, *options, *bytes.Buffer) {
	t.Helper()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&backupv1alpha1.OvercloudBackup{}, &backupv1alpha1.Overcloud{}, &backupv1alpha1.OvercloudRestore{}).
		WithInterceptorFuncs(funcs).Build()
	var out bytes.Buffer
	return &session{c: c, namespace: "openstack", now: func() time.Time { return now }, poll: time.Millisecond},
		&options{out: &out, output: "table"}, &out
}

func schedule(name string) backupv1alpha1.BackupSchedule {
	s := backupv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: "openstack", Name: name}}
	s.Spec.Schedule = "0 2 * * *"
	s.Spec.BackupTemplate.Spec.OvercloudRef.Name = "overcloud"
	return s
}

func TestChooseSchedule(t *testing.T) {
	one := []backupv1alpha1.BackupSchedule{schedule("nightly")}
	two := []backupv1alpha1.BackupSchedule{schedule("nightly"), schedule("weekly")}
	tests := []struct {
		name      string
		schedules []backupv1alpha1.BackupSchedule
		flag      string
		want      string
		err       string
		usage     bool
	}{
		{name: "the only one", schedules: one, want: "nightly"},
		{name: "the only one, named", schedules: one, flag: "nightly", want: "nightly"},
		{name: "named among two", schedules: two, flag: "weekly", want: "weekly"},
		{name: "two, none named", schedules: two, usage: true,
			err: "Overcloud overcloud has 2 BackupSchedules (nightly, weekly): name one with --schedule"},
		{name: "named, not there", schedules: two, flag: "hourly",
			err: "no BackupSchedule of Overcloud overcloud is named hourly (its schedules: nightly, weekly)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseSchedule(tt.schedules, "overcloud", tt.flag)
			var ue usageError
			switch {
			case tt.err != "":
				if err == nil || err.Error() != tt.err || errors.As(err, &ue) != tt.usage {
					t.Errorf("error %v (usage %v), want %q (usage %v)", err, errors.As(err, &ue), tt.err, tt.usage)
				}
			case err != nil:
				t.Errorf("error %v", err)
			case got.Name != tt.want:
				t.Errorf("%s, want %s", got.Name, tt.want)
			}
		})
	}
}

func TestDirectBackup(t *testing.T) {
	const value = "kubectl-ocb-2026-12-06T10:00:00Z"
	sched := schedule("overcloud")
	tests := []struct {
		name, overcloud, claim, subPath string
		err                             string
	}{
		{name: "claim and sub-path", overcloud: "overcloud", claim: "backups", subPath: "adhoc/daily"},
		{name: "no claim", overcloud: "overcloud", err: "Overcloud overcloud has no BackupSchedule: give the claim to write to with --pvc"},
		{name: "name too long", overcloud: strings.Repeat("o", 44), claim: "backups", err: "would be longer than 52 characters"},
		{name: "sub-path climbing out", overcloud: "overcloud", claim: "backups", subPath: "../etc", err: `--sub-path "../etc"`},
		{name: "absolute sub-path", overcloud: "overcloud", claim: "backups", subPath: "/etc", err: `--sub-path "/etc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := directBackup("openstack", tt.overcloud, value, tt.claim, tt.subPath)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Named as the schedule controller names the run-now child of a schedule
			// named like the Overcloud.
			if b.Name != sched.RunNowName(value) || b.Namespace != "openstack" || b.Spec.OvercloudRef.Name != tt.overcloud ||
				b.Spec.Storage != (backupv1alpha1.StorageSpec{ClaimName: tt.claim, SubPath: tt.subPath}) ||
				b.Annotations[backupv1alpha1.AnnotationRunNow] != value {
				t.Errorf("backup %+v", b)
			}
		})
	}
}

// TestBackupThroughSchedule: with one schedule, the plugin sets its run-now annotation
// and names the child the schedule controller creates (played here by the Patch
// interceptor, as the controller would on seeing the new value).
func TestBackupThroughSchedule(t *testing.T) {
	sched := schedule("nightly")
	oc := overcloud()
	oc.ResourceVersion = ""
	var asked string
	funcs := interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
		if err := c.Patch(ctx, obj, patch, opts...); err != nil {
			return err
		}
		if s, ok := obj.(*backupv1alpha1.BackupSchedule); ok {
			asked = s.Annotations[backupv1alpha1.AnnotationRunNow]
			child := &backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.RunNowName(asked)},
				Spec: s.Spec.BackupTemplate.Spec}
			return c.Create(ctx, child)
		}
		return nil
	}}
	s, o, out := fakeSession(t, funcs, oc, &sched)
	if err := s.backup(context.Background(), o, "overcloud", backupFlags{timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	want := "overcloudbackup.backup.overcloud.io/" + sched.RunNowName(asked) + " created (run-now of backupschedule nightly)\n"
	if asked != requestValue(now) || out.String() != want {
		t.Errorf("run-now %q, output %q; want %q", asked, out.String(), want)
	}
}

// TestBackupWithoutSchedule: no schedule and --pvc: the plugin creates the backup.
func TestBackupWithoutSchedule(t *testing.T) {
	oc := overcloud()
	oc.ResourceVersion = ""
	s, o, out := fakeSession(t, interceptor.Funcs{}, oc)
	if err := s.backup(context.Background(), o, "overcloud", backupFlags{pvc: "backups", timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	name := "overcloud" + backupv1alpha1.RunNowSuffix(requestValue(now))
	b := &backupv1alpha1.OvercloudBackup{}
	if err := s.c.Get(context.Background(), types.NamespacedName{Namespace: "openstack", Name: name}, b); err != nil {
		t.Fatal(err)
	}
	if out.String() != "overcloudbackup.backup.overcloud.io/"+name+" created\n" || b.Spec.Storage.ClaimName != "backups" {
		t.Errorf("output %q, spec %+v", out.String(), b.Spec)
	}
	// Without --pvc, and no schedule: bad usage.
	err := s.backup(context.Background(), o, "overcloud", backupFlags{timeout: time.Minute})
	var ue usageError
	if !errors.As(err, &ue) {
		t.Errorf("without --pvc: %v, want a usage error", err)
	}
}

// TestFollowBackup: the lines printed for a sequence of statuses (each Get returns the
// next, as the controller would have written them), then the summary; a failed backup
// is an error wrapping errFailed.
func TestFollowBackup(t *testing.T) {
	complete := cond(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, "Succeeded", "")
	failed := cond(backupv1alpha1.ConditionFailed, metav1.ConditionTrue, "AttemptsExhausted", "the dump failed: disk full")
	st := func(phase backupv1alpha1.BackupPhase, node string, attempts int32, msg string, conds ...metav1.Condition) backupv1alpha1.OvercloudBackupStatus {
		return backupv1alpha1.OvercloudBackupStatus{Phase: phase, SelectedNode: node, Attempts: attempts, Message: msg, Conditions: conds}
	}
	succeeded := st(backupv1alpha1.PhaseSucceeded, "controller-0", 1, "Backup completed", complete)
	succeeded.Duration = &metav1.Duration{Duration: 42 * time.Second}
	succeeded.Source = &backupv1alpha1.BackupSource{Node: "controller-0", ClusterStateUUID: "c0ffee"}
	succeeded.Artifact = &backupv1alpha1.BackupArtifact{ClaimName: "backups", Path: "openstack/b", Method: backupv1alpha1.DumpLogical,
		Compression: backupv1alpha1.CompressionZstd, TotalBytes: 5 << 20, Files: []backupv1alpha1.ArtifactFile{{Name: "a"}, {Name: "b"}}}
	tests := []struct {
		name   string
		states []backupv1alpha1.OvercloudBackupStatus
		want   string
		failed bool
	}{
		{
			name: "succeeded",
			states: []backupv1alpha1.OvercloudBackupStatus{
				{},
				st(backupv1alpha1.PhasePending, "", 0, "Probing the overcloud"),
				st(backupv1alpha1.PhasePending, "", 0, "Probing the overcloud"),
				st(backupv1alpha1.PhaseRunning, "controller-0", 1, "Job b-1 running"),
				st(backupv1alpha1.PhaseRunning, "controller-0", 1, "Job b-1 running"),
				succeeded,
			},
			want: "" +
				"    0s  Created    waiting for the operator\n" +
				"    0s  Pending    Probing the overcloud\n" +
				"    0s  Running    node controller-0  attempt 1/3  Job b-1 running\n" +
				"    0s  Succeeded  node controller-0  attempt 1/3  Backup completed\n" +
				"\n" +
				"Backup:    openstack/b\n" +
				"Phase:     Succeeded (took 42s)\n" +
				"From:      node controller-0 of cluster c0ffee\n" +
				"Artifact:  2 files, 5.0 MiB (Logical, zstd) in claim backups at openstack/b\n" +
				"Verified:  pending; `kubectl ocb status overcloud` shows its drill's outcome\n",
		},
		{
			name: "failed",
			states: []backupv1alpha1.OvercloudBackupStatus{
				st(backupv1alpha1.PhaseRunning, "controller-2", 3, "Job b-3 running"),
				st(backupv1alpha1.PhaseFailed, "controller-2", 3, "Failed after 3 attempts", failed),
			},
			want: "" +
				"    0s  Running    node controller-2  attempt 3/3  Job b-3 running\n" +
				"    0s  Failed     node controller-2  attempt 3/3  Failed after 3 attempts\n" +
				"\n" +
				"Backup:    openstack/b\n" +
				"Phase:     Failed (took -)\n" +
				"Reason:    the dump failed: disk full\n" +
				"Verified:  -\n",
			failed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backupAt("b", time.Minute, "")
			b.Status = backupv1alpha1.OvercloudBackupStatus{}
			calls := 0
			funcs := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if err := c.Get(ctx, key, obj, opts...); err != nil {
					return err
				}
				if got, ok := obj.(*backupv1alpha1.OvercloudBackup); ok {
					got.Status = tt.states[min(calls, len(tt.states)-1)]
					calls++
				}
				return nil
			}}
			s, o, out := fakeSession(t, funcs, &b)
			err := s.followBackup(context.Background(), o, "b", time.Minute)
			if tt.failed != errors.Is(err, errFailed) || (!tt.failed && err != nil) {
				t.Errorf("error %v, failed %v", err, tt.failed)
			}
			if out.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", out.String(), tt.want)
			}
		})
	}
}

// TestFollowBackupTimeout: a backup that does not finish is an error naming the wait and
// its last message.
func TestFollowBackupTimeout(t *testing.T) {
	b := backupAt("b", time.Minute, backupv1alpha1.PhasePending)
	b.Status.Message = "No idle node: waiting"
	s, o, _ := fakeSession(t, interceptor.Funcs{}, &b)
	err := s.followBackup(context.Background(), o, "b", 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out after 20ms waiting for backup b to finish (last message: No idle node: waiting)") {
		t.Errorf("error %v", err)
	}
}
