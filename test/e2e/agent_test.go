//go:build e2e

package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

const (
	// agentUID is the user the agent runs as (BuildJob, the Dockerfile's USER).
	agentUID = 65532
	// backupMount is where BuildJob mounts the claim in the agent container.
	backupMount = "/backup"
	// tokenMount is where the kubelet would mount a service account token.
	tokenMount = "/var/run/secrets/kubernetes.io/serviceaccount" //nolint:gosec // G101: a mount path, not a credential
)

// TestAgentJob: the Job BuildJob makes for a backup of controller-2 is admitted in a namespace
// that enforces the restricted Pod Security Standard, runs on the node as uid 65532 with a
// read-only root filesystem, no capabilities, the runtime's default seccomp profile and no
// service account token, reads the database credentials from the Secret, reaches controller-2
// over the routed pod network, writes a backup to the PVC that agent.Verify accepts (read from
// the host directory behind the PV), reports the agent's result as its termination message,
// and leaves controller-2 Synced and not desynced. The password is nowhere in the Job, the pod
// or the logs. Deleting the backup garbage-collects its Job (the owner reference is real).
func TestAgentJob(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	password := sb.Password(t)
	if len(password) < 8 {
		t.Fatalf("the sandbox password has %d characters: too short for the leak checks to mean anything", len(password))
	}
	const node = "controller-2"
	n := nodeIndex(t, sb, node)

	ns := k.namespace(t, "agent")
	k.credentials(t, ns, sb.Database.User, password)
	k.claim(t, ns)
	// nova only: the other databases of the sandbox are the benchmarks' datasets, hundreds of MB.
	// No restore drill: the test follows its own agent Job, alone in the namespace.
	b := sandboxBackup(sb, ns, "manual-1", func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
		b.Spec.Dump = &backupv1alpha1.DumpSpec{Databases: []string{"nova"}}
		b.Spec.Verification = &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
	})
	k.createBackup(t, b)
	job := k.agentJob(t, b, node)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := k.c.Create(ctx, job); err != nil {
		t.Fatalf("creating the Job: %v", err)
	}
	job, complete := k.finished(t, job, 4*time.Minute)
	took := time.Since(start)
	pod := k.onlyPod(t, job)
	k.onlyJob(t, job)
	logs, logErr := k.podLogs(ctx, ns, pod.Name, agentContainer)
	if !complete {
		msg := ""
		if term := terminated(pod); term != nil {
			msg = term.Message
		}
		t.Fatalf("Job %s failed: %+v\ntermination message: %s\nlogs (%v):\n%s\nevents:\n%s", job.Name, job.Status.Conditions,
			redact(msg, password), logErr, redact(logs, password), k.events(ns))
	}
	t.Logf("Job %s Complete %v after its creation; pod %s on %s (%s)", job.Name, took.Round(time.Millisecond), pod.Name,
		pod.Spec.NodeName, pod.Status.PodIP)

	lockedDown(t, pod)

	res := result(t, pod)
	if res.Error != "" || !res.DesyncSet || !res.DesyncReset || len(res.Files) == 0 || res.Node != node || res.Position == nil {
		t.Errorf("termination message: %+v; want no error, desyncSet and desyncReset, files, node %s, a position", res, node)
	}

	// The files, from the host directory behind the PV the claim was bound to.
	rel, ok := strings.CutPrefix(res.Dir, backupMount+"/")
	if !ok || rel != ns+"/"+b.Name {
		t.Fatalf("result dir %q, want %s/%s/%s", res.Dir, backupMount, ns, b.Name)
	}
	root := k.volumePath(ctx, t, ns)
	dir := filepath.Join(root, rel)
	m, err := agent.Verify(t.Context(), dir)
	if err != nil {
		t.Fatalf("agent.Verify(%s): %v", dir, err)
	}
	if m.Backup.UID != string(b.UID) || m.Backup.Namespace != ns || m.Backup.Name != b.Name || m.Node != node {
		t.Errorf("manifest identity %+v node %s, want %s/%s uid %s node %s", m.Backup, m.Node, ns, b.Name, b.UID, node)
	}
	if !slices.Equal(m.Files, res.Files) {
		t.Errorf("the manifest lists %+v, the termination message %+v", m.Files, res.Files)
	}
	names := make([]string, 0, len(m.Files))
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	t.Logf("Backup %s verified: %v, %d bytes, position %+v", dir, names, res.TotalBytes, *res.Position)
	// The owner of what the agent wrote is the uid the runtime really ran it as.
	for _, name := range append(names, agent.ManifestName) {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Uid != agentUID {
			t.Errorf("%s is owned by %+v, want uid %d", name, st.Sys(), agentUID)
		}
	}
	if left := entries(t, filepath.Join(root, ns)); !slices.Equal(left, []string{b.Name}) {
		t.Errorf("the namespace's directory on the volume holds %v, want only %s", left, b.Name)
	}

	if d := waitSynced(t, sb, n, time.Minute); d > time.Second {
		t.Logf("%s Synced again %v after the Job completed", node, d.Round(time.Millisecond))
	}

	// The password reaches the pod only as a Secret volume: not in the Job or the pod as
	// stored (spec, status, termination message), not in what the agent logged.
	if logErr != nil {
		t.Errorf("reading the agent's logs: %v", logErr)
	}
	for what, obj := range map[string]any{"Job": job, "pod": pod} {
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), password) {
			t.Errorf("the password is in the %s", what)
		}
	}
	if strings.Contains(logs, password) {
		t.Error("the password is in the agent's logs")
	}
	if !strings.Contains(logs, "Backup complete: "+res.Dir) {
		t.Errorf("the agent's log does not say the backup is complete: %q", redact(logs, password))
	}

	// The Job's owner reference carries the backup's real UID: the garbage collector
	// deletes the Job with the backup.
	if err := k.c.Delete(ctx, b.OvercloudBackup); err != nil {
		t.Fatalf("deleting the backup: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := k.c.Get(ctx, client.ObjectKeyFromObject(job), &batchv1.Job{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Errorf("the Job outlived its backup by a minute: %v", err)
	}
}

