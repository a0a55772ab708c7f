package controllers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/units"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	batchv1 "k8s.io/api/batch/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// samplesPerOp is how many backups one benchmark op runs: the figures are medians over
// them, whatever b.N the benchmark framework picks.
const samplesPerOp = 7

// BenchmarkCreateToJob times a backup from its creation to its Job's creation, which is
// the reconcile's whole decision path: references, queue, the probe of the real sandbox
// (Galera, Pacemaker over SSH, HAProxy) and the node choice. "healthy": three answering
// nodes; "frozen-node": one idle node SIGSTOPped (it accepts TCP and never answers), so
// the probe waits out the Galera connect timeout (2 s in these specs) for it. It also
// counts the API writes of the reconciler for one successful backup (creates, patches,
// status patches, deletes) and the events it emits.
//
//	go test -run '^$' -bench BenchmarkCreateToJob -benchtime 1x ./controllers/
func BenchmarkCreateToJob(b *testing.B) {
	for _, frozen := range []bool{false, true} {
		name := "healthy"
		if frozen {
			name = "frozen-node"
		}
		b.Run(name, func(b *testing.B) { benchCreateToJob(b, frozen) })
	}
}

func benchCreateToJob(b *testing.B, frozen bool) {
	sb := lockedSandbox(b)
	c := newClient(b)
	ns := newNamespace(b, c)
	ready(b, c, sb, ns)
	var writes atomic.Int64
	count := func(context.Context, client.WithWatch, client.Object, ...any) { writes.Add(1) }
	startManagerWith(b, ns, func(inner client.Client) client.Client {
		return interceptor.NewClient(asWithWatch(inner), interceptor.Funcs{
			Create: func(ctx context.Context, cl client.WithWatch, o client.Object, opts ...client.CreateOption) error {
				count(ctx, cl, o)
				return cl.Create(ctx, o, opts...)
			},
			Update: func(ctx context.Context, cl client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
				count(ctx, cl, o)
				return cl.Update(ctx, o, opts...)
			},
			Patch: func(ctx context.Context, cl client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
				count(ctx, cl, o)
				return cl.Patch(ctx, o, p, opts...)
			},
			Delete: func(ctx context.Context, cl client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
				count(ctx, cl, o)
				return cl.Delete(ctx, o, opts...)
			},
			SubResourceUpdate: func(ctx context.Context, cl client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
				writes.Add(1)
				return cl.SubResource(sub).Update(ctx, o, opts...)
			},
			SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				writes.Add(1)
				return cl.SubResource(sub).Patch(ctx, o, p, opts...)
			},
		})
	})
	if frozen {
		// Not the node HAProxy serves: freeze an idle one, which the probe must give up on.
		_, active := sb.ClientSession(b)
		i := slices.IndexFunc(sb.Nodes, func(n sandbox.Node) bool { return n.Name != active && n.Name != "controller-0" })
		sb.Run(b, "pause", strconv.Itoa(i))
		b.Cleanup(func() { sb.Run(b, "resume", strconv.Itoa(i)) })
	}

	var toJob []time.Duration
	var perBackupWrites, perBackupEvents []int64
	b.ResetTimer()
	for op := 0; op < b.N; op++ {
		for s := range samplesPerOp {
			name := fmt.Sprintf("bench-%d-%d", op, s)
			writes.Store(0)
			took := createAndWaitJob(b, c, newBackup(sb, ns, name))
			toJob = append(toJob, took)
			b.StopTimer()
			bk := &backupv1alpha1.OvercloudBackup{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, bk); err != nil {
				b.Fatal(err)
			}
			// No kubelet here: the benchmark finishes the Job as the kubelet and the Job
			// controller would (finishJob), so that the next backup is not queued.
			finishJob(b, c, getJob(b, c, ns, bk.JobName(1)), okResult(bk, bk.Status.SelectedNode), true)
			waitBackup(b, c, client.ObjectKeyFromObject(bk), "Complete",
				hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
			// The last status patch may land a moment after the condition is visible.
			time.Sleep(200 * time.Millisecond)
			perBackupWrites = append(perBackupWrites, writes.Load())
			perBackupEvents = append(perBackupEvents, eventsOf(b, c, ns, name))
			b.StartTimer()
		}
	}
	b.StopTimer()
	slices.Sort(toJob)
	slices.Sort(perBackupWrites)
	slices.Sort(perBackupEvents)
	b.ReportMetric(float64(toJob[len(toJob)/2].Milliseconds()), "ms-median-to-job")
	b.ReportMetric(float64(toJob[len(toJob)-1].Milliseconds()), "ms-max-to-job")
	b.ReportMetric(float64(perBackupWrites[len(perBackupWrites)-1]), "writes/backup-max")
	b.ReportMetric(float64(perBackupEvents[len(perBackupEvents)-1]), "events/backup-max")
	b.ReportMetric(0, "ns/op") // the op is a batch of backups: the metrics above are the figures
	b.Logf("%d backups: to Job created median %v, max %v; API writes per backup %v; events per backup %v",
		len(toJob), toJob[len(toJob)/2], toJob[len(toJob)-1], perBackupWrites, perBackupEvents)
}

