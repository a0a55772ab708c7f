package controllers

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/schedule"
)

// The BackupSchedule controller's tests move an injected clock instead of waiting for
// cron times, and "poke" the schedule (an annotation change) to have it reconciled at the
// new time, as the requeue at the next slot would. Only the schedule controller runs
// here: the test finishes the backups it creates the way the OvercloudBackup controller
// does (markSucceeded, markFailed on their status), except in TestScheduleHistoryDelete,
// which runs both controllers against the local overcloud.

// testClock is a clock the test sets.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// startScheduleManager runs the schedule controller (and, with backups, the OvercloudBackup
// controller) in its own manager on namespace, with the clock.
func startScheduleManager(t testing.TB, namespace string, clock *testClock, backups bool) (stop func()) {
	t.Helper()
	return runManager(t, namespace, managerOptions{schedules: true, backups: backups, clock: clock.Now})
}

// newSchedule is a schedule of the sandbox-less overcloud "site-s" (the children are not
// run unless the test starts the backups controller with a real overcloud spec).
func newSchedule(namespace, name, cron string) *backupv1alpha1.BackupSchedule {
	return &backupv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: backupv1alpha1.BackupScheduleSpec{
			Schedule: cron,
			BackupTemplate: backupv1alpha1.BackupTemplate{
				Metadata: &backupv1alpha1.BackupTemplateMetadata{Labels: map[string]string{"team": "cloud"}},
				Spec: backupv1alpha1.OvercloudBackupSpec{
					OvercloudRef: backupv1alpha1.OvercloudReference{Name: "site-s"}, Storage: backupv1alpha1.StorageSpec{ClaimName: "backups"},
				},
			},
		},
	}
}

