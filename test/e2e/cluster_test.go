//go:build e2e

// Package e2e_test is the end-to-end tier: the operator deployed on the one-node Kubernetes of
// hack/kube-node.sh, backup Jobs built by controllers.BuildJob really running against the local
// overcloud of hack/overcloud.sh, writing to real local PVs. It is behind the `e2e` build tag so
// that `go test ./...` never creates pods; `make test-e2e` (and `make test`, after the other
// tiers) brings the node up, builds and deploys the image, and sets OCB_KUBECONFIG and
// OCB_SANDBOX. Like every tier that needs a peer, it fails, never skips, when the node is missing.
package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

const (
	// storageClass is the StorageClass of hack/kube-node.sh's local PVs (WaitForFirstConsumer).
	storageClass = "local-backup"
	// defaultImage is what `make image` builds (DEV_IMG), never :latest.
	defaultImage = "overcloud-backup-operator:dev"
	// operatorNamespace and managerDeployment are what `make deploy` creates (config/default).
	operatorNamespace = "overcloud-backup-system"
	managerDeployment = "overcloud-backup-controller-manager"
	// claimName and credentialsSecret are the names every test namespace uses.
	claimName         = "backup"
	credentialsSecret = "db-credentials"
	// e2eLabel marks what the suite creates, cluster-scoped objects included.
	e2eLabel = "ocb.dev/e2e"
)

// upHint says how to bring up what the suite needs.
const upHint = "run `make test-e2e`, or `make sandbox deploy` and " +
	"export OCB_KUBECONFIG=$(hack/kube-node.sh kubeconfig) OCB_SANDBOX=/tmp/ocb-live/sandbox.json"

// cluster is the one-node Kubernetes, as the tests reach it.
type cluster struct {
	c client.Client
	// w is c, able to watch as well (the controller tests follow a backup as it changes).
	w     client.WithWatch
	cs    kubernetes.Interface
	image string
}

var shared struct {
	once sync.Once
	k    *cluster
	err  error
}

// connect returns the cluster, checked once per test binary: OCB_KUBECONFIG is set, the node
// is Ready, the operator image is on it, and the local PVs left Released by an earlier
// interrupted run are recycled. It fails the test, never skips it, when something is missing.
func connect(t testing.TB) *cluster {
	t.Helper()
	shared.once.Do(func() { shared.k, shared.err = newCluster() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.k
}

func newCluster() (*cluster, error) {
	path := os.Getenv("OCB_KUBECONFIG")
	if path == "" {
		return nil, fmt.Errorf("OCB_KUBECONFIG is not set: the e2e suite needs the one-node Kubernetes with the operator deployed; %s", upHint)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("reading OCB_KUBECONFIG=%s: %w; %s", path, err, upHint)
	}
	cfg.Timeout = 30 * time.Second
	cfg.QPS, cfg.Burst = 50, 100
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), backupv1alpha1.AddToScheme(scheme)); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("a client for %s: %w", cfg.Host, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("a clientset for %s: %w", cfg.Host, err)
	}
	k := &cluster{c: c, w: c, cs: cs, image: os.Getenv("OCB_E2E_IMAGE")}
	if k.image == "" {
		k.image = defaultImage
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes); err != nil {
		return nil, fmt.Errorf("listing the nodes of %s: %w; %s", cfg.Host, err, upHint)
	}
	var ready *corev1.Node
	for i := range nodes.Items {
		if nodeReady(&nodes.Items[i]) {
			ready = &nodes.Items[i]
		}
	}
	if ready == nil {
		return nil, fmt.Errorf("no Ready node at %s; %s", cfg.Host, upHint)
	}
	// containerd names an image docker.io/library/NAME:TAG when it has no registry.
	want := []string{k.image, "docker.io/library/" + k.image}
	found := false
	for _, img := range ready.Status.Images {
		for _, n := range img.Names {
			found = found || slices.Contains(want, n)
		}
	}
	if !found {
		return nil, fmt.Errorf("the image %s is not on node %s: run `make image deploy`", k.image, ready.Name)
	}
	if out, err := kubeNode(ctx, "storage"); err != nil {
		return nil, fmt.Errorf("hack/kube-node.sh storage: %w\n%s", err, out)
	}
	return k, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// repoRoot is the repository holding this file.
func repoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// kubeNode runs hack/kube-node.sh with args (it serialises itself with a flock).
func kubeNode(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	//nolint:gosec // G204: our own script
	return exec.CommandContext(ctx, filepath.Join(repoRoot(), "hack", "kube-node.sh"), args...).CombinedOutput()
}

// namespace creates a namespace that enforces the restricted Pod Security Standard, as a
// user's backup namespace should, and waits for its default ServiceAccount (a pod is refused
// until it exists). At the end of the test it deletes the namespace, waits until it is gone,
// and recycles the local PVs its claims held (`hack/kube-node.sh storage`), so that the next
// test finds them Available.
func (k *cluster) namespace(t testing.TB, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "ocb-e2e-" + prefix + "-",
		Labels:       map[string]string{e2eLabel: "true", "pod-security.kubernetes.io/enforce": "restricted"},
	}}
	if err := k.c.Create(ctx, ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { k.deleteNamespace(t, ns.Name) })
	k.poll(ctx, t, "the default ServiceAccount of "+ns.Name, func(ctx context.Context) (bool, error) {
		err := k.c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client.IgnoreNotFound(err)
	})
	return ns.Name
}

