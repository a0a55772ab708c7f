package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

// restoreWait is how soon a restore waiting on something it does not watch (a backup's
// drill, an overcloud's first probe, a running backup) looks again.
const restoreWait = 30 * time.Second

// indexRestoreOvercloud indexes OvercloudRestores by the Overcloud they name.
const indexRestoreOvercloud = "restore.spec.overcloudRef.name"

// OvercloudRestoreReconciler plans OvercloudRestores: it resolves the backup and the
// overcloud, refuses what must not be restored, writes the plan to status and waits for
// spec.confirm. Running a confirmed plan is not built yet, and the status says so.
type OvercloudRestoreReconciler struct {
	client.Client
	Recorder                events.EventRecorder
	MaxConcurrentReconciles int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudrestores,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudrestores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overclouds,verbs=get;list;watch

// SetupWithManager registers the controller: restores, and the backups and overclouds
// they name (a backup that succeeds or is verified, an overcloud probed, plans again).
func (r *OvercloudRestoreReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &backupv1alpha1.OvercloudRestore{}, indexRestoreOvercloud,
		func(o client.Object) []string {
			return []string{o.(*backupv1alpha1.OvercloudRestore).Spec.OvercloudRef.Name}
		}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&backupv1alpha1.OvercloudRestore{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&backupv1alpha1.Overcloud{}, handler.EnqueueRequestsFromMapFunc(r.ofOvercloud)).
		Watches(&backupv1alpha1.OvercloudBackup{}, handler.EnqueueRequestsFromMapFunc(r.ofBackup)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("overcloudrestore").
		Complete(r)
}

// ofOvercloud is every unfinished restore of the overcloud.
func (r *OvercloudRestoreReconciler) ofOvercloud(ctx context.Context, o client.Object) []reconcile.Request {
	list := &backupv1alpha1.OvercloudRestoreList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexRestoreOvercloud: o.GetName()}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if !restoreFinished(&list.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: list.Items[i].Name}})
		}
	}
	return reqs
}

// ofBackup is every unfinished restore of the backup's overcloud.
func (r *OvercloudRestoreReconciler) ofBackup(ctx context.Context, o client.Object) []reconcile.Request {
	return r.ofOvercloud(ctx, &backupv1alpha1.Overcloud{ObjectMeta: metav1.ObjectMeta{
		Namespace: o.GetNamespace(), Name: o.(*backupv1alpha1.OvercloudBackup).Spec.OvercloudRef.Name}})
}

func restoreFinished(rs *backupv1alpha1.OvercloudRestore) bool {
	return meta.IsStatusConditionTrue(rs.Status.Conditions, backupv1alpha1.ConditionComplete) ||
		meta.IsStatusConditionTrue(rs.Status.Conditions, backupv1alpha1.ConditionFailed)
}

// Reconcile plans one restore.
func (r *OvercloudRestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, req)
	return passResult(ctx, res, err)
}

func (r *OvercloudRestoreReconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rs := &backupv1alpha1.OvercloudRestore{}
	if err := r.Get(ctx, req.NamespacedName, rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if restoreFinished(rs) || !rs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	orig := rs.DeepCopy()
	fx := newSideEffects(r.Recorder, rs)
	w, err := r.gather(ctx, rs)
	if err != nil {
		return ctrl.Result{}, err
	}
	d := decideRestore(rs, w)
	applyRestoreDecision(rs, d, fx)
	changed := !equality.Semantic.DeepEqual(orig.Status, rs.Status)
	if err := fx.writeStatus(ctx, r.Client, rs, orig, changed); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: d.wait}, nil
}

// restoreWorld is what a restore's plan is made from.
type restoreWorld struct {
	backup    *backupv1alpha1.OvercloudBackup // nil: not found
	overcloud *backupv1alpha1.Overcloud       // nil: not found
	// running are the backups of the overcloud that are running.
	running []string
	now     time.Time
}

func (r *OvercloudRestoreReconciler) gather(ctx context.Context, rs *backupv1alpha1.OvercloudRestore) (restoreWorld, error) {
	w := restoreWorld{now: time.Now()}
	if r.Now != nil {
		w.now = r.Now()
	}
	b := &backupv1alpha1.OvercloudBackup{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.BackupRef.Name}, b); {
	case err == nil:
		w.backup = b
	case !apierrors.IsNotFound(err):
		return w, fmt.Errorf("reading backup %s: %w", rs.Spec.BackupRef.Name, err)
	}
	oc := &backupv1alpha1.Overcloud{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.OvercloudRef.Name}, oc); {
	case err == nil:
		w.overcloud = oc
	case !apierrors.IsNotFound(err):
		return w, fmt.Errorf("reading overcloud %s: %w", rs.Spec.OvercloudRef.Name, err)
	}
	backups := &backupv1alpha1.OvercloudBackupList{}
	// The namespace's backups, filtered here: this controller does not depend on the
	// backup controller's index.
	if err := r.List(ctx, backups, client.InNamespace(rs.Namespace)); err != nil {
		return w, fmt.Errorf("listing the backups of overcloud %s: %w", rs.Spec.OvercloudRef.Name, err)
	}
	for _, b := range backups.Items {
		if b.Spec.OvercloudRef.Name == rs.Spec.OvercloudRef.Name && b.Status.Phase == backupv1alpha1.PhaseRunning {
			w.running = append(w.running, b.Name)
		}
	}
	slices.Sort(w.running)
	return w, nil
}

