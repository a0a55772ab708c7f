package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

// newAgentRestoreCommand is `agent restore`: databases of a logical backup restored into
// the running Galera cluster through one node, then proven on every node named.
func newAgentRestoreCommand() *cobra.Command {
	var cfg agent.RestoreConfig
	var credsDir, terminationLog string
	var proveNodes, spaceNodes []string
	var dbTLS agent.TLSOptions
	var space agent.SpaceCheck
	var minFreeMiB int64
	cmd := &cobra.Command{
		Use:   "restore DIR",
		Short: "Restore databases of a logical backup into the running cluster through one node, and prove them on every node",
		Long: `Restore the databases of the logical backup in DIR (--database, repeated; default: every one
of its manifest) into the running Galera cluster through the node --node/--address/--port, which
Galera replicates to the others: verify the backup's files, read its dump through once, re-check
that the node is synced, primary and not desynced, then for each database DROP DATABASE IF
EXISTS and stream its sections of the dump into the mariadb client; with --users, users.sql too
(accounts and grants: existing accounts get the backup's passwords back). Then, on every
--prove-node name=address:port, once it has applied the restore, dump the restored databases
and compare each table with the digests the backup recorded. The account (files "username" and
"password" in --credentials-dir, never flags) must be allowed to drop and create databases, and,
with --users, accounts. With --space-node name=sshhost (repeated for every node), before anything
is dropped, df of --datadir runs on every node over SSH (as restore-cluster reaches the nodes) and
the restore is refused when a node has less free than the room the restored databases take in
InnoDB (twice their SQL, less what they take now) × --headroom + --min-free-mib. The result is
written as JSON to --termination-log and printed; exits 1 unless every node proves equal.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Dir = args[0]
			if len(spaceNodes) > 0 {
				space.MinFree = minFreeMiB << 20
				for i, s := range spaceNodes {
					name, host, ok := strings.Cut(s, "=")
					if !ok || name == "" || host == "" {
						return reportRestore(cmd, terminationLog, agent.RestoreResult{Node: cfg.Node},
							fmt.Errorf("--space-node #%d: %q is not NAME=SSHHOST", i+1, s))
					}
					space.Nodes = append(space.Nodes, agent.ClusterNode{Name: name, SSHHost: host})
				}
				cfg.Space = &space
			}
			res, err := runAgentRestore(cmd, cfg, credsDir, proveNodes, dbTLS)
			return reportRestore(cmd, terminationLog, res, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Node, "node", "", "Name of the node the restore goes through.")
	f.StringVar(&cfg.Address, "address", "", "Address of that node.")
	f.IntVar(&cfg.Port, "port", 3306, "MySQL port of that node.")
	// One flag per name, taken as it is: a list flag splits on "," and parses quotes as CSV.
	f.StringArrayVar(&cfg.Databases, "database", nil, "A database of the backup to restore, one name per flag, "+
		"repeated for more (default: every database of the backup).")
	f.BoolVar(&cfg.Users, "users", false, "Also restore users.sql: the backup's accounts and grants.")
	f.StringArrayVar(&proveNodes, "prove-node", nil, "A node to prove the restore on, name=address:port, repeated for more.")
	f.StringVar(&dbTLS.Mode, "db-tls-mode", "",
		"TLS to the database: Preferred, Required, VerifyCA or VerifyFull (empty: the tools' defaults), "+
			"as the Overcloud's database.tls.mode.")
	f.StringVar(&dbTLS.CAFile, "db-ca-file", "",
		"The PEM CA bundle of the nodes' certificates, for VerifyCA and VerifyFull (a mounted Secret key).")
	f.StringVar(&credsDir, "credentials-dir", "/etc/overcloud-backup/db", "Directory with the files username and password.")
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 5*time.Second, "Bound of connecting to a node.")
	f.DurationVar(&cfg.QueryTimeout, "query-timeout", 30*time.Second, "Bound of each SQL statement of the agent (DROP DATABASE too).")
	f.DurationVar(&cfg.StepTimeout, "step-timeout", time.Hour,
		"Bound of each database's restore, of users.sql's, of each node's proving dump.")
	f.DurationVar(&cfg.CatchUpTimeout, "catch-up-timeout", 2*time.Minute,
		"Bound of the wait for a proving node to apply what the restore committed.")
	f.StringVar(&cfg.TempDir, "temp-dir", "", "Where the client sessions' private directories go (default: $TMPDIR).")
	f.StringVar(&terminationLog, "termination-log", "/dev/termination-log", "Where the JSON result goes (\"\" for nowhere).")
	f.StringArrayVar(&spaceNodes, "space-node", nil, "A node whose free space is checked over SSH before anything is "+
		"dropped, NAME=SSHHOST, repeated for every node (none: not checked).")
	addSSHFlags(f, &space.SSH, "--space-node: ")
	f.StringVar(&space.Datadir, "datadir", restoreplan.DefaultDatadir, "--space-node: MariaDB's datadir on every node.")
	f.Float64Var(&space.Headroom, "headroom", agent.DefaultHeadroom, "--space-node: free space every node needs, as a "+
		"multiple of the room the restored databases take.")
	f.Int64Var(&minFreeMiB, "min-free-mib", 0, "--space-node: MiB that must stay free on every node besides.")
	for _, req := range []string{"node", "address"} {
		_ = cmd.MarkFlagRequired(req)
	}
	return cmd
}

// runAgentRestore parses the proving nodes, reads the credentials, then restores.
func runAgentRestore(cmd *cobra.Command, cfg agent.RestoreConfig, credsDir string, proveNodes []string,
	dbTLS agent.TLSOptions) (agent.RestoreResult, error) {
	res := agent.RestoreResult{Node: cfg.Node}
	login, err := readProofLogin(proveNodes, credsDir, dbTLS)
	if err != nil {
		return res, err
	}
	cfg.ProveNodes, cfg.User, cfg.Password, cfg.TLS = login.nodes, login.user, login.password, login.tls
	cfg.Log = cmd.ErrOrStderr()
	return agent.Restore(cmd.Context(), cfg)
}

// proofLogin is what both restore commands read alike: the nodes proved (--prove-node),
// the account of --credentials-dir, the TLS of --db-tls-mode.
type proofLogin struct {
	nodes          []agent.NodeAddress
	user, password string
	tls            *agent.TLSOptions
}

func readProofLogin(proveNodes []string, credsDir string, dbTLS agent.TLSOptions) (proofLogin, error) {
	var l proofLogin
	for i, p := range proveNodes {
		n, err := parseProveNode(p)
		if err != nil {
			return l, fmt.Errorf("--prove-node #%d: %w", i+1, err)
		}
		l.nodes = append(l.nodes, n)
	}
	if dbTLS.Mode != "" {
		l.tls = &dbTLS
	}
	var err error
	if l.user, err = readSecretFile(credsDir, "username"); err != nil {
		return l, fmt.Errorf("reading the database credentials: %w", err)
	}
	if l.password, err = readSecretFile(credsDir, "password"); err != nil {
		return l, fmt.Errorf("reading the database credentials: %w", err)
	}
	return l, nil
}

// parseProveNode reads name=address:port (an IPv6 address in brackets).
func parseProveNode(s string) (agent.NodeAddress, error) {
	name, hostPort, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return agent.NodeAddress{}, fmt.Errorf("%q is not name=address:port", s)
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil || host == "" {
		return agent.NodeAddress{}, fmt.Errorf("%q is not name=address:port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return agent.NodeAddress{}, fmt.Errorf("%q: the port is not a number from 1 to 65535", s)
	}
	return agent.NodeAddress{Name: name, Address: host, Port: p}, nil
}

// reportRestore writes a restore's result, whatever went wrong (flags, credentials too),
// to the termination log, which the controller reads, and to standard output.
func reportRestore(cmd *cobra.Command, terminationLog string, res agent.RestoreResult, err error) error {
	if err != nil {
		res.Error = err.Error()
	}
	if err := writeTerminationMessage(terminationLog, res.Summary(), err); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", res.Summary())
	return err
}
