package agent

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/pacemaker"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/remote"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

// ClusterRestoreConfig is `agent restore-cluster`: a backup restored onto every node of
// the Galera cluster (WholeCluster): galera stopped through Pacemaker, every node's
// datadir kept aside, then
//   - a physical backup: its xbstream copied into the first node's empty datadir and
//     prepared there, at the backup's position; galera started through Pacemaker, which
//     bootstraps from that node (the only one with data) while the others join by SST;
//   - a logical backup: a new server initialised in the first node's empty datadir;
//     galera started through Pacemaker, which bootstraps a new cluster from it while the
//     others join by SST; the backup's SQL, then its users and grants, streamed over SSH
//     into that node's client, Galera replicating them;
//
// and every node proven against the backup's table digests. Every command run on a node
// is restoreplan.Cluster's: the plan shows exactly what runs.
type ClusterRestoreConfig struct {
	// Dir is the backup's directory (read only).
	Dir string
	// Nodes are every node of the cluster, by their Pacemaker names, with the host their
	// sshd listens on; the first is the one the backup is restored onto.
	Nodes []ClusterNode
	// ProveNodes are the nodes whose databases are dumped and compared with the backup's
	// digests once galera is Promoted everywhere (their MySQL endpoints).
	ProveNodes []NodeAddress
	// SSH reaches the nodes: SSHUser, SSHPort, KeyFile, KnownHostsFile, SSHTimeout (as
	// `agent dump --method=Mariabackup`; Command is not used).
	SSH PhysicalConfig
	// Cluster is the galera resource, the datadir, the stamp, the bundle and its image.
	Cluster restoreplan.Cluster
	// VIP and VIPResource name the database VIP whose start ends the wait for galera
	// (VIPResource empty: ip-<VIP>); both empty: no VIP is waited for.
	VIP, VIPResource string
	// User and Password log in to the nodes for the proof: an account of the backup (the
	// restored grant tables are the backup's), which may dump every database.
	User, Password string
	// TLS encrypts (and verifies) the proof's connections; nil: the tools' defaults.
	TLS *TLSOptions
	// Headroom multiplies the backup's data (its uncompressed xbstream; for a logical
	// backup, the room its SQL takes loaded into InnoDB, as the drill reckons it:
	// scratchNeeded) to give the space a node needs (default 1.25: the redo log
	// --prepare and the server write); MinFree is what must remain free besides.
	Headroom float64
	MinFree  int64
	// StopTimeout bounds the wait for galera Stopped everywhere (default 10 min),
	// StartTimeout the wait for galera Promoted everywhere, SSTs included (default 30
	// min), CommandTimeout each short command on a node (default 2 min), StepTimeout the
	// copy and the prepare, and each node's proving dump (default 2 h).
	StopTimeout, StartTimeout, CommandTimeout, StepTimeout time.Duration
	// Poll is how often crm_mon is read while waiting (default 2 s).
	Poll time.Duration
	// ConnectTimeout, QueryTimeout and CatchUpTimeout are the proof's, as RestoreConfig's.
	ConnectTimeout, QueryTimeout, CatchUpTimeout time.Duration
	// DumpTool is mariadb-dump (default: on PATH); TempDir holds the proof's client
	// sessions (default os.TempDir()).
	DumpTool, TempDir string
	// Log receives each step as it starts and ends, and the full error (default
	// os.Stderr). Never a password.
	Log io.Writer
}

// ClusterNode is one node of a WholeCluster restore.
type ClusterNode struct {
	Name    string `json:"name"`
	SSHHost string `json:"sshHost"`
}

// DefaultHeadroom is ClusterRestoreConfig.Headroom's default.
const DefaultHeadroom = 1.25

func (cfg ClusterRestoreConfig) withDefaults() (ClusterRestoreConfig, error) {
	cfg.Headroom = cmp.Or(cfg.Headroom, DefaultHeadroom)
	cfg.StopTimeout = cmp.Or(cfg.StopTimeout, 10*time.Minute)
	cfg.StartTimeout = cmp.Or(cfg.StartTimeout, 30*time.Minute)
	cfg.CommandTimeout = cmp.Or(cfg.CommandTimeout, 2*time.Minute)
	cfg.StepTimeout = cmp.Or(cfg.StepTimeout, 2*time.Hour)
	cfg.Poll = cmp.Or(cfg.Poll, 2*time.Second)
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, 5*time.Second)
	cfg.QueryTimeout = cmp.Or(cfg.QueryTimeout, 30*time.Second)
	cfg.CatchUpTimeout = cmp.Or(cfg.CatchUpTimeout, 5*time.Minute)
	cfg.DumpTool = cmp.Or(cfg.DumpTool, "mariadb-dump")
	cfg.Cluster = cfg.Cluster.WithDefaults()
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if cfg.Headroom < 1 || cfg.MinFree < 0 {
		return cfg, fmt.Errorf("headroom %.2f below 1, or a negative minimum free space", cfg.Headroom)
	}
	if err := cfg.Cluster.Check(); err != nil {
		return cfg, err
	}
	if len(cfg.Nodes) == 0 {
		return cfg, errors.New("no node to restore onto")
	}
	seen := map[string]bool{}
	for i, n := range cfg.Nodes {
		if n.Name == "" || n.SSHHost == "" || strings.HasPrefix(n.SSHHost, "-") || seen[n.Name] {
			return cfg, fmt.Errorf("node #%d of %d needs a name of its own and an SSH host", i+1, len(cfg.Nodes))
		}
		seen[n.Name] = true
	}
	if len(cfg.ProveNodes) == 0 {
		return cfg, errors.New("no node to prove the restore on")
	}
	for i, n := range cfg.ProveNodes {
		if n.Name == "" || n.Address == "" || n.Port <= 0 {
			return cfg, fmt.Errorf("proving node #%d of %d needs a name, an address and a port", i+1, len(cfg.ProveNodes))
		}
	}
	if err := checkCredential("user name", cfg.User); err != nil {
		return cfg, err
	}
	if err := checkCredential("password", cfg.Password); err != nil {
		return cfg, err
	}
	if cfg.SSH.SSHPort < 0 || cfg.SSH.SSHPort > 65535 {
		return cfg, fmt.Errorf("ssh port %d is not a port", cfg.SSH.SSHPort)
	}
	return cfg, nil
}

