package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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
	"github.com/overcloud-backup/overcloud-backup-operator/internal/jobpolicy"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

// restoreWait is how soon a restore waiting on something it does not watch (a backup's
// drill, an overcloud's first probe, a running backup) looks again.
const restoreWait = 30 * time.Second

// indexRestoreOvercloud indexes OvercloudRestores by the Overcloud they name.
const indexRestoreOvercloud = "restore.spec.overcloudRef.name"

// OvercloudRestoreReconciler plans OvercloudRestores: it resolves the backup and the
// overcloud, refuses what must not be restored, writes the plan to status and waits for
// spec.confirm; then it runs a confirmed plan in a Job (`agent restore` for Databases,
// `agent restore-cluster` for WholeCluster) and records what the Job proved.
type OvercloudRestoreReconciler struct {
	client.Client
	// APIReader reads the restore Job's pods from the API server.
	APIReader               client.Reader
	Recorder                events.EventRecorder
	MaxConcurrentReconciles int
	// AgentImage runs the restore Job unless the backup's spec.job.image says otherwise;
	// JobPolicy is the manager's policy for what that pod may be.
	AgentImage string
	JobPolicy  jobpolicy.Policy
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudrestores,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudrestores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overclouds,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

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
		Owns(&batchv1.Job{}).
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
	var wait time.Duration
	if rs.Status.JobName != "" {
		// Started: the plan is not made again (the world it was made from is changing
		// under the restore); the Job is followed to its end.
		if err := r.follow(ctx, rs, fx); err != nil {
			return ctrl.Result{}, err
		}
	} else {
		w, err := r.gather(ctx, rs)
		if err != nil {
			return ctrl.Result{}, err
		}
		d := decideRestore(rs, w)
		applyRestoreDecision(rs, d, fx)
		wait = d.wait
		if d.confirmed == metav1.ConditionTrue {
			if err := r.start(ctx, rs, w, d, fx); err != nil {
				return ctrl.Result{}, err
			}
			if rs.Status.JobName == "" && !restoreFinished(rs) {
				wait = restoreWait // a backup Job of the cluster went first
			}
		}
	}
	changed := !equality.Semantic.DeepEqual(orig.Status, rs.Status)
	if err := fx.writeStatus(ctx, r.Client, rs, orig, changed); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// start creates the restore Job of a confirmed Databases plan (once: its name is the
// lock) and marks the restore Running.
func (r *OvercloudRestoreReconciler) start(ctx context.Context, rs *backupv1alpha1.OvercloudRestore, w restoreWorld,
	d restoreDecision, fx *sideEffects,
) error {
	b := w.backup
	policy := r.JobPolicy
	policy.AgentImage = r.AgentImage
	if err := jobpolicy.Check(rs.Namespace, b.Spec.Job, policy); err != nil {
		r.fail(rs, fx, backupv1alpha1.ReasonRestoreJobNotAllowed, "the restore Job is not allowed: "+err.Error())
		return nil
	}
	args, what := restoreplan.AgentArgs(d.input, d.databases), databasesText(d.databases)+" through "+d.node
	if d.input.Mode == restoreplan.WholeCluster {
		args, what = restoreplan.ClusterAgentArgs(d.input), "every node's data"
		if t := w.overcloud.Spec.SSH.Timeout; t != nil {
			args = append(args, "--ssh-timeout="+t.Duration.String())
		}
	}
	job, err := BuildRestoreJob(rs, b, w.overcloud, args, r.AgentImage)
	if err != nil {
		r.fail(rs, fx, backupv1alpha1.ReasonRestoreJobNotAllowed, err.Error())
		return nil
	}
	// The same lock and check as a backup's start: no restore Job starts beside a backup
	// Job of the Galera cluster (the plan saw none; one may have started since).
	unlock := lockGaleraCluster(w.overcloud.Status.ClusterStateUUID)
	defer unlock()
	if other, err := r.backupRunning(ctx, rs.Namespace, w.overcloud.Status.ClusterStateUUID); err != nil || other != "" {
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("confirmed; waiting for backup %s, running on the same Galera cluster, to end", other)
		rs.Status.Message = msg
		r.set(rs, backupv1alpha1.ConditionReady, metav1.ConditionFalse, backupv1alpha1.ReasonBackupInProgress, msg)
		return nil
	}
	got := &batchv1.Job{}
	switch err := r.Get(ctx, client.ObjectKeyFromObject(job), got); {
	case apierrors.IsNotFound(err):
		if err := r.Create(ctx, job); err != nil {
			return fmt.Errorf("creating the restore Job %s: %w", job.Name, err)
		}
		fx.actionEvent(backupv1alpha1.ReasonRestoreRunning, fmt.Sprintf("Created Job %s: restoring %s", job.Name, what))
	case err != nil:
		return fmt.Errorf("getting the restore Job %s: %w", job.Name, err)
	case !metav1.IsControlledBy(got, rs):
		r.fail(rs, fx, backupv1alpha1.ReasonRestoreJobNotAllowed, fmt.Sprintf("a Job named %s exists and is not this restore's", job.Name))
		return nil
	}
	now := metav1.NewTime(r.now())
	rs.Status.JobName, rs.Status.StartTime, rs.Status.Phase = job.Name, &now, backupv1alpha1.RestoreRunning
	msg := fmt.Sprintf("restoring %s (Job %s); backups of the Galera cluster wait until it ends", what, job.Name)
	rs.Status.Message = msg
	r.set(rs, backupv1alpha1.ConditionReady, metav1.ConditionFalse, backupv1alpha1.ReasonRestoreRunning, msg)
	return nil
}

// backupRunning names a backup whose agent Job runs on the Galera cluster in the
// namespace, "" when none does; read from the API server, as the backups' own check is.
func (r *OvercloudRestoreReconciler) backupRunning(ctx context.Context, namespace, cluster string) (string, error) {
	jobs := &batchv1.JobList{}
	if err := r.APIReader.List(ctx, jobs, client.InNamespace(namespace),
		client.MatchingLabels{backupv1alpha1.LabelCluster: cluster, labelComponent: agentComponent}); err != nil {
		return "", fmt.Errorf("listing the backup Jobs of Galera cluster %s: %w", cluster, err)
	}
	for i := range jobs.Items {
		if j := &jobs.Items[i]; !jobFinished(j) && j.DeletionTimestamp.IsZero() {
			return j.Labels[backupv1alpha1.LabelBackup], nil
		}
	}
	return "", nil
}

// follow reads the restore Job and, once it has ended, what it proved.
func (r *OvercloudRestoreReconciler) follow(ctx context.Context, rs *backupv1alpha1.OvercloudRestore, fx *sideEffects) error {
	job := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Status.JobName}, job)
	if apierrors.IsNotFound(err) {
		r.fail(rs, fx, backupv1alpha1.ReasonRestoreJobFailed, fmt.Sprintf("the restore Job %s is gone before it ended: what it "+
			"did is unknown; %s", rs.Status.JobName, unknownOutcome(rs)))
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting the restore Job %s: %w", rs.Status.JobName, err)
	}
	done, succeeded, why := jobOutcome(job)
	if !done {
		return nil
	}
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return fmt.Errorf("listing the pods of Job %s: %w", job.Name, err)
	}
	res, ok := restoreResultOf(pods.Items, job)
	rs.Status.Result = res
	now := metav1.NewTime(r.now())
	rs.Status.CompletionTime = &now
	switch {
	case succeeded && ok && res.Error == "" && allEqual(res.Proofs):
		rs.Status.Phase = backupv1alpha1.RestoreSucceeded
		msg := fmt.Sprintf("restored %d tables, %d rows (%s MiB/s) through %s; every node proved equal to the backup: %s",
			res.Tables, res.Rows, res.ThroughputMiB, rs.Status.Node, provedNodes(res.Proofs))
		if rs.Spec.Mode == backupv1alpha1.RestoreWholeCluster {
			msg = fmt.Sprintf("restored every node's data (%d tables, %d rows, %s MiB/s), galera promoted again; every node "+
				"proved equal to the backup: %s; the previous datadirs are kept aside (status.plan, keep-aside steps)",
				res.Tables, res.Rows, res.ThroughputMiB, provedNodes(res.Proofs))
		}
		rs.Status.Message = msg
		r.set(rs, backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonRestoreSucceeded, msg)
		r.set(rs, backupv1alpha1.ConditionReady, metav1.ConditionTrue, backupv1alpha1.ReasonRestoreSucceeded, msg)
		fx.transitionEvent(false, backupv1alpha1.ReasonRestoreSucceeded, msg)
		restoresTotal.WithLabelValues("succeeded").Inc()
	case !ok:
		r.fail(rs, fx, backupv1alpha1.ReasonRestoreJobFailed, fmt.Sprintf("the restore Job %s ended (%s) without a result: "+
			"what it did is unknown; %s", job.Name, cmp.Or(why, "succeeded"), unknownOutcome(rs)))
	default:
		why := res.Error
		if why == "" {
			why = "not every node proved equal to the backup: " + provedNodes(res.Proofs)
		}
		msg := fmt.Sprintf("the restore stopped: %s. The databases before the failed step are restored; run the "+
			"restore again (a new OvercloudRestore) or finish it by hand (docs/restore.md)", why)
		if rs.Spec.Mode == backupv1alpha1.RestoreWholeCluster {
			// The agent's error names the step, each node's state (galera's role, its
			// datadir kept aside or not) and the commands to finish or roll back.
			msg = "the WholeCluster restore stopped: " + why
		}
		r.fail(rs, fx, backupv1alpha1.ReasonRestoreStepFailed, msg)
	}
	if s := rs.Status.StartTime; s != nil {
		restoreSeconds.Observe(now.Sub(s.Time).Seconds())
	}
	return nil
}

