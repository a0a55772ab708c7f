package loadimpact_test

// BenchmarkLoadImpact is the project's headline measurement: what a backup costs the
// OpenStack services' database traffic. A bounded load (package loadimpact, run by the
// loadgen command) goes through the HAProxy VIP to the node HAProxy serves, in six
// phases of one run:
//
//  1. no backup;
//  2. the agent dumping the ~200 MB dataset from an idle node with the desync guard;
//  3. the same without it (--desync=false);
//  4. the agent dumping from the active node, without desync (with it, clustercheck
//     would answer 503 and HAProxy would move the clients: a failover, another
//     experiment);
//  5. as 2, but the backups written to the disk of the nodes' datadirs instead of a
//     tmpfs (phases 2-4: the backup volume of another host);
//  6. no backup, but a busy loop on CPU 1: the control, what any CPU-bound process next
//     to the idle nodes does.
//
// CPUs stand for hosts: the active node's mariadbd, HAProxy and the load generator on
// CPU 0; the idle nodes' mariadbd and the agent (its mariadb-dump child inherits) on
// CPU 1. The affinity of the sandbox's processes is restored whatever happens. In each
// phase the agent dumps in a loop (bounded) for the whole measured window; the dumped
// node is Synced again before the next window. A baseline window (no backup) runs before
// and after every phase, and a phase is compared with the mean of those two: this
// machine is shared, and its drift shows in the baselines instead of in the ratios.
// The table (markdown) also says what explains the figures: flow control, and the CPU
// that other processes of the machine took meanwhile (noise).

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sys/unix"

	"github.com/overcloud-backup/overcloud-backup-operator/test/loadimpact"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

const (
	datasetSchema = "ocb_bench"
	datasetMB     = 200
	loadSchema    = "ocb_load"
	loadUser      = "ocbload"
	loadRows      = 10000
	loadClients   = 8
	warmup        = 2 * time.Second
	window        = 20 * time.Second
	// maxDumps bounds the dumps of one phase (a dump of the dataset takes several
	// seconds, so a window sees two to four).
	maxDumps = 8
)

// rounds is how many times the sequence runs (OCB_BENCH_ROUNDS, 1-5, default 1: one
// round is eleven windows, about four and a half minutes).
func rounds() int {
	if n, err := strconv.Atoi(os.Getenv("OCB_BENCH_ROUNDS")); err == nil && n >= 1 && n <= 5 {
		return n
	}
	return 1
}

type phase struct {
	key, name string
	node      int // -1: no backup
	desync    bool
	// cpuHog runs a plain busy loop on the agent's CPU instead of a backup: the
	// control that tells what the backup's CPU use alone does.
	cpuHog bool
	// dataDisk writes the backups onto the filesystem of the nodes' datadirs instead
	// of a tmpfs (see run).
	dataDisk bool
	// maxRate is the agent's --max-rate in bytes per second (0: no cap).
	maxRate int64
}

type outcome struct {
	phase
	round int
	load  loadimpact.Result
	// tps, p50 and p99 are ratios to the mean of the baseline windows just before and
	// just after this one (for a baseline: to the mean of every baseline of the run).
	tps, p50, p99 float64
	// dumps is the number of agent runs that overlapped the window, coverage the
	// fraction of the window during which one ran, dumpMBps their mean speed.
	dumps     int
	coverage  float64
	dumpMBps  float64
	dumpErr   string
	fcPaused  float64          // fraction of the window writes were paused by flow control
	foreign   float64          // CPU used by processes not in the experiment, fraction of 2 CPUs
	fcSent    map[string]int64 // flow control messages sent, per node
	recvQueue map[string]int64 // wsrep_local_recv_queue_max, per node
}

type env struct {
	sb       *sandbox.Sandbox
	agent    *sandbox.AgentRunner
	loadBin  string
	pwFile   string
	pools    []*sql.DB // backup user, per node
	active   int
	vip      string
	agentCPU []string
	loadCPU  []string
	daemons  []int // PIDs of the mariadbd and HAProxy processes
	// volume is where the backups go: a tmpfs, standing for the backup volume of the
	// Kubernetes node the Job runs on; dataDisk is a directory on the datadirs' disk.
	volume, dataDisk string
}