// proofConfig is the RestoreConfig the shared proof (prove) takes.
func (cfg ClusterRestoreConfig) proofConfig() RestoreConfig {
	return RestoreConfig{User: cfg.User, Password: cfg.Password, TLS: cfg.TLS, ProveNodes: cfg.ProveNodes,
		ConnectTimeout: cfg.ConnectTimeout, QueryTimeout: cfg.QueryTimeout, StepTimeout: cfg.StepTimeout,
		CatchUpTimeout: cfg.CatchUpTimeout, DumpTool: cfg.DumpTool, TempDir: cfg.TempDir, Log: cfg.Log}
}

// RestoreCluster runs the WholeCluster restore. The result records every step; an error
// names the step that failed, says in plain words whether galera is left stopped, each
// node's state (galera's role, its datadir kept aside or not) and the commands that
// finish or roll back by hand.
func RestoreCluster(ctx context.Context, cfg ClusterRestoreConfig) (RestoreResult, error) {
	start := time.Now()
	res := RestoreResult{}
	if len(cfg.Nodes) > 0 {
		res.Node = clipBytes(cfg.Nodes[0].Name, 64)
	}
	err := restoreCluster(ctx, cfg, &res)
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		return res, err
	}
	return res, nil
}

// clusterRun is one restore-cluster as it runs: what it did so far, for the failure's
// account.
type clusterRun struct {
	cfg    ClusterRestoreConfig
	res    *RestoreResult
	runner *remote.Runner
	// stopAsked and startAsked: target-role Stopped, then Started, were set.
	stopAsked, startAsked, promoted bool
	// aside are the nodes whose datadir was moved aside.
	aside map[string]bool
}

func restoreCluster(ctx context.Context, cfg ClusterRestoreConfig, res *RestoreResult) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return boundedError{err}
	}
	x := &clusterRun{cfg: cfg, res: res, aside: map[string]bool{}}
	b, err := x.checkBackup(ctx)
	if err != nil {
		return err
	}
	if x.runner, err = cfg.SSH.runner(); err != nil {
		return x.fail(ctx, "check-backup", "", err)
	}
	defer x.runner.Close()
	if err := x.checkCluster(ctx); err != nil {
		return err
	}
	if err := x.checkSpace(ctx, b); err != nil {
		return err
	}
	if err := x.replace(ctx, b); err != nil {
		return err
	}
	return x.prove(ctx, b)
}

// restoredBackup is what the steps take from the backup.
type restoredBackup struct {
	m *Manifest
	// xb and grastate: a physical backup's stream and position; data and users: a logical
	// backup's SQL files.
	xb          *FileInfo
	grastate    []byte
	data, users *FileInfo
	dbs         []string
	// bytes is the data the nodes take in (the uncompressed xbstream, or the room the
	// logical backup's SQL takes once loaded: scratchNeeded), before Headroom.
	bytes int64
}

func (b *restoredBackup) logical() bool { return b.data != nil }

// checkBackup: the backup whole, with digests; physical with a Galera position, or
// logical with its SQL readable to the end and its users.
func (x *clusterRun) checkBackup(ctx context.Context) (*restoredBackup, error) {
	b := &restoredBackup{}
	if err := x.step("check-backup", "", func() (string, error) {
		var err error
		if b, err = clusterRestorable(ctx, x.cfg.Dir); err != nil {
			return "", err
		}
		if b.dbs, err = chooseRestored(b.m, nil); err != nil {
			return "", err
		}
		if b.logical() {
			if _, err := readThrough(ctx, x.cfg.Dir, *b.data, b.dbs); err != nil {
				return "", fmt.Errorf("reading the dump through before anything is stopped: %w", err)
			}
			return fmt.Sprintf("%s: %d MiB of SQL, %d databases, %d tables with digests; %s", b.data.Name,
				b.data.UncompressedBytes>>20, len(b.dbs), len(b.m.Tables), b.users.Name), nil
		}
		return fmt.Sprintf("%s: %d MiB of data, seqno %d, %d tables with digests", b.xb.Name, b.xb.UncompressedBytes>>20,
			b.m.Position.Seqno, len(b.m.Tables)), nil
	}); err != nil {
		return nil, x.fail(ctx, "check-backup", "", err)
	}
	for _, t := range b.m.Tables {
		x.res.Tables++
		x.res.Rows += t.Rows
	}
	return b, nil
}

