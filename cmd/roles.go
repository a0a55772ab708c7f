package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
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
	}, &cobra.Command{
		Use:   "verify DIR",
		Short: "Check every file of a backup against its manifest: size, SHA-256, and that it decompresses",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := agent.Verify(args[0])
			if err != nil {
				return fmt.Errorf("verify %s: %w", args[0], err)
			}
			var total int64
			for _, f := range m.Files {
				total += f.Bytes
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "OK: %d files, %d bytes, sizes, SHA-256 and decompression verified\n", len(m.Files), total)
			return err
		},
	})
	return cmd
}
