package main

// The bundle against the operator-framework's own validation (github.com/operator-framework/api,
// the library `operator-sdk bundle validate` runs, with its optional suites), against config/
// (what the kustomize `make kustomize` builds makes of config/default, OCB_KUSTOMIZE), against
// the generator (regenerated, byte for byte), and against the manager's --watch-namespaces
// for each install mode. Bad bundles prove the validation catches what it should. kustomize is
// required: the test fails, never skips, without it (make test sets it).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/overcloud-backup/overcloud-backup-operator/hack/genmanifest"

	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/operator-framework/api/pkg/validation"
	interfaces "github.com/operator-framework/api/pkg/validation/interfaces"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// repo is the repository's root, from this package's directory; bundleDir the committed bundle.
var (
	repo      = filepath.Join("..", "..")
	bundleDir = filepath.Join(repo, "bundle")
	csvFile   = filepath.Join(manifestsDir, packageName+".v"+defaultVersion+".clusterserviceversion.yaml")
)

func kustomizeBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OCB_KUSTOMIZE")
	if p == "" {
		t.Fatal("OCB_KUSTOMIZE is not set: run with `make test`, or `make kustomize` and set OCB_KUSTOMIZE to bin/kustomize-<version>")
	}
	//nolint:gosec // G703: the binary make names, checked before it is run
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("OCB_KUSTOMIZE=%s is not an executable (%v): `make kustomize` builds it", p, err)
	}
	return p
}

// validators are the suites `operator-sdk bundle validate --select-optional suite=operatorframework`
// runs, but MultipleArchitecturesValidator, which pulls the images with a container tool.
// CommunityOperatorValidator checks what community-operators (OpenShift's catalog) requires;
// it is deprecated in favour of an external tool, and still runs here: it passes.
var validators interfaces.Validators = append(slices.Clone(validation.DefaultBundleValidators), //nolint:gocritic // appendAssign: a copy, on purpose
	validation.OperatorHubV2Validator,
	validation.StandardCapabilitiesValidator,
	validation.StandardCategoriesValidator,
	validation.GoodPracticesValidator,
	validation.AlphaDeprecatedAPIsValidator,
	validation.CommunityOperatorValidator,
	validation.ObjectValidator,
)

// k8sVersions are the Kubernetes versions the suites check the bundle against (their
// optional value k8s-version): the oldest it installs on and the one our envtest runs.
var k8sVersions = []string{"1.31", "1.37"}

// allowedWarnings are the warnings the validation may give, each with why it is accepted. No
// other warning passes.
var allowedWarnings = map[string]string{}

// validate runs the operator-framework's validators and our own checks on a bundle
// directory; it returns the errors and the warnings.
func validate(t *testing.T, dir string) (errs, warns []string) {
	t.Helper()
	b, err := manifests.GetBundleFromDir(dir)
	if err != nil {
		return []string{"loading the bundle: " + err.Error()}, nil
	}
	seen := map[string]bool{}
	for _, v := range k8sVersions {
		results := validators.Validate(b, map[string]string{"k8s-version": v})
		for _, r := range results {
			for _, e := range r.Errors {
				errs = appendOnce(errs, seen, fmt.Sprintf("%s: %s", r.Name, e.Error()))
			}
			for _, w := range r.Warnings {
				warns = appendOnce(warns, seen, fmt.Sprintf("%s: %s", r.Name, w.Error()))
			}
		}
	}
	for _, err := range ourChecks(b, dir) {
		errs = append(errs, "hack/olmbundle: "+err.Error())
	}
	return errs, warns
}

func appendOnce(list []string, seen map[string]bool, s string) []string {
	if seen[s] {
		return list
	}
	seen[s] = true
	return append(list, s)
}

