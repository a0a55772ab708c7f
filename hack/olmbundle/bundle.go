package main

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var (
	// description is the CSV's spec.description (Markdown), shown on the operator's page.
	//go:embed description.md
	description string
	// icon is the CSV's icon.
	//go:embed icon.svg
	icon []byte
)

const (
	// watchEnv is the manager's env var that carries OLM's target namespaces into
	// --watch-namespaces: OLM annotates the pod with olm.targetNamespaces, "" for
	// AllNamespaces, "a,b" for MultiNamespace, which is what the flag reads (cmd/manager.go:
	// a comma-separated list, empty for all namespaces).
	watchEnv      = "WATCH_NAMESPACES"
	targetNSField = "metadata.annotations['olm.targetNamespaces']"
	watchFlag     = "--watch-namespaces=$(" + watchEnv + ")"
	managerName   = "manager"
	// maturity is the CSV's: the API is v1alpha1.
	maturity        = "alpha"
	csvAPIVersion   = operatorsv1alpha1.ClusterServiceVersionAPIVersion
	kindCSV         = operatorsv1alpha1.ClusterServiceVersionKind
	kindDeployment  = "Deployment"
	kindClusterRole = "ClusterRole"
)

// generate turns config/default's objects (def) and config/samples' (samples) into the
// bundle's files.
func generate(def, samples []object, opts Options) (map[string][]byte, error) {
	p, err := partition(def)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	add := func(name string, o object) error {
		b, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("marshalling %s: %w", Key(o), err)
		}
		files[path.Join(manifestsDir, name)] = append([]byte(header), b...)
		return nil
	}
	for _, crd := range p.crds {
		crd = withoutKustomizeLabel(crd)
		if err := add(crdFile(crd), crd); err != nil {
			return nil, err
		}
	}
	for _, o := range p.extra {
		o = withoutKustomizeLabel(o)
		// OLM creates the bundle's objects in the namespace it installs the operator into.
		delete(meta(o), "namespace")
		if err := add(manifestFile(o), o); err != nil {
			return nil, err
		}
	}
	csv, err := buildCSV(p, samples, opts)
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(csv)
	if err != nil {
		return nil, fmt.Errorf("marshalling the CSV: %w", err)
	}
	files[path.Join(manifestsDir, packageName+".v"+opts.Version+".clusterserviceversion.yaml")] = append([]byte(header), b...)
	ann := bundleAnnotations()
	b, err = yaml.Marshal(map[string]any{"annotations": ann})
	if err != nil {
		return nil, fmt.Errorf("marshalling the annotations: %w", err)
	}
	files[path.Join(metadataDir, "annotations.yaml")] = append([]byte(header), b...)
	files[dockerfile] = bundleDockerfile(ann)
	return files, nil
}

// parts is config/default sorted by where each object goes in the bundle.
type parts struct {
	crds       []object
	deployment object
	// serviceAccount is the manager's: OLM creates it from the Deployment's
	// serviceAccountName.
	serviceAccount string
	// clusterRoles and roles are bound to the manager's ServiceAccount (by name).
	clusterRoles []object
	roles        []object
	extra        []object
}

// partition sorts config/default's objects: CRDs, the Deployment, the RBAC of its
// ServiceAccount (which becomes the CSV's permissions), and the rest, which the bundle carries
// as it is if OLM accepts its kind. Anything else is an error: the generator must be taught
// where a new kind goes.
func partition(def []object) (parts, error) {
	var p parts
	var deps []object
	for _, o := range def {
		if Kind(o) == kindDeployment {
			deps = append(deps, o)
		}
	}
	if len(deps) != 1 {
		return p, fmt.Errorf("config/default has %d Deployments, want the manager's only", len(deps))
	}
	p.deployment = deps[0]
	p.serviceAccount = podSpecString(p.deployment, "serviceAccountName")
	ns := Namespace(p.deployment)
	if p.serviceAccount == "" {
		return p, fmt.Errorf("%s has no serviceAccountName", Key(p.deployment))
	}
	bound, err := p.bindings(def, ns)
	if err != nil {
		return p, err
	}
	for _, o := range def {
		switch {
		case bound[Key(o)], Kind(o) == kindDeployment:
		case Kind(o) == kindCRD:
			p.crds = append(p.crds, o)
		case Kind(o) == "Namespace":
			// OLM installs into the OperatorGroup's namespace.
		case Kind(o) == "ServiceAccount":
			if Name(o) != p.serviceAccount || Namespace(o) != ns {
				return p, fmt.Errorf("%s is not the manager's ServiceAccount %s: teach hack/olmbundle where it goes", Key(o), p.serviceAccount)
			}
		case slices.Contains(extraKinds, Kind(o)):
			p.extra = append(p.extra, o)
		default:
			return p, fmt.Errorf("%s: OLM's registry+v1 bundle cannot carry a %s: teach hack/olmbundle where it goes", Key(o), Kind(o))
		}
	}
	sortByKey(p.crds)
	sortByKey(p.clusterRoles)
	sortByKey(p.roles)
	sortByKey(p.extra)
	return p, nil
}

