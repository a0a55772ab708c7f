package agent_test

// BenchmarkDumpThroughput: the agent against the pipeline an operator would type, in the
// same run, on the same generated ~200 MB dataset (test/sandbox.EnsureDataset) from the
// same idle node, controller-2:
//
//	mariadb-dump --single-transaction --quick --routines --events --triggers --hex-blob \
//	  --databases ocb_bench | zstd -T0 -3 > file
//
// against the real agent binary (`agent dump`: re-check, wsrep_desync ON and OFF, causality
// wait, mariadb-dump, zstd at its default level with the SHA-256 in the same pass, fsync
// and the atomic rename). Runs alternate which goes first. MB/s is the uncompressed dump
// over wall time; CPU is user + system time of the processes (the server's excluded, the
// same for both), the figure the machine's noise disturbs least. The agent's peak RSS is
// its own VmHWM, sampled while it runs, at two dataset sizes: wait4's ru_maxrss is not
// enough, Linux reports there the larger of the process's and its reaped children's
// peaks, mariadb-dump's included.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

const (
	benchSchema      = "ocb_bench"
	benchSmallSchema = "ocb_bench_small"
	benchNode        = 2
	benchPairs       = 3
)

// benchPipeline is one run of the mariadb-dump | zstd pipeline into a file.
type benchPipeline struct {
	wall, cpu       time.Duration
	bytes, rawBytes int64
}

// runPipeline runs mariadb-dump | zstd -T0 -3 > out, the two processes joined by a pipe
// as a shell would, credentials in a 0600 defaults file.
func runPipeline(b *testing.B, sb *sandbox.Sandbox, defaults, out string) benchPipeline {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := sb.Nodes[benchNode]
	//nolint:gosec // G204: fixed tools, arguments built here, no secret in them
	dump := exec.CommandContext(ctx, "mariadb-dump", "--defaults-extra-file="+defaults, "--host="+n.Address,
		"--port="+strconv.Itoa(n.MySQLPort), "--single-transaction", "--quick", "--routines", "--events", "--triggers",
		"--hex-blob", "--databases", benchSchema)
	comp := exec.CommandContext(ctx, "zstd", "-T0", "-3", "-q", "-c")
	f, err := os.Create(out) //nolint:gosec // G304: our temporary directory
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	var dumpErr, zstdErr strings.Builder
	dump.Stdout, dump.Stderr = pw, &dumpErr
	comp.Stdin, comp.Stdout, comp.Stderr = pr, f, &zstdErr
	start := time.Now()
	err = errors.Join(dump.Start(), comp.Start())
	_ = pw.Close()
	_ = pr.Close()
	if err == nil {
		err = errors.Join(dump.Wait(), comp.Wait())
	}
	p := benchPipeline{wall: time.Since(start)}
	if err != nil {
		b.Fatalf("mariadb-dump | zstd: %v: %s %s", err, dumpErr.String(), zstdErr.String())
	}
	for _, ps := range []*os.ProcessState{dump.ProcessState, comp.ProcessState} {
		p.cpu += ps.UserTime() + ps.SystemTime()
	}
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	p.bytes = st.Size()
	p.rawBytes = zstdSize(b, out)
	return p
}