// unknownOutcome is what to check after a restore Job that ended without a result (killed,
// evicted, its node lost). A WholeCluster one may have stopped galera and moved datadirs
// aside: said plainly, with the plan's own command to start galera again. Pure.
func unknownOutcome(rs *backupv1alpha1.OvercloudRestore) string {
	if rs.Spec.Mode != backupv1alpha1.RestoreWholeCluster {
		return "check the restored databases on every node before using them"
	}
	start := "the plan's start-galera command"
	for _, st := range rs.Status.Plan {
		if st.Name == "start-galera" && st.Command != "" {
			start = "`" + st.Command + "`"
		}
	}
	return "GALERA MAY BE LEFT STOPPED (target-role Stopped) and datadirs moved aside (status.plan, keep-aside steps): " +
		"read crm_mon on a controller; once every node's datadir is in place (the kept-aside one moved back to roll back, " +
		"docs/restore.md), start galera on one node with " + start
}

// fail ends the restore Failed with the reason, said in status and an event.
func (r *OvercloudRestoreReconciler) fail(rs *backupv1alpha1.OvercloudRestore, fx *sideEffects, reason, msg string) {
	rs.Status.Phase, rs.Status.Message = backupv1alpha1.RestoreFailed, clip(msg, 2048)
	r.set(rs, backupv1alpha1.ConditionFailed, metav1.ConditionTrue, reason, msg)
	r.set(rs, backupv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	fx.transitionEvent(true, reason, clip(msg, 1024))
	restoresTotal.WithLabelValues("failed").Inc()
}

func (r *OvercloudRestoreReconciler) set(rs *backupv1alpha1.OvercloudRestore, typ string, status metav1.ConditionStatus,
	reason, msg string,
) {
	meta.SetStatusCondition(&rs.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
		Message: clip(msg, 1024), ObservedGeneration: rs.Generation})
}

