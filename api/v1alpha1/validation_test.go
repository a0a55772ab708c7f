package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

const validOvercloud = `
apiVersion: backup.overcloud.io/v1alpha1
kind: Overcloud
metadata:
  name: base
spec:
  nodes:
  - {name: controller-0, address: 10.77.0.11}
  - {name: controller-1, address: 10.77.0.12}
  - {name: controller-2, address: 10.77.0.13}
  database:
    credentialsSecret: {name: db}
`

const validBackup = `
apiVersion: backup.overcloud.io/v1alpha1
kind: OvercloudBackup
metadata:
  name: base
spec:
  overcloudRef: {name: overcloud}
  storage:
    claimName: backups
`

const validSchedule = `
apiVersion: backup.overcloud.io/v1alpha1
kind: BackupSchedule
metadata:
  name: base
spec:
  schedule: "@daily"
  backupTemplate:
    spec:
      overcloudRef: {name: overcloud}
      storage:
        claimName: backups
`

// obj decodes a YAML manifest into an unstructured object, failing the test on error.
func obj(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("decoding manifest: %v", err)
	}
	return u
}

// set returns a mutation that sets the field at the dotted path.
func set(path string, value any) func(*unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, value, strings.Split(path, ".")...)
	}
}

// del returns a mutation that removes the field at the dotted path.
func del(path string) func(*unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error {
		unstructured.RemoveNestedField(u.Object, strings.Split(path, ".")...)
		return nil
	}
}

// nodes returns a nodes list of n nodes with the given name prefix.
func nodes(n int) []any {
	out := make([]any, 0, n)
	for i := range n {
		out = append(out, map[string]any{"name": fmt.Sprintf("controller-%d", i), "address": fmt.Sprintf("10.77.0.%d", 11+i)})
	}
	return out
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetGenerateName("api-")
	if err := k8sClient.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.GetName()
}

// TestCRDsInstalled checks what `kubectl get` and `kubectl api-resources` show.
func TestCRDsInstalled(t *testing.T) {
	cases := []struct {
		crd        string
		shortName  string
		columns    []string
		storedKind string
	}{
		{"overclouds.backup.overcloud.io", "ovc", []string{"Ready", "Active", "Backup-From", "Synced", "Last-Success", "Age"}, "Overcloud"},
		{"overcloudbackups.backup.overcloud.io", "ocb", []string{"Phase", "Node", "Size", "Duration", "Verified", "Age"}, "OvercloudBackup"},
		{"backupschedules.backup.overcloud.io", "obs", []string{"Schedule", "Suspend", "Last", "Next", "Last Success", "Age"}, "BackupSchedule"},
	}
	for _, tc := range cases {
		t.Run(tc.storedKind, func(t *testing.T) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := k8sClient.Get(t.Context(), types.NamespacedName{Name: tc.crd}, crd); err != nil {
				t.Fatalf("getting CRD: %v", err)
			}
			established := false
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				t.Errorf("CRD %s is not Established: %+v", tc.crd, crd.Status.Conditions)
			}
			if got := crd.Spec.Names.ShortNames; len(got) != 1 || got[0] != tc.shortName {
				t.Errorf("shortNames = %v, want [%s]", got, tc.shortName)
			}
			if got := crd.Spec.Names.Categories; len(got) != 1 || got[0] != "overcloud-backup" {
				t.Errorf("categories = %v, want [overcloud-backup]", got)
			}
			if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Subresources == nil || crd.Spec.Versions[0].Subresources.Status == nil {
				t.Fatalf("want one version with a status subresource, got %+v", crd.Spec.Versions)
			}
			var names []string
			for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
				if c.Priority == 0 {
					names = append(names, c.Name)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.columns, ",") {
				t.Errorf("printer columns = %v, want %v", names, tc.columns)
			}
		})
	}
}

