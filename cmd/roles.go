package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

func newAgentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "The program inside a backup Job",
	}
	cmd.AddCommand(newDumpCommand(), newRemoveCommand(), &cobra.Command{
		Use:   "verify DIR",
		Short: "Check every file of a backup against its manifest: size, SHA-256, and that it decompresses",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The context ends on SIGTERM or SIGINT (main's signal handler).
			m, err := agent.Verify(cmd.Context(), args[0])
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
	}, newDrillCommand(), newAgentRestoreCommand(), newAgentRestoreClusterCommand())
	return cmd
}

func newDrillCommand() *cobra.Command {
	var cfg agent.DrillConfig
	var terminationLog string
	cmd := &cobra.Command{
		Use:   "drill DIR",
		Short: "Restore a backup into a scratch server and compare every table with what the backup recorded",
		Long: `Restore drill of the backup in DIR: verify its files, start a scratch MariaDB server
(no network, no Galera) on the empty directory --scratch, restore the dump into it, dump the
restored copy as the backup was dumped, and compare each table's rows and digest with the
manifest's tables[]. Prints the result as JSON, and writes it to --termination-log for the
controller; exits 1 unless every table is equal. A physical backup's xbstream is extracted and
prepared (mariadb-backup --prepare), and the scratch server started on the prepared copy.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Dir = args[0]
			res, err := agent.Drill(cmd.Context(), cfg)
			if err != nil {
				err = fmt.Errorf("drill %s: %w", args[0], err)
				res.Error = err.Error()
			} else if res.Reason != "" {
				err = fmt.Errorf("drill %s: %s: %s", args[0], res.Reason, res.Message)
			}
			out, merr := json.Marshal(res)
			if merr != nil {
				return errors.Join(err, merr)
			}
			if werr := writeTerminationMessage(terminationLog, out, nil); werr != nil {
				return errors.Join(err, werr)
			}
			if _, perr := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out); perr != nil {
				return errors.Join(err, perr)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.Scratch, "scratch", "", "an empty directory for the scratch server (required)")
	cmd.Flags().StringVar(&cfg.BufferPool, "buffer-pool", "128M", "the scratch server's InnoDB buffer pool")
	cmd.Flags().Int64Var(&cfg.ScratchLimit, "scratch-limit", 0,
		"The most the scratch directory may hold, in bytes (its emptyDir's sizeLimit; 0: the free space alone).")
	cmd.Flags().StringVar(&terminationLog, "termination-log", "", "Where the JSON result goes (\"\" for nowhere).")
	_ = cmd.MarkFlagRequired("scratch")
	return cmd
}

// runDump reads the credentials and the HAProxy access, then dumps.
func runDump(cmd *cobra.Command, cfg agent.Config, credsDir string, hap haproxyFlags) (agent.Result, error) {
	res := agent.Result{Node: cfg.Node}
	user, err := readSecretFile(credsDir, "username")
	if err != nil {
		return res, fmt.Errorf("reading the database credentials: %w", err)
	}
	pass, err := readSecretFile(credsDir, "password")
	if err != nil {
		return res, fmt.Errorf("reading the database credentials: %w", err)
	}
	cfg.User, cfg.Password = user, pass
	if cfg.HAProxy, err = hap.reader(); err != nil {
		return res, err
	}
	cfg.Progress = cmd.OutOrStdout()
	return agent.Dump(cmd.Context(), cfg)
}

// readSecretFile reads one key of a Secret volume, without its trailing newline. The
// error names the file and the cause, never the content.
func readSecretFile(dir, key string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, key)) //nolint:gosec // G304: the Secret volume
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func newDumpCommand() *cobra.Command {
	var cfg agent.Config
	var credsDir, terminationLog string
	var hap haproxyFlags
	var dbTLS agent.TLSOptions
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "Re-check the selected node, desync it, dump, compress and checksum onto the volume",
		Long: `Take one backup of the selected node into <root>/<namespace>/<name>/: re-check that the node
is synced, not desynced and (when HAProxy's stats are given) not the node HAProxy serves the
clients through, set wsrep_desync=ON (always OFF again), wait for causality, copy the data
(Logical: mariadb-dump, and --system=users for users and grants; Mariabackup: mariadb-backup
over SSH on the node, its xbstream streamed back), compress and checksum in one pass, write
manifest.json and move the directory into place. JSON progress lines go to stdout. The credentials are read from --credentials-dir (files
"username" and "password", a Secret volume), never from the command line. The result is
written as JSON to --termination-log for the controller.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dbTLS.Mode != "" {
				cfg.TLS = &dbTLS
			}
			res, err := runDump(cmd, cfg, credsDir, hap)
			if err != nil {
				res.Error = err.Error()
			}
			// The controller reads the outcome here, whatever went wrong (credentials too).
			if err = writeTerminationMessage(terminationLog, res.Summary(), err); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Backup complete: %s (%d files, %d bytes)\n", res.Dir, len(res.Files), res.TotalBytes)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Node, "node", "", "Name of the selected node.")
	f.StringVar(&dbTLS.Mode, "db-tls-mode", "",
		"TLS to the database: Preferred, Required, VerifyCA or VerifyFull (empty: the tools' defaults), "+
			"as the Overcloud's database.tls.mode.")
	f.StringVar(&dbTLS.CAFile, "db-ca-file", "",
		"The PEM CA bundle of the node's certificate, for VerifyCA and VerifyFull (a mounted Secret key).")
	f.StringVar(&cfg.Address, "address", "", "Address of the selected node.")
	f.IntVar(&cfg.Port, "port", 3306, "MySQL port of the selected node.")
	f.StringVar(&credsDir, "credentials-dir", "/etc/overcloud-backup/db", "Directory with the files username and password.")
	f.StringVar(&cfg.Root, "root", "/backup", "Where the backup volume is mounted.")
	f.StringVar(&cfg.Namespace, "namespace", "", "Namespace of the OvercloudBackup (a directory level).")
	f.StringVar(&cfg.Name, "name", "", "Name of the OvercloudBackup (the backup's directory).")
	f.StringVar(&cfg.UID, "uid", "", "UID of the OvercloudBackup, recorded in the manifest.")
	// One flag per name, taken as it is: a list flag splits on "," and parses quotes as CSV.
	f.StringArrayVar(&cfg.Databases, "database", nil, "A database to dump, one name per flag, repeated for more "+
		"(default: every non-system database).")
	f.BoolVar(&cfg.Users, "users", true, "Also dump users and grants to users.sql.")
	f.StringVar(&cfg.Compression, "compression", agent.Zstd, "zstd, gzip or none.")
	f.IntVar(&cfg.Level, "level", 0, "Compression level (0: the algorithm's default).")
	f.BoolVar(&cfg.Desync, "desync", true, "Set wsrep_desync=ON during the dump (always OFF again).")
	f.StringVar(&cfg.Method, "method", "Logical", "Logical (mariadb-dump) or Mariabackup (mariadb-backup run on the node over SSH, "+
		"its xbstream streamed back into one file; see --ssh-* and --mariabackup-command).")
	addPhysicalFlags(f, &cfg.Physical)
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 5*time.Second, "Bound of connecting to the node.")
	f.DurationVar(&cfg.QueryTimeout, "query-timeout", 30*time.Second, "Bound of each SQL statement of the agent.")
	f.Int64Var(&cfg.MaxRate, "max-rate", 0, "Cap, in bytes per second, on how fast the dump is read from the node (0: none).")
	f.DurationVar(&cfg.ProgressEvery, "progress-interval", 5*time.Second, "How often a JSON progress line is printed (0: never).")
	hap.add(f)
	f.StringVar(&terminationLog, "termination-log", "/dev/termination-log", "Where the JSON result goes (\"\" for nowhere).")
	for _, req := range []string{"node", "address", "namespace", "name"} {
		_ = cmd.MarkFlagRequired(req)
	}
	return cmd
}
