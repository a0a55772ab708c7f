//go:build e2e

package e2e_test

// The BackupSchedule controller and the deletion policies as deployed by `make deploy`:
// a schedule's run-now backups are real Jobs against the sandbox, its history limit deletes
// the older one through the OvercloudBackup controller's cleanup Job, and the files on the
// local PV show what each deletion policy keeps.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

const (
	// backupTimeout bounds one backup of the sandbox through the controller.
	backupTimeout = 4 * time.Minute
	// deletionTimeout bounds a deletion, cleanup Job included.
	deletionTimeout = 3 * time.Minute
)

// TestScheduleRunNowAndHistory: a BackupSchedule that never fires during the test
// (@yearly), keeping one successful backup, whose template is TestBackupThroughController's
// backup with deletionPolicy Delete. Run-now "1" creates <schedule>-r<8 hex>, a real backup
// that succeeds with its files verified on the PV; run-now "2" creates a second one; once it
// has succeeded the schedule prunes the first, which is held by its finalizer until its
// cleanup Job has removed its directory from the PV, while the second's files stay. The
// schedule's status names the second as the last success and "2" as the last run-now, with
// nothing active; its events say RunNow twice and Pruned once. Re-applying run-now "2"
// starts nothing.
func TestScheduleRunNowAndHistory(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	sb.ClientSession(t)
	ns := k.namespace(t, "sched")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)

	tmpl := controllerBackup(sb, ns, "template", accessHTTP, "nova")
	tmpl.Spec.DeletionPolicy = backupv1alpha1.DeletionDelete
	k.createOvercloud(t, tmpl.Overcloud)
	s := &backupv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly", Labels: map[string]string{e2eLabel: "true"}},
		Spec: backupv1alpha1.BackupScheduleSpec{
			Schedule:                      "@yearly",
			SuccessfulBackupsHistoryLimit: ptr.To(int32(1)),
			BackupTemplate: backupv1alpha1.BackupTemplate{
				Metadata: &backupv1alpha1.BackupTemplateMetadata{Labels: map[string]string{e2eLabel: "true"}},
				Spec:     tmpl.Spec,
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := k.c.Create(ctx, s); err != nil {
		t.Fatalf("creating BackupSchedule %s: %v", s.Name, err)
	}
	k.poll(withTimeout(t, ctx, time.Minute), t, "the schedule's ScheduleValid condition", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(s.Status.Conditions, backupv1alpha1.ConditionScheduleValid), nil
	})
	if n := k.scheduleChildren(ctx, t, s); len(n) != 0 {
		t.Fatalf("the schedule created %v before any run-now: @yearly must not fire during the test", n)
	}

	// run-now "1": one real backup.
	first := k.runNow(t, s, "1", secrets)
	root := k.volumePath(ctx, t, ns)
	firstDir := verifyOnVolume(t, root, first)

	// run-now "2": a second one; the history limit (1) then prunes the first through its
	// cleanup Job. The deletion is watched from before the second starts: it follows the
	// second's success at once.
	del := k.watchDeletion(t, first, backupTimeout+deletionTimeout)
	second := k.runNow(t, s, "2", secrets)
	secondDir := verifyOnVolume(t, root, second)
	del.check(t, true)
	gone(t, firstDir)
	if _, err := agent.Verify(t.Context(), secondDir); err != nil {
		t.Errorf("the second backup's files after the first was pruned: agent verify %s: %v", secondDir, err)
	}

	// The schedule's status: the second is the last success, "2" the last run-now, none active.
	k.poll(withTimeout(t, ctx, time.Minute), t, "the schedule's status after the prune", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err
		}
		st := s.Status
		return len(st.Active) == 0 && st.LastSuccessfulBackup == second.Name && st.LastRunNow == "2", nil
	})
	if st := s.Status; st.LastSuccessfulTime == nil || st.ConsecutiveFailures != 0 || st.LastScheduleTime != nil {
		t.Errorf("schedule status %+v: want lastSuccessfulTime set, no failure, no scheduled run", st)
	}
	if names := k.scheduleChildren(ctx, t, s); !slices.Equal(names, []string{second.Name}) {
		t.Errorf("the schedule's backups are %v, want only %s", names, second.Name)
	}

	// Its events: RunNow for each value, Pruned for the first.
	var evs []string
	k.poll(withTimeout(t, ctx, 30*time.Second), t, "the schedule's events", func(ctx context.Context) (bool, error) {
		evs = k.objectEvents(ctx, t, "BackupSchedule", s.Namespace, s.Name)
		return countPrefix(evs, "RunNow: ") >= 2 && countPrefix(evs, "Pruned: ") >= 1, nil
	})
	t.Logf("Events of the schedule:\n%s", strings.Join(evs, "\n"))
	for _, want := range []string{
		fmt.Sprintf("RunNow: Created backup %s for run-now %q", first.Name, "1"),
		fmt.Sprintf("RunNow: Created backup %s for run-now %q", second.Name, "2"),
	} {
		if !slices.Contains(evs, want) {
			t.Errorf("no event %q", want)
		}
	}
	if n := countPrefix(evs, "RunNow: "); n != 2 {
		t.Errorf("%d RunNow events, want 2", n)
	}
	pruned := slices.DeleteFunc(slices.Clone(evs), func(e string) bool { return !strings.HasPrefix(e, "Pruned: ") })
	if len(pruned) != 1 || !strings.Contains(pruned[0], first.Name) || !strings.Contains(pruned[0], "deletionPolicy Delete") {
		t.Errorf("Pruned events %q: want one, for %s with deletionPolicy Delete", pruned, first.Name)
	}

	// Re-applying run-now "2" (as GitOps does, with another change so that the schedule is
	// reconciled again) starts nothing.
	k.annotate(t, s, map[string]string{backupv1alpha1.AnnotationRunNow: "2", "ocb.dev/e2e-touch": "1"})
	time.Sleep(5 * time.Second) // a negative check: the controller had its chance
	if names := k.scheduleChildren(ctx, t, s); !slices.Equal(names, []string{second.Name}) {
		t.Errorf("after re-applying run-now \"2\" the schedule's backups are %v, want only %s", names, second.Name)
	}
	if n := countPrefix(k.objectEvents(ctx, t, "BackupSchedule", s.Namespace, s.Name), "RunNow: "); n != 2 {
		t.Errorf("after re-applying run-now \"2\": %d RunNow events, want still 2", n)
	}
	if err := k.c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
		t.Fatal(err)
	}
	if s.Status.LastRunNow != "2" || len(s.Status.Active) != 0 {
		t.Errorf("after re-applying run-now \"2\": lastRunNow %q, active %v", s.Status.LastRunNow, s.Status.Active)
	}
}