// lockedDown checks the pod as the API server admitted it and the kubelet ran it: non-root uid
// and gid 65532, read-only root filesystem, no privilege escalation, every capability dropped,
// RuntimeDefault seccomp, no service account token (no projected token volume, nothing mounted
// where the token goes), and, when the runtime reports it, the identity the process really had.
func lockedDown(t testing.TB, pod *corev1.Pod) {
	t.Helper()
	ps := pod.Spec.SecurityContext
	if ps == nil || !ptrTrue(ps.RunAsNonRoot) || ps.RunAsUser == nil || *ps.RunAsUser != agentUID ||
		ps.RunAsGroup == nil || *ps.RunAsGroup != agentUID {
		t.Errorf("pod security context %+v: want runAsNonRoot, uid and gid %d", ps, agentUID)
	}
	if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccomp profile %+v, want RuntimeDefault", ps)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false")
	}
	if pod.Spec.HostNetwork {
		t.Error("the pod runs in the host's network namespace")
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					t.Errorf("volume %s projects a service account token", v.Name)
				}
			}
		}
	}
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Name != agentContainer {
		t.Fatalf("containers %+v, want the one agent container", pod.Spec.Containers)
	}
	c := pod.Spec.Containers[0]
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(m.MountPath, tokenMount) {
			t.Errorf("%s is mounted at %s", m.Name, m.MountPath)
		}
	}
	sc := c.SecurityContext
	if sc == nil || !ptrTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 ||
		ptrTrue(sc.Privileged) {
		t.Errorf("container security context %+v: want a read-only root, no privilege escalation, drop ALL, nothing added", sc)
	}
	if sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container seccomp profile %+v overrides RuntimeDefault", sc.SeccompProfile)
	}
	// containerd 2 reports the process's real identity (KEP-3619); containerd 1.6 does not.
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.User != nil && cs.User.Linux != nil && (cs.User.Linux.UID != agentUID || cs.User.Linux.GID != agentUID) {
			t.Errorf("the runtime ran %s as %+v", cs.Name, cs.User.Linux)
		}
	}
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// entries are the names in dir, hidden ones included; none when it does not exist.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	names := make([]string, 0, len(des))
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