// checkCluster: Pacemaker has quorum, manages the cluster, and every node named is one of
// its nodes, online, neither in standby nor in maintenance (a name Pacemaker does not
// know would read as galera Stopped there, whatever runs).
func (x *clusterRun) checkCluster(ctx context.Context) error {
	first := x.cfg.Nodes[0]
	if err := x.step("check-cluster", first.Name, func() (string, error) {
		st, err := x.status(ctx)
		if err != nil {
			return "", err
		}
		if problem := clusterProblem(st, x.cfg.Nodes); problem != "" {
			return x.roles(st), errors.New(problem)
		}
		return x.roles(st), nil
	}); err != nil {
		return x.fail(ctx, "check-cluster", first.Name, err)
	}
	return nil
}

// clusterProblem says why Pacemaker could not run the restore, "" when it can. Pure.
func clusterProblem(st *pacemaker.Status, nodes []ClusterNode) string {
	switch {
	case !st.WithQuorum:
		return "Pacemaker has no quorum"
	case st.MaintenanceMode:
		return "the cluster is in maintenance mode: Pacemaker would not stop or start galera"
	case st.StopAllResources:
		return "the cluster property stop-all-resources is set"
	}
	for _, n := range nodes {
		pn, ok := st.Node(n.Name)
		name := clipBytes(n.Name, 64)
		switch {
		case !ok:
			return fmt.Sprintf("%q is not a Pacemaker node (give each node by its Pacemaker name)", name)
		case !pn.Online || pn.Unclean || pn.Pending:
			return fmt.Sprintf("%s is not online in Pacemaker: galera could not be restored there", name)
		case pn.Standby || pn.StandbyOnFail || pn.Maintenance:
			return fmt.Sprintf("%s is in standby or maintenance: galera would not start there", name)
		}
	}
	return ""
}

// checkSpace: room on every node, before anything is touched.
func (x *clusterRun) checkSpace(ctx context.Context, b *restoredBackup) error {
	need := int64(float64(b.bytes)*x.cfg.Headroom) + x.cfg.MinFree
	for _, n := range x.cfg.Nodes {
		if err := x.step("check-space", n.Name, func() (string, error) {
			out, err := x.run(ctx, n, x.cfg.Cluster.FreeSpace(), nil, x.cfg.CommandTimeout)
			if err != nil {
				return out, err
			}
			return out, checkNodeSpace(out, need, b.bytes, x.cfg)
		}); err != nil {
			return x.fail(ctx, "check-space", n.Name, err)
		}
	}
	return nil
}

// replace stops galera, keeps every datadir aside, copies the backup into the first
// node's, and starts galera again from it.
func (x *clusterRun) replace(ctx context.Context, b *restoredBackup) error {
	cfg, first := x.cfg, x.cfg.Nodes[0]
	// Galera stopped on every node, no server left running.
	if err := x.step("stop-galera", first.Name, func() (string, error) {
		out, err := x.run(ctx, first, cfg.Cluster.TargetRole("Stopped"), nil, cfg.CommandTimeout)
		x.stopAsked = asked(err)
		if err != nil {
			return out, err
		}
		return x.waitStopped(ctx)
	}); err != nil {
		return x.fail(ctx, "stop-galera", first.Name, err)
	}
	// Every datadir kept aside, an empty one in its place.
	for _, n := range cfg.Nodes {
		if err := x.step("keep-aside-"+n.Name, n.Name, func() (string, error) {
			if out, err := x.run(ctx, n, cfg.Cluster.MoveAside(), nil, cfg.CommandTimeout); err != nil {
				return out, err
			}
			x.aside[n.Name] = true
			if out, err := x.run(ctx, n, cfg.Cluster.MakeEmpty(), nil, cfg.CommandTimeout); err != nil {
				return out, err
			}
			return x.run(ctx, n, cfg.Cluster.Own(), nil, cfg.CommandTimeout)
		}); err != nil {
			return x.fail(ctx, "keep-aside-"+n.Name, n.Name, err)
		}
	}
	if b.logical() {
		if err := x.initialise(ctx, b); err != nil {
			return err
		}
	} else if err := x.copyPhysical(ctx, b); err != nil {
		return err
	}
	// Galera started: bootstrapped from the first node, the others by SST.
	if err := x.step("start-galera", first.Name, func() (string, error) {
		out, err := x.run(ctx, first, cfg.Cluster.TargetRole("Started"), nil, cfg.CommandTimeout)
		x.startAsked = asked(err)
		if err != nil {
			return out, err
		}
		return x.waitPromoted(ctx)
	}); err != nil {
		return x.fail(ctx, "start-galera", first.Name, err)
	}
	x.promoted = true
	if b.logical() {
		return x.importLogical(ctx, b)
	}
	return nil
}

