package controllers

// The namespaced install (config/namespaced), rendered by kustomize and its RBAC applied
// to the real API server (envtest runs it with RBAC authorization): the manager's
// ServiceAccount may read Secrets and create Jobs in the watched namespace and nowhere
// else, and still reads StorageClasses. SubjectAccessReviews ask the API server itself.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// kustomizeBuild renders dir with the kustomize `make kustomize` builds (OCB_KUSTOMIZE,
// set by `make test`).
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	bin := os.Getenv("OCB_KUSTOMIZE")
	if bin == "" {
		t.Fatal("OCB_KUSTOMIZE is not set: run with `make test`, or set it to bin/kustomize-<version> after `make kustomize`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "build", dir).Output() //nolint:gosec // G204: the repo's kustomize, our directory
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func TestNamespacedInstallRBAC(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	objs := kustomizeBuild(t, filepath.Join("..", "config", "namespaced"))
	for _, ns := range []string{"overcloud-backup-system", "openstack", "elsewhere"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	sa := ""
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		case "Deployment":
			args, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if !strings.Contains(strings.ReplaceAll(jsonString(t, args), `"`, ""), "--watch-namespaces=openstack") {
				t.Errorf("the manager does not watch only the namespaces bound: %v", args)
			}
			continue
		default:
			continue
		}
		if o.GetKind() == "ClusterRoleBinding" && strings.Contains(jsonString(t, o.Object["roleRef"]), "manager-role") {
			t.Errorf("ClusterRoleBinding %s binds the manager's rules cluster-wide", o.GetName())
		}
		if o.GetKind() == "ServiceAccount" {
			sa = "system:serviceaccount:" + o.GetNamespace() + ":" + o.GetName()
		}
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if sa == "" {
		t.Fatal("the overlay has no ServiceAccount")
	}
	for _, tc := range []struct {
		ns, group, resource, verb string
		allowed                   bool
	}{
		{"openstack", "", "secrets", "get", true},
		{"openstack", "batch", "jobs", "create", true},
		{"openstack", "backup.overcloud.io", "overcloudbackups", "update", true},
		{"elsewhere", "", "secrets", "get", false},
		{"elsewhere", "", "secrets", "list", false},
		{"elsewhere", "batch", "jobs", "create", false},
		{"", "", "secrets", "list", false}, // every namespace
		{"", "storage.k8s.io", "storageclasses", "list", true},
		{"overcloud-backup-system", "", "pods", "get", true}, // its own pod, for its image
	} {
		r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: tc.ns, Group: tc.group, Resource: tc.resource, Verb: tc.verb},
		}}
		// RBAC objects just created take a moment to reach the authorizer's cache.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if err := c.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			if r.Status.Allowed == tc.allowed || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if r.Status.Allowed != tc.allowed {
			t.Errorf("%s %s.%s in %q: allowed %v, want %v (%s)", tc.verb, tc.resource, tc.group, tc.ns, r.Status.Allowed, tc.allowed, r.Status.Reason)
		}
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
