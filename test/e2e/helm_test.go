//go:build e2e

package e2e_test

// The Helm charts (charts/, docs/helm.md) installed on the one-node Kubernetes with the helm
// `make helm` builds (OCB_HELM), as a platform team would: the CRDs chart, then the operator
// chart into its own namespace, namespaced (watching only that namespace). A backup of the
// sandbox runs through the chart-installed manager; `helm upgrade` changes the log level and
// the memory limit, and the rolled-out pod has them; `helm uninstall` of both charts leaves
// the CRDs and the backup.
//
// The operator `make deploy` installed watches every namespace, so it would run this test's
// backup too: it is scaled to 0 for the test, under the sandbox lock (every test that
// creates a backup holds it), and scaled back, Ready, at the end.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	runtimeschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

const (
	// helmRelease and helmCRDsRelease are the test's releases; the first is the prefix of
	// the operator chart's names (ocb-helm-controller-manager), cluster-scoped ones too.
	helmRelease     = "ocb-helm"
	helmCRDsRelease = "ocb-helm-crds"
)

// helmCLI runs the helm binary against the node, with a throwaway helm home.
type helmCLI struct {
	bin, kubeconfig, home string
}

func newHelm(t *testing.T) *helmCLI {
	t.Helper()
	bin := os.Getenv("OCB_HELM")
	if bin == "" {
		t.Fatalf("OCB_HELM is not set: `make test-e2e` builds helm (make helm) and sets it; %s", upHint)
	}
	//nolint:gosec // G703: the binary make names, checked before it is run
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("OCB_HELM=%s is not an executable (%v): make helm", bin, err)
	}
	return &helmCLI{bin: bin, kubeconfig: os.Getenv("OCB_KUBECONFIG"), home: t.TempDir()}
}

// run runs helm with args (bounded to 3 minutes) and returns its output; the error has it too.
func (h *helmCLI) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	//nolint:gosec // G204: the repo's helm, our arguments
	cmd := exec.CommandContext(ctx, h.bin, append([]string{"--kubeconfig", h.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+h.home, "HELM_CACHE_HOME="+h.home, "HELM_DATA_HOME="+h.home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func (h *helmCLI) must(t *testing.T, args ...string) string {
	t.Helper()
	start := time.Now()
	out, err := h.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("helm %s: %v", strings.Join(args[:min(2, len(args))], " "), time.Since(start).Round(time.Millisecond))
	return out
}

func TestHelm(t *testing.T) {
	k := connect(t)
	h := newHelm(t)
	sb := lockSandbox(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	chart := filepath.Join(repoRoot(), "charts", "overcloud-backup-operator")
	crdsChart := filepath.Join(repoRoot(), "charts", "overcloud-backup-operator-crds")

	// What an interrupted run left cluster-wide (its namespace, with the release, is gone).
	k.deleteReleaseLeftovers(ctx, t)
	ns := k.namespace(t, "helm")
	k.pauseDeployedManager(ctx, t)

	// The CRDs exist (make deploy applied them with kubectl apply --server-side): the CRDs
	// chart takes them over, labels included.
	h.must(t, "install", helmCRDsRelease, crdsChart, "--namespace", ns, "--take-ownership", "--force-conflicts")
	t.Cleanup(func() { h.uninstallIfThere(t, helmCRDsRelease, ns) })
	repository, tag, _ := strings.Cut(k.image, ":")
	h.must(t, "install", helmRelease, chart, "--namespace", ns, "--wait", "--timeout", "150s",
		"--set", "image.repository="+repository, "--set", "image.tag="+tag, "--set", "watchNamespaces={"+ns+"}")
	t.Cleanup(func() { h.uninstallIfThere(t, helmRelease, ns) })

	dep := k.chartManager(ctx, t, ns)
	args := dep.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--watch-namespaces="+ns) || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--zap-log-level") }) {
		t.Errorf("the chart's manager runs with %q: want --watch-namespaces=%s and no --zap-log-level", args, ns)
	}
	k.checkNamespacedBinding(ctx, t, ns)

	// A backup through the chart-installed manager.
	k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)
	b := controllerBackup(sb, ns, "helm-1", accessSSH, "nova")
	since := metav1.Now()
	run := k.runBackup(t, b, 4*time.Minute, nil)
	if got := run.final; got.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Fatalf("the backup through the chart's manager ended %s: %s\nevents:\n%s", got.Status.Phase, got.Status.Message, k.events(ns))
	}
	t.Logf("the backup through the chart's manager: Succeeded in %v (Job after %v)", run.toDone.Round(time.Millisecond), run.toJob.Round(time.Millisecond))
	// The Job was the chart's manager's: it logged its creation.
	if logs := k.podsLogs(ctx, t, ns, "control-plane=controller-manager", since); !strings.Contains(logs, "Created the backup Job") ||
		!strings.Contains(logs, run.final.Status.JobName) {
		t.Errorf("the chart's manager did not log creating Job %q; its logs:\n%s", run.final.Status.JobName, logs)
	}
	k.checkStillPaused(ctx, t)

	// helm upgrade: the log level and the memory limit reach the rolled-out pod.
	h.must(t, "upgrade", helmRelease, chart, "--namespace", ns, "--reuse-values", "--wait", "--timeout", "150s",
		"--set", "manager.logLevel=debug", "--set", "resources.limits.memory=320Mi")
	dep = k.chartManager(ctx, t, ns)
	pod := k.onlyReadyPod(ctx, t, ns, dep)
	c := pod.Spec.Containers[0]
	if !slices.Contains(c.Args, "--zap-log-level=debug") || c.Resources.Limits.Memory().String() != "320Mi" {
		t.Errorf("after helm upgrade the manager pod %s runs with %q, memory limit %s: want --zap-log-level=debug and 320Mi",
			pod.Name, c.Args, c.Resources.Limits.Memory())
	}
	if out := h.must(t, "history", helmRelease, "--namespace", ns); !strings.Contains(out, "Upgrade complete") {
		t.Errorf("helm history has no completed upgrade:\n%s", out)
	}

	// helm uninstall: the operator goes, its cluster-scoped objects too; the CRDs and the
	// backup stay, through the uninstall of the CRDs chart as well (helm.sh/resource-policy: keep).
	h.must(t, "uninstall", helmRelease, "--namespace", ns, "--wait", "--timeout", "120s")
	if err := k.c.Get(ctx, client.ObjectKeyFromObject(dep), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the manager Deployment after helm uninstall: %v", err)
	}
	if left := k.releaseClusterObjects(ctx, t, helmRelease); len(left) > 0 {
		t.Errorf("cluster-scoped objects of the release left after helm uninstall: %v", left)
	}
	manifest := h.must(t, "get", "manifest", helmCRDsRelease, "--namespace", ns)
	if n := strings.Count(manifest, "helm.sh/resource-policy: keep"); n != 4 {
		t.Fatalf("the CRDs release has %d CRDs marked keep, want 4: not uninstalling it (it would delete every backup)", n)
	}
	h.must(t, "uninstall", helmCRDsRelease, "--namespace", ns)
	for _, crd := range []string{"overclouds", "overcloudbackups", "backupschedules", "overcloudrestores"} {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(runtimeschema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
		if err := k.c.Get(ctx, client.ObjectKey{Name: crd + ".backup.overcloud.io"}, u); err != nil {
			t.Errorf("CRD %s after helm uninstall: %v", crd, err)
		}
	}
	got := &backupv1alpha1.OvercloudBackup{}
	if err := k.c.Get(ctx, client.ObjectKeyFromObject(b.OvercloudBackup), got); err != nil || got.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Errorf("the backup after helm uninstall: %v, phase %q", err, got.Status.Phase)
	}
	t.Logf("install, backup, upgrade, uninstall: %v", time.Since(start).Round(time.Millisecond))
}