// copyPhysical copies the backup's xbstream into the first node's datadir, prepares it,
// and writes its grastate.dat at the backup's position, safe to bootstrap.
func (x *clusterRun) copyPhysical(ctx context.Context, b *restoredBackup) error {
	cfg, first := x.cfg, x.cfg.Nodes[0]
	// The copy into the first node's datadir, prepared.
	if err := x.step("copy-back", first.Name, func() (string, error) {
		out, err := x.copyBack(ctx, first, *b.xb)
		if err != nil {
			return out, err
		}
		if out, err = x.run(ctx, first, cfg.Cluster.Prepare(), nil, cfg.StepTimeout); err != nil {
			return out, err
		}
		if !strings.Contains(out, "completed OK!") {
			return out, errors.New("mariadb-backup --prepare exited 0 without saying it completed OK")
		}
		want := fmt.Sprintf("%s:%d", b.m.Position.ClusterUUID, b.m.Position.Seqno)
		if m := recoveredPosition.FindStringSubmatch(out); m != nil && m[1] != want {
			return out, fmt.Errorf("the prepared copy is at %s, and the manifest at %s", m[1], want)
		}
		return out, nil
	}); err != nil {
		return x.fail(ctx, "copy-back", first.Name, err)
	}
	// grastate.dat at the backup's position, safe to bootstrap; the mysql owner.
	if err := x.step("write-grastate", first.Name, func() (string, error) {
		if out, err := x.run(ctx, first, cfg.Cluster.WriteGrastate(), bytes.NewReader(b.grastate), cfg.CommandTimeout); err != nil {
			return out, err
		}
		return x.run(ctx, first, cfg.Cluster.Own(), nil, cfg.CommandTimeout)
	}); err != nil {
		return x.fail(ctx, "write-grastate", first.Name, err)
	}
	return nil
}

// initialise makes the first node's empty datadir a new server's, safe to bootstrap a new
// cluster from: the logical restore's start.
func (x *clusterRun) initialise(ctx context.Context, b *restoredBackup) error {
	cfg, first := x.cfg, x.cfg.Nodes[0]
	if err := x.step("initialise", first.Name, func() (string, error) {
		out, err := x.run(ctx, first, cfg.Cluster.Initialise(), nil, cfg.StepTimeout)
		if err != nil {
			return out, err
		}
		if out, err := x.run(ctx, first, cfg.Cluster.WriteGrastate(), bytes.NewReader(b.grastate), cfg.CommandTimeout); err != nil {
			return out, err
		}
		if out, err := x.run(ctx, first, cfg.Cluster.Own(), nil, cfg.CommandTimeout); err != nil {
			return out, err
		}
		return out, nil
	}); err != nil {
		return x.fail(ctx, "initialise", first.Name, err)
	}
	return nil
}

