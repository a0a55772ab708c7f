//go:build e2e

package e2e_test

// The OvercloudBackup controller as deployed by `make deploy`, end to end: unlike the agent
// tests (job_test.go), these backups name Secrets that exist, so the controller in the
// manager pod probes the sandbox overcloud (Galera, Pacemaker's crm_mon over SSH, HAProxy's
// stats page and socket), chooses an idle node, launches the Job itself and records the
// artifact. The test only creates what a user would: the Secrets, the claim and the backup.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

const (
	// sshSecret and haproxySecret are the other Secrets controllerBackup names.
	sshSecret     = "overcloud-ssh" //nolint:gosec // G101: a Secret's name, not a credential
	haproxySecret = "haproxy-stats"
)

// kstatus values (sigs.k8s.io/cli-utils/pkg/kstatus/status), as kstatusOf computes them.
const (
	kstatusCurrent    = "Current"
	kstatusInProgress = "InProgress"
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// overcloudAccess is how a backup reaches the overcloud's management interfaces.
type overcloudAccess struct {
	name string
	// ssh adds spec.overcloud.ssh and pacemaker (crm_mon over SSH) and HAProxy's stats
	// socket (over SSH), as config/samples/backup_v1alpha1_overcloudbackup.yaml does.
	ssh bool
}

// The two ways the tests reach the sandbox: Galera and HAProxy's stats page (HTTP, basic
// auth) only; and, as the sample does, also Pacemaker and HAProxy's stats socket over SSH.
var (
	accessHTTP = overcloudAccess{name: "GaleraAndHAProxyStats"}
	accessSSH  = overcloudAccess{name: "PacemakerOverSSH", ssh: true}
)

// TestBackupThroughController: a backup of the sandbox, created with its Secrets and claim,
// is run by the deployed controller alone while an OpenStack-like client holds a session
// through HAProxy; once reaching the overcloud over Galera and HAProxy's stats page only,
// once as the sample does (Pacemaker and HAProxy's socket over SSH too). It reaches
// Succeeded with the artifact in status (files, sizes, SHA-256, Galera position) matching
// the manifest on the PV, which agent.Verify (what `agent verify` runs) accepts from the
// host directory behind the local PV; it was taken from an idle node, not the one the
// client's session is on, and the node table explains every node.
// `kubectl wait --for=condition=Complete` (the node's kubectl, started right after the
// creation) returns 0; kstatus reads InProgress while the Job runs and Current after. No
// secret value (database and HAProxy passwords, the SSH key) appears in the Job, the pod,
// the backup's events, the agent's or the manager's logs, or the status. It logs the time
// from the creation to the Job and to Succeeded.
func TestBackupThroughController(t *testing.T) {
	k := connect(t)
	kubectl := kubectlPath(t)
	sb := lockSandbox(t)
	// A client of the database, as nova would be: HAProxy's counters and stick table
	// name its node.
	_, active := sb.ClientSession(t)
	for _, access := range []overcloudAccess{accessHTTP, accessSSH} {
		t.Run(access.name, func(t *testing.T) { testThroughController(t, k, kubectl, sb, active, access) })
	}
}

func testThroughController(t *testing.T, k *cluster, kubectl string, sb *sandbox.Sandbox, active string, access overcloudAccess) {
	ns := k.namespace(t, "ctrl")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)
	b := controllerBackup(sb, ns, "through-1", access, "nova")

	managerLogsSince := metav1.Now()
	kw := k.startKubectlWait(t, kubectl, b.Namespace, "ocb/"+b.Name, 4*time.Minute)
	run := k.runBackup(t, b, 4*time.Minute, kw.start)
	got := run.final
	for _, s := range run.steps {
		t.Logf("%7.3fs %-9s kstatus %-10s %s | %s", s.at.Seconds(), s.phase, s.kstatus, s.conditions, s.message)
	}
	if got.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Fatalf("backup %s ended %s: %s\nconditions: %+v\nevents:\n%s", got.Name, got.Status.Phase, got.Status.Message,
			got.Status.Conditions, redactAll(k.events(ns), secrets))
	}
	t.Logf("Created → Job created %v (the controller's status said so after %v), → Succeeded %v",
		run.toJob.Round(time.Millisecond), run.toJobStatus.Round(time.Millisecond), run.toDone.Round(time.Millisecond))

	checkNodeTable(t, sb, got, active, access)
	checkConditions(t, got)
	checkArtifact(t, got, ns)

	// kubectl wait, started before the backup finished, returns 0 once it is Complete.
	kw.check(t, 30*time.Second)
	// kubectl get ocb shows the printer columns a user sees.
	line := kubectlOut(t, kubectl, "-n", ns, "get", "ocb", got.Name, "--no-headers")
	if f := strings.Fields(line); len(f) < 5 || f[0] != got.Name || f[1] != string(backupv1alpha1.PhaseSucceeded) ||
		f[2] != got.Status.SelectedNode || !strings.Contains(line, got.Status.Artifact.Size) {
		t.Errorf("kubectl get ocb: %q; want the name, Succeeded, %s, %s", line, got.Status.SelectedNode, got.Status.Artifact.Size)
	}
	t.Logf("kubectl get ocb: %s", strings.TrimSpace(line))

	// kstatus: InProgress while the Job runs, Current once the backup succeeded.
	var running, notInProgress []string
	for _, s := range run.steps {
		if s.phase == backupv1alpha1.PhaseRunning {
			running = append(running, s.kstatus)
			if s.kstatus != kstatusInProgress {
				notInProgress = append(notInProgress, fmt.Sprintf("%.3fs %s (%s)", s.at.Seconds(), s.kstatus, s.conditions))
			}
		}
	}
	if len(running) == 0 {
		t.Error("no observation of the backup in phase Running: the watch missed the whole run")
	}
	if len(notInProgress) > 0 {
		t.Errorf("kstatus of the backup while its Job runs: %v, want InProgress: kstatus does not read Ready; "+
			"it needs a Reconciling=True condition (or observedGeneration behind generation) while the backup is in progress",
			notInProgress)
	}
	if s := kstatusOf(got); s != kstatusCurrent {
		t.Errorf("kstatus of the succeeded backup: %s, want Current", s)
	}

	// The files on the PV: what the status says, verified.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(k.volumePath(ctx, t, ns), filepath.FromSlash(got.Status.Artifact.Path))
	m, err := agent.Verify(t.Context(), dir)
	if err != nil {
		t.Fatalf("agent verify %s: %v", dir, err)
	}
	checkManifest(t, m, got)
	t.Logf("agent verify %s: %d files OK", dir, len(m.Files))

	// The Job the controller made: owned by the backup, locked down, one pod.
	job := &batchv1.Job{}
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: got.Status.JobName}, job); err != nil {
		t.Fatalf("the backup's Job %s: %v", got.Status.JobName, err)
	}
	if !metav1.IsControlledBy(job, got) || job.Name != got.JobName(1) || got.Status.Attempts != 1 {
		t.Errorf("Job %s (owners %+v), attempts %d: want %s controlled by the backup, one attempt",
			job.Name, job.OwnerReferences, got.Status.Attempts, got.JobName(1))
	}
	pod := k.onlyPod(t, job)
	lockedDown(t, pod)
	logs, err := k.podLogs(ctx, ns, pod.Name, agentContainer)
	if err != nil {
		t.Fatalf("the agent's logs: %v", err)
	}
	checkProgressLines(t, logs, got)
	if d := waitSynced(t, sb, nodeIndex(t, sb, got.Status.SelectedNode), time.Minute); d > time.Second {
		t.Logf("%s Synced again %v after the backup", got.Status.SelectedNode, d.Round(time.Millisecond))
	}

	// No secret value anywhere a user or a log collector can read.
	evs := k.backupEvents(ctx, t, got)
	t.Logf("Events of the backup:\n%s", redactAll(strings.Join(evs, "\n"), secrets))
	for _, want := range []string{backupv1alpha1.ReasonNodeSelected, backupv1alpha1.ReasonJobCreated, "BackupSucceeded"} {
		if !slices.ContainsFunc(evs, func(e string) bool { return strings.HasPrefix(e, want+": ") }) {
			t.Errorf("no %s event for the backup", want)
		}
	}
	places := map[string]string{
		"the Job":            jsonOf(t, job),
		"the pod":            jsonOf(t, pod),
		"the status":         jsonOf(t, got.Status),
		"the events":         strings.Join(evs, "\n"),
		"the agent's logs":   logs,
		"the manager's logs": k.managerLogs(ctx, t, managerLogsSince),
	}
	for where, text := range places {
		noSecrets(t, where, text, secrets)
	}
}

