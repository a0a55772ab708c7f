package agent_test

// BenchmarkRestoreCluster: the WholeCluster restore (`agent restore-cluster`) of a physical
// backup of the ~200 MB dataset against the same restore done by hand on controller-0 the
// way a DBA does it (docs/restore.md, "Physical backups by hand"), in the same run: galera
// stopped through Pacemaker, every datadir kept aside (mv) and an empty one made, the
// xbstream decompressed on this host and piped over SSH into mbstream on the node, then
// `mariadb-backup --prepare` and `--copy-back` into the empty datadir, chown, grastate.dat,
// galera started through Pacemaker until Promoted everywhere with the VIP up. The data
// phase is extract + prepare + copy-back by hand, the agent's copy-back step (stream into
// the datadir + prepare in place) for the agent; MiB/s is the backup's uncompressed
// xbstream over that phase's seconds. Time to all-Promoted is from target-role Started
// to galera Promoted on every node and the VIP started, polled every second in both.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// handRestore is the by-hand WholeCluster restore's phases.
type handRestore struct {
	stop, aside, extract, prepare, copyBack, own, start, whole time.Duration
	// firsts is when each node was first seen Promoted after target-role Started.
	firsts map[string]time.Duration
}

// data is the data phase: the stream extracted on the node, prepared, copied back.
func (h handRestore) data() time.Duration { return h.extract + h.prepare + h.copyBack }

