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

// clusterFile writes a `probe -f` manifest of the local overcloud: the Overcloud, then
// the Secrets it names (stringData), as kubectl would apply them.
func clusterFile(t *testing.T, sb *sandbox.Sandbox) string {
	t.Helper()
	nodes := make([]any, 0, len(sb.Nodes))
	for _, n := range sb.Nodes {
		nodes = append(nodes, map[string]any{"name": n.Name, "address": n.Address, "mysqlPort": n.MySQLPort, "sshPort": n.SSHPort})
	}
	docs := make([]map[string]any, 0, 4)
	docs = append(docs, map[string]any{
		"apiVersion": "backup.overcloud.io/v1alpha1", "kind": "Overcloud", "metadata": map[string]any{"name": "ocb"},
		"spec": map[string]any{
			"nodes": nodes, "databaseVIP": sb.VIP,
			"database":  map[string]any{"credentialsSecret": map[string]any{"name": "db"}},
			"ssh":       map[string]any{"secretName": "ssh", "user": sb.SSH.User},
			"pacemaker": map[string]any{},
			"haproxy": map[string]any{"statsURL": sb.HAProxy.StatsURL, "statsSocket": sb.HAProxy.StatsSocket,
				"credentialsSecret": map[string]any{"name": "haproxy"}},
		},
	})
	secret := func(name string, data map[string]string) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": name}, "stringData": data}
	}
	docs = append(docs,
		secret("db", map[string]string{"username": sb.Database.User, "password": sb.Password(t)}),
		secret("ssh", map[string]string{"ssh-privatekey": string(sb.ReadFile(t, sb.SSH.PrivateKeyFile)),
			"known_hosts": string(sb.ReadFile(t, sb.SSH.KnownHostsFile))}),
		secret("haproxy", map[string]string{"username": sb.HAProxy.StatsUser, "password": sb.StatsPassword(t)}))
	var out []byte
	for _, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, "---\n"...), b...)
	}
	p := filepath.Join(t.TempDir(), "overcloud.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
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
	file := clusterFile(t, sb)

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
	args := make([]string, 0, 3+2*len(sb.Nodes))
	args = append(args, "probe", "-f", file)
	for _, n := range sb.Nodes {
		args = append(args, "--exclude", n.Name)
	}
	out, err = runCLI(t, args...)
	if !errors.Is(err, errNoNode) || !strings.Contains(err.Error(), "none of the") {
		t.Errorf("all nodes excluded: err=%v\n%s", err, out)
	}
}

func TestProbeCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "apiVersion: backup.overcloud.io/v1alpha1\nkind: Overcloud\nmetadata: {name: x}\n"
	bad := write("bad.yaml", head+"spec:\n  nodes: []\n  database: {credentialsSecret: {name: db}}\n")
	unknown := write("unknown.yaml", head+"spec:\n  nodez: []\n")
	backup := write("backup.yaml", "apiVersion: backup.overcloud.io/v1alpha1\nkind: OvercloudBackup\nmetadata: {name: x}\n")
	twice := write("twice.yaml", head+"spec:\n  nodes: [{name: a, address: 10.0.0.1}, {name: a, address: 10.0.0.2}]\n"+
		"  database: {credentialsSecret: {name: db}}\n")
	pcmk := write("pcmk.yaml", head+"spec:\n  nodes: [{name: a, address: 10.0.0.1}]\n  database: {credentialsSecret: {name: db}}\n  pacemaker: {}\n")
	// What the API server refuses and `probe -f` took before: a shell command in the
	// socket path (it reached the SSH command line), and a CEL-checked duration.
	socket := write("socket.yaml", head+"spec:\n  nodes: [{name: a, address: 10.0.0.1}]\n  database: {credentialsSecret: {name: db}}\n"+
		"  ssh: {secretName: ssh, user: heat-admin}\n  haproxy: {statsSocket: \"/x; touch /tmp/pwned\"}\n")
	interval := write("interval.yaml", head+"spec:\n  nodes: [{name: a, address: 10.0.0.1}]\n  database: {credentialsSecret: {name: db}}\n"+
		"  monitoring: {interval: -5s}\n")
	noSecret := write("nosecret.yaml", head+"spec:\n  nodes: [{name: a, address: 10.0.0.1}]\n  database: {credentialsSecret: {name: db}}\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "give either -f FILE or --overcloud NAME"},
		{[]string{"probe", "-f", bad, "--overcloud", "x"}, "give either -f FILE or --overcloud NAME"},
		{[]string{"probe", "-f", filepath.Join(dir, "missing.yaml")}, "reading the Overcloud manifest"},
		{[]string{"probe", "-f", bad}, "spec.nodes in body should have at least 1 items"},
		{[]string{"probe", "-f", unknown}, `unknown field "nodez"`},
		{[]string{"probe", "-f", backup}, "is backup.overcloud.io/v1alpha1 OvercloudBackup: want an Overcloud"},
		{[]string{"probe", "-f", twice}, "node names must be unique"},
		// The CRD's own patterns and CEL rules, as the API server applies them.
		{[]string{"probe", "-f", socket}, "spec.haproxy.statsSocket"},
		{[]string{"probe", "-f", interval}, "spec.monitoring.interval"},
		{[]string{"probe", "-f", pcmk}, "pacemaker access needs ssh access"},
		{[]string{"probe", "-f", noSecret}, "Secret db (database credentials) not found"},
		{[]string{"probe", "-f", bad, "-o", "xml"}, `-o "xml": want table, json or yaml`},
	}
	for _, tc := range cases {
		_, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err=%v, want %q", tc.args, err, tc.want)
		}
	}
}