// BenchmarkBackupThroughController: an OvercloudBackup of an empty database, from its
// creation to its Job created by the deployed controller (references, queue, the probe, the
// choice, the Job) and to Succeeded (the pod, the agent's re-check, desync and dump, the
// result read back), as a client watching them sees it; with each overcloudAccess. Each run
// is a new backup in one namespace; the first one also binds the claim
// (WaitForFirstConsumer), as a user's first backup does. ns/op is creation → Succeeded.
func BenchmarkBackupThroughController(b *testing.B) {
	k := connect(b)
	sb := lockSandbox(b)
	const db = "ocb_e2e_ctrl_empty"
	schema(b, sb, db, 0)
	sb.ClientSession(b)
	for _, access := range []overcloudAccess{accessHTTP, accessSSH} {
		b.Run(access.name, func(b *testing.B) { benchThroughController(b, k, sb, access, db) })
	}
}

func benchThroughController(b *testing.B, k *cluster, sb *sandbox.Sandbox, access overcloudAccess, db string) {
	b.StopTimer()
	ns := k.namespace(b, "ctrl-bench")
	k.controllerSecrets(b, sb, ns)
	k.claim(b, ns)
	toJob := make([]time.Duration, 0, b.N)
	toDone := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		bk := controllerBackup(sb, ns, fmt.Sprintf("bench-%d", i+1), access, db)
		b.StartTimer()
		run := k.runBackup(b, bk, 3*time.Minute, nil)
		b.StopTimer()
		if run.final.Status.Phase != backupv1alpha1.PhaseSucceeded {
			b.Fatalf("backup %s ended %s: %s", bk.Name, run.final.Status.Phase, run.final.Status.Message)
		}
		toJob, toDone = append(toJob, run.toJob), append(toDone, run.toDone)
	}
	b.ReportMetric(secondsMean(toJob), "s-to-JobCreated")
	b.ReportMetric(secondsMean(toDone), "s-to-Succeeded")
	b.Logf("%d backups: creation → Job created %v, → Succeeded %v", len(toDone), toJob, toDone)
}

