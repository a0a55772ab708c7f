package main

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
)

// What the CSV says of the operator that config/ does not: written here, by hand, once.
const (
	displayName      = "Overcloud Backup Operator"
	shortDescription = "Backs up and restores the MariaDB/Galera database of an OpenStack overcloud " +
		"from an idle, synced node, and proves every backup restores."
	repository = "https://github.com/overcloud-backup/overcloud-backup-operator"
	provider   = "overcloud-backup"
	// maintainerName and maintainerEmail are the identity the repository's history records.
	maintainerName  = "overcloud-backup-operator maintainers"
	maintainerEmail = "maintainers@users.noreply.r-seed-82159f7c.example"
	// capabilities: backup, restore and failure recovery are the operator's job (OperatorHub's
	// level 3, Full Lifecycle); it installs no operand it could upgrade or tune on its own.
	capabilities = "Full Lifecycle"
	categories   = "Database"
	// minKubeVersion is the oldest API server that accepts the CRDs: their CEL rules call
	// isIP() and ip() (the Overcloud's node addresses and databaseVIP), a library Kubernetes
	// 1.30 added and, as it only compiles new rules against the previous minor's libraries
	// (k8s.io/apiserver/pkg/cel/environment), accepts in a new CRD from 1.31 on. The rest
	// (oldSelf transition rules, messageExpression, fieldPath, reason) is older.
	minKubeVersion = "1.31.0"
)

var keywords = []string{"openstack", "tripleo", "overcloud", "mariadb", "galera", "backup", "restore", "database"}

// csvLinks are the CSV's links: name, URL.
var csvLinks = [][2]string{
	{"Source", repository},
	{"Documentation", repository + "/blob/main/docs/api.md"},
	{"OLM bundle", repository + "/blob/main/docs/olm.md"},
}

// installMode is one of OLM's install modes and whether the operator supports it.
type installMode struct {
	Type      string
	Supported bool
}

// installModes: the manager watches every namespace when --watch-namespaces is empty, else
// the listed ones, in any number, its own among them or not (cmd/manager.go); the CSV's
// Deployment passes it OLM's olm.targetNamespaces ("" for AllNamespaces). Its rules are
// clusterPermissions in every mode (config/rbac/role.yaml is a ClusterRole), its leader
// election Lease in its own namespace (permissions).
var installModes = []installMode{
	{"OwnNamespace", true},
	{"SingleNamespace", true},
	{"MultiNamespace", true},
	{"AllNamespaces", true},
}

// descriptor is one spec or status descriptor: its path in the CRD's spec or status, its
// display name and x-descriptors. Its description is the field's own, from the CRD's schema.
type descriptor struct {
	Path        string
	DisplayName string
	XDesc       []string
}

// ownedCRD is what the CSV says of one of its CRDs.
type ownedCRD struct {
	DisplayName string
	// Resources are the objects the operator creates for one of these.
	Resources [][3]string // kind, name (plural), version
	Spec      []descriptor
	Status    []descriptor
}

// x-descriptors: OLM's console widgets (operator-framework/api's
// pkg/lib/... and the console's descriptor list).
const (
	xSecret     = "urn:alm:descriptor:io.kubernetes:Secret" //nolint:gosec // G101: a widget's name, no credential
	xPVC        = "urn:alm:descriptor:io.kubernetes:PersistentVolumeClaim"
	xJob        = "urn:alm:descriptor:io.kubernetes:Job"
	xConditions = "urn:alm:descriptor:io.kubernetes.conditions"
	xPhase      = "urn:alm:descriptor:io.kubernetes.phase"
	xText       = "urn:alm:descriptor:text"
	xNumber     = "urn:alm:descriptor:com.tectonic.ui:number"
	xBool       = "urn:alm:descriptor:com.tectonic.ui:booleanSwitch"
	xTimestamp  = "urn:alm:descriptor:timestamp"
	xAdvanced   = "urn:alm:descriptor:com.tectonic.ui:advanced"
	xResources  = "urn:alm:descriptor:com.tectonic.ui:resourceRequirements"
	xNodeSel    = "urn:alm:descriptor:com.tectonic.ui:nodeSelector"
	xOvercloud  = "urn:alm:descriptor:io.kubernetes:backup.overcloud.io:v1alpha1:Overcloud"
	// xEnum stands for a select widget of the field's enum values, read from the schema so
	// that the choices are always the API's.
	xEnum        = "enum"
	selectPrefix = "urn:alm:descriptor:com.tectonic.ui:select:"
	xBackup      = "urn:alm:descriptor:io.kubernetes:backup.overcloud.io:v1alpha1:OvercloudBackup"
)