// bindings collects the roles bound to the manager's ServiceAccount (in p.clusterRoles and
// p.roles) and returns the keys of those roles and their bindings.
func (p *parts) bindings(def []object, ns string) (map[string]bool, error) {
	byKey := map[string]object{}
	for _, o := range def {
		byKey[Key(o)] = o
	}
	bound := map[string]bool{}
	for _, o := range def {
		kind := Kind(o)
		if kind != "ClusterRoleBinding" && kind != "RoleBinding" {
			continue
		}
		if err := boundToManager(o, p.serviceAccount, ns); err != nil {
			return nil, err
		}
		ref, _ := o["roleRef"].(map[string]any)
		refKind, _ := ref["kind"].(string)
		refName, _ := ref["name"].(string)
		var roleKey string
		switch {
		case kind == "ClusterRoleBinding" && refKind == kindClusterRole:
			roleKey = kindClusterRole + " /" + refName
		case kind == "RoleBinding" && refKind == "Role" && Namespace(o) == ns:
			roleKey = "Role " + ns + "/" + refName
		default:
			// A ClusterRole granted in one namespace, or a Role elsewhere, has no place in a
			// CSV's permissions (which OLM scopes itself).
			return nil, fmt.Errorf("%s: a %s of %s %s in namespace %q: teach hack/olmbundle where it goes",
				Key(o), kind, refKind, refName, Namespace(o))
		}
		role, ok := byKey[roleKey]
		if !ok {
			return nil, fmt.Errorf("%s binds %s %s, which config/default has not", Key(o), refKind, refName)
		}
		if refKind == kindClusterRole {
			p.clusterRoles = append(p.clusterRoles, role)
		} else {
			p.roles = append(p.roles, role)
		}
		bound[Key(role)], bound[Key(o)] = true, true
	}
	return bound, nil
}

// extraKinds are the kinds config/default has that a registry+v1 bundle may carry besides
// the CSV and CRDs (operator-registry's supported kinds include them).
var extraKinds = []string{"Service", kindClusterRole, "Role", "ConfigMap", "Secret"}

func sortByKey(objs []object) {
	sort.Slice(objs, func(i, j int) bool { return Key(objs[i]) < Key(objs[j]) })
}

// boundToManager checks that a binding's only subject is the manager's ServiceAccount: a
// CSV's permissions are granted to its own ServiceAccounts, nobody else.
func boundToManager(o object, sa, ns string) error {
	subjects, _ := o["subjects"].([]any)
	if len(subjects) != 1 {
		return fmt.Errorf("%s has %d subjects, want the manager's ServiceAccount only", Key(o), len(subjects))
	}
	s, _ := subjects[0].(map[string]any)
	if s["kind"] != "ServiceAccount" || s["name"] != sa || s["namespace"] != ns {
		return fmt.Errorf("%s binds %v, not the manager's ServiceAccount %s/%s: teach hack/olmbundle where it goes", Key(o), s, ns, sa)
	}
	return nil
}

