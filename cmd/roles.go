package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newAgentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "The program inside a backup Job",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "dump",
		Short: "Re-check the selected node, desync it, dump, compress and checksum onto the volume",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("agent dump: %w: the backup agent is delivered by its own issue; no data was written", errNotBuilt)
		},
	})
	return cmd
}
