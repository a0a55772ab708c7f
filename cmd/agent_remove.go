package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/units"

	"github.com/spf13/cobra"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// newRemoveCommand is `agent remove`, the cleanup Job of an OvercloudBackup deleted with
// deletionPolicy: Delete.
func newRemoveCommand() *cobra.Command {
	var cfg agent.RemoveConfig
	var terminationLog string
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove a backup's directory from the volume (an OvercloudBackup deleted with deletionPolicy: Delete)",
		Long: `Remove the backup <root>/<namespace>/<name>/ and the leftovers of interrupted attempts beside it
(.<name>.partial-<hex>, .<name>.removing-<hex>). Everything is checked before anything is removed,
and the backup is refused, with nothing removed, when it is a symbolic link or not a directory,
has no readable manifest.json, or its manifest records another OvercloudBackup (UID, namespace or
name). Finding nothing is a success. The namespace's directory stays. The result is written as
JSON to --termination-log for the controller; a refusal exits non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res agent.RemoveResult
			var err error
			if cfg.UID == "" {
				// Without it, a backup of an earlier object of the same name could go.
				err = fmt.Errorf("%w: --uid is empty, and it is what shows that a backup belongs to this OvercloudBackup; "+
					"nothing was removed", agent.ErrRefused)
				res.Refused = true
			} else {
				res, err = agent.Remove(cmd.Context(), cfg)
			}
			if err != nil {
				res.Error = err.Error()
			}
			if err := writeTerminationMessage(terminationLog, res.Summary(), err); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), removeSummary(cfg, res))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Root, "root", "/backup", "Where the backup volume is mounted.")
	f.StringVar(&cfg.Namespace, "namespace", "", "Namespace of the OvercloudBackup (a directory level).")
	f.StringVar(&cfg.Name, "name", "", "Name of the OvercloudBackup (the backup's directory).")
	f.StringVar(&cfg.UID, "uid", "", "UID of the OvercloudBackup: a backup whose manifest records another UID is refused.")
	f.StringVar(&terminationLog, "termination-log", "/dev/termination-log", "Where the JSON result goes (\"\" for nowhere).")
	for _, req := range []string{"namespace", "name", "uid"} {
		_ = cmd.MarkFlagRequired(req)
	}
	return cmd
}

// removeSummary is the one line for people that `agent remove` prints when it succeeds.
func removeSummary(cfg agent.RemoveConfig, res agent.RemoveResult) string {
	if res.NotFound {
		return fmt.Sprintf("Nothing to remove: no backup %s/%s and no leftovers under %s", cfg.Namespace, cfg.Name, cfg.Root)
	}
	return fmt.Sprintf("Removed %s: %s freed", strings.Join(res.Removed, ", "), units.HumanBytes(res.Bytes))
}

// writeTerminationMessage writes an agent command's JSON result to path ("" for nowhere),
// where the controller reads the outcome whatever went wrong. It returns err, or the
// write's own error when err is nil.
func writeTerminationMessage(path string, msg []byte, err error) error {
	if path == "" {
		return err
	}
	if werr := os.WriteFile(path, msg, 0o600); werr != nil {
		return errors.Join(err, fmt.Errorf("writing the termination message: %w", werr))
	}
	return err
}