func podSpec(dep object) map[string]any {
	spec, _ := dep["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pod, _ := tmpl["spec"].(map[string]any)
	return pod
}

func podSpecString(dep object, key string) string {
	s, _ := podSpec(dep)[key].(string)
	return s
}

// managerContainer is the Deployment's container named manager.
func managerContainer(dep object) (map[string]any, error) {
	containers, _ := podSpec(dep)["containers"].([]any)
	for _, c := range containers {
		if m, _ := c.(map[string]any); m["name"] == managerName {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%s has no container named %s", Key(dep), managerName)
}

// crdFile is operator-sdk's name for a CRD's file: <group>_<plural>.yaml.
func crdFile(crd object) string {
	plural, group, _ := strings.Cut(Name(crd), ".")
	return group + "_" + plural + ".yaml"
}

// manifestFile is operator-sdk's name for another object's file:
// <name>_<group>_<version>_<kind>.yaml, "v1" for the core group.
func manifestFile(o object) string {
	gv := strings.ReplaceAll(APIVersion(o), "/", "_")
	return Name(o) + "_" + gv + "_" + strings.ToLower(Kind(o)) + ".yaml"
}

// csvDeployment is the manager's Deployment as the CSV runs it: the image given, and the
// namespaces OLM targets passed to --watch-namespaces.
func csvDeployment(dep object, image string) (object, error) {
	dep = deepCopy(dep)
	c, err := managerContainer(dep)
	if err != nil {
		return nil, err
	}
	if c["image"] == nil {
		return nil, fmt.Errorf("%s: the manager container has no image", Key(dep))
	}
	c["image"] = image
	args, _ := c["args"].([]any)
	for _, a := range args {
		if s, _ := a.(string); strings.HasPrefix(s, "--watch-namespaces") {
			return nil, fmt.Errorf("%s already passes %s: OLM's target namespaces would be a second --watch-namespaces", Key(dep), s)
		}
	}
	env, _ := c["env"].([]any)
	for _, e := range env {
		if m, _ := e.(map[string]any); m["name"] == watchEnv {
			return nil, fmt.Errorf("%s already sets %s", Key(dep), watchEnv)
		}
	}
	c["args"] = append(slices.Clone(args), watchFlag)
	c["env"] = append(slices.Clone(env), corev1.EnvVar{
		Name:      watchEnv,
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: targetNSField}},
	})
	return deepCopy(dep), nil
}

// The CSV's parts that are not operator-framework's types: those are written with
// kustomize's objects as they are (the Deployment, the rules), or without the empty fields a
// typed Kubernetes object would print.
type (
	csvDoc struct {
		APIVersion string  `json:"apiVersion"`
		Kind       string  `json:"kind"`
		Metadata   csvMeta `json:"metadata"`
		Spec       csvSpec `json:"spec"`
	}
	csvMeta struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	}
	csvSpec struct {
		DisplayName               string                                      `json:"displayName"`
		Description               string                                      `json:"description"`
		Version                   string                                      `json:"version"`
		MinKubeVersion            string                                      `json:"minKubeVersion"`
		Maturity                  string                                      `json:"maturity"`
		Keywords                  []string                                    `json:"keywords"`
		Provider                  operatorsv1alpha1.AppLink                   `json:"provider"`
		Maintainers               []operatorsv1alpha1.Maintainer              `json:"maintainers"`
		Links                     []operatorsv1alpha1.AppLink                 `json:"links"`
		Icon                      []operatorsv1alpha1.Icon                    `json:"icon"`
		InstallModes              []operatorsv1alpha1.InstallMode             `json:"installModes"`
		CustomResourceDefinitions operatorsv1alpha1.CustomResourceDefinitions `json:"customresourcedefinitions"`
		Install                   csvInstall                                  `json:"install"`
		RelatedImages             []operatorsv1alpha1.RelatedImage            `json:"relatedImages"`
	}
	csvInstall struct {
		Strategy string         `json:"strategy"`
		Spec     csvInstallSpec `json:"spec"`
	}
	csvInstallSpec struct {
		Deployments        []csvDeploymentSpec `json:"deployments"`
		ClusterPermissions []csvPermissions    `json:"clusterPermissions,omitempty"`
		Permissions        []csvPermissions    `json:"permissions,omitempty"`
	}
	csvDeploymentSpec struct {
		Name  string `json:"name"`
		Label any    `json:"label,omitempty"`
		Spec  any    `json:"spec"`
	}
	csvPermissions struct {
		ServiceAccountName string `json:"serviceAccountName"`
		Rules              any    `json:"rules"`
	}
)

// permissions turns roles into a CSV's permissions or clusterPermissions: one entry per role,
// for the manager's ServiceAccount, in the order of the roles.
func permissions(roles []object, sa string) []csvPermissions {
	out := make([]csvPermissions, 0, len(roles))
	for _, r := range roles {
		out = append(out, csvPermissions{ServiceAccountName: sa, Rules: r["rules"]})
	}
	return out
}

