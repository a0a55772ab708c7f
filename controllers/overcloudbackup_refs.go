package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// What a backup needs of the Overcloud it names: the object itself, a spec that fits the
// backup's own, the record of what it used, and the lock of its Galera cluster.

// overcloud is the Overcloud the backup names, nil when it does not exist.
func (r *OvercloudBackupReconciler) overcloud(ctx context.Context, b *backupv1alpha1.OvercloudBackup) (*backupv1alpha1.Overcloud, error) {
	oc := &backupv1alpha1.Overcloud{}
	err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.OvercloudRef.Name}, oc)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting Overcloud %s: %w", b.Spec.OvercloudRef.Name, err)
	}
	return oc, nil
}

// overcloudMismatch is what of the backup's spec does not fit the Overcloud it names (the
// checks the API server made when both were one object), nil when all fits. Pure.
func overcloudMismatch(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) *refProblem {
	var msgs []string
	known := func(name string) bool {
		return slices.ContainsFunc(oc.Nodes, func(n backupv1alpha1.NodeSpec) bool { return n.Name == name })
	}
	if ns := b.Spec.NodeSelection; ns != nil {
		for what, names := range map[string][]string{"preferredNodes": ns.PreferredNodes, "excludedNodes": ns.ExcludedNodes} {
			for _, n := range names {
				if !known(n) {
					msgs = append(msgs, fmt.Sprintf("nodeSelection.%s names %s, which is not a node of Overcloud %s", what, n, b.Spec.OvercloudRef.Name))
				}
			}
		}
		if ns.Node != "" && !known(ns.Node) {
			msgs = append(msgs, fmt.Sprintf("nodeSelection.node names %s, which is not a node of Overcloud %s", ns.Node, b.Spec.OvercloudRef.Name))
		}
	}
	if b.Spec.Dump.EffectiveMethod() == backupv1alpha1.DumpMariabackup && oc.SSH == nil {
		msgs = append(msgs, fmt.Sprintf("the Mariabackup method needs ssh, which Overcloud %s does not set", b.Spec.OvercloudRef.Name))
	}
	if len(msgs) == 0 {
		return nil
	}
	slices.Sort(msgs)
	return &refProblem{backupv1alpha1.ReasonInvalidSpec, strings.Join(msgs, "; ") + ": fix the Overcloud or create another backup"}
}

// sourceOf records where the data of an attempt comes from.
func sourceOf(oc *backupv1alpha1.Overcloud, node, cluster string) *backupv1alpha1.BackupSource {
	src := &backupv1alpha1.BackupSource{Overcloud: oc.Name, ClusterStateUUID: cluster, Node: node}
	if n := findNode(&oc.Spec, node); n != nil {
		src.Address = n.Address
		src.MySQLPort = n.MySQLPortOrDefault()
	}
	return src
}

// clusterLocks serialises, per Galera cluster, the check that no other backup Job runs
// on it and the creation of this backup's Job (one manager holds the leader lease, so a
// lock in memory is enough).
var clusterLocks sync.Map // cluster UUID -> *sync.Mutex

// lockCluster takes the cluster's lock and returns its release; "" locks nothing.
func (r *OvercloudBackupReconciler) lockCluster(cluster string) func() {
	return lockGaleraCluster(cluster)
}