// restoreDecision is what one pass concludes. Pure data.
type restoreDecision struct {
	planned                metav1.ConditionStatus
	plannedReason, message string
	confirmed              metav1.ConditionStatus
	confirmedReason        string
	steps                  []restoreplan.Step
	node                   string
	databases              []string
	// wait is when to look again (0: on a change only).
	wait time.Duration
}

// decideRestore plans the restore from what the pass gathered. Pure.
func decideRestore(rs *backupv1alpha1.OvercloudRestore, w restoreWorld) restoreDecision {
	refuse := func(reason, msg string, wait time.Duration) restoreDecision {
		return restoreDecision{planned: metav1.ConditionFalse, plannedReason: reason, message: msg, wait: wait}
	}
	b, oc := w.backup, w.overcloud
	switch {
	case b == nil:
		return refuse(backupv1alpha1.ReasonRestoreBackupNotFound,
			fmt.Sprintf("OvercloudBackup %s does not exist in namespace %s", rs.Spec.BackupRef.Name, rs.Namespace), 0)
	case b.Status.Phase != backupv1alpha1.PhaseSucceeded || b.Status.Artifact == nil:
		return refuse(backupv1alpha1.ReasonBackupNotSucceeded,
			fmt.Sprintf("backup %s has not succeeded (phase %q): only a complete backup is restored", b.Name, b.Status.Phase), 0)
	case !meta.IsStatusConditionTrue(b.Status.Conditions, backupv1alpha1.ConditionVerified) && !rs.Spec.AllowUnverified:
		why := "it has no Verified condition (no restore drill was asked for)"
		if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionVerified); c != nil {
			why = fmt.Sprintf("its restore drill says Verified=%s, %s", c.Status, c.Reason)
		}
		return refuse(backupv1alpha1.ReasonBackupUnverified, fmt.Sprintf("backup %s is not proven to restore: %s; "+
			"set spec.allowUnverified to restore it anyway, or drill it (annotation %s)", b.Name, why, backupv1alpha1.AnnotationVerify),
			restoreWait)
	case oc == nil:
		return refuse(backupv1alpha1.ReasonOvercloudNotFound,
			fmt.Sprintf("Overcloud %s does not exist in namespace %s", rs.Spec.OvercloudRef.Name, rs.Namespace), 0)
	}
	backupCluster, seqno := "", int64(0)
	if p := b.Status.Artifact.Position; p != nil {
		backupCluster, seqno = p.ClusterUUID, p.Seqno
	}
	switch {
	case oc.Status.ClusterStateUUID == "":
		return refuse(backupv1alpha1.ReasonClusterUnknown, fmt.Sprintf("overcloud %s's Galera cluster identity is not known "+
			"yet (status.clusterStateUUID): it is compared with the backup's before anything is planned", oc.Name), restoreWait)
	case backupCluster != "" && backupCluster != oc.Status.ClusterStateUUID:
		return refuse(backupv1alpha1.ReasonOtherCluster, fmt.Sprintf("backup %s is of Galera cluster %s, overcloud %s is "+
			"cluster %s: a backup is restored only into the cluster it was taken from", b.Name, backupCluster, oc.Name,
			oc.Status.ClusterStateUUID), 0)
	case len(w.running) > 0:
		return refuse(backupv1alpha1.ReasonBackupInProgress, fmt.Sprintf("backup %s of overcloud %s is running: the "+
			"restore is planned once it has ended", strings.Join(w.running, ", "), oc.Name), restoreWait)
	}
	in := restoreplan.Input{
		Mode: string(rs.Spec.Mode), Overcloud: oc.Name, Backup: b.Name, Method: string(b.Status.Artifact.Method),
		BackupPath: b.Status.Artifact.Path, Asked: rs.Spec.Databases, Users: rs.Spec.Users == backupv1alpha1.UsersInclude,
		Node: oc.Status.BackupFrom, GaleraResource: galeraResourceOf(oc), Stamp: w.now.UTC().Format("20060102T150405Z"),
		ClusterUUID: backupCluster, Seqno: seqno,
	}
	for _, n := range oc.Spec.Nodes {
		in.Nodes = append(in.Nodes, restoreplan.Node{Name: n.Name, Address: n.Address, Port: int(n.MySQLPortOrDefault())})
		if n.Name == in.Node {
			in.Address, in.Port = n.Address, int(n.MySQLPortOrDefault())
		}
	}
	in.Bundle = strings.HasSuffix(in.GaleraResource, "-bundle")
	if in.Mode == restoreplan.Databases && in.Node == "" {
		return refuse(backupv1alpha1.ReasonNoIdleNode, fmt.Sprintf("overcloud %s has no idle, synced node to restore "+
			"through now (status.backupFrom is empty: %s)", oc.Name, clip(oc.Status.Reason, 256)), restoreWait)
	}
	steps, dbs, err := restoreplan.Plan(in)
	if err != nil {
		return refuse(backupv1alpha1.ReasonPlanRefused, err.Error(), 0)
	}
	d := restoreDecision{planned: metav1.ConditionTrue, plannedReason: backupv1alpha1.ReasonPlanned,
		steps: steps, node: in.Node, databases: dbs}
	switch rs.Spec.Confirm {
	case oc.Name:
		d.confirmed, d.confirmedReason = metav1.ConditionTrue, backupv1alpha1.ReasonConfirmed
		d.message = fmt.Sprintf("the plan is confirmed, and running it is not built yet in this operator: run its %d steps "+
			"by hand (docs/restore.md); status.plan has each command", len(steps))
	case "":
		d.confirmed, d.confirmedReason = metav1.ConditionFalse, backupv1alpha1.ReasonAwaitingConfirmation
		d.message = fmt.Sprintf("%d steps planned; read status.plan, then set spec.confirm to %q to run them", len(steps), oc.Name)
	default:
		d.confirmed, d.confirmedReason = metav1.ConditionFalse, backupv1alpha1.ReasonConfirmMismatch
		d.message = fmt.Sprintf("spec.confirm is not the overcloud's name: set it to %q to run the plan", oc.Name)
	}
	return d
}