// The kinds, and descriptors each of them has.
const (
	kindOvercloud       = "Overcloud"
	kindOvercloudBackup = "OvercloudBackup"
	kindSchedule        = "BackupSchedule"
	kindRestore         = "OvercloudRestore"
	kindJob             = "Job"
)

var (
	conditions = descriptor{"conditions", "Conditions", []string{xConditions}}
	phase      = descriptor{"phase", "Phase", []string{xPhase}}
	message    = descriptor{"message", "Message", []string{xText}}
	jobName    = descriptor{"jobName", kindJob, []string{xJob}}
	completed  = descriptor{"completionTime", "Completed", []string{xTimestamp}}
	overcloud  = descriptor{"overcloudRef.name", kindOvercloud, []string{xOvercloud}}
	jobs       = [][3]string{{kindJob, "jobs", "v1"}}
)

// xDescriptors are the descriptor's x-descriptors, xEnum replaced by a select of the
// field's enum values.
func xDescriptors(d descriptor, field map[string]any) ([]string, error) {
	var out []string
	for _, x := range d.XDesc {
		if x != xEnum {
			out = append(out, x)
			continue
		}
		values, _ := field["enum"].([]any)
		if len(values) == 0 {
			return nil, fmt.Errorf("a select, but the field has no enum")
		}
		for _, v := range values {
			out = append(out, selectPrefix+fmt.Sprint(v))
		}
	}
	return out, nil
}

