package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// exitNoNode is the exit code when the probe worked but no node may be backed up from.
const exitNoNode = 2

// errNoNode is returned when no node was chosen; main maps it to exitNoNode.
var errNoNode = errors.New("no node to back up from")

// probeFile is the cluster description `probe -f` reads: the same overcloud and
// nodeSelection sections as an OvercloudBackup's spec, plus where the credentials are
// (files or environment variables, never the file itself).
type probeFile struct {
	Overcloud     backupv1alpha1.OvercloudSpec      `json:"overcloud"`
	NodeSelection *backupv1alpha1.NodeSelectionSpec `json:"nodeSelection,omitempty"`
	Credentials   probeCredentials                  `json:"credentials"`
}

// probeCredentials name files holding secrets. Each can also come from the environment:
// OCB_DB_USER, OCB_DB_PASSWORD, OCB_HAPROXY_USER, OCB_HAPROXY_PASSWORD.
type probeCredentials struct {
	DatabaseUser         string `json:"databaseUser,omitempty"`
	DatabasePasswordFile string `json:"databasePasswordFile,omitempty"`
	DatabaseCAFile       string `json:"databaseCAFile,omitempty"`
	SSHPrivateKeyFile    string `json:"sshPrivateKeyFile,omitempty"`
	SSHKnownHostsFile    string `json:"sshKnownHostsFile,omitempty"`
	HAProxyUser          string `json:"haproxyUser,omitempty"`
	HAProxyPasswordFile  string `json:"haproxyPasswordFile,omitempty"`
}

func newProbeCommand() *cobra.Command {
	var file, output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe -f cluster.yaml",
		Short: "Probe Galera, Pacemaker and HAProxy and print the node table and the decision",
		Long: `Probe every node of an overcloud (Galera, and Pacemaker and HAProxy when configured),
print one line per node with why it may or may not be backed up from, and the node a
backup would use now. Exit code 0: a node was chosen; 2: none may be used (the reason is
printed); 1: the probe could not run.

The file holds the same 'overcloud' and 'nodeSelection' sections as an OvercloudBackup
spec, and a 'credentials' section naming files: databaseUser, databasePasswordFile,
databaseCAFile, sshPrivateKeyFile, sshKnownHostsFile, haproxyUser, haproxyPasswordFile.
OCB_DB_USER, OCB_DB_PASSWORD, OCB_HAPROXY_USER and OCB_HAPROXY_PASSWORD override them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" && output != "yaml" {
				return fmt.Errorf("-o %q: want table, json or yaml", output)
			}
			pf, err := loadProbeFile(file)
			if err != nil {
				return err
			}
			creds, err := pf.Credentials.load()
			if err != nil {
				return err
			}
			target, err := probe.NewTarget(&pf.Overcloud, creds, timeout)
			if err != nil {
				return err
			}
			defer target.Close()
			snap := probe.Gather(cmd.Context(), target)
			d := selection.Decide(snap, probe.PolicyOf(pf.NodeSelection))
			report := probe.NewReport(pf.Overcloud.Name, snap, d)
			if err := writeReport(cmd.OutOrStdout(), report, output); err != nil {
				return err
			}
			if d.Selected == "" {
				return fmt.Errorf("%w: %s", errNoNode, d.Reason)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Cluster description (YAML or JSON).")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "Output format: table, json or yaml.")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "Deadline of each single probe call (default: the connect timeout of the file, else 5s).")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func loadProbeFile(path string) (*probeFile, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the user names the file to read
	if err != nil {
		return nil, fmt.Errorf("reading the cluster description: %w", err)
	}
	pf := &probeFile{}
	if err := yaml.UnmarshalStrict(data, pf); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if len(pf.Overcloud.Nodes) == 0 {
		return nil, fmt.Errorf("%s: overcloud.nodes is empty", path)
	}
	return pf, nil
}

// load reads the secrets the file points to; environment variables win.
func (c probeCredentials) load() (probe.Credentials, error) {
	var out probe.Credentials
	var err error
	read := func(path string) string {
		if path == "" || err != nil {
			return ""
		}
		b, e := os.ReadFile(path) //nolint:gosec // G304: the user names the secret files
		if e != nil {
			err = fmt.Errorf("reading a credentials file: %w", e)
			return ""
		}
		return strings.TrimRight(string(b), "\r\n")
	}
	out.DatabaseUser = envOr("OCB_DB_USER", c.DatabaseUser)
	out.DatabasePassword = envOr("OCB_DB_PASSWORD", read(c.DatabasePasswordFile))
	out.DatabaseCA = []byte(read(c.DatabaseCAFile))
	out.SSHPrivateKey = []byte(read(c.SSHPrivateKeyFile))
	out.SSHKnownHosts = []byte(read(c.SSHKnownHostsFile))
	out.HAProxyUser = envOr("OCB_HAPROXY_USER", c.HAProxyUser)
	out.HAProxyPassword = envOr("OCB_HAPROXY_PASSWORD", read(c.HAProxyPasswordFile))
	return out, err
}

func envOr(key, fallback string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return fallback
}

func writeReport(w io.Writer, r probe.Report, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return r.WriteTable(w)
}