// TestDeletionPolicies: a succeeded backup with deletionPolicy Retain goes at once when
// deleted (no finalizer, no cleanup Job) and its files stay on the PV, still verified; one
// with Delete is held by its finalizer while its cleanup Job runs in the cluster, then goes,
// and its directory is gone from the PV.
func TestDeletionPolicies(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	sb.ClientSession(t)
	ns := k.namespace(t, "delete")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	for _, policy := range []backupv1alpha1.DeletionPolicy{backupv1alpha1.DeletionRetain, backupv1alpha1.DeletionDelete} {
		t.Run(string(policy), func(t *testing.T) {
			b := controllerBackup(sb, ns, strings.ToLower(string(policy))+"-1", accessHTTP, "nova")
			b.Spec.DeletionPolicy = policy
			run := k.runBackup(t, b, backupTimeout, nil)
			got := run.final
			if got.Status.Phase != backupv1alpha1.PhaseSucceeded {
				t.Fatalf("backup %s ended %s: %s\nevents:\n%s", got.Name, got.Status.Phase, got.Status.Message, redactAll(k.events(ns), secrets))
			}
			dir := verifyOnVolume(t, k.volumePath(ctx, t, ns), got)
			if has := controllerutil.ContainsFinalizer(got, backupv1alpha1.FinalizerCleanup); has != (policy == backupv1alpha1.DeletionDelete) {
				t.Errorf("deletionPolicy %s: finalizer %s present=%v", policy, backupv1alpha1.FinalizerCleanup, has)
			}

			del := k.watchDeletion(t, got, deletionTimeout)
			deleted := time.Now()
			if err := k.c.Delete(ctx, got); err != nil {
				t.Fatalf("deleting backup %s: %v", got.Name, err)
			}
			took := del.check(t, policy == backupv1alpha1.DeletionDelete).Sub(deleted)
			t.Logf("deletionPolicy %s: backup gone %v after the delete", policy, took.Round(time.Millisecond))
			if policy == backupv1alpha1.DeletionDelete {
				gone(t, dir)
				return
			}
			if took > 5*time.Second {
				t.Errorf("deletionPolicy Retain: the backup took %v to go, want at once", took)
			}
			m, err := agent.Verify(t.Context(), dir)
			if err != nil {
				t.Fatalf("deletionPolicy Retain: the files after the deletion: agent verify %s: %v", dir, err)
			}
			t.Logf("deletionPolicy Retain: %s still there, agent verify: %d files OK", dir, len(m.Files))
		})
	}
}