// owned is the CSV's word on each CRD, by kind; every field path is checked against the CRD's
// schema when the bundle is generated.
var owned = map[string]ownedCRD{
	kindOvercloud: {
		DisplayName: kindOvercloud,
		Spec: []descriptor{
			{"nodes", "Galera nodes", nil},
			{"databaseVIP", "Database VIP", []string{xText}},
			{"database.credentialsSecret.name", "Database credentials Secret", []string{xSecret}},
			{"database.tls.caSecret.name", "Database CA Secret", []string{xSecret}},
			{"ssh.secretName", "SSH Secret", []string{xSecret}},
			{"ssh.user", "SSH user", []string{xText}},
			{"haproxy.statsURL", "HAProxy stats URL", []string{xText}},
			{"haproxy.credentialsSecret.name", "HAProxy stats credentials Secret", []string{xSecret, xAdvanced}},
			{"pacemaker.galeraResource", "Pacemaker galera resource", []string{xText, xAdvanced}},
			{"monitoring.interval", "Probe interval", []string{xText}},
		},
		Status: []descriptor{
			conditions,
			{"backupFrom", "Backup from", []string{xText}},
			{"activeNode", "Active node", []string{xText}},
			{"vipNode", "VIP node", []string{xText}},
			{"synced", "Synced nodes", []string{xText}},
			{"reason", "Reason", []string{xText}},
			{"lastProbeTime", "Last probe", []string{xTimestamp}},
			{"lastSuccessfulBackup.name", "Last successful backup", []string{xBackup}},
		},
	},
	kindOvercloudBackup: {
		DisplayName: "Overcloud Backup",
		Resources:   jobs,
		Spec: []descriptor{
			overcloud,
			{"storage.claimName", "Backup volume claim", []string{xPVC}},
			{"storage.subPath", "Sub-path", []string{xText}},
			{"dump.method", "Method", []string{xEnum}},
			{"dump.compression", "Compression", []string{xEnum}},
			{"deletionPolicy", "Deletion policy", []string{xEnum}},
			{"nodeSelection.node", "Pinned node", []string{xText, xAdvanced}},
			{"job.maxAttempts", "Max attempts", []string{xNumber, xAdvanced}},
			{"job.resources", "Agent resources", []string{xResources, xAdvanced}},
			{"job.nodeSelector", "Agent node selector", []string{xNodeSel, xAdvanced}},
			{"verification.drill", "Restore drill", []string{xEnum}},
		},
		Status: []descriptor{
			phase,
			conditions,
			message,
			{"selectedNode", "Node", []string{xText}},
			jobName,
			{"artifact.claimName", "Volume claim", []string{xPVC}},
			{"artifact.path", "Path", []string{xText}},
			{"artifact.size", "Size", []string{xText}},
			completed,
			{"duration", "Duration", []string{xText}},
		},
	},
	kindSchedule: {
		DisplayName: "Backup Schedule",
		Resources:   [][3]string{{kindOvercloudBackup, "overcloudbackups", "v1alpha1"}},
		Spec: []descriptor{
			{"schedule", "Schedule", []string{xText}},
			{"timeZone", "Time zone", []string{xText}},
			{"suspend", "Suspend", []string{xBool}},
			{"concurrencyPolicy", "Concurrency policy", []string{xEnum}},
			{"backupTemplate.spec.overcloudRef.name", kindOvercloud, []string{xOvercloud}},
			{"backupTemplate.spec.storage.claimName", "Backup volume claim", []string{xPVC}},
			{"successfulBackupsHistoryLimit", "Successful backups kept", []string{xNumber}},
			{"failedBackupsHistoryLimit", "Failed backups kept", []string{xNumber}},
			{"keepWithin", "Keep within", []string{xText, xAdvanced}},
		},
		Status: []descriptor{
			conditions,
			{"lastScheduleTime", "Last run", []string{xTimestamp}},
			{"nextScheduleTime", "Next run", []string{xTimestamp}},
			{"lastSuccessfulBackup", "Last successful backup", []string{xBackup}},
			{"lastVerifiedBackup", "Last verified backup", []string{xBackup}},
			{"consecutiveFailures", "Consecutive failures", []string{xNumber}},
		},
	},
	kindRestore: {
		DisplayName: "Overcloud Restore",
		Resources:   jobs,
		Spec: []descriptor{
			{"backupRef.name", "Backup", []string{xBackup}},
			overcloud,
			{"mode", "Mode", []string{xEnum}},
			{"databases", "Databases", nil},
			{"credentialsSecret.name", "Restore credentials Secret", []string{xSecret}},
			{"confirm", "Confirm (the Overcloud's name)", []string{xText}},
		},
		Status: []descriptor{
			phase,
			conditions,
			message,
			{"node", "Node", []string{xText}},
			jobName,
			completed,
		},
	},
}

