package main

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

func TestRestoreFor(t *testing.T) {
	b := backupAt("nightly-1", time.Hour, backupv1alpha1.PhaseSucceeded)
	creds := &backupv1alpha1.CredentialsSecretReference{Name: "restore-admin"}
	tests := []struct {
		name  string
		flags restoreFlags
		want  backupv1alpha1.OvercloudRestoreSpec
		named string // the restore's name; generateName when ""
		err   string
	}{
		{name: "databases", flags: restoreFlags{mode: "Databases", databases: []string{"nova", "glance"}, users: "Include",
			credentialsSecret: "restore-admin"},
			want: backupv1alpha1.OvercloudRestoreSpec{Mode: backupv1alpha1.RestoreDatabases, Databases: []string{"nova", "glance"},
				Users: backupv1alpha1.UsersInclude, CredentialsSecret: creds}},
		{name: "whole cluster, unverified, named", flags: restoreFlags{mode: "WholeCluster", allowUnverified: true, name: "dr-1"},
			want: backupv1alpha1.OvercloudRestoreSpec{Mode: backupv1alpha1.RestoreWholeCluster, AllowUnverified: true}, named: "dr-1"},
		{name: "bad mode", flags: restoreFlags{mode: "Everything"}, err: `--mode "Everything": want Databases or WholeCluster`},
		{name: "bad users", flags: restoreFlags{mode: "Databases", users: "all", credentialsSecret: "x"}, err: `--users "all": want Include or Exclude`},
		{name: "databases without credentials", flags: restoreFlags{mode: "Databases"}, err: "a Databases restore needs --credentials-secret"},
		{name: "whole cluster with databases", flags: restoreFlags{mode: "WholeCluster", databases: []string{"nova"}},
			err: "--databases and --users are for the Databases mode"},
		{name: "empty database", flags: restoreFlags{mode: "Databases", databases: []string{""}, credentialsSecret: "x"},
			err: `--databases: "" is not a database name`},
		{name: "long database", flags: restoreFlags{mode: "Databases", databases: []string{strings.Repeat("d", 65)}, credentialsSecret: "x"},
			err: "is not a database name (1 to 64 characters)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := restoreFor(&b, tt.flags)
			if tt.err != "" {
				var ue usageError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ue) {
					t.Errorf("error %v, want the usage error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.BackupRef = backupv1alpha1.BackupReference{Name: "nightly-1"}
			tt.want.OvercloudRef = backupv1alpha1.OvercloudReference{Name: "overcloud"}
			if !reflect.DeepEqual(r.Spec, tt.want) {
				t.Errorf("spec %+v, want %+v", r.Spec, tt.want)
			}
			wantGenerate := ""
			if tt.named == "" {
				wantGenerate = "nightly-1-plan-"
			}
			if r.Name != tt.named || r.GenerateName != wantGenerate || r.Namespace != "openstack" || r.Spec.Confirm != "" {
				t.Errorf("name %q, generateName %q, namespace %q, confirm %q", r.Name, r.GenerateName, r.Namespace, r.Spec.Confirm)
			}
		})
	}
}

// TestRestorePlan: the plan the controller writes (played by the Get interceptor) is
// printed with the confirm command; a refused plan is an error wrapping errFailed. The
// restore is never confirmed.
func TestRestorePlan(t *testing.T) {
	planned := backupv1alpha1.OvercloudRestoreStatus{
		Phase: backupv1alpha1.RestorePlanned, Node: "controller-0", Databases: []string{"nova"},
		Conditions: []metav1.Condition{cond(backupv1alpha1.ConditionPlanned, metav1.ConditionTrue, "Planned", "")},
		Plan: []backupv1alpha1.RestoreStep{
			{Name: "load", Node: "controller-0", Description: "Load database nova from the backup", Command: "mariadb nova < nova.sql"},
			{Name: "prove", Description: "Compare every node's checksums"},
		},
	}
	refused := backupv1alpha1.OvercloudRestoreStatus{
		Phase: backupv1alpha1.RestorePending,
		Conditions: []metav1.Condition{cond(backupv1alpha1.ConditionPlanned, metav1.ConditionFalse, "NotVerified",
			"backup nightly-1 is not verified: its drill did not pass")},
	}
	tests := []struct {
		name   string
		status backupv1alpha1.OvercloudRestoreStatus
		want   string
		err    string
	}{
		{name: "planned", status: planned, want: "" +
			"overcloudrestore.backup.overcloud.io/dr-1 created (not confirmed)\n" +
			"\n" +
			"Restore:   openstack/dr-1 (Databases) of backup nightly-1 into Overcloud overcloud\n" +
			"Node:      controller-0\n" +
			"Databases: nova\n" +
			"\n" +
			"Plan (2 steps):\n" +
			"  1. load on controller-0: Load database nova from the backup\n" +
			"       $ mariadb nova < nova.sql\n" +
			"  2. prove: Compare every node's checksums\n" +
			"\n" +
			"Nothing has been changed. To run this plan, confirm it:\n" +
			`  kubectl patch overcloudrestore dr-1 -n openstack --type merge -p '{"spec":{"confirm":"overcloud"}}'` + "\n"},
		{name: "refused", status: refused, want: "overcloudrestore.backup.overcloud.io/dr-1 created (not confirmed)\n",
			err: "the operator failed to plan restore dr-1 (NotVerified): backup nightly-1 is not verified: its drill did not pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			funcs := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if err := c.Get(ctx, key, obj, opts...); err != nil {
					return err
				}
				if r, ok := obj.(*backupv1alpha1.OvercloudRestore); ok {
					r.Status = tt.status
				}
				return nil
			}}
			s, o, out := fakeSession(t, funcs)
			b := backupAt("nightly-1", time.Hour, backupv1alpha1.PhaseSucceeded)
			r, err := restoreFor(&b, restoreFlags{mode: "Databases", databases: []string{"nova"}, credentialsSecret: "restore-admin", name: "dr-1"})
			if err != nil {
				t.Fatal(err)
			}
			err = s.restorePlan(context.Background(), o, r, time.Minute)
			if tt.err != "" && (err == nil || err.Error() != tt.err || !errors.Is(err, errFailed)) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
			if tt.err == "" && err != nil {
				t.Errorf("error %v", err)
			}
			if out.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", out.String(), tt.want)
			}
			stored := &backupv1alpha1.OvercloudRestore{}
			if err := s.c.Get(context.Background(), client.ObjectKey{Namespace: "openstack", Name: "dr-1"}, stored); err != nil || stored.Spec.Confirm != "" {
				t.Errorf("the stored restore: %v, confirm %q", err, stored.Spec.Confirm)
			}
		})
	}
}

