package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// TestDrillDue: with policy Interval, a run's backup gets a drill only when no backup of
// the schedule with a drill (not failed) is due within the interval before it.
func TestDrillDue(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	sched := func(v *backupv1alpha1.ScheduleVerificationSpec) *backupv1alpha1.BackupSchedule {
		return &backupv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: "hourly", Namespace: "openstack"},
			Spec: backupv1alpha1.BackupScheduleSpec{Schedule: "@hourly", Verification: v}}
	}
	child := func(name string, due time.Time, drill bool, cond string) backupv1alpha1.OvercloudBackup {
		b := backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{backupv1alpha1.AnnotationScheduledTime: due.Format(time.RFC3339)}}}
		if !drill {
			b.Spec.Verification = &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
		}
		if cond != "" {
			b.Status.Conditions = []metav1.Condition{{Type: cond, Status: metav1.ConditionTrue, Reason: "X"}}
		}
		return b
	}
	daily := &backupv1alpha1.ScheduleVerificationSpec{Policy: backupv1alpha1.VerifyInterval}
	cases := []struct {
		name     string
		v        *backupv1alpha1.ScheduleVerificationSpec
		children []backupv1alpha1.OvercloudBackup
		want     bool
	}{
		{"EveryBackup (the default)", nil, []backupv1alpha1.OvercloudBackup{child("a", t0.Add(-time.Hour), true, "")}, true},
		{"Interval, none yet", daily, nil, true},
		{"Interval, one drilled 23h ago", daily, []backupv1alpha1.OvercloudBackup{
			child("a", t0.Add(-23*time.Hour), true, backupv1alpha1.ConditionComplete)}, false},
		{"Interval, one drilled 24h ago", daily, []backupv1alpha1.OvercloudBackup{
			child("a", t0.Add(-24*time.Hour), true, backupv1alpha1.ConditionComplete)}, true},
		{"Interval, the one with a drill is still running", daily, []backupv1alpha1.OvercloudBackup{
			child("a", t0.Add(-time.Hour), true, "")}, false},
		{"Interval, the one with a drill failed: its drill never runs", daily, []backupv1alpha1.OvercloudBackup{
			child("a", t0.Add(-time.Hour), true, backupv1alpha1.ConditionFailed)}, true},
		{"Interval, recent ones without a drill", daily, []backupv1alpha1.OvercloudBackup{
			child("a", t0.Add(-time.Hour), false, backupv1alpha1.ConditionComplete),
			child("b", t0.Add(-30*time.Hour), true, backupv1alpha1.ConditionComplete)}, true},
		{"Interval 2h", &backupv1alpha1.ScheduleVerificationSpec{Policy: backupv1alpha1.VerifyInterval,
			Interval: &metav1.Duration{Duration: 2 * time.Hour}}, []backupv1alpha1.OvercloudBackup{
			child("a", t0.Add(-3*time.Hour), true, backupv1alpha1.ConditionComplete)}, true},
	}
	for _, tc := range cases {
		s := sched(tc.v)
		if got := drillDue(s, tc.children, t0); got != tc.want {
			t.Errorf("%s: drillDue %v, want %v", tc.name, got, tc.want)
		}
		b := buildChild(s, "hourly-1", t0, "", tc.want)
		if b.WantsDrill() != tc.want {
			t.Errorf("%s: the child wants a drill: %v, want %v", tc.name, b.WantsDrill(), tc.want)
		}
	}
	// The template's own drill settings are kept when the run's drill is turned off.
	s := sched(daily)
	s.Spec.BackupTemplate.Spec.Verification = &backupv1alpha1.VerificationSpec{Deadline: &metav1.Duration{Duration: time.Hour}}
	b := buildChild(s, "hourly-2", t0, "", false)
	if b.WantsDrill() || b.Spec.Verification.Deadline == nil || s.Spec.BackupTemplate.Spec.Verification.Drill != "" {
		t.Errorf("child %+v, template %+v", b.Spec.Verification, s.Spec.BackupTemplate.Spec.Verification)
	}
}
