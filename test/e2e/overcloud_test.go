//go:build e2e

package e2e_test

// The Overcloud resource through the deployed manager: an Overcloud watched in-cluster
// answers "could a backup run now, and from where" in its status, its columns and its
// metrics, and records the backup that names it; two namespaces whose Overclouds name the
// same Galera cluster never run two backups at once.

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// watchInterval is the Overcloud's monitoring.interval in TestOvercloudWatchedInCluster.
const watchInterval = 10 * time.Second

// TestOvercloudWatchedInCluster: an Overcloud of the sandbox (Galera, Pacemaker over SSH,
// HAProxy's stats page and socket), watched by the deployed manager every 10 s while an
// OpenStack-like client holds a session through HAProxy:
//   - its status says Ready (BackupPossible), not Degraded, the Secrets resolved; the node
//     table has the sandbox's three nodes, each reachable and synced, with a reason; the
//     active node is the one the client's session landed on; backupFrom is an eligible,
//     synced, idle Standby node, not the active one; the cluster's identity is the
//     wsrep_cluster_state_uuid the nodes report; 3 nodes, 3/3 synced;
//   - `kubectl get overcloud` (the node's kubectl) shows READY ACTIVE BACKUP-FROM SYNCED
//     LAST-SUCCESS AGE with those values, and `-o wide` the cluster's identity;
//   - the manager's /metrics, read through the metrics Service as Prometheus would, carry
//     its per-node gauges (synced, local state, receive queue, flow control) and its
//     per-overcloud ones (backup possible, cluster size, interval), and a second probe
//     within the interval (the watch runs without any backup asking);
//   - a backup naming it succeeds, from the node backupFrom named, and the Overcloud's
//     status shows it as the last backup and the last successful one, with its completion
//     time, and LAST-SUCCESS fills in;
//   - no secret value in its status, columns, events, the metrics or the manager's logs.
func TestOvercloudWatchedInCluster(t *testing.T) {
	k := connect(t)
	kubectl := kubectlPath(t)
	sb := lockSandbox(t)
	const db = "ocb_e2e_watched"
	schema(t, sb, db, 0, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(64))", "INSERT INTO t VALUES (1, 'watched')")
	_, active := sb.ClientSession(t)
	wantUUID := clusterStateUUID(t, sb)
	ns := k.namespace(t, "watch")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)
	scrapeMetrics := k.metricsReader(t, ns)
	logsSince := metav1.Now()

	b := controllerBackup(sb, ns, "watched-1", accessSSH, db)
	oc := b.Overcloud
	oc.Spec.Monitoring = &backupv1alpha1.MonitoringSpec{Interval: &metav1.Duration{Duration: watchInterval}}
	created := time.Now()
	k.createOvercloud(t, oc)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	got := &backupv1alpha1.Overcloud{}
	k.poll(withTimeout(t, ctx, 2*time.Minute), t, "the Overcloud Ready with the client's node as active", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(oc), got); err != nil {
			return false, nil //nolint:nilerr // a transient read error: poll again
		}
		return got.Status.ObservedGeneration == got.Generation &&
			meta.IsStatusConditionTrue(got.Status.Conditions, backupv1alpha1.ConditionReady) && got.Status.ActiveNode == active, nil
	})
	t.Logf("Ready %v after the Overcloud's creation", time.Since(created).Round(time.Millisecond))
	st := got.Status
	checkOvercloudStatus(t, sb, st, active, wantUUID)

	// kubectl get overcloud: the columns a user reads, and the cluster with -o wide.
	columns := []string{"NAME", "READY", "ACTIVE", "BACKUP-FROM", "SYNCED", "LAST-SUCCESS", "AGE"}
	header, row := kubectlTable(t, kubectl, "-n", ns, "get", "overcloud", oc.Name)
	if !slices.Equal(header, columns) || len(row) != len(columns) ||
		!slices.Equal(row[:6], []string{oc.Name, "True", active, st.BackupFrom, "3/3", ""}) || row[6] == "" {
		t.Errorf("kubectl get overcloud: %q / %q; want %q / %s True %s %s 3/3, no last success, an age", header, row, columns, oc.Name, active, st.BackupFrom)
	}
	wide := kubectlOut(t, kubectl, "-n", ns, "get", "ovc", oc.Name, "-o", "wide")
	if !strings.Contains(wide, "CLUSTER") || !strings.Contains(wide, wantUUID) {
		t.Errorf("kubectl get ovc -o wide does not show the cluster %s:\n%s", wantUUID, wide)
	}
	t.Logf("kubectl get ovc -o wide:\n%s", strings.TrimSpace(wide))

	// The manager's metrics: every per-node and per-overcloud gauge, and a second probe
	// within the interval (nothing but the watch probes it: no backup exists yet).
	var metrics []series
	var body string
	k.poll(withTimeout(t, ctx, 3*watchInterval), t, "a second probe of the Overcloud in the manager's metrics", func(ctx context.Context) (bool, error) {
		var err error
		if body, err = scrapeMetrics(ctx); err != nil {
			return false, nil //nolint:nilerr // the Service or the token not ready yet: scrape again
		}
		metrics = parseSeries(body)
		n, _ := seriesValue(metrics, "ocb_overcloud_probe_seconds_count", ocLabels(oc, ""))
		return n >= 2, nil
	})
	checkOvercloudMetrics(t, sb, metrics, oc)

	// A backup that names it: from the node the Overcloud said, then recorded in its status.
	run := k.followBackup(t, b.OvercloudBackup, backupTimeout, func() {
		if err := k.c.Create(ctx, b.OvercloudBackup); err != nil {
			t.Fatalf("creating OvercloudBackup %s: %v", b.Name, err)
		}
	})
	done := run.final
	if done.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Fatalf("backup %s ended %s: %s\nevents:\n%s", done.Name, done.Status.Phase, done.Status.Message, redactAll(k.events(ns), secrets))
	}
	t.Logf("Backup %s: Job after %v, Succeeded after %v, from %s", done.Name, run.toJob.Round(time.Millisecond),
		run.toDone.Round(time.Millisecond), done.Status.SelectedNode)
	if src := done.Status.Source; src == nil || src.Overcloud != oc.Name || src.ClusterStateUUID != wantUUID || src.Node != done.Status.SelectedNode {
		t.Errorf("backup source %+v: want overcloud %s, cluster %s, node %s", src, oc.Name, wantUUID, done.Status.SelectedNode)
	}
	if done.Status.SelectedNode != st.BackupFrom {
		t.Errorf("the backup was taken from %s, the Overcloud said a backup would use %s (%s); the backup's reason: %s",
			done.Status.SelectedNode, st.BackupFrom, st.Reason, conditionMessage(done.Status.Conditions, backupv1alpha1.ConditionNodeSelected))
	}
	k.poll(withTimeout(t, ctx, time.Minute), t, "the Overcloud's status to record the backup", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(oc), got); err != nil {
			return false, nil //nolint:nilerr // poll again
		}
		last, ok := got.Status.LastBackup, got.Status.LastSuccessfulBackup
		return last != nil && ok != nil && last.Name == done.Name && ok.Name == done.Name &&
			last.Phase == backupv1alpha1.PhaseSucceeded, nil
	})
	for what, rec := range map[string]*backupv1alpha1.BackupRecord{"lastBackup": got.Status.LastBackup, "lastSuccessfulBackup": got.Status.LastSuccessfulBackup} {
		if rec.Phase != backupv1alpha1.PhaseSucceeded || rec.Time == nil || done.Status.CompletionTime == nil || !rec.Time.Equal(done.Status.CompletionTime) {
			t.Errorf("status.%s %+v: want %s Succeeded at its completion time %v", what, rec, done.Name, done.Status.CompletionTime)
		}
	}
	_, row = kubectlTable(t, kubectl, "-n", ns, "get", "overcloud", oc.Name)
	if len(row) != len(columns) || !regexp.MustCompile(`^[0-9]+[smhd]`).MatchString(row[5]) {
		t.Errorf("kubectl get overcloud after the backup: %v; want LAST-SUCCESS an age", row)
	}
	t.Logf("kubectl get overcloud after the backup: %s", strings.Join(row, "  "))
	if d := waitSynced(t, sb, nodeIndex(t, sb, done.Status.SelectedNode), 30*time.Second); d > time.Second {
		t.Logf("%s Synced again %v after the backup", done.Status.SelectedNode, d.Round(time.Millisecond))
	}

	// No secret value anywhere a user, a dashboard or a log collector reads.
	evs := k.objectEvents(ctx, t, "Overcloud", ns, oc.Name)
	t.Logf("Events of the Overcloud: %q", redactAll(strings.Join(evs, "; "), secrets))
	places := map[string]string{
		"the Overcloud's status":     jsonOf(t, got.Status),
		"the Overcloud's events":     strings.Join(evs, "\n"),
		"the namespace's events":     k.events(ns),
		"kubectl get ovc -o wide":    wide,
		"the manager's metrics":      body,
		"the manager's logs":         k.managerLogs(ctx, t, logsSince),
		"the backup's status":        jsonOf(t, done.Status),
		"kubectl get overcloud yaml": kubectlOut(t, kubectl, "-n", ns, "get", "overcloud", oc.Name, "-o", "yaml"),
	}
	for where, text := range places {
		noSecrets(t, where, text, secrets)
	}
}