// TestVerifyWait: the drill answering the request (played by the Get interceptor: an
// older drill's outcome first (the read before the request, and maybe after), then this
// request's drill running, then its result) is
// followed to its result; a failed drill is an error wrapping errFailed.
func TestVerifyWait(t *testing.T) {
	value := requestValue(now)
	older := backupv1alpha1.OvercloudBackupStatus{Phase: backupv1alpha1.PhaseSucceeded,
		Conditions:   []metav1.Condition{cond(backupv1alpha1.ConditionVerified, metav1.ConditionTrue, "Restored", "an older drill")},
		Verification: &backupv1alpha1.VerificationStatus{Request: "earlier"}}
	running := backupv1alpha1.OvercloudBackupStatus{Phase: backupv1alpha1.PhaseSucceeded,
		Conditions:   []metav1.Condition{cond(backupv1alpha1.ConditionVerified, metav1.ConditionUnknown, "DrillRunning", "Job b-drill running")},
		Verification: &backupv1alpha1.VerificationStatus{Request: value}}
	result := func(s metav1.ConditionStatus, reason, msg string, mismatches ...string) backupv1alpha1.OvercloudBackupStatus {
		return backupv1alpha1.OvercloudBackupStatus{Phase: backupv1alpha1.PhaseSucceeded,
			Conditions: []metav1.Condition{cond(backupv1alpha1.ConditionVerified, s, reason, msg)},
			Verification: &backupv1alpha1.VerificationStatus{Request: value, JobName: "b-drill", Tables: 12, Rows: 500, Users: 3,
				Duration: &metav1.Duration{Duration: 61 * time.Second}, ServerVersion: "10.11.6", SourceVersion: "10.11.6", Mismatches: mismatches}}
	}
	tests := []struct {
		name   string
		states []backupv1alpha1.OvercloudBackupStatus
		want   string
		failed bool
	}{
		{name: "verified", states: []backupv1alpha1.OvercloudBackupStatus{older, older, running, result(metav1.ConditionTrue, "Restored", "12 tables, 500 rows")},
			want: "" +
				"overcloudbackup.backup.overcloud.io/b annotated: restore drill " + value + " requested\n" +
				"    0s  Requested  waiting for the operator to start the drill\n" +
				"    0s  Unknown    DrillRunning: Job b-drill running\n" +
				"    0s  True       Restored: 12 tables, 500 rows\n" +
				"\n" +
				"Backup:    openstack/b\n" +
				"Verified:  True (Restored): 12 tables, 500 rows\n" +
				"Restored:  12 tables, 500 rows, 3 users in 1m1s (drill Job b-drill)\n" +
				"Servers:   drill 10.11.6, source 10.11.6\n"},
		{name: "failed", states: []backupv1alpha1.OvercloudBackupStatus{older, running, result(metav1.ConditionFalse, "RestoreFailed", "1 mismatch", "nova.instances: 10 rows, want 11")},
			failed: true, want: "" +
				"overcloudbackup.backup.overcloud.io/b annotated: restore drill " + value + " requested\n" +
				"    0s  Unknown    DrillRunning: Job b-drill running\n" +
				"    0s  False      RestoreFailed: 1 mismatch\n" +
				"\n" +
				"Backup:    openstack/b\n" +
				"Verified:  False (RestoreFailed): 1 mismatch\n" +
				"Restored:  12 tables, 500 rows, 3 users in 1m1s (drill Job b-drill)\n" +
				"Servers:   drill 10.11.6, source 10.11.6\n" +
				"Mismatch:  nova.instances: 10 rows, want 11\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backupAt("b", time.Hour, backupv1alpha1.PhaseSucceeded)
			b.Status = older
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
			err := s.verify(context.Background(), o, "b", true, time.Minute)
			if tt.failed != errors.Is(err, errFailed) || (!tt.failed && err != nil) {
				t.Errorf("error %v, failed %v", err, tt.failed)
			}
			if out.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", out.String(), tt.want)
			}
			stored := &backupv1alpha1.OvercloudBackup{}
			if err := s.c.Get(context.Background(), client.ObjectKey{Namespace: "openstack", Name: "b"}, stored); err != nil ||
				stored.Annotations[backupv1alpha1.AnnotationVerify] != value {
				t.Errorf("annotation: %v %v", err, stored.Annotations)
			}
		})
	}
}

