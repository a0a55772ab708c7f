package main

// The charts against config/: each rendered by the helm `make helm` builds (OCB_HELM) and
// compared, object by object, with what the kustomize `make kustomize` builds (OCB_KUSTOMIZE)
// makes of config/default, config/namespaced and config/prometheus. What the chart may add is
// named in normalize and nothing else is ignored. `helm lint --strict`, the schema's refusals
// and the values that change the manager are checked here too. Both binaries are required:
// the test fails, never skips, without them (make test sets both).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/hack/genmanifest"

	"sigs.k8s.io/yaml"
)

const (
	// release and namespace are those that give config/default's names.
	release   = "overcloud-backup"
	namespace = kustomizeNamespace
)

// repo is the repository's root, from this package's directory.
var repo = filepath.Join("..", "..")

func tool(t *testing.T, env, target string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		t.Fatalf("%s is not set: run with `make test`, or `make %s` and set %s to bin/%s-<version>", env, target, env, target)
	}
	//nolint:gosec // G703: the binary make names, checked before it is run
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("%s=%s is not an executable (%v): `make %s` builds it", env, p, err, target)
	}
	return p
}

// helm runs the helm binary; it returns its output and error (stderr included).
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	bin := tool(t, "OCB_HELM", "helm")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // G204: the repo's helm, our arguments
	cmd.Stderr = &stderr
	// No user's helm configuration or cache: the charts need no repository.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// render is `helm template` of the CRDs chart, then of the operator chart with args (its
// values), as objects.
func render(t *testing.T, args ...string) []object {
	t.Helper()
	var all []object
	for _, chart := range []string{crdsChartDir, chartDir} {
		cmd := []string{"template", release, filepath.Join(repo, chart), "--namespace", namespace}
		if chart == chartDir {
			cmd = append(cmd, args...)
		}
		out, err := helm(t, cmd...)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := Decode(out)
		if err != nil {
			t.Fatalf("decoding helm's output: %v", err)
		}
		all = append(all, objs...)
	}
	return all
}

func kustomizeBuild(t *testing.T, dir string) []object {
	t.Helper()
	objs, err := Build(tool(t, "OCB_KUSTOMIZE", "kustomize"), filepath.Join(repo, "config", dir))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// helmLabels are the labels the chart adds to every object (ocb.labels); the kustomize
// build has managed-by: kustomize where the chart has Helm.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"}

// normalize removes what the chart legitimately adds or changes: its labels and, on a CRD,
// the keep policy. From the chart's side it checks that they are there.
func normalize(t *testing.T, o object, fromHelm bool) object {
	t.Helper()
	o = deepCopy(o)
	m := meta(o)
	labels, _ := m["labels"].(map[string]any)
	for _, l := range helmLabels {
		if fromHelm && labels[l] == nil {
			t.Errorf("%s: the chart's label %s is missing", Key(o), l)
		}
		delete(labels, l)
	}
	if fromHelm && labels["app.kubernetes.io/managed-by"] != nil && labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Errorf("%s: managed-by %v", Key(o), labels["app.kubernetes.io/managed-by"])
	}
	if len(labels) == 0 {
		delete(m, "labels")
	}
	if Kind(o) == "CustomResourceDefinition" {
		ann, _ := m["annotations"].(map[string]any)
		if fromHelm && ann["helm.sh/resource-policy"] != "keep" {
			t.Errorf("%s: no helm.sh/resource-policy: keep, helm uninstall would delete every backup", Key(o))
		}
		delete(ann, "helm.sh/resource-policy")
	}
	return o
}