func BenchmarkRestoreCluster(b *testing.B) {
	sb := sandbox.Load(b)
	sb.Lock(b)
	if !sb.AllPromoted() {
		b.Fatal("galera is not Promoted on every controller before the benchmark")
	}
	ds := sb.EnsureDataset(b, benchSchema, 200)
	sb.WaitSynced(b, benchNode, 30*time.Second)

	// The backup: the agent's own code, Mariabackup from the idle node, digests of the dataset.
	bcfg := physicalConfig(b, sb)
	bcfg.Databases = []string{benchSchema}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	start := time.Now()
	backup, err := agent.Dump(ctx, bcfg)
	if err != nil {
		b.Fatalf("dump: %v", err)
	}
	backupWall := time.Since(start)
	sb.WaitSynced(b, benchNode, 60*time.Second)
	// What a DBA runs first (docs/restore.md); it also reads the file once, as the agent's
	// check-backup does before its copy, so that both paths find it in the page cache.
	m, err := agent.Verify(ctx, backup.Dir)
	if err != nil {
		b.Fatalf("verify: %v", err)
	}
	if m.Position == nil || len(m.Files) != 1 || m.Files[0].Name != agent.PhysicalFile+".zst" {
		b.Fatalf("the backup: position %v, files %+v", m.Position, m.Files)
	}
	xb := m.Files[0]
	b.Logf("dataset %s: %d MiB InnoDB, %d instances; physical backup of %s in %.1f s: %d MiB xbstream (%.1f MiB zstd), "+
		"seqno %d, %d tables with digests", benchSchema, ds.Bytes>>20, ds.Instances, bcfg.Node, backupWall.Seconds(),
		xb.UncompressedBytes>>20, mib(xb.Bytes), m.Position.Seqno, len(m.Tables))

	hand := restoreClusterByHand(ctx, b, sb, filepath.Join(backup.Dir, xb.Name), *m.Position, newStamp(""))
	for i := range sb.Nodes {
		if got := strings.TrimSpace(sb.RootQuery(b, i, "SELECT COUNT(*) FROM "+benchSchema+".instances", false)); got != fmt.Sprint(ds.Instances) {
			b.Fatalf("%s after the by-hand restore: %s instances, want %d", sb.Nodes[i].Name, got, ds.Instances)
		}
	}

	var res agent.RestoreResult
	var stamp string
	for b.Loop() {
		stamp = newStamp(stamp)
		cfg := clusterConfig(b, sb, backup.Dir, stamp)
		done, this := false, stamp
		b.Cleanup(func() { sb.CleanupClusterRestore(b, this, func() bool { return done }) })
		res, err = agent.RestoreCluster(ctx, cfg)
		if err != nil {
			b.Fatalf("restore-cluster: %v", err)
		}
		done = true
		if strings.Contains(string(res.Summary()), cfg.Password) {
			b.Fatal("the password is in the result")
		}
	}
	b.StopTimer()
	if len(res.Proofs) != len(sb.Nodes) {
		b.Fatalf("%d proofs, want %d", len(res.Proofs), len(sb.Nodes))
	}
	for _, p := range res.Proofs {
		if !p.Equal || p.Error != "" {
			b.Fatalf("%s does not hold what the backup recorded: %+v", p.Node, p)
		}
	}
	steps := map[string]time.Duration{}
	var promotedOut string
	for _, s := range res.Steps {
		steps[s.Name] += s.End.Sub(s.Start)
		if s.Name == "start-galera" {
			promotedOut = s.Output
		}
	}
	agentData, agentStart := steps["copy-back"], steps["start-galera"]
	if agentData <= 0 || agentStart <= 0 || res.Bytes != xb.UncompressedBytes {
		b.Fatalf("the agent's steps %v, %d bytes streamed (the stream has %d)", steps, res.Bytes, xb.UncompressedBytes)
	}
	handMiBps := mib(xb.UncompressedBytes) / hand.data().Seconds()
	agentMiBps := mib(res.Bytes) / agentData.Seconds()
	proofs := steps["read-position"]
	for _, n := range sb.Nodes {
		proofs += steps["prove-"+n.Name]
	}
	handFirsts := make([]string, 0, len(sb.Nodes))
	for _, n := range sb.Nodes {
		handFirsts = append(handFirsts, fmt.Sprintf("%s %.0f s", n.Name, hand.firsts[n.Name].Seconds()))
	}
	b.Logf("%d MiB of xbstream restored onto %s; by hand: stop %.1f s, keep aside %.1f s, extract over ssh %.1f s, prepare %.1f s, "+
		"copy-back %.1f s, chown + grastate %.1f s, start %.1f s (first seen Promoted: %s)", xb.UncompressedBytes>>20,
		sb.Nodes[0].Name, hand.stop.Seconds(), hand.aside.Seconds(), hand.extract.Seconds(), hand.prepare.Seconds(),
		hand.copyBack.Seconds(), hand.own.Seconds(), hand.start.Seconds(), strings.Join(handFirsts, ", "))
	b.Logf("agent: check-backup %.1f s, check-cluster %.1f s, check-space %.1f s, stop-galera %.1f s, keep-aside %.1f s, "+
		"copy-back (stream + prepare) %.1f s, write-grastate %.1f s, start-galera %.1f s, read-position + proofs %.1f s; %s",
		steps["check-backup"].Seconds(), steps["check-cluster"].Seconds(), steps["check-space"].Seconds(),
		steps["stop-galera"].Seconds(), keptAside(steps, sb).Seconds(), agentData.Seconds(), steps["write-grastate"].Seconds(),
		agentStart.Seconds(), proofs.Seconds(), firstLine(promotedOut))
	b.Logf("| | data phase | MiB/s of data restored | stop | target-role Started to all Promoted | whole restore |")
	b.Logf("| --- | ---: | ---: | ---: | ---: | ---: |")
	b.Logf("| by hand (mbstream over ssh, prepare, copy-back) | %.1f s | %.1f | %.1f s | %.1f s | %.1f s (no proof) |",
		hand.data().Seconds(), handMiBps, hand.stop.Seconds(), hand.start.Seconds(), hand.whole.Seconds())
	b.Logf("| agent restore-cluster (stream + prepare in place) | %.1f s | %.1f | %.1f s | %.1f s | %.1f s (proofs %.1f s) |",
		agentData.Seconds(), agentMiBps, steps["stop-galera"].Seconds(), agentStart.Seconds(), res.Seconds, proofs.Seconds())
	b.Logf("| agent / by hand | %.2f | %.2f | %.2f | %.2f | %.2f |", agentData.Seconds()/hand.data().Seconds(),
		agentMiBps/handMiBps, steps["stop-galera"].Seconds()/hand.stop.Seconds(), agentStart.Seconds()/hand.start.Seconds(),
		res.Seconds/hand.whole.Seconds())
	b.ReportMetric(handMiBps, "by-hand-MiB/s")
	b.ReportMetric(agentMiBps, "agent-MiB/s")
	b.ReportMetric(agentMiBps/handMiBps, "agent/by-hand-MiB/s")
	b.ReportMetric(hand.start.Seconds(), "by-hand-promoted-s")
	b.ReportMetric(agentStart.Seconds(), "agent-promoted-s")
	b.ReportMetric(res.Seconds, "agent-restore-s")
	b.ReportMetric(hand.whole.Seconds(), "by-hand-restore-s")
}