func secondsMean(ds []time.Duration) float64 {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum.Seconds() / float64(len(ds))
}

// controllerBackup is a backup of the databases of the sandbox that the deployed
// controller runs: sandboxBackup with HAProxy's stats page (basic auth) and, with
// access.ssh, the SSH Secret that exists, Pacemaker (crm_mon) and HAProxy's stats socket.
// maxAttempts stays 1: a failed attempt fails the test instead of hiding behind a retry.
func controllerBackup(sb *sandbox.Sandbox, ns, name string, access overcloudAccess, databases ...string) e2eBackup {
	return sandboxBackup(sb, ns, name, func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
		oc.SSH = nil
		oc.HAProxy = &backupv1alpha1.HAProxyAccess{
			StatsURL: sb.HAProxy.StatsURL, Backend: sb.HAProxy.Backend,
			CredentialsSecret: &backupv1alpha1.CredentialsSecretReference{Name: haproxySecret},
		}
		if access.ssh {
			for i, n := range sb.Nodes {
				oc.Nodes[i].SSHPort = ptr.To(int32(n.SSHPort)) //nolint:gosec // G115: a TCP port, from sandbox.json
			}
			oc.SSH = &backupv1alpha1.SSHAccess{SecretName: sshSecret, User: sb.SSH.User}
			oc.Pacemaker = &backupv1alpha1.PacemakerAccess{}
			oc.HAProxy.StatsSocket = sb.HAProxy.StatsSocket
		}
		b.Spec.Dump = &backupv1alpha1.DumpSpec{Databases: databases}
	})
}

