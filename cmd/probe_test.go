package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// clusterFile writes a `probe -f` file describing the local overcloud.
func clusterFile(t *testing.T, sb *sandbox.Sandbox, extra map[string]any) string {
	t.Helper()
	nodes := make([]any, 0, len(sb.Nodes))
	for _, n := range sb.Nodes {
		nodes = append(nodes, map[string]any{"name": n.Name, "address": n.Address, "mysqlPort": n.MySQLPort, "sshPort": n.SSHPort})
	}
	doc := map[string]any{
		"overcloud": map[string]any{
			"name": "ocb", "nodes": nodes, "databaseVIP": sb.VIP,
			"database": map[string]any{"credentialsSecret": map[string]any{"name": "not-used-by-probe"}},
			//nolint:gosec // G101: a Secret's name, not a secret
			"ssh":       map[string]any{"secretName": "not-used-by-probe", "user": sb.SSH.User},
			"pacemaker": map[string]any{},
			"haproxy":   map[string]any{"statsURL": sb.HAProxy.StatsURL, "statsSocket": sb.HAProxy.StatsSocket},
		},
		"credentials": map[string]any{
			"databaseUser": sb.Database.User, "databasePasswordFile": sb.Database.PasswordFile,
			"sshPrivateKeyFile": sb.SSH.PrivateKeyFile, "sshKnownHostsFile": sb.SSH.KnownHostsFile,
			"haproxyUser": sb.HAProxy.StatsUser, "haproxyPasswordFile": sb.HAProxy.StatsPasswordFile,
		},
	}
	for k, v := range extra {
		doc[k] = v
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// TestProbeCommand runs `probe` against the local overcloud in every output format.
func TestProbeCommand(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	file := clusterFile(t, sb, nil)

	out, err := runCLI(t, "probe", "-f", file, "-o", "json")
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	var r probe.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("probe -o json printed no JSON report: %v\n%s", err, out)
	}
	if r.SelectedNode == "" || len(r.Nodes) != len(sb.Nodes) || r.Pacemaker != "read" || r.HAProxy != "read" {
		t.Fatalf("report: %+v", r)
	}
	if r.SelectedNode == r.ActiveNode {
		t.Errorf("selected the active node %s", r.ActiveNode)
	}

	table, err := runCLI(t, "probe", "-f", file)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, table)
	}
	for _, want := range []string{"NODE", "GALERA", "PACEMAKER", "HAPROXY", "Selected node: " + r.SelectedNode} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, secret := range []string{sb.Password(t), sb.StatsPassword(t)} {
		if strings.Contains(table+out, secret) {
			t.Fatal("a password appears in the probe's output")
		}
	}

	y, err := runCLI(t, "probe", "-f", file, "-o", "yaml")
	if err != nil || !strings.Contains(y, "selectedNode: "+r.SelectedNode) {
		t.Errorf("probe -o yaml: %v\n%s", err, y)
	}

	// Every node excluded: exit with errNoNode (exit code 2) and the reason.
	names := make([]any, 0, len(sb.Nodes))
	for _, n := range sb.Nodes {
		names = append(names, n.Name)
	}
	none := clusterFile(t, sb, map[string]any{"nodeSelection": map[string]any{"excludedNodes": names}})
	out, err = runCLI(t, "probe", "-f", none)
	if !errors.Is(err, errNoNode) || !strings.Contains(err.Error(), "none of the") {
		t.Errorf("all nodes excluded: err=%v\n%s", err, out)
	}
}

func TestProbeCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("overcloud:\n  name: x\n  nodes: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("overcloud:\n  name: x\n  nodez: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, `required flag(s) "file" not set`},
		{[]string{"probe", "-f", filepath.Join(dir, "missing.yaml")}, "reading the cluster description"},
		{[]string{"probe", "-f", bad}, "overcloud.nodes is empty"},
		{[]string{"probe", "-f", unknown}, `unknown field "nodez"`},
		{[]string{"probe", "-f", bad, "-o", "xml"}, `-o "xml": want table, json or yaml`},
	}
	for _, tc := range cases {
		_, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err=%v, want %q", tc.args, err, tc.want)
		}
	}
}
