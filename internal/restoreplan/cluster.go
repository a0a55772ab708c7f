package restoreplan

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// DefaultDatadir is MariaDB's datadir on a controller (on TripleO the galera bundle
// bind-mounts the host's /var/lib/mysql at the same path).
const DefaultDatadir = "/var/lib/mysql"

// StampLayout is the time layout of Input.Stamp and Cluster.Stamp (UTC). Its fixed
// digits let sudoers allow the kept-aside datadir's name by a pattern that matches that
// name and nothing else (hack/overcloud.sh).
const StampLayout = "20060102T150405Z"

// CrmMonCommand is how the agent reads Pacemaker's state on a node: one XML snapshot,
// stopped instances included (internal/pacemaker parses it).
var CrmMonCommand = sudo("crm_mon", "--one-shot", "--inactive", "--output-as=xml")

// Cluster is what the commands of a WholeCluster restore depend on: each method below is
// the exact argv the agent runs on a node over SSH (joined with every word quoted) and
// the plan shows, so that what a person reads is what executes. Privileged commands run
// through `sudo -n`: the sandbox's sudoers lists exactly these (hack/overcloud.sh).
type Cluster struct {
	// Resource is Pacemaker's galera resource (galera-clone, galera-bundle).
	Resource string
	// Datadir is the galera datadir on every node (DefaultDatadir when empty).
	Datadir string
	// Stamp names the datadirs kept aside: <datadir>.before-restore-<Stamp>, StampLayout.
	Stamp string
	// Bundle says galera runs in TripleO's container bundle: the MariaDB tools run in
	// Image (galera is stopped then: a throwaway container on the datadir), Pacemaker's
	// tools on the host.
	Bundle bool
	Image  string
}

var (
	resourceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$`)
	stampWord    = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)
	pathWord     = regexp.MustCompile(`^/[A-Za-z0-9_./-]{1,200}$`)
	imageWord    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./:@-]{0,254}$`)
)

// WithDefaults fills the datadir.
func (c Cluster) WithDefaults() Cluster {
	c.Datadir = cmp.Or(c.Datadir, DefaultDatadir)
	return c
}

// Check refuses values that would not make exact, harmless commands: every one is a
// single word no shell or option parser can read otherwise.
func (c Cluster) Check() error {
	c = c.WithDefaults()
	if !resourceName.MatchString(c.Resource) {
		return fmt.Errorf("the galera resource %q is not a Pacemaker id", clip(c.Resource, 64))
	}
	if err := CheckDatadir(c.Datadir); err != nil {
		return err
	}
	if !stampWord.MatchString(c.Stamp) {
		return fmt.Errorf("the stamp %q is not a UTC time as %s", clip(c.Stamp, 32), StampLayout)
	}
	if c.Bundle && !imageWord.MatchString(c.Image) {
		return fmt.Errorf("a bundle's commands run in the galera image, and %q is not an image name", clip(c.Image, 64))
	}
	return nil
}

// CheckDatadir refuses a datadir that is not one harmless word of a command: a clean
// absolute path below a directory other than /.
func CheckDatadir(d string) error {
	if !pathWord.MatchString(d) || path.Clean(d) != d || path.Dir(d) == "/" || strings.Contains(d, "/.") {
		return fmt.Errorf("the datadir %q is not a clean absolute path below a directory other than / "+
			"(letters, digits, _ . - /)", clip(d, 64))
	}
	return nil
}

// Aside is where a node's datadir is kept: never deleted by the restore.
func (c Cluster) Aside() string { return c.WithDefaults().Datadir + ".before-restore-" + c.Stamp }

// Parent is the directory holding the datadir (and the kept-aside copy: a rename).
func (c Cluster) Parent() string { return path.Dir(c.WithDefaults().Datadir) }

// sudoProgram runs the privileged commands, -n: never asking for a password.
const sudoProgram = "sudo"

func sudo(args ...string) []string { return append([]string{sudoProgram, "-n"}, args...) }

