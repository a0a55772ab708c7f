// Package restoreplan computes the plan of a restore: each step, the node it runs on or
// through, the exact command (secrets elided), and what is checked before and after it.
// The OvercloudRestore controller writes the plan to status before anything runs, and
// `restore plan` prints it for a person who restores by hand. Pure: no I/O, no clock.
package restoreplan

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Modes, as the API's spec.mode.
const (
	Databases    = "Databases"
	WholeCluster = "WholeCluster"
)

// Backup methods, as the API's dump.method.
const (
	Logical     = "Logical"
	Mariabackup = "Mariabackup"
)

// Password is what stands for a secret in a command.
const Password = "<password>"

// Input is what a plan is made from.
type Input struct {
	// Mode is Databases or WholeCluster.
	Mode string
	// Overcloud and Backup name the objects, for the descriptions.
	Overcloud, Backup string
	// Method made the backup; BackupPath is its directory on the backup volume, as the
	// restore Job mounts it (under /backup).
	Method, BackupPath string
	// BackupDatabases are the databases the backup holds (nil: not known here, the restore
	// Job checks against the manifest); Asked those the user chose (empty: all of them).
	BackupDatabases, Asked []string
	// Users also restores the backup's users and grants.
	Users bool
	// Node is the node a Databases restore goes through, and Address:Port its MySQL
	// endpoint; Nodes every node of the overcloud (name → address:port), proved after.
	Node, Address string
	Port          int
	Nodes         []Node
	// GaleraResource is Pacemaker's galera resource (galera-clone, galera-bundle);
	// Bundle says it is TripleO's container bundle, whose commands run in the galera image.
	GaleraResource string
	Bundle         bool
	// TLSMode and CAFile are how the restore Job reaches MariaDB (the Overcloud's
	// database.tls; "" for none), as `agent dump` does.
	TLSMode, CAFile string
	// ClusterUUID and Seqno are the backup's Galera position (WholeCluster writes them
	// to the restored node's grastate.dat).
	ClusterUUID string
	Seqno       int64
	// Stamp names the datadirs kept aside (…before-restore-<Stamp>): the time the restore
	// was confirmed (StampLayout), given by the caller (this package has no clock).
	Stamp string
	// Datadir is galera's datadir on every node (DefaultDatadir when empty); GaleraImage
	// the galera container image a bundle's MariaDB tools run in.
	Datadir, GaleraImage string
	// SSHUser and SSHPort reach the nodes (WholeCluster; empty and 0: the agent's defaults).
	SSHUser string
	SSHPort int
	// VIP and VIPResource are the database VIP and its Pacemaker resource (WholeCluster
	// waits for it; empty VIPResource: ip-<VIP>).
	VIP, VIPResource string
	// SpaceCheck says a Databases restore checks every node's free space over SSH
	// (SSHUser, SSHPort, Datadir) before anything is dropped; NoSpaceCheck says why not.
	SpaceCheck   bool
	NoSpaceCheck string
}

// Node is one node of the overcloud.
type Node struct {
	Name, Address string
	Port          int
}

// stepCheckSpace is the step that checks the nodes' free space.
const stepCheckSpace = "check-space"

// Step is one step of the plan (the API's RestoreStep).
type Step struct {
	Name, Node, Description, Command, Before, After string
}

// Plan is the restore's plan, and the databases it restores.
func Plan(in Input) ([]Step, []string, error) {
	switch in.Mode {
	case Databases, "":
		return databasesPlan(in)
	case WholeCluster:
		return wholeClusterPlan(in)
	}
	return nil, nil, fmt.Errorf("unknown restore mode %q (want %s or %s)", clip(in.Mode, 32), Databases, WholeCluster)
}

// Chosen is the databases a Databases restore brings back: those asked, each of which
// must be in the backup, or every one of the backup's.
func Chosen(backup, asked []string) ([]string, error) {
	if len(asked) == 0 {
		if len(backup) == 0 {
			return nil, errors.New("the backup holds no database")
		}
		return slices.Sorted(slices.Values(backup)), nil
	}
	var missing []string
	for _, a := range asked {
		if !slices.Contains(backup, a) {
			missing = append(missing, quote(a))
		}
	}
	if len(missing) > 0 {
		shown := missing[:min(len(missing), 5)]
		more := ""
		if len(missing) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
		}
		return nil, fmt.Errorf("%d of the %d databases asked for are not in the backup: %s%s",
			len(missing), len(asked), strings.Join(shown, ", "), more)
	}
	return slices.Sorted(slices.Values(asked)), nil
}

