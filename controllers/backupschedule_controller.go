package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/schedule"
)

// Event reasons of the BackupSchedule controller.
const (
	eventRunStarted    = "RunStarted"
	eventRunSkipped    = "RunSkipped"
	eventRunMissed     = "RunMissed"
	eventTooManyMissed = "TooManyMissedRuns"
	eventRunNow        = "RunNow"
	eventNameTaken     = "NameTaken"
	eventPruned        = "Pruned"
	eventReplaced      = "Replaced"
)

// BackupScheduleReconciler creates an OvercloudBackup from the template at each due time
// of the schedule, like the CronJob controller creates Jobs, one per run-now value, and
// prunes old backups by the history limits. A failed backup never stops the schedule.
type BackupScheduleReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Now is time.Now when nil: tests move the clock instead of sleeping.
	Now func() time.Time
	// MaxConcurrentReconciles is 1 when zero.
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=backup.overcloud.io,resources=backupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=backupschedules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups,verbs=get;list;watch;create;delete

// schedulePass is one reconcile of one schedule.
type schedulePass struct {
	r    *BackupScheduleReconciler
	s    *backupv1alpha1.BackupSchedule
	orig *backupv1alpha1.BackupSchedule
	now  time.Time
	// fx tells actions at once and transitions once the status is written.
	fx *sideEffects
}

// Reconcile observes the schedule's children, starts the run that is due (or the run-now
// backup), prunes the history, and writes the status in one patch.
func (r *BackupScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, req)
	return passResult(ctx, res, err)
}

