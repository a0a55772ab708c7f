package controllers

// What wakes the OvercloudBackup controller: its field indexes and watches (Jobs,
// Secrets by metadata, claims, Overclouds and the backups of the same overcloud or
// Galera cluster).

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// Field indexes on OvercloudBackups, so that an Overcloud, a claim or another backup of
// the same overcloud finds the backups it concerns without a scan (registerIndexes).
const (
	indexClaim     = "spec.storage.claimName"
	indexOvercloud = "spec.overcloudRef.name"
)

// SetupWithManager registers the controller, its field indexes and its watches: the
// backups, their Jobs (Owns), the Secrets (metadata only) and claims they name, and the
// other backups of the same overcloud (a finished one lets the next in the queue go).
func (r *OvercloudBackupReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := registerIndexes(ctx, mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&backupv1alpha1.OvercloudBackup{}).
		Owns(&batchv1.Job{}).
		// Cleanup Jobs have no owner reference (BuildCleanupJob says why), and an agent Job
		// may outlive its backup (an orphaning delete) yet hold the overcloud's queue:
		// both are mapped by label.
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(r.jobEvents)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretEvents)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.waitingOn(indexClaim))).
		Watches(&backupv1alpha1.Overcloud{}, handler.EnqueueRequestsFromMapFunc(r.waitingOn(indexOvercloud))).
		Watches(&backupv1alpha1.OvercloudBackup{}, handler.EnqueueRequestsFromMapFunc(r.sameOvercloud)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("overcloudbackup").
		Complete(r)
}

// jobEvents maps one of our Jobs to the backups it concerns: a cleanup Job to the backup
// it cleans up after; an agent Job to the unfinished backups of its overcloud, which may
// be queued behind it; a restore Job to the backups waiting for its cluster.
func (r *OvercloudBackupReconciler) jobEvents(ctx context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	if l[labelManagedBy] != managedBy {
		return nil
	}
	switch l[labelComponent] {
	case cleanupComponent:
		if l[backupv1alpha1.LabelBackup] != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: l[backupv1alpha1.LabelBackup]}}}
		}
	case agentComponent:
		var reqs []reconcile.Request
		if oc := l[backupv1alpha1.LabelOvercloud]; oc != "" {
			reqs = r.unfinished(ctx, o.GetNamespace(), indexOvercloud, oc, l[backupv1alpha1.LabelBackup])
		}
		if l[backupv1alpha1.LabelCluster] != "" {
			// Backups of other namespaces may wait for the same Galera cluster.
			reqs = append(reqs, r.queued(ctx)...)
		}
		return reqs
	case restoreComponent:
		// The backups of every namespace that wait for the restore's Galera cluster.
		if l[backupv1alpha1.LabelCluster] != "" {
			return r.queued(ctx)
		}
	}
	return nil
}

// queued are the backups, in every watched namespace, waiting in a queue: behind another
// backup, or behind a restore of their cluster.
func (r *OvercloudBackupReconciler) queued(ctx context.Context) []reconcile.Request {
	list := &backupv1alpha1.OvercloudBackupList{}
	if err := r.List(ctx, list); err != nil {
		logf.FromContext(ctx).Error(err, "Listing the queued backups to re-queue")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		b := &list.Items[i]
		if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionNodeSelected); !b.IsFinished() &&
			c != nil && (c.Reason == backupv1alpha1.ReasonQueued || c.Reason == backupv1alpha1.ReasonRestoreRunning) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
		}
	}
	return reqs
}

// waitingOn maps an object (Secret, claim) to the unfinished backups naming it.
func (r *OvercloudBackupReconciler) waitingOn(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.unfinished(ctx, o.GetNamespace(), index, o.GetName(), "")
	}
}

// secretEvents maps a Secret to the unfinished backups of the Overclouds that name it.
func (r *OvercloudBackupReconciler) secretEvents(ctx context.Context, o client.Object) []reconcile.Request {
	list := &backupv1alpha1.OvercloudList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexOvercloudSecrets: o.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "Listing the Overclouds naming a Secret", "secret", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		reqs = append(reqs, r.unfinished(ctx, o.GetNamespace(), indexOvercloud, list.Items[i].Name, "")...)
	}
	return reqs
}

// sameOvercloud maps a backup to the other unfinished backups of its overcloud.
func (r *OvercloudBackupReconciler) sameOvercloud(ctx context.Context, o client.Object) []reconcile.Request {
	b, ok := o.(*backupv1alpha1.OvercloudBackup)
	if !ok {
		return nil
	}
	return r.unfinished(ctx, b.Namespace, indexOvercloud, b.Spec.OvercloudRef.Name, b.Name)
}

func (r *OvercloudBackupReconciler) unfinished(ctx context.Context, namespace, index, value, except string) []reconcile.Request {
	list := &backupv1alpha1.OvercloudBackupList{}
	if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		logf.FromContext(ctx).Error(err, "Listing the backups to re-queue", "index", index, "value", value)
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if b := &list.Items[i]; b.Name != except && !b.IsFinished() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
		}
	}
	return reqs
}