// TestSamplesAccepted applies every sample under config/samples to the real API server,
// first as a server-side dry run (what `kubectl apply --dry-run=server` does), then for real.
func TestSamplesAccepted(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f) //nolint:gosec // G304: the path comes from a glob of our own samples directory
			if err != nil {
				t.Fatal(err)
			}
			for _, doc := range strings.Split(string(data), "\n---\n") {
				if strings.TrimSpace(doc) == "" {
					continue
				}
				u := obj(t, doc)
				u.SetNamespace(ns)
				if err := k8sClient.Create(t.Context(), u.DeepCopy(), client.DryRunAll); err != nil {
					t.Fatalf("server-side dry run of %s/%s rejected it: %v", u.GetKind(), u.GetName(), err)
				}
				if err := k8sClient.Create(t.Context(), u); err != nil {
					t.Fatalf("creating %s/%s: %v", u.GetKind(), u.GetName(), err)
				}
			}
		})
	}
	if n < 2 {
		t.Fatalf("found %d samples in config/samples, want one of each kind at least", n)
	}
}

// TestValidationRejects applies malformed objects to the real API server and checks each
// is refused with the expected message: the CRD's OpenAPI schema and CEL rules at work.
func TestValidationRejects(t *testing.T) {
	ns := newNamespace(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name   string
		base   string
		mutate []func(*unstructured.Unstructured) error
		want   string
	}{
		{"unknown compression", validBackup, mut(set("spec.dump.compression", "lzma")), `spec.dump.compression: Unsupported value: "lzma"`},
		{"unknown dump method", validBackup, mut(set("spec.dump.method", "Snapshot")), `spec.dump.method: Unsupported value: "Snapshot"`},
		{"unknown desync policy", validBackup, mut(set("spec.dump.desync", "Maybe")), `spec.dump.desync: Unsupported value: "Maybe"`},
		{"unknown deletion policy", validBackup, mut(set("spec.deletionPolicy", "Archive")), `spec.deletionPolicy: Unsupported value: "Archive"`},
		{"missing overcloudRef", validBackup, mut(del("spec.overcloudRef")), `spec.overcloudRef: Required value`},
		{"missing storage claim", validBackup, mut(del("spec.storage.claimName")), `spec.storage.claimName: Required value`},
		{"missing credentials secret", validOvercloud, mut(del("spec.database.credentialsSecret")), `spec.database.credentialsSecret: Required value`},
		{"no nodes", validOvercloud, mut(set("spec.nodes", []any{})), `spec.nodes: Invalid value: 0: spec.nodes in body should have at least 1 items`},
		{"too many nodes", validOvercloud, mut(set("spec.nodes", nodes(17))), `spec.nodes: Too many: 17: must have at most 16 items`},
		{"duplicate node names", validOvercloud, mut(set("spec.nodes", []any{
			map[string]any{"name": "controller-0", "address": "10.77.0.11"},
			map[string]any{"name": "controller-0", "address": "10.77.0.12"},
		})), `spec.nodes[1]: Duplicate value`},
		{"duplicate address and port", validOvercloud, mut(set("spec.nodes", []any{
			map[string]any{"name": "controller-0", "address": "10.77.0.11"},
			map[string]any{"name": "controller-1", "address": "10.77.0.11", "mysqlPort": int64(3306)},
		})), `spec.nodes: Invalid value: two nodes cannot share the same address and MySQL port`},
		{"address not an address", validOvercloud, mut(set("spec.nodes", []any{
			map[string]any{"name": "controller-0", "address": "not an address!"},
		})), `address must be an IP address (not 0.0.0.0 or ::) or a DNS name`},
		{"unspecified address", validOvercloud, mut(set("spec.nodes", []any{
			map[string]any{"name": "controller-0", "address": "0.0.0.0"},
		})), `address must be an IP address (not 0.0.0.0 or ::) or a DNS name`},
		{"empty address", validOvercloud, mut(set("spec.nodes", []any{
			map[string]any{"name": "controller-0", "address": ""},
		})), `spec.nodes[0].address: Invalid value: "": spec.nodes[0].address in body should be at least 1 chars long`},
		{"port out of range", validOvercloud, mut(set("spec.nodes", []any{
			map[string]any{"name": "controller-0", "address": "10.77.0.11", "mysqlPort": int64(70000)},
		})), `spec.nodes[0].mysqlPort: Invalid value: 70000: spec.nodes[0].mysqlPort in body should be less than or equal to 65535`},
		{"VIP not an IP", validOvercloud, mut(set("spec.databaseVIP", "vip.example.com")), `databaseVIP must be an IP address`},
		{"overcloudRef name not a DNS label", validBackup, mut(set("spec.overcloudRef.name", "Over_Cloud")), `spec.overcloudRef.name: Invalid value: "Over_Cloud": spec.overcloudRef.name in body should match`},
		{"preferred and excluded", validBackup, mut(
			set("spec.nodeSelection.preferredNodes", []any{"controller-1", "controller-2"}),
			set("spec.nodeSelection.excludedNodes", []any{"controller-2"}),
		), `spec.nodeSelection.excludedNodes: Invalid value: a node cannot be both preferred and excluded`},
		{"pinned and excluded", validBackup, mut(
			set("spec.nodeSelection.node", "controller-1"),
			set("spec.nodeSelection.excludedNodes", []any{"controller-1"}),
		), `the pinned node cannot be excluded`},
		{"duplicate preferred nodes", validBackup, mut(set("spec.nodeSelection.preferredNodes", []any{"controller-1", "controller-1"})), `spec.nodeSelection.preferredNodes[1]: Duplicate value: "controller-1"`},
		{"negative active deadline", validBackup, mut(set("spec.job.activeDeadlineSeconds", int64(-1))), `spec.job.activeDeadlineSeconds: Invalid value: -1: spec.job.activeDeadlineSeconds in body should be greater than or equal to 1`},
		{"zero attempts", validBackup, mut(set("spec.job.maxAttempts", int64(0))), `spec.job.maxAttempts: Invalid value: 0: spec.job.maxAttempts in body should be greater than or equal to 1`},
		{"negative deadline", validBackup, mut(set("spec.deadline", "-5m")), `deadline must be positive`},
		{"latest image", validBackup, mut(set("spec.job.image", "example.com/agent:latest")), `pin the image to a tag or digest other than :latest`},
		{"gzip level above 9", validBackup, mut(set("spec.dump.compression", "gzip"), set("spec.dump.compressionLevel", int64(12))), `spec.dump.compressionLevel: Invalid value: gzip compressionLevel must be between 1 and 9`},
		{"level without compression", validBackup, mut(set("spec.dump.compression", "none"), set("spec.dump.compressionLevel", int64(3))), `compressionLevel cannot be set when compression is none`},
		{"mariabackup with databases", validBackup, mut(
			set("spec.dump.method", "Mariabackup"), set("spec.dump.databases", []any{"nova"}),
		), `the Mariabackup method copies the whole instance: databases must be empty`},
		{"database name like an option", validBackup, mut(set("spec.dump.databases", []any{"nova", "--where=0"})), `spec.dump.databases[1]: Invalid value: "--where=0"`},
		{"database name with a newline", validBackup, mut(set("spec.dump.databases", []any{"nova\nkeystone"})), `spec.dump.databases[0]: Invalid value:`},
		{"pacemaker without ssh", validOvercloud, mut(set("spec.pacemaker", map[string]any{})), `pacemaker access needs ssh access: set ssh`},
		{"haproxy without any address", validOvercloud, mut(set("spec.haproxy", map[string]any{"backend": "mysql"})), `set statsURL, statsSocket or both`},
		{"haproxy socket without ssh", validOvercloud, mut(set("spec.haproxy", map[string]any{"statsSocket": "/var/lib/haproxy/stats"})), `haproxy.statsSocket is read over SSH: set ssh`},
		{"haproxy stats not http", validOvercloud, mut(set("spec.haproxy", map[string]any{"statsURL": "ftp://10.77.0.10:1993/"})), `statsURL must be an http or https URL with a host`},
		{"haproxy socket not absolute", validOvercloud, mut(
			set("spec.ssh", map[string]any{"secretName": "ssh", "user": "heat-admin"}),
			set("spec.haproxy", map[string]any{"statsSocket": "haproxy/stats"})), `spec.haproxy.statsSocket in body should match`},
		{"subPath escapes the volume", validBackup, mut(set("spec.storage.subPath", "backups/../../etc")), `subPath must not contain '.' or '..' segments`},
		{"absolute subPath", validBackup, mut(set("spec.storage.subPath", "/etc")), `spec.storage.subPath in body should match`},
		{"VerifyCA without CA", validOvercloud, mut(set("spec.database.tls", map[string]any{"mode": "VerifyCA"})), `caSecret is required when mode is VerifyCA or VerifyFull`},
		{"zero connect timeout", validOvercloud, mut(set("spec.database.connectTimeout", "0s")), `connectTimeout must be more than 0s and at most 5m`},
		{"ssh user with a space", validOvercloud, mut(set("spec.ssh", map[string]any{"secretName": "ssh", "user": "heat admin"})), `spec.ssh.user in body should match`},
		{"backup name too long", validBackup, mut(func(u *unstructured.Unstructured) error { u.SetName(long(53)); return nil }), `metadata.name must be at most 52 characters`},
		{"schedule missing", validSchedule, mut(del("spec.schedule")), `spec.schedule: Required value`},
		{"schedule empty", validSchedule, mut(set("spec.schedule", "")), `spec.schedule in body should be at least 1 chars long`},
		{"schedule with CRON_TZ", validSchedule, mut(set("spec.schedule", "CRON_TZ=UTC 0 2 * * *")), `set the time zone in spec.timeZone`},
		{"unknown concurrency policy", validSchedule, mut(set("spec.concurrencyPolicy", "Sometimes")), `spec.concurrencyPolicy: Unsupported value: "Sometimes"`},
		{"negative successful history", validSchedule, mut(set("spec.successfulBackupsHistoryLimit", int64(-1))), `spec.successfulBackupsHistoryLimit in body should be greater than or equal to 0`},
		{"negative failed history", validSchedule, mut(set("spec.failedBackupsHistoryLimit", int64(-3))), `spec.failedBackupsHistoryLimit in body should be greater than or equal to 0`},
		{"negative starting deadline", validSchedule, mut(set("spec.startingDeadlineSeconds", int64(-10))), `spec.startingDeadlineSeconds in body should be greater than or equal to 0`},
		{"negative keepWithin", validSchedule, mut(set("spec.keepWithin", "-24h")), `keepWithin must not be negative`},
		{"time zone with spaces", validSchedule, mut(set("spec.timeZone", "Europe/Paris CET")), `spec.timeZone in body should match`},
		{"template without spec", validSchedule, mut(del("spec.backupTemplate.spec")), `spec.backupTemplate.spec: Required value`},
		{"monitoring interval too short", validOvercloud, mut(set("spec.monitoring", map[string]any{"interval": "500ms"})), `monitoring.interval must be 0s (no watch) or at least 1s`},
		{"overcloud without database", validOvercloud, mut(del("spec.database")), `spec.database: Required value`},
		{"schedule name too long", validSchedule, mut(func(u *unstructured.Unstructured) error { u.SetName(long(43)); return nil }), `metadata.name must be at most 42 characters`},
	}
	if len(cases) < 20 {
		t.Fatalf("the table must hold at least 20 malformed objects, it has %d", len(cases))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := obj(t, tc.base)
			u.SetNamespace(ns)
			u.SetName(fmt.Sprintf("bad-%d", i))
			for _, m := range tc.mutate {
				if err := m(u); err != nil {
					t.Fatalf("mutating: %v", err)
				}
			}
			// The dry run is what `kubectl apply --dry-run=server` sends; the real
			// create must fail the same way.
			for _, opts := range [][]client.CreateOption{{client.DryRunAll}, nil} {
				err := k8sClient.Create(t.Context(), u.DeepCopy(), opts...)
				if err == nil {
					t.Fatalf("the API server accepted the object (options %v), want rejection containing %q", opts, tc.want)
				}
				if !apierrors.IsInvalid(err) {
					t.Fatalf("want an Invalid error, got %v", err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("rejection message\n  %v\ndoes not contain\n  %s", err, tc.want)
				}
			}
		})
	}
}

