package agent_test

// BenchmarkDrill: the restore drill against the backup it proves, in the same run, with
// the real agent binary for both. One `agent dump` of the ~200 MB dataset (logical,
// zstd, users and grants, from the idle node controller-2, as BenchmarkDumpThroughput
// takes it) is the baseline; `agent drill` of that backup is measured against it: wall
// time (target: at most 1.5 times the backup's), peak memory and scratch space. Memory is
// each process's own VmHWM, sampled every 50 ms while it runs (the agent, the scratch
// mariadbd, the largest of the mariadb and mariadb-dump clients), summed: an upper bound,
// the peaks need not coincide. The scratch space is the largest st_blocks total of the
// scratch directory seen (sampled every 200 ms). The drill runs on the ~200 MB dataset with
// a 128 MiB buffer pool (the measured one), then on it and on the ~50 MB dataset with a
// 32 MiB pool, which both fill: memory follows the buffer pool, not the data.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// benchBackup is one `agent dump` whose backup is kept for the drill.
type benchBackup struct {
	dir          string
	wall         time.Duration
	uncompressed int64
	compressed   int64
}

// backupForDrill runs `agent dump` of schema on the idle node, with extra flags, and
// keeps the backup.
func backupForDrill(b *testing.B, sb *sandbox.Sandbox, ag *sandbox.AgentRunner, schema string, extra ...string) benchBackup {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := sb.Nodes[benchNode]
	name := fmt.Sprintf("drill-%d", time.Now().UnixNano())
	term := filepath.Join(b.TempDir(), "dump.json")
	//nolint:gosec // G204: our own binary, arguments built here
	cmd := exec.CommandContext(ctx, ag.Bin, "agent", "dump", "--node="+n.Name, "--address="+n.Address,
		"--port="+strconv.Itoa(n.MySQLPort), "--credentials-dir="+ag.Creds, "--root="+ag.Root, "--namespace=bench",
		"--name="+name, "--database="+schema, "--termination-log="+term)
	cmd.Args = append(cmd.Args, extra...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	bk := benchBackup{wall: time.Since(start)}
	if err != nil {
		b.Fatalf("agent dump: %v\n%s", err, out)
	}
	sb.WaitSynced(b, benchNode, 60*time.Second)
	var res agent.Result
	data, err := os.ReadFile(term) //nolint:gosec // G304: our temporary directory
	if err == nil {
		err = json.Unmarshal(data, &res)
	}
	if err != nil {
		b.Fatal(err)
	}
	bk.dir = res.Dir
	b.Cleanup(func() { _ = os.RemoveAll(res.Dir) })
	m, err := agent.ReadManifest(res.Dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range m.Files {
		bk.uncompressed += f.UncompressedBytes
		bk.compressed += f.Bytes
	}
	return bk
}

// benchDrill is one `agent drill`.
type benchDrill struct {
	res                            agent.DrillResult
	wall                           time.Duration
	agentHWM, serverHWM, clientHWM int64
	scratchPeak, scratchEnd        int64
	phases                         string
}

// memory is the sum of the processes' peaks.
func (d benchDrill) memory() int64 { return d.agentHWM + d.serverHWM + d.clientHWM }

var phasesLine = regexp.MustCompile(`(?m)^Drill phases: (.*)$`)

// runDrill runs `agent drill` of dir with the buffer pool given.
func runDrill(b *testing.B, bin, dir, pool string) benchDrill {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	scratch := b.TempDir()
	term := filepath.Join(b.TempDir(), "drill.json")
	//nolint:gosec // G204: our own binary, arguments built here
	cmd := exec.CommandContext(ctx, bin, "agent", "drill", dir, "--scratch="+scratch, "--buffer-pool="+pool, "--termination-log="+term)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var agentHWM, serverHWM, clientHWM, scratchPeak atomic.Int64
	stop := make(chan struct{})
	var watching sync.WaitGroup
	watching.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if cmd.Process == nil {
				continue
			}
			pid := strconv.Itoa(cmd.Process.Pid)
			storeMax(&agentHWM, vmHWM(pid))
			for _, c := range children(pid) {
				comm, _ := os.ReadFile(filepath.Join("/proc", c, "comm")) //nolint:gosec // G304: procfs
				switch strings.TrimSpace(string(comm)) {
				case "mariadbd":
					storeMax(&serverHWM, vmHWM(c))
				case "mariadb", "mariadb-dump":
					storeMax(&clientHWM, vmHWM(c))
				}
			}
			if i%4 == 0 {
				storeMax(&scratchPeak, diskUsage(scratch))
			}
		}
	})
	start := time.Now()
	out, err := cmd.Output()
	d := benchDrill{wall: time.Since(start)}
	close(stop)
	watching.Wait()
	if err != nil {
		b.Fatalf("agent drill: %v\n%s\n%s", err, out, stderr.String())
	}
	if err := json.Unmarshal(out, &d.res); err != nil {
		b.Fatalf("agent drill's result: %v: %s", err, out)
	}
	if d.res.Reason != "" || d.res.Error != "" {
		b.Fatalf("agent drill: %+v", d.res)
	}
	d.agentHWM, d.serverHWM, d.clientHWM = agentHWM.Load(), serverHWM.Load(), clientHWM.Load()
	d.scratchEnd = diskUsage(scratch) // after the server stopped: what it left
	d.scratchPeak = max(scratchPeak.Load(), d.scratchEnd)
	if m := phasesLine.FindStringSubmatch(stderr.String()); m != nil {
		d.phases = m[1]
	}
	return d
}