// TestVerifyNotSucceeded: only a succeeded backup can be verified; nothing is annotated.
func TestVerifyNotSucceeded(t *testing.T) {
	b := backupAt("b", time.Hour, backupv1alpha1.PhaseRunning)
	s, o, _ := fakeSession(t, interceptor.Funcs{}, &b)
	err := s.verify(context.Background(), o, "b", true, time.Minute)
	if err == nil || err.Error() != "backup b is Running: only a succeeded backup can be verified" {
		t.Errorf("error %v", err)
	}
}

// TestProbeWaitsForTheAnswer: the probe is shown once status.lastProbeRequest answers
// the value set (the Overcloud controller's part, played by the Patch interceptor after
// two reads that still show an older answer).
func TestProbeWaitsForTheAnswer(t *testing.T) {
	oc := overcloud()
	oc.Status.LastProbeRequest = "older"
	reads := 0
	funcs := interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			if got, ok := obj.(*backupv1alpha1.Overcloud); ok {
				reads++
				if reads > 3 {
					got.Status.LastProbeRequest = backupv1alpha1.RequestKey(got.Annotations[backupv1alpha1.AnnotationProbe])
				}
			}
			return nil
		},
	}
	s, o, out := fakeSession(t, funcs, oc)
	if err := s.probe(context.Background(), o, "overcloud", time.Minute); err != nil {
		t.Fatal(err)
	}
	if reads < 4 || !strings.HasPrefix(out.String(), "Overcloud:     openstack/overcloud\n") || !strings.Contains(out.String(), "Selected node: controller-0\n") {
		t.Errorf("%d reads, output:\n%s", reads, out.String())
	}
	// Never answered: a timeout naming the wait.
	s, o, _ = fakeSession(t, interceptor.Funcs{}, overcloud())
	err := s.probe(context.Background(), o, "overcloud", 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out after 20ms waiting for the operator to probe Overcloud overcloud") {
		t.Errorf("error %v", err)
	}
}
