package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
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
	if cluster == "" {
		return func() {}
	}
	m, _ := clusterLocks.LoadOrStore(cluster, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// clusterBusy names the other backup (namespace/name) whose agent Job still runs on the
// Galera cluster, "" when none does: two Overcloud objects in two namespaces may name the
// same nodes, and two backups must never desync two nodes of one cluster at once. The
// cluster's Jobs are read from the API server, not the cache, since the lock is only
// worth what the read sees.
func (r *OvercloudBackupReconciler) clusterBusy(ctx context.Context, b *backupv1alpha1.OvercloudBackup, cluster string) (string, error) {
	if cluster == "" {
		return "", nil
	}
	jobs := &batchv1.JobList{}
	ours := client.MatchingLabels{backupv1alpha1.LabelCluster: cluster, labelComponent: agentComponent}
	if err := r.APIReader.List(ctx, jobs, ours); err != nil {
		return "", fmt.Errorf("listing the backup Jobs of Galera cluster %s: %w", cluster, err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if jobFinished(j) || !j.DeletionTimestamp.IsZero() {
			continue
		}
		owner := j.Labels[backupv1alpha1.LabelBackup]
		if j.Namespace == b.Namespace && owner == b.Name {
			continue
		}
		return j.Namespace + "/" + owner, nil
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