func storeMax(v *atomic.Int64, n int64) {
	if n > v.Load() {
		v.Store(n)
	}
}

// children are the PIDs of the process's children.
func children(pid string) []string {
	tasks, _ := os.ReadDir(filepath.Join("/proc", pid, "task"))
	out := make([]string, 0, len(tasks))
	for _, task := range tasks {
		c, _ := os.ReadFile(filepath.Join("/proc", pid, "task", task.Name(), "children")) //nolint:gosec // G304: procfs
		out = append(out, strings.Fields(string(c))...)
	}
	return out
}

// vmHWM is a process's peak resident set in bytes, 0 when unknown.
func vmHWM(pid string) int64 {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "status")) //nolint:gosec // G304: procfs
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// diskUsage is the space the files under dir take (their allocated blocks), as du says.
func diskUsage(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // a file removed while walking: skip it
		}
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

func BenchmarkDrill(b *testing.B) {
	sb := sandbox.Load(b)
	sb.Lock(b)
	big := sb.EnsureDataset(b, benchSchema, 200)
	small := sb.EnsureDataset(b, benchSmallSchema, 50)
	ag := sb.NewAgentRunner(b)
	sb.WaitSynced(b, benchNode, 30*time.Second)
	// Warm up as BenchmarkDumpThroughput does: the node's buffer pool and the page cache
	// see the same reads before the measured backup.
	_ = backupForDrill(b, sb, ag, benchSchema)

	var bk benchBackup
	var d benchDrill
	for b.Loop() {
		bk = backupForDrill(b, sb, ag, benchSchema)
		d = runDrill(b, ag.Bin, bk.dir, "128M")
	}
	b.StopTimer()
	smallBk := backupForDrill(b, sb, ag, benchSmallSchema)
	dBig32 := runDrill(b, ag.Bin, bk.dir, "32M")
	dSmall32 := runDrill(b, ag.Bin, smallBk.dir, "32M")

	for _, r := range []struct {
		name string
		bk   benchBackup
		d    benchDrill
	}{{"200 MB, 128M pool", bk, d}, {"200 MB, 32M pool", bk, dBig32}, {"50 MB, 32M pool", smallBk, dSmall32}} {
		b.Logf("%s: backup %.1f MB SQL (%.1f MB zstd) in %.2f s; drill %.2f s (%.2fx), %d tables, %d rows, %d checked, %d users; "+
			"phases: %s; memory: agent %.0f + mariadbd %.0f + client %.0f = %.0f MiB; scratch peak %.0f MiB (%.2fx the SQL), at the end %.0f MiB",
			r.name, float64(r.bk.uncompressed)/1e6, float64(r.bk.compressed)/1e6, r.bk.wall.Seconds(), r.d.wall.Seconds(),
			r.d.wall.Seconds()/r.bk.wall.Seconds(), r.d.res.Tables, r.d.res.Rows, r.d.res.Checked, r.d.res.Users, r.d.phases,
			mib(r.d.agentHWM), mib(r.d.serverHWM), mib(r.d.clientHWM), mib(r.d.memory()), mib(r.d.scratchPeak),
			float64(r.d.scratchPeak)/float64(r.bk.uncompressed), mib(r.d.scratchEnd))
	}
	b.Logf("datasets: %s %d MiB InnoDB, %s %d MiB", benchSchema, big.Bytes>>20, benchSmallSchema, small.Bytes>>20)
	b.ReportMetric(bk.wall.Seconds(), "backup-s")
	b.ReportMetric(d.wall.Seconds(), "drill-s")
	b.ReportMetric(d.wall.Seconds()/bk.wall.Seconds(), "drill/backup-time")
	b.ReportMetric(mib(d.memory()), "drill-MiB")
	b.ReportMetric(mib(d.serverHWM), "mariadbd-MiB")
	b.ReportMetric(mib(dBig32.memory()), "drill-32M-pool-MiB")
	b.ReportMetric(mib(dSmall32.memory()), "drill-small-32M-pool-MiB")
	b.ReportMetric(mib(d.scratchPeak), "scratch-MiB")
	b.ReportMetric(float64(d.scratchPeak)/float64(bk.uncompressed), "scratch/SQL")
}