// createAndWaitJob creates the backup and returns how long its first Job took to appear,
// seen through a watch (no polling delay).
func createAndWaitJob(b *testing.B, c client.WithWatch, bk *backupv1alpha1.OvercloudBackup) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	w, err := c.Watch(ctx, &batchv1.JobList{}, client.InNamespace(bk.Namespace), client.MatchingLabels{backupv1alpha1.LabelBackup: bk.Name})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	if err := c.Create(ctx, bk); err != nil {
		b.Fatal(err)
	}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Added {
			return time.Since(start)
		}
	}
	b.Fatalf("backup %s: no Job within %v", bk.Name, waitTimeout)
	return 0
}

// eventsOf counts the events about one backup.
func eventsOf(b *testing.B, c client.Client, namespace, name string) int64 {
	b.Helper()
	list := &eventsv1.EventList{}
	if err := c.List(context.Background(), list, client.InNamespace(namespace)); err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			n++
		}
	}
	return n
}

// asWithWatch lets interceptor wrap the manager's client, which has no Watch: the
// reconciler never watches through its client.
func asWithWatch(c client.Client) client.WithWatch {
	return noWatch{c}
}

type noWatch struct{ client.Client }

func (noWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, fmt.Errorf("the reconciler's client does not watch")
}

// BenchmarkThousandSchedules reconciles 1,000 BackupSchedules in one envtest manager (the
// schedule controller, 4 workers as cmd/manager.go runs it) and reports, per schedule, the
// CPU time of this process (the manager, plus the test's own 1,000 creates and its polls,
// which are small beside it; kube-apiserver and etcd are other processes) and the growth of
// the live heap after a GC, from before the creates to when every schedule has its status.
//
//	go test -run '^$' -bench BenchmarkThousandSchedules -benchtime 1x ./controllers/
func BenchmarkThousandSchedules(b *testing.B) {
	const n = 1000
	c := newClient(b)
	for op := 0; op < b.N; op++ {
		ns := newNamespace(b, c)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu0 := sandbox.ProcessCPU(b)
		start := time.Now()
		stop := runManager(b, ns, managerOptions{schedules: true, schedulesWorkers: 4})
		for i := range n {
			s := newSchedule(ns, fmt.Sprintf("s-%04d", i), []string{"*/10 * * * *", "@daily", "30 2 * * 1-5", "@hourly"}[i%4])
			s.Spec.TimeZone = ptr.To([]string{"UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"}[i%4])
			if err := c.Create(context.Background(), s); err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Minute)
		for {
			list := &backupv1alpha1.BackupScheduleList{}
			if err := c.List(context.Background(), list, client.InNamespace(ns)); err != nil {
				b.Fatal(err)
			}
			done := 0
			for i := range list.Items {
				if list.Items[i].Status.NextScheduleTime != nil && list.Items[i].Status.ObservedGeneration == list.Items[i].Generation {
					done++
				}
			}
			if done == n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d schedules reconciled after 5 minutes", done, n)
			}
			time.Sleep(250 * time.Millisecond)
		}
		took := time.Since(start)
		cpu := sandbox.ProcessCPU(b) - cpu0
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap := int64(after.HeapInuse) - int64(before.HeapInuse) //nolint:gosec // G115: heap sizes fit
		b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/schedule")
		b.ReportMetric(float64(heap)/n, "heap-B/schedule")
		b.ReportMetric(took.Seconds(), "s-all-reconciled")
		b.ReportMetric(0, "ns/op")
		b.Logf("%d schedules reconciled in %v: CPU %v (%v per schedule), live heap +%s (%s per schedule)",
			n, took.Round(time.Millisecond), cpu.Round(time.Millisecond), (cpu / n).Round(time.Microsecond),
			units.HumanBytes(heap), units.HumanBytes(heap/n))
		stop()
	}
}