func (k *cluster) deleteNamespace(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k.c.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
		t.Errorf("deleting namespace %s: %v", name, err)
		return
	}
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		err := k.c.Get(ctx, client.ObjectKeyFromObject(ns), ns)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Errorf("namespace %s still there after 3 minutes: %v", name, err)
		return
	}
	// The PV controller marks a PV Released once its claim is gone; only then does
	// `storage` wipe and recycle it.
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pvs := &corev1.PersistentVolumeList{}
		if err := k.c.List(ctx, pvs); err != nil {
			return false, err
		}
		for _, pv := range pvs.Items {
			if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Namespace == name && pv.Status.Phase == corev1.VolumeBound {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("a PV is still Bound to a claim of the deleted namespace %s: %v", name, err)
	}
	if out, err := kubeNode(ctx, "storage"); err != nil {
		t.Errorf("hack/kube-node.sh storage: %v\n%s", err, out)
	}
}

// poll calls cond every 200 ms until it returns true, an error, or ctx ends; the test fails
// saying what it waited for.
func (k *cluster) poll(ctx context.Context, t testing.TB, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// credentials creates the Secret the backup's credentialsSecret names: the sandbox's database
// user and password, read from the sandbox's file and never printed.
func (k *cluster) credentials(t testing.TB, ns, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: credentialsSecret},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"username": []byte(user), "password": []byte(password)},
	}
	if err := k.c.Create(ctx, s); err != nil {
		t.Fatalf("creating the credentials Secret: %v", apierrors.ReasonForError(err))
	}
}

// claim creates the backup PVC on the local-backup StorageClass. It stays Pending until the
// first pod that uses it is scheduled (WaitForFirstConsumer), as on a real cluster.
func (k *cluster) claim(t testing.TB, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: claimName},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(storageClass),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			},
		},
	}
	if err := k.c.Create(ctx, pvc); err != nil {
		t.Fatalf("creating the PVC: %v", err)
	}
}

// volumePath is the host directory behind the PV bound to the namespace's backup claim.
func (k *cluster) volumePath(ctx context.Context, t testing.TB, ns string) string {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{}
	k.poll(ctx, t, "the claim "+ns+"/"+claimName+" to be bound", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: claimName}, pvc); err != nil {
			return false, err
		}
		return pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName != "", nil
	})
	pv := &corev1.PersistentVolume{}
	if err := k.c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		t.Fatalf("the PV of the claim: %v", err)
	}
	if pv.Spec.Local == nil || pv.Spec.Local.Path == "" {
		t.Fatalf("PV %s is not a local volume", pv.Name)
	}
	return pv.Spec.Local.Path
}

// jobPods are the pods the Job controller made for the Job.
func (k *cluster) jobPods(ctx context.Context, ns, job string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	err := k.c.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"batch.kubernetes.io/job-name": job})
	return pods.Items, err
}

// podLogs is the whole log of the pod's container.
func (k *cluster) podLogs(ctx context.Context, ns, pod, container string) (string, error) {
	b, err := k.cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	return string(b), err
}

// redact replaces every occurrence of secret, for output that may be printed.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "<redacted>")
}

// events are the namespace's events, one per line, for a failure message.
func (k *cluster) events(ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs := &corev1.EventList{}
	if err := k.c.List(ctx, evs, client.InNamespace(ns)); err != nil {
		return err.Error()
	}
	var b bytes.Buffer
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "%s %s/%s %s: %s\n", e.LastTimestamp.Format(time.TimeOnly), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
	return b.String()
}
