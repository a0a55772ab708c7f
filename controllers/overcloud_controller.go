package controllers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1 "k8s.io/api/core/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// secretsResolved is the ReferencesResolved message of an Overcloud whose Secrets are there.
const secretsResolved = "Every Secret it names exists with its keys"

// indexOvercloudSecrets indexes Overclouds by the Secrets they name.
const indexOvercloudSecrets = "spec.secretNames"

// OvercloudReconciler watches each Overcloud: every monitoring.interval (jittered) one
// probe through internal/probe and internal/selection, a status that answers "could a
// backup run now, and from which node?", an event for each change seen from outside (a
// failover, the VIP moving, a node leaving or rejoining sync) and metrics per node. It
// also records the newest backups that name the overcloud. It never deletes anything.
type OvercloudReconciler struct {
	client.Client
	// APIReader reads the Secrets (never cached).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// Watcher probes; the live one, which keeps each overcloud's connections between
	// probes, when nil.
	Watcher Watcher
	// Now is time.Now when nil.
	Now func() time.Time
	// Jitter is the wait before the next probe, from the interval: between the interval
	// and a tenth more, at random, when nil (so that many overclouds spread out).
	Jitter func(time.Duration) time.Duration
	// MaxConcurrentReconciles bounds the probes in flight (1 when zero).
	MaxConcurrentReconciles int
	// SecretMetadata reads the Secrets' metadata from the manager's cache (the Secret
	// watch's informer): a pass re-reads the Secrets from the API server only when one
	// changed. SetupWithManager sets it; when nil, every pass reads them.
	SecretMetadata client.Reader

	// known holds, per Overcloud, what this manager saw at its last probe.
	known sync.Map // types.NamespacedName -> seen
	// creds holds, per Overcloud, the credentials last read and the Secrets' versions.
	creds sync.Map // types.NamespacedName -> readCreds
}

// seen is what the manager's last probe of an Overcloud saw.
type seen struct {
	// active and vip are the active node and VIP holder last seen (a probe in a failover
	// may see neither): what ActiveNodeChanged and VIPMoved compare with.
	active, vip string
	// probed is when the last probe of generation started: the status may hold an
	// older one (an unchanged probe is not always written).
	probed     time.Time
	generation int64
}

// lastProbe is when this manager last probed the Overcloud's current generation.
func (r *OvercloudReconciler) lastProbe(oc *backupv1alpha1.Overcloud) time.Time {
	if v, ok := r.known.Load(client.ObjectKeyFromObject(oc)); ok && v.(seen).generation == oc.Generation {
		return v.(seen).probed
	}
	return time.Time{}
}

// remember returns the active node and VIP holder last known before next, and records
// next's where it knows them. The passes of one Overcloud never run at once.
func (r *OvercloudReconciler) remember(key types.NamespacedName, prev, next *backupv1alpha1.OvercloudStatus) (string, string) {
	var was seen
	if v, ok := r.known.Load(key); ok {
		was = v.(seen)
	}
	active, vip := cmp.Or(prev.ActiveNode, was.active), cmp.Or(prev.VIPNode, was.vip)
	was.active, was.vip = cmp.Or(next.ActiveNode, active), cmp.Or(next.VIPNode, vip)
	r.known.Store(key, was)
	return active, vip
}

// readCreds is what the last read of an Overcloud's Secrets gave, and their versions then.
type readCreds struct {
	versions string
	creds    probe.Credentials
	problem  *refProblem
}

// credentials reads the Secrets the Overcloud names from the API server (never cached),
// unless none changed since the last read: their UIDs and resourceVersions, from the
// metadata cache, are those of the last read.
func (r *OvercloudReconciler) credentials(ctx context.Context, oc *backupv1alpha1.Overcloud) (probe.Credentials, *refProblem, error) {
	key := client.ObjectKeyFromObject(oc)
	versions := r.secretVersions(ctx, oc)
	if v, ok := r.creds.Load(key); ok && versions != "" && v.(readCreds).versions == versions {
		return v.(readCreds).creds, v.(readCreds).problem, nil
	}
	creds, problem, err := readCredentials(ctx, r.APIReader, oc.Namespace, &oc.Spec)
	if err != nil {
		return creds, problem, err
	}
	if versions != "" {
		r.creds.Store(key, readCreds{versions: versions, creds: creds, problem: problem})
	}
	return creds, problem, nil
}

