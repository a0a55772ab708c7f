package agent_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
	"github.com/overcloud-backup/overcloud-backup-operator/test/tamper"
)

// clusterConfig restores onto controller-0 (the backup comes from controller-2), every
// node reached over SSH as the backup's agent reaches it, proven on every node.
func clusterConfig(t testing.TB, sb *sandbox.Sandbox, dir, stamp string) agent.ClusterRestoreConfig {
	t.Helper()
	cfg := agent.ClusterRestoreConfig{
		Dir: dir,
		SSH: agent.PhysicalConfig{SSHUser: sb.SSH.User, SSHPort: sb.Nodes[0].SSHPort, SSHTimeout: 5 * time.Second,
			KeyFile: sb.SSH.PrivateKeyFile, KnownHostsFile: sb.SSH.KnownHostsFile},
		Cluster: restoreplan.Cluster{Resource: sandbox.GaleraResource, Datadir: sb.ClusterDatadir(), Stamp: stamp},
		VIP:     sb.VIP,
		User:    sb.Database.User, Password: sb.Password(t),
		StopTimeout: 3 * time.Minute, StartTimeout: 10 * time.Minute, Poll: time.Second, CatchUpTimeout: time.Minute,
		TempDir: t.TempDir(), Log: t.Output(),
	}
	for _, n := range sb.Nodes {
		cfg.Nodes = append(cfg.Nodes, agent.ClusterNode{Name: n.Name, SSHHost: n.Address})
		cfg.ProveNodes = append(cfg.ProveNodes, agent.NodeAddress{Name: n.Name, Address: n.Address, Port: n.MySQLPort})
	}
	return cfg
}