// checkOvercloudStatus: the status of a healthy sandbox's Overcloud, with the client on
// active and the cluster's identity uuid.
func checkOvercloudStatus(t *testing.T, sb *sandbox.Sandbox, st backupv1alpha1.OvercloudStatus, active, uuid string) {
	t.Helper()
	for typ, want := range map[string][2]string{
		backupv1alpha1.ConditionReady:              {"True", backupv1alpha1.ReasonBackupPossible},
		backupv1alpha1.ConditionDegraded:           {"False", backupv1alpha1.ReasonAllSynced},
		backupv1alpha1.ConditionReferencesResolved: {"True", backupv1alpha1.ReasonResolved},
	} {
		c := meta.FindStatusCondition(st.Conditions, typ)
		if c == nil || string(c.Status) != want[0] || c.Reason != want[1] {
			t.Errorf("condition %s: %+v, want %s/%s", typ, c, want[0], want[1])
		}
	}
	var table strings.Builder
	names := make([]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		names = append(names, n.Name)
		fmt.Fprintf(&table, "\n  %-13s %-11s eligible=%-5v %s", n.Name, n.Role, n.Eligible, n.Reason)
		if g := n.Galera; g == nil || !g.Reachable || !g.Synced || g.Desynced || g.ClusterSize != 3 || g.LocalState != 4 {
			t.Errorf("node %s: galera %+v, want reachable, synced (4), not desynced, in a cluster of 3", n.Name, n.Galera)
		}
		if n.Pacemaker == nil || n.HAProxy == nil || strings.TrimSpace(n.Reason) == "" {
			t.Errorf("node %s: pacemaker %+v haproxy %+v reason %q: want both read and a reason", n.Name, n.Pacemaker, n.HAProxy, n.Reason)
		}
		if (n.Name == active) != (n.Role == backupv1alpha1.RoleActive) {
			t.Errorf("node %s has role %s; the client's session is on %s", n.Name, n.Role, active)
		}
		if n.Name == st.BackupFrom && (n.Role != backupv1alpha1.RoleStandby || !n.Eligible ||
			n.HAProxy == nil || n.HAProxy.CurrentSessions != 0 || n.HAProxy.StickTarget) {
			t.Errorf("backupFrom %s is %s, eligible=%v, haproxy %+v: want an eligible, idle Standby node", n.Name, n.Role, n.Eligible, n.HAProxy)
		}
	}
	t.Logf("Overcloud (active %s from %s, VIP on %s, backup from %s: %s; pacemaker %q, haproxy %q; probe %v):%s", st.ActiveNode, st.ActiveSource,
		st.VIPNode, st.BackupFrom, st.Reason, st.Pacemaker, st.HAProxy, st.LastProbeDuration, table.String())
	want := make([]string, 0, len(sb.Nodes))
	for _, n := range sb.Nodes {
		want = append(want, n.Name)
	}
	if !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(want))) {
		t.Errorf("status.nodes lists %v, want %v", names, want)
	}
	if st.BackupFrom == "" || st.BackupFrom == active || !slices.Contains(want, st.BackupFrom) {
		t.Errorf("status.backupFrom %q: want a node of %v other than the active %s", st.BackupFrom, want, active)
	}
	if !slices.Contains(want, st.VIPNode) || st.ActiveSource == "" || st.Reason == "" {
		t.Errorf("vipNode %q, activeSource %q, reason %q: want the VIP holder and both explanations", st.VIPNode, st.ActiveSource, st.Reason)
	}
	if st.ClusterStateUUID != uuid || st.ClusterSize != 3 || st.Synced != "3/3" {
		t.Errorf("cluster %q size %d synced %q: want %s, 3, 3/3", st.ClusterStateUUID, st.ClusterSize, st.Synced, uuid)
	}
	if st.LastProbeTime == nil || st.LastProbeDuration == nil || st.LastProbeDuration.Duration <= 0 || st.LastBackup != nil {
		t.Errorf("lastProbeTime %v, lastProbeDuration %v, lastBackup %+v: want a probe's time and duration, no backup yet",
			st.LastProbeTime, st.LastProbeDuration, st.LastBackup)
	}
}