// secretVersions names the version of each Secret the Overcloud names, as the metadata
// cache has it ("" when unknown: the Secrets are read). A cache a step behind only
// delays the re-read to the pass its watch event brings.
func (r *OvercloudReconciler) secretVersions(ctx context.Context, oc *backupv1alpha1.Overcloud) string {
	if r.SecretMetadata == nil {
		return ""
	}
	var b strings.Builder
	for _, name := range overcloudSecretNames(&oc.Spec) {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := r.SecretMetadata.Get(ctx, types.NamespacedName{Namespace: oc.Namespace, Name: name}, m)
		switch {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(&b, "%s=absent;", name)
		case err != nil:
			return ""
		default:
			fmt.Fprintf(&b, "%s=%s/%s;", name, m.UID, m.ResourceVersion)
		}
	}
	return b.String()
}

// probedAt records a probe of the Overcloud's generation whose status is written (or
// was not worth writing): the next one is due an interval after it.
func (r *OvercloudReconciler) probedAt(oc *backupv1alpha1.Overcloud, start time.Time) {
	key := client.ObjectKeyFromObject(oc)
	var was seen
	if v, ok := r.known.Load(key); ok {
		was = v.(seen)
	}
	was.probed, was.generation = start, oc.Generation
	r.known.Store(key, was)
}

// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overclouds,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overclouds/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile probes the overcloud when its probe is due and writes what it found.
func (r *OvercloudReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, req)
	return passResult(ctx, res, err)
}