// controllerSecrets creates the Secrets controllerBackup names, from the sandbox's files:
// the database credentials, the SSH key and known_hosts (kubernetes.io/ssh-auth), the
// HAProxy stats credentials. It returns the secret values the leak checks look for: the
// passwords and each line of the key's body.
func (k *cluster) controllerSecrets(t testing.TB, sb *sandbox.Sandbox, ns string) []string {
	t.Helper()
	password, stats := sb.Password(t), sb.StatsPassword(t)
	key := sb.ReadFile(t, sb.SSH.PrivateKeyFile)
	k.credentials(t, ns, sb.Database.User, password)
	k.secret(t, ns, sshSecret, corev1.SecretTypeSSHAuth, map[string][]byte{
		corev1.SSHAuthPrivateKey: key, backupv1alpha1.DefaultKnownHostsKey: sb.ReadFile(t, sb.SSH.KnownHostsFile),
	})
	k.secret(t, ns, haproxySecret, corev1.SecretTypeOpaque, map[string][]byte{
		"username": []byte(sb.HAProxy.StatsUser), "password": []byte(stats),
	})
	values := []string{password, stats}
	for line := range strings.Lines(string(key)) {
		if line = strings.TrimSpace(line); len(line) >= 32 && !strings.HasPrefix(line, "-----") {
			values = append(values, line)
		}
	}
	for _, v := range values {
		if len(v) < 8 {
			t.Fatalf("a sandbox secret has %d characters: too short for the leak checks to mean anything", len(v))
		}
	}
	return values
}

// secret creates a Secret; the error names it, never its data.
func (k *cluster) secret(t testing.TB, ns, name string, typ corev1.SecretType, data map[string][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: typ, Data: data}
	if err := k.c.Create(ctx, s); err != nil {
		t.Fatalf("creating Secret %s: %v", name, apierrors.ReasonForError(err))
	}
}

// backupStep is one distinct state of a backup as a watch delivered it.
type backupStep struct {
	at         time.Duration
	phase      backupv1alpha1.BackupPhase
	conditions string
	message    string
	kstatus    string
}

// backupRun is one backup followed from its creation to its end.
type backupRun struct {
	final *backupv1alpha1.OvercloudBackup
	// toJob is creation → the Job seen in the API; toJobStatus → the status naming it;
	// toDone → Complete or Failed in the status.
	toJob, toJobStatus, toDone time.Duration
	steps                      []backupStep
}

// runBackup watches the backup and its Jobs, creates the backup (then calls afterCreate,
// when given), and follows it until it has succeeded or failed, at most timeout (followBackup).
func (k *cluster) runBackup(t testing.TB, b e2eBackup, timeout time.Duration,
	afterCreate func()) *backupRun {
	t.Helper()
	return k.followBackup(t, b.OvercloudBackup, timeout, func() {
		k.createBackup(t, b)
		if afterCreate != nil {
			afterCreate()
		}
	})
}