// galeraResourceOf is the Overcloud's galera resource, when it names one.
func galeraResourceOf(oc *backupv1alpha1.Overcloud) string {
	if p := oc.Spec.Pacemaker; p != nil {
		return p.GaleraResource
	}
	return ""
}

// applyRestoreDecision writes the decision into the restore's status, and queues the
// events of what changed.
func applyRestoreDecision(rs *backupv1alpha1.OvercloudRestore, d restoreDecision, fx *sideEffects) {
	st := &rs.Status
	st.ObservedGeneration = rs.Generation
	set := func(typ string, status metav1.ConditionStatus, reason, msg string) bool {
		return meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
			Message: clip(msg, 1024), ObservedGeneration: rs.Generation})
	}
	if set(backupv1alpha1.ConditionPlanned, d.planned, d.plannedReason, d.message) {
		fx.transitionEvent(d.planned != metav1.ConditionTrue, d.plannedReason, clip(d.message, 1024))
	}
	st.Message = clip(d.message, 2048)
	if d.planned != metav1.ConditionTrue {
		meta.RemoveStatusCondition(&st.Conditions, backupv1alpha1.ConditionConfirmed)
		st.Phase, st.Plan, st.Node, st.Databases = backupv1alpha1.RestorePending, nil, "", nil
		set(backupv1alpha1.ConditionReady, metav1.ConditionFalse, d.plannedReason, d.message)
		return
	}
	st.Phase, st.Node, st.Databases = backupv1alpha1.RestorePlanned, d.node, d.databases
	st.Plan = make([]backupv1alpha1.RestoreStep, len(d.steps))
	for i, s := range d.steps {
		st.Plan[i] = backupv1alpha1.RestoreStep{Name: s.Name, Node: s.Node, Description: clip(s.Description, 1024),
			Command: clip(s.Command, 4096), Before: clip(s.Before, 1024), After: clip(s.After, 1024)}
	}
	if set(backupv1alpha1.ConditionConfirmed, d.confirmed, d.confirmedReason, d.message) && d.confirmed == metav1.ConditionTrue {
		fx.transitionEvent(true, backupv1alpha1.ReasonExecutionNotBuilt, clip(d.message, 1024))
	}
	readyReason := d.confirmedReason
	if d.confirmed == metav1.ConditionTrue {
		readyReason = backupv1alpha1.ReasonExecutionNotBuilt
	}
	set(backupv1alpha1.ConditionReady, metav1.ConditionFalse, readyReason, d.message)
}
