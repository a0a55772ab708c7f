// Command overcloud-backup-operator is the one binary of the operator. It has three
// roles, one subcommand each:
//
//	manager  the controllers (leader election, health probes, metrics)
//	agent    the program inside a backup Job
//	probe    prints the node table and the node-selection decision for an overcloud
//
// This package is wiring only: flags, scheme, manager, real clients.
package main

import (
	"errors"
	"fmt"
	"os"
	_ "time/tzdata" // BackupSchedule time zones must not depend on the image's /usr/share/zoneinfo

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "overcloud-backup-operator",
		Short:         "Back up the MariaDB/Galera database of an OpenStack overcloud from an idle, synced node",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newManagerCommand(), newAgentCommand(), newProbeCommand(), newRestoreCommand())
	return root
}

func main() {
	// One signal handler for every role: SIGTERM/SIGINT cancel the context, a second
	// signal exits at once.
	if err := newRootCommand().ExecuteContext(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		if errors.Is(err, errNoNode) {
			os.Exit(exitNoNode)
		}
		os.Exit(1)
	}
}
