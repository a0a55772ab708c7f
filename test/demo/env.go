package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// env is what the demo runs against: the local overcloud (hack/overcloud.sh) and the
// one-node Kubernetes (hack/kube-node.sh) with the operator deployed, both brought up by
// `make demo`'s prerequisites (`make sandbox deploy`).
type env struct {
	sb *sandbox.Sandbox
	// c answers within 30 s; w has no client-side timeout, for watches and log streams,
	// which the demo bounds with contexts; cs is w's config as a clientset.
	c  client.Client
	w  client.WithWatch
	cs kubernetes.Interface
	// kubeconfig and kubectl are the node's admin kubeconfig and kubectl binary.
	kubeconfig, kubectl string
	// started is when `make demo` started (OCB_DEMO_T0, nanoseconds), zero if unknown.
	started time.Time
}

// newEnv reads OCB_SANDBOX and finds the node's kubeconfig and kubectl (OCB_KUBECONFIG and
// OCB_KUBECTL, else what `hack/kube-node.sh env` prints).
func newEnv(ctx context.Context) (*env, error) {
	path := os.Getenv("OCB_SANDBOX")
	if path == "" {
		return nil, errors.New("OCB_SANDBOX is not set: run `make demo`, which brings up the local overcloud first")
	}
	sb, err := sandbox.Read(path)
	if err != nil {
		return nil, err
	}
	e := &env{sb: sb, kubeconfig: os.Getenv("OCB_KUBECONFIG"), kubectl: os.Getenv("OCB_KUBECTL")}
	if ns, err := strconv.ParseInt(os.Getenv("OCB_DEMO_T0"), 10, 64); err == nil {
		e.started = time.Unix(0, ns)
	}
	if e.kubeconfig == "" || e.kubectl == "" {
		vars, err := kubeNodeEnv(ctx)
		if err != nil {
			return nil, err
		}
		if e.kubeconfig == "" {
			e.kubeconfig = vars["KUBECONFIG"]
		}
		if e.kubectl == "" {
			e.kubectl = vars["OCB_KUBECTL"]
		}
	}
	//nolint:gosec // G703: the path hack/kube-node.sh names, checked before it is run
	if st, err := os.Stat(e.kubectl); err != nil || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("the node's kubectl %q is missing: run `make demo` (hack/kube-node.sh up builds it)", e.kubectl)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig %s: %w; run `make demo` (hack/kube-node.sh up)", e.kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), backupv1alpha1.AddToScheme(scheme)); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	streams := rest.CopyConfig(cfg)
	cfg.Timeout = 30 * time.Second
	if e.c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, fmt.Errorf("a client for %s: %w", cfg.Host, err)
	}
	if e.w, err = client.NewWithWatch(streams, client.Options{Scheme: scheme}); err != nil {
		return nil, fmt.Errorf("a client for %s: %w", cfg.Host, err)
	}
	if e.cs, err = kubernetes.NewForConfig(streams); err != nil {
		return nil, fmt.Errorf("a clientset for %s: %w", cfg.Host, err)
	}
	return e, nil
}

// kubeNodeEnv runs `hack/kube-node.sh env` and returns its variables.
func kubeNodeEnv(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	script := filepath.Join("hack", "kube-node.sh")
	out, err := exec.CommandContext(ctx, script, "env").Output() //nolint:gosec // G204: our own script
	if err != nil {
		return nil, fmt.Errorf("%s env: %w", script, err)
	}
	vars := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export "); ok {
			if k, v, ok := strings.Cut(kv, "="); ok {
				vars[k] = v
			}
		}
	}
	return vars, nil
}

// kubectlRun runs the node's kubectl with its kubeconfig, bounded to 30 s, and returns its
// output.
func (e *env) kubectlRun(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	//nolint:gosec // G204: the node's own kubectl, our arguments
	out, err := exec.CommandContext(ctx, e.kubectl, append([]string{"--kubeconfig", e.kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// demoT lets the demo use test/sandbox's helpers, which are written for tests and take a
// testing.TB, outside `go test`. Fatal and Fatalf end the current step (a panic that
// step recovers into an error), Logf prints indented, Cleanup runs when the demo ends.
// The helpers use nothing else; any other method would panic on the nil embedded TB,
// which step reports as an error too.
type demoT struct {
	testing.TB
	cleanups []func()
}

// fatal is what Fatal and Fatalf panic with.
type fatal string

// Helper implements testing.TB.
func (*demoT) Helper() {}

// Logf implements testing.TB: the helpers' progress, indented under the step.
func (*demoT) Logf(format string, args ...any) { fmt.Printf("   "+format+"\n", args...) }

// Log implements testing.TB.
func (*demoT) Log(args ...any) { fmt.Println(append([]any{"  "}, args...)...) }

// Fatalf implements testing.TB.
func (*demoT) Fatalf(format string, args ...any) { panic(fatal(fmt.Sprintf(format, args...))) }

// Fatal implements testing.TB.
func (*demoT) Fatal(args ...any) { panic(fatal(fmt.Sprint(args...))) }

// Cleanup implements testing.TB.
func (t *demoT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// TempDir implements testing.TB.
func (t *demoT) TempDir() string {
	dir, err := os.MkdirTemp("", "ocb-demo-")
	if err != nil {
		t.Fatalf("a temporary directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// cleanup runs the cleanups, last registered first, as testing does.
func (t *demoT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// try runs f, turning a Fatal of the sandbox helpers (or another panic) into an error.
func try(f func() error) (err error) {
	defer func() {
		switch r := recover().(type) {
		case nil:
		case fatal:
			err = errors.New(string(r))
		default:
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}