// followBackup watches the backup named like b and its Jobs, calls start (which creates the
// backup, or makes the controller create it), and follows it until it has succeeded or
// failed, at most timeout from start. Every distinct state is recorded with its kstatus. A
// watch that ends (the client's 30 s request timeout ends them) is opened again.
func (k *cluster) followBackup(t testing.TB, b *backupv1alpha1.OvercloudBackup, timeout time.Duration, start func()) *backupRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	watchBackup := func() watch.Interface {
		w, err := k.w.Watch(ctx, &backupv1alpha1.OvercloudBackupList{}, client.InNamespace(b.Namespace),
			client.MatchingFields{"metadata.name": b.Name})
		if err != nil {
			t.Fatalf("watching backup %s: %v", b.Name, err)
		}
		return w
	}
	watchJobs := func() watch.Interface {
		w, err := k.cs.BatchV1().Jobs(b.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: backupv1alpha1.LabelBackup + "=" + b.Name})
		if err != nil {
			t.Fatalf("watching the Jobs of %s: %v", b.Name, err)
		}
		return w
	}
	bw, jw := watchBackup(), watchJobs()
	defer func() { bw.Stop(); jw.Stop() }()

	created := time.Now()
	start()
	run := &backupRun{final: b}
	timedOut := func() {
		t.Fatalf("backup %s not finished %v after its creation: phase %s, %s\nconditions: %+v\nevents:\n%s", b.Name, timeout,
			run.final.Status.Phase, run.final.Status.Message, run.final.Status.Conditions, k.events(b.Namespace))
	}
	for {
		select {
		case ev, ok := <-bw.ResultChan():
			if !ok {
				if ctx.Err() != nil {
					timedOut()
				}
				bw = watchBackup()
				continue
			}
			got, isBackup := ev.Object.(*backupv1alpha1.OvercloudBackup)
			if !isBackup || ev.Type == watch.Deleted {
				continue
			}
			at := time.Since(created)
			run.final = got
			run.record(at, got)
			if run.toJobStatus == 0 && got.Status.JobName != "" {
				run.toJobStatus = at
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionReferencesResolved); c != nil &&
				c.Status == metav1.ConditionFalse && c.Reason == backupv1alpha1.ReasonInvalidSpec {
				// The controller waits for a change of the Secrets, which never comes here.
				t.Fatalf("backup %s, %v after its creation: the controller cannot use its references and waits: %s",
					b.Name, at.Round(time.Millisecond), c.Message)
			}
			if got.IsFinished() {
				run.toDone = at
				if run.toJob == 0 {
					run.toJob = run.toJobStatus
				}
				return run
			}
		case ev, ok := <-jw.ResultChan():
			if !ok {
				if ctx.Err() != nil {
					timedOut()
				}
				jw = watchJobs()
				continue
			}
			if ev.Type == watch.Added && run.toJob == 0 {
				run.toJob = time.Since(created)
			}
		case <-ctx.Done():
			timedOut()
		}
	}
}

// record appends the backup's state when it differs from the last one recorded.
func (r *backupRun) record(at time.Duration, b *backupv1alpha1.OvercloudBackup) {
	conds := make([]string, 0, len(b.Status.Conditions))
	for _, c := range b.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	s := backupStep{at: at, phase: b.Status.Phase, conditions: strings.Join(conds, " "), message: b.Status.Message, kstatus: kstatusOf(b)}
	if n := len(r.steps); n > 0 {
		last := r.steps[n-1]
		if last.phase == s.phase && last.conditions == s.conditions && last.message == s.message && last.kstatus == s.kstatus {
			return
		}
	}
	r.steps = append(r.steps, s)
}

// kstatusOf is the status sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute gives the backup.
// cli-utils is not in go.mod, so its rules for a custom resource are applied here by hand
// (status.go Compute, generic.go checkGenericProperties and checkGeneration):
//   - metadata.deletionTimestamp set: Terminating;
//   - status.observedGeneration present and not metadata.generation: InProgress;
//   - a condition Reconciling=True: InProgress; Stalled=True: Failed;
//   - otherwise Current: kstatus has no rules of its own for a custom kind, and does not
//     read Ready (nor Complete, Failed or a phase).
func kstatusOf(b *backupv1alpha1.OvercloudBackup) string {
	if b.DeletionTimestamp != nil {
		return "Terminating"
	}
	// observedGeneration is omitempty: 0 is "absent", which kstatus skips.
	if g := b.Status.ObservedGeneration; g != 0 && g != b.Generation {
		return kstatusInProgress
	}
	for _, c := range b.Status.Conditions {
		if c.Status != metav1.ConditionTrue {
			continue
		}
		switch c.Type {
		case "Reconciling":
			return kstatusInProgress
		case "Stalled":
			return "Failed"
		}
	}
	return kstatusCurrent
}