// TestRestoreCluster: a physical backup of the generated dataset taken from controller-2
// with the agent's own code; rows written and a database created after it; then a
// restore-cluster refused for want of space, which changes nothing; one whose stream is cut
// short, which fails at the copy with every datadir kept aside and says so (rolled back by
// hand, as it says); then the restore onto
// controller-0: every step recorded, the rows written after the backup gone on every node,
// every node's proof equal to the manifest, galera Promoted on all three, a client through
// the VIP reading the restored data, and each node's previous datadir kept aside.
func TestRestoreCluster(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	if !sb.AllPromoted() {
		t.Fatal("galera is not Promoted on every controller before the test")
	}
	const schema, after = "ocb_restore_cluster", "ocb_restore_cluster_after"
	testDataset(t, sb, schema)
	t.Cleanup(func() { rootSQL(t, sb, 0, strings.NewReader("DROP DATABASE IF EXISTS "+after)) })
	bcfg := physicalConfig(t, sb)
	bcfg.Databases = []string{schema}
	backup, m := dumpRead(t, bcfg)
	if len(m.Tables) != 3 || m.TablesError != "" {
		t.Fatalf("the backup's digests: %d tables, %q", len(m.Tables), m.TablesError)
	}
	// After the backup: a row, and a database.
	rootSQL(t, sb, 0, strings.NewReader("INSERT INTO "+schema+".flavors VALUES (3, 'after the backup', 8);\n"+
		"CREATE DATABASE "+after+"; CREATE TABLE "+after+".t (id INT PRIMARY KEY); INSERT INTO "+after+".t VALUES (1);\n"))
	for i := range sb.Nodes {
		if n := count(t, sb, i, "SELECT COUNT(*) FROM "+schema+".flavors"); n != 3 {
			t.Fatalf("%s: %d flavors before the restore, want 3", sb.Nodes[i].Name, n)
		}
	}
	stamp := time.Now().UTC().Format(restoreplan.StampLayout)

	t.Run("not enough space", func(t *testing.T) {
		cfg := clusterConfig(t, sb, backup.Dir, stamp)
		cfg.MinFree = 1 << 50 // a PiB to keep free: no node has it
		res, err := agent.RestoreCluster(t.Context(), cfg)
		t.Logf("refused: %s", res.Summary())
		if err == nil || !strings.Contains(err.Error(), "check-space on controller-0: ") ||
			!strings.Contains(err.Error(), "Nothing was changed: galera runs as before.") {
			t.Fatalf("%v, want check-space's refusal", err)
		}
		if len(res.Steps) != 3 || !res.Steps[0].OK || !res.Steps[1].OK || res.Steps[2].Name != "check-space" || res.Steps[2].OK ||
			!strings.Contains(res.Steps[2].Error, "MiB free on "+filepath.Dir(sb.ClusterDatadir())) {
			t.Fatalf("steps %+v", res.Steps)
		}
		for i := range sb.Nodes {
			if _, err := os.Stat(sb.AsideDir(i, stamp)); err == nil {
				t.Errorf("%s: a datadir was kept aside by a refused restore", sb.Nodes[i].Name)
			}
			if n := count(t, sb, i, "SELECT COUNT(*) FROM "+schema+".flavors"); n != 3 {
				t.Errorf("%s: %d flavors after the refusal, want 3", sb.Nodes[i].Name, n)
			}
		}
		if !sb.AllPromoted() {
			t.Error("galera is not Promoted everywhere after the refusal")
		}
	})
	if t.Failed() {
		return
	}

	t.Run("a node Pacemaker does not know", func(t *testing.T) {
		cfg := clusterConfig(t, sb, backup.Dir, stamp)
		cfg.Nodes[2].Name = "overcloud-controller-2"
		res, err := agent.RestoreCluster(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), `check-cluster on controller-0: "overcloud-controller-2" is not a Pacemaker node`) ||
			!strings.Contains(err.Error(), "Nothing was changed") || len(res.Steps) != 2 {
			t.Fatalf("%v (%d steps), want check-cluster's refusal", err, len(res.Steps))
		}
		if !sb.AllPromoted() {
			t.Error("galera is not Promoted everywhere after the refusal")
		}
	})
	if t.Failed() {
		return
	}

	t.Run("a stream cut short", func(t *testing.T) {
		// The failure path on the live cluster: every datadir already kept aside when the
		// copy fails; the error says galera is left stopped, where each datadir is and how
		// to roll back, which the cleanup then does.
		stamp := time.Now().UTC().Add(time.Second).Format(restoreplan.StampLayout)
		t.Cleanup(func() { sb.CleanupClusterRestore(t, stamp, func() bool { return false }) })
		dir := filepath.Join(t.TempDir(), "cut")
		if err := tamper.CopyFile(backup.Dir, dir, agent.PhysicalFile, func(b []byte) ([]byte, error) { return b[:len(b)/2], nil }); err != nil {
			t.Fatal(err)
		}
		res, err := agent.RestoreCluster(t.Context(), clusterConfig(t, sb, dir, stamp))
		t.Logf("failed: %v", err)
		for _, want := range []string{"copy-back on controller-0: ", "GALERA IS STOPPED (or stopping) on every node",
			"galera now: controller-0 Stopped, controller-1 Stopped, controller-2 Stopped.",
			"Datadir kept aside at " + sb.ClusterDatadir() + ".before-restore-" + stamp + " on controller-0, controller-1, controller-2.",
			"To roll back by hand: on controller-0, controller-1, controller-2, sudo mv -T -- " + sb.ClusterDatadir() + " " +
				sb.ClusterDatadir() + ".failed-restore-" + stamp,
			"then on one node sudo crm_resource --resource galera-clone --meta --set-parameter target-role --parameter-value Started"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("the error lacks %q", want)
			}
		}
		if last := res.Steps[len(res.Steps)-1]; len(res.Steps) != 10 || last.Name != "copy-back" || last.OK {
			t.Errorf("steps %+v, want copy-back failed last", res.Steps)
		}
		for i := range sb.Nodes {
			if _, err := os.Stat(filepath.Join(sb.AsideDir(i, stamp), "ibdata1")); err != nil {
				t.Errorf("%s: %v", sb.Nodes[i].Name, err)
			}
		}
	})
	if t.Failed() {
		return
	}
	for i := range sb.Nodes {
		if n := count(t, sb, i, "SELECT COUNT(*) FROM "+schema+".flavors"); n != 3 {
			t.Fatalf("%s: %d flavors after the failed restore rolled back, want 3", sb.Nodes[i].Name, n)
		}
	}

	cfg := clusterConfig(t, sb, backup.Dir, stamp)
	res, secs := runClusterRestore(t, sb, cfg, "copy-back", "write-grastate")
	promotedIn, copySecs := secs["start-galera"], secs["copy-back"]
	t.Logf("measured: galera Promoted on every node %.1f s after target-role Started; %d MiB streamed and prepared in %.1f s "+
		"(%.1f MiB/s); the whole restore %.1f s", promotedIn, res.Bytes>>20, copySecs, float64(res.Bytes)/(1<<20)/copySecs, res.Seconds)
	if len(res.Proofs) != 3 || res.Tables != 3 {
		t.Fatalf("proofs %+v, tables %d", res.Proofs, res.Tables)
	}
	for _, p := range res.Proofs {
		if !p.Equal || p.Tables != 3 || p.Rows != res.Rows || p.Error != "" {
			t.Errorf("proof on %s: %+v", p.Node, p)
		}
	}
	// What was written after the backup is gone on every node; the backup's rows are there.
	checkClusterRestored(t, sb, schema, after, stamp)
	t.Logf("the previous datadirs kept aside as %s on each controller (the cleanup removes them)", filepath.Base(sb.AsideDir(0, stamp)))
}