// BenchmarkWatchHundredOverclouds: 100 Overclouds, all naming the local overcloud, watched
// every 10 s by the Overcloud controller (4 workers, as the manager runs it) for three
// intervals, from the second probe of each on (the steady state). It reports the
// manager's CPU per probe (this test process: the controller plus the test's few reads),
// its live heap per Overcloud after a
// GC (informer cache, status, kept SSH connections), and what the probes cost the
// controllers: the CPU time of every process in each controller's network namespace
// (mariadbd, sshd and the commands run over SSH, children included), the SSH logins
// sshd accepted, and the crm_mon runs per node, checked against the active node's.
//
// Two sub-benchmarks, the same in all but the database connections: "own-connections", a
// connection per node per probe (the baseline), and "shared-sessions", the manager's
// (galera.Sessions, kept between probes and shared by the Overclouds naming one node).
func BenchmarkWatchHundredOverclouds(b *testing.B) {
	sb := lockedSandbox(b)
	active := clientSession(b, sb)
	c := newClient(b)
	b.Run("own-connections", func(b *testing.B) {
		watchHundred(b, sb, c, active, func() Watcher { return newLiveWatcher(nil) })
	})
	b.Run("shared-sessions", func(b *testing.B) {
		watchHundred(b, sb, c, active, func() Watcher { return NewLiveWatcher() })
	})
}

func watchHundred(b *testing.B, sb *sandbox.Sandbox, c client.Client, active string, watcher func() Watcher) {
	const n, interval, window = 100, 10 * time.Second, 30 * time.Second
	for op := 0; op < b.N; op++ {
		ns := newNamespace(b, c)
		db, ssh, hap := secrets(b, sb, ns)
		create(b, c, db, ssh, hap)
		// What the controllers spend with no watch running (Corosync, Pacemaker's monitors,
		// HAProxy's checks), over a window as long, is the baseline of their cost per probe.
		idle0 := nodeCPU(b, sb)
		time.Sleep(window)
		idle1 := nodeCPU(b, sb)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		w := watcher()
		stop := runManager(b, ns, managerOptions{overclouds: true, overcloudWorkers: 4, watcher: w})
		names := make([]string, n)
		for i := range n {
			names[i] = fmt.Sprintf("oc-%03d", i)
			create(b, c, newOvercloud(sb, ns, names[i], interval))
		}
		probed := func() (int, int) { // Overclouds probed twice at least; probes made in all
			twice, all := 0, 0
			for _, name := range names {
				k := int(min(histogramCount(b, ocProbeSeconds, ns, name), 1<<31))
				all += k
				if k >= 2 {
					twice++
				}
			}
			return twice, all
		}
		// The steady state: from its second probe on, an Overcloud knows its active node
		// and asks Pacemaker through another (the first probe cannot know).
		deadline := time.Now().Add(3 * time.Minute)
		for twice, _ := probed(); twice < n; twice, _ = probed() {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d Overclouds probed twice after 3 minutes", twice, n)
			}
			time.Sleep(250 * time.Millisecond)
		}
		_, probes0 := probed()
		cpu0, nodes0, logins0, crm0 := sandbox.ProcessCPU(b), nodeCPU(b, sb), sshLogins(b, sb), crmMonRuns(b, names, sb)
		time.Sleep(window)
		_, probes1 := probed()
		cpu, nodes1, logins1, crm1 := sandbox.ProcessCPU(b)-cpu0, nodeCPU(b, sb), sshLogins(b, sb), crmMonRuns(b, names, sb)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		probes := probes1 - probes0
		if probes == 0 {
			b.Fatal("no probe in the window")
		}
		heap := int64(after.HeapInuse) - int64(before.HeapInuse) //nolint:gosec // G115: heap sizes fit
		b.ReportMetric(float64(cpu.Microseconds())/float64(probes), "cpu-µs/probe")
		b.ReportMetric(float64(heap)/n, "heap-B/overcloud")
		b.ReportMetric(float64(probes)/window.Seconds(), "probes/s")
		b.ReportMetric(0, "ns/op")
		b.Logf("%d Overclouds at %v: %d probes in %v; manager CPU %v (%v per probe); live heap +%s (%s per Overcloud)",
			n, interval, probes, window, cpu.Round(time.Millisecond), (cpu / time.Duration(probes)).Round(time.Microsecond),
			units.HumanBytes(heap), units.HumanBytes(heap/n))
		for i, node := range sb.Nodes {
			used, base := nodes1[i]-nodes0[i], idle1[i]-idle0[i]
			role := "idle"
			if node.Name == active {
				role = "active"
			}
			b.Logf("  %s (%s): CPU %v in the window, %v without the watch (%v per probe of it), %d SSH logins, %d crm_mon runs",
				node.Name, role, used.Round(time.Millisecond), base.Round(time.Millisecond),
				((used - base) / time.Duration(probes)).Round(time.Microsecond), logins1[i]-logins0[i], crm1[node.Name]-crm0[node.Name])
			if node.Name == active && crm1[node.Name]-crm0[node.Name] > 0 {
				b.Errorf("crm_mon ran %d times on the active node %s while the others answered", crm1[node.Name]-crm0[node.Name], active)
			}
		}
		stop()
		// Close the watch's SSH and database connections before anything else measures the
		// controllers: the next sub-benchmark's baseline must not count their ends.
		for _, name := range names {
			w.Forget(client.ObjectKey{Namespace: ns, Name: name})
		}
		time.Sleep(2 * time.Second)
	}
}