// compare fails the test on every object of one side that the other lacks or has otherwise.
func compare(t *testing.T, what string, chart, kust []object) {
	t.Helper()
	byKey := func(objs []object, fromHelm bool) map[string]object {
		m := map[string]object{}
		for _, o := range objs {
			if _, dup := m[Key(o)]; dup {
				t.Errorf("%s: %s twice", what, Key(o))
			}
			m[Key(o)] = normalize(t, o, fromHelm)
		}
		return m
	}
	c, k := byKey(chart, true), byKey(kust, false)
	var keys []string
	for key := range k {
		keys = append(keys, key)
	}
	for key := range c {
		if _, ok := k[key]; !ok {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		co, inChart := c[key]
		ko, inKust := k[key]
		switch {
		case !inChart:
			t.Errorf("%s: %s is in the kustomize build, not in the chart", what, key)
		case !inKust:
			t.Errorf("%s: %s is in the chart, not in the kustomize build", what, key)
		default:
			if diffs := diff("", co, ko); len(diffs) > 0 {
				t.Errorf("%s: %s differs (chart | kustomize):\n  %s", what, key, strings.Join(diffs, "\n  "))
			}
		}
	}
	t.Logf("%s: %d objects compared", what, len(keys))
}

// diff is genmanifest.Diff: the paths where a and b differ, with both values.
var diff = genmanifest.Diff

// without returns the objects but those of the kinds given.
func without(objs []object, kinds ...string) []object {
	var out []object
	for _, o := range objs {
		if !slices.Contains(kinds, Kind(o)) {
			out = append(out, o)
		}
	}
	return out
}

func TestChartUpToDate(t *testing.T) {
	files, err := Generate(tool(t, "OCB_KUSTOMIZE", "kustomize"), repo)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := Stale(repo, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("the charts are out of date with config/ (run make chart): %s", strings.Join(stale, ", "))
	}
	t.Logf("%d generated files up to date", len(files))
}

func TestHelmLint(t *testing.T) {
	for _, tc := range [][]string{
		{crdsChartDir},
		{chartDir},
		{chartDir, "--values", filepath.Join(repo, chartDir, "ci", "namespaced-values.yaml")},
		{chartDir, "--set", "prometheus.serviceMonitor.enabled=true,prometheus.prometheusRule.enabled=true,prometheus.dashboard.enabled=true"},
	} {
		args := append([]string{"lint", "--strict", filepath.Join(repo, tc[0])}, tc[1:]...)
		out, err := helm(t, args...)
		if err != nil {
			t.Errorf("%v\n%s", err, out)
			continue
		}
		if !strings.Contains(string(out), "0 chart(s) failed") {
			t.Errorf("helm %s: %s", strings.Join(args, " "), out)
		}
	}
}

// The default values render config/default (but its Namespace: helm installs into a
// namespace it does not own); the namespaced values config/namespaced; the prometheus options
// config/prometheus, named as config/default names its objects.
func TestChartMatchesKustomize(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		compare(t, "config/default", render(t), without(kustomizeBuild(t, "default"), "Namespace"))
	})
	t.Run("namespaced", func(t *testing.T) {
		compare(t, "config/namespaced", render(t, "--values", filepath.Join(repo, chartDir, "ci", "namespaced-values.yaml")),
			without(kustomizeBuild(t, "namespaced"), "Namespace"))
	})
	t.Run("prometheus", func(t *testing.T) {
		kinds := []string{"ServiceMonitor", "PrometheusRule", "ConfigMap"}
		all := render(t, "--set", "prometheus.serviceMonitor.enabled=true,prometheus.prometheusRule.enabled=true,prometheus.dashboard.enabled=true")
		var chart []object
		for _, o := range all {
			if slices.Contains(kinds, Kind(o)) {
				chart = append(chart, o)
			}
		}
		kust := kustomizeBuild(t, "prometheus")
		for _, o := range kust {
			meta(o)["name"] = kustomizePrefix + Name(o)
		}
		if len(kust) != len(kinds) {
			t.Errorf("config/prometheus has %d objects, the chart's options %d kinds", len(kust), len(kinds))
		}
		compare(t, "config/prometheus", chart, kust)
		compare(t, "config/default beside them", without(all, kinds...), without(kustomizeBuild(t, "default"), "Namespace"))
	})
}

// find returns the rendered objects of a kind.
func find(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if Kind(o) == kind {
			out = append(out, o)
		}
	}
	return out
}

func managerArgs(t *testing.T, objs []object) ([]string, map[string]any) {
	t.Helper()
	deps := find(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("%d Deployments rendered", len(deps))
	}
	c, err := managerContainer(deps[0])
	if err != nil {
		t.Fatal(err)
	}
	args := make([]string, 0, len(toSlice(c["args"])))
	for _, a := range toSlice(c["args"]) {
		args = append(args, fmt.Sprint(a))
	}
	return args, c
}