func BenchmarkLoadImpact(b *testing.B) {
	sb := sandbox.Load(b) // refuses an address not routed through the sandbox bridge
	sb.Lock(b)
	for i := range sb.Nodes {
		sb.WaitSynced(b, i, 60*time.Second)
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil || all.Count() < 2 || !all.IsSet(0) || !all.IsSet(1) {
		b.Fatalf("this benchmark pins to CPUs 0 and 1: the process may run on %d CPUs (%v)", all.Count(), err)
	}
	ds := sb.EnsureDataset(b, datasetSchema, datasetMB)
	e := &env{sb: sb, agent: sb.NewAgentRunner(b), loadBin: sandbox.BuildCommand(b, "./test/loadimpact/loadgen", "loadgen"),
		vip: sb.HAProxy.Frontend, agentCPU: []string{"taskset", "-c", "1"}, loadCPU: []string{"taskset", "-c", "0"}}
	if _, _, err := net.SplitHostPort(e.vip); err != nil {
		b.Fatalf("HAProxy frontend %q: %v", e.vip, err)
	}
	e.setupLoad(b)
	e.volume = backupVolume(b)
	// Beside the datadirs (the sandbox's state directory): surely the same filesystem.
	dataDisk, err := os.MkdirTemp(filepath.Dir(sb.Path), "bench-backups-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dataDisk) })
	e.dataDisk = dataDisk
	for i := range sb.Nodes {
		db := sb.Open(b, sb.NodeAddr(i))
		b.Cleanup(func() { _ = db.Close() })
		e.pools = append(e.pools, db)
	}
	e.active = e.activeNode(b)
	idle := len(sb.Nodes) - 1
	if idle == e.active {
		idle--
	}
	e.pin(b, &all)
	base := phase{key: "base", name: "1. no backup", node: -1}
	phases := []phase{
		{key: "idle-desync", name: "2. agent on idle " + sb.Nodes[idle].Name + ", desync ON", node: idle, desync: true},
		{key: "idle-nodesync", name: "3. agent on idle " + sb.Nodes[idle].Name + ", desync OFF", node: idle},
		{key: "active-nodesync", name: "4. agent on active " + sb.Nodes[e.active].Name + ", desync OFF", node: e.active},
		{key: "idle-desync-datadisk", name: "5. as 2, backup on the datadirs' disk", node: idle, desync: true, dataDisk: true},
		{key: "cpuhog", name: "6. no backup, a busy loop on CPU 1 (control)", node: -1, cpuHog: true},
		{key: "idle-desync-capped", name: "7. as 2, with dump.maxRateMiB: 5", node: idle, desync: true, maxRate: 5 << 20},
	}
	b.Logf("Dataset %s: %d MiB; load: %d clients through %s to %s; %d round(s) of %d windows of %v (+%v warm-up), "+
		"a baseline before and after each phase", ds.Schema, ds.Bytes>>20, loadClients, e.vip, sb.Nodes[e.active].Name, rounds(),
		2*len(phases)+1, window, warmup)

	var results []outcome
	for b.Loop() {
		results = results[:0]
		for r := range rounds() {
			// Baselines bracket every phase, so that a drift of the machine (other
			// work on it) shows in the baselines instead of in the ratios.
			seq := make([]phase, 0, 1+2*len(phases))
			seq = append(seq, base)
			for _, ph := range phases {
				seq = append(seq, ph, base)
			}
			for _, ph := range seq {
				o := e.run(b, ph, r+1)
				results = append(results, o)
				fmt.Printf("round %d %-48s %7.1f tx/s  p50 %6.2f ms  p99 %7.2f ms  errors %d  dumps %d (%.0f%% of the window, %.1f MB/s)  "+
					"flow control paused %.1f%% sent %v  recv queue max %v  other processes %.0f%% of the CPUs %s\n",
					o.round, o.name, o.load.TPS, o.load.P50us/1000, o.load.P99us/1000, o.load.Errors, o.dumps, 100*o.coverage, o.dumpMBps,
					100*o.fcPaused, o.fcSent, o.recvQueue, 100*o.foreign, o.dumpErr)
			}
		}
	}
	ratios(results)
	report(b, append([]phase{base}, phases...), results)
}

// setupLoad creates the load's table and its user (a random password in a 0600 file),
// both dropped when the benchmark ends.
func (e *env) setupLoad(b *testing.B) {
	b.Helper()
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		b.Fatal(err)
	}
	pw := hex.EncodeToString(raw[:])
	e.pwFile = filepath.Join(b.TempDir(), "load-password")
	if err := os.WriteFile(e.pwFile, []byte(pw), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		e.sb.RootQuery(b, 0, "DROP USER IF EXISTS '"+loadUser+"'@'%'; DROP DATABASE IF EXISTS "+loadSchema, true)
	})
	e.sb.RootQuery(b, 0, loadimpact.SetupSQL(loadSchema, loadUser, pw, loadRows), false)
	for i := range e.sb.Nodes {
		e.sb.RootQuery(b, i, "SET SESSION wsrep_sync_wait = 1; SELECT COUNT(*) FROM "+loadSchema+"."+loadimpact.Table, false)
	}
}