// uninstallIfThere uninstalls the release unless the test did.
func (h *helmCLI) uninstallIfThere(t *testing.T, release, ns string) {
	t.Helper()
	if out, err := h.run("status", release, "--namespace", ns); err != nil {
		if !strings.Contains(out, "not found") {
			t.Errorf("helm status %s: %v", release, err)
		}
		return
	}
	if _, err := h.run("uninstall", release, "--namespace", ns, "--wait", "--timeout", "120s"); err != nil {
		t.Error(err)
	}
}

// releaseClusterObjects names the ClusterRoles and ClusterRoleBindings of the release.
func (k *cluster) releaseClusterObjects(ctx context.Context, t *testing.T, release string) []string {
	t.Helper()
	sel := client.MatchingLabels{"app.kubernetes.io/instance": release, "app.kubernetes.io/managed-by": "Helm"}
	roles := &rbacv1.ClusterRoleList{}
	bindings := &rbacv1.ClusterRoleBindingList{}
	if err := k.c.List(ctx, roles, sel); err != nil {
		t.Fatal(err)
	}
	if err := k.c.List(ctx, bindings, sel); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(roles.Items)+len(bindings.Items))
	for _, r := range roles.Items {
		names = append(names, "ClusterRole/"+r.Name)
	}
	for _, b := range bindings.Items {
		names = append(names, "ClusterRoleBinding/"+b.Name)
	}
	return names
}

// deleteReleaseLeftovers deletes the cluster-scoped objects an interrupted run left: helm
// would refuse to install over them.
func (k *cluster) deleteReleaseLeftovers(ctx context.Context, t *testing.T) {
	t.Helper()
	left := k.releaseClusterObjects(ctx, t, helmRelease)
	for _, n := range left {
		kind, name, _ := strings.Cut(n, "/")
		var o client.Object = &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if kind == "ClusterRoleBinding" {
			o = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}
		}
		if err := k.c.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
	}
	if len(left) > 0 {
		t.Logf("deleted what an earlier run left: %v", left)
	}
}

