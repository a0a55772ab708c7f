package agent_test

// BenchmarkRestoreDatabases: `agent restore` of one database of a logical backup into the
// running cluster through controller-1, against two baselines of the same run: the backup
// of that database (`agent dump` from the idle node, the real binary) and the by-hand path
// docs/restore.md gives (`DROP DATABASE`, then `zstd -dc databases.sql.zst | mariadb -u root`
// on the same node). The restore's time includes what the by-hand path does not do: the
// backup verified, the dump's sections read through once before anything is dropped, and
// every node proved against the manifest; its phases are logged. Throughput is MiB of SQL
// restored per second of the whole restore.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

var restorePhasesLine = regexp.MustCompile(`(?m)^Restore phases: (.*)$`)

func BenchmarkRestoreDatabases(b *testing.B) {
	sb := sandbox.Load(b)
	sb.Lock(b)
	ds := sb.EnsureDataset(b, benchSmallSchema, 50)
	ag := sb.NewAgentRunner(b)
	user, password := restoreAccount(b, sb)
	sb.WaitSynced(b, benchNode, 30*time.Second)
	_ = backupForDrill(b, sb, ag, benchSmallSchema) // warms the node's buffer pool as the other benchmarks do
	bk := backupForDrill(b, sb, ag, benchSmallSchema)
	dump := filepath.Join(bk.dir, "databases.sql.zst")
	byHand := importByHand(b, sb, 1, dump, benchSmallSchema, "--user=root", "--socket="+sb.Nodes[1].Socket)
	// The same over the network, as the restore account, as the agent's client connects.
	defaults := filepath.Join(b.TempDir(), "client.cnf")
	if err := os.WriteFile(defaults, fmt.Appendf(nil, "[client]\nuser=%s\npassword=%s\n", user, password), 0o600); err != nil {
		b.Fatal(err)
	}
	byHandTCP := importByHand(b, sb, 1, dump, benchSmallSchema, "--defaults-extra-file="+defaults,
		"--host="+sb.Nodes[1].Address, "--port="+strconv.Itoa(sb.Nodes[1].MySQLPort))

	var res agent.RestoreResult
	var wall time.Duration
	var log strings.Builder
	for b.Loop() {
		cfg := restoreConfig(b, sb, bk.dir, user, password)
		cfg.Databases, cfg.Log = []string{benchSmallSchema}, &log
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		start := time.Now()
		var err error
		res, err = agent.Restore(ctx, cfg)
		wall = time.Since(start)
		cancel()
		if err != nil || res.Error != "" {
			b.Fatalf("agent restore: %v %s\n%s", err, res.Error, log.String())
		}
	}
	b.StopTimer()
	for _, p := range res.Proofs {
		if !p.Equal {
			b.Fatalf("%s does not hold what the backup recorded: %+v", p.Node, p)
		}
	}
	phases := ""
	if m := restorePhasesLine.FindStringSubmatch(log.String()); m != nil {
		phases = m[1]
	}
	mibps := mib(res.Bytes) / wall.Seconds()
	b.Logf("dataset %s: %d MiB InnoDB; backup %.1f MB of SQL (%.1f MB zstd) in %.2f s", benchSmallSchema, ds.Bytes>>20,
		float64(bk.uncompressed)/1e6, float64(bk.compressed)/1e6, bk.wall.Seconds())
	b.Logf("by hand (DROP, then zstd -dc | mariadb -u root on %s): %.2f s, %.1f MiB/s", sb.Nodes[1].Name, byHand.Seconds(),
		mib(bk.uncompressed)/byHand.Seconds())
	b.Logf("by hand over TCP as the restore account (the agent's client's connection): %.2f s, %.1f MiB/s",
		byHandTCP.Seconds(), mib(bk.uncompressed)/byHandTCP.Seconds())
	b.Logf("agent restore: %d tables, %d rows, %.1f MiB of SQL in %.2f s = %.1f MiB/s; %.2fx the by-hand import, %.2fx the backup; phases: %s",
		res.Tables, res.Rows, mib(res.Bytes), wall.Seconds(), mibps, wall.Seconds()/byHand.Seconds(),
		wall.Seconds()/bk.wall.Seconds(), phases)
	b.ReportMetric(mibps, "restore-MiB/s")
	b.ReportMetric(wall.Seconds()/byHand.Seconds(), "restore/by-hand")
	b.ReportMetric(wall.Seconds()/bk.wall.Seconds(), "restore/backup")
}

// importByHand is docs/restore.md's by-hand restore of one database on the node: the
// database dropped (as root), the dump decompressed into the mariadb client connected
// with login (the defaults file first).
func importByHand(b *testing.B, sb *sandbox.Sandbox, node int, dump, schema string, login ...string) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if _, err := os.Stat(dump); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	rootSQL(b, sb, node, strings.NewReader("DROP DATABASE "+schema))
	zstd := exec.CommandContext(ctx, "zstd", "-dc", "--", dump)                                        //nolint:gosec // G204: our own temporary file
	client := exec.CommandContext(ctx, "mariadb", append(login, "--default-character-set=utf8mb4")...) //nolint:gosec // G204: our arguments
	pipe, err := zstd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	client.Stdin = pipe
	if err := zstd.Start(); err != nil {
		b.Fatal(err)
	}
	out, err := client.CombinedOutput()
	if werr := zstd.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		b.Fatalf("the by-hand import: %v\n%.600s", err, out)
	}
	return time.Since(start)
}