// BenchmarkDrillPhysical is BenchmarkDrill for a Mariabackup backup of the ~200 MB
// dataset (zstd, the default command: the node held still beside mariadb-backup
// --no-lock while the digest dump runs), then its drill: extract, prepare, start,
// CHECK TABLE, re-dump and compare. The backup's time includes the digest dump.
func BenchmarkDrillPhysical(b *testing.B) {
	sb := sandbox.Load(b)
	sb.Lock(b)
	big := sb.EnsureDataset(b, benchSchema, 200)
	ag := sb.NewAgentRunner(b)
	sb.WaitSynced(b, benchNode, 30*time.Second)
	sshDir := b.TempDir()
	for name, src := range map[string]string{"ssh-privatekey": sb.SSH.PrivateKeyFile, "known_hosts": sb.SSH.KnownHostsFile} {
		data, err := os.ReadFile(src) //nolint:gosec // G304: the sandbox's own files
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sshDir, name), data, 0o600); err != nil { //nolint:gosec // G703: our temporary directory, fixed names
			b.Fatal(err)
		}
	}
	physical := []string{"--method=Mariabackup", "--ssh-dir=" + sshDir, "--ssh-user=" + sb.SSH.User,
		"--ssh-port=" + strconv.Itoa(sb.Nodes[benchNode].SSHPort), "--users=false"}
	_ = backupForDrill(b, sb, ag, benchSchema, physical...) // warm-up, as BenchmarkDrill's

	var bk benchBackup
	var d benchDrill
	for b.Loop() {
		bk = backupForDrill(b, sb, ag, benchSchema, physical...)
		d = runDrill(b, ag.Bin, bk.dir, "128M")
	}
	b.StopTimer()
	b.Logf("physical, %d MiB InnoDB: backup %.1f MB xbstream (%.1f MB zstd) in %.2f s; drill %.2f s (%.2fx), %d tables, %d rows, "+
		"%d checked, %d accounts; phases: %s; memory: agent %.0f + mariadbd %.0f + client %.0f = %.0f MiB; scratch peak %.0f MiB "+
		"(%.2fx the stream), at the end %.0f MiB",
		big.Bytes>>20, float64(bk.uncompressed)/1e6, float64(bk.compressed)/1e6, bk.wall.Seconds(), d.wall.Seconds(),
		d.wall.Seconds()/bk.wall.Seconds(), d.res.Tables, d.res.Rows, d.res.Checked, d.res.Users, d.phases,
		mib(d.agentHWM), mib(d.serverHWM), mib(d.clientHWM), mib(d.memory()), mib(d.scratchPeak),
		float64(d.scratchPeak)/float64(bk.uncompressed), mib(d.scratchEnd))
	b.ReportMetric(bk.wall.Seconds(), "backup-s")
	b.ReportMetric(d.wall.Seconds(), "drill-s")
	b.ReportMetric(d.wall.Seconds()/bk.wall.Seconds(), "drill/backup-time")
	b.ReportMetric(mib(d.memory()), "drill-MiB")
	b.ReportMetric(mib(d.scratchPeak), "scratch-MiB")
	b.ReportMetric(float64(d.scratchPeak)/float64(bk.uncompressed), "scratch/stream")
}