// ownedCRDs is spec.customresourcedefinitions.owned: one entry per CRD of config/, sorted by
// kind, each with descriptions from its schema. A CRD without an entry in owned, or a
// descriptor whose path the schema lacks, is an error.
func ownedCRDs(crds []object) ([]operatorsv1alpha1.CRDDescription, error) {
	var out []operatorsv1alpha1.CRDDescription
	seen := map[string]bool{}
	for _, crd := range crds {
		spec, _ := crd["spec"].(map[string]any)
		names, _ := spec["names"].(map[string]any)
		kind, _ := names["kind"].(string)
		o, ok := owned[kind]
		if !ok {
			return nil, fmt.Errorf("CRD %s: its kind %s has no entry in hack/olmbundle's owned", Name(crd), kind)
		}
		seen[kind] = true
		version, schema, err := storageVersion(crd)
		if err != nil {
			return nil, err
		}
		props, _ := schema["properties"].(map[string]any)
		d := operatorsv1alpha1.CRDDescription{
			Name:        Name(crd),
			Kind:        kind,
			Version:     version,
			DisplayName: o.DisplayName,
			Description: firstSentence(schema["description"]),
		}
		for _, r := range o.Resources {
			d.Resources = append(d.Resources, operatorsv1alpha1.APIResourceReference{Kind: r[0], Name: r[1], Version: r[2]})
		}
		for _, sd := range o.Spec {
			desc, x, err := describe(props["spec"], sd)
			if err != nil {
				return nil, fmt.Errorf("%s spec descriptor %s: %w", kind, sd.Path, err)
			}
			d.SpecDescriptors = append(d.SpecDescriptors, operatorsv1alpha1.SpecDescriptor{
				Path: sd.Path, DisplayName: sd.DisplayName, Description: desc, XDescriptors: x,
			})
		}
		for _, sd := range o.Status {
			desc, x, err := describe(props["status"], sd)
			if err != nil {
				return nil, fmt.Errorf("%s status descriptor %s: %w", kind, sd.Path, err)
			}
			d.StatusDescriptors = append(d.StatusDescriptors, operatorsv1alpha1.StatusDescriptor{
				Path: sd.Path, DisplayName: sd.DisplayName, Description: desc, XDescriptors: x,
			})
		}
		out = append(out, d)
	}
	for kind := range owned {
		if !seen[kind] {
			return nil, fmt.Errorf("hack/olmbundle's owned has %s, which config/ has no CRD for", kind)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out, nil
}

// describe is a descriptor's description and x-descriptors from the field at its path: the
// first sentence of the field's description (of the reference for a reference's name: "name
// of the Secret" says less than what the Secret is for).
func describe(schema any, d descriptor) (string, []string, error) {
	field, err := fieldAt(schema, d.Path)
	if err != nil {
		return "", nil, err
	}
	desc := firstSentence(field["description"])
	if parent, ok := strings.CutSuffix(d.Path, ".name"); ok {
		ref, err := fieldAt(schema, parent)
		if err != nil {
			return "", nil, err
		}
		desc = firstSentence(ref["description"])
	}
	if desc == "" {
		return "", nil, fmt.Errorf("the field has no description in the CRD")
	}
	x, err := xDescriptors(d, field)
	if err != nil {
		return "", nil, err
	}
	return desc, x, nil
}

// storageVersion is the CRD's stored version and its schema.
func storageVersion(crd object) (string, map[string]any, error) {
	spec, _ := crd["spec"].(map[string]any)
	versions, _ := spec["versions"].([]any)
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if m["storage"] == true {
			name, _ := m["name"].(string)
			s, _ := m["schema"].(map[string]any)
			schema, _ := s["openAPIV3Schema"].(map[string]any)
			if schema == nil {
				return "", nil, fmt.Errorf("CRD %s: version %s has no schema", Name(crd), name)
			}
			return name, schema, nil
		}
	}
	return "", nil, fmt.Errorf("CRD %s has no storage version", Name(crd))
}

// fieldAt walks a dotted path through an OpenAPI schema's properties (and array items).
func fieldAt(schema any, p string) (map[string]any, error) {
	cur, _ := schema.(map[string]any)
	for _, seg := range strings.Split(p, ".") {
		if cur == nil {
			return nil, fmt.Errorf("no schema above %q", seg)
		}
		if items, ok := cur["items"].(map[string]any); ok && cur["type"] == "array" {
			cur = items
		}
		props, _ := cur["properties"].(map[string]any)
		next, ok := props[seg].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("the schema has no field %q", seg)
		}
		cur = next
	}
	return cur, nil
}

// maxDescription bounds a descriptor's description: the console shows it as a hint.
const maxDescription = 300

// firstSentence is a schema description's first sentence, whitespace collapsed: the
// schema's descriptions go on with details the console's hint has no room for.
func firstSentence(v any) string {
	s, _ := v.(string)
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if len(s) > maxDescription {
		cut := maxDescription
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut]) + "…"
	}
	return s
}