// checkNodeTable: one row per node of the spec, each with a reason and the answer of each
// probe asked for; the selected node is eligible and is not the active one, which is the
// node the client's session is on.
func checkNodeTable(t *testing.T, sb *sandbox.Sandbox, b *backupv1alpha1.OvercloudBackup, clientNode string, access overcloudAccess) {
	t.Helper()
	st := b.Status
	var table strings.Builder
	names := make([]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		names = append(names, n.Name)
		fmt.Fprintf(&table, "\n  %-13s %-11s eligible=%-5v selected=%-5v %s", n.Name, n.Role, n.Eligible, n.Selected, n.Reason)
		if strings.TrimSpace(n.Reason) == "" {
			t.Errorf("node %s: no reason in the node table", n.Name)
		}
		if n.Galera == nil || !n.Galera.Reachable || n.HAProxy == nil || (n.Pacemaker == nil) == access.ssh {
			t.Errorf("node %s: galera %+v pacemaker %+v haproxy %+v: want the answer of each probe the spec asks for",
				n.Name, n.Galera, n.Pacemaker, n.HAProxy)
		}
		if n.Selected != (n.Name == st.SelectedNode) {
			t.Errorf("node %s: selected=%v, status.selectedNode %s", n.Name, n.Selected, st.SelectedNode)
		}
		if n.Selected && (!n.Eligible || n.Role != backupv1alpha1.RoleStandby) {
			t.Errorf("the selected node %s is %s, eligible=%v: want an eligible Standby node", n.Name, n.Role, n.Eligible)
		}
		if n.Name == st.ActiveNode && n.Role != backupv1alpha1.RoleActive {
			t.Errorf("the active node %s has role %s in the table", n.Name, n.Role)
		}
	}
	t.Logf("Node table (active %s, VIP on %s, selected %s):%s", st.ActiveNode, st.VIPNode, st.SelectedNode, table.String())
	want := make([]string, 0, len(sb.Nodes))
	for _, n := range sb.Nodes {
		want = append(want, n.Name)
	}
	if !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(want))) {
		t.Errorf("the node table lists %v, want %v", names, want)
	}
	if st.ActiveNode != clientNode {
		t.Errorf("status.activeNode %q, but the client's session through HAProxy is on %s", st.ActiveNode, clientNode)
	}
	if st.SelectedNode == "" || st.SelectedNode == st.ActiveNode {
		t.Errorf("status.selectedNode %q, status.activeNode %q: the backup must come from another node", st.SelectedNode, st.ActiveNode)
	}
}

// checkConditions: the conditions a succeeded backup carries, at its generation.
func checkConditions(t *testing.T, b *backupv1alpha1.OvercloudBackup) {
	t.Helper()
	want := map[string][2]string{
		backupv1alpha1.ConditionReady:              {"True", backupv1alpha1.ReasonSucceeded},
		backupv1alpha1.ConditionComplete:           {"True", backupv1alpha1.ReasonSucceeded},
		backupv1alpha1.ConditionReferencesResolved: {"True", backupv1alpha1.ReasonResolved},
		backupv1alpha1.ConditionNodeSelected:       {"True", backupv1alpha1.ReasonNodeSelected},
		backupv1alpha1.ConditionJobRunning:         {"False", backupv1alpha1.ReasonJobSucceeded},
	}
	for _, c := range b.Status.Conditions {
		if w, ok := want[c.Type]; ok {
			if string(c.Status) != w[0] || c.Reason != w[1] || c.ObservedGeneration != b.Generation {
				t.Errorf("condition %s=%s/%s (generation %d), want %s/%s at generation %d",
					c.Type, c.Status, c.Reason, c.ObservedGeneration, w[0], w[1], b.Generation)
			}
			delete(want, c.Type)
		}
		if c.Type == backupv1alpha1.ConditionFailed && c.Status == metav1.ConditionTrue {
			t.Errorf("a succeeded backup with Failed=True: %s", c.Message)
		}
	}
	for typ := range want {
		t.Errorf("no %s condition", typ)
	}
	st := b.Status
	if st.ObservedGeneration != b.Generation || st.StartTime == nil || st.CompletionTime == nil || st.Duration == nil {
		t.Errorf("observedGeneration %d (generation %d), startTime %v, completionTime %v, duration %v: want all set",
			st.ObservedGeneration, b.Generation, st.StartTime, st.CompletionTime, st.Duration)
	}
}