// TestRestoreClusterLogical: a logical backup of every database (users and grants with it)
// taken from controller-2; a row, a database and an account created after it; then the
// WholeCluster restore of it: every datadir kept aside, a new server initialised on
// controller-0 at the backup's position, galera started through Pacemaker (bootstrapped
// there, the others by SST), the backup's SQL and users loaded over SSH, every node
// proven. What was written after the backup is gone on every node, an account of the
// backup logs in on every node, the cluster keeps its identity, a client through the VIP
// reads the restored data, and the previous datadirs are kept aside.
func TestRestoreClusterLogical(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	if !sb.AllPromoted() {
		t.Fatal("galera is not Promoted on every controller before the test")
	}
	const schema, after = "ocb_restore_logical", "ocb_restore_logical_after"
	// An account of the backup, with a test password (not a secret: it exists only here).
	const account, accountPassword = "ocb_lr_app", "ocb-lr-test-password" //nolint:gosec // G101: a throwaway test account
	testDataset(t, sb, schema)
	t.Cleanup(func() {
		rootSQL(t, sb, 0, strings.NewReader("DROP DATABASE IF EXISTS "+after+"; DROP USER IF EXISTS "+account+"@'%', ocb_lr_late@'%';"))
	})
	rootSQL(t, sb, 0, strings.NewReader("CREATE OR REPLACE USER "+account+"@'%' IDENTIFIED BY '"+accountPassword+"';\n"+
		"GRANT SELECT ON "+schema+".* TO "+account+"@'%';\n"))
	backup, m := dumpRead(t, config(t, sb, 2))
	if m.Options.Method != agent.Logical || m.TablesError != "" || m.Position == nil {
		t.Fatalf("the backup: method %s, digests %q, position %+v", m.Options.Method, m.TablesError, m.Position)
	}
	// After the backup: a row, a database, an account.
	rootSQL(t, sb, 0, strings.NewReader("INSERT INTO "+schema+".flavors VALUES (3, 'after the backup', 8);\n"+
		"CREATE DATABASE "+after+"; CREATE TABLE "+after+".t (id INT PRIMARY KEY); INSERT INTO "+after+".t VALUES (1);\n"+
		"CREATE USER ocb_lr_late@'%' IDENTIFIED BY 'x';\n"))
	stamp := time.Now().UTC().Format(restoreplan.StampLayout)

	cfg := clusterConfig(t, sb, backup.Dir, stamp)
	res, secs := runClusterRestore(t, sb, cfg, "initialise", "start-galera", "import")
	promotedIn, importSecs := secs["start-galera"], secs["import"]
	var sqlBytes int64
	for _, f := range m.Files {
		if strings.HasPrefix(f.Name, "databases.sql") {
			sqlBytes = f.UncompressedBytes
		}
	}
	// The room the loaded data takes, against its SQL: what check-space's factor stands for.
	du, err := sb.InController(0, "du", "-sb", "--", sb.ClusterDatadir())
	var onDisk int64
	if f := strings.Fields(string(du)); err == nil && len(f) > 0 {
		onDisk, _ = strconv.ParseInt(f[0], 10, 64)
	}
	t.Logf("measured: galera Promoted on every node %.1f s after target-role Started; %d MiB of SQL imported in %.1f s "+
		"(%.1f MiB/s); the datadir then holds %d MiB (%.2f× the SQL); the whole restore %.1f s", promotedIn, res.Bytes>>20,
		importSecs, float64(res.Bytes)/(1<<20)/importSecs, onDisk>>20, float64(onDisk)/float64(max(sqlBytes, 1)), res.Seconds)
	if len(res.Proofs) != 3 || res.Tables != len(m.Tables) || !res.Users {
		t.Fatalf("proofs %+v, tables %d of %d, users %v", res.Proofs, res.Tables, len(m.Tables), res.Users)
	}
	for _, p := range res.Proofs {
		if !p.Equal || p.Tables != len(m.Tables) || p.Rows != res.Rows || p.Error != "" {
			t.Errorf("proof on %s: %+v", p.Node, p)
		}
	}
	if strings.Contains(string(res.Summary()), accountPassword) {
		t.Fatal("a password is in the result")
	}

	// What was written after the backup is gone on every node; the backup's rows and
	// accounts are there, and the account logs in on every node.
	checkClusterRestored(t, sb, schema, after, stamp)
	for i, n := range sb.Nodes {
		if c := count(t, sb, i, "SELECT COUNT(*) FROM mysql.global_priv WHERE user = 'ocb_lr_late'"); c != 0 {
			t.Errorf("%s: the account created after the backup is still there", n.Name)
		}
		mc := mysql.NewConfig()
		mc.User, mc.Passwd, mc.Net, mc.Addr = account, accountPassword, "tcp", sb.NodeAddr(i)
		mc.Timeout, mc.ReadTimeout = 5*time.Second, 30*time.Second
		mc.Logger = &mysql.NopLogger{}
		c, err := mysql.NewConnector(mc)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		var instances int
		if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+schema+".instances").Scan(&instances); err != nil || instances < 5000 {
			t.Errorf("%s: the backup's account %s: %d instances, %v", n.Name, account, instances, err)
		}
		_ = db.Close()
	}
	// The cluster keeps its identity: the backup's, at or past its seqno.
	st := status(t, sb, 0)
	if st.ClusterStateUUID != m.Position.ClusterUUID {
		t.Errorf("the cluster is %s after the restore, the backup's was %s", st.ClusterStateUUID, m.Position.ClusterUUID)
	}
}

