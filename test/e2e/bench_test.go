//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// BenchmarkAgentJob: the agent Job of a backup of an empty database on controller-2, from its
// creation to its pod running and to the Job Complete, on the one-node Kubernetes: what the
// node adds to a backup (scheduling, the pod sandbox, volume and Secret mounts, container start,
// the termination message, the Job controller), since the dump itself is nearly nothing. ns/op
// is creation → Complete as a client watching the Job sees it; ms-to-running is creation → the
// pod's first phase after Pending; node-RSS-MiB is the resident memory of the node's daemons
// (etcd, the control plane, containerd, kubelet, kube-proxy) after the runs.
//
// Each run is a new OvercloudBackup (a backup directory is never overwritten) with its Job, in
// one namespace whose claim a first, untimed Job has bound. `make bench` runs it five times
// (-benchtime=5x).
func BenchmarkAgentJob(b *testing.B) {
	b.StopTimer() // only timeJob runs it: the setup may wait for the sandbox lock
	k := connect(b)
	sb := lockSandbox(b)
	const node, db = "controller-2", "ocb_e2e_empty"
	schema(b, sb, db, nodeIndex(b, sb, node))
	ns := k.namespace(b, "bench")
	k.credentials(b, ns, sb.Database.User, sb.Password(b))
	k.claim(b, ns)

	seq := 0
	run := func() (toRunning, toComplete time.Duration) {
		seq++
		bk := sandboxBackup(sb, ns, "bench-"+strconv.Itoa(seq), func(bk *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
			bk.Spec.Dump = &backupv1alpha1.DumpSpec{Databases: []string{db}}
		})
		k.createBackup(b, bk)
		job := k.agentJob(b, bk, node)
		toRunning, toComplete = k.timeJob(b, job)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := k.c.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			b.Fatalf("deleting Job %s: %v", job.Name, err)
		}
		return toRunning, toComplete
	}
	warm, _ := run()
	b.Logf("Untimed first Job (binds the claim): running after %v", warm.Round(time.Millisecond))

	running, complete := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		r, c := run()
		running, complete = append(running, r), append(complete, c)
	}
	// ns/op is exactly creation → Complete: the timer only ran inside timeJob.
	b.ReportMetric(msMean(running), "ms-to-running")
	b.ReportMetric(msMedian(complete), "ms-to-complete-p50")
	b.ReportMetric(float64(slices.Max(complete).Milliseconds()), "ms-to-complete-max")
	rss, daemons := nodeRSS(b)
	b.ReportMetric(float64(rss)/(1<<20), "node-RSS-MiB")
	b.Logf("%d Jobs: to running %v, to Complete %v; node daemons' RSS: %s", len(complete), running, complete, daemons)
}

// timeJob creates the Job with the benchmark timer running only from the Create call until a
// watch on the Job reports it Complete, and returns the times from the creation to the pod's
// first phase past Pending (a pod may go from Pending straight to Succeeded between two status
// updates: that counts) and to Complete.
func (k *cluster) timeJob(b *testing.B, job *batchv1.Job) (toRunning, toComplete time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pods, err := k.cs.CoreV1().Pods(job.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
	if err != nil {
		b.Fatalf("watching the pods of %s: %v", job.Name, err)
	}
	defer pods.Stop()
	jobs, err := k.cs.BatchV1().Jobs(job.Namespace).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + job.Name})
	if err != nil {
		b.Fatalf("watching Job %s: %v", job.Name, err)
	}
	defer jobs.Stop()

	b.StartTimer()
	created := time.Now()
	if err := k.c.Create(ctx, job); err != nil {
		b.Fatalf("creating Job %s: %v", job.Name, err)
	}
	for toComplete == 0 {
		select {
		case ev, ok := <-pods.ResultChan():
			if !ok {
				b.Fatalf("the pod watch of %s ended", job.Name)
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && toRunning == 0 && p.Status.Phase != corev1.PodPending && p.Status.Phase != "" {
				toRunning = time.Since(created)
			}
		case ev, ok := <-jobs.ResultChan():
			if !ok {
				b.Fatalf("the watch of Job %s ended", job.Name)
			}
			j, isJob := ev.Object.(*batchv1.Job)
			if !isJob || ev.Type == watch.Deleted {
				continue
			}
			for _, c := range j.Status.Conditions {
				switch {
				case c.Status != corev1.ConditionTrue:
				case c.Type == batchv1.JobComplete:
					toComplete = time.Since(created)
				case c.Type == batchv1.JobFailed:
					b.StopTimer()
					b.Fatalf("Job %s failed: %s %s\nevents:\n%s", job.Name, c.Reason, c.Message, k.events(job.Namespace))
				}
			}
		case <-ctx.Done():
			b.StopTimer()
			b.Fatalf("Job %s not Complete after 3 minutes\nevents:\n%s", job.Name, k.events(job.Namespace))
		}
	}
	b.StopTimer()
	if toRunning == 0 {
		toRunning = toComplete
	}
	return toRunning, toComplete
}

func msMean(ds []time.Duration) float64 {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return float64(sum.Milliseconds()) / float64(len(ds))
}

func msMedian(ds []time.Duration) float64 {
	s := slices.Sorted(slices.Values(ds))
	if len(s)%2 == 1 {
		return float64(s[len(s)/2].Milliseconds())
	}
	return float64((s[len(s)/2-1] + s[len(s)/2]).Milliseconds()) / 2
}

// nodeRSS sums the resident memory of the node's daemons, from the PID files hack/kube-node.sh
// keeps under its state directory (OCB_KUBE_DIR, default /tmp/ocb-kube); like the script, a
// PID counts only while its command line names the state directory. It also returns one
// "name MiB" per daemon.
func nodeRSS(b *testing.B) (int64, string) {
	b.Helper()
	state := os.Getenv("OCB_KUBE_DIR")
	if state == "" {
		state = "/tmp/ocb-kube"
	}
	files, err := filepath.Glob(filepath.Join(state, "pids", "*.pid"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no PID files under %s/pids (%v): is the node up?", state, err)
	}
	var total int64
	each := make([]string, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f) //nolint:gosec // G304: the node's own PID files
		if err != nil {
			b.Fatal(err)
		}
		pid := strings.TrimSpace(string(raw))
		cmdline, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline")) //nolint:gosec // G304: procfs
		if err != nil || !strings.Contains(string(cmdline), state+"/") {
			b.Fatalf("%s: PID %s is not a running daemon of the node", f, pid)
		}
		rss := vmRSS(b, pid)
		total += rss
		each = append(each, fmt.Sprintf("%s %d", strings.TrimSuffix(filepath.Base(f), ".pid"), rss>>20))
	}
	return total, strings.Join(each, ", ") + " MiB"
}

// vmRSS is VmRSS of /proc/<pid>/status, in bytes.
func vmRSS(b *testing.B, pid string) int64 {
	b.Helper()
	status, err := os.ReadFile(filepath.Join("/proc", pid, "status")) //nolint:gosec // G304: procfs
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	b.Fatalf("no VmRSS for PID %s", pid)
	return 0
}
