package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// Watcher probes overclouds for the Overcloud controller. Unlike a backup's one-off probe,
// it keeps what each overcloud's probes share (SSH connections) from one probe to the
// next, until the spec or a credential changes (fingerprint) or the overcloud is forgotten;
// database connections are kept too, shared by every overcloud naming the same nodes with
// the same account and TLS (galera.Sessions).
type Watcher interface {
	Probe(ctx context.Context, key types.NamespacedName, oc *backupv1alpha1.OvercloudSpec,
		c probe.Credentials, fingerprint string) (probe.Report, error)
	Forget(key types.NamespacedName)
}

// LiveWatcher is the Watcher of the real overclouds.
type LiveWatcher struct {
	mu      sync.Mutex
	targets map[types.NamespacedName]*watched
	// sessions are the database connections, shared by the overclouds that name the same
	// nodes with the same account.
	sessions *galera.Sessions
}

var _ Watcher = (*LiveWatcher)(nil)

// watched is one overcloud's probe target, used by one probe at a time.
type watched struct {
	mu          sync.Mutex
	fingerprint string
	target      probe.Target
	// active is the node serving clients at the last probe, backupFrom the node a backup
	// would have used: Pacemaker is asked through the other nodes first (Target.AskLast).
	active, backupFrom string
}

// NewLiveWatcher returns a watcher with no overcloud yet.
func NewLiveWatcher() *LiveWatcher {
	return newLiveWatcher(galera.NewSessions())
}

// newLiveWatcher is NewLiveWatcher with the given database sessions (nil: a connection of
// its own per node per probe, the benchmark's baseline).
func newLiveWatcher(sessions *galera.Sessions) *LiveWatcher {
	return &LiveWatcher{targets: map[types.NamespacedName]*watched{}, sessions: sessions}
}

// Probe implements Watcher.
func (w *LiveWatcher) Probe(
	ctx context.Context, key types.NamespacedName, oc *backupv1alpha1.OvercloudSpec, c probe.Credentials, fp string,
) (probe.Report, error) {
	wt, err := w.target(key, oc, c, fp)
	if err != nil {
		return probe.Report{}, err
	}
	wt.mu.Lock()
	defer wt.mu.Unlock()
	t := wt.target
	t.AskLast = []string{wt.backupFrom, wt.active}
	ctx, cancel := context.WithTimeout(ctx, 2*t.Timeout+time.Second)
	defer cancel()
	snap, d := probe.GatherDecided(ctx, t, selection.Policy{})
	report := probe.NewReport(key.Name, snap, d)
	wt.active, wt.backupFrom = report.ActiveNode, report.SelectedNode
	return report, nil
}

// target is the overcloud's target, made anew when the fingerprint changed.
func (w *LiveWatcher) target(key types.NamespacedName, oc *backupv1alpha1.OvercloudSpec, c probe.Credentials, fp string) (*watched, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt := w.targets[key]; wt != nil {
		if wt.fingerprint == fp {
			return wt, nil
		}
		delete(w.targets, key)
		go closeWhenIdle(wt)
	}
	// Connections outlive the interval between two probes (jittered by a tenth at most).
	t, err := probe.NewKeptTarget(oc, c, 0, oc.MonitoringInterval()*3/2+5*time.Second, w.sessions)
	if err != nil {
		return nil, err
	}
	timed(&t, key.Name)
	wt := &watched{fingerprint: fp, target: t}
	w.targets[key] = wt
	return wt, nil
}

// Forget implements Watcher: the overcloud's connections are closed.
func (w *LiveWatcher) Forget(key types.NamespacedName) {
	w.mu.Lock()
	wt := w.targets[key]
	delete(w.targets, key)
	w.mu.Unlock()
	if wt != nil {
		go closeWhenIdle(wt)
	}
}

// Len is how many overclouds the watcher keeps connections for.
func (w *LiveWatcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.targets)
}

// closeWhenIdle closes a target once the probe using it (if any) is done.
func closeWhenIdle(wt *watched) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	wt.target.Close()
}