// ourChecks are what the library does not check and OLM would find out only at install time,
// or never: the install modes, the manager fed OLM's target namespaces, the descriptors'
// paths, the strict schema of the CSV, and that no object escapes the bundle directory's
// manifests/.
func ourChecks(b *manifests.Bundle, dir string) []error {
	var errs []error
	if b.CSV == nil {
		return []error{fmt.Errorf("no CSV")}
	}
	raw, err := os.ReadFile(filepath.Join(dir, manifestsDir, packageName+".v"+b.CSV.Spec.Version.String()+".clusterserviceversion.yaml")) //nolint:gosec // G304: our bundle
	if err != nil {
		errs = append(errs, fmt.Errorf("the CSV's file is not named after its version: %w", err))
	} else if err := yaml.UnmarshalStrict(raw, &operatorsv1alpha1.ClusterServiceVersion{}); err != nil {
		errs = append(errs, fmt.Errorf("the CSV has a field OLM does not know: %w", err))
	}
	modes := map[string]bool{}
	for _, m := range b.CSV.Spec.InstallModes {
		modes[string(m.Type)] = m.Supported
	}
	for _, m := range installModes {
		if got, ok := modes[m.Type]; !ok || got != m.Supported {
			errs = append(errs, fmt.Errorf("install mode %s: supported %v (listed: %v), want %v", m.Type, got, ok, m.Supported))
		}
	}
	if len(modes) != len(installModes) {
		errs = append(errs, fmt.Errorf("install modes %v, want the four of OLM", modes))
	}
	for _, mode := range []string{"OwnNamespace", "SingleNamespace", "MultiNamespace", "AllNamespaces"} {
		if !modes[mode] {
			continue
		}
		// Each supported mode must reach the manager as the namespaces it should watch.
		if _, err := watchedBy(b.CSV, targetNamespacesFor(mode)); err != nil {
			errs = append(errs, fmt.Errorf("install mode %s: %w", mode, err))
		}
	}
	if !slices.Contains(b.Channels, b.DefaultChannel) {
		errs = append(errs, fmt.Errorf("the default channel %q is not among the channels %q", b.DefaultChannel, b.Channels))
	}
	errs = append(errs, checkExamples(b.CSV)...)
	crdSchemas := map[string]any{}
	for _, crd := range b.V1CRDs {
		for _, v := range crd.Spec.Versions {
			if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
				crdSchemas[crd.Spec.Names.Kind+"/"+v.Name] = toMap(v.Schema.OpenAPIV3Schema)
			}
		}
	}
	for _, o := range b.CSV.Spec.CustomResourceDefinitions.Owned {
		schema, ok := crdSchemas[o.Kind+"/"+o.Version].(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("owned CRD %s %s: the bundle has no such CRD version", o.Kind, o.Version))
			continue
		}
		props, _ := schema["properties"].(map[string]any)
		for _, d := range o.SpecDescriptors {
			if _, err := fieldAt(props["spec"], d.Path); err != nil {
				errs = append(errs, fmt.Errorf("%s spec descriptor %s: %w", o.Kind, d.Path, err))
			}
		}
		for _, d := range o.StatusDescriptors {
			if _, err := fieldAt(props["status"], d.Path); err != nil {
				errs = append(errs, fmt.Errorf("%s status descriptor %s: %w", o.Kind, d.Path, err))
			}
		}
	}
	return errs
}

// checkExamples checks that alm-examples has an example of each owned kind and nothing else
// (the library checks only the first half).
func checkExamples(csv *operatorsv1alpha1.ClusterServiceVersion) []error {
	var examples []object
	if err := json.Unmarshal([]byte(csv.Annotations["alm-examples"]), &examples); err != nil {
		return []error{fmt.Errorf("alm-examples: %w", err)}
	}
	ownedKinds := map[string]bool{}
	for _, o := range csv.Spec.CustomResourceDefinitions.Owned {
		ownedKinds[o.Name[strings.Index(o.Name, ".")+1:]+"/"+o.Version+"/"+o.Kind] = false
	}
	var errs []error
	for _, e := range examples {
		gvk := APIVersion(e) + "/" + Kind(e)
		if _, ok := ownedKinds[gvk]; !ok {
			errs = append(errs, fmt.Errorf("alm-examples: %s (%s) is no kind the CSV owns", Kind(e), APIVersion(e)))
		}
		ownedKinds[gvk] = true
	}
	for gvk, seen := range ownedKinds {
		if !seen {
			errs = append(errs, fmt.Errorf("alm-examples has no example of %s", gvk[strings.LastIndex(gvk, "/")+1:]))
		}
	}
	return errs
}

