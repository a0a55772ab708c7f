package controllers

// internal/crdcheck against the real API server (envtest): on the same Overcloud
// documents, `probe -f`'s validation and a dry-run create must agree, accepted or
// refused. The CRD is the one source of truth for both.

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/overcloud-backup/overcloud-backup-operator/config/crd"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/crdcheck"
)

func TestCRDCheckAgreesWithAPIServer(t *testing.T) {
	c := newClient(t)
	ns := newNamespace(t, c)
	v, err := crdcheck.New(crd.Overclouds, "v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	const head = "apiVersion: backup.overcloud.io/v1alpha1\nkind: Overcloud\nmetadata: {name: x}\nspec:\n"
	const db = "  database: {credentialsSecret: {name: db}}\n"
	const one = "  nodes: [{name: a, address: 10.0.0.1}]\n"
	for name, spec := range map[string]string{
		"minimal": one + db,
		"full": "  nodes: [{name: a, address: 10.0.0.1, mysqlPort: 3307, sshPort: 2222}, {name: b, address: 10.0.0.2}]\n" + db +
			"  databaseVIP: 10.0.0.10\n  ssh: {secretName: ssh, user: heat-admin, timeout: 5s}\n  pacemaker: {}\n" +
			"  haproxy: {statsURL: \"http://10.0.0.10:1993/\", statsSocket: /var/lib/haproxy/stats, backend: mysql}\n" +
			"  monitoring: {interval: 30s}\n",
		"no nodes":                  "  nodes: []\n" + db,
		"names twice":               "  nodes: [{name: a, address: 10.0.0.1}, {name: a, address: 10.0.0.2}]\n" + db,
		"address and port twice":    "  nodes: [{name: a, address: 10.0.0.1}, {name: b, address: 10.0.0.1}]\n" + db,
		"socket path with a shell":  one + db + "  ssh: {secretName: ssh, user: heat-admin}\n  haproxy: {statsSocket: \"/x; touch /tmp/p\"}\n",
		"pacemaker without ssh":     one + db + "  pacemaker: {}\n",
		"negative interval":         one + db + "  monitoring: {interval: -5s}\n",
		"port out of range":         "  nodes: [{name: a, address: 10.0.0.1, mysqlPort: 70000}]\n" + db,
		"backend with a semicolon":  one + db + "  haproxy: {statsURL: \"http://10.0.0.10:1993/\", backend: \"mysql;show\"}\n",
		"ssh user with a space":     one + db + "  ssh: {secretName: ssh, user: \"heat admin\"}\n",
		"database timeout too long": one + "  database: {credentialsSecret: {name: db}, connectTimeout: 1h}\n",
	} {
		t.Run(name, func(t *testing.T) {
			doc := []byte(head + spec)
			ours := v.ValidateYAML(context.Background(), doc)
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatal(err)
			}
			u.SetNamespace(ns)
			theirs := c.Create(context.Background(), u, client.DryRunAll)
			if (ours == nil) != (theirs == nil) {
				t.Fatalf("crdcheck: %v\nAPI server: %v", ours, theirs)
			}
			if good := name == "minimal" || name == "full"; good != (ours == nil) {
				t.Errorf("valid %v, but crdcheck says %v", good, ours)
			}
			if ours != nil && name == "socket path with a shell" && !strings.Contains(ours.Error(), "statsSocket") {
				t.Errorf("the refusal does not name the field: %v", ours)
			}
		})
	}
}
