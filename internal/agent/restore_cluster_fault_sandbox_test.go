package agent_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/pacemaker"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// noticeBound is how long the restore may take, from the node's loss, to stop and say so:
// the SSH runner's keepalives give up on a silent peer after 30 to 40 s, and the failure's
// account reads crm_mon once more (the lost node first, which costs a connect timeout). Far
// from the 2 h StepTimeout the copy is otherwise bounded by.
const noticeBound = 2 * time.Minute

// TestRestoreClusterNodeLost: issue 18's "a node killed during the copy". A physical
// backup with the agent's code (the 200 MB dataset in the cluster makes its stream about
// 450 MiB, several seconds of copy); a row written after it; then restore-cluster onto
// controller-0, and while the stream runs into controller-0's mbstream, controller-0 is
// cut off the network (its veth down): Corosync loses it and Pacemaker fences it through
// the sandbox's power controller (power off: every process in it SIGKILLed, mbstream and
// sshd included; power on: its daemons again, still without a link). To the agent that is
// a node that died: its peer goes silent mid-stream, no FIN, no RST. The restore must stop
// within noticeBound with an error that names copy-back, says GALERA IS STOPPED, where
// every datadir is kept aside and how to roll back; the node is then let back on the
// network, the rollback the error prints is run on each node, galera started as it says,
// and every node holds the pre-restore data (the row written after the backup), galera
// Promoted on all three.
func TestRestoreClusterNodeLost(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	if !sb.Live() {
		t.Fatal("this test needs the live Pacemaker sandbox (fencing, isolate): run hack/overcloud.sh up")
	}
	sb.WaitHealthy(t)
	if !sb.AllPromoted() {
		t.Fatal("galera is not Promoted on every controller before the test")
	}
	const schema, lost = "ocb_restore_node_lost", 0
	testDataset(t, sb, schema)
	ds := sb.EnsureDataset(t, benchSchema, 200)
	bcfg := physicalConfig(t, sb)
	bcfg.Databases = []string{schema}
	backup, m := dumpRead(t, bcfg)
	var stream int64
	for _, f := range m.Files {
		if f.Name == agent.PhysicalFile || strings.HasPrefix(f.Name, agent.PhysicalFile+".") {
			stream = f.UncompressedBytes
		}
	}
	t.Logf("the backup: %d MiB of xbstream (%s: %d MiB of InnoDB data)", stream>>20, ds.Schema, ds.Bytes>>20)
	// After the backup: a row that only the pre-restore data holds.
	rootSQL(t, sb, 0, strings.NewReader("INSERT INTO "+schema+".flavors VALUES (3, 'after the backup', 8);\n"))
	for i := range sb.Nodes {
		if n := count(t, sb, i, "SELECT COUNT(*) FROM "+schema+".flavors"); n != 3 {
			t.Fatalf("%s: %d flavors before the restore, want 3", sb.Nodes[i].Name, n)
		}
	}

	stamp := time.Now().UTC().Format(restoreplan.StampLayout)
	cl := restoreplan.Cluster{Resource: sandbox.GaleraResource, Datadir: sb.ClusterDatadir(), Stamp: stamp}
	failedDir := func(i int) string { return filepath.Join(sb.NodeDir(i), "data.failed-restore-"+stamp) }
	rolledBack := false
	// Cleanups run last first: the node back on the network, then the cluster as the next
	// test expects it (the kept-aside datadirs put back if the rollback below did not run),
	// then the copy the rollback set aside removed.
	t.Cleanup(func() {
		sb.CleanupClusterRestore(t, stamp, func() bool { return rolledBack })
		for i := range sb.Nodes {
			if err := os.RemoveAll(failedDir(i)); err != nil { // this test's partial copy, by its stamp
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	isolated := false
	t.Cleanup(func() {
		if isolated {
			sb.Run(t, "rejoin", "0")
			waitOnline(t, sb, lost)
		}
	})

	// The restore, its log watched for the copy's start.
	watch := &stepWatch{w: t.Output(), want: []byte("Step copy-back on " + sb.Nodes[lost].Name + ": started"), seen: make(chan struct{})}
	cfg := clusterConfig(t, sb, backup.Dir, stamp)
	cfg.Log = watch
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type outcome struct {
		res agent.RestoreResult
		err error
		at  time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := agent.RestoreCluster(ctx, cfg)
		done <- outcome{res, err, time.Now()}
	}()
	select {
	case <-watch.seen:
	case o := <-done:
		t.Fatalf("restore-cluster ended before its copy: %v", o.err)
	case <-time.After(5 * time.Minute):
		cancel()
		t.Fatal("no copy-back within 5 minutes")
	}
	// Bytes landing in controller-0's datadir: the stream is under way. The node is lost then.
	data := filepath.Join(sb.NodeDir(lost), "data")
	deadline := time.Now().Add(time.Minute)
	for dirBytes(data) < 64<<20 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("under 64 MiB in %s a minute into the copy", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fenceLog := sb.FenceLogOffset()
	t.Logf("%d MiB of the stream in %s: isolating %s", dirBytes(data)>>20, data, sb.Nodes[lost].Name)
	isolated = true
	sb.Run(t, "isolate", "0")
	lostAt := time.Now()

	var o outcome
	select {
	case o = <-done:
	case <-time.After(noticeBound):
		cancel()
		o = <-done
		t.Errorf("restore-cluster did not notice the lost node within %s: still running, stopped by the test", noticeBound)
	}
	noticed := o.at.Sub(lostAt)
	t.Logf("restore-cluster returned %.1f s after %s was lost: %v", noticed.Seconds(), sb.Nodes[lost].Name, o.err)
	res := o.res

	// Fenced: powered off (everything in it killed) and on by Pacemaker, as a real dead node is.
	deadline = time.Now().Add(2 * time.Minute)
	for fl := sb.FenceLogSince(fenceLog); !strings.Contains(fl, "on "+sb.Nodes[lost].Name+": ok"); fl = sb.FenceLogSince(fenceLog) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not fenced (off, then on) within 2 minutes of the isolation; the power controller logged %q",
				sb.Nodes[lost].Name, strings.TrimSpace(fl))
		}
		time.Sleep(time.Second)
	}
	t.Logf("the power controller: %q", strings.TrimSpace(sb.FenceLogSince(fenceLog)))

	if o.err == nil {
		t.Fatal("restore-cluster succeeded with its node lost during the copy")
	}
	rb, start := cl.RollBack(), restoreplan.ByHand(cl.TargetRole("Started"))
	for _, want := range []string{
		"copy-back on " + sb.Nodes[lost].Name + ": mbstream on " + sb.Nodes[lost].Name + ": ",
		"GALERA IS STOPPED (or stopping) on every node",
		"Datadir kept aside at " + cl.Aside() + " on controller-0, controller-1, controller-2.",
		"To roll back by hand: on controller-0, controller-1, controller-2, " + restoreplan.ByHand(rb[0]) +
			" (if the datadir exists) then " + restoreplan.ByHand(rb[1]) + "; then on one node " + start + ".",
	} {
		if !strings.Contains(o.err.Error(), want) {
			t.Errorf("the error lacks %q", want)
		}
	}
	if len(res.Steps) != 10 {
		t.Errorf("%d steps, want 10 (copy-back the last)", len(res.Steps))
	}
	if n := len(res.Steps); n > 0 {
		last := res.Steps[n-1]
		if last.Name != "copy-back" || last.OK || last.Node != sb.Nodes[lost].Name || !strings.Contains(last.Error, "mbstream") {
			t.Errorf("last step %+v, want copy-back on %s failed", last, sb.Nodes[lost].Name)
		}
		for _, s := range res.Steps[:n-1] {
			if !s.OK {
				t.Errorf("step %s on %s: %s", s.Name, s.Node, s.Error)
			}
		}
	}
	if res.Bytes <= 0 || res.Bytes >= stream {
		t.Errorf("%d bytes streamed of %d: the node was not lost during the copy", res.Bytes, stream)
	}
	if noticed > noticeBound {
		t.Fatalf("noticed after %.1f s", noticed.Seconds())
	}
	for i := range sb.Nodes {
		if _, err := os.Stat(filepath.Join(sb.AsideDir(i, stamp), "ibdata1")); err != nil {
			t.Fatalf("%s: the datadir is not kept aside: %v", sb.Nodes[i].Name, err)
		}
	}

	// The node back on the network; the rollback the error prints, on every node; galera
	// started as it says, on one node.
	sb.Run(t, "rejoin", "0")
	isolated = false
	waitOnline(t, sb, lost)
	for i := range sb.Nodes {
		if out, err := sb.InController(i, cl.Running()...); err == nil {
			t.Fatalf("%s: a MariaDB server runs (pid %s): galera is not stopped", sb.Nodes[i].Name, bytes.TrimSpace(out))
		}
		steps := rb
		if _, err := os.Stat(filepath.Join(sb.NodeDir(i), "data")); err != nil {
			steps = rb[1:] // "if the datadir exists"
		}
		for _, argv := range steps {
			if out, err := sb.InController(i, argv...); err != nil {
				t.Fatalf("%s: %s: %v %s", sb.Nodes[i].Name, restoreplan.ByHand(argv), err, out)
			}
		}
	}
	rolledBack = true
	startedAt := time.Now()
	if out, err := sb.InController(1, cl.TargetRole("Started")...); err != nil {
		t.Fatalf("%s: %v %s", start, err, out)
	}
	deadline = time.Now().Add(5 * time.Minute)
	for !sb.AllPromoted() {
		if time.Now().After(deadline) {
			t.Fatal("galera not Promoted on every controller within 5 minutes of the by-hand start")
		}
		time.Sleep(time.Second)
	}
	t.Logf("rolled back by hand: galera Promoted everywhere %.1f s after target-role Started", time.Since(startedAt).Seconds())
	sb.WaitHealthy(t)
	for i := range sb.Nodes {
		if n := count(t, sb, i, "SELECT COUNT(*) FROM "+schema+".flavors"); n != 3 {
			t.Errorf("%s: %d flavors, want the pre-restore 3", sb.Nodes[i].Name, n)
		}
		if n := count(t, sb, i, "SELECT COUNT(*) FROM "+schema+".instances"); n != 5000 {
			t.Errorf("%s: %d instances, want 5000", sb.Nodes[i].Name, n)
		}
	}
}

// stepWatch passes the log on and closes seen once a write holds want (each step's line
// is one write).
type stepWatch struct {
	w    io.Writer
	want []byte
	seen chan struct{}
	once sync.Once
}

func (s *stepWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, s.want) {
		s.once.Do(func() { close(s.seen) })
	}
	return s.w.Write(p)
}

// dirBytes is the size of the regular files under dir (0 when it cannot be read).
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // a file mbstream is writing may come and go: counted or not
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// waitOnline waits, at most three minutes, until crm_mon on another controller shows
// controller i online and clean (it rejoined Corosync after its fence; its own crm_mon
// would show it online while it is still cut off).
func waitOnline(t *testing.T, sb *sandbox.Sandbox, i int) {
	t.Helper()
	other := (i + 1) % len(sb.Nodes)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := sb.InController(other, "crm_mon", "--one-shot", "--inactive", "--output-as=xml")
		if err == nil {
			if st, err := pacemaker.Parse(out, pacemaker.Options{GaleraResource: sandbox.GaleraResource, VIP: sb.VIP}); err == nil {
				if n, ok := st.Node(sb.Nodes[i].Name); ok && n.Online && !n.Unclean && !n.Pending {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not online in %s's Pacemaker within 3 minutes", sb.Nodes[i].Name, sb.Nodes[other].Name)
		}
		time.Sleep(time.Second)
	}
}
