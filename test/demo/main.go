// Command demo is what `make demo` runs. Today it shows the parts of the operator that
// are built: the API, served by a real kube-apiserver and etcd (the envtest binaries built
// by hack/setup-envtest.sh), accepting the samples and refusing malformed backups at apply
// time; and the probe and node choice against the local overcloud of hack/overcloud.sh.
// The agent, the controllers and the one-node Kubernetes that runs backup Jobs arrive with
// their own issues; the demo says so at the end instead of pretending.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
	"github.com/overcloud-backup/overcloud-backup-operator/test/testenv"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) (err error) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	fmt.Println("1. Starting a real kube-apiserver and etcd, and installing the CRDs from config/crd/bases")
	cfg, err := testenv.Start(env)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := env.Stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("stopping the API server: %w", stopErr)
		}
	}()
	scheme, err := testenv.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	fmt.Printf("   API server at %s\n\n", cfg.Host)

	fmt.Println("2. Applying every sample of config/samples (what `kubectl apply -k config/samples` does)")
	files, err := filepath.Glob(filepath.Join("config", "samples", "backup_*.yaml"))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   KIND\tNAME\tRESULT")
	var created []*unstructured.Unstructured
	for _, f := range files {
		u, err := load(f)
		if err != nil {
			return err
		}
		u.SetNamespace("default")
		if err := c.Create(ctx, u); err != nil {
			return fmt.Errorf("the API server refused sample %s: %w", f, err)
		}
		created = append(created, u)
		fmt.Fprintf(tw, "   %s\t%s\tcreated\n", u.GetKind(), u.GetName())
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if err := rejectDemo(ctx, c, created); err != nil {
		return err
	}

	if err := probeDemo(ctx); err != nil {
		return err
	}

	fmt.Println(`
Not shown here yet, each with its own issue: the OvercloudBackup controller running the
backup as a Job on the one-node Kubernetes (hack/kube-node.sh; make test-e2e runs agent Jobs
there today; the controller's first milestone is tested in envtest, its desync repair and
Delete cleanup are not built yet), and the BackupSchedule controller. The agent's physical
method (Mariabackup) and restores are covered by make test and docs/restore.md.`)
	return nil
}

// rejectDemo shows the API server refusing a malformed backup and a change to a backup's spec.
func rejectDemo(ctx context.Context, c client.Client, created []*unstructured.Unstructured) error {
	fmt.Println("\n3. Applying a malformed backup: it prefers controller-5, which is not a node of its overcloud,")
	fmt.Println("   and excludes a node it also prefers. The API server refuses it before anything runs:")
	var backup *unstructured.Unstructured
	for _, u := range created {
		if u.GetKind() == "OvercloudBackup" {
			backup = u
			break
		}
	}
	if backup == nil {
		return errors.New("config/samples holds no OvercloudBackup")
	}
	bad := backup.DeepCopy()
	bad.SetName("overcloud-typo")
	bad.SetResourceVersion("")
	bad.SetUID("")
	preferred := []string{"controller-5", "controller-1"}
	if err := unstructured.SetNestedStringSlice(bad.Object, preferred, "spec", "nodeSelection", "preferredNodes"); err != nil {
		return err
	}
	if err := unstructured.SetNestedStringSlice(bad.Object, []string{"controller-1"}, "spec", "nodeSelection", "excludedNodes"); err != nil {
		return err
	}
	err := c.Create(ctx, bad, client.DryRunAll)
	if err == nil {
		return errors.New("the API server accepted a malformed backup: the CRD's validation rules are not installed")
	}
	for _, line := range strings.Split(err.Error(), ", ") {
		fmt.Printf("   %s\n", line)
	}

	fmt.Println("\n4. Changing a backup's spec after creation is refused too (a backup is a record):")
	changed := backup.DeepCopy()
	if err := unstructured.SetNestedField(changed.Object, "another-claim", "spec", "storage", "claimName"); err != nil {
		return err
	}
	err = c.Update(ctx, changed)
	if err == nil {
		return errors.New("the API server accepted a change to a backup's spec")
	}
	fmt.Printf("   %v\n", err)
	return nil
}