// backupVolume is a directory on a tmpfs (/dev/shm), removed at the end. The sandbox's
// nodes keep their datadirs on this machine's one disk; a backup written there too would
// make its fsync wait behind, and hold up, the active node's redo log writes through the
// filesystem's journal, a coupling that separate hosts do not have (phase 5 measures it).
func backupVolume(b *testing.B) string {
	b.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "ocb-bench-")
	if err != nil {
		b.Fatalf("a backup volume on /dev/shm: %v", err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		b.Fatalf("/dev/shm is not a tmpfs (type %#x, %v)", fs.Type, err)
	}
	return dir
}

// activeNode asks through the VIP which node HAProxy serves.
func (e *env) activeNode(b *testing.B) int {
	b.Helper()
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr, mc.Timeout = loadUser, e.password(b), "tcp", e.vip, 5*time.Second
	mc.Logger = &mysql.NopLogger{}
	c, err := mysql.NewConnector(mc)
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var name string
	if err := db.QueryRowContext(ctx, "SELECT @@wsrep_node_name").Scan(&name); err != nil {
		b.Fatalf("asking %s which node it serves: %v", e.vip, err)
	}
	for i, n := range e.sb.Nodes {
		if n.Name == name {
			return i
		}
	}
	b.Fatalf("%s serves %q, not a sandbox node", e.vip, name)
	return -1
}

func (e *env) password(b *testing.B) string {
	b.Helper()
	pw, err := os.ReadFile(e.pwFile)
	if err != nil {
		b.Fatal(err)
	}
	return string(pw)
}