// TargetRole sets galera's target-role: Stopped stops it on every node, Started lets
// Pacemaker start and promote it (what `pcs resource disable|enable` do; it runs on the
// host for a bundle too).
func (c Cluster) TargetRole(role string) []string {
	return sudo("crm_resource", "--resource", c.Resource, "--meta", "--set-parameter", "target-role",
		"--parameter-value", role)
}

// FreeSpace is df of the datadir's parent and of the datadir (POSIX format, KiB): the
// free space of the filesystem the restored data goes to, and whether the datadir is a
// filesystem of its own (its mount point differs: a rename could not keep it aside).
func (c Cluster) FreeSpace() []string {
	return []string{"df", "-Pk", "--", c.Parent(), c.WithDefaults().Datadir}
}

// DatadirSpace is df of the datadir (POSIX format, KiB): the free space of the filesystem
// a Databases restore writes to.
func (c Cluster) DatadirSpace() []string {
	return []string{"df", "-Pk", "--", c.WithDefaults().Datadir}
}

// Running lists the MariaDB servers running on the node (pgrep exits 1 when none).
func (c Cluster) Running() []string { return []string{"pgrep", "-x", "mariadbd|mysqld"} }

// MoveAside renames the datadir to Aside (-T: never into an existing directory).
func (c Cluster) MoveAside() []string {
	return sudo("mv", "-T", "--", c.WithDefaults().Datadir, c.Aside())
}

// MakeEmpty creates the empty datadir.
func (c Cluster) MakeEmpty() []string {
	return sudo("mkdir", "-m", "0750", "--", c.WithDefaults().Datadir)
}

// Own gives the datadir, and everything in it, the owner of the kept-aside one (mysql;
// on TripleO the container's mysql uid).
func (c Cluster) Own() []string {
	return sudo("chown", "-R", "--reference="+c.Aside(), "--", c.WithDefaults().Datadir)
}

// inImage runs a MariaDB tool on the datadir: on the host for a plain clone, in a
// throwaway container of the galera image for a bundle.
func (c Cluster) inImage(args ...string) []string {
	if !c.Bundle {
		return sudo(args...)
	}
	d := c.WithDefaults().Datadir
	return sudo(append([]string{"podman", "run", "--rm", "-i", "--net=none", "--user=root", "-v", d + ":" + d + ":z", c.Image},
		args...)...)
}

// Extract reads an xbstream on stdin into the (empty) datadir.
func (c Cluster) Extract() []string {
	return c.inImage("mbstream", "-x", "-C", c.WithDefaults().Datadir)
}

// Prepare applies the copy's redo log: it must say "completed OK!".
func (c Cluster) Prepare() []string {
	return c.inImage("mariadb-backup", "--prepare", "--target-dir="+c.WithDefaults().Datadir)
}

// Grastate is the file written to <datadir>/grastate.dat (its content on stdin).
func (c Cluster) Grastate() string { return c.WithDefaults().Datadir + "/grastate.dat" }

// WriteGrastate writes stdin to Grastate.
func (c Cluster) WriteGrastate() []string { return sudo("tee", "--", c.Grastate()) }

// GrastateContent is grastate.dat at the backup's position, safe to bootstrap from: the
// galera agent bootstraps the node with the highest seqno, this one (the others are
// empty), at exactly the backup's position.
func GrastateContent(uuid string, seqno int64) ([]byte, error) {
	if uuidWord(uuid) == "" || seqno < 0 {
		return nil, errors.New("the backup's Galera position is not <uuid>:<seqno>")
	}
	return fmt.Appendf(nil, "# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   %d\nsafe_to_bootstrap: 1\n", uuid, seqno), nil
}

// Initialise creates a new server's system tables in the empty datadir (a logical
// restore): the node the galera agent bootstraps a new cluster from. Its root@localhost
// logs in by the unix socket only, as MariaDB creates it.
func (c Cluster) Initialise() []string {
	return c.inImage("mariadb-install-db", "--datadir="+c.WithDefaults().Datadir, "--user=mysql", "--skip-test-db")
}