// runNow sets the schedule's run-now annotation to value and follows the backup the
// schedule then creates (<schedule>-r<8 hex of the value's SHA-256>) to its end. It
// requires it to have succeeded, controlled by the schedule, made from its template.
func (k *cluster) runNow(t *testing.T, s *backupv1alpha1.BackupSchedule, value string, secrets []string) *backupv1alpha1.OvercloudBackup {
	t.Helper()
	sum := sha256.Sum256([]byte(value))
	want := &backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{
		Namespace: s.Namespace, Name: s.Name + "-r" + hex.EncodeToString(sum[:4]),
	}}
	run := k.followBackup(t, want, backupTimeout, func() {
		k.annotate(t, s, map[string]string{backupv1alpha1.AnnotationRunNow: value})
	})
	got := run.final
	for _, st := range run.steps {
		t.Logf("%7.3fs %-9s %s | %s", st.at.Seconds(), st.phase, st.conditions, st.message)
	}
	if got.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Fatalf("run-now %q: backup %s ended %s: %s\nevents:\n%s", value, want.Name, got.Status.Phase, got.Status.Message,
			redactAll(k.events(s.Namespace), secrets))
	}
	t.Logf("run-now %q: %s Job created after %v, Succeeded after %v", value, got.Name,
		run.toJob.Round(time.Millisecond), run.toDone.Round(time.Millisecond))
	if !metav1.IsControlledBy(got, s) || got.Labels[backupv1alpha1.LabelSchedule] != s.Name ||
		got.Annotations[backupv1alpha1.AnnotationRunNow] != value || got.Labels[e2eLabel] != "true" {
		t.Errorf("backup %s: owners %+v, labels %v, annotations %v: want controlled by schedule %s, its label and template's, run-now %q",
			got.Name, got.OwnerReferences, got.Labels, got.Annotations, s.Name, value)
	}
	if got.Spec.DeletionPolicy != backupv1alpha1.DeletionDelete || !controllerutil.ContainsFinalizer(got, backupv1alpha1.FinalizerCleanup) {
		t.Errorf("backup %s: deletionPolicy %s, finalizers %v: want the template's Delete and the finalizer %s",
			got.Name, got.Spec.DeletionPolicy, got.Finalizers, backupv1alpha1.FinalizerCleanup)
	}
	checkConditions(t, got)
	checkArtifact(t, got, s.Namespace)
	return got
}

// annotate sets annotations on the object with a merge patch.
func (k *cluster) annotate(t testing.TB, obj client.Object, annotations map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data)); err != nil {
		t.Fatalf("annotating %s %v: %v", obj.GetName(), annotations, err)
	}
}

// scheduleChildren are the names of the backups the schedule controls, sorted.
func (k *cluster) scheduleChildren(ctx context.Context, t testing.TB, s *backupv1alpha1.BackupSchedule) []string {
	t.Helper()
	list := &backupv1alpha1.OvercloudBackupList{}
	if err := k.c.List(ctx, list, client.InNamespace(s.Namespace)); err != nil {
		t.Fatalf("listing the backups: %v", err)
	}
	names := []string{}
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], s) {
			names = append(names, list.Items[i].Name)
		}
	}
	slices.Sort(names)
	return names
}