// mut gathers mutations for a table row.
func mut(m ...func(*unstructured.Unstructured) error) []func(*unstructured.Unstructured) error {
	return m
}

// TestBackupSpecImmutable: a backup's spec cannot change once created, while its status
// (a subresource) and its metadata can; a schedule's template can change.
func TestBackupSpecImmutable(t *testing.T) {
	ns := newNamespace(t)
	ctx := t.Context()

	b := obj(t, validBackup)
	b.SetNamespace(ns)
	if err := k8sClient.Create(ctx, b); err != nil {
		t.Fatalf("creating backup: %v", err)
	}

	changed := b.DeepCopy()
	if err := unstructured.SetNestedField(changed.Object, "other-claim", "spec", "storage", "claimName"); err != nil {
		t.Fatal(err)
	}
	err := k8sClient.Update(ctx, changed)
	if err == nil || !strings.Contains(err.Error(), "spec is immutable: create a new OvercloudBackup instead") {
		t.Fatalf("updating the spec: got %v, want the immutability message", err)
	}

	labelled := b.DeepCopy()
	labelled.SetLabels(map[string]string{"team": "cloud"})
	if err := k8sClient.Update(ctx, labelled); err != nil {
		t.Fatalf("changing labels must be allowed: %v", err)
	}

	typed := &backupv1alpha1.OvercloudBackup{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(b), typed); err != nil {
		t.Fatal(err)
	}
	typed.Status.Phase = backupv1alpha1.PhasePending
	meta.SetStatusCondition(&typed.Status.Conditions, metav1.Condition{
		Type: backupv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: backupv1alpha1.ReasonProgressing, Message: "waiting", ObservedGeneration: typed.Generation,
	})
	if err := k8sClient.Status().Update(ctx, typed); err != nil {
		t.Fatalf("status update must be allowed: %v", err)
	}

	s := obj(t, validSchedule)
	s.SetNamespace(ns)
	if err := k8sClient.Create(ctx, s); err != nil {
		t.Fatalf("creating schedule: %v", err)
	}
	if err := unstructured.SetNestedField(s.Object, "other-claim", "spec", "backupTemplate", "spec", "storage", "claimName"); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Update(ctx, s); err != nil {
		t.Fatalf("a schedule's template must stay editable: %v", err)
	}
}