// checkOvercloudMetrics: the Overcloud's series, each node's gauges from a healthy probe.
func checkOvercloudMetrics(t *testing.T, sb *sandbox.Sandbox, metrics []series, oc *backupv1alpha1.Overcloud) {
	t.Helper()
	interval := watchInterval.Seconds()
	for _, m := range []struct {
		name string
		want *float64 // nil: present, any value
	}{
		{"ocb_overcloud_backup_possible", ptr.To(1.0)},
		{"ocb_overcloud_cluster_size", ptr.To(3.0)},
		{"ocb_overcloud_probe_interval_seconds", &interval},
		{"ocb_overcloud_probe_failures_total", ptr.To(0.0)},
		{"ocb_overcloud_last_probe_success_timestamp_seconds", nil},
	} {
		v, ok := seriesValue(metrics, m.name, ocLabels(oc, ""))
		if !ok || (m.want != nil && v != *m.want) {
			t.Errorf("%s%v: %v (present %v), want %v", m.name, ocLabels(oc, ""), v, ok, ptr.Deref(m.want, v))
		}
	}
	var perNode strings.Builder
	for _, n := range sb.Nodes {
		fmt.Fprintf(&perNode, "\n  %s:", n.Name)
		for _, m := range []struct {
			name string
			want *float64
		}{
			{"ocb_overcloud_node_synced", ptr.To(1.0)},
			{"ocb_overcloud_galera_local_state", ptr.To(4.0)},
			{"ocb_overcloud_galera_recv_queue", nil},
			{"ocb_overcloud_galera_flow_control_paused_seconds_total", nil},
		} {
			v, ok := seriesValue(metrics, m.name, ocLabels(oc, n.Name))
			if !ok || (m.want != nil && v != *m.want) || v < 0 {
				t.Errorf("%s%v: %v (present %v), want %v", m.name, ocLabels(oc, n.Name), v, ok, ptr.Deref(m.want, v))
			}
			fmt.Fprintf(&perNode, " %s=%g", strings.TrimPrefix(m.name, "ocb_overcloud_"), v)
		}
	}
	probes, _ := seriesValue(metrics, "ocb_overcloud_probe_seconds_count", ocLabels(oc, ""))
	sum, _ := seriesValue(metrics, "ocb_overcloud_probe_seconds_sum", ocLabels(oc, ""))
	t.Logf("Metrics of %s/%s: %g probes, %.1f ms each on average; per node:%s", oc.Namespace, oc.Name, probes,
		1000*sum/max(probes, 1), perNode.String())
}