// TestAgentJobKilledMidDump: the agent Job's pod is deleted (as a user, a drained node or
// the Job's deadline would) while mariadb-dump is streaming a database. The kubelet's SIGTERM
// makes the agent stop the dump and set wsrep_desync OFF again within the pod's grace period
// (30 s): the node is Synced and in sync, nothing that looks like a backup is left on the volume
// (no .partial-* either), the Job fails and starts no other pod (backoffLimit 0: the controller,
// not the Job, decides on another attempt).
//
// There is no forced variant: `kubectl delete --force --grace-period=0` is no SIGKILL. The
// kubelet still sends SIGTERM and waits its minimum of 2 s before SIGKILL, so the outcome is a
// race between that and the agent's cleanup (observed: desync OFF 0.2-1.6 s after the deletion,
// throttled to 0.1 CPU as here), which no test can assert either way. Only a SIGKILL without a
// SIGTERM before it (the OOM killer, a node crash) leaves the node desynced; undoing that is the
// controller's job, tested with the controller.
//
// The dump is made long enough to be caught midway by a database of incompressible rows and a
// CPU limit on the agent (spec.job.resources), which throttles mariadb-dump with it: 16 MiB at
// 0.1 CPU (twice that took 39 s undisturbed): the deletion comes ~3 s in, well before the end.
func TestAgentJobKilledMidDump(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	const node = "controller-2"
	n := nodeIndex(t, sb, node)
	t.Cleanup(func() { undoDesync(t, sb, n) })
	const db = "ocb_e2e_killed"
	schema(t, sb, db, n, blobStatements(killedMiB)...)
	password := sb.Password(t)
	ns := k.namespace(t, "killed")
	k.credentials(t, ns, sb.Database.User, password)
	k.claim(t, ns)
	b := sandboxBackup(sb, ns, "killed-1", func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
		b.Spec.Dump = &backupv1alpha1.DumpSpec{Databases: []string{db}, Users: backupv1alpha1.UsersExclude}
		b.Spec.Job.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(killedCPU), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(killedCPU), corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
	})
	k.createBackup(t, b)
	job := k.agentJob(t, b, node)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	created := time.Now()
	if err := k.c.Create(ctx, job); err != nil {
		t.Fatalf("creating the Job: %v", err)
	}
	root := k.volumePath(ctx, t, ns)

	// Mid-dump: the agent has set wsrep_desync and mariadb-dump has started writing into
	// the hidden .partial- directory.
	var partial string
	k.poll(ctx, t, node+" desynced by the agent and the dump writing", func(ctx context.Context) (bool, error) {
		if pods, err := k.jobPods(ctx, ns, job.Name); err == nil && len(pods) == 1 && terminated(&pods[0]) != nil {
			t.Fatalf("the agent ended before it could be stopped mid-dump: %+v", terminated(&pods[0]))
		}
		w, err := nodeWsrep(ctx, t, sb, n)
		if err != nil || !w.Desync {
			return false, nil //nolint:nilerr // not desynced yet, or a probe that timed out: poll again
		}
		for _, e := range entries(t, filepath.Join(root, ns)) {
			if strings.HasPrefix(e, "."+b.Name+".partial-") {
				if files := entries(t, filepath.Join(root, ns, e)); len(files) > 0 {
					partial = e + "/" + strings.Join(files, ",")
					return true, nil
				}
			}
		}
		return false, nil
	})
	pod := k.onlyPod(t, job)
	podGrace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	t.Logf("Mid-dump %v after the Job's creation: %s desynced, %s on the volume; deleting pod %s (grace period %v)",
		time.Since(created).Round(time.Millisecond), node, partial, pod.Name, podGrace)

	deleted := time.Now()
	if err := k.c.Delete(ctx, pod); err != nil {
		t.Fatalf("deleting the pod: %v", err)
	}
	// The agent must undo the desync before the grace period ends and the kubelet kills it;
	// after that it never would.
	var last wsrep
	var lastTerm *corev1.ContainerStateTerminated
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, podGrace+5*time.Second, true, func(ctx context.Context) (bool, error) {
		p := &corev1.Pod{}
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(pod), p); err == nil && terminated(p) != nil {
			lastTerm = terminated(p)
		}
		w, err := nodeWsrep(ctx, t, sb, n)
		last = w
		return err == nil && !w.Desync, nil
	})
	if err != nil {
		t.Fatalf("%s still desynced %v after the pod's deletion (%s %s): the agent did not reset it before it was killed: %v",
			node, time.Since(deleted).Round(time.Millisecond), last.State, last.Comment, err)
	}
	t.Logf("%s: wsrep_desync OFF %v after the pod's deletion", node, time.Since(deleted).Round(time.Millisecond))
	waitSynced(t, sb, n, time.Minute)

	// The pod goes (the Job controller removes its tracking finalizer), the Job fails, and no
	// other pod is started for it.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, podGrace+30*time.Second, true, func(ctx context.Context) (bool, error) {
		p := &corev1.Pod{}
		err := k.c.Get(ctx, client.ObjectKeyFromObject(pod), p)
		if err == nil && terminated(p) != nil {
			lastTerm = terminated(p)
		}
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("pod %s still there after its grace period: %v", pod.Name, err)
	}
	t.Logf("Pod gone %v after its deletion", time.Since(deleted).Round(time.Millisecond))
	if lastTerm != nil {
		var res agent.Result
		if err := json.Unmarshal([]byte(lastTerm.Message), &res); err != nil {
			t.Errorf("termination message (exit %d) is not the agent's result: %v: %.500s", lastTerm.ExitCode, err, redact(lastTerm.Message, password))
		} else {
			t.Logf("Termination message read before the pod went: exit %d, error %q, desyncSet %v, desyncReset %v",
				lastTerm.ExitCode, res.Error, res.DesyncSet, res.DesyncReset)
			if !res.DesyncSet || !res.DesyncReset || res.Dir != "" || res.Error == "" || lastTerm.ExitCode == 0 {
				t.Errorf("termination message %+v, exit %d: want an error, desyncSet and desyncReset, no dir", res, lastTerm.ExitCode)
			}
		}
		if strings.Contains(lastTerm.Message, password) {
			t.Error("the password is in the termination message")
		}
	} else {
		t.Log("The pod went before its final status could be read: the node's wsrep state above is the evidence")
	}
	failed, complete := k.finished(t, job, time.Minute)
	if complete {
		t.Errorf("Job %s completed after its pod was deleted mid-dump", job.Name)
	}
	if pods, err := k.jobPods(ctx, ns, job.Name); err != nil || len(pods) != 0 || failed.Status.Active != 0 {
		t.Errorf("after the Job failed: pods %d (%v), active %d; want none", len(pods), err, failed.Status.Active)
	}
	k.onlyJob(t, job)

	if left := entries(t, filepath.Join(root, ns)); len(left) != 0 {
		t.Errorf("the stopped dump left %v on the volume", left)
	}
}

// The size of the database and the agent's CPU limit in TestAgentJobKilledMidDump: together
// they make the dump last long enough to be caught midway.
const (
	killedMiB = 48
	killedCPU = "100m"
)

// undoDesync sets wsrep_desync OFF through the sandbox when a failed test left it ON, then
// waits until the overcloud is healthy for the next test.
func undoDesync(t testing.TB, sb *sandbox.Sandbox, n int) {
	t.Helper()
	if w, err := nodeWsrep(context.Background(), t, sb, n); err != nil || w.Desync {
		t.Logf("%s left desynced (%v): hack/overcloud.sh desync %d off", sb.Nodes[n].Name, err, n)
		sb.Run(t, "desync", strconv.Itoa(n), "off")
	}
	sb.WaitHealthy(t)
}