// zstdSize is the decompressed size of a zstd file (and a check that it decompresses).
func zstdSize(b *testing.B, path string) int64 {
	b.Helper()
	f, err := os.Open(path) //nolint:gosec // G304: our temporary directory
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	d, err := zstd.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	n, err := io.Copy(io.Discard, d)
	if err != nil {
		b.Fatalf("decompressing %s: %v", path, err)
	}
	return n
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

func BenchmarkDumpThroughput(b *testing.B) {
	sb := sandbox.Load(b)
	sb.Lock(b)
	big := sb.EnsureDataset(b, benchSchema, 200)
	small := sb.EnsureDataset(b, benchSmallSchema, 50)
	if !big.Reused {
		b.ReportMetric(big.Took.Seconds(), "dataset-make-s")
	}
	ag := sb.NewAgentRunner(b)
	sb.WaitSynced(b, benchNode, 30*time.Second)

	dir := b.TempDir()
	defaults := filepath.Join(dir, "client.cnf")
	if err := os.WriteFile(defaults, []byte(fmt.Sprintf("[client]\nuser=%q\npassword=%q\n", sb.Database.User, sb.Password(b))), 0o600); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "pipeline.sql.zst")
	agentArgs := []string{"--database=" + benchSchema}
	// Warm up: InnoDB's buffer pool (128 MB here, smaller than the data) and the page
	// cache see the same reads before every measured run.
	runPipeline(b, sb, defaults, out)

	var pipeMBps, agentMBps, speedRatio, sizeRatio, cpuRatio []float64
	var rss, anon, bigRaw int64
	for b.Loop() {
		for i := range benchPairs {
			var p benchPipeline
			var a sandbox.AgentRun
			runAgent := func() {
				a = ag.Dump(b, benchNode, nil, agentArgs...)
				sb.WaitSynced(b, benchNode, 60*time.Second)
			}
			if i%2 == 0 {
				p = runPipeline(b, sb, defaults, out)
				runAgent()
			} else {
				runAgent()
				p = runPipeline(b, sb, defaults, out)
			}
			pm, am := mbps(p.rawBytes, p.wall), mbps(a.UncompressedBytes, a.Wall)
			pipeMBps, agentMBps = append(pipeMBps, pm), append(agentMBps, am)
			speedRatio = append(speedRatio, am/pm)
			sizeRatio = append(sizeRatio, float64(a.Result.TotalBytes)/float64(p.bytes))
			cpuRatio = append(cpuRatio, a.CPU.Seconds()/p.cpu.Seconds())
			rss, anon, bigRaw = max(rss, a.AgentHWM), max(anon, a.AgentAnon), a.UncompressedBytes
			b.Logf("pair %d: pipeline %d -> %d bytes in %.2fs (%.1f MB/s, %.2f CPU-s); agent %d -> %d bytes in %.2fs (%.1f MB/s, %.2f CPU-s), "+
				"peak RSS %.1f MiB (anonymous %.1f MiB; mariadb-dump %.1f MiB; wait4's ru_maxrss %.1f MiB)",
				i+1, p.rawBytes, p.bytes, p.wall.Seconds(), pm, p.cpu.Seconds(), a.UncompressedBytes, a.Result.TotalBytes, a.Wall.Seconds(), am,
				a.CPU.Seconds(), mib(a.AgentHWM), mib(a.AgentAnon), mib(a.ChildHWM), mib(a.RusageMaxRSS))
		}
	}
	smallRun := ag.Dump(b, benchNode, nil, "--database="+benchSmallSchema)
	sb.WaitSynced(b, benchNode, 60*time.Second)
	b.Logf("dataset %s: %d MiB InnoDB; %s: %d MiB; agent peak RSS %.1f MiB (%d MB dump) and %.1f MiB (%d MB dump)",
		benchSchema, big.Bytes>>20, benchSmallSchema, small.Bytes>>20, mib(rss), bigRaw/1e6,
		mib(smallRun.AgentHWM), smallRun.UncompressedBytes/1e6)
	b.ReportMetric(median(pipeMBps), "pipeline-MB/s")
	b.ReportMetric(median(agentMBps), "agent-MB/s")
	b.ReportMetric(median(speedRatio), "agent/pipeline-speed")
	b.ReportMetric(median(sizeRatio), "agent/pipeline-size")
	b.ReportMetric(median(cpuRatio), "agent/pipeline-CPU")
	b.ReportMetric(mib(rss), "agent-RSS-MiB")
	b.ReportMetric(mib(anon), "agent-anon-MiB")
	b.ReportMetric(mib(smallRun.AgentHWM), "agent-RSS-small-MiB")
}