// importLogical streams the backup's SQL, then its users and grants, into the client on
// the first node, as its root over the unix socket (the new server's only account). The
// client's words are never kept: users.sql may quote a password hash.
func (x *clusterRun) importLogical(ctx context.Context, b *restoredBackup) error {
	first := x.cfg.Nodes[0]
	err := x.step("import", first.Name, func() (string, error) {
		start := time.Now()
		var total int64
		for _, f := range []*FileInfo{b.data, b.users} {
			n, err := x.importFile(ctx, first, *f)
			total += n
			x.res.Bytes = total
			if err != nil {
				return "", fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		secs := time.Since(start).Seconds()
		x.res.Databases = make([]string, 0, len(b.dbs))
		for _, d := range b.dbs {
			x.res.Databases = append(x.res.Databases, quoteName(d))
		}
		x.res.Users = true
		_, _ = fmt.Fprintf(x.cfg.Log, "Imported %d MiB of SQL through %s in %.1f s (%.1f MiB/s)\n", total>>20,
			clipBytes(first.Name, 64), secs, float64(total)/(1<<20)/max(secs, 0.001))
		return fmt.Sprintf("%d bytes of SQL in %.1f s: %d databases, users and grants", total, secs, len(b.dbs)), nil
	})
	if err != nil {
		return x.fail(ctx, "import", first.Name, err)
	}
	return nil
}

// importFile streams one SQL file of the backup, decompressed here, into Import on the
// node; users.sql's grant of mariadb-dump's import role names root@localhost, the
// importing account (the other nodes apply CURRENT_USER() with no user: docs/restore.md).
func (x *clusterRun) importFile(ctx context.Context, n ClusterNode, f FileInfo) (int64, error) {
	r, closeData, err := openData(x.cfg.Dir, f)
	if err != nil {
		return 0, fmt.Errorf("opening it: %w", err)
	}
	defer closeData()
	src := io.Reader(&ctxReader{ctx: ctx, r: r})
	in := src
	if f.Name == "users.sql" || strings.HasPrefix(f.Name, "users.sql.") {
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(replaceLine(pw, src, importRoleLine, "GRANT mariadb_dump_import_role TO 'root'@'localhost';"))
		}()
		defer func() { _ = pr.Close() }()
		in = pr
	}
	counted := &countingReader{r: in}
	// Of the client's output only the server's error code and line are kept: its words may
	// quote the statement that failed.
	out, err := x.run(ctx, n, x.cfg.Cluster.Import(), counted, x.cfg.StepTimeout)
	if err != nil {
		return counted.n.Load(), fmt.Errorf("%w%s", err, clientErrorOf([]byte(out), func(l int64) int64 { return l }))
	}
	return counted.n.Load(), nil
}

// prove proves every node against the backup's digests, at the restored node's position.
func (x *clusterRun) prove(ctx context.Context, b *restoredBackup) error {
	first := x.cfg.Nodes[0]
	pcfg := x.cfg.proofConfig()
	var target *Position
	if err := x.step("read-position", first.Name, func() (string, error) {
		n := x.cfg.ProveNodes[0]
		for _, p := range x.cfg.ProveNodes {
			if p.Name == first.Name {
				n = p
			}
		}
		db, err := open(pcfg.session(n.Name, n.Address, n.Port), net.JoinHostPort(n.Address, strconv.Itoa(n.Port)))
		if err != nil {
			return "", err
		}
		defer func() { _ = db.Close() }()
		if target, err = position(ctx, db, x.cfg.QueryTimeout); err != nil {
			return "", fmt.Errorf("reading %s's position: %s", clipBytes(n.Name, 64), sqlError(err))
		}
		want := b.m.Position
		if want == nil {
			// A logical backup with no position: a new cluster, its own uuid.
			return fmt.Sprintf("%s:%d (a new cluster)", target.ClusterUUID, target.Seqno), nil
		}
		if target.ClusterUUID != want.ClusterUUID || target.Seqno < want.Seqno {
			return "", fmt.Errorf("%s is at %q:%d, not at or past the backup's %s:%d", clipBytes(n.Name, 64),
				clipBytes(target.ClusterUUID, 40), target.Seqno, want.ClusterUUID, want.Seqno)
		}
		return fmt.Sprintf("%s:%d", target.ClusterUUID, target.Seqno), nil
	}); err != nil {
		return x.fail(ctx, "read-position", first.Name, err)
	}
	for _, n := range x.cfg.ProveNodes {
		c := pcfg
		c.ProveNodes = []NodeAddress{n}
		if err := x.step("prove-"+n.Name, n.Name, func() (string, error) {
			proofs, failed := proveAll(ctx, c, target, b.dbs, b.m.Tables, nil)
			x.res.Proofs = append(x.res.Proofs, proofs...)
			if failed > 0 {
				p := proofs[0]
				return "", fmt.Errorf("not what the backup recorded: %s", cmp.Or(p.Error, strings.Join(p.Differences, "; ")))
			}
			return fmt.Sprintf("%d tables, %d rows equal to the manifest's", proofs[0].Tables, proofs[0].Rows), nil
		}); err != nil {
			return x.fail(ctx, "prove-"+n.Name, n.Name, err)
		}
	}
	return nil
}

// clusterRestorable reads and verifies the backup, and says why it cannot be restored
// whole: a physical backup needs its xbstream and Galera position, a logical one its SQL
// and its users (without them, no account but root could log in to the new cluster).
func clusterRestorable(ctx context.Context, dir string) (*restoredBackup, error) {
	m, err := Verify(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("the backup's files: %w", err)
	}
	if m.Options.Method != Mariabackup && m.Options.Method != Logical {
		return nil, fmt.Errorf("a %q backup: only a physical (Mariabackup) or logical backup restores whole",
			clipBytes(m.Options.Method, 32))
	}
	if m.TablesError != "" || len(m.Tables) == 0 {
		return nil, errors.New("the manifest records no table digests (a backup taken without --no-lock): " +
			"the restored cluster could not be proven, and a restore without its proof is not built")
	}
	b := &restoredBackup{m: m}
	if m.Options.Method == Logical {
		if b.data = m.file("databases.sql"); b.data == nil {
			return nil, errors.New("the backup holds no databases.sql")
		}
		if b.users = m.file("users.sql"); b.users == nil {
			return nil, errors.New("the backup holds no users.sql: restored whole, the new cluster would have no account " +
				"but the nodes' root (take backups with users, the default)")
		}
		// The room a load into InnoDB takes, as the drill reckons it (restoreFactor).
		b.bytes = scratchNeeded(m)
		if p := m.Position; p != nil {
			b.grastate = restoreplan.InitialGrastate(p.ClusterUUID, p.Seqno)
		} else {
			b.grastate = restoreplan.InitialGrastate("", -1)
		}
		return b, nil
	}
	if b.xb = m.file(PhysicalFile); b.xb == nil {
		return nil, errors.New("the backup holds no " + PhysicalFile)
	}
	if m.Position == nil {
		return nil, errors.New("the manifest records no Galera position")
	}
	if b.grastate, err = restoreplan.GrastateContent(m.Position.ClusterUUID, m.Position.Seqno); err != nil {
		return nil, fmt.Errorf("the manifest's position %q:%d: %w", clipBytes(m.Position.ClusterUUID, 40), m.Position.Seqno, err)
	}
	b.bytes = b.xb.UncompressedBytes
	return b, nil
}

// checkNodeSpace reads `df -Pk -- PARENT DATADIR` (POSIX: a header, then one line per operand:
// filesystem, 1024-blocks, used, available, capacity, mount point): the parent's
// filesystem must have need bytes available, and the datadir must be on it (a rename keeps
// it aside). Pure.
func checkNodeSpace(out string, need, data int64, cfg ClusterRestoreConfig) error {
	avail, mount, err := parseDF(out, 2)
	if err != nil {
		return err
	}
	if mount[0] != mount[1] {
		return fmt.Errorf("the datadir %s is a filesystem of its own (mounted on %q, its parent on %q): it cannot be kept "+
			"aside by a rename; not built", cfg.Cluster.Datadir, bounded(mount[1], 80), bounded(mount[0], 80))
	}
	if avail[0] < need {
		return fmt.Errorf("%d MiB free on %s, and the restore needs %d MiB (the backup's %d MiB of data × %.2f headroom + %d MiB "+
			"to keep free): nothing was changed", avail[0]>>20, cfg.Cluster.Parent(), need>>20, data>>20, cfg.Headroom, cfg.MinFree>>20)
	}
	return nil
}

// step runs one step, recorded in the result and the log.
func (x *clusterRun) step(name, node string, f func() (string, error)) error {
	rec := StepRecord{Name: name, Node: clipBytes(node, 64), Start: time.Now().UTC().Truncate(time.Millisecond)}
	_, _ = fmt.Fprintf(x.cfg.Log, "Step %s%s: started\n", name, onNode(node))
	out, err := f()
	rec.End = time.Now().UTC().Truncate(time.Millisecond)
	rec.OK = err == nil
	rec.Output = tailBounded(out, 400)
	if err != nil {
		rec.Error = bounded(err.Error(), 400)
		logOutput(x.cfg.Log, "Step "+name+onNode(node), []byte(out))
	}
	_, _ = fmt.Fprintf(x.cfg.Log, "Step %s%s: %s in %.1f s\n", name, onNode(node), map[bool]string{true: "done", false: "FAILED"}[rec.OK],
		rec.End.Sub(rec.Start).Seconds())
	x.res.Steps = append(x.res.Steps, rec)
	return err
}

func onNode(node string) string {
	if node == "" {
		return ""
	}
	return " on " + clipBytes(node, 64)
}

// tailBounded is the end of s, at most n bytes of JSON, printable.
func tailBounded(s string, n int) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ")
	if len(s) > n {
		i := len(s) - n
		for i < len(s) && s[i]&0xC0 == 0x80 {
			i++
		}
		s = "…" + s[i:]
	}
	return bounded(s, n+8)
}