func (r *OvercloudRestoreReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
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
	// input is what the plan was made from.
	input restoreplan.Input
	// wait is when to look again (0: on a change only).
	wait time.Duration
}

// decideRestore plans the restore from what the pass gathered. Pure.
func decideRestore(rs *backupv1alpha1.OvercloudRestore, w restoreWorld) restoreDecision {
	if d, refused := refusal(rs, w); refused {
		return d
	}
	return planRestore(rs, w)
}

// refuse is a decision not to plan, for the reason.
func refuse(reason, msg string, wait time.Duration) restoreDecision {
	return restoreDecision{planned: metav1.ConditionFalse, plannedReason: reason, message: msg, wait: wait}
}

// refusal says why the restore cannot be planned now, if it cannot. Pure.
func refusal(rs *backupv1alpha1.OvercloudRestore, w restoreWorld) (restoreDecision, bool) {
	b, oc := w.backup, w.overcloud
	switch {
	case b == nil:
		return refuse(backupv1alpha1.ReasonRestoreBackupNotFound,
			fmt.Sprintf("OvercloudBackup %s does not exist in namespace %s", rs.Spec.BackupRef.Name, rs.Namespace), 0), true
	case b.Status.Phase != backupv1alpha1.PhaseSucceeded || b.Status.Artifact == nil:
		return refuse(backupv1alpha1.ReasonBackupNotSucceeded,
			fmt.Sprintf("backup %s has not succeeded (phase %q): only a complete backup is restored", b.Name, b.Status.Phase), 0), true
	case !meta.IsStatusConditionTrue(b.Status.Conditions, backupv1alpha1.ConditionVerified) && !rs.Spec.AllowUnverified:
		why := "it has no Verified condition (no restore drill was asked for)"
		if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionVerified); c != nil {
			why = fmt.Sprintf("its restore drill says Verified=%s, %s", c.Status, c.Reason)
		}
		return refuse(backupv1alpha1.ReasonBackupUnverified, fmt.Sprintf("backup %s is not proven to restore: %s; "+
			"set spec.allowUnverified to restore it anyway, or drill it (annotation %s)", b.Name, why, backupv1alpha1.AnnotationVerify),
			restoreWait), true
	case oc == nil:
		return refuse(backupv1alpha1.ReasonOvercloudNotFound,
			fmt.Sprintf("Overcloud %s does not exist in namespace %s", rs.Spec.OvercloudRef.Name, rs.Namespace), 0), true
	}
	backupCluster := ""
	if p := b.Status.Artifact.Position; p != nil {
		backupCluster = p.ClusterUUID
	}
	switch {
	case oc.Status.ClusterStateUUID == "":
		return refuse(backupv1alpha1.ReasonClusterUnknown, fmt.Sprintf("overcloud %s's Galera cluster identity is not known "+
			"yet (status.clusterStateUUID): it is compared with the backup's before anything is planned", oc.Name), restoreWait), true
	case backupCluster != "" && backupCluster != oc.Status.ClusterStateUUID:
		return refuse(backupv1alpha1.ReasonOtherCluster, fmt.Sprintf("backup %s is of Galera cluster %s, overcloud %s is "+
			"cluster %s: a backup is restored only into the cluster it was taken from", b.Name, backupCluster, oc.Name,
			oc.Status.ClusterStateUUID), 0), true
	case len(w.running) > 0:
		return refuse(backupv1alpha1.ReasonBackupInProgress, fmt.Sprintf("backup %s of overcloud %s is running: the "+
			"restore is planned once it has ended", strings.Join(w.running, ", "), oc.Name), restoreWait), true
	}
	return restoreDecision{}, false
}