// checkArtifact: status.artifact names the claim, the path, every file with its size and
// SHA-256, the total and the Galera position.
func checkArtifact(t *testing.T, b *backupv1alpha1.OvercloudBackup, ns string) {
	t.Helper()
	a := b.Status.Artifact
	if a == nil {
		t.Fatal("a succeeded backup without status.artifact")
	}
	if a.ClaimName != claimName || a.Path != ns+"/"+b.Name || a.Method != backupv1alpha1.DumpLogical ||
		a.Compression != backupv1alpha1.CompressionZstd || a.Size == "" {
		t.Errorf("artifact %+v: want claim %s, path %s/%s, Logical, zstd, a size", a, claimName, ns, b.Name)
	}
	var total int64
	for _, f := range a.Files {
		total += f.SizeBytes
		if f.Name == "" || f.SizeBytes <= 0 || !sha256Hex.MatchString(f.SHA256) {
			t.Errorf("artifact file %+v: want a name, a size and a SHA-256", f)
		}
	}
	if len(a.Files) == 0 || total != a.TotalBytes {
		t.Errorf("artifact: %d files, %d bytes in all, totalBytes %d", len(a.Files), total, a.TotalBytes)
	}
	if p := a.Position; p == nil || p.ClusterUUID == "" || p.Seqno <= 0 {
		t.Errorf("artifact position %+v: want the cluster UUID and a seqno", p)
	}
	t.Logf("Artifact: %s on claim %s, %d files, %s (%d bytes), position %+v", a.Path, a.ClaimName, len(a.Files), a.Size, a.TotalBytes, *a.Position)
}

// checkManifest: the manifest on the volume is the backup's, and lists what the status does.
func checkManifest(t *testing.T, m *agent.Manifest, b *backupv1alpha1.OvercloudBackup) {
	t.Helper()
	a := b.Status.Artifact
	if m.Backup.UID != string(b.UID) || m.Backup.Namespace != b.Namespace || m.Backup.Name != b.Name || m.Node != b.Status.SelectedNode {
		t.Errorf("manifest identity %+v node %s, want %s/%s uid %s node %s", m.Backup, m.Node, b.Namespace, b.Name, b.UID, b.Status.SelectedNode)
	}
	files := make([]backupv1alpha1.ArtifactFile, 0, len(m.Files))
	for _, f := range m.Files {
		files = append(files, backupv1alpha1.ArtifactFile{Name: f.Name, SizeBytes: f.Bytes, SHA256: f.SHA256})
	}
	if !slices.Equal(files, a.Files) {
		t.Errorf("the manifest lists %+v, status.artifact %+v", files, a.Files)
	}
	if p := m.Position; p == nil || a.Position == nil || p.ClusterUUID != a.Position.ClusterUUID || p.Seqno != a.Position.Seqno {
		t.Errorf("manifest position %+v, status %+v", p, a.Position)
	}
}

// checkProgressLines: the agent's log has its JSON progress lines, the last one "done" for
// this backup and node, and its final line.
func checkProgressLines(t *testing.T, logs string, b *backupv1alpha1.OvercloudBackup) {
	t.Helper()
	var lines []agent.ProgressLine
	for line := range strings.Lines(logs) {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var p agent.ProgressLine
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Errorf("agent log line %q is not a progress line: %v", line, err)
			continue
		}
		lines = append(lines, p)
	}
	if len(lines) == 0 {
		t.Fatalf("no progress line in the agent's log:\n%s", logs)
	}
	last := lines[len(lines)-1]
	if last.Msg != "done" || last.Backup != b.Namespace+"/"+b.Name || last.Node != b.Status.SelectedNode {
		t.Errorf("last progress line %+v: want done, backup %s/%s, node %s", last, b.Namespace, b.Name, b.Status.SelectedNode)
	}
	if !strings.Contains(logs, "Backup complete: ") {
		t.Errorf("the agent's log does not say the backup is complete:\n%s", logs)
	}
	pct := "-"
	if last.Percent != nil {
		pct = fmt.Sprintf("%.1f%%", *last.Percent)
	}
	t.Logf("Agent: %d progress lines, the last %s %s from %s: %d bytes dumped, %d written, %s, %.1fs",
		len(lines), last.Msg, last.Backup, last.Node, last.Bytes, last.Written, pct, last.Elapsed)
}