// pin puts the active node's mariadbd and the VIP holder's HAProxy (the one serving
// clients) on CPU 0, the other mariadbd on CPU 1, and restores every thread's affinity
// when the benchmark ends.
func (e *env) pin(b *testing.B, all *unix.CPUSet) {
	b.Helper()
	type target struct {
		pid  int
		what string
		cpu  int
	}
	holder := e.sb.VIPHolder(b)
	targets := make([]target, 0, 1+len(e.sb.Nodes))
	targets = append(targets, target{e.sb.HostPID(b, holder, "haproxy"), "haproxy " + e.sb.Nodes[holder].Name, 0})
	for i, n := range e.sb.Nodes {
		cpu := 1
		if i == e.active {
			cpu = 0
		}
		targets = append(targets, target{e.sb.HostPID(b, i, "mariadbd"), "mariadbd " + n.Name, cpu})
	}
	var pinned []*loadimpact.Pinned
	b.Cleanup(func() {
		for _, p := range pinned {
			if err := p.Restore(); err != nil {
				b.Errorf("restoring CPU affinity: %v", err)
			}
			b.Logf("Restored the CPU affinity of %s (PID %d): %s", p.What, p.PID, loadimpact.Mask(p.PID))
		}
	})
	for _, tg := range targets {
		e.daemons = append(e.daemons, tg.pid)
		p, err := loadimpact.Pin(tg.pid, tg.what, *all, tg.cpu)
		if p != nil {
			pinned = append(pinned, p)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("Pinned %s (PID %d) to CPU %d", tg.what, tg.pid, tg.cpu)
	}
}

var fcNames = []string{"wsrep_flow_control_paused_ns", "wsrep_flow_control_sent", "wsrep_local_recv_queue_max"}

func (e *env) counters(b *testing.B) []map[string]int64 {
	b.Helper()
	out := make([]map[string]int64, len(e.sb.Nodes))
	for i := range e.sb.Nodes {
		out[i] = e.sb.GlobalStatus(b, i, fcNames...)
	}
	return out
}

// run runs one phase: the load, and the agent dumping in a loop during it.
func (e *env) run(b *testing.B, ph phase, round int) outcome {
	b.Helper()
	for i := range e.sb.Nodes {
		e.sb.WaitSynced(b, i, 2*time.Minute)
	}
	for i := range e.sb.Nodes {
		// FLUSH STATUS resets wsrep_local_recv_queue_max (not the cumulative counters).
		e.sb.RootQuery(b, i, "FLUSH LOCAL STATUS", false)
	}
	before := e.counters(b)
	o := outcome{phase: ph, round: round}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var mu sync.Mutex
	var spans [][2]time.Time
	var dumped int64
	var busy, ourCPU time.Duration
	var wg sync.WaitGroup
	e.agent.Root = e.volume
	if ph.dataDisk {
		e.agent.Root = e.dataDisk
	}
	if ph.node >= 0 {
		wg.Go(func() {
			for range maxDumps {
				if ctx.Err() != nil {
					return
				}
				cmd, done := e.agent.Command(ctx, ph.node, e.agentCPU, "--database="+datasetSchema,
					"--desync="+strconv.FormatBool(ph.desync), "--progress-interval=0",
					"--max-rate="+strconv.FormatInt(ph.maxRate, 10))
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				start := time.Now()
				runErr := cmd.Run()
				run, err := done()
				mu.Lock()
				spans = append(spans, [2]time.Time{start, time.Now()})
				if cmd.ProcessState != nil {
					ourCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() // with its mariadb-dump
				}
				if runErr == nil && err == nil {
					dumped += run.UncompressedBytes
					busy += run.Wall
				} else if ctx.Err() == nil && o.dumpErr == "" {
					o.dumpErr = fmt.Sprintf("agent: %v %v: %s", runErr, err, strings.TrimSpace(out.String()))
				}
				mu.Unlock()
				if err := waitSynced(ctx, e.pools[ph.node]); err != nil {
					return
				}
			}
		})
	}
	var hog *exec.Cmd
	if ph.cpuHog {
		hog = exec.CommandContext(ctx, "taskset", "-c", "1", "sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			b.Fatalf("starting the busy loop: %v", err)
		}
	}
	cpu0, daemons0 := busyCPU(), e.daemonCPU()
	spanStart := time.Now()
	from := spanStart.Add(warmup)
	var loadCPU time.Duration
	o.load, loadCPU = e.runLoad(ctx, b)
	to := time.Now()
	stop() // SIGTERM to the running agent; kills the busy loop
	wg.Wait()
	if hog != nil {
		_ = hog.Wait()
		ourCPU += hog.ProcessState.UserTime() + hog.ProcessState.SystemTime()
	}
	cpu1, daemons1 := busyCPU(), e.daemonCPU()
	mu.Lock()
	ours := daemons1 - daemons0 + loadCPU + ourCPU
	mu.Unlock()
	o.foreign = max(0, (cpu1-cpu0-ours).Seconds()/(2*time.Since(spanStart).Seconds()))
	if ph.node >= 0 {
		e.sb.WaitSynced(b, ph.node, 2*time.Minute)
	}
	after := e.counters(b)

	for _, s := range spans {
		if lo, hi := later(s[0], from), earlier(s[1], to); hi.After(lo) {
			o.coverage += hi.Sub(lo).Seconds()
			o.dumps++
		}
	}
	o.coverage /= to.Sub(from).Seconds()
	if busy > 0 {
		o.dumpMBps = float64(dumped) / 1e6 / busy.Seconds()
	}
	o.fcPaused = float64(after[e.active]["wsrep_flow_control_paused_ns"]-before[e.active]["wsrep_flow_control_paused_ns"]) /
		float64(to.Sub(from).Nanoseconds())
	o.fcSent, o.recvQueue = map[string]int64{}, map[string]int64{}
	for i, n := range e.sb.Nodes {
		short := strings.TrimPrefix(n.Name, "controller-")
		o.fcSent["c"+short] = after[i]["wsrep_flow_control_sent"] - before[i]["wsrep_flow_control_sent"]
		o.recvQueue["c"+short] = after[i]["wsrep_local_recv_queue_max"]
	}
	return o
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// waitSynced waits until the node is Synced and not desynced (between two dumps).
func waitSynced(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var state, desync string
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := db.QueryRowContext(qctx, "SELECT (SELECT variable_value FROM information_schema.global_status "+
			"WHERE variable_name = 'wsrep_local_state'), @@wsrep_desync").Scan(&state, &desync)
		cancel()
		if err == nil && state == "4" && desync == "0" {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("not Synced after 2m (state %q, desync %q)", state, desync), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runLoad runs the load generator pinned to its CPU and decodes its result; it also
// returns the generator's CPU time.
func (e *env) runLoad(ctx context.Context, b *testing.B) (loadimpact.Result, time.Duration) {
	b.Helper()
	lctx, cancel := context.WithTimeout(ctx, warmup+window+time.Minute)
	defer cancel()
	args := append(append([]string{}, e.loadCPU...), e.loadBin, "-addr="+e.vip, "-user="+loadUser, "-password-file="+e.pwFile,
		"-schema="+loadSchema, "-rows="+strconv.Itoa(loadRows), "-clients="+strconv.Itoa(loadClients),
		"-warmup="+warmup.String(), "-duration="+window.String())
	cmd := exec.CommandContext(lctx, args[0], args[1:]...) //nolint:gosec // G204: our own binary, arguments built here
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("loadgen: %v: %s", err, stderr.String())
	}
	var r loadimpact.Result
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("loadgen output %q: %v", out, err)
	}
	if r.Node != e.sb.Nodes[e.active].Name {
		b.Fatalf("the load landed on %s, not on the active node %s: HAProxy moved the clients", r.Node, e.sb.Nodes[e.active].Name)
	}
	return r, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// busyCPU is the CPU time spent by the whole machine so far (/proc/stat: everything
// but idle and iowait).
func busyCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTicks = 100

// daemonCPU is the CPU time of the sandbox's mariadbd and HAProxy processes so far.
func (e *env) daemonCPU() time.Duration {
	var total time.Duration
	for _, pid := range e.daemons {
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(string(data), ") ")
		f := strings.Fields(rest) // state is field 3 of stat, so utime (14) is f[11]
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			total += time.Duration(u+s) * time.Second / clockTicks
		}
	}
	return total
}

// ratios sets each window's ratios: a phase to the mean of the baselines just before and
// after it in the same round, a baseline to the mean of all the baselines of the run.
func ratios(results []outcome) {
	var all []outcome
	for _, o := range results {
		if o.node < 0 && !o.cpuHog {
			all = append(all, o)
		}
	}
	ref := func(outs []outcome) (tps, p50, p99 float64) {
		for _, o := range outs {
			tps, p50, p99 = tps+o.load.TPS, p50+o.load.P50us, p99+o.load.P99us
		}
		n := float64(len(outs))
		return tps / n, p50 / n, p99 / n
	}
	for i := range results {
		o := &results[i]
		bracket := all
		if o.node >= 0 || o.cpuHog {
			bracket = nil
			for _, j := range []int{i - 1, i + 1} {
				if j >= 0 && j < len(results) && results[j].key == "base" && results[j].round == o.round {
					bracket = append(bracket, results[j])
				}
			}
		}
		if len(bracket) == 0 {
			continue
		}
		tps, p50, p99 := ref(bracket)
		o.tps, o.p50, o.p99 = o.load.TPS/tps, o.load.P50us/p50, o.load.P99us/p99
	}
}

// report prints the markdown table and reports, per phase, the mean of its ratios over
// the rounds as metrics (and the baselines' mean throughput and spread).
func report(b *testing.B, phases []phase, results []outcome) {
	var t strings.Builder
	t.WriteString("\n| round | phase | tx/s | p50 ms | p99 ms | tx/s ratio | p50 ratio | p99 ratio | dumps (window covered) | FC paused | other CPU |\n")
	t.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n")
	for _, o := range results {
		fmt.Fprintf(&t, "| %d | %s | %.0f | %.2f | %.2f | %.3f | %.3f | %.3f | %d (%.0f%%) | %.1f%% | %.0f%% |\n", o.round, o.name,
			o.load.TPS, o.load.P50us/1000, o.load.P99us/1000, o.tps, o.p50, o.p99, o.dumps, 100*o.coverage, 100*o.fcPaused, 100*o.foreign)
	}
	fmt.Print(t.String())
	for _, ph := range phases {
		var tps, p50, p99, raw []float64
		for _, o := range results {
			if o.key == ph.key {
				tps, p50, p99, raw = append(tps, o.tps), append(p50, o.p50), append(p99, o.p99), append(raw, o.load.TPS)
			}
		}
		if len(tps) == 0 {
			continue
		}
		if ph.key == "base" {
			b.ReportMetric(mean(raw), "base-tx/s")
			b.ReportMetric(slices.Max(raw)/slices.Min(raw), "base-max/min")
			continue
		}
		b.ReportMetric(mean(tps), ph.key+"-tps/base")
		b.ReportMetric(mean(p50), ph.key+"-p50/base")
		b.ReportMetric(mean(p99), ph.key+"-p99/base")
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