// poke changes an annotation of the schedule so that it is reconciled now.
func poke(t testing.TB, c client.Client, s *backupv1alpha1.BackupSchedule, annotations ...string) {
	t.Helper()
	cur := &backupv1alpha1.BackupSchedule{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(s), cur); err != nil {
		t.Fatal(err)
	}
	orig := cur.DeepCopy()
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	cur.Annotations["test.ocb.dev/poke"] = strconv.FormatInt(time.Now().UnixNano(), 10)
	for i := 0; i+1 < len(annotations); i += 2 {
		cur.Annotations[annotations[i]] = annotations[i+1]
	}
	if err := c.Patch(context.Background(), cur, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
}

// waitSchedule polls the schedule until ok says so.
func waitSchedule(t testing.TB, c client.Client, s *backupv1alpha1.BackupSchedule, what string,
	ok func(*backupv1alpha1.BackupSchedule, []backupv1alpha1.OvercloudBackup) bool,
) (*backupv1alpha1.BackupSchedule, []backupv1alpha1.OvercloudBackup) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		cur := &backupv1alpha1.BackupSchedule{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(s), cur); err != nil {
			t.Fatal(err)
		}
		kids := childrenOf(t, c, s)
		if ok(cur, kids) {
			return cur, kids
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule %s: not %s within %v; children %v; status %+v", s.Name, what, waitTimeout, childNames(kids), cur.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func childrenOf(t testing.TB, c client.Client, s *backupv1alpha1.BackupSchedule) []backupv1alpha1.OvercloudBackup {
	t.Helper()
	list := &backupv1alpha1.OvercloudBackupList{}
	if err := c.List(context.Background(), list, client.InNamespace(s.Namespace), client.MatchingLabels{backupv1alpha1.LabelSchedule: s.Name}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func childNames(kids []backupv1alpha1.OvercloudBackup) []string {
	out := make([]string, len(kids))
	for i := range kids {
		out[i] = kids[i].Name
		if !kids[i].DeletionTimestamp.IsZero() {
			out[i] += "(deleting)"
		}
	}
	return out
}

func hasChild(name string) func(*backupv1alpha1.BackupSchedule, []backupv1alpha1.OvercloudBackup) bool {
	return func(_ *backupv1alpha1.BackupSchedule, kids []backupv1alpha1.OvercloudBackup) bool {
		for _, k := range kids {
			if k.Name == name {
				return true
			}
		}
		return false
	}
}

// finishChild sets the child's outcome on its status, as the OvercloudBackup controller
// does when its Job ends.
func finishChild(t testing.TB, c client.Client, namespace, name string, ok bool, at time.Time) {
	t.Helper()
	b := &backupv1alpha1.OvercloudBackup{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, b); err != nil {
		t.Fatal(err)
	}
	if ok {
		markSucceeded(b, at, &backupv1alpha1.BackupArtifact{ClaimName: "backups", Path: namespace + "/" + name}, "Backup complete")
	} else {
		markFailed(b, at, backupv1alpha1.ReasonAttemptsExhausted, "Attempt 3 of 3 failed: the agent failed: disk full")
	}
	b.Status.Phase = phaseOf(b.Status.Conditions)
	if err := c.Status().Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// tenMinutes is the schedule of most tests.
const tenMinutes = "*/10 * * * *"

// slotAfter is the first time of tenMinutes (UTC) after t.
func slotAfter(t testing.TB, after time.Time) time.Time {
	t.Helper()
	sc, err := schedule.Parse(tenMinutes, "")
	if err != nil {
		t.Fatal(err)
	}
	return sc.Decide(after, nil, after).Next
}

// scheduleEvents are the reasons of the schedule's events, once reason has been seen n
// times (events are written asynchronously) or the wait is over.
func scheduleEvents(t testing.TB, c client.Client, namespace, name, reason string, n int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list := &eventsv1.EventList{}
		if err := c.List(context.Background(), list, client.InNamespace(namespace)); err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Regarding.Kind == "BackupSchedule" {
				// A repeated event is one object with a count (series), not two objects.
				n := 1
				if e.Series != nil {
					n = max(n, int(e.Series.Count))
				}
				out[e.Reason] += max(n, int(e.DeprecatedCount))
			}
		}
		if out[reason] >= n || time.Now().After(deadline) {
			// A moment more, so that an extra event (the bug a test looks for) shows.
			time.Sleep(200 * time.Millisecond)
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// laterOf is the later of two times.
func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestScheduleRunsOnTime: nothing before the slot, exactly one backup at it (however
// often the schedule is reconciled), with the template's labels, the schedule's label,
// the due time and the schedule as controller; status says what ran and what is next.
func TestScheduleRunsOnTime(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	clock := &testClock{t: time.Now()}
	startScheduleManager(t, ns, clock, false)

	s := newSchedule(ns, "nightly", "*/10 * * * *")
	create(t, c, s)
	got, _ := waitSchedule(t, c, s, "valid", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
		return meta.IsStatusConditionTrue(s.Status.Conditions, backupv1alpha1.ConditionScheduleValid) && s.Status.NextScheduleTime != nil
	})
	slot := slotAfter(t, laterOf(got.CreationTimestamp.Time, clock.Now()))
	if !got.Status.NextScheduleTime.Time.Equal(slot) {
		t.Errorf("nextScheduleTime %v, want %v", got.Status.NextScheduleTime, slot)
	}
	clock.Set(slot.Add(-time.Second))
	poke(t, c, s)
	time.Sleep(300 * time.Millisecond)
	if kids := childrenOf(t, c, s); len(kids) != 0 {
		t.Fatalf("children %v before the slot", childNames(kids))
	}

	clock.Set(slot.Add(2 * time.Second))
	poke(t, c, s)
	want := schedule.ChildName("nightly", slot)
	got, _ = waitSchedule(t, c, s, "running "+want, hasChild(want))
	for range 3 {
		poke(t, c, s)
	}
	time.Sleep(300 * time.Millisecond)
	kids := childrenOf(t, c, s)
	if len(kids) != 1 {
		t.Fatalf("children %v, want exactly %s", childNames(kids), want)
	}
	k := kids[0]
	if !metav1.IsControlledBy(&k, got) || k.Labels["team"] != "cloud" || k.Labels[backupv1alpha1.LabelSchedule] != "nightly" ||
		k.Annotations[backupv1alpha1.AnnotationScheduledTime] != slot.UTC().Format(time.RFC3339) {
		t.Errorf("child %s: labels %v annotations %v owners %v", k.Name, k.Labels, k.Annotations, k.OwnerReferences)
	}
	got, _ = waitSchedule(t, c, s, "recording the run", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
		return s.Status.LastScheduleTime != nil && len(s.Status.Active) == 1
	})
	if !got.Status.LastScheduleTime.Time.Equal(slot) || got.Status.NextScheduleTime == nil || !got.Status.NextScheduleTime.Time.Equal(slot.Add(10*time.Minute)) {
		t.Errorf("last %v next %v, want %v and 10 minutes later", got.Status.LastScheduleTime, got.Status.NextScheduleTime, slot)
	}
	if ev := scheduleEvents(t, c, ns, "nightly", eventRunStarted, 1); ev[eventRunStarted] != 1 {
		t.Errorf("events %v, want one RunStarted", ev)
	}
}

// TestScheduleSuspend: a suspended schedule starts nothing and says so; resumed, it
// starts the most recent run it missed (no starting deadline).
func TestScheduleSuspend(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	clock := &testClock{t: time.Now()}
	startScheduleManager(t, ns, clock, false)

	s := newSchedule(ns, "paused", "*/10 * * * *")
	s.Spec.Suspend = ptr.To(true)
	create(t, c, s)
	got, _ := waitSchedule(t, c, s, "suspended", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
		r := meta.FindStatusCondition(s.Status.Conditions, backupv1alpha1.ConditionReady)
		return r != nil && r.Reason == backupv1alpha1.ReasonSuspended
	})
	slot := slotAfter(t, laterOf(got.CreationTimestamp.Time, clock.Now()))
	clock.Set(slot.Add(25 * time.Minute))
	poke(t, c, s)
	time.Sleep(300 * time.Millisecond)
	if kids := childrenOf(t, c, s); len(kids) != 0 || got.Status.NextScheduleTime != nil {
		t.Fatalf("suspended: children %v, next %v", childNames(kids), got.Status.NextScheduleTime)
	}
	resume := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspend":false}}`))
	if err := c.Patch(context.Background(), got, resume); err != nil {
		t.Fatal(err)
	}
	// Three slots passed while suspended: only the most recent starts.
	waitSchedule(t, c, s, "running the latest missed run", hasChild(schedule.ChildName("paused", slot.Add(20*time.Minute))))
	time.Sleep(300 * time.Millisecond)
	if kids := childrenOf(t, c, s); len(kids) != 1 {
		t.Errorf("children %v, want one", childNames(kids))
	}
}

// TestScheduleConcurrency: Forbid skips a run while one is active (and starts it once
// that one finishes, within the starting deadline, as CronJob does); Allow runs both;
// Replace deletes the running backup and starts the new one.
func TestScheduleConcurrency(t *testing.T) {
	c := newClient(t)
	for _, policy := range []backupv1alpha1.ConcurrencyPolicy{backupv1alpha1.ConcurrencyForbid, backupv1alpha1.ConcurrencyAllow, backupv1alpha1.ConcurrencyReplace} {
		t.Run(string(policy), func(t *testing.T) {
			ns := newNamespace(t, c)
			clock := &testClock{t: time.Now()}
			startScheduleManager(t, ns, clock, false)
			name := strings.ToLower(string(policy))
			s := newSchedule(ns, name, "*/10 * * * *")
			s.Spec.ConcurrencyPolicy = policy
			create(t, c, s)
			got, _ := waitSchedule(t, c, s, "valid", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
				return s.Status.NextScheduleTime != nil
			})
			first := slotAfter(t, laterOf(got.CreationTimestamp.Time, clock.Now()))
			second := first.Add(10 * time.Minute)
			clock.Set(first.Add(time.Second))
			poke(t, c, s)
			waitSchedule(t, c, s, "running the first run", hasChild(schedule.ChildName(name, first)))
			clock.Set(second.Add(time.Second))
			poke(t, c, s)
			switch policy {
			case backupv1alpha1.ConcurrencyForbid:
				waitSchedule(t, c, s, "skipping", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
					return strings.Contains(readyMessage(s), "Skipped the run due at "+second.UTC().Format(time.RFC3339))
				})
				if kids := childrenOf(t, c, s); len(kids) != 1 {
					t.Fatalf("Forbid: children %v while one runs", childNames(kids))
				}
				finishChild(t, c, ns, schedule.ChildName(name, first), true, clock.Now())
				waitSchedule(t, c, s, "running the skipped run once the first finished", hasChild(schedule.ChildName(name, second)))
				if ev := scheduleEvents(t, c, ns, name, eventRunSkipped, 1); ev[eventRunSkipped] != 1 {
					t.Errorf("events %v, want one RunSkipped", ev)
				}
			case backupv1alpha1.ConcurrencyAllow:
				_, kids := waitSchedule(t, c, s, "running both", hasChild(schedule.ChildName(name, second)))
				if len(kids) != 2 {
					t.Errorf("Allow: children %v", childNames(kids))
				}
			case backupv1alpha1.ConcurrencyReplace:
				waitSchedule(t, c, s, "replacing", func(_ *backupv1alpha1.BackupSchedule, kids []backupv1alpha1.OvercloudBackup) bool {
					return hasChild(schedule.ChildName(name, second))(nil, kids) && !hasChild(schedule.ChildName(name, first))(nil, kids)
				})
			}
		})
	}
}

// TestScheduleRunNow: one backup per distinct value of the run-now annotation; applying
// the same value again (a GitOps re-sync) starts nothing.
func TestScheduleRunNow(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	clock := &testClock{t: time.Now()}
	startScheduleManager(t, ns, clock, false)

	s := newSchedule(ns, "manual", "@monthly")
	create(t, c, s)
	poke(t, c, s, backupv1alpha1.AnnotationRunNow, "2026-11-25T10:00")
	first := s.RunNowName("2026-11-25T10:00")
	waitSchedule(t, c, s, "running "+first, hasChild(first))
	waitSchedule(t, c, s, "recording the value", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
		return s.Status.LastRunNow == "2026-11-25T10:00"
	})
	finishChild(t, c, ns, first, true, clock.Now())
	poke(t, c, s, backupv1alpha1.AnnotationRunNow, "2026-11-25T10:00")
	time.Sleep(300 * time.Millisecond)
	if kids := childrenOf(t, c, s); len(kids) != 1 {
		t.Fatalf("children %v after re-applying the same value", childNames(kids))
	}
	poke(t, c, s, backupv1alpha1.AnnotationRunNow, "again")
	_, kids := waitSchedule(t, c, s, "running the second value", hasChild(s.RunNowName("again")))
	if len(kids) != 2 || len(first) > 52 {
		t.Errorf("children %v", childNames(kids))
	}
	if ev := scheduleEvents(t, c, ns, "manual", eventRunNow, 2); ev[eventRunNow] != 2 {
		t.Errorf("events %v, want two RunNow", ev)
	}

	// A value longer than status.lastRunNow may hold (253 bytes) is recorded by its hash:
	// its backup is created once, and the status write that records it succeeds.
	long := strings.Repeat("x", 300)
	poke(t, c, s, backupv1alpha1.AnnotationRunNow, long)
	waitSchedule(t, c, s, "running and recording a 300-byte value", func(s *backupv1alpha1.BackupSchedule, kids []backupv1alpha1.OvercloudBackup) bool {
		return hasChild(s.RunNowName(long))(nil, kids) && s.Status.LastRunNow == backupv1alpha1.RequestKey(long)
	})
	poke(t, c, s, backupv1alpha1.AnnotationRunNow, long)
	time.Sleep(300 * time.Millisecond)
	if kids := childrenOf(t, c, s); len(kids) != 3 {
		t.Fatalf("children %v after re-applying the 300-byte value, want 3", childNames(kids))
	}
}

