package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/overcloud-backup/overcloud-backup-operator/test/testenv"
)

// One real kube-apiserver and etcd for the whole package (envtest Start costs seconds).
var (
	k8sClient client.Client
	restCfg   *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, filepath.Join("..", "..", "config", "crd", "bases"), func(cfg *rest.Config) error {
		restCfg = cfg
		scheme, err := testenv.Scheme()
		if err != nil {
			return err
		}
		if k8sClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
			return fmt.Errorf("creating client: %w", err)
		}
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return fmt.Errorf("creating discovery client: %w", err)
		}
		v, err := dc.ServerVersion()
		if err != nil {
			return fmt.Errorf("asking the API server its version: %w", err)
		}
		fmt.Printf("envtest: real kube-apiserver %s at %s (binaries from %s)\n", v.GitVersion, cfg.Host, os.Getenv("KUBEBUILDER_ASSETS"))
		return nil
	}))
}