// histogramCount is a histogram series' sample count.
func histogramCount(b testing.TB, h *prometheus.HistogramVec, labels ...string) uint64 {
	b.Helper()
	m := &dto.Metric{}
	if err := h.WithLabelValues(labels...).(prometheus.Metric).Write(m); err != nil {
		b.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// crmMonRuns counts the Pacemaker calls of the Overclouds' probes per node.
func crmMonRuns(b *testing.B, names []string, sb *sandbox.Sandbox) map[string]uint64 {
	b.Helper()
	out := map[string]uint64{}
	for _, name := range names {
		for _, node := range sb.Nodes {
			for _, result := range []string{resultOK, resultError} {
				out[node.Name] += histogramCount(b, probeDuration, name, node.Name, "pacemaker", result)
			}
		}
	}
	return out
}

// nodeCPU is the CPU time of every process in each controller's network namespace,
// their reaped children included (clock ticks of 10 ms).
func nodeCPU(b *testing.B, sb *sandbox.Sandbox) []time.Duration {
	b.Helper()
	out := make([]time.Duration, len(sb.Nodes))
	for i, node := range sb.Nodes {
		pids, err := exec.CommandContext(context.Background(), "ip", "netns", "pids", node.Netns).Output() //nolint:gosec // G204: a name from sandbox.json
		if err != nil {
			b.Fatalf("ip netns pids %s: %v", node.Netns, err)
		}
		for _, pid := range strings.Fields(string(pids)) {
			stat, err := os.ReadFile("/proc/" + pid + "/stat") //nolint:gosec // G304: a PID from ip netns pids
			if err != nil {
				continue // gone meanwhile
			}
			f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
			for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14-17)
				v, _ := strconv.ParseInt(f[k], 10, 64)
				out[i] += time.Duration(v) * 10 * time.Millisecond
			}
		}
	}
	return out
}

// sshLogins counts the logins each controller's sshd accepted.
func sshLogins(b *testing.B, sb *sandbox.Sandbox) []int {
	b.Helper()
	out := make([]int, len(sb.Nodes))
	for i := range sb.Nodes {
		data, err := os.ReadFile(filepath.Join(sb.NodeDir(i), "sshd.log"))
		if err != nil {
			b.Fatal(err)
		}
		out[i] = strings.Count(string(data), "Accepted publickey")
	}
	return out
}