// run runs argv on the node over SSH, stdin streamed when not nil, within timeout, and
// returns the end of what it printed (stdout and stderr, at most 16 KiB).
func (x *clusterRun) run(ctx context.Context, n ClusterNode, argv []string, stdin io.Reader, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &tailWriter{n: 16 << 10}
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	err := x.runner.StreamFrom(ctx, n.SSHHost, x.cfg.SSH.SSHPort, restoreplan.Shell(argv), stdin, out, out)
	if err != nil {
		var exit *remote.ExitError
		if errors.As(err, &exit) {
			return out.String(), &commandError{program: argv[cmdIndex(argv)], node: clipBytes(n.Name, 64), status: exit.Status,
				signal: exit.Signal}
		}
		return out.String(), fmt.Errorf("%s on %s: %w", argv[cmdIndex(argv)], clipBytes(n.Name, 64), err)
	}
	return out.String(), nil
}

// recoveredPosition is what mariadb-backup --prepare says of the prepared copy's position.
var recoveredPosition = regexp.MustCompile(`Recovered WSREP position: ([0-9a-f-]{36}:[0-9]{1,19})`)

// asked says whether a target-role command may have taken effect: anything but a command
// that ran and failed (an SSH session lost may have lost only the answer).
func asked(err error) bool {
	var ce *commandError
	return !errors.As(err, &ce)
}

// commandError is a command that ran on a node and failed; its words are in the step's
// output, not here.
type commandError struct {
	program, node, signal string
	status                int
}

func (e *commandError) Error() string {
	if e.signal != "" {
		return fmt.Sprintf("%s on %s was killed by signal %s", e.program, e.node, e.signal)
	}
	return fmt.Sprintf("%s on %s exited with status %d", e.program, e.node, e.status)
}

// cmdIndex is the index of the program in argv (after sudo -n).
func cmdIndex(argv []string) int {
	if len(argv) > 2 && argv[0] == "sudo" && argv[1] == "-n" {
		return 2
	}
	return 0
}