// runClusterRestore runs the restore, the cluster put back as the next test expects it
// whatever happens, and wants every step done in order: the checks, galera stopped, every
// datadir kept aside, then the method's steps (between), galera started when they do not,
// the position read and every node proven. It returns each step's seconds.
func runClusterRestore(t *testing.T, sb *sandbox.Sandbox, cfg agent.ClusterRestoreConfig, between ...string) (
	agent.RestoreResult, map[string]float64) {
	t.Helper()
	var res agent.RestoreResult
	t.Cleanup(func() {
		sb.CleanupClusterRestore(t, cfg.Cluster.Stamp, func() bool {
			return slices.ContainsFunc(res.Steps, func(s agent.StepRecord) bool { return s.Name == "start-galera" && s.OK })
		})
	})
	res, err := agent.RestoreCluster(t.Context(), cfg)
	t.Logf("restore-cluster: %s", res.Summary())
	if err != nil {
		t.Fatalf("restore-cluster: %v", err)
	}
	if strings.Contains(string(res.Summary()), cfg.Password) {
		t.Fatal("the password is in the result")
	}
	want := []string{"check-backup", "check-cluster", "check-space", "check-space", "check-space", "stop-galera",
		"keep-aside-controller-0", "keep-aside-controller-1", "keep-aside-controller-2"}
	want = append(want, between...)
	if !slices.Contains(between, "start-galera") {
		want = append(want, "start-galera")
	}
	want = append(want, "read-position", "prove-controller-0", "prove-controller-1", "prove-controller-2")
	if len(res.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(res.Steps), len(want))
	}
	secs := map[string]float64{}
	for i, s := range res.Steps {
		if s.Name != want[i] || !s.OK || s.End.Before(s.Start) {
			t.Errorf("step %d: %+v, want %s done", i, s, want[i])
		}
		secs[s.Name] += s.End.Sub(s.Start).Seconds()
	}
	return res, secs
}

// checkClusterRestored: the backup's rows of schema on every node, the database after
// (created after the backup) on none, galera Promoted on all three by crm_mon, a client
// through the VIP reading the restored data, and each node's previous datadir kept aside
// (with its InnoDB system tablespace).
func checkClusterRestored(t *testing.T, sb *sandbox.Sandbox, schema, after, stamp string) {
	t.Helper()
	for i, n := range sb.Nodes {
		if c := count(t, sb, i, "SELECT COUNT(*) FROM "+schema+".flavors"); c != 2 {
			t.Errorf("%s: %d flavors, want the backup's 2", n.Name, c)
		}
		if c := count(t, sb, i, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '"+after+"'"); c != 0 {
			t.Errorf("%s: the database created after the backup is still there", n.Name)
		}
	}
	st, err := sb.CrmStatus()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sb.Nodes {
		if g := st.GaleraOn(n.Name); !g.Promoted() {
			t.Errorf("%s: galera %+v, want Promoted", n.Name, g)
		}
	}
	vip := sb.Open(t, sb.HAProxy.Frontend)
	defer func() { _ = vip.Close() }()
	var instances int
	if err := vip.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+schema+".instances").Scan(&instances); err != nil || instances < 5000 {
		t.Errorf("through the VIP %s: %d instances, %v", sb.HAProxy.Frontend, instances, err)
	}
	for i := range sb.Nodes {
		if _, err := os.Stat(filepath.Join(sb.AsideDir(i, stamp), "ibdata1")); err != nil {
			t.Errorf("%s: the previous datadir is not kept aside: %v", sb.Nodes[i].Name, err)
		}
	}
}

// dumpRead takes a backup with the agent's code and reads its manifest.
func dumpRead(t *testing.T, cfg agent.Config) (agent.Result, *agent.Manifest) {
	t.Helper()
	backup, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	m, err := agent.ReadManifest(backup.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return backup, m
}
