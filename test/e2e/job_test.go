//go:build e2e

package e2e_test

// Backups and their Jobs: an OvercloudBackup for the sandbox overcloud created in the API (so
// that the Job's owner reference carries its real UID and garbage collection works), and the
// Job of one attempt built from it by controllers.BuildJob, the builder the controller uses.
//
// The deployed manager runs the OvercloudBackup controller, which would start its own Job for
// such a backup, racing the test's for the same name. So the backups name an SSH Secret that
// never exists (controllerHold): the controller waits for its references and never creates a
// Job; it only follows the Job the test created, which the backup controls. The Logical dump
// does not mount that Secret (only Mariabackup uses SSH). maxAttempts is 1, so that even a
// controller that did not wait would not start a second attempt after a failed Job. Testing
// the controller's own runs is the controller's e2e, not these tests'.

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/controllers"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

const (
	// agentContainer is the container BuildJob names.
	agentContainer = "agent"
	// controllerHold is the SSH Secret the backups name and no test creates.
	controllerHold = "e2e-no-such-secret"
)

// e2eBackup is an OvercloudBackup and the Overcloud it names (one each: a test changes
// its Overcloud without touching another test's).
type e2eBackup struct {
	*backupv1alpha1.OvercloudBackup
	Overcloud *backupv1alpha1.Overcloud
}

// sandboxBackup is an OvercloudBackup of the sandbox overcloud: its three nodes, the
// credentials Secret and the backup claim of the namespace, and its own Overcloud
// (named after the backup). change adjusts both.
func sandboxBackup(sb *sandbox.Sandbox, ns, name string, change func(*backupv1alpha1.OvercloudBackup, *backupv1alpha1.OvercloudSpec)) e2eBackup {
	nodes := make([]backupv1alpha1.NodeSpec, 0, len(sb.Nodes))
	for _, n := range sb.Nodes {
		port := int32(n.MySQLPort) //nolint:gosec // G115: a TCP port, from sandbox.json
		nodes = append(nodes, backupv1alpha1.NodeSpec{Name: n.Name, Address: n.Address, MySQLPort: ptr.To(port)})
	}
	oc := &backupv1alpha1.Overcloud{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oc-" + name, Labels: map[string]string{e2eLabel: "true"}},
		Spec: backupv1alpha1.OvercloudSpec{
			Nodes:       nodes,
			DatabaseVIP: sb.VIP,
			Database: backupv1alpha1.DatabaseAccess{
				CredentialsSecret: backupv1alpha1.CredentialsSecretReference{Name: credentialsSecret},
			},
			SSH:        &backupv1alpha1.SSHAccess{SecretName: controllerHold, User: sb.SSH.User},
			Monitoring: &backupv1alpha1.MonitoringSpec{Interval: &metav1.Duration{}},
		},
	}
	b := &backupv1alpha1.OvercloudBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{e2eLabel: "true"}},
		Spec: backupv1alpha1.OvercloudBackupSpec{
			OvercloudRef: backupv1alpha1.OvercloudReference{Name: oc.Name},
			Storage:      backupv1alpha1.StorageSpec{ClaimName: claimName},
			Job:          &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(1))},
		},
	}
	if change != nil {
		change(b, &oc.Spec)
	}
	return e2eBackup{OvercloudBackup: b, Overcloud: oc}
}

// createBackup creates the backup's Overcloud, then the backup, in the API (their CRDs
// are installed by `make deploy`), which fills in the UID and the defaults.
func (k *cluster) createBackup(t testing.TB, b e2eBackup) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k.createOvercloud(t, b.Overcloud)
	if err := k.c.Create(ctx, b.OvercloudBackup); err != nil {
		t.Fatalf("creating OvercloudBackup %s/%s (is the operator deployed? `make deploy`): %v", b.Namespace, b.Name, err)
	}
}

// createOvercloud creates the Overcloud (its CRD is installed by `make deploy`) unless
// it exists.
func (k *cluster) createOvercloud(t testing.TB, oc *backupv1alpha1.Overcloud) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.c.Create(ctx, oc); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating Overcloud %s/%s (is the operator deployed? `make deploy`): %v", oc.Namespace, oc.Name, err)
	}
}

// agentJob is the Job of the backup's first attempt on node, as BuildJob makes it with the
// dev image.
func (k *cluster) agentJob(t testing.TB, b e2eBackup, node string) *batchv1.Job {
	t.Helper()
	job, err := controllers.BuildJob(b.OvercloudBackup, controllers.JobParams{Overcloud: &b.Overcloud.Spec, Attempt: 1, Node: node, Image: k.image})
	if err != nil {
		t.Fatalf("BuildJob: %v", err)
	}
	return job
}

// finished waits (at most timeout) until the Job is Complete or Failed, and returns it.
func (k *cluster) finished(t testing.TB, job *batchv1.Job, timeout time.Duration) (*batchv1.Job, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := &batchv1.Job{}
	var complete bool
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
				complete = c.Type == batchv1.JobComplete
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("Job %s/%s neither Complete nor Failed after %v: %v\nstatus: %+v\nevents:\n%s",
			job.Namespace, job.Name, timeout, err, got.Status, k.events(job.Namespace))
	}
	return got, complete
}

// onlyJob checks that the Job is the only one in its namespace: the controller started none.
func (k *cluster) onlyJob(t testing.TB, job *batchv1.Job) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	jobs := &batchv1.JobList{}
	if err := k.c.List(ctx, jobs, client.InNamespace(job.Namespace)); err != nil {
		t.Fatalf("listing the Jobs: %v", err)
	}
	if len(jobs.Items) != 1 || jobs.Items[0].Name != job.Name {
		names := make([]string, 0, len(jobs.Items))
		for _, j := range jobs.Items {
			names = append(names, j.Name)
		}
		t.Errorf("Jobs in %s: %v, want only %s", job.Namespace, names, job.Name)
	}
}

// onlyPod is the single pod of the Job.
func (k *cluster) onlyPod(t testing.TB, job *batchv1.Job) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := k.jobPods(ctx, job.Namespace, job.Name)
	if err != nil {
		t.Fatalf("listing the pods of Job %s: %v", job.Name, err)
	}
	if len(pods) != 1 {
		t.Fatalf("Job %s has %d pods, want 1 (backoffLimit 0)", job.Name, len(pods))
	}
	return &pods[0]
}

// terminated is the agent container's terminated state, nil when it has not terminated.
func terminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == agentContainer {
			return cs.State.Terminated
		}
	}
	return nil
}

// result parses the agent's termination message.
func result(t testing.TB, pod *corev1.Pod) agent.Result {
	t.Helper()
	term := terminated(pod)
	if term == nil {
		t.Fatalf("pod %s: the agent container has not terminated: %+v", pod.Name, pod.Status.ContainerStatuses)
	}
	var res agent.Result
	if err := json.Unmarshal([]byte(term.Message), &res); err != nil {
		t.Fatalf("pod %s: the termination message is not the agent's JSON result: %v\n%.2000s", pod.Name, err, term.Message)
	}
	return res
}