// TestTwoNamespacesOneGaleraCluster: two tenants, each with its own Overcloud object,
// Secrets and claim, all naming the same sandbox nodes, create a backup (of the same name)
// at the same moment. The queue is keyed by the cluster's identity as probed, so one
// backup waits, Queued with a message naming the other backup and the cluster's
// wsrep_cluster_state_uuid, until the other's Job is over: its Job is created after the
// other's completed (Job creation and completion times, and the agents' start and finish),
// both succeed, and a sampler reading wsrep_desync on every node every 200 ms never sees
// two nodes desynced at once (and does see each dump's node desynced).
func TestTwoNamespacesOneGaleraCluster(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	const db = "ocb_e2e_two_ns"
	// A database whose dump outlasts the second backup's probe: 48 MiB of incompressible
	// rows through an agent held to a tenth of a CPU (about 10 s here).
	schema(t, sb, db, 0, blobStatements(killedMiB)...)
	wantUUID := clusterStateUUID(t, sb)

	backups := make([]e2eBackup, 0, 2)
	for _, prefix := range []string{"tenant-a", "tenant-b"} {
		ns := k.namespace(t, prefix)
		k.controllerSecrets(t, sb, ns)
		k.claim(t, ns)
		b := controllerBackup(sb, ns, "shared-1", accessSSH, db)
		b.Spec.Dump.Users = backupv1alpha1.UsersExclude
		b.Spec.Job.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(killedCPU), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(killedCPU), corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
		k.createOvercloud(t, b.Overcloud)
		backups = append(backups, b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	sampler := startDesyncSampler(t, sb)
	// The two backups at the same moment.
	var wg sync.WaitGroup
	errs := make([]error, len(backups))
	for i, b := range backups {
		wg.Go(func() { errs[i] = k.c.Create(ctx, b.OvercloudBackup) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creating backup %s/%s: %v", backups[i].Namespace, backups[i].Name, err)
		}
	}

	final := make([]*backupv1alpha1.OvercloudBackup, len(backups))
	queued := map[int]string{} // backup index -> the Queued message seen
	last := make([]*backupv1alpha1.OvercloudBackup, len(backups))
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		done := 0
		for i, b := range backups {
			got := &backupv1alpha1.OvercloudBackup{}
			if err := k.c.Get(ctx, client.ObjectKeyFromObject(b.OvercloudBackup), got); err != nil {
				return false, nil //nolint:nilerr // a transient read error: poll again
			}
			last[i] = got
			if c := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionNodeSelected); c != nil &&
				c.Reason == backupv1alpha1.ReasonQueued {
				queued[i] = c.Message
			}
			if got.IsFinished() {
				final[i] = got
				done++
			}
		}
		return done == len(backups), nil
	})
	samples := sampler.stop()
	if err != nil {
		var where strings.Builder
		for i, b := range last {
			if b == nil {
				continue
			}
			fmt.Fprintf(&where, "\n%s/%s: %s: %s", b.Namespace, b.Name, b.Status.Phase, b.Status.Message)
			jobs := &batchv1.JobList{}
			if err := k.c.List(context.Background(), jobs, client.InNamespace(b.Namespace)); err == nil {
				for _, j := range jobs.Items {
					fmt.Fprintf(&where, "\n  Job %s: active %d, succeeded %d, failed %d, conditions %+v", j.Name,
						j.Status.Active, j.Status.Succeeded, j.Status.Failed, j.Status.Conditions)
				}
			}
			fmt.Fprintf(&where, "\n  events:\n%s", k.events(backups[i].Namespace))
		}
		t.Fatalf("waiting for both backups to finish: %v (desync samples %+v)%s", err, samples, where.String())
	}

	for _, got := range final {
		if got.Status.Phase != backupv1alpha1.PhaseSucceeded {
			t.Fatalf("backup %s/%s ended %s: %s\nevents:\n%s", got.Namespace, got.Name, got.Status.Phase, got.Status.Message,
				k.events(got.Namespace))
		}
		if got.Status.Source == nil || got.Status.Source.ClusterStateUUID != wantUUID {
			t.Errorf("%s/%s records the source %+v, want cluster %s", got.Namespace, got.Name, got.Status.Source, wantUUID)
		}
		t.Logf("%s/%s: node %s, cluster %s, %v..%v", got.Namespace, got.Name, got.Status.SelectedNode, wantUUID,
			got.Status.StartTime.Format(time.TimeOnly), got.Status.CompletionTime.Format(time.TimeOnly))
	}

	// Their Jobs and agents never overlapped: one was created after the other completed.
	type span struct {
		i                           int
		created, done               time.Time // the Job's
		agentStarted, agentFinished time.Time // its one pod's agent container
	}
	spans := make([]span, 0, len(backups))
	for i, b := range backups {
		jobs := &batchv1.JobList{}
		// The backup's attempts (its restore drill's Job, when it has started, is another).
		attempts := client.MatchingLabels{backupv1alpha1.LabelBackup: b.Name, "app.kubernetes.io/component": "backup-agent"}
		if err := k.c.List(ctx, jobs, client.InNamespace(b.Namespace), attempts); err != nil {
			t.Fatal(err)
		}
		if len(jobs.Items) != 1 {
			t.Fatalf("%s: %d Jobs, want 1", b.Namespace, len(jobs.Items))
		}
		j := &jobs.Items[0]
		if j.Status.CompletionTime == nil {
			t.Fatalf("%s: Job %s has no completion time", b.Namespace, j.Name)
		}
		term := terminated(k.onlyPod(t, j))
		if term == nil || term.ExitCode != 0 {
			t.Fatalf("%s: the agent of Job %s: %+v, want exit 0", b.Namespace, j.Name, term)
		}
		spans = append(spans, span{i, j.CreationTimestamp.Time, j.Status.CompletionTime.Time, term.StartedAt.Time, term.FinishedAt.Time})
	}
	first, second := spans[0], spans[1]
	if second.created.Before(first.created) {
		first, second = second, first
	}
	nsOf := func(s span) string { return backups[s.i].Namespace }
	t.Logf("%s: Job created %s, agent %s..%s, Job complete %s", nsOf(first), first.created.Format(time.TimeOnly),
		first.agentStarted.Format(time.TimeOnly), first.agentFinished.Format(time.TimeOnly), first.done.Format(time.TimeOnly))
	t.Logf("%s: Job created %s (%v after the other completed), agent %s..%s, Job complete %s", nsOf(second),
		second.created.Format(time.TimeOnly), second.created.Sub(first.done), second.agentStarted.Format(time.TimeOnly),
		second.agentFinished.Format(time.TimeOnly), second.done.Format(time.TimeOnly))
	if second.created.Before(first.done) || second.agentStarted.Before(first.agentFinished) {
		t.Errorf("the backups overlapped: %s's Job ran %s..%s (agent until %s), %s's was created at %s (agent from %s)",
			nsOf(first), first.created.Format(time.RFC3339), first.done.Format(time.RFC3339), first.agentFinished.Format(time.RFC3339),
			nsOf(second), second.created.Format(time.RFC3339), second.agentStarted.Format(time.RFC3339))
	}
	// The queue wakes on the other Job's end, not on its 30 s retry.
	if gap := second.created.Sub(first.done); gap > 15*time.Second {
		t.Errorf("%s's Job was created %v after the other's completed: the queue did not wake on its end", nsOf(second), gap)
	}

	// The one that waited was Queued, naming the other backup and the cluster; the first never.
	if _, ok := queued[first.i]; ok {
		t.Errorf("%s, whose Job came first, was Queued: %q", nsOf(first), queued[first.i])
	}
	msg, ok := queued[second.i]
	other := nsOf(first) + "/" + backups[first.i].Name
	if !ok {
		t.Errorf("%s, whose Job came second, was never seen Queued", nsOf(second))
	} else if !strings.Contains(msg, "same Galera cluster") || !strings.Contains(msg, wantUUID) || !strings.Contains(msg, other) {
		t.Errorf("%s was Queued with %q: want it to name the backup %s and the same Galera cluster %s", nsOf(second), msg, other, wantUUID)
	} else {
		t.Logf("%s: NodeSelected=False/Queued: %s", nsOf(second), msg)
	}

	// Never two nodes of the cluster desynced at once; each dump's node seen desynced.
	t.Logf("wsrep_desync sampled %d times on %d nodes (%d samples with a node desynced, most at once %d; desynced: %v)",
		samples.rounds, len(sb.Nodes), samples.withDesync, samples.most, samples.seen)
	if samples.most > 1 {
		t.Errorf("%d nodes desynced at once (%s): two backups of one cluster ran together", samples.most, samples.mostAt.Format(time.TimeOnly))
	}
	if samples.errors > samples.rounds/10 {
		t.Errorf("%d of %d wsrep_desync samples failed: %v", samples.errors, samples.rounds*len(sb.Nodes), samples.lastErr)
	}
	for _, got := range final {
		if !slices.Contains(samples.seen, got.Status.SelectedNode) {
			t.Errorf("the sampler never saw %s desynced during %s/%s's dump: it did not watch the backups run",
				got.Status.SelectedNode, got.Namespace, got.Name)
		}
	}
}