func databasesPlan(in Input) ([]Step, []string, error) {
	if in.Method != Logical {
		return nil, nil, fmt.Errorf("a Databases restore needs a logical backup; this one was made by %s "+
			"(restore it whole: mode WholeCluster)", clip(in.Method, 32))
	}
	// The controller does not read the backup volume: without the backup's list, the asked
	// databases are checked by the restore Job against the manifest, before it writes.
	dbs := slices.Sorted(slices.Values(in.Asked))
	if in.BackupDatabases != nil {
		var err error
		if dbs, err = Chosen(in.BackupDatabases, in.Asked); err != nil {
			return nil, nil, err
		}
	}
	if in.Node == "" {
		return nil, nil, errors.New("no idle, synced node to restore through")
	}
	var steps []Step
	steps = append(steps, Step{
		Name: "hold-backups",
		Description: fmt.Sprintf("Hold every backup and schedule of overcloud %s while the restore runs "+
			"(they wait with reason RestoreRunning); refuse if a backup of it is running", in.Overcloud),
		Before: "no backup Job of the overcloud is running",
		After:  "new backups of the overcloud wait",
	})
	cmd := append([]string{"overcloud-backup-operator"}, AgentArgs(in, dbs)...)
	steps = append(steps, Step{
		Name: "recheck-node", Node: in.Node,
		Description: "Re-check the node the restore goes through, in the restore Job, before anything is written",
		Before:      "the node is Synced, in the Primary component, not desynced, and HAProxy does not send clients to it",
	})
	if in.SpaceCheck {
		steps = append(steps, Step{
			Name: stepCheckSpace,
			Description: "On every node, over SSH, the free space of the datadir's filesystem against the room the restored " +
				"databases take in InnoDB (twice their SQL, less what they take now, with headroom); refuse before anything " +
				"is dropped when one is short",
			Command: Shell(in.Cluster().DatadirSpace()),
			After:   "every node has room",
		})
	} else {
		steps = append(steps, Step{
			Name: stepCheckSpace,
			Description: "Free space is not checked: " + cmp.Or(in.NoSpaceCheck, "no SSH access to the nodes") +
				" (SQL cannot see a node's file systems); make sure every node has room for the restored databases",
		})
	}
	if len(dbs) == 0 {
		steps = append(steps, Step{
			Name: "restore-databases", Node: in.Node,
			Description: fmt.Sprintf("Drop and load every database of the backup (its manifest lists them) through %s; "+
				"Galera replicates them to the other nodes. The OpenStack services using them must be stopped.", in.Node),
			Command: shellJoin(cmd),
			Before:  "every database is in the backup's manifest, with its tables' digests",
			After:   "the client exited 0 and each dump section ended",
		})
	}
	for i, d := range dbs {
		steps = append(steps, Step{
			Name: fmt.Sprintf("restore-database-%d", i+1), Node: in.Node,
			Description: fmt.Sprintf("Drop database %s and load it from the backup's databases.sql through %s; "+
				"Galera replicates it to the other nodes. The OpenStack services using it must be stopped.",
				quote(d), in.Node),
			Command: shellJoin(cmd),
			Before:  "the database is in the backup's manifest, with its tables' digests",
			After:   "the client exited 0 and the dump's section ended",
		})
	}
	if in.Users {
		steps = append(steps, Step{
			Name: "restore-users", Node: in.Node,
			Description: "Load the backup's users.sql (accounts, roles and grants; existing accounts are kept)",
			Command:     shellJoin(cmd),
			After:       "the client exited 0",
		})
	}
	for _, n := range in.Nodes {
		steps = append(steps, Step{
			Name: "prove-" + n.Name, Node: n.Name,
			Description: fmt.Sprintf("Dump the restored databases on %s once it has applied the restore, and "+
				"compare every table's rows and digest with the backup's manifest", n.Name),
			Command: shellJoin([]string{"mariadb-dump", "--host=" + n.Address, "--port=" + strconv.Itoa(n.Port),
				"--single-transaction", "--quick", "--routines", "--events", "--triggers", "--hex-blob", "--databases", "--"}) +
				" " + cmp.Or(shellJoin(dbs), "<every database of the backup>"),
			Before: "the node's wsrep_last_committed has reached the restore node's",
			After:  "every table equal to the manifest's",
		})
	}
	return steps, dbs, nil
}