// TestScheduleRestartAcrossDueTime: the manager is down when a run is due; two managers
// come up at once (a restart, and a second replica without leader election): exactly
// one backup is created, the name being the lock.
func TestScheduleRestartAcrossDueTime(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	clock := &testClock{t: time.Now()}
	stop := startScheduleManager(t, ns, clock, false)
	s := newSchedule(ns, "restart", "*/10 * * * *")
	create(t, c, s)
	got, _ := waitSchedule(t, c, s, "valid", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
		return s.Status.NextScheduleTime != nil
	})
	stop()
	slot := slotAfter(t, laterOf(got.CreationTimestamp.Time, clock.Now()))
	clock.Set(slot.Add(3 * time.Minute))
	startScheduleManager(t, ns, clock, false)
	startScheduleManager(t, ns, clock, false)
	waitSchedule(t, c, s, "running the due run", hasChild(schedule.ChildName("restart", slot)))
	for range 3 {
		poke(t, c, s)
	}
	time.Sleep(500 * time.Millisecond)
	if kids := childrenOf(t, c, s); len(kids) != 1 {
		t.Errorf("children %v, want exactly one", childNames(kids))
	}
}

// TestScheduleFailureThenNextRun: a failed backup never stops the schedule: the next run
// starts on time, and status counts the failures (reset by a success).
func TestScheduleFailureThenNextRun(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	clock := &testClock{t: time.Now()}
	startScheduleManager(t, ns, clock, false)
	s := newSchedule(ns, "flaky", "*/10 * * * *")
	create(t, c, s)
	got, _ := waitSchedule(t, c, s, "valid", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
		return s.Status.NextScheduleTime != nil
	})
	slot := slotAfter(t, laterOf(got.CreationTimestamp.Time, clock.Now()))
	for i := range 2 {
		due := slot.Add(time.Duration(i) * 10 * time.Minute)
		clock.Set(due.Add(time.Second))
		poke(t, c, s)
		waitSchedule(t, c, s, "running", hasChild(schedule.ChildName("flaky", due)))
		finishChild(t, c, ns, schedule.ChildName("flaky", due), false, due.Add(5*time.Second))
		waitSchedule(t, c, s, "counting the failure", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
			return int(s.Status.ConsecutiveFailures) == i+1 && len(s.Status.Active) == 0
		})
	}
	third := slot.Add(20 * time.Minute)
	clock.Set(third.Add(time.Second))
	poke(t, c, s)
	got, _ = waitSchedule(t, c, s, "running on time after two failures", hasChild(schedule.ChildName("flaky", third)))
	if !strings.Contains(got.Status.LastFailureMessage, "disk full") {
		t.Errorf("lastFailureMessage %q", got.Status.LastFailureMessage)
	}
	finishChild(t, c, ns, schedule.ChildName("flaky", third), true, third.Add(5*time.Second))
	waitSchedule(t, c, s, "reset by the success", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
		return s.Status.ConsecutiveFailures == 0 && s.Status.LastSuccessfulBackup == schedule.ChildName("flaky", third)
	})
}