// TestDefaults: the API server fills the policy enums, and only those.
func TestDefaults(t *testing.T) {
	ns := newNamespace(t)
	b := obj(t, validBackup)
	b.SetNamespace(ns)
	if err := unstructured.SetNestedField(b.Object, map[string]any{}, "spec", "dump"); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(t.Context(), b); err != nil {
		t.Fatalf("creating backup: %v", err)
	}
	got := &backupv1alpha1.OvercloudBackup{}
	if err := k8sClient.Get(t.Context(), client.ObjectKeyFromObject(b), got); err != nil {
		t.Fatal(err)
	}
	d := got.Spec.Dump
	if d == nil || d.Method != backupv1alpha1.DumpLogical || d.Compression != backupv1alpha1.CompressionZstd ||
		d.Desync != backupv1alpha1.DesyncEnabled || d.Users != backupv1alpha1.UsersInclude {
		t.Errorf("dump defaults = %+v, want Logical, zstd, Enabled, Include", d)
	}
	if got.Spec.DeletionPolicy != backupv1alpha1.DeletionRetain {
		t.Errorf("deletionPolicy = %q, want Retain", got.Spec.DeletionPolicy)
	}
	if got.Spec.Job != nil || got.Spec.Deadline != nil {
		t.Errorf("non-policy fields must not be defaulted: job=%+v deadline=%v", got.Spec.Job, got.Spec.Deadline)
	}

	s := obj(t, validSchedule)
	s.SetNamespace(ns)
	if err := k8sClient.Create(t.Context(), s); err != nil {
		t.Fatalf("creating schedule: %v", err)
	}
	gs := &backupv1alpha1.BackupSchedule{}
	if err := k8sClient.Get(t.Context(), client.ObjectKeyFromObject(s), gs); err != nil {
		t.Fatal(err)
	}
	if gs.Spec.ConcurrencyPolicy != backupv1alpha1.ConcurrencyForbid {
		t.Errorf("concurrencyPolicy = %q, want Forbid", gs.Spec.ConcurrencyPolicy)
	}
	if gs.Spec.SuccessfulBackupsHistoryLimit != nil || gs.Spec.Suspend != nil {
		t.Errorf("limits and suspend are not API defaults, got %v %v", gs.Spec.SuccessfulBackupsHistoryLimit, gs.Spec.Suspend)
	}
}
