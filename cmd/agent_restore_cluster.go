package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

// newAgentRestoreClusterCommand is `agent restore-cluster`: a physical or logical backup
// restored onto every node of the Galera cluster, through Pacemaker, and proven on every node.
func newAgentRestoreClusterCommand() *cobra.Command {
	var cfg agent.ClusterRestoreConfig
	var credsDir, terminationLog string
	var nodes, proveNodes []string
	var minFreeMiB int64
	var dbTLS agent.TLSOptions
	cmd := &cobra.Command{
		Use:   "restore-cluster DIR",
		Short: "Restore a backup onto every node of the Galera cluster through Pacemaker (WholeCluster), and prove it",
		Long: `Restore the backup in DIR onto the whole Galera cluster: every node's data is replaced by the
backup's, everything written since the backup is lost. In order, each step recorded in the
result: verify the backup (table digests; a physical one's Galera position; a logical one's SQL
read through, and its users.sql);
check the free space on every --node (df over SSH) against the backup's data × --headroom plus
--min-free-mib; stop galera through Pacemaker (crm_resource: target-role Stopped) and wait until
crm_mon shows it Stopped everywhere and no mariadbd runs; on every node move the datadir aside to
<datadir>.before-restore-<stamp> (kept, never deleted) and create an empty one with its owner;
for a physical backup, stream the xbstream (decompressed here) into mbstream on the first --node,
prepare it (mariadb-backup --prepare); for a logical one, initialise a new server there
(mariadb-install-db); write grastate.dat at the backup's position with safe_to_bootstrap: 1;
start galera (target-role Started) and wait until it is Promoted on every node (the galera agent
bootstraps from the first node, the others join by SST) and the VIP is up; for a logical backup,
stream its databases.sql then users.sql (decompressed here) into the mariadb client on the first
node, as its root over the unix socket (sudo -n), Galera replicating them; then dump every node
(--prove-node name=address:port) and compare each table with the backup's digests.

Every command run on a node is the plan's (restore plan --mode WholeCluster shows them), run
through sudo -n by --ssh-user. On failure the result's error names the step, says whether galera
is left stopped, each node's galera role and datadir, and the commands to roll back or finish by
hand. The proof logs in with the account in --credentials-dir (files "username" and "password"),
an account of the backup. The result is written as JSON to --termination-log and printed; exits
1 unless every step succeeded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Dir = args[0]
			cfg.MinFree = minFreeMiB << 20
			res, err := runAgentRestoreCluster(cmd, cfg, credsDir, nodes, proveNodes, dbTLS)
			return reportRestore(cmd, terminationLog, res, err)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&nodes, "node", nil, "A node of the cluster, NAME=SSHHOST, NAME as Pacemaker names it, repeated for "+
		"every node; the first is the one the backup is restored onto.")
	f.StringArrayVar(&proveNodes, "prove-node", nil, "A node to prove the restore on, name=address:port (MySQL), repeated for more.")
	f.StringVar(&cfg.Cluster.Resource, "resource", "galera-clone", "Pacemaker's galera resource (galera-bundle on TripleO).")
	f.StringVar(&cfg.Cluster.Datadir, "datadir", restoreplan.DefaultDatadir, "galera's datadir on every node.")
	f.StringVar(&cfg.Cluster.Stamp, "stamp", "", "Names the datadirs kept aside (<datadir>.before-restore-<stamp>), a UTC "+
		"time as "+restoreplan.StampLayout+" (default: now).")
	f.BoolVar(&cfg.Cluster.Bundle, "bundle", false, "galera runs in TripleO's container bundle: mbstream and mariadb-backup "+
		"run in a throwaway container of --galera-image.")
	f.StringVar(&cfg.Cluster.Image, "galera-image", "", "The galera container image (with --bundle).")
	f.StringVar(&cfg.VIP, "vip", "", "The database VIP: its resource (ip-<vip>, or --vip-resource) must be started at the end.")
	f.StringVar(&cfg.VIPResource, "vip-resource", "", "The Pacemaker resource of the database VIP (default ip-<vip>).")
	addSSHFlags(f, &cfg.SSH, "")
	f.Float64Var(&cfg.Headroom, "headroom", agent.DefaultHeadroom, "Free space every node needs, as a multiple of the "+
		"backup's data (its uncompressed xbstream).")
	f.Int64Var(&minFreeMiB, "min-free-mib", 0, "MiB that must stay free on every node besides.")
	f.StringVar(&dbTLS.Mode, "db-tls-mode", "", "TLS of the proof's connections: Preferred, Required, VerifyCA or VerifyFull "+
		"(empty: the tools' defaults), as the Overcloud's database.tls.mode.")
	f.StringVar(&dbTLS.CAFile, "db-ca-file", "", "The PEM CA bundle of the nodes' certificates, for VerifyCA and VerifyFull.")
	f.StringVar(&credsDir, "credentials-dir", "/etc/overcloud-backup/db", "Directory with the files username and password.")
	f.DurationVar(&cfg.StopTimeout, "stop-timeout", 10*time.Minute, "Bound of the wait for galera Stopped on every node.")
	f.DurationVar(&cfg.StartTimeout, "start-timeout", 30*time.Minute, "Bound of the wait for galera Promoted on every node "+
		"(the SSTs included).")
	f.DurationVar(&cfg.CommandTimeout, "command-timeout", 2*time.Minute, "Bound of each short command on a node.")
	f.DurationVar(&cfg.StepTimeout, "step-timeout", 2*time.Hour, "Bound of the copy, of the prepare, of each node's proving dump.")
	f.DurationVar(&cfg.CatchUpTimeout, "catch-up-timeout", 5*time.Minute, "Bound of the wait for a proving node to reach "+
		"the restored node's position.")
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 5*time.Second, "Bound of connecting to a node's MySQL.")
	f.DurationVar(&cfg.QueryTimeout, "query-timeout", 30*time.Second, "Bound of each SQL statement of the agent.")
	f.StringVar(&cfg.TempDir, "temp-dir", "", "Where the proof's client sessions' private directories go (default: $TMPDIR).")
	f.StringVar(&terminationLog, "termination-log", "/dev/termination-log", "Where the JSON result goes (\"\" for nowhere).")
	_ = cmd.MarkFlagRequired("node")
	_ = cmd.MarkFlagRequired("prove-node")
	return cmd
}

// runAgentRestoreCluster parses the nodes, reads the credentials, then restores.
func runAgentRestoreCluster(cmd *cobra.Command, cfg agent.ClusterRestoreConfig, credsDir string, nodes, proveNodes []string,
	dbTLS agent.TLSOptions) (agent.RestoreResult, error) {
	var res agent.RestoreResult
	for i, s := range nodes {
		name, host, ok := strings.Cut(s, "=")
		if !ok || name == "" || host == "" {
			return res, fmt.Errorf("--node #%d: %q is not NAME=SSHHOST", i+1, s)
		}
		cfg.Nodes = append(cfg.Nodes, agent.ClusterNode{Name: name, SSHHost: host})
	}
	if cfg.Cluster.Stamp == "" {
		cfg.Cluster.Stamp = time.Now().UTC().Format(restoreplan.StampLayout)
	}
	login, err := readProofLogin(proveNodes, credsDir, dbTLS)
	if err != nil {
		return res, err
	}
	cfg.ProveNodes, cfg.User, cfg.Password, cfg.TLS = login.nodes, login.user, login.password, login.tls
	cfg.Log = cmd.ErrOrStderr()
	return agent.RestoreCluster(cmd.Context(), cfg)
}