func (r *BackupScheduleReconciler) reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	s := &backupv1alpha1.BackupSchedule{}
	if err := r.Get(ctx, req.NamespacedName, s); err != nil {
		if apierrors.IsNotFound(err) {
			schedules.forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		// Its backups go with it (owner references); their deletionPolicy decides the data.
		return ctrl.Result{}, nil
	}
	p := &schedulePass{r: r, s: s, orig: s.DeepCopy(), now: r.now(), fx: newSideEffects(r.Recorder, s)}
	defer func() {
		if err := p.patchStatus(ctx, retErr == nil); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	return p.run(ctx)
}

func (p *schedulePass) run(ctx context.Context) (ctrl.Result, error) {
	s := p.s
	children, err := p.r.children(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	observeChildren(&s.Status, children)

	if err := p.runNow(ctx, children); err != nil {
		return ctrl.Result{}, err
	}

	var res ctrl.Result
	tz := ptr.Deref(s.Spec.TimeZone, "")
	sc, perr := schedule.Parse(s.Spec.Schedule, tz)
	switch {
	case perr != nil:
		reason := backupv1alpha1.ReasonInvalidSchedule
		var fe *schedule.FieldError
		if errors.As(perr, &fe) && fe.Field == schedule.FieldTimeZone {
			reason = backupv1alpha1.ReasonInvalidTimeZone
		}
		msg := perr.Error() + ": no run starts until it is fixed"
		if !isScheduleCondition(p.orig, backupv1alpha1.ConditionScheduleValid, reason, msg) {
			p.event(true, reason, msg)
		}
		p.setCondition(backupv1alpha1.ConditionScheduleValid, metav1.ConditionFalse, reason, msg)
		p.setCondition(backupv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
		s.Status.NextScheduleTime = nil
	case s.IsSuspended():
		p.setCondition(backupv1alpha1.ConditionScheduleValid, metav1.ConditionTrue, backupv1alpha1.ReasonScheduleParsed,
			fmt.Sprintf("%q in %s", s.Spec.Schedule, sc.Location()))
		p.setCondition(backupv1alpha1.ConditionReady, metav1.ConditionTrue, backupv1alpha1.ReasonSuspended,
			"Suspended: no new runs start; running backups finish")
		s.Status.NextScheduleTime = nil
	default:
		p.setCondition(backupv1alpha1.ConditionScheduleValid, metav1.ConditionTrue, backupv1alpha1.ReasonScheduleParsed,
			fmt.Sprintf("%q in %s", s.Spec.Schedule, sc.Location()))
		if res, err = p.scheduled(ctx, sc, children); err != nil {
			return ctrl.Result{}, err
		}
	}

	if err := p.prune(ctx, children); err != nil {
		return ctrl.Result{}, err
	}
	p.recordMetrics(sc)
	return res, nil
}

// scheduled starts the run that is due, if any, by the concurrency policy, and says
// when the next one is.
func (p *schedulePass) scheduled(
	ctx context.Context, sc *schedule.Schedule, children []backupv1alpha1.OvercloudBackup,
) (ctrl.Result, error) {
	s := p.s
	earliest := s.CreationTimestamp.Time
	if s.Status.LastScheduleTime != nil {
		earliest = s.Status.LastScheduleTime.Time
	}
	d := sc.Decide(earliest, s.Spec.StartingDeadlineSeconds, p.now)
	if !d.Next.IsZero() {
		s.Status.NextScheduleTime = &metav1.Time{Time: d.Next}
	} else {
		s.Status.NextScheduleTime = nil
	}
	ready := fmt.Sprintf("Next run at %s", d.Next.UTC().Format(time.RFC3339))
	if d.Next.IsZero() {
		ready = "The schedule has no run within five years"
	}
	// A decision is reported once: the previous pass's nextScheduleTime is the run this
	// pass is the first to see due.
	fresh := p.orig.Status.NextScheduleTime == nil || !p.orig.Status.NextScheduleTime.After(d.MostRecent)
	ns, name := s.Namespace, s.Name
	if d.TooManyMissed && fresh {
		p.event(true, eventTooManyMissed, fmt.Sprintf("More than %d runs were missed (the operator was stopped, or the clock jumped): "+
			"only the most recent, due at %s, is considered", schedule.MaxMissed, d.MostRecent.UTC().Format(time.RFC3339)))
	}
	switch {
	case d.MostRecent.IsZero():
	case d.TooLate:
		if fresh {
			msg := fmt.Sprintf("The run due at %s was missed: it could not start within startingDeadlineSeconds (%ds)",
				d.MostRecent.UTC().Format(time.RFC3339), ptr.Deref(s.Spec.StartingDeadlineSeconds, 0))
			p.event(true, eventRunMissed, msg)
			p.fx.transition(func() { scheduleRuns.WithLabelValues(ns, name, runMissed).Inc() })
			ready = msg + "; " + ready
		}
	default:
		started, msg, err := p.start(ctx, d.MostRecent, children)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !started {
			ready = msg + "; " + ready
		}
	}
	p.setCondition(backupv1alpha1.ConditionReady, metav1.ConditionTrue, backupv1alpha1.ReasonScheduled, ready)
	// Requeue at the next slot, not by polling; the children's changes come by watch.
	return ctrl.Result{RequeueAfter: d.RequeueAfter(p.now)}, nil
}

// start creates the backup of the run due at due, by the concurrency policy. started is
// false when the run was skipped, msg says why.
func (p *schedulePass) start(ctx context.Context, due time.Time, children []backupv1alpha1.OvercloudBackup) (bool, string, error) {
	s := p.s
	ns, name := s.Namespace, s.Name
	active := s.Status.Active
	policy := s.EffectiveConcurrencyPolicy()
	childName := schedule.ChildName(s.Name, due)
	// The run's own backup may already be active (created by an earlier pass).
	if len(active) > 0 && !containsRef(active, childName) {
		switch policy {
		case backupv1alpha1.ConcurrencyForbid:
			msg := fmt.Sprintf("Skipped the run due at %s: backup %s is still running (concurrencyPolicy Forbid); "+
				"it starts when that one finishes, if still within startingDeadlineSeconds",
				due.UTC().Format(time.RFC3339), active[0].Name)
			if !strings.Contains(readyMessage(p.orig), "Skipped the run due at "+due.UTC().Format(time.RFC3339)) {
				p.event(false, eventRunSkipped, msg)
				p.fx.transition(func() { scheduleRuns.WithLabelValues(ns, name, runSkipped).Inc() })
			}
			return false, msg, nil
		case backupv1alpha1.ConcurrencyReplace:
			for _, ref := range active {
				for i := range children {
					if children[i].Name != ref.Name {
						continue
					}
					err := p.r.Delete(ctx, &children[i], client.PropagationPolicy(metav1.DeletePropagationBackground))
					if client.IgnoreNotFound(err) != nil {
						return false, "", fmt.Errorf("deleting the running backup %s (concurrencyPolicy Replace): %w", ref.Name, err)
					}
					p.fx.actionEvent(eventReplaced, fmt.Sprintf(
						"Deleted the running backup %s: the run due at %s replaces it (concurrencyPolicy Replace)",
						ref.Name, due.UTC().Format(time.RFC3339)))
				}
			}
			s.Status.Active = nil
		}
	}
	created, msg, err := p.create(ctx, buildChild(s, childName, due, "", drillDue(s, children, due)))
	if err != nil || msg != "" {
		return false, msg, err
	}
	s.Status.LastScheduleTime = &metav1.Time{Time: due}
	if created {
		p.fx.actionEvent(eventRunStarted,
			fmt.Sprintf("Created backup %s for the run due at %s", childName, due.UTC().Format(time.RFC3339)))
		scheduleRuns.WithLabelValues(ns, name, runStarted).Inc()
	}
	if !containsRef(s.Status.Active, childName) {
		s.Status.Active = append(s.Status.Active, backupv1alpha1.BackupReference{Name: childName})
	}
	return true, "", nil
}

// runNow creates one backup per distinct value of the run-now annotation, and records
// the value so that a re-apply of the same value (GitOps) does not start another.
func (p *schedulePass) runNow(ctx context.Context, children []backupv1alpha1.OvercloudBackup) error {
	s := p.s
	v := s.RunNowRequest()
	if v == "" {
		return nil
	}
	name, key := s.RunNowName(v), backupv1alpha1.RequestKey(v)
	created, msg, err := p.create(ctx, buildChild(s, name, p.now, key, drillDue(s, children, p.now)))
	if err != nil {
		return err
	}
	s.Status.LastRunNow = key
	if msg != "" {
		p.event(true, eventNameTaken, msg)
		return nil
	}
	if created {
		p.fx.actionEvent(eventRunNow, fmt.Sprintf("Created backup %s for run-now %q", name, clip(v, 64)))
		scheduleRuns.WithLabelValues(s.Namespace, s.Name, runStarted).Inc()
	}
	if !containsRef(s.Status.Active, name) {
		s.Status.Active = append(s.Status.Active, backupv1alpha1.BackupReference{Name: name})
	}
	return nil
}

// create gets the child before creating it: its name is the lock, so a restarted manager
// (or a second replica) never creates a run twice. A name held by an object this schedule
// does not control is reported (msg), never adopted.
func (p *schedulePass) create(ctx context.Context, want *backupv1alpha1.OvercloudBackup) (created bool, msg string, err error) {
	got := &backupv1alpha1.OvercloudBackup{}
	err = p.r.Get(ctx, client.ObjectKeyFromObject(want), got)
	if apierrors.IsNotFound(err) {
		err = p.r.Create(ctx, want)
		if err == nil {
			return true, "", nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return false, "", fmt.Errorf("creating backup %s: %w", want.Name, err)
		}
		err = p.r.Get(ctx, client.ObjectKeyFromObject(want), got)
	}
	if err != nil {
		return false, "", fmt.Errorf("getting backup %s: %w", want.Name, err)
	}
	if !metav1.IsControlledBy(got, p.s) {
		ns, name := p.s.Namespace, p.s.Name
		p.fx.transition(func() { scheduleRuns.WithLabelValues(ns, name, runSkipped).Inc() })
		return false, fmt.Sprintf("Backup %s exists and does not belong to this schedule: the run is skipped "+
			"(the schedule never adopts it)", want.Name), nil
	}
	return false, "", nil
}

// prune deletes the finished backups beyond the history limits (and keepWithin), oldest
// first; never a running one, never the newest success.
func (p *schedulePass) prune(ctx context.Context, children []backupv1alpha1.OvercloudBackup) error {
	for _, d := range retentionOf(p.s).Prune(retentionChildren(children), p.now) {
		for i := range children {
			c := &children[i]
			if c.Name != d.Name {
				continue
			}
			if err := p.r.Delete(ctx, c, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("pruning backup %s: %w", c.Name, err)
			}
			p.fx.actionEvent(eventPruned, fmt.Sprintf("Deleted backup %s (%s; deletionPolicy %s)", c.Name, d.Reason, c.EffectiveDeletionPolicy()))
		}
	}
	return nil
}

// recordMetrics feeds the schedule gauges (seconds since the last success, interval).
func (p *schedulePass) recordMetrics(sc *schedule.Schedule) {
	s := p.s
	row := scheduleRow{since: s.CreationTimestamp.Time, suspended: s.IsSuspended()}
	if s.Status.LastSuccessfulTime != nil {
		row.since, row.succeeded = s.Status.LastSuccessfulTime.Time, true
	}
	if sc != nil {
		row.interval = scheduleInterval(sc, p.now)
	}
	// Verification is watched only for a schedule whose backups get drills: a drill of
	// every backup, or one per verification interval, whichever is longer.
	tmpl := &backupv1alpha1.OvercloudBackup{Spec: s.Spec.BackupTemplate.Spec}
	// Backups that record no digests are never Verified=True (NotCompared): not watched.
	if tmpl.WantsDrill() && tmpl.Spec.Dump.RecordsDigests() {
		row.verifyInterval = max(row.interval, s.VerificationInterval())
		row.verifiedSince = s.CreationTimestamp.Time
		if s.Status.LastVerifiedTime != nil {
			row.verifiedSince, row.verified = s.Status.LastVerifiedTime.Time, true
		}
	}
	ns, name, failures := s.Namespace, s.Name, s.Status.ConsecutiveFailures
	p.fx.transition(func() {
		schedules.set(ns, name, row)
		scheduleFailures.WithLabelValues(ns, name).Set(float64(failures))
	})
}

func (p *schedulePass) patchStatus(ctx context.Context, ok bool) error {
	s := p.s
	if ok {
		s.Status.ObservedGeneration = s.Generation
	}
	return p.fx.writeStatus(ctx, p.r.Client, s, p.orig, !equality.Semantic.DeepEqual(p.orig.Status, s.Status))
}

func (p *schedulePass) setCondition(typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&p.s.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: clip(msg, maxMessage), ObservedGeneration: p.s.Generation,
	})
}

// event is emitted once the status that records it is written: a pass whose patch
// fails is retried and would report it twice.
func (p *schedulePass) event(warning bool, reason, note string) {
	p.fx.transitionEvent(warning, reason, note)
}

// children are the backups this schedule controls.
func (r *BackupScheduleReconciler) children(
	ctx context.Context, s *backupv1alpha1.BackupSchedule,
) ([]backupv1alpha1.OvercloudBackup, error) {
	list := &backupv1alpha1.OvercloudBackupList{}
	if err := r.List(ctx, list, client.InNamespace(s.Namespace), client.MatchingLabels{backupv1alpha1.LabelSchedule: s.Name}); err != nil {
		return nil, fmt.Errorf("listing the schedule's backups: %w", err)
	}
	out := list.Items[:0]
	for _, b := range list.Items {
		if metav1.IsControlledBy(&b, s) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (r *BackupScheduleReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager registers the controller: the schedules and the backups they own.
func (r *BackupScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&backupv1alpha1.BackupSchedule{}).
		Owns(&backupv1alpha1.OvercloudBackup{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("backupschedule").
		Complete(r)
}

func containsRef(refs []backupv1alpha1.BackupReference, name string) bool {
	for _, r := range refs {
		if r.Name == name {
			return true
		}
	}
	return false
}

func readyMessage(s *backupv1alpha1.BackupSchedule) string {
	if c := meta.FindStatusCondition(s.Status.Conditions, backupv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

func isScheduleCondition(s *backupv1alpha1.BackupSchedule, typ, reason, msg string) bool {
	c := meta.FindStatusCondition(s.Status.Conditions, typ)
	return c != nil && c.Reason == reason && c.Message == clip(msg, maxMessage)
}
