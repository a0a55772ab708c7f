// Package testenv starts the real kube-apiserver and etcd that envtest suites share,
// and fails loudly, never skips, when the binaries are missing.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// Start checks that KUBEBUILDER_ASSETS holds kube-apiserver and etcd, then starts env.
// Both binaries are built from the Go module proxy by hack/setup-envtest.sh, which
// `make test` runs; a missing binary is an error, so CI can never pass by skipping.
func Start(env *envtest.Environment) (*rest.Config, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, " +
			"or export KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		p := filepath.Join(assets, bin)
		st, err := os.Stat(p) //nolint:gosec // G703: the path is the test runner's own KUBEBUILDER_ASSETS
		if err != nil || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("%s is missing from KUBEBUILDER_ASSETS=%s: run hack/setup-envtest.sh", bin, assets)
		}
	}
	// Two shared cores under a parallel `go test ./...` can make the first start slow.
	env.ControlPlaneStartTimeout = 2 * time.Minute
	env.ControlPlaneStopTimeout = time.Minute
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest (kube-apiserver and etcd from %s): %w", assets, err)
	}
	return cfg, nil
}

// Scheme has the built-in kinds, CRDs and the operator's kinds.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, backupv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building the scheme: %w", err)
		}
	}
	return s, nil
}

// Main is a suite's TestMain body: it starts the API server with the CRDs of crdDir,
// calls setup with its config (to build clients), runs the tests and stops the server.
// It returns the exit code; errors go to stderr.
func Main(m interface{ Run() int }, crdDir string, setup func(*rest.Config) error) int {
	env := &envtest.Environment{CRDDirectoryPaths: []string{crdDir}, ErrorIfCRDPathMissing: true}
	cfg, err := Start(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()
	if err := setup(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
