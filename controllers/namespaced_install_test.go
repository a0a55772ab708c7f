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
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
	checkClusterBindings(t, objs)
	for _, tc := range []struct {
		ns, group, resource, verb string
		allowed                   bool
	}{
		{"openstack", "", "secrets", "get", true},
		{"openstack", "batch", "jobs", "create", true},
		{"openstack", "backup.overcloud.io", "overcloudbackups", "update", true},
		{"elsewhere", "", "secrets", "get", false},
		{"elsewhere", "", "secrets", "list", false},
		{"elsewhere", "", "secrets", "watch", false},
		{"elsewhere", "batch", "jobs", "create", false},
		{"elsewhere", "batch", "jobs", "delete", false},
		{"elsewhere", "", "pods", "list", false},
		{"", "batch", "jobs", "list", false},
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

// checkClusterBindings reads the rendered overlay itself: every ClusterRoleBinding names
// a ClusterRole of the overlay (not a built-in one such as cluster-admin or edit) whose
// rules reach no Secret, Job or Pod and no wildcard, and is no aggregation (which would
// take in other roles' rules). The manager-role ClusterRole may grant them: it is bound
// only by RoleBindings.
func checkClusterBindings(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	roles := map[string]*rbacv1.ClusterRole{}
	var bindings []*rbacv1.ClusterRoleBinding
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			r := &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, r); err != nil {
				t.Fatal(err)
			}
			roles[r.Name] = r
		case "ClusterRoleBinding":
			b := &rbacv1.ClusterRoleBinding{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, b); err != nil {
				t.Fatal(err)
			}
			bindings = append(bindings, b)
		}
	}
	if len(bindings) == 0 {
		t.Fatal("no ClusterRoleBinding rendered: StorageClasses could not be read")
	}
	for _, b := range bindings {
		r, ok := roles[b.RoleRef.Name]
		switch {
		case b.RoleRef.Kind != "ClusterRole" || !ok:
			t.Errorf("ClusterRoleBinding %s binds %s %s, which the overlay does not define", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			continue
		case r.AggregationRule != nil:
			t.Errorf("ClusterRoleBinding %s binds the aggregated ClusterRole %s", b.Name, r.Name)
		}
		for _, rule := range r.Rules {
			for _, res := range rule.Resources {
				if res == "*" || res == "secrets" || res == "jobs" || strings.HasPrefix(res, "pods") ||
					slices.Contains(rule.APIGroups, "*") {
					t.Errorf("ClusterRoleBinding %s grants %v on %s in every namespace (ClusterRole %s)", b.Name, rule.Verbs, res, r.Name)
				}
			}
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