// desyncSampler reads wsrep_desync on every node of the sandbox, every 200 ms, in the
// background.
type desyncSampler struct {
	stopped chan struct{}
	once    sync.Once
	done    chan desyncSamples
	result  desyncSamples // what stop received, for a second stop (the test's end)
}

// desyncSamples is what the sampler saw.
type desyncSamples struct {
	rounds, withDesync, most, errors int
	mostAt                           time.Time
	seen                             []string // the nodes seen desynced
	lastErr                          error
}

// startDesyncSampler starts sampling; stop ends it and returns what it saw. The test's end
// stops it too.
func startDesyncSampler(t *testing.T, sb *sandbox.Sandbox) *desyncSampler {
	t.Helper()
	dbs := make([]*sql.DB, len(sb.Nodes))
	for i := range sb.Nodes {
		dbs[i] = sb.Open(t, sb.NodeAddr(i))
		dbs[i].SetMaxOpenConns(1)
	}
	s := &desyncSampler{stopped: make(chan struct{}), done: make(chan desyncSamples, 1)}
	go func() {
		var out desyncSamples
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			n := 0
			for i, db := range dbs {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				var desync int
				err := db.QueryRowContext(ctx, "SELECT @@wsrep_desync").Scan(&desync)
				cancel()
				switch {
				case err != nil:
					out.errors++
					out.lastErr = fmt.Errorf("%s: %w", sb.Nodes[i].Name, err)
				case desync != 0:
					n++
					if !slices.Contains(out.seen, sb.Nodes[i].Name) {
						out.seen = append(out.seen, sb.Nodes[i].Name)
					}
				}
			}
			out.rounds++
			if n > 0 {
				out.withDesync++
			}
			if n > out.most {
				out.most, out.mostAt = n, time.Now()
			}
			select {
			case <-s.stopped:
				for _, db := range dbs {
					_ = db.Close()
				}
				s.done <- out
				return
			case <-tick.C:
			}
		}
	}()
	// Registered after sb.Open's cleanups, so it runs before them: the sampler has
	// returned before its connections are closed under it.
	t.Cleanup(func() { s.stop() })
	return s
}