// backupEvents are the events about the backup, "Reason: note" each.
func (k *cluster) backupEvents(ctx context.Context, t testing.TB, b *backupv1alpha1.OvercloudBackup) []string {
	t.Helper()
	evs := &corev1.EventList{}
	if err := k.c.List(ctx, evs, client.InNamespace(b.Namespace)); err != nil {
		t.Fatalf("listing the events: %v", err)
	}
	var out []string
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == "OvercloudBackup" && e.InvolvedObject.Name == b.Name {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

// managerLogs are the manager pods' logs since the time given.
func (k *cluster) managerLogs(ctx context.Context, t testing.TB, since metav1.Time) string {
	t.Helper()
	pods := &corev1.PodList{}
	if err := k.c.List(ctx, pods, client.InNamespace(operatorNamespace)); err != nil {
		t.Fatalf("listing the manager's pods: %v", err)
	}
	var all strings.Builder
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			b, err := k.cs.CoreV1().Pods(operatorNamespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, SinceTime: &since}).DoRaw(ctx)
			if err != nil {
				t.Errorf("the logs of %s/%s: %v", p.Name, c.Name, err)
			}
			all.Write(b)
		}
	}
	if all.Len() == 0 {
		t.Error("the manager logged nothing during the backup")
	}
	return all.String()
}

// noSecrets fails the test when text holds one of the secret values, without printing it.
func noSecrets(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for i, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("secret value #%d (of the database password, the HAProxy password, the SSH key's lines) is in %s", i, where)
		}
	}
}

func redactAll(s string, secrets []string) string {
	for _, v := range secrets {
		s = redact(s, v)
	}
	return s
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kubectlPath is the kubectl the node uses (hack/kube-node.sh env: OCB_KUBECTL), which the
// tests run as a user would. It fails the test when it is missing.
func kubectlPath(t testing.TB) string {
	t.Helper()
	path := os.Getenv("OCB_KUBECTL")
	if path == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := kubeNode(ctx, "env")
		if err != nil {
			t.Fatalf("hack/kube-node.sh env: %v\n%s", err, out)
		}
		for line := range strings.Lines(string(out)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "export OCB_KUBECTL="); ok {
				path = v
			}
		}
	}
	//nolint:gosec // G703: the path hack/kube-node.sh names, checked before it is run
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("the node's kubectl %q is missing (%v): hack/kube-node.sh up builds it; %s", path, err, upHint)
	}
	return path
}

// kubectlOut runs the node's kubectl with the suite's kubeconfig, bounded to 30 s.
func kubectlOut(t testing.TB, kubectl string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	//nolint:gosec // G204: the node's own kubectl, our arguments
	out, err := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", os.Getenv("OCB_KUBECONFIG")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kubectlWait is `kubectl wait --for=condition=Complete ocb/NAME` running in the background.
type kubectlWait struct {
	start func()
	cmd   *exec.Cmd
	out   bytes.Buffer
	done  chan error
	began time.Time
}

// startKubectlWait prepares `kubectl wait --for=condition=Complete` for the object
// (kind/name, in namespace ns: a backup, a restore); its start is called right after the
// object is created (before, kubectl would find nothing to wait for), and it is stopped
// at the end of the test if still running.
func (k *cluster) startKubectlWait(t *testing.T, kubectl, ns, object string, timeout time.Duration) *kubectlWait {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	t.Cleanup(cancel)
	w := &kubectlWait{done: make(chan error, 1)}
	//nolint:gosec // G204: the node's own kubectl, our arguments
	w.cmd = exec.CommandContext(ctx, kubectl, "--kubeconfig", os.Getenv("OCB_KUBECONFIG"), "-n", ns,
		"wait", "--for=condition=Complete", object, fmt.Sprintf("--timeout=%ds", int(timeout.Seconds())))
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	w.start = func() {
		w.began = time.Now()
		if err := w.cmd.Start(); err != nil {
			w.done <- err
			return
		}
		go func() { w.done <- w.cmd.Wait() }()
	}
	return w
}

// check waits (at most timeout) for kubectl wait to exit and requires exit status 0.
func (w *kubectlWait) check(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("kubectl wait --for=condition=Complete: %v\n%s", err, w.out.String())
			return
		}
		t.Logf("kubectl wait --for=condition=Complete returned 0 after %v: %s", time.Since(w.began).Round(time.Millisecond),
			strings.TrimSpace(w.out.String()))
	case <-time.After(timeout):
		t.Errorf("kubectl wait --for=condition=Complete still running %v after the backup succeeded:\n%s", timeout, w.out.String())
	}
}