func toMap(v any) any {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// targetNamespacesFor is the olm.targetNamespaces annotation OLM gives the operator's pod in
// an install mode (the operator installed in namespace "ocb").
func targetNamespacesFor(mode string) string {
	switch mode {
	case "OwnNamespace":
		return "ocb"
	case "SingleNamespace":
		return "openstack"
	case "MultiNamespace":
		return "openstack,tenant-b"
	}
	return "" // AllNamespaces
}

// watchedBy is what the manager of the CSV watches when OLM annotates its pod with
// olm.targetNamespaces=target: the kubelet expands $(VAR) in the args from the env (a
// fieldRef to the annotation), then the manager reads --watch-namespaces as cmd/manager.go
// does (a pflag string slice, empty entries dropped). nil is every namespace.
func watchedBy(csv *operatorsv1alpha1.ClusterServiceVersion, target string) ([]string, error) {
	deps := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	if len(deps) != 1 {
		return nil, fmt.Errorf("%d deployments, want the manager's", len(deps))
	}
	var args []string
	vars := map[string]string{}
	for _, c := range deps[0].Spec.Template.Spec.Containers {
		if c.Name != managerName {
			continue
		}
		args = c.Args
		for _, e := range c.Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == targetNSField:
				vars[e.Name] = target
			case e.ValueFrom == nil:
				vars[e.Name] = e.Value
			}
		}
	}
	if args == nil {
		return nil, fmt.Errorf("no manager container with args")
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	expanded := make([]string, 0, len(args))
	for _, a := range args {
		expanded = append(expanded, ref.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := vars[m[2:len(m)-1]]; ok {
				return v
			}
			return m // the kubelet leaves an unknown reference as it is
		}))
	}
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	var watch []string
	fs.StringSliceVar(&watch, "watch-namespaces", nil, "")
	if err := fs.Parse(expanded[1:]); err != nil {
		return nil, fmt.Errorf("parsing the manager's args %q: %w", expanded, err)
	}
	if !fs.Changed("watch-namespaces") {
		return nil, fmt.Errorf("the manager is not passed --watch-namespaces: it would watch every namespace whatever OLM targets")
	}
	var out []string
	for _, n := range watch {
		if n = strings.TrimSpace(n); n != "" {
			if strings.Contains(n, "$(") {
				return nil, fmt.Errorf("--watch-namespaces has %q: an env var the container does not set", n)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

func TestBundleValidates(t *testing.T) {
	errs, warns := validate(t, bundleDir)
	for _, e := range errs {
		t.Errorf("error: %s", e)
	}
	for _, w := range warns {
		reason := ""
		for substr, why := range allowedWarnings {
			if strings.Contains(w, substr) {
				reason = why
			}
		}
		if reason == "" {
			t.Errorf("warning (not in allowedWarnings): %s", w)
		} else {
			t.Logf("allowed warning: %s (%s)", w, reason)
		}
	}
	t.Logf("%d validators, k8s-version %v: %d errors, %d warnings", len(validators), k8sVersions, len(errs), len(warns))
}

// Each install mode OLM may use reaches the manager as the namespaces it should watch.
func TestBundleInstallModes(t *testing.T) {
	b, err := manifests.GetBundleFromDir(bundleDir)
	if err != nil {
		t.Fatal(err)
	}
	supported := map[string]bool{}
	for _, m := range b.CSV.Spec.InstallModes {
		supported[string(m.Type)] = m.Supported
	}
	for _, tc := range []struct {
		mode   string
		target string
		want   []string
	}{
		{"AllNamespaces", "", nil},
		{"OwnNamespace", "ocb", []string{"ocb"}},
		{"SingleNamespace", "openstack", []string{"openstack"}},
		{"MultiNamespace", "openstack,tenant-b", []string{"openstack", "tenant-b"}},
		{"MultiNamespace", "openstack,ocb,tenant-b", []string{"openstack", "ocb", "tenant-b"}},
	} {
		t.Run(tc.mode+"/"+tc.target, func(t *testing.T) {
			if !supported[tc.mode] {
				t.Fatalf("the CSV does not support %s", tc.mode)
			}
			got, err := watchedBy(b.CSV, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("olm.targetNamespaces=%q: the manager watches %q, want %q", tc.target, got, tc.want)
			}
		})
	}
}

func TestBundleUpToDate(t *testing.T) {
	files, err := Generate(kustomizeBin(t), repo, Options{Version: defaultVersion, Image: defaultImage})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := Stale(bundleDir, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("bundle/ is out of date with config/ (run make bundle): %s", strings.Join(stale, ", "))
	}
	// The committed bundle's image is the one `make docker-build` tags.
	mk, err := os.ReadFile(filepath.Join(repo, "Makefile")) //nolint:gosec // G304: the repo's Makefile
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "\nIMG ?= "+defaultImage+"\n") || !strings.HasSuffix(defaultImage, ":v"+defaultVersion) {
		t.Errorf("the Makefile's IMG is not %s (v%s): change defaultImage and defaultVersion with it", defaultImage, defaultVersion)
	}
	t.Logf("%d generated files up to date", len(files))
}

// A release writes another version and image into another directory: the bundle there
// validates too, names the image everywhere, and leaves nothing of the default behind.
func TestBundleReleaseFlags(t *testing.T) {
	out := t.TempDir()
	image := "registry.example.com/ocb/overcloud-backup-operator:v1.2.3"
	if err := run(kustomizeBin(t), repo, out, Options{Version: "1.2.3", Image: image}, false); err != nil {
		t.Fatal(err)
	}
	errs, warns := validate(t, out)
	for _, e := range errs {
		t.Errorf("error: %s", e)
	}
	if len(warns) > len(allowedWarnings) {
		t.Errorf("warnings: %q", warns)
	}
	b, err := manifests.GetBundleFromDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if b.CSV.Name != packageName+".v1.2.3" || b.CSV.Spec.Version.String() != "1.2.3" || b.CSV.Annotations["containerImage"] != image {
		t.Errorf("CSV %s version %s containerImage %s", b.CSV.Name, b.CSV.Spec.Version, b.CSV.Annotations["containerImage"])
	}
	if img := b.CSV.Spec.InstallStrategy.StrategySpec.DeploymentSpecs[0].Spec.Template.Spec.Containers[0].Image; img != image {
		t.Errorf("the Deployment runs %s", img)
	}
	if err := run(kustomizeBin(t), repo, out, Options{Version: "1.2.3", Image: image}, true); err != nil {
		t.Errorf("-check right after writing: %v", err)
	}
	for _, bad := range []Options{{"v1.2.3", image}, {"1.2", image}, {"1.2.3", "Registry/x:1"}, {"1.2.3", "x:1\nLABEL a=b"}, {"1.2.3", ""}} {
		if _, err := Generate(kustomizeBin(t), repo, bad); err == nil {
			t.Errorf("Generate(%q) accepted", bad)
		}
	}
}

// The CSV runs what config/default renders: the same Deployment (but for OLM's target
// namespaces), the same rules for the same ServiceAccount, the same CRDs, the same other
// objects; nothing of config/default is lost and nothing added.
func TestBundleMatchesConfig(t *testing.T) {
	def, err := Build(kustomizeBin(t), filepath.Join(repo, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(bundleDir, csvFile)) //nolint:gosec // G304: our bundle
	if err != nil {
		t.Fatal(err)
	}
	csv := object{}
	if err := yaml.Unmarshal(raw, &csv); err != nil {
		t.Fatal(err)
	}
	install := dig(csv, "spec", "install", "spec")
	deps, _ := install["deployments"].([]any)
	if len(deps) != 1 {
		t.Fatalf("%d deployments in the CSV", len(deps))
	}
	csvDep, _ := deps[0].(map[string]any)

	byKind := map[string][]object{}
	for _, o := range def {
		byKind[Kind(o)] = append(byKind[Kind(o)], o)
	}
	// The Deployment.
	if len(byKind["Deployment"]) != 1 {
		t.Fatalf("config/default has %d Deployments", len(byKind["Deployment"]))
	}
	dep := normalize(byKind["Deployment"][0])
	if csvDep["name"] != Name(dep) {
		t.Errorf("the CSV's deployment is %v, config's %s", csvDep["name"], Name(dep))
	}
	if !reflect.DeepEqual(csvDep["label"], meta(dep)["labels"]) {
		t.Errorf("the CSV's deployment labels %v, config's %v", csvDep["label"], meta(dep)["labels"])
	}
	spec := undoWatch(t, deepCopy(object{"spec": csvDep["spec"]}))
	if d := diff("spec", spec["spec"], dep["spec"]); len(d) > 0 {
		t.Errorf("the CSV's Deployment differs from config/default's (CSV | kustomize):\n  %s", strings.Join(d, "\n  "))
	}
	sa, _ := dig(dep, "spec", "template", "spec")["serviceAccountName"].(string)

	// The rules: each binding of the manager's ServiceAccount is one entry of the CSV.
	roles := map[string]object{}
	for _, o := range def {
		if Kind(o) == "ClusterRole" || Kind(o) == "Role" {
			roles[Kind(o)+"/"+Name(o)] = o
		}
	}
	accounted := map[string]bool{Key(dep): true}
	for _, tc := range []struct{ binding, role, field string }{
		{"ClusterRoleBinding", "ClusterRole", "clusterPermissions"},
		{"RoleBinding", "Role", "permissions"},
	} {
		var want []any
		for _, b := range byKind[tc.binding] {
			ref, _ := b["roleRef"].(map[string]any)
			role, ok := roles[tc.role+"/"+fmt.Sprint(ref["name"])]
			if !ok || ref["kind"] != tc.role {
				t.Errorf("%s binds %v", Key(b), ref)
				continue
			}
			subjects, _ := b["subjects"].([]any)
			for _, s := range subjects {
				m, _ := s.(map[string]any)
				if m["kind"] != "ServiceAccount" || m["name"] != sa || m["namespace"] != Namespace(dep) {
					t.Errorf("%s binds %v, not the manager", Key(b), m)
				}
			}
			want = append(want, map[string]any{"serviceAccountName": sa, "rules": role["rules"]})
			accounted[Key(b)], accounted[Key(role)] = true, true
		}
		got, _ := install[tc.field].([]any)
		sortEntries(got)
		sortEntries(want)
		if !reflect.DeepEqual(toMap(got), toMap(want)) {
			t.Errorf("the CSV's %s differ from config/default's %ss:\n got %v\nwant %v", tc.field, tc.binding, got, want)
		}
	}

	// Every other object: in manifests/, the same but for its namespace and kustomize's label.
	inBundle := map[string]object{}
	entries, err := os.ReadDir(filepath.Join(bundleDir, manifestsDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(bundleDir, manifestsDir, e.Name())) //nolint:gosec // G304: our bundle
		if err != nil {
			t.Fatal(err)
		}
		o := object{}
		if err := yaml.Unmarshal(b, &o); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if Kind(o) != "ClusterServiceVersion" {
			inBundle[Kind(o)+"/"+Name(o)] = o
		}
	}
	for _, o := range def {
		switch {
		case accounted[Key(o)]:
			continue
		case Kind(o) == "Namespace":
			continue // OLM installs into the OperatorGroup's namespace
		case Kind(o) == "ServiceAccount" && Name(o) == sa:
			continue // OLM creates the CSV's ServiceAccounts
		}
		got, ok := inBundle[Kind(o)+"/"+Name(o)]
		if !ok {
			t.Errorf("%s of config/default is not in the bundle", Key(o))
			continue
		}
		delete(inBundle, Kind(o)+"/"+Name(o))
		want := normalize(o)
		delete(meta(want), "namespace")
		if d := diff("", got, want); len(d) > 0 {
			t.Errorf("%s differs (bundle | kustomize):\n  %s", Key(o), strings.Join(d, "\n  "))
		}
	}
	for k := range inBundle {
		t.Errorf("%s is in the bundle, not in config/default", k)
	}
	t.Logf("%d objects of config/default compared", len(def))
}

// undoWatch removes what the CSV adds to config's Deployment, checking it is there: the
// --watch-namespaces arg and its env var, last.
func undoWatch(t *testing.T, o object) object {
	t.Helper()
	for _, c := range dig(o, "spec", "template", "spec")["containers"].([]any) {
		m, _ := c.(map[string]any)
		if m["name"] != managerName {
			continue
		}
		args, _ := m["args"].([]any)
		env, _ := m["env"].([]any)
		if len(args) == 0 || args[len(args)-1] != watchFlag {
			t.Errorf("the manager's last arg is not %s: %v", watchFlag, args)
		} else {
			m["args"] = args[:len(args)-1]
		}
		last, _ := env[len(env)-1].(map[string]any)
		if last["name"] != watchEnv || fmt.Sprint(last["valueFrom"]) != "map[fieldRef:map[fieldPath:"+targetNSField+"]]" {
			t.Errorf("the manager's last env var is not %s from %s: %v", watchEnv, targetNSField, last)
		} else {
			m["env"] = env[:len(env)-1]
		}
	}
	return o
}

// normalize is kustomize's object as the bundle carries it: without kustomize's managed-by.
func normalize(o object) object {
	o = deepCopy(o)
	labels, _ := meta(o)["labels"].(map[string]any)
	if labels[managedBy] == "kustomize" {
		delete(labels, managedBy)
	}
	return o
}

func sortEntries(l []any) {
	sort.Slice(l, func(i, j int) bool { return fmt.Sprint(l[i]) < fmt.Sprint(l[j]) })
}

func dig(o map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		o, _ = o[k].(map[string]any)
	}
	return o
}

// diff is genmanifest.Diff: the paths where a and b differ, with both values.
var diff = genmanifest.Diff

// Bad bundles are refused: each case breaks one thing of a copy of the committed bundle, and
// the validation (the library's or ours) must say so.
func TestBadBundlesRejected(t *testing.T) {
	csvPath := csvFile
	for _, tc := range []struct {
		name  string
		file  string
		edit  func(string) string
		wants string
	}{
		{"an owned CRD missing", "manifests/backup.overcloud.io_overcloudrestores.yaml", nil, "Kind=OvercloudRestore"},
		{"AllNamespaces unsupported", csvPath, func(s string) string {
			return strings.Replace(s, "  - supported: true\n    type: AllNamespaces", "  - supported: false\n    type: AllNamespaces", 1)
		}, "install mode AllNamespaces"},
		{"no watch flag", csvPath, func(s string) string {
			return dropLine(s, "- "+watchFlag)
		}, "not passed --watch-namespaces"},
		{"the env var missing", csvPath, func(s string) string {
			return strings.Replace(s, "name: "+watchEnv, "name: OTHER", 1)
		}, "an env var the container does not set"},
		{"an example of an unknown kind", csvPath, func(s string) string {
			return strings.Replace(s, `"kind": "BackupSchedule"`, `"kind": "BackupPlan"`, 1)
		}, "alm-examples: BackupPlan"},
		{"a descriptor on no field", csvPath, func(s string) string {
			return strings.Replace(s, "path: storage.claimName", "path: storage.claim", 1)
		}, "storage.claim"},
		{"an unknown CSV field", csvPath, func(s string) string {
			return strings.Replace(s, "  minKubeVersion:", "  minKubeVersions: 1.31.0\n  minKubeVersion:", 1)
		}, "minKubeVersions"},
		{"a bad capability", csvPath, func(s string) string {
			return strings.Replace(s, "capabilities: "+capabilities, "capabilities: Everything", 1)
		}, "capabilities"},
		{"a bad category", csvPath, func(s string) string {
			return strings.Replace(s, "categories: "+categories, "categories: Backups", 1)
		}, "categories"},
		{"no minKubeVersion", csvPath, func(s string) string {
			return strings.Replace(s, "  minKubeVersion: "+minKubeVersion+"\n", "", 1)
		}, "minKubeVersion"},
		{"a default channel not among the channels", "metadata/annotations.yaml", func(s string) string {
			return strings.Replace(s, "channel.default.v1: "+channel, "channel.default.v1: stable", 1)
		}, "default channel"},
		{"an example missing", csvPath, func(s string) string {
			return strings.Replace(s, `"kind": "OvercloudRestore"`, `"kind": "Overcloud"`, 1)
		}, "no example of OvercloudRestore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyBundle(t)
			p := filepath.Join(dir, tc.file)
			if tc.edit == nil {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else {
				b, err := os.ReadFile(p) //nolint:gosec // G304: our copy
				if err != nil {
					t.Fatal(err)
				}
				edited := tc.edit(string(b))
				if edited == string(b) {
					t.Fatalf("the edit changed nothing in %s: the case no longer breaks anything", tc.file)
				}
				if err := os.WriteFile(p, []byte(edited), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			errs, warns := validate(t, dir)
			all := append(slices.Clone(errs), warns...)
			for _, e := range all {
				if strings.Contains(e, tc.wants) {
					t.Logf("caught: %s", e)
					return
				}
			}
			t.Errorf("not caught (no error or warning mentions %q): errors %q, warnings %q", tc.wants, errs, warns)
		})
	}
}

// dropLine removes the lines that contain substr.
func dropLine(s, substr string) string {
	var out strings.Builder
	for line := range strings.Lines(s) {
		if !strings.Contains(line, substr) {
			out.WriteString(line)
		}
	}
	return out.String()
}

func copyBundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{manifestsDir, metadataDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join(bundleDir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(bundleDir, sub, e.Name())) //nolint:gosec // G304: our bundle
			if err != nil {
				t.Fatal(err)
			}
			//nolint:gosec // G703: names listed from our own bundle directory
			if err := os.WriteFile(filepath.Join(dir, sub, e.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// The generator refuses what it cannot place in a bundle rather than drop or misplace it:
// each case changes one object of config/default's build.
func TestGenerateRefuses(t *testing.T) {
	def, err := Build(kustomizeBin(t), filepath.Join(repo, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	samples, err := Build(kustomizeBin(t), filepath.Join(repo, "config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Version: defaultVersion, Image: defaultImage}
	if _, err := generate(def, samples, opts); err != nil {
		t.Fatalf("config/default as it is: %v", err)
	}
	first := func(objs []object, kind string) object {
		for _, o := range objs {
			if Kind(o) == kind {
				return o
			}
		}
		t.Fatalf("config/default has no %s", kind)
		return nil
	}
	for _, tc := range []struct {
		name  string
		edit  func([]object) []object
		wants string
	}{
		{"a kind no bundle carries", func(objs []object) []object {
			return append(objs, object{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": map[string]any{"name": "x"}})
		}, "cannot carry a Ingress"},
		{"the manager already watching a namespace", func(objs []object) []object {
			c, err := managerContainer(first(objs, kindDeployment))
			if err != nil {
				t.Fatal(err)
			}
			c["args"] = append(c["args"].([]any), "--watch-namespaces=openstack")
			return objs
		}, "a second --watch-namespaces"},
		{"a binding to someone else", func(objs []object) []object {
			b := first(objs, "ClusterRoleBinding")
			b["subjects"] = []any{map[string]any{"kind": "Group", "name": "system:authenticated"}}
			return objs
		}, "not the manager's ServiceAccount"},
		{"a ClusterRole bound in one namespace", func(objs []object) []object {
			return append(objs, object{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
				"metadata": map[string]any{"name": "x", "namespace": "openstack"},
				"roleRef":  map[string]any{"kind": "ClusterRole", "name": "overcloud-backup-manager-role"},
				"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "overcloud-backup-controller-manager", "namespace": "overcloud-backup-system"}}})
		}, "teach hack/olmbundle where it goes"},
		{"a CRD the CSV does not describe", func(objs []object) []object {
			crd := deepCopy(first(objs, kindCRD))
			meta(crd)["name"] = "widgets.backup.overcloud.io"
			crd["spec"].(map[string]any)["names"].(map[string]any)["kind"] = "Widget"
			return append(objs, crd)
		}, "Widget has no entry"},
		{"a descriptor's field gone", func(objs []object) []object {
			for _, o := range objs {
				if Name(o) == "overcloudbackups.backup.overcloud.io" {
					_, schema, err := storageVersion(o)
					if err != nil {
						t.Fatal(err)
					}
					delete(dig(schema, "properties", "spec", "properties", "storage", "properties"), "claimName")
				}
			}
			return objs
		}, "storage.claimName"},
		{"a select's enum gone", func(objs []object) []object {
			for _, o := range objs {
				if Name(o) == "overcloudbackups.backup.overcloud.io" {
					_, schema, err := storageVersion(o)
					if err != nil {
						t.Fatal(err)
					}
					delete(dig(schema, "properties", "spec", "properties", "deletionPolicy"), "enum")
				}
			}
			return objs
		}, "no enum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := make([]object, 0, len(def))
			for _, o := range def {
				objs = append(objs, deepCopy(o))
			}
			_, err := generate(tc.edit(objs), samples, opts)
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Errorf("generate: %v, want an error mentioning %q", err, tc.wants)
			}
		})
	}
}