// copyBack streams the backup's xbstream, decompressed here, into Extract on the node.
func (x *clusterRun) copyBack(ctx context.Context, n ClusterNode, xb FileInfo) (string, error) {
	r, closeData, err := openData(x.cfg.Dir, xb)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", xb.Name, err)
	}
	defer closeData()
	counted := &countingReader{r: &ctxReader{ctx: ctx, r: r}}
	start := time.Now()
	out, err := x.run(ctx, n, x.cfg.Cluster.Extract(), counted, x.cfg.StepTimeout)
	got := counted.n.Load()
	x.res.Bytes = got
	secs := time.Since(start).Seconds()
	_, _ = fmt.Fprintf(x.cfg.Log, "Streamed %d MiB of %s into %s's datadir in %.1f s (%.1f MiB/s)\n", got>>20, xb.Name,
		clipBytes(n.Name, 64), secs, float64(got)/(1<<20)/max(secs, 0.001))
	if err != nil {
		return out, err
	}
	if got != xb.UncompressedBytes {
		return out, fmt.Errorf("mbstream took %d of the stream's %d bytes", got, xb.UncompressedBytes)
	}
	return fmt.Sprintf("%d bytes in %.1f s\n%s", got, secs, out), nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// tailWriter keeps the last n bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.n {
		b = b[len(b)-t.n:]
	}
	return string(b)
}

// status reads Pacemaker's state from the first node that answers.
func (x *clusterRun) status(ctx context.Context) (*pacemaker.Status, error) {
	hosts := make([]pacemaker.Host, len(x.cfg.Nodes))
	for i, n := range x.cfg.Nodes {
		hosts[i] = pacemaker.Host{Name: n.Name, Address: n.SSHHost, Port: x.cfg.SSH.SSHPort}
	}
	return pacemaker.Probe(ctx, x.runner, hosts, restoreplan.Shell(restoreplan.CrmMonCommand), pacemaker.ProbeOptions{
		Options:     pacemaker.Options{GaleraResource: x.cfg.Cluster.Resource, VIP: x.cfg.VIP, VIPResource: x.cfg.VIPResource},
		HostTimeout: 30 * time.Second,
	})
}

// roles is galera's role on every node, as crm_mon says.
func (x *clusterRun) roles(st *pacemaker.Status) string {
	b := make([]string, 0, len(x.cfg.Nodes))
	for _, n := range x.cfg.Nodes {
		g := st.GaleraOn(n.Name)
		r := string(g.Role)
		if g.Failed {
			r += " (failed)"
		}
		if g.Blocked {
			r += " (blocked)"
		}
		b = append(b, clipBytes(n.Name, 64)+" "+r)
	}
	return strings.Join(b, ", ")
}

// waitStopped waits, at most StopTimeout, until crm_mon shows galera Stopped on every node
// and no MariaDB server runs on any.
func (x *clusterRun) waitStopped(ctx context.Context) (string, error) {
	deadline := time.Now().Add(x.cfg.StopTimeout)
	for {
		done, last := x.stopped(ctx)
		if done {
			return "galera Stopped on every node, no mariadbd: " + last, nil
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("galera is not stopped everywhere after %s: %s", x.cfg.StopTimeout, last)
		}
		if err := sleepCtx(ctx, x.cfg.Poll); err != nil {
			return last, err
		}
	}
}

func (x *clusterRun) stopped(ctx context.Context) (bool, string) {
	st, err := x.status(ctx)
	if err != nil {
		return false, bounded(err.Error(), 300)
	}
	roles := x.roles(st)
	for _, n := range x.cfg.Nodes {
		if g := st.GaleraOn(n.Name); g.Role != pacemaker.RoleStopped {
			return false, roles
		}
	}
	for _, n := range x.cfg.Nodes {
		out, err := x.run(ctx, n, x.cfg.Cluster.Running(), nil, x.cfg.CommandTimeout)
		var exit *commandError
		switch {
		case err == nil:
			return false, fmt.Sprintf("%s; a MariaDB server still runs on %s (pid %s)", roles, clipBytes(n.Name, 64),
				bounded(strings.Join(strings.Fields(out), ","), 60))
		case errors.As(err, &exit) && exit.status == 1 && exit.signal == "":
			// pgrep: 1 is none running.
		default:
			return false, fmt.Sprintf("%s; %s", roles, bounded(err.Error(), 200))
		}
	}
	return true, roles
}