func (r *OvercloudReconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	oc := &backupv1alpha1.Overcloud{}
	if err := r.Get(ctx, req.NamespacedName, oc); err != nil {
		if apierrors.IsNotFound(err) {
			r.watcher().Forget(req.NamespacedName)
			r.known.Delete(req.NamespacedName)
			r.creds.Delete(req.NamespacedName)
			forgetOvercloudMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !oc.DeletionTimestamp.IsZero() {
		r.watcher().Forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	orig := oc.DeepCopy()
	backups := &backupv1alpha1.OvercloudBackupList{}
	if err := r.List(ctx, backups, client.InNamespace(oc.Namespace), client.MatchingFields{indexOvercloud: oc.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the backups of overcloud %s: %w", oc.Name, err)
	}
	oc.Status.LastBackup, oc.Status.LastSuccessfulBackup = lastBackups(backups.Items)
	oc.Status.LastVerifiedBackup = lastVerifiedBackup(backups.Items)
	if v := oc.Status.LastVerifiedBackup; v != nil {
		lastVerified.WithLabelValues(oc.Namespace, oc.Name).Set(float64(v.Time.Unix()))
	}

	var res ctrl.Result
	var evs []ocEvent
	var probed *overcloudProbe
	creds, problem, err := r.credentials(ctx, oc)
	if err != nil {
		return ctrl.Result{}, err
	}
	interval := oc.Spec.MonitoringInterval()
	// A probe asked for with the probe annotation (kubectl ocb probe) runs now, whatever
	// the interval; it is answered in status even when no probe can run.
	request := oc.ProbeRequest()
	switch {
	case problem != nil:
		// The Secrets are watched: the pass comes back when one appears or changes.
		r.watcher().Forget(req.NamespacedName)
		oc.Status.ObservedGeneration = oc.Generation
		setOvercloudCondition(oc, backupv1alpha1.ConditionReferencesResolved, metav1.ConditionFalse, problem.reason, problem.message)
		setOvercloudCondition(oc, backupv1alpha1.ConditionReady, metav1.ConditionFalse, problem.reason, problem.message)
		if request != "" {
			oc.Status.LastProbeRequest = request
		}
	case interval == 0 && request == "":
		r.watcher().Forget(req.NamespacedName)
		oc.Status.ObservedGeneration = oc.Generation
		setOvercloudCondition(oc, backupv1alpha1.ConditionReferencesResolved, metav1.ConditionTrue,
			backupv1alpha1.ReasonResolved, secretsResolved)
		setOvercloudCondition(oc, backupv1alpha1.ConditionReady, metav1.ConditionUnknown, backupv1alpha1.ReasonNotWatched,
			"monitoring.interval is 0s: the overcloud is probed only when a backup needs it")
	default:
		setOvercloudCondition(oc, backupv1alpha1.ConditionReferencesResolved, metav1.ConditionTrue,
			backupv1alpha1.ReasonResolved, secretsResolved)
		now := r.now()
		if due := probeDue(oc, interval, r.lastProbe(oc)); request == "" && now.Before(due) {
			res.RequeueAfter = due.Sub(now)
			break
		}
		start, t0 := now, time.Now()
		report, perr := r.watcher().Probe(ctx, req.NamespacedName, &oc.Spec, creds, fingerprint(oc, creds))
		probed = &overcloudProbe{Report: report, Err: perr, Start: start, Took: time.Since(t0)}
		observeOvercloud(oc, *probed)
		lastActive, lastVIP := r.remember(req.NamespacedName, &orig.Status, &oc.Status)
		evs = overcloudEvents(&orig.Status, &oc.Status, lastActive, lastVIP)
		if request != "" {
			oc.Status.LastProbeRequest = request
		}
		if interval > 0 {
			res.RequeueAfter = r.jitter(interval)
		}
	}

	fx := newSideEffects(r.Recorder, oc)
	for _, e := range evs {
		fx.transitionEvent(e.warning, e.reason, e.note)
	}
	changed := !equality.Semantic.DeepEqual(orig.Status, oc.Status)
	if probed != nil && changed {
		changed = statusWorthWriting(&orig.Status, &oc.Status, probed.Start)
	}
	if err := fx.writeStatus(ctx, r.Client, oc, orig, changed); err != nil {
		return ctrl.Result{}, err
	}
	if probed != nil {
		r.probedAt(oc, probed.Start)
		recordOvercloudProbe(oc, orig.Status.Nodes, interval.Seconds(), *probed)
	}
	return res, nil
}

func (r *OvercloudReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *OvercloudReconciler) jitter(d time.Duration) time.Duration {
	if r.Jitter != nil {
		return r.Jitter(d)
	}
	return d + rand.N(d/10+1) //nolint:gosec // G404: spreading probes out needs no secure randomness
}

func (r *OvercloudReconciler) watcher() Watcher {
	if r.Watcher == nil {
		r.Watcher = NewLiveWatcher()
	}
	return r.Watcher
}

// fingerprint changes when anything the probe target is made of changes: the spec (its
// generation) or a credential. Only its hash is kept, never a credential.
func fingerprint(oc *backupv1alpha1.Overcloud, c probe.Credentials) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(strconv.FormatInt(oc.Generation, 10)), []byte(c.DatabaseUser), []byte(c.DatabasePassword),
		c.DatabaseCA, c.SSHPrivateKey, c.SSHKnownHosts, []byte(c.HAProxyUser), []byte(c.HAProxyPassword)} {
		_, _ = fmt.Fprintf(h, "%d:", len(part))
		_, _ = h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SetupWithManager watches Overclouds (spec changes and the probe annotation: the pass
// requeues itself for the next probe), the Secrets they name (by metadata) and the
// backups that name them.
func (r *OvercloudReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := registerIndexes(ctx, mgr); err != nil {
		return err
	}
	if r.SecretMetadata == nil {
		r.SecretMetadata = mgr.GetCache()
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&backupv1alpha1.Overcloud{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, probeAsked))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.namingSecret)).
		Watches(&backupv1alpha1.OvercloudBackup{}, handler.EnqueueRequestsFromMapFunc(backupsOvercloud)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("overcloud").
		Complete(r)
}

// probeAsked passes an Overcloud update that changes the probe annotation.
var probeAsked = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return e.ObjectOld != nil && e.ObjectNew != nil &&
		e.ObjectOld.GetAnnotations()[backupv1alpha1.AnnotationProbe] != e.ObjectNew.GetAnnotations()[backupv1alpha1.AnnotationProbe]
}}

// namingSecret maps a Secret to the Overclouds that name it.
func (r *OvercloudReconciler) namingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	list := &backupv1alpha1.OvercloudList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexOvercloudSecrets: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// backupsOvercloud maps a backup to the Overcloud it names.
func backupsOvercloud(_ context.Context, o client.Object) []reconcile.Request {
	b, ok := o.(*backupv1alpha1.OvercloudBackup)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.OvercloudRef.Name}}}
}