// planRestore makes the plan of a restore nothing refuses. Pure.
func planRestore(rs *backupv1alpha1.OvercloudRestore, w restoreWorld) restoreDecision {
	b, oc := w.backup, w.overcloud
	backupCluster, seqno := "", int64(0)
	if p := b.Status.Artifact.Position; p != nil {
		backupCluster, seqno = p.ClusterUUID, p.Seqno
	}
	in := restoreplan.Input{
		Mode: string(rs.Spec.Mode), Overcloud: oc.Name, Backup: b.Name, Method: string(b.Status.Artifact.Method),
		BackupPath: b.Status.Artifact.Path, Asked: rs.Spec.Databases, Users: rs.Spec.Users == backupv1alpha1.UsersInclude,
		Node: oc.Status.BackupFrom, GaleraResource: galeraResourceOf(oc), Stamp: restoreStamp(rs, w.now),
		ClusterUUID: backupCluster, Seqno: seqno, VIP: oc.Spec.DatabaseVIP,
	}
	if a := oc.Spec.Restore; a != nil {
		in.Datadir, in.GaleraImage = a.Datadir, a.GaleraImage
	}
	if p := oc.Spec.Pacemaker; p != nil {
		in.VIPResource = p.VIPResource
	}
	if oc.Spec.SSH != nil {
		in.SSHUser = oc.Spec.SSH.User
	}
	for _, n := range oc.Spec.Nodes {
		in.Nodes = append(in.Nodes, restoreplan.Node{Name: n.Name, Address: n.Address, Port: int(n.MySQLPortOrDefault())})
		if n.Name == in.Node {
			in.Address, in.Port = n.Address, int(n.MySQLPortOrDefault())
		}
	}
	in.Bundle = strings.HasSuffix(in.GaleraResource, "-bundle")
	if t := oc.Spec.Database.TLS; t != nil {
		// TLS as the backup Job uses it: the mode, and the CA as a file of a Secret volume.
		in.TLSMode = string(t.Mode)
		if t.CASecret != nil {
			in.CAFile = dbCAPath + "/ca.crt"
		}
	}
	if in.Mode == restoreplan.WholeCluster {
		port, why := wholeClusterAccess(oc)
		if why != "" {
			return refuse(backupv1alpha1.ReasonPlanRefused, why, 0)
		}
		in.SSHPort = port
		// Every word of the commands checked before they are shown: the galera resource,
		// the datadir, the stamp, a bundle's image (which a bundle cannot do without).
		if err := in.Cluster().Check(); err != nil {
			return refuse(backupv1alpha1.ReasonPlanRefused, fmt.Sprintf("a WholeCluster restore of overcloud %s cannot be "+
				"planned: %v (spec.pacemaker.galeraResource, spec.restore)", oc.Name, err), 0)
		}
	}
	if in.Mode == restoreplan.Databases {
		// Every node's free space is checked over SSH when the Overcloud gives access.
		if port, why := sshAccess(oc); why == "" {
			in.SpaceCheck, in.SSHPort = true, port
		} else {
			in.NoSpaceCheck = "the restore " + why
		}
	}
	if in.Mode == restoreplan.Databases && in.Node == "" {
		return refuse(backupv1alpha1.ReasonNoIdleNode, fmt.Sprintf("overcloud %s has no idle, synced node to restore "+
			"through now (status.backupFrom is empty: %s)", oc.Name, clip(oc.Status.Reason, 256)), restoreWait)
	}
	steps, dbs, err := restoreplan.Plan(in)
	if err != nil {
		return refuse(backupv1alpha1.ReasonPlanRefused, err.Error(), 0)
	}
	d := restoreDecision{planned: metav1.ConditionTrue, plannedReason: backupv1alpha1.ReasonPlanned,
		steps: steps, node: in.Node, databases: dbs, input: in}
	if in.Mode == restoreplan.WholeCluster {
		d.node = in.Nodes[0].Name // the node the copy is restored onto; the others join it
	}
	switch rs.Spec.Confirm {
	case oc.Name:
		d.confirmed, d.confirmedReason = metav1.ConditionTrue, backupv1alpha1.ReasonConfirmed
		d.message = "the plan is confirmed: running it"
	case "":
		d.confirmed, d.confirmedReason = metav1.ConditionFalse, backupv1alpha1.ReasonAwaitingConfirmation
		d.message = fmt.Sprintf("%d steps planned; read status.plan, then set spec.confirm to %q to run them", len(steps), oc.Name)
	default:
		d.confirmed, d.confirmedReason = metav1.ConditionFalse, backupv1alpha1.ReasonConfirmMismatch
		d.message = fmt.Sprintf("spec.confirm is not the overcloud's name: set it to %q to run the plan", oc.Name)
	}
	return d
}