// Where the restore Job mounts the backup volume and the restore account's Secret.
const (
	BackupMount      = "/backup"
	CredentialsMount = "/etc/overcloud-backup/restore-credentials" //nolint:gosec // G101: a mount path, not a credential
)

// AgentArgs are the arguments of `agent restore` for a Databases restore of dbs (empty:
// every database of the backup): what the restore Job runs, and what the plan shows.
func AgentArgs(in Input, dbs []string) []string {
	args := []string{"agent", "restore", BackupMount + "/" + in.BackupPath,
		"--node=" + in.Node, "--address=" + in.Address, "--port=" + strconv.Itoa(in.Port),
		"--credentials-dir=" + CredentialsMount}
	for _, d := range dbs {
		args = append(args, "--database="+d)
	}
	if in.Users {
		args = append(args, "--users")
	}
	if in.SpaceCheck {
		for _, n := range in.Nodes {
			args = append(args, "--space-node="+n.Name+"="+n.Address)
		}
		args = append(args, "--datadir="+in.Cluster().Datadir)
		if in.SSHUser != "" {
			args = append(args, "--ssh-user="+in.SSHUser)
		}
		if in.SSHPort != 0 {
			args = append(args, "--ssh-port="+strconv.Itoa(in.SSHPort))
		}
	}
	if in.TLSMode != "" {
		args = append(args, "--db-tls-mode="+in.TLSMode)
	}
	if in.CAFile != "" {
		args = append(args, "--db-ca-file="+in.CAFile)
	}
	for _, n := range in.Nodes {
		args = append(args, "--prove-node="+n.Name+"="+n.Address+":"+strconv.Itoa(n.Port))
	}
	return args
}