// stop ends the sampling, waits for the sampler to return, and returns what it saw; a
// second call returns the same.
func (s *desyncSampler) stop() desyncSamples {
	s.once.Do(func() {
		close(s.stopped)
		s.result = <-s.done
	})
	return s.result
}

// clusterStateUUID is the Galera cluster's identity, read from node 0 as the backup user.
func clusterStateUUID(t testing.TB, sb *sandbox.Sandbox) string {
	t.Helper()
	db := sb.Open(t, sb.NodeAddr(0))
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var uuid string
	if err := db.QueryRowContext(ctx, "SELECT variable_value FROM information_schema.global_status "+
		"WHERE variable_name = 'wsrep_cluster_state_uuid'").Scan(&uuid); err != nil {
		t.Fatalf("wsrep_cluster_state_uuid on %s: %v", sb.Nodes[0].Name, err)
	}
	if len(uuid) != 36 {
		t.Fatalf("wsrep_cluster_state_uuid on %s is %q: not a UUID", sb.Nodes[0].Name, uuid)
	}
	return uuid
}

// conditionMessage is the message of the condition of that type, "" when absent.
func conditionMessage(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return c.Message
	}
	return ""
}

// kubectlTable runs `kubectl get` for one object and returns its header and its row, the
// row cut where each column of the header starts (kubectl aligns them so), so that an
// empty cell stays a column.
func kubectlTable(t testing.TB, kubectl string, args ...string) (header, row []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(kubectlOut(t, kubectl, args...), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl %s: %d lines, want a header and one row:\n%s", strings.Join(args, " "), len(lines), strings.Join(lines, "\n"))
	}
	cols := regexp.MustCompile(`\S+`).FindAllStringIndex(lines[0], -1)
	starts := make([]int, 0, len(cols))
	for _, m := range cols {
		header = append(header, lines[0][m[0]:m[1]])
		starts = append(starts, m[0])
	}
	for i, start := range starts {
		end := len(lines[1])
		if i+1 < len(starts) {
			end = min(starts[i+1], end)
		}
		cell := ""
		if start < end {
			cell = strings.TrimSpace(lines[1][start:end])
		}
		row = append(row, cell)
	}
	return header, row
}