// InitialGrastate is grastate.dat of a newly initialised node, safe to bootstrap: at the
// backup's position when it is known (the cluster keeps its identity, so the backups taken
// before stay restorable into it, and the import's write sets follow the backup's seqno),
// else with no position (a new cluster, its identity new). The galera agent picks the
// node whose grastate says safe_to_bootstrap: 1 before any seqno; the other, empty, nodes
// join it by SST.
func InitialGrastate(uuid string, seqno int64) []byte {
	if b, err := GrastateContent(uuid, seqno); err == nil {
		return b
	}
	return []byte("# GALERA saved state\nversion: 2.1\nuuid:    00000000-0000-0000-0000-000000000000\nseqno:   -1\n" +
		"safe_to_bootstrap: 1\n")
}

// Import is the mariadb client run as the node's root over its unix socket, reading SQL
// on stdin: a new server has no other account (root@localhost's unix_socket
// authentication); the backup's users.sql brings the others back. A bundle's client runs
// in the galera image, on the socket TripleO's galera puts in the datadir.
func (c Cluster) Import() []string {
	args := []string{"mariadb", "--user=root", "--binary-mode", "--default-character-set=utf8mb4", "--batch"}
	if c.Bundle {
		args = append(args, "--socket="+c.WithDefaults().Datadir+"/mysql.sock")
	}
	return c.inImage(args...)
}

// RollBack are the commands that put a node's kept-aside datadir back, by hand: the
// restored (or partial) datadir goes aside in its turn, never deleted.
func (c Cluster) RollBack() [][]string {
	d := c.WithDefaults().Datadir
	return [][]string{
		sudo("mv", "-T", "--", d, d+".failed-restore-"+c.Stamp),
		sudo("mv", "-T", "--", c.Aside(), d),
	}
}

// ByHand is argv for a person to run: sudo without -n (it may ask for a password).
func ByHand(argv []string) string {
	if len(argv) > 2 && argv[0] == sudoProgram && argv[1] == "-n" {
		argv = append([]string{sudoProgram}, argv[2:]...)
	}
	return shellJoin(argv)
}

// Shell is argv as one command line for a POSIX shell, every word that needs it quoted:
// what the agent sends over SSH and the plan shows.
func Shell(argv []string) string { return shellJoin(argv) }

// ClusterAgentArgs are the arguments of `agent restore-cluster` for a WholeCluster
// restore (of a physical or a logical backup): what the restore Job runs, and what the plan shows. The
// nodes' SSH hosts are their addresses; the first node is the one restored onto.
func ClusterAgentArgs(in Input) []string { return clusterAgentArgs(in, in.Cluster()) }

func clusterAgentArgs(in Input, c Cluster) []string {
	args := []string{"agent", "restore-cluster", BackupMount + "/" + in.BackupPath,
		"--resource=" + c.Resource, "--datadir=" + c.Datadir, "--stamp=" + c.Stamp,
		"--credentials-dir=" + CredentialsMount}
	if c.Bundle {
		args = append(args, "--bundle", "--galera-image="+c.Image)
	}
	if in.SSHUser != "" {
		args = append(args, "--ssh-user="+in.SSHUser)
	}
	if in.SSHPort != 0 {
		args = append(args, "--ssh-port="+strconv.Itoa(in.SSHPort))
	}
	if in.VIP != "" {
		args = append(args, "--vip="+in.VIP)
	}
	if in.VIPResource != "" {
		args = append(args, "--vip-resource="+in.VIPResource)
	}
	if in.TLSMode != "" {
		args = append(args, "--db-tls-mode="+in.TLSMode)
	}
	if in.CAFile != "" {
		args = append(args, "--db-ca-file="+in.CAFile)
	}
	for _, n := range in.Nodes {
		args = append(args, "--node="+n.Name+"="+n.Address)
	}
	for _, n := range in.Nodes {
		args = append(args, "--prove-node="+n.Name+"="+n.Address+":"+strconv.Itoa(n.Port))
	}
	return args
}

// Cluster is the input's WholeCluster commands.
func (in Input) Cluster() Cluster {
	return Cluster{Resource: cmp.Or(in.GaleraResource, "galera-clone"), Datadir: cmp.Or(in.Datadir, DefaultDatadir),
		Stamp: in.Stamp, Bundle: in.Bundle, Image: in.GaleraImage}
}