// objectEvents are the events about one object, "Reason: note" each.
func (k *cluster) objectEvents(ctx context.Context, t testing.TB, kind, ns, name string) []string {
	t.Helper()
	evs := &corev1.EventList{}
	if err := k.c.List(ctx, evs, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing the events: %v", err)
	}
	var out []string
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// withTimeout is ctx bounded to d more, cancelled at the end of the test.
func withTimeout(t testing.TB, ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

// verifyOnVolume runs agent verify (agent.Verify) on the backup's directory under the
// host path of its local PV, checks the manifest against the status, and returns the
// directory.
func verifyOnVolume(t *testing.T, root string, b *backupv1alpha1.OvercloudBackup) string {
	t.Helper()
	dir := filepath.Join(root, filepath.FromSlash(b.Status.Artifact.Path))
	m, err := agent.Verify(t.Context(), dir)
	if err != nil {
		t.Fatalf("agent verify %s: %v", dir, err)
	}
	checkManifest(t, m, b)
	t.Logf("agent verify %s: %d files OK", dir, len(m.Files))
	return dir
}

// gone fails the test when the backup directory, or an unfinished attempt's directory of
// the same backup, is still on the volume.
func gone(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still on the volume (stat: %v)", dir, err)
	}
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+filepath.Base(dir)+".") {
			t.Errorf("%s is still on the volume", filepath.Join(filepath.Dir(dir), e.Name()))
		}
	}
}

// deletionWatch follows a backup's deletion: the backup and the Jobs labelled with its
// name, from before the deletion starts until the backup is gone.
type deletionWatch struct {
	k    *cluster
	b    *backupv1alpha1.OvercloudBackup
	done chan deletionSeen
}

// deletionSeen is what the watches delivered.
type deletionSeen struct {
	// terminating: the backup was seen with a deletionTimestamp and the cleanup finalizer.
	terminating bool
	// cleanupJob is the cleanup Job as last seen, nil if never.
	cleanupJob *batchv1.Job
	// cleanupDone: the cleanup Job was seen Complete.
	cleanupDone bool
	// last is the backup as the Deleted event carried it, nil if it did not go; goneAt
	// is when that event arrived.
	last   *backupv1alpha1.OvercloudBackup
	goneAt time.Time
	steps  []string
	err    error
}

// watchDeletion starts watching the backup's deletion, at most timeout; check reads the
// outcome.
func (k *cluster) watchDeletion(t testing.TB, b *backupv1alpha1.OvercloudBackup, timeout time.Duration) *deletionWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	watchBackup := func() (watch.Interface, error) {
		return k.w.Watch(ctx, &backupv1alpha1.OvercloudBackupList{}, client.InNamespace(b.Namespace),
			client.MatchingFields{"metadata.name": b.Name})
	}
	watchJobs := func() (watch.Interface, error) {
		return k.cs.BatchV1().Jobs(b.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: backupv1alpha1.LabelBackup + "=" + b.Name})
	}
	bw, err := watchBackup()
	if err != nil {
		cancel()
		t.Fatalf("watching backup %s: %v", b.Name, err)
	}
	jw, err := watchJobs()
	if err != nil {
		cancel()
		bw.Stop()
		t.Fatalf("watching the Jobs of %s: %v", b.Name, err)
	}
	d := &deletionWatch{k: k, b: b, done: make(chan deletionSeen, 1)}
	start := time.Now()
	go func() {
		defer cancel()
		defer func() { bw.Stop(); jw.Stop() }()
		var seen deletionSeen
		step := func(format string, args ...any) {
			seen.steps = append(seen.steps, fmt.Sprintf("%7.3fs ", time.Since(start).Seconds())+fmt.Sprintf(format, args...))
		}
		job := func(ev watch.Event) {
			j, ok := ev.Object.(*batchv1.Job)
			if !ok || j.Name != b.CleanupJobName() {
				return
			}
			seen.cleanupJob = j
			done := jobDone(j)
			seen.cleanupDone = seen.cleanupDone || done
			step("cleanup Job %s %s (complete %v, succeeded pods %d)", j.Name, ev.Type, done, j.Status.Succeeded)
		}
		for {
			select {
			case ev, ok := <-bw.ResultChan():
				if !ok {
					if bw, err = watchBackup(); err != nil {
						seen.err = err
						d.done <- seen
						return
					}
					continue
				}
				got, isBackup := ev.Object.(*backupv1alpha1.OvercloudBackup)
				if !isBackup {
					continue
				}
				if got.DeletionTimestamp != nil {
					seen.terminating = seen.terminating || controllerutil.ContainsFinalizer(got, backupv1alpha1.FinalizerCleanup)
					step("backup %s %s: finalizers %v, %s", got.Name, ev.Type, got.Finalizers, got.Status.Message)
				}
				if ev.Type == watch.Deleted {
					seen.last, seen.goneAt = got, time.Now()
					// The Jobs' watch is another stream: take what it still holds.
					drain := time.After(3 * time.Second)
				drained:
					for {
						select {
						case ev, ok := <-jw.ResultChan():
							if !ok {
								break drained
							}
							job(ev)
						case <-drain:
							break drained
						}
					}
					d.done <- seen
					return
				}
			case ev, ok := <-jw.ResultChan():
				if !ok {
					if jw, err = watchJobs(); err != nil {
						seen.err = err
						d.done <- seen
						return
					}
					continue
				}
				job(ev)
			case <-ctx.Done():
				seen.err = fmt.Errorf("backup %s not gone %v after the watch started", b.Name, timeout)
				d.done <- seen
				return
			}
		}
	}()
	return d
}