// metricsReader returns a function that reads the manager's /metrics through its Service's
// ClusterIP, as Prometheus in the cluster would, with the token of a ServiceAccount of ns
// bound to the metrics-reader ClusterRole (the binding is deleted at the end of the test).
// TestManagerMetrics checks who may read; this is for tests that read what is there.
func (k *cluster) metricsReader(t testing.TB, ns string) func(context.Context) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, _ := k.metricsURL(ctx, t)
	const sa = "metrics-reader"
	if err := k.c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader", Labels: map[string]string{e2eLabel: "true"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReader},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}
	if err := k.c.Create(ctx, crb); err != nil {
		t.Fatalf("binding %s: %v", metricsReader, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := k.c.Delete(ctx, crb); client.IgnoreNotFound(err) != nil {
			t.Errorf("deleting ClusterRoleBinding %s: %v", crb.Name, err)
		}
	})
	tr, err := k.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(1800))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s: %v", sa, err)
	}
	// The manager's certificate is self-signed (no cert-manager here).
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // G402: see above
	}}
	t.Cleanup(hc.CloseIdleConnections)
	return func(ctx context.Context) (string, error) {
		code, body, err := scrape(ctx, hc, url, tr.Status.Token)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("%s: HTTP %d", url, code)
		}
		return body, err
	}
}

// series is one sample of Prometheus's text format.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// parseSeries reads the samples of a Prometheus text exposition (comments skipped).
func parseSeries(body string) []series {
	var out []series
	for line := range strings.Lines(body) {
		m := seriesLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		s := series{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out
}

// seriesValue is the value of the series of that name whose labels are exactly these.
func seriesValue(all []series, name string, labels map[string]string) (float64, bool) {
	for _, s := range all {
		if s.name == name && len(s.labels) == len(labels) {
			match := true
			for k, v := range labels {
				match = match && s.labels[k] == v
			}
			if match {
				return s.value, true
			}
		}
	}
	return 0, false
}

// ocLabels are the labels of the Overcloud's series; of its node's, when node is given.
func ocLabels(oc *backupv1alpha1.Overcloud, node string) map[string]string {
	l := map[string]string{"namespace": oc.Namespace, "overcloud": oc.Name}
	if node != "" {
		l["node"] = node
	}
	return l
}