// probeDemo probes the local overcloud (hack/overcloud.sh) the way the operator will:
// the node table and the choice, then again with the chosen node desynced.
func probeDemo(ctx context.Context) error {
	path := os.Getenv("OCB_SANDBOX")
	if path == "" {
		return errors.New("OCB_SANDBOX is not set: run `make demo`, which brings up the local overcloud first")
	}
	sb, err := sandbox.Read(path)
	if err != nil {
		return err
	}
	read := func(p string) ([]byte, error) {
		b, err := os.ReadFile(p) //nolint:gosec // G304: files named by sandbox.json
		return []byte(strings.TrimRight(string(b), "\n")), err
	}
	dbPass, err1 := read(sb.Database.PasswordFile)
	statsPass, err2 := read(sb.HAProxy.StatsPasswordFile)
	key, err3 := read(sb.SSH.PrivateKeyFile)
	known, err4 := read(sb.SSH.KnownHostsFile)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("reading the sandbox's credentials: %w", err)
	}
	oc := &backupv1alpha1.OvercloudSpec{
		Name: "ocb", DatabaseVIP: sb.VIP,
		SSH:       &backupv1alpha1.SSHAccess{User: sb.SSH.User},
		Pacemaker: &backupv1alpha1.PacemakerAccess{},
		HAProxy:   &backupv1alpha1.HAProxyAccess{StatsURL: sb.HAProxy.StatsURL, StatsSocket: sb.HAProxy.StatsSocket},
	}
	for _, n := range sb.Nodes {
		oc.Nodes = append(oc.Nodes, backupv1alpha1.NodeSpec{Name: n.Name, Address: n.Address})
	}
	tg, err := probe.NewTarget(oc, probe.Credentials{
		DatabaseUser: sb.Database.User, DatabasePassword: string(dbPass),
		SSHPrivateKey: key, SSHKnownHosts: known,
		HAProxyUser: sb.HAProxy.StatsUser, HAProxyPassword: string(statsPass),
	}, 2*time.Second)
	if err != nil {
		return err
	}
	defer tg.Close()
	once := func() (selection.Decision, error) {
		start := time.Now()
		s := probe.Gather(ctx, tg)
		d := selection.Decide(s, selection.Policy{})
		fmt.Printf("   (probe took %v)\n", time.Since(start).Round(time.Millisecond))
		r := probe.NewReport(oc.Name, s, d)
		var b strings.Builder
		if err := r.WriteTable(&b); err != nil {
			return d, err
		}
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			fmt.Println("   " + line)
		}
		return d, nil
	}

	fmt.Println("\n5. Probing the local overcloud (three controllers in network namespaces: Galera,")
	fmt.Println("   Pacemaker's crm_mon over SSH, HAProxy on the VIP) and choosing the node to back up from:")
	d, err := once()
	if err != nil {
		return err
	}
	if d.Selected == "" {
		return fmt.Errorf("no node chosen on a healthy sandbox: %s", d.Reason)
	}
	idx := -1
	for i, n := range sb.Nodes {
		if n.Name == d.Selected {
			idx = i
		}
	}
	fmt.Printf("\n6. Desyncing %s (as a backup in progress would) and probing again:\n", d.Selected)
	if err := overcloud(ctx, sb, "desync", strconv.Itoa(idx), "on"); err != nil {
		return err
	}
	d2, err := once()
	if err != nil {
		return err
	}
	if d2.Selected == d.Selected {
		return fmt.Errorf("the desynced node %s was chosen again", d.Selected)
	}
	if err := overcloud(ctx, sb, "desync", strconv.Itoa(idx), "off"); err != nil {
		return err
	}
	return dumpDemo(ctx, sb, d2.Selected, string(dbPass))
}

// dumpDemo runs the backup agent against the chosen node, into a temporary directory
// standing for the backup volume, and verifies what it wrote.
func dumpDemo(ctx context.Context, sb *sandbox.Sandbox, node, password string) error {
	var n *sandbox.Node
	for i := range sb.Nodes {
		if sb.Nodes[i].Name == node {
			n = &sb.Nodes[i]
		}
	}
	if n == nil {
		return fmt.Errorf("no sandbox node %s", node)
	}
	root, err := os.MkdirTemp("", "ocb-demo-volume-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(root) }()
	fmt.Printf("\n7. The backup agent dumps %s (re-check, wsrep_desync ON and OFF again, causality wait,\n", node)
	fmt.Println("   mariadb-dump, zstd and SHA-256 in one pass, manifest, atomic rename), then verifies it:")
	res, err := agent.Dump(ctx, agent.Config{
		Node: n.Name, Address: n.Address, Port: n.MySQLPort, User: sb.Database.User, Password: password,
		Root: root, Namespace: "default", Name: "overcloud-manual-1", Users: true, Compression: agent.Zstd, Desync: true,
	})
	if err != nil {
		return fmt.Errorf("the agent failed: %w", err)
	}
	if _, err := agent.Verify(res.Dir); err != nil {
		return fmt.Errorf("the backup does not verify: %w", err)
	}
	for _, f := range res.Files {
		fmt.Printf("   %-22s %9d bytes (from %d), sha256 %s...\n", f.Name, f.Bytes, f.UncompressedBytes, f.SHA256[:16])
	}
	fmt.Printf("   Galera position %s:%d; desync set %v, reset %v; verified.\n",
		res.Position.ClusterUUID, res.Position.Seqno, res.DesyncSet, res.DesyncReset)
	return nil
}

// overcloud runs hack/overcloud.sh.
func overcloud(ctx context.Context, sb *sandbox.Sandbox, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, sb.Script, args...).CombinedOutput() //nolint:gosec // G204: our own script
	if err != nil {
		return fmt.Errorf("hack/overcloud.sh %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func load(path string) (*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: paths come from a glob of our own samples directory
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return u, nil
}