// pauseDeployedManager scales the manager `make deploy` installed to 0 until the end of
// the test, when it is scaled back and waited for (Ready).
func (k *cluster) pauseDeployedManager(ctx context.Context, t *testing.T) {
	t.Helper()
	dep := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: operatorNamespace, Name: managerDeployment}
	if err := k.c.Get(ctx, key, dep); apierrors.IsNotFound(err) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	replicas := ptr.Deref(dep.Spec.Replicas, 1)
	if replicas == 0 {
		return
	}
	scale := func(ctx context.Context, n int32) error {
		return k.c.Patch(ctx, dep, client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)))
	}
	if err := scale(ctx, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := scale(ctx, replicas); err != nil {
			t.Errorf("scaling %s back to %d: %v", managerDeployment, replicas, err)
			return
		}
		k.poll(ctx, t, managerDeployment+" Ready again", func(ctx context.Context) (bool, error) {
			err := k.c.Get(ctx, key, dep)
			return err == nil && dep.Status.ObservedGeneration == dep.Generation && dep.Status.ReadyReplicas == replicas &&
				dep.Status.UpdatedReplicas == replicas, err
		})
	})
	k.poll(ctx, t, "the pods of "+managerDeployment+" gone", func(ctx context.Context) (bool, error) {
		pods := &corev1.PodList{}
		err := k.c.List(ctx, pods, client.InNamespace(operatorNamespace), client.MatchingLabels{"control-plane": "controller-manager"})
		return err == nil && len(pods.Items) == 0, err
	})
}

// checkStillPaused fails the test when the deployed manager came back meanwhile (a
// concurrent `make deploy`): then the backup may not have been the chart's manager's.
func (k *cluster) checkStillPaused(ctx context.Context, t *testing.T) {
	t.Helper()
	dep := &appsv1.Deployment{}
	err := k.c.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: managerDeployment}, dep)
	if err == nil && (ptr.Deref(dep.Spec.Replicas, 1) != 0 || dep.Status.Replicas != 0) {
		t.Errorf("%s was scaled up during the test (replicas %d): the backup may have been its", managerDeployment, ptr.Deref(dep.Spec.Replicas, 1))
	}
}

// chartManager waits until the chart's manager Deployment is rolled out and Available.
func (k *cluster) chartManager(ctx context.Context, t *testing.T, ns string) *appsv1.Deployment {
	t.Helper()
	dep := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: ns, Name: helmRelease + "-controller-manager"}
	k.poll(ctx, t, "the chart's manager Deployment rolled out", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, key, dep); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		want := ptr.Deref(dep.Spec.Replicas, 1)
		return dep.Status.ObservedGeneration == dep.Generation && dep.Status.UpdatedReplicas == want &&
			dep.Status.ReadyReplicas == want && dep.Status.Replicas == want, nil
	})
	return dep
}

// onlyReadyPod is the one pod of the Deployment, Ready (the old one gone after a rollout).
func (k *cluster) onlyReadyPod(ctx context.Context, t *testing.T, ns string, dep *appsv1.Deployment) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	k.poll(ctx, t, "one Ready pod of "+dep.Name, func(ctx context.Context) (bool, error) {
		pods := &corev1.PodList{}
		if err := k.c.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
			return false, err
		}
		if len(pods.Items) != 1 || !podReady(&pods.Items[0]) || pods.Items[0].DeletionTimestamp != nil {
			return false, nil
		}
		pod = &pods.Items[0]
		return true, nil
	})
	return pod
}

// checkNamespacedBinding: the chart's namespaced install binds the manager's rules in its
// namespace only (a RoleBinding of the release's manager-role), never cluster-wide.
func (k *cluster) checkNamespacedBinding(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	role := helmRelease + "-manager-role"
	rb := &rbacv1.RoleBinding{}
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: helmRelease + "-manager"}, rb); err != nil || rb.RoleRef.Name != role {
		t.Errorf("the RoleBinding of %s in %s: %v %+v", role, ns, err, rb.RoleRef)
	}
	bindings := &rbacv1.ClusterRoleBindingList{}
	if err := k.c.List(ctx, bindings); err != nil {
		t.Fatal(err)
	}
	for _, b := range bindings.Items {
		if b.RoleRef.Name == role {
			t.Errorf("ClusterRoleBinding %s binds %s cluster-wide in the namespaced install", b.Name, role)
		}
	}
}

// podsLogs are the logs, since the time given, of the namespace's pods matching selector.
func (k *cluster) podsLogs(ctx context.Context, t *testing.T, ns, selector string, since metav1.Time) string {
	t.Helper()
	pods, err := k.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, p := range pods.Items {
		b, err := k.cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{SinceTime: &since}).DoRaw(ctx)
		if err != nil {
			t.Errorf("the logs of %s: %v", p.Name, err)
		}
		all.Write(b)
	}
	return all.String()
}