// The values that change the manager reach it as the flags cmd/manager.go reads.
func TestChartValues(t *testing.T) {
	objs := render(t, "--set", "manager.logLevel=debug,image.repository=registry.example.com/ocb/operator,image.tag=v9.9.9,replicaCount=2",
		"--set", "manager.allowedAgentImages={registry.example.com/ocb/agent@sha256:*,quay.io/acme/agent:*}",
		"--set", "manager.privilegedNamespaces={openstack},manager.allowedServiceAccounts={openstack/backup-agent}",
		"--set", "manager.agentImage=registry.example.com/ocb/agent:v1,manager.extraArgs={--leader-election-namespace=elsewhere}",
		"--set", "resources.limits.memory=512Mi,nodeSelector.disk=ssd,namePrefix=ocb-",
		"--set", "watchNamespaces={openstack,tenant-b}")
	args, c := managerArgs(t, objs)
	want := []string{"manager", "--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8443",
		"--watch-namespaces=openstack,tenant-b", "--agent-image=registry.example.com/ocb/agent:v1",
		"--allowed-agent-images=registry.example.com/ocb/agent@sha256:*,quay.io/acme/agent:*",
		"--privileged-namespaces=openstack", "--allowed-service-accounts=openstack/backup-agent",
		"--zap-log-level=debug", "--leader-election-namespace=elsewhere"}
	if !slices.Equal(args, want) {
		t.Errorf("manager args\n got %q\nwant %q", args, want)
	}
	if c["image"] != "registry.example.com/ocb/operator:v9.9.9" {
		t.Errorf("image %v", c["image"])
	}
	if got := fmt.Sprint(c["resources"]); got != "map[limits:map[cpu:500m memory:512Mi] requests:map[cpu:10m memory:64Mi]]" {
		t.Errorf("resources %s", got)
	}
	dep := find(objs, "Deployment")[0]
	if Name(dep) != "ocb-controller-manager" || fmt.Sprint(dep["spec"].(map[string]any)["replicas"]) != "2" {
		t.Errorf("Deployment %s, replicas %v", Name(dep), dep["spec"].(map[string]any)["replicas"])
	}
	if got := fmt.Sprint(dep["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["nodeSelector"]); got != "map[disk:ssd]" {
		t.Errorf("nodeSelector %s", got)
	}
	var bound []string
	for _, rb := range find(objs, "RoleBinding") {
		if ref, _ := rb["roleRef"].(map[string]any); ref["name"] == "ocb-manager-role" {
			bound = append(bound, Namespace(rb))
		}
	}
	if !slices.Equal(bound, []string{"openstack", "tenant-b"}) {
		t.Errorf("the manager's rules are bound in %v, want openstack and tenant-b", bound)
	}
	for _, crb := range find(objs, "ClusterRoleBinding") {
		if ref, _ := crb["roleRef"].(map[string]any); ref["name"] == "ocb-manager-role" {
			t.Errorf("ClusterRoleBinding %s binds the manager's rules cluster-wide in the namespaced install", Name(crb))
		}
	}

	// The digest wins over the tag; the default image is the chart's appVersion, no log flag.
	args, c = managerArgs(t, render(t, "--set", "image.digest=sha256:"+strings.Repeat("ab", 32)))
	if c["image"] != "overcloud-backup-operator@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("image with a digest: %v", c["image"])
	}
	if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--zap-log-level") }) {
		t.Errorf("logLevel info gave a flag: %q", args)
	}
}

// values.schema.json refuses what the manager would refuse or misread.
func TestChartSchemaRejects(t *testing.T) {
	for _, tc := range []struct{ set, why string }{
		{"manager.logLevel=verbose", "logLevel"},
		{"manager.logLevel=0", "logLevel"},
		{"watchNamespaces={Open_Stack}", "watchNamespaces"},
		{"manager.allowedAgentImages={quay.io/a b}", "allowedAgentImages"},
		{"manager.privilegedNamespaces={Bad!}", "privilegedNamespaces"},
		{"manager.allowedServiceAccounts={no-namespace}", "allowedServiceAccounts"},
		{"manager.extraArgs={-v}", "extraArgs"},
		{"image.pullPolicy=Sometimes", "pullPolicy"},
		{"image.digest=sha256:xyz", "digest"},
		{"replicaCount=0", "replicaCount"},
		{"resources.limits.memory=lots", "memory"},
		{"prometheus.serviceMonitor.enabled=yes", "enabled"},
		{"namePrefix=Bad", "namePrefix"},
		{"watchNamespace={openstack}", "watchNamespace"},
	} {
		out, err := helm(t, "template", release, filepath.Join(repo, chartDir), "--namespace", namespace, "--set", tc.set)
		if err == nil {
			t.Errorf("--set %s: accepted", tc.set)
			continue
		}
		if !strings.Contains(string(out), "values don't meet the specifications of the schema") || !strings.Contains(string(out), tc.why) {
			t.Errorf("--set %s: refused, but not by the schema on %s:\n%s", tc.set, tc.why, out)
		}
	}
	// And accepts what the values table shows.
	if _, err := helm(t, "template", release, filepath.Join(repo, chartDir), "--set", "manager.logLevel=2,manager.privilegedNamespaces={*},manager.allowedServiceAccounts={openstack/*}"); err != nil {
		t.Error(err)
	}
}

// Every value of values.yaml has its row in docs/helm.md's table, and every row is a value.
func TestValuesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, chartDir, "values.yaml")) //nolint:gosec // G304: the repo's chart
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	var leaves []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && p != "resources" {
				walk(p+".", sub)
				continue
			}
			leaves = append(leaves, p)
		}
	}
	walk("", values)
	sort.Strings(leaves)
	doc, err := os.ReadFile(filepath.Join(repo, "docs", "helm.md")) //nolint:gosec // G304: the repo's docs
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for line := range strings.Lines(string(doc)) {
		if v, ok := strings.CutPrefix(line, "| `"); ok {
			if name, _, ok := strings.Cut(v, "` |"); ok && !strings.Contains(name, "/") {
				rows = append(rows, name)
			}
		}
	}
	for _, l := range leaves {
		if !slices.Contains(rows, l) {
			t.Errorf("value %s has no row in docs/helm.md's values table", l)
		}
	}
	for _, r := range rows {
		if !slices.Contains(leaves, r) {
			t.Errorf("docs/helm.md's values table has %s, which values.yaml has not", r)
		}
	}
	t.Logf("%d values documented", len(leaves))
}