// waitPromoted waits, at most StartTimeout, until galera is Promoted on every node and the
// VIP (when named) is started.
func (x *clusterRun) waitPromoted(ctx context.Context) (string, error) {
	deadline := time.Now().Add(x.cfg.StartTimeout)
	start := time.Now()
	// When each node was first seen Promoted: the bootstrap, then each SST.
	seen := map[string]float64{}
	for {
		var last string
		st, err := x.status(ctx)
		if err != nil {
			last = bounded(err.Error(), 300)
		} else {
			last = x.roles(st)
			all := true
			for _, n := range x.cfg.Nodes {
				p := st.GaleraOn(n.Name).Promoted()
				if _, ok := seen[n.Name]; p && !ok {
					seen[n.Name] = time.Since(start).Seconds()
				}
				all = all && p
			}
			vipUp := x.cfg.VIP == "" && x.cfg.VIPResource == ""
			if st.VIP != nil {
				last += fmt.Sprintf("; VIP %s %s on %q", clipBytes(st.VIP.Resource, 64), st.VIP.Role, clipBytes(st.VIP.Node, 64))
				vipUp = st.VIP.Active && !st.VIP.Failed && st.VIP.Node != ""
			}
			if all && vipUp {
				firsts := make([]string, 0, len(x.cfg.Nodes))
				for _, n := range x.cfg.Nodes {
					firsts = append(firsts, fmt.Sprintf("%s %.0f s", clipBytes(n.Name, 64), seen[n.Name]))
				}
				return fmt.Sprintf("galera Promoted on every node %.1f s after target-role Started (first seen Promoted: %s): %s",
					time.Since(start).Seconds(), strings.Join(firsts, ", "), last), nil
			}
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("galera is not Promoted on every node with the VIP up after %s: %s", x.cfg.StartTimeout, last)
		}
		if err := sleepCtx(ctx, x.cfg.Poll); err != nil {
			return last, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// fail is the step's error, with what the cluster is left as and what to do by hand. It
// reads crm_mon once more (bounded, even when ctx has ended).
func (x *clusterRun) fail(ctx context.Context, step, node string, cause error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s: %s.", step, onNode(node), bounded(cause.Error(), 400))
	c := x.cfg.Cluster
	start := restoreplan.ByHand(c.TargetRole("Started"))
	roles := "unknown (crm_mon not read)"
	if x.runner != nil && x.stopAsked {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 45*time.Second)
		if st, err := x.status(sctx); err == nil {
			roles = x.roles(st)
		}
		cancel()
	}
	switch {
	case !x.stopAsked:
		b.WriteString(" Nothing was changed: galera runs as before.")
		return boundedError{errors.New(b.String())}
	case !x.startAsked:
		fmt.Fprintf(&b, " GALERA IS STOPPED (or stopping) on every node: its target-role is Stopped, and the database "+
			"serves no client until galera is started again. galera now: %s.", roles)
	case !x.promoted:
		fmt.Fprintf(&b, " galera was started again (target-role Started) but is not Promoted on every node: %s.", roles)
	default:
		fmt.Fprintf(&b, " galera runs (%s); the restore is not proven.", roles)
	}
	var moved, kept []string
	for _, n := range x.cfg.Nodes {
		if x.aside[n.Name] {
			moved = append(moved, clipBytes(n.Name, 64))
		} else {
			kept = append(kept, clipBytes(n.Name, 64))
		}
	}
	if len(moved) > 0 {
		fmt.Fprintf(&b, " Datadir kept aside at %s on %s", c.Aside(), strings.Join(moved, ", "))
		if len(kept) > 0 {
			fmt.Fprintf(&b, "; in place on %s", strings.Join(kept, ", "))
		}
		b.WriteString(".")
	} else {
		b.WriteString(" No datadir was moved.")
	}
	switch {
	case !x.promoted && len(moved) > 0:
		rb := c.RollBack()
		finish := fmt.Sprintf("run the plan's steps from %s on", step)
		if step == "copy-back" || step == "initialise" {
			// The first node's datadir holds a partial copy: it goes aside, an empty one in its place.
			finish = fmt.Sprintf("on %s %s and the plan's keep-aside commands after the mv, then run its steps from %s on",
				clipBytes(x.cfg.Nodes[0].Name, 64), restoreplan.ByHand(rb[0]), step)
		}
		fmt.Fprintf(&b, " To roll back by hand: on %s, %s (if the datadir exists) then %s; then on one node %s. "+
			"To finish instead, %s.", strings.Join(moved, ", "), restoreplan.ByHand(rb[0]),
			restoreplan.ByHand(rb[1]), start, finish)
	case x.promoted && len(moved) > 0:
		rb := c.RollBack()
		fmt.Fprintf(&b, " To roll back by hand: on one node %s, and wait until crm_mon shows galera Stopped everywhere; "+
			"then on %s, %s then %s; then on one node %s.", restoreplan.ByHand(c.TargetRole("Stopped")),
			strings.Join(moved, ", "), restoreplan.ByHand(rb[0]), restoreplan.ByHand(rb[1]), start)
	case !x.startAsked:
		fmt.Fprintf(&b, " To start galera again by hand, on one node: %s.", start)
	case !x.promoted:
		fmt.Fprintf(&b, " Pacemaker goes on trying; %s and `sudo pcs resource cleanup %s` show and clear its failures.",
			restoreplan.ByHand(restoreplan.CrmMonCommand), c.Resource)
	}
	_, _ = fmt.Fprintf(x.cfg.Log, "Restore-cluster failed: %s\n", b.String())
	return errors.New(b.String())
}