func wholeClusterPlan(in Input) ([]Step, []string, error) {
	if len(in.Nodes) == 0 {
		return nil, nil, errors.New("the overcloud has no nodes")
	}
	if in.Stamp == "" {
		return nil, nil, errors.New("no time stamp for the datadirs kept aside")
	}
	c := in.Cluster()
	if c.Bundle && c.Image == "" {
		c.Image = "galera-image" // checked as a word; shown as a placeholder
		if err := c.Check(); err != nil {
			return nil, nil, err
		}
		c.Image = "<galera image>"
	} else if err := c.Check(); err != nil {
		return nil, nil, err
	}
	first := in.Nodes[0].Name
	run := Shell
	steps := []Step{{
		Name:        "hold-backups",
		Description: fmt.Sprintf("Hold every backup and schedule of overcloud %s while the restore runs", in.Overcloud),
		Before:      "no backup Job of the overcloud is running",
	}}
	if in.Method != Mariabackup && in.Method != Logical {
		return nil, nil, fmt.Errorf("unknown backup method %q", clip(in.Method, 32))
	}
	data := "its uncompressed xbstream, with headroom"
	if in.Method == Logical {
		data = "twice its uncompressed SQL, for InnoDB's pages and indexes, and 200 MiB, with headroom"
	}
	steps = append(steps, Step{
		Name: "check-backup",
		Description: fmt.Sprintf("The restore Job verifies the backup (its files against the manifest, method %s, table digests "+
			"recorded) and runs every step below, each command exactly as shown, over SSH", in.Method),
		Command: run(append([]string{"overcloud-backup-operator"}, clusterAgentArgs(in, c)...)),
		After:   "the backup verifies",
	})
	steps = append(steps, Step{
		Name: "check-cluster", Node: first,
		Description: "Read Pacemaker's state: refuse before anything is touched unless the cluster has quorum, is not in " +
			"maintenance, and every node is an online Pacemaker node, neither in standby nor in maintenance",
		Command: run(CrmMonCommand),
		After:   "quorum; every node online",
	}, Step{
		Name: stepCheckSpace,
		Description: fmt.Sprintf("On every node, the free space of the filesystem holding %s against the backup's data "+
			"(%s); refuse before anything is touched when one is short", c.Parent(), data),
		Command: run(c.FreeSpace()),
		After:   "every node has room; the datadir is not a filesystem of its own (it is kept aside by a rename)",
	}, Step{
		Name:        "stop-galera",
		Node:        first,
		Description: "Stop galera on every node through Pacemaker (target-role Stopped: what `pcs resource disable` does)",
		Command:     run(c.TargetRole("Stopped")),
		Before:      "Pacemaker has quorum",
		After:       "galera is Stopped on every node (" + run(CrmMonCommand) + "); no mariadbd runs (" + run(c.Running()) + ")",
	})
	for _, n := range in.Nodes {
		steps = append(steps, Step{
			Name: "keep-aside-" + n.Name, Node: n.Name,
			Description: "Keep the node's datadir aside (never deleted), and start an empty one with its owner",
			Command:     run(c.MoveAside()) + " && " + run(c.MakeEmpty()) + " && " + run(c.Own()),
			After:       c.Aside() + " holds the previous data",
		})
	}
	switch in.Method {
	case Mariabackup:
		steps = append(steps, Step{
			Name: "copy-back", Node: first,
			Description: "Stream the backup's xbstream from the backup volume over SSH into the empty datadir " +
				"(decompressed in the restore Job), then prepare it",
			Command: "<restore Job> | " + run(c.Extract()) + " && " + run(c.Prepare()),
			After:   "mariadb-backup --prepare said completed OK",
		}, Step{
			Name: "write-grastate", Node: first,
			Description: "Write the node's grastate.dat at the backup's position, safe to bootstrap, then give the " +
				"datadir its owner",
			Command: fmt.Sprintf("printf '# GALERA saved state\\nversion: 2.1\\nuuid:    %s\\nseqno:   %d\\nsafe_to_bootstrap: 1\\n' | ",
				cmp.Or(uuidWord(in.ClusterUUID), "<backup cluster uuid>"), in.Seqno) + run(c.WriteGrastate()) + " && " + run(c.Own()),
		})
	case Logical:
		steps = append(steps, Step{
			Name: "initialise", Node: first,
			Description: "Create a new server's system tables in the empty datadir, write its grastate.dat at the backup's " +
				"position (no position when the backup has none: a new cluster identity), safe to bootstrap, then give the " +
				"datadir its owner",
			Command: run(c.Initialise()) + " && printf '" +
				strings.ReplaceAll(string(InitialGrastate(in.ClusterUUID, in.Seqno)), "\n", `\n`) + "' | " +
				run(c.WriteGrastate()) + " && " + run(c.Own()),
			After: "mariadb-install-db exited 0",
		})
	}
	from := "(the only node with data), the others join by SST"
	if in.Method == Logical {
		from = "(the only node initialised: a new, empty cluster), the others join it by SST"
	}
	steps = append(steps, Step{
		Name: "start-galera", Node: first,
		Description: fmt.Sprintf("Start galera through Pacemaker (target-role Started): the galera agent bootstraps from %s %s",
			first, from),
		Command: run(c.TargetRole("Started")),
		After:   "galera Promoted on every node; the VIP up",
	})
	if in.Method == Logical {
		steps = append(steps, Step{
			Name: "import", Node: first,
			Description: "Stream the backup's databases.sql, then its users.sql (accounts and grants: the Overcloud's backup " +
				"account among them), from the backup volume over SSH into the client on " + first + ", as its root over " +
				"the unix socket; Galera replicates every statement to the other nodes",
			Command: "<restore Job: databases.sql, users.sql> | " + run(c.Import()),
			After:   "the client exited 0 for each file",
		})
	}
	for _, n := range in.Nodes {
		steps = append(steps, Step{
			Name: "prove-" + n.Name, Node: n.Name,
			Description: "Dump the node's databases and compare every table's rows and digest with the backup's manifest",
			After:       "every table equal to the manifest's",
		})
	}
	return steps, in.BackupDatabases, nil
}

// uuidWord is u when it is a UUID (it goes into a shell command), else "".
func uuidWord(u string) string {
	if len(u) != 36 || strings.Trim(u, "0123456789abcdef-") != "" {
		return ""
	}
	return u
}

// shellJoin quotes each word for a POSIX shell when it needs it: the plan is read by
// people and may be pasted into a shell.
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = shellWord(w)
	}
	return strings.Join(out, " ")
}

func shellWord(w string) string {
	if w == Password {
		return w
	}
	if w != "" && strings.IndexFunc(w, func(r rune) bool { return !safeRune(r) }) < 0 {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// safeRune needs no quoting in a POSIX shell word.
func safeRune(r rune) bool {
	return r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./=:,@%+", r))
}

// quote shows a name from a spec or a backup in a description: backquoted as MariaDB
// does, control characters replaced, bounded.
func quote(name string) string {
	return "`" + strings.ReplaceAll(clip(name, 64), "`", "``") + "`"
}

// clip bounds s to n runes and replaces control characters.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