// TestScheduleHistory: the oldest finished backups beyond the limits are pruned; the
// newest success stays even with a limit of 0; running ones are never pruned.
func TestScheduleHistory(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	clock := &testClock{t: time.Now()}
	startScheduleManager(t, ns, clock, false)
	s := newSchedule(ns, "history", "*/10 * * * *")
	s.Spec.SuccessfulBackupsHistoryLimit = ptr.To(int32(0))
	s.Spec.FailedBackupsHistoryLimit = ptr.To(int32(1))
	create(t, c, s)
	got, _ := waitSchedule(t, c, s, "valid", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
		return s.Status.NextScheduleTime != nil
	})
	slot := slotAfter(t, laterOf(got.CreationTimestamp.Time, clock.Now()))
	outcomes := []bool{true, false, true, false}
	names := make([]string, 0, len(outcomes))
	for i, ok := range outcomes {
		due := slot.Add(time.Duration(i) * 10 * time.Minute)
		clock.Set(due.Add(time.Second))
		poke(t, c, s)
		name := schedule.ChildName("history", due)
		names = append(names, name)
		waitSchedule(t, c, s, "running", hasChild(name))
		finishChild(t, c, ns, name, ok, due.Add(5*time.Second))
	}
	// Kept: the newest success (names[2], although the limit is 0) and the newest
	// failure (names[3]).
	poke(t, c, s)
	_, kids := waitSchedule(t, c, s, "pruned", func(_ *backupv1alpha1.BackupSchedule, kids []backupv1alpha1.OvercloudBackup) bool {
		return len(kids) == 2
	})
	if !hasChild(names[2])(nil, kids) || !hasChild(names[3])(nil, kids) {
		t.Errorf("kept %v, want %s and %s", childNames(kids), names[2], names[3])
	}
	if ev := scheduleEvents(t, c, ns, "history", eventPruned, 2); ev[eventPruned] != 2 {
		t.Errorf("events %v, want two Pruned", ev)
	}
}

