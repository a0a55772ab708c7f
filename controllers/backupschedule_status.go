package controllers

import (
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/schedule"
)

// The pure half of the BackupSchedule controller: what the schedule's children say, the
// child a run creates, and the run-now name. No I/O, no clock.

// childTime is when a child was due: its scheduled-at annotation, else its creation.
func childTime(b *backupv1alpha1.OvercloudBackup) time.Time {
	if v := b.Annotations[backupv1alpha1.AnnotationScheduledTime]; v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t
		}
	}
	return b.CreationTimestamp.Time
}

// childPhase is the child's phase for retention.
func childPhase(b *backupv1alpha1.OvercloudBackup) schedule.Phase {
	switch {
	case meta.IsStatusConditionTrue(b.Status.Conditions, backupv1alpha1.ConditionComplete):
		return schedule.Succeeded
	case meta.IsStatusConditionTrue(b.Status.Conditions, backupv1alpha1.ConditionFailed):
		return schedule.Failed
	}
	return schedule.Running
}

// completedAt is when a finished child finished (its completionTime, else when its
// terminal condition was set).
func completedAt(b *backupv1alpha1.OvercloudBackup) time.Time {
	if b.Status.CompletionTime != nil {
		return b.Status.CompletionTime.Time
	}
	for _, typ := range []string{backupv1alpha1.ConditionComplete, backupv1alpha1.ConditionFailed} {
		if c := meta.FindStatusCondition(b.Status.Conditions, typ); c != nil && c.Status == metav1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// observeChildren updates the schedule's status from its children: the active ones, the
// last success, and the consecutive failures since. The count is kept in status (with the
// time of the last failure counted), so pruning old failed backups does not lower it.
func observeChildren(st *backupv1alpha1.BackupScheduleStatus, children []backupv1alpha1.OvercloudBackup) {
	st.Active = nil
	var lastOK *backupv1alpha1.OvercloudBackup
	for i := range children {
		c := &children[i]
		switch childPhase(c) {
		case schedule.Running:
			if c.DeletionTimestamp.IsZero() {
				st.Active = append(st.Active, backupv1alpha1.BackupReference{Name: c.Name})
			}
		case schedule.Succeeded:
			if lastOK == nil || completedAt(c).After(completedAt(lastOK)) {
				lastOK = c
			}
		}
	}
	slices.SortFunc(st.Active, func(a, b backupv1alpha1.BackupReference) int { return strings.Compare(a.Name, b.Name) })
	if lastOK != nil && (st.LastSuccessfulTime == nil || completedAt(lastOK).After(st.LastSuccessfulTime.Time)) {
		st.LastSuccessfulTime = &metav1.Time{Time: completedAt(lastOK)}
		st.LastSuccessfulBackup = lastOK.Name
		st.ConsecutiveFailures = 0
		st.LastFailureTime = nil
	}
	if v := lastVerifiedBackup(children); v != nil && (st.LastVerifiedTime == nil || v.Time.After(st.LastVerifiedTime.Time)) {
		st.LastVerifiedTime, st.LastVerifiedBackup = v.Time, v.Name
	}
	failed := slices.DeleteFunc(slices.Clone(children), func(c backupv1alpha1.OvercloudBackup) bool {
		return childPhase(&c) != schedule.Failed
	})
	slices.SortFunc(failed, func(a, b backupv1alpha1.OvercloudBackup) int { return completedAt(&a).Compare(completedAt(&b)) })
	for i := range failed {
		at := completedAt(&failed[i])
		if (st.LastSuccessfulTime != nil && !at.After(st.LastSuccessfulTime.Time)) ||
			(st.LastFailureTime != nil && !at.After(st.LastFailureTime.Time)) {
			continue
		}
		st.ConsecutiveFailures++
		st.LastFailureTime = &metav1.Time{Time: at}
		msg := failed[i].Name + ": "
		if c := meta.FindStatusCondition(failed[i].Status.Conditions, backupv1alpha1.ConditionFailed); c != nil {
			msg += c.Reason + ": " + c.Message
		}
		st.LastFailureMessage = clip(msg, maxMessage)
	}
}

// retentionChildren are the children as internal/schedule.Retention sees them.
func retentionChildren(children []backupv1alpha1.OvercloudBackup) []schedule.Child {
	out := make([]schedule.Child, 0, len(children))
	for i := range children {
		c := &children[i]
		if !c.DeletionTimestamp.IsZero() {
			continue
		}
		out = append(out, schedule.Child{Name: c.Name, Time: childTime(c), Phase: childPhase(c),
			Verified: meta.IsStatusConditionTrue(c.Status.Conditions, backupv1alpha1.ConditionVerified)})
	}
	return out
}

// retentionOf is the schedule's retention with the controller's defaults.
func retentionOf(s *backupv1alpha1.BackupSchedule) schedule.Retention {
	return schedule.Retention{
		SuccessfulLimit: s.SuccessfulHistoryLimit(),
		FailedLimit:     s.FailedHistoryLimit(),
		KeepWithin:      s.KeepWithin(),
	}
}

// drillDue reports whether a backup the schedule creates at t gets a restore drill by its
// spec.verification: always with policy EveryBackup; with policy Interval, when no backup
// of the schedule with a drill (done, running or to come: not failed) is due within the
// interval before t. The template's drill Disabled is left as it is.
func drillDue(s *backupv1alpha1.BackupSchedule, children []backupv1alpha1.OvercloudBackup, t time.Time) bool {
	interval := s.VerificationInterval()
	if interval <= 0 {
		return true
	}
	for i := range children {
		c := &children[i]
		if c.WantsDrill() && childPhase(c) != schedule.Failed && c.DeletionTimestamp.IsZero() && childTime(c).After(t.Add(-interval)) {
			return false
		}
	}
	return true
}

// buildChild is the OvercloudBackup a run creates from the template: the template's
// labels and annotations, the schedule's label, when it was due, and the schedule as its
// controller. Without drill, its spec.verification.drill is Disabled (drillDue).
func buildChild(s *backupv1alpha1.BackupSchedule, name string, due time.Time, runNow string, drill bool) *backupv1alpha1.OvercloudBackup {
	labels, annotations := map[string]string{}, map[string]string{}
	if m := s.Spec.BackupTemplate.Metadata; m != nil {
		maps.Copy(labels, m.Labels)
		maps.Copy(annotations, m.Annotations)
	}
	labels[backupv1alpha1.LabelSchedule] = s.Name
	annotations[backupv1alpha1.AnnotationScheduledTime] = due.UTC().Format(time.RFC3339)
	if runNow != "" {
		annotations[backupv1alpha1.AnnotationRunNow] = runNow
	}
	gvk := backupv1alpha1.GroupVersion.WithKind("BackupSchedule")
	b := &backupv1alpha1.OvercloudBackup{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: s.Namespace, Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: s.Name, UID: s.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: *s.Spec.BackupTemplate.Spec.DeepCopy(),
	}
	if !drill {
		b.Spec.Verification = &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
		if v := s.Spec.BackupTemplate.Spec.Verification; v != nil {
			b.Spec.Verification = v.DeepCopy()
			b.Spec.Verification.Drill = backupv1alpha1.DrillDisabled
		}
	}
	return b
}

// scheduleInterval is the time between the schedule's next two runs after t, for the
// staleness alert; zero when unknown.
func scheduleInterval(sc *schedule.Schedule, t time.Time) time.Duration {
	first := sc.Decide(t, nil, t).Next
	if first.IsZero() {
		return 0
	}
	second := sc.Decide(first, nil, first).Next
	if second.IsZero() {
		return 0
	}
	return second.Sub(first)
}