// buildCSV writes the ClusterServiceVersion.
func buildCSV(p parts, samples []object, opts Options) (csvDoc, error) {
	dep, err := csvDeployment(p.deployment, opts.Image)
	if err != nil {
		return csvDoc{}, err
	}
	examples, err := almExamples(samples)
	if err != nil {
		return csvDoc{}, err
	}
	owned, err := ownedCRDs(p.crds)
	if err != nil {
		return csvDoc{}, err
	}
	depMeta := meta(dep)
	dropKustomizeLabel(depMeta)
	modes := make([]operatorsv1alpha1.InstallMode, 0, len(installModes))
	for _, m := range installModes {
		modes = append(modes, operatorsv1alpha1.InstallMode{Type: operatorsv1alpha1.InstallModeType(m.Type), Supported: m.Supported})
	}
	links := make([]operatorsv1alpha1.AppLink, 0, len(csvLinks))
	for _, l := range csvLinks {
		links = append(links, operatorsv1alpha1.AppLink{Name: l[0], URL: l[1]})
	}
	return csvDoc{
		APIVersion: csvAPIVersion,
		Kind:       kindCSV,
		Metadata: csvMeta{
			Name: packageName + ".v" + opts.Version,
			Annotations: map[string]string{
				"alm-examples":   examples,
				"capabilities":   capabilities,
				"categories":     categories,
				"containerImage": opts.Image,
				"description":    shortDescription,
				"repository":     repository,
				// The console proposes this namespace, config/default's.
				"operatorframework.io/suggested-namespace": Namespace(p.deployment),
			},
		},
		Spec: csvSpec{
			DisplayName:    displayName,
			Description:    description,
			Version:        opts.Version,
			MinKubeVersion: minKubeVersion,
			Maturity:       maturity,
			Keywords:       keywords,
			Provider:       operatorsv1alpha1.AppLink{Name: provider, URL: repository},
			Maintainers:    []operatorsv1alpha1.Maintainer{{Name: maintainerName, Email: maintainerEmail}},
			Links:          links,
			Icon: []operatorsv1alpha1.Icon{{
				Data:      base64.StdEncoding.EncodeToString(icon),
				MediaType: "image/svg+xml",
			}},
			InstallModes:              modes,
			CustomResourceDefinitions: operatorsv1alpha1.CustomResourceDefinitions{Owned: owned},
			Install: csvInstall{
				Strategy: operatorsv1alpha1.InstallStrategyNameDeployment,
				Spec: csvInstallSpec{
					Deployments:        []csvDeploymentSpec{{Name: Name(dep), Label: depMeta["labels"], Spec: dep["spec"]}},
					ClusterPermissions: permissions(p.clusterRoles, p.serviceAccount),
					Permissions:        permissions(p.roles, p.serviceAccount),
				},
			},
			// The manager runs the backup and restore Jobs with its own image (cmd/manager.go
			// resolveAgentImage): a mirror for a disconnected cluster needs only this one.
			RelatedImages: []operatorsv1alpha1.RelatedImage{{Name: packageName, Image: opts.Image}},
		},
	}, nil
}

// almExamples is the JSON list of config/samples' objects, without namespaces (the console
// creates them in the namespace the user is in).
func almExamples(samples []object) (string, error) {
	if len(samples) == 0 {
		return "", fmt.Errorf("config/samples has no objects")
	}
	list := make([]any, 0, len(samples))
	for _, o := range samples {
		o = deepCopy(o)
		delete(meta(o), "namespace")
		list = append(list, o)
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return "", fmt.Errorf("marshalling alm-examples: %w", err)
	}
	return string(b), nil
}

// bundleAnnotations are metadata/annotations.yaml's, and the bundle image's labels.
func bundleAnnotations() map[string]string {
	return map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       manifestsDir + "/",
		"operators.operatorframework.io.bundle.metadata.v1":        metadataDir + "/",
		"operators.operatorframework.io.bundle.package.v1":         packageName,
		"operators.operatorframework.io.bundle.channels.v1":        channel,
		"operators.operatorframework.io.bundle.channel.default.v1": channel,
	}
}

// bundleDockerfile builds the bundle image from the bundle directory (its build context):
// the manifests and metadata, labelled with the same annotations.
func bundleDockerfile(ann map[string]string) []byte {
	keys := make([]string, 0, len(ann))
	for k := range ann {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("# Build from the bundle directory:\n")
	b.WriteString("#   docker build -f bundle.Dockerfile -t <registry>/overcloud-backup-operator-bundle:v<version> .\n")
	b.WriteString("FROM scratch\n\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "LABEL %s=%s\n", k, ann[k])
	}
	b.WriteString("\nCOPY " + manifestsDir + " /" + manifestsDir + "/\n")
	b.WriteString("COPY " + metadataDir + " /" + metadataDir + "/\n")
	return []byte(b.String())
}

// managedBy is the label kustomize's sources put on objects; in the bundle OLM manages them,
// and says so with labels of its own.
const managedBy = "app.kubernetes.io/managed-by"

// withoutKustomizeLabel is a copy of o without managed-by: kustomize.
func withoutKustomizeLabel(o object) object {
	o = deepCopy(o)
	dropKustomizeLabel(meta(o))
	return o
}

func dropKustomizeLabel(m map[string]any) {
	labels, _ := m["labels"].(map[string]any)
	if labels[managedBy] == "kustomize" {
		delete(labels, managedBy)
	}
}

func deepCopy(o object) object {
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // it was decoded from YAML a moment ago
	}
	c := object{}
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return c
}