// TestScheduleInvalid: a schedule or time zone that does not parse is a condition, not a
// crash; fixing it by an update makes the schedule run.
func TestScheduleInvalid(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	clock := &testClock{t: time.Now()}
	startScheduleManager(t, ns, clock, false)
	for _, tc := range []struct {
		name, cron, tz, reason string
	}{
		{"bad-cron", "61 * * * *", "", backupv1alpha1.ReasonInvalidSchedule},
		{"bad-zone", "*/10 * * * *", "Mars/Olympus_Mons", backupv1alpha1.ReasonInvalidTimeZone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSchedule(ns, tc.name, tc.cron)
			if tc.tz != "" {
				s.Spec.TimeZone = ptr.To(tc.tz)
			}
			create(t, c, s)
			got, _ := waitSchedule(t, c, s, "invalid", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
				v := meta.FindStatusCondition(s.Status.Conditions, backupv1alpha1.ConditionScheduleValid)
				return v != nil && v.Status == metav1.ConditionFalse && v.Reason == tc.reason
			})
			if r := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse {
				t.Errorf("Ready %+v", r)
			}
			fix := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"schedule":"*/10 * * * *","timeZone":"Europe/Paris"}}`))
			if err := c.Patch(context.Background(), got, fix); err != nil {
				t.Fatal(err)
			}
			waitSchedule(t, c, s, "valid after the fix", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
				return meta.IsStatusConditionTrue(s.Status.Conditions, backupv1alpha1.ConditionScheduleValid) &&
					s.Status.NextScheduleTime != nil && s.Status.ObservedGeneration == s.Generation
			})
		})
	}
}

// TestScheduleHistoryDelete runs both controllers against the local overcloud: scheduled
// backups really probe and launch their Jobs (finished by the test, as no kubelet runs
// here), and pruning a backup with deletionPolicy Delete runs its cleanup Job before it
// goes, while a Retain one goes at once.
func TestScheduleHistoryDelete(t *testing.T) {
	sb := lockedSandbox(t)
	c := newClient(t)
	for _, policy := range []backupv1alpha1.DeletionPolicy{backupv1alpha1.DeletionDelete, backupv1alpha1.DeletionRetain} {
		t.Run(string(policy), func(t *testing.T) {
			ns := newNamespace(t, c)
			ready(t, c, sb, ns)
			clock := &testClock{t: time.Now()}
			startScheduleManager(t, ns, clock, true)
			name := "keep1-" + strings.ToLower(string(policy))
			s := newSchedule(ns, name, "*/10 * * * *")
			s.Spec.BackupTemplate.Spec = newBackup(sb, ns, "x").Spec
			s.Spec.BackupTemplate.Spec.DeletionPolicy = policy
			s.Spec.SuccessfulBackupsHistoryLimit = ptr.To(int32(1))
			create(t, c, s)
			got, _ := waitSchedule(t, c, s, "valid", func(s *backupv1alpha1.BackupSchedule, _ []backupv1alpha1.OvercloudBackup) bool {
				return s.Status.NextScheduleTime != nil
			})
			slot := slotAfter(t, laterOf(got.CreationTimestamp.Time, clock.Now()))
			names := make([]string, 0, 2)
			for i := range 2 {
				due := slot.Add(time.Duration(i) * 10 * time.Minute)
				clock.Set(due.Add(time.Second))
				poke(t, c, s)
				child := schedule.ChildName(name, due)
				names = append(names, child)
				waitSchedule(t, c, s, "running", hasChild(child))
				b := waitBackup(t, c, client.ObjectKey{Namespace: ns, Name: child}, "running its Job", running(1))
				finishJob(t, c, getJob(t, c, ns, b.JobName(1)), okResult(b, b.Status.SelectedNode), true)
				waitBackup(t, c, client.ObjectKeyFromObject(b), "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
			}
			poke(t, c, s)
			old := &backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[0]}}
			if policy == backupv1alpha1.DeletionDelete {
				job := waitJob(t, c, ns, old.CleanupJobName())
				msg := `{"removed":["` + ns + "/" + names[0] + `"],"bytes":1573376,"notFound":false}`
				finishJobMessage(t, c, job, &msg, true)
			}
			waitGone(t, c, old)
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: names[1]}, &backupv1alpha1.OvercloudBackup{}); err != nil {
				t.Errorf("the newest backup %s: %v", names[1], err)
			}
			if policy == backupv1alpha1.DeletionRetain {
				if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: old.CleanupJobName()}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
					t.Errorf("a cleanup Job for a Retain backup: %v", err)
				}
			}
		})
	}
}