// lockGaleraCluster serializes, in this manager, the passes that decide to start a Job on
// the Galera cluster (a backup's or a restore's) with their check that none runs.
func lockGaleraCluster(cluster string) func() {
	if cluster == "" {
		return func() {}
	}
	m, _ := clusterLocks.LoadOrStore(cluster, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// clusterBusy names the other backup ("backup namespace/name") whose agent Job still
// runs on the Galera cluster, or the restore ("restore namespace/name") whose Job does,
// "" when none does: two Overcloud objects in two namespaces may name the
// same nodes, and two backups must never desync two nodes of one cluster at once. The
// cluster's Jobs are read from the API server, not the cache, since the lock is only
// worth what the read sees.
func (r *OvercloudBackupReconciler) clusterBusy(ctx context.Context, b *backupv1alpha1.OvercloudBackup, cluster string) (string, error) {
	if cluster == "" {
		return "", nil
	}
	jobs := &batchv1.JobList{}
	// Backup Jobs, and restore Jobs: no backup starts on a cluster being restored.
	sel := labels.SelectorFromSet(labels.Set{backupv1alpha1.LabelCluster: cluster})
	req, err := labels.NewRequirement(labelComponent, selection.In, []string{agentComponent, restoreComponent})
	if err != nil {
		return "", err
	}
	ours := client.MatchingLabelsSelector{Selector: sel.Add(*req)}
	// Every namespace, or each watched one: a namespaced install may list Jobs only there
	// (config/namespaced), and sees no backup elsewhere anyway.
	scopes := []client.ListOption{}
	for _, ns := range r.WatchNamespaces {
		scopes = append(scopes, client.InNamespace(ns))
	}
	if len(scopes) == 0 {
		scopes = append(scopes, client.InNamespace(metav1.NamespaceAll))
	}
	for _, scope := range scopes {
		in := &batchv1.JobList{}
		if err := r.APIReader.List(ctx, in, ours, scope); err != nil {
			return "", fmt.Errorf("listing the backup Jobs of Galera cluster %s: %w", cluster, err)
		}
		jobs.Items = append(jobs.Items, in.Items...)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if jobFinished(j) || !j.DeletionTimestamp.IsZero() {
			continue
		}
		if j.Labels[labelComponent] == restoreComponent {
			return "restore " + j.Namespace + "/" + j.Labels[backupv1alpha1.LabelRestore], nil
		}
		owner := j.Labels[backupv1alpha1.LabelBackup]
		if j.Namespace == b.Namespace && owner == b.Name {
			continue
		}
		return "backup " + j.Namespace + "/" + owner, nil
	}
	return "", nil
}

// Index registration is shared by the controllers (both list Overclouds by Secret and
// backups by Overcloud) and must happen once per manager.
var (
	indexedMu sync.Mutex
	indexed   = map[ctrl.Manager]bool{}
)

// registerIndexes registers the field indexes the controllers use, once per manager.
func registerIndexes(ctx context.Context, mgr ctrl.Manager) error {
	indexedMu.Lock()
	defer indexedMu.Unlock()
	if indexed[mgr] {
		return nil
	}
	idx := mgr.GetFieldIndexer()
	for name, f := range map[string]func(*backupv1alpha1.OvercloudBackup) []string{
		indexClaim:     func(b *backupv1alpha1.OvercloudBackup) []string { return []string{b.Spec.Storage.ClaimName} },
		indexOvercloud: func(b *backupv1alpha1.OvercloudBackup) []string { return []string{b.Spec.OvercloudRef.Name} },
	} {
		if err := idx.IndexField(ctx, &backupv1alpha1.OvercloudBackup{}, name, func(o client.Object) []string {
			return f(o.(*backupv1alpha1.OvercloudBackup))
		}); err != nil {
			return fmt.Errorf("indexing backups by %s: %w", name, err)
		}
	}
	if err := idx.IndexField(ctx, &backupv1alpha1.Overcloud{}, indexOvercloudSecrets, func(o client.Object) []string {
		return overcloudSecretNames(&o.(*backupv1alpha1.Overcloud).Spec)
	}); err != nil {
		return fmt.Errorf("indexing overclouds by Secret: %w", err)
	}
	indexed[mgr] = true
	return nil
}

// references reads the Secrets (from the API server: their data is never cached) and the
// claim, and turns them into the probe's credentials or the first problem found.
func (r *OvercloudBackupReconciler) references(
	ctx context.Context, b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.Overcloud,
) (probe.Credentials, *refProblem, error) {
	if oc == nil {
		return probe.Credentials{}, &refProblem{backupv1alpha1.ReasonOvercloudNotFound, fmt.Sprintf(
			"Overcloud %s not found in namespace %s: create it (the backup starts when it appears)", b.Spec.OvercloudRef.Name, b.Namespace)}, nil
	}
	if problem := overcloudMismatch(b, &oc.Spec); problem != nil {
		return probe.Credentials{}, problem, nil
	}
	creds, problem, err := readCredentials(ctx, r.APIReader, b.Namespace, &oc.Spec)
	if err != nil || problem != nil {
		return creds, problem, err
	}
	pvc := &corev1.PersistentVolumeClaim{}
	err = r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Storage.ClaimName}, pvc)
	if apierrors.IsNotFound(err) {
		return creds, claimProblem(b.Namespace, b.Spec.Storage.ClaimName, nil, nil), nil
	}
	if err != nil {
		return creds, nil, fmt.Errorf("getting PersistentVolumeClaim %s: %w", b.Spec.Storage.ClaimName, err)
	}
	var sc *storagev1.StorageClass
	if pvc.Status.Phase == corev1.ClaimPending && pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		sc = &storagev1.StorageClass{}
		if err := r.Get(ctx, types.NamespacedName{Name: *pvc.Spec.StorageClassName}, sc); apierrors.IsNotFound(err) {
			sc = nil
		} else if err != nil {
			return creds, nil, fmt.Errorf("getting StorageClass %s: %w", *pvc.Spec.StorageClassName, err)
		}
	}
	return creds, claimProblem(b.Namespace, b.Spec.Storage.ClaimName, pvc, sc), nil
}

