package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

func newRestoreCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restores by hand: the plan an OvercloudRestore would show",
	}
	cmd.AddCommand(newRestorePlanCommand())
	return cmd
}

// restorePlanOptions are the flags of `restore plan`.
type restorePlanOptions struct {
	mode, through, galeraResource, path, overcloud string
	databases, nodes                               []string
	users                                          bool
	// WholeCluster: where the data is, the bundle's image, how the nodes are reached.
	datadir, galeraImage, sshUser, vip, vipResource string
	sshPort                                         int
}

func newRestorePlanCommand() *cobra.Command {
	var o restorePlanOptions
	cmd := &cobra.Command{
		Use:   "plan DIR",
		Short: "Print the plan of restoring the backup in DIR: each step, its node, its command, its checks",
		Long: `Print the steps of restoring the backup in DIR (its manifest says what it holds), as an
OvercloudRestore writes them to its status before it acts, for a person who restores by hand.
Nothing is run and nothing is connected to. Every node of the overcloud is given with --node
name=address[:port]; a Databases restore goes through --through (an idle, synced node: one that
HAProxy does not send clients to).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := agent.ReadManifest(args[0])
			if err != nil {
				return err
			}
			in, err := o.input(m, time.Now())
			if err != nil {
				return err
			}
			steps, _, err := restoreplan.Plan(in)
			if err != nil {
				return err
			}
			return printPlan(cmd.OutOrStdout(), steps)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mode, "mode", restoreplan.Databases, "Databases or WholeCluster")
	f.StringArrayVar(&o.databases, "database", nil, "a database to restore (repeated; default: every database of the backup)")
	f.BoolVar(&o.users, "users", false, "also restore the backup's users and grants")
	f.StringArrayVar(&o.nodes, "node", nil, "a node of the overcloud, name=address[:port] (repeated, every node)")
	f.StringVar(&o.through, "through", "", "the node a Databases restore goes through (an idle, synced node)")
	f.StringVar(&o.galeraResource, "galera-resource", "galera-clone",
		"Pacemaker's galera resource; a name ending in -bundle is TripleO's container bundle")
	f.StringVar(&o.overcloud, "overcloud", "overcloud", "the overcloud's name, for the descriptions")
	f.StringVar(&o.path, "backup-path", "", "the backup's directory as the restore Job mounts it under /backup (default: DIR)")
	f.StringVar(&o.datadir, "datadir", restoreplan.DefaultDatadir,
		"galera's datadir on every node (WholeCluster; Databases with --ssh-user: its free space is checked)")
	f.StringVar(&o.galeraImage, "galera-image", "", "WholeCluster of a bundle: the galera container image its tools run in")
	f.StringVar(&o.sshUser, "ssh-user", "", "the login user on the nodes (WholeCluster: the agent's default when empty; Databases: "+
		"checks every node's free space over SSH)")
	f.IntVar(&o.sshPort, "ssh-port", 0, "the nodes' sshd port (the agent's default when 0)")
	f.StringVar(&o.vip, "vip", "", "WholeCluster: the database VIP, waited for once galera is promoted again")
	f.StringVar(&o.vipResource, "vip-resource", "", "WholeCluster: the VIP's Pacemaker resource (default ip-<vip>)")
	return cmd
}

// input is the plan's input from the manifest and the flags.
func (o restorePlanOptions) input(m *agent.Manifest, now time.Time) (restoreplan.Input, error) {
	in := restoreplan.Input{
		Mode: o.mode, Overcloud: o.overcloud, Backup: m.Backup.Name, Method: m.Options.Method,
		BackupPath: o.path, Asked: o.databases, Users: o.users, Node: o.through,
		GaleraResource: o.galeraResource, Bundle: strings.HasSuffix(o.galeraResource, "-bundle"),
		Stamp: now.UTC().Format(restoreplan.StampLayout), BackupDatabases: []string{},
		Datadir: o.datadir, GaleraImage: o.galeraImage, SSHUser: o.sshUser, SSHPort: o.sshPort, VIP: o.vip,
		VIPResource: o.vipResource,
	}
	if in.BackupPath == "" {
		in.BackupPath = m.Backup.Namespace + "/" + m.Backup.Name
	}
	// A Databases restore checks every node's free space over SSH when the nodes are reached.
	in.SpaceCheck = in.Mode == restoreplan.Databases && o.sshUser != ""
	if in.Mode == restoreplan.Databases && !in.SpaceCheck {
		in.NoSpaceCheck = "no --ssh-user to reach the nodes"
	}
	for _, d := range m.Databases {
		in.BackupDatabases = append(in.BackupDatabases, d.Name)
	}
	if m.Position != nil {
		in.ClusterUUID, in.Seqno = m.Position.ClusterUUID, m.Position.Seqno
	}
	if len(o.nodes) == 0 {
		return in, fmt.Errorf("no --node: give every node of the overcloud, name=address[:port]")
	}
	for _, n := range o.nodes {
		name, addr, ok := strings.Cut(n, "=")
		if !ok || name == "" || addr == "" {
			return in, fmt.Errorf("--node %q: want name=address[:port]", n)
		}
		port := 3306
		if h, p, err := net.SplitHostPort(addr); err == nil {
			if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
				return in, fmt.Errorf("--node %q: %q is not a port", n, p)
			}
			addr = h
		}
		in.Nodes = append(in.Nodes, restoreplan.Node{Name: name, Address: addr, Port: port})
		if name == o.through {
			in.Address, in.Port = addr, port
		}
	}
	if o.through != "" && in.Address == "" {
		return in, fmt.Errorf("--through %q is not one of the --node names", o.through)
	}
	return in, nil
}

// printPlan writes the steps for a person: numbered, the node, the command to run.
func printPlan(w io.Writer, steps []restoreplan.Step) error {
	var b strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&b, "%d. %s", i+1, s.Name)
		if s.Node != "" {
			fmt.Fprintf(&b, " [%s]", s.Node)
		}
		fmt.Fprintf(&b, "\n   %s\n", s.Description)
		if s.Before != "" {
			fmt.Fprintf(&b, "   before: %s\n", s.Before)
		}
		if s.Command != "" {
			fmt.Fprintf(&b, "   $ %s\n", s.Command)
		}
		if s.After != "" {
			fmt.Fprintf(&b, "   after: %s\n", s.After)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
