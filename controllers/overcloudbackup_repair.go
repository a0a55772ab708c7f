package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// agentPodWait is how often a repair that waits for an agent pod to end looks again:
// pods are cached (our labels only) but not watched.
const agentPodWait = 5 * time.Second

// Results of ocb_desync_repairs_total.
const (
	repairRepaired = "repaired"
	repairVerified = "verified"
)

// markDesyncLeftOn records that an attempt may have left wsrep_desync=ON on node: the
// controller checks the node once no agent runs there (repair).
func (p *pass) markDesyncLeftOn(node, why string) {
	b := p.b
	b.Status.DesyncLeftOn = node
	msg := fmt.Sprintf("%s may have left wsrep_desync=ON on %s; the controller checks it and turns it OFF once no agent runs there",
		why, node)
	if p.orig.Status.DesyncLeftOn != node {
		p.event(true, backupv1alpha1.ReasonDesyncLeftOn, msg)
	}
	setCondition(b, backupv1alpha1.ConditionDesyncCleared, metav1.ConditionFalse, backupv1alpha1.ReasonDesyncLeftOn, msg)
	ns, oc := b.Namespace, b.Spec.OvercloudRef.Name
	p.fx.transition(func() { desyncLeftOn.WithLabelValues(ns, oc, node).Set(1) })
}

// repair checks the node an attempt may have left desynced and turns wsrep_desync OFF
// there, once no agent pod of the overcloud runs on it (an agent that is still stopping
// turns it off itself, and a new one may have set it on purpose). done is false while it
// waits or failed: res then says when to look again.
func (p *pass) repair(ctx context.Context) (res ctrl.Result, done bool, err error) {
	b := p.b
	node := b.Status.DesyncLeftOn
	busy, err := p.r.agentPodOn(ctx, b, node)
	if err != nil {
		return ctrl.Result{}, false, err
	}
	if busy != "" {
		msg := fmt.Sprintf("An attempt may have left wsrep_desync=ON on %s; waiting for agent pod %s to end before checking", node, busy)
		setCondition(b, backupv1alpha1.ConditionDesyncCleared, metav1.ConditionFalse, backupv1alpha1.ReasonDesyncLeftOn, msg)
		return ctrl.Result{RequeueAfter: agentPodWait}, false, nil
	}
	var creds probe.Credentials
	problem := &refProblem{backupv1alpha1.ReasonOvercloudNotFound, fmt.Sprintf("Overcloud %s not found in namespace %s",
		b.Spec.OvercloudRef.Name, b.Namespace)}
	if p.oc != nil {
		creds, problem, err = readCredentials(ctx, p.r.APIReader, b.Namespace, &p.oc.Spec)
		if err != nil {
			return ctrl.Result{}, false, err
		}
	}
	var wasOn bool
	if problem == nil {
		wasOn, err = p.r.prober().ResetDesync(ctx, &p.oc.Spec, node, creds)
	} else {
		err = errors.New(problem.message)
	}
	ns, oc := b.Namespace, b.Spec.OvercloudRef.Name
	if err != nil {
		msg := fmt.Sprintf("Could not check wsrep_desync on %s: %v; trying again with backoff. By hand: "+
			"SHOW GLOBAL VARIABLES LIKE 'wsrep_desync' there, and SET GLOBAL wsrep_desync=OFF", node, err)
		since := p.now
		if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionDesyncCleared); c != nil &&
			c.Reason == backupv1alpha1.ReasonDesyncRepairFailed {
			since = c.LastTransitionTime.Time
		} else {
			p.event(true, backupv1alpha1.ReasonDesyncRepairFailed, msg)
		}
		setCondition(b, backupv1alpha1.ConditionDesyncCleared, metav1.ConditionFalse, backupv1alpha1.ReasonDesyncRepairFailed, msg)
		// Each check is an action: counted when made, whether or not the status changes.
		p.fx.action(func() { desyncRepairs.WithLabelValues(ns, oc, node, resultError).Inc() })
		wait := probeBackoff(since, p.now, p.now.Add(24*time.Hour), p.r.minBackoff(), p.r.maxBackoff())
		return ctrl.Result{RequeueAfter: wait}, false, nil
	}
	reason, result := backupv1alpha1.ReasonDesyncVerified, repairVerified
	msg := fmt.Sprintf("wsrep_desync was already OFF on %s after the failed attempt", node)
	if wasOn {
		reason, result = backupv1alpha1.ReasonDesyncRepaired, repairRepaired
		msg = fmt.Sprintf("The controller turned wsrep_desync OFF on %s, left ON by a failed attempt", node)
	}
	b.Status.DesyncLeftOn = ""
	setCondition(b, backupv1alpha1.ConditionDesyncCleared, metav1.ConditionTrue, reason, msg)
	p.event(false, reason, msg)
	p.fx.transition(func() {
		desyncRepairs.WithLabelValues(ns, oc, node, result).Inc()
		desyncLeftOn.WithLabelValues(ns, oc, node).Set(0)
	})
	return ctrl.Result{}, true, nil
}

// agentPodOn names a backup agent pod of the overcloud, in the backup's namespace, that
// runs (or may still run) on the given overcloud node; "" when none does.
func (r *OvercloudBackupReconciler) agentPodOn(ctx context.Context, b *backupv1alpha1.OvercloudBackup, node string) (string, error) {
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(b.Namespace), client.MatchingLabels{
		backupv1alpha1.LabelOvercloud: b.Spec.OvercloudRef.Name, labelComponent: agentComponent,
	}); err != nil {
		return "", fmt.Errorf("listing the agent pods of overcloud %s: %w", b.Spec.OvercloudRef.Name, err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Annotations[annotationNode] != node {
			continue
		}
		if ph := pod.Status.Phase; ph != corev1.PodSucceeded && ph != corev1.PodFailed {
			return pod.Name, nil
		}
	}
	return "", nil
}