// restoreClusterByHand restores the backup's xbstream (zstd) onto controller-0 as a DBA
// does, every datadir kept aside under the stamp; the cleanup puts them back if it does
// not finish, and removes them once the cluster is healthy again.
func restoreClusterByHand(ctx context.Context, b *testing.B, sb *sandbox.Sandbox, file string, pos agent.Position,
	stamp string) handRestore {
	b.Helper()
	c := restoreplan.Cluster{Resource: sandbox.GaleraResource, Datadir: sb.ClusterDatadir(), Stamp: stamp}
	extracted := "ocb-restore-bench-" + stamp // in controller-0's /tmp, on the datadirs' filesystem
	done, cleaned := false, false
	b.Cleanup(func() {
		if !cleaned {
			sb.CleanupClusterRestore(b, stamp, func() bool { return done })
		}
	})
	b.Cleanup(func() { removeAll(b, filepath.Join(sb.ControllerTmp(0), extracted)) })
	root := func(timeout time.Duration, i int, stdin string, argv ...string) string {
		b.Helper()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if len(argv) > 2 && argv[0] == "sudo" && argv[1] == "-n" { // a root shell on the node: no sudo
			argv = argv[2:]
		}
		var in io.Reader
		if stdin != "" {
			in = strings.NewReader(stdin)
		}
		out, err := sb.InControllerCtx(cctx, i, in, argv...)
		if err != nil {
			b.Fatalf("%s on %s: %v\n%s", restoreplan.Shell(argv), sb.Nodes[i].Name, err, tail(out))
		}
		return string(out)
	}
	var h handRestore
	t0 := time.Now()
	root(time.Minute, 0, "", c.TargetRole("Stopped")...)
	if err := sb.WaitGaleraStopped(ctx, 3*time.Minute, time.Second); err != nil {
		b.Fatal(err)
	}
	h.stop = time.Since(t0)
	b.Logf("By hand: galera stopped everywhere in %.1f s", h.stop.Seconds())
	t := time.Now()
	for i := range sb.Nodes {
		root(time.Minute, i, "", c.MoveAside()...)
		root(time.Minute, i, "", c.MakeEmpty()...)
		root(time.Minute, i, "", c.Own()...)
	}
	h.aside = time.Since(t)
	b.Logf("By hand: every datadir kept aside as %s, an empty one made, in %.1f s", filepath.Base(c.Aside()), h.aside.Seconds())

	// The data phase.
	dir := "/tmp/" + extracted
	t = time.Now()
	ectx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err := sb.PipeToController(ectx, 0, []string{"zstd", "-dc", "--", file}, "mkdir -m 0700 -- "+dir+" && mbstream -x -C "+dir)
	cancel()
	if err != nil {
		b.Fatalf("extract: %v", err)
	}
	h.extract = time.Since(t)
	b.Logf("By hand: zstd -dc | ssh %s mbstream -x -C %s in %.1f s", sb.Nodes[0].Name, dir, h.extract.Seconds())
	t = time.Now()
	out := root(10*time.Minute, 0, "", "mariadb-backup", "--prepare", "--target-dir="+dir)
	h.prepare = time.Since(t)
	if !strings.Contains(out, "completed OK!") {
		b.Fatalf("mariadb-backup --prepare did not complete OK:\n%s", tail([]byte(out)))
	}
	t = time.Now()
	out = root(10*time.Minute, 0, "", "mariadb-backup", "--copy-back", "--target-dir="+dir, "--datadir="+c.Datadir)
	h.copyBack = time.Since(t)
	b.Logf("By hand: mariadb-backup --prepare in %.1f s, --copy-back in %.1f s", h.prepare.Seconds(), h.copyBack.Seconds())
	if !strings.Contains(out, "completed OK!") {
		b.Fatalf("mariadb-backup --copy-back did not complete OK:\n%s", tail([]byte(out)))
	}

	t = time.Now()
	grastate, err := restoreplan.GrastateContent(pos.ClusterUUID, pos.Seqno)
	if err != nil {
		b.Fatal(err)
	}
	root(time.Minute, 0, string(grastate), c.WriteGrastate()...)
	root(time.Minute, 0, "", c.Own()...)
	h.own = time.Since(t)
	removeAll(b, filepath.Join(sb.ControllerTmp(0), extracted)) // not timed: after the fact

	t = time.Now()
	root(time.Minute, 0, "", c.TargetRole("Started")...)
	if h.firsts, err = sb.WaitPromotedVIP(ctx, 10*time.Minute, time.Second); err != nil {
		b.Fatal(err)
	}
	h.start = time.Since(t)
	h.whole = time.Since(t0)
	b.Logf("By hand: galera Promoted on every node, the VIP up, %.1f s after target-role Started", h.start.Seconds())
	done = true
	// The datadirs kept aside removed, the cluster healthy, before the agent's turn.
	sb.CleanupClusterRestore(b, stamp, func() bool { return true })
	cleaned = true
	return h
}

// newStamp is the UTC time now as restoreplan.StampLayout, a second later than prev when
// it would equal it (a stamp names the datadirs kept aside: one per restore).
func newStamp(prev string) string {
	for {
		if s := time.Now().UTC().Format(restoreplan.StampLayout); s != prev {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keptAside is the keep-aside steps' time, every node's.
func keptAside(steps map[string]time.Duration, sb *sandbox.Sandbox) time.Duration {
	var d time.Duration
	for _, n := range sb.Nodes {
		d += steps["keep-aside-"+n.Name]
	}
	return d
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func tail(out []byte) string {
	if len(out) > 800 {
		return "..." + string(out[len(out)-800:])
	}
	return string(out)
}

// removeAll removes a directory the benchmark made (as root, whoever owns its files).
func removeAll(b *testing.B, dir string) {
	b.Helper()
	if err := os.RemoveAll(dir); err != nil {
		b.Errorf("removing %s: %v", dir, err)
	}
}