// check waits for the outcome of the deletion: the backup is gone; with cleanup, it was
// held by its finalizer until its cleanup Job completed, which said so in the
// DataDeleted condition, and the controller deleted the Job after; without, no cleanup
// Job ever appeared. It returns when the backup went.
func (d *deletionWatch) check(t *testing.T, cleanup bool) time.Time {
	t.Helper()
	seen := <-d.done
	t.Logf("Deletion of %s:\n%s", d.b.Name, strings.Join(seen.steps, "\n"))
	if seen.err != nil {
		t.Fatalf("the deletion of %s: %v", d.b.Name, seen.err)
	}
	if !cleanup {
		if seen.cleanupJob != nil {
			t.Errorf("a cleanup Job %s for %s, whose policy keeps the data", seen.cleanupJob.Name, d.b.Name)
		}
		return seen.goneAt
	}
	if !seen.terminating || seen.cleanupJob == nil || !seen.cleanupDone {
		t.Errorf("backup %s: seen terminating with its finalizer %v, cleanup Job seen %v, complete %v: want all",
			d.b.Name, seen.terminating, seen.cleanupJob != nil, seen.cleanupDone)
	}
	if j := seen.cleanupJob; j != nil && (j.Labels[backupv1alpha1.LabelBackup] != d.b.Name || len(j.OwnerReferences) != 0) {
		t.Errorf("cleanup Job %s: labels %v, owners %+v: want the backup's label and no owner", j.Name, j.Labels, j.OwnerReferences)
	}
	c := meta.FindStatusCondition(seen.last.Status.Conditions, backupv1alpha1.ConditionDataDeleted)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != backupv1alpha1.ReasonDataDeleted ||
		!strings.Contains(c.Message, d.b.CleanupJobName()) || !strings.Contains(c.Message, "removed") {
		t.Errorf("backup %s went with DataDeleted %+v: want True/%s, saying its cleanup Job removed the data",
			d.b.Name, c, backupv1alpha1.ReasonDataDeleted)
	}
	// The controller deletes the finished cleanup Job.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.k.poll(ctx, t, "the cleanup Job "+d.b.CleanupJobName()+" to go", func(ctx context.Context) (bool, error) {
		err := d.k.c.Get(ctx, client.ObjectKey{Namespace: d.b.Namespace, Name: d.b.CleanupJobName()}, &batchv1.Job{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	return seen.goneAt
}

// jobDone reports whether the Job has its Complete condition.
func jobDone(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