// restoreStamp names the datadirs a WholeCluster restore keeps aside: the restore's
// creation time, so that the plan shown and the plan run are the same, whenever it runs.
func restoreStamp(rs *backupv1alpha1.OvercloudRestore, now time.Time) string {
	t := rs.CreationTimestamp.Time
	if t.IsZero() {
		t = now
	}
	return t.UTC().Format(restoreplan.StampLayout)
}

// wholeClusterAccess is the SSH port of every node, or why a WholeCluster restore cannot
// reach the nodes as the Overcloud describes them. Pure.
func wholeClusterAccess(oc *backupv1alpha1.Overcloud) (int, string) {
	if oc.Spec.Pacemaker == nil {
		return 0, fmt.Sprintf("a WholeCluster restore stops and starts galera through Pacemaker, and Overcloud %s has no "+
			"spec.pacemaker", oc.Name)
	}
	port, why := sshAccess(oc)
	if why != "" {
		return 0, "a WholeCluster restore " + why
	}
	return port, ""
}

// sshAccess is the SSH port of every node, or why a restore cannot reach the nodes over
// SSH as the Overcloud describes them (the words follow "a … restore"). Pure.
func sshAccess(oc *backupv1alpha1.Overcloud) (int, string) {
	if oc.Spec.SSH == nil {
		return 0, fmt.Sprintf("runs its steps on the nodes over SSH, and Overcloud %s has no spec.ssh", oc.Name)
	}
	port := int32(0)
	for _, n := range oc.Spec.Nodes {
		p := n.SSHPortOrDefault()
		if port != 0 && p != port {
			return 0, fmt.Sprintf("reaches every node on one SSH port, and Overcloud %s's nodes use %d and %d", oc.Name, port, p)
		}
		port = p
	}
	return int(port), ""
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
	set(backupv1alpha1.ConditionConfirmed, d.confirmed, d.confirmedReason, d.message)
	set(backupv1alpha1.ConditionReady, metav1.ConditionFalse, d.confirmedReason, d.message)
}