// claimProblem says why the claim cannot take the backup, nil when it can: it must exist
// and be Bound, or Pending on a StorageClass that binds at the first consumer.
func claimProblem(namespace, name string, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass) *refProblem {
	switch {
	case pvc == nil:
		return &refProblem{backupv1alpha1.ReasonClaimNotFound,
			fmt.Sprintf("PersistentVolumeClaim %s not found in namespace %s: create it (the backup is written to it)", name, namespace)}
	case !pvc.DeletionTimestamp.IsZero():
		return &refProblem{backupv1alpha1.ReasonClaimNotBound, fmt.Sprintf("PersistentVolumeClaim %s is being deleted", name)}
	case pvc.Status.Phase == corev1.ClaimBound:
		return nil
	case pvc.Status.Phase == corev1.ClaimPending && sc != nil && sc.VolumeBindingMode != nil &&
		*sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer:
		return nil
	}
	phase := cmp.Or(string(pvc.Status.Phase), "without a phase")
	class := "no StorageClass"
	if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		class = "StorageClass " + *pvc.Spec.StorageClassName
		if sc == nil && pvc.Status.Phase == corev1.ClaimPending {
			class += " (not found)"
		}
	}
	return &refProblem{backupv1alpha1.ReasonClaimNotBound,
		fmt.Sprintf("PersistentVolumeClaim %s is %s: it must be Bound, or Pending on a StorageClass "+
			"with volumeBindingMode WaitForFirstConsumer (it has %s)", name, phase, class)}
}

// queueBlocker is the backup of the same overcloud this one waits for, "" for none.
func (r *OvercloudBackupReconciler) queueBlocker(ctx context.Context, b *backupv1alpha1.OvercloudBackup) (string, error) {
	// The namespace's backups, filtered by queueBlocker: no field selector, so that the
	// reconciler also works with a client that reads the API server directly.
	backups := &backupv1alpha1.OvercloudBackupList{}
	if err := r.List(ctx, backups, client.InNamespace(b.Namespace)); err != nil {
		return "", fmt.Errorf("listing the backups of overcloud %s: %w", b.Spec.OvercloudRef.Name, err)
	}
	jobs := &batchv1.JobList{}
	if err := r.List(ctx, jobs, client.InNamespace(b.Namespace),
		client.MatchingLabels{backupv1alpha1.LabelOvercloud: b.Spec.OvercloudRef.Name}); err != nil {
		return "", fmt.Errorf("listing the Jobs of overcloud %s: %w", b.Spec.OvercloudRef.Name, err)
	}
	return queueBlocker(b, backups.Items, jobs.Items), nil
}
