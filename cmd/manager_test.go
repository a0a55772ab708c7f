package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/overcloud-backup/overcloud-backup-operator/test/testenv"
)

var restCfg *rest.Config

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, filepath.Join("..", "config", "crd", "bases"), func(cfg *rest.Config) error {
		restCfg = cfg
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
		return nil
	}))
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// get performs one bounded GET and returns the status code.
func get(ctx context.Context, c *http.Client, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	return resp.StatusCode, nil
}

// waitFor polls url until it answers want, for at most a minute.
func waitFor(ctx context.Context, t *testing.T, c *http.Client, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		code, err := get(ctx, c, url)
		if err == nil && code == want {
			return
		}
		last = fmt.Sprintf("code=%d err=%v", code, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within a minute (last: %s)", url, want, last)
}

// TestManagerRuns starts the manager role against a real API server: it wins leader
// election (a Lease appears), serves /healthz and /readyz, refuses unauthenticated
// metrics scrapes, and returns cleanly when its context is cancelled (SIGTERM).
func TestManagerRuns(t *testing.T) {
	probeAddr, metricsAddr := freeAddr(t), freeAddr(t)
	o := &managerOptions{
		metricsAddr:      metricsAddr,
		secureMetrics:    true,
		probeAddr:        probeAddr,
		leaderElect:      true,
		leaderElectionNS: "default",
		watchNamespaces:  []string{" default ", ""},
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runManager(ctx, restCfg, o) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager returned %v after cancel, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop within 30s of cancel")
		}
	}()

	plain := &http.Client{Timeout: 2 * time.Second}
	waitFor(ctx, t, plain, "http://"+probeAddr+"/healthz", http.StatusOK)
	waitFor(ctx, t, plain, "http://"+probeAddr+"/readyz", http.StatusOK)

	// The metrics endpoint is HTTPS with a self-signed certificate, and asks the API
	// server to authenticate callers: no token, no metrics.
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		// The test trusts the manager's self-signed certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // G402: see above
	}}
	waitFor(ctx, t, insecure, "https://"+metricsAddr+"/metrics", http.StatusUnauthorized)
	if code, err := get(ctx, plain, "http://"+metricsAddr+"/metrics"); err == nil && code == http.StatusOK {
		t.Fatal("metrics answered over plain HTTP")
	}

	c, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		lease := &coordinationv1.Lease{}
		err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "overcloud-backup-operator.backup.overcloud.io"}, lease)
		if err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader Lease within a minute: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestCleanNamespaces(t *testing.T) {
	cases := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{" a ", "", "b"}, "a,b"},
	}
	for _, tc := range cases {
		if got := strings.Join(cleanNamespaces(tc.in), ","); got != tc.want {
			t.Errorf("cleanNamespaces(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestResolveAgentImage: the flag wins; else the manager's own image, read from its pod
// (POD_NAMESPACE/POD_NAME from the downward API); else none outside a pod.
func TestResolveAgentImage(t *testing.T) {
	ctx := t.Context()
	if got, err := resolveAgentImage(ctx, restCfg, "registry.example/agent:1"); err != nil || got != "registry.example/agent:1" {
		t.Errorf("with the flag: %q, %v", got, err)
	}
	t.Setenv("POD_NAMESPACE", "")
	t.Setenv("POD_NAME", "")
	if got, err := resolveAgentImage(ctx, restCfg, ""); err != nil || got != "" {
		t.Errorf("outside a pod: %q, %v", got, err)
	}

	c, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "manager-"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "kube-rbac-proxy", Image: "registry.example/proxy:1"},
			{Name: managerContainer, Image: "registry.example/overcloud-backup-operator:v0.1.0"},
		}},
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAMESPACE", "default")
	t.Setenv("POD_NAME", pod.Name)
	if got, err := resolveAgentImage(ctx, restCfg, ""); err != nil || got != "registry.example/overcloud-backup-operator:v0.1.0" {
		t.Errorf("from the pod: %q, %v", got, err)
	}
	t.Setenv("POD_NAME", "gone")
	if _, err := resolveAgentImage(ctx, restCfg, ""); err == nil {
		t.Error("no error for a pod that does not exist")
	}
}

// TestManagerRefusesBadJobPolicy: the policy flags reach jobpolicy.Validate, and a
// pattern that would allow more than it says (a bare prefix reaches other
// organisations' repositories), or names that never match, stop the manager before it
// looks for an API server.
func TestManagerRefusesBadJobPolicy(t *testing.T) {
	// Were the policy not checked first, the manager would look for an API server: let
	// it find none rather than whatever the machine's kubeconfig names.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	cmd := newManagerCommand()
	cmd.SetArgs([]string{
		"--allowed-agent-images=registry.example/ocb/agent@sha256:*,quay.io/acme*",
		"--privileged-namespaces=Infra",
		"--allowed-service-accounts=backup-agent",
	})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(t.Context())
	if err == nil {
		t.Fatal("the manager started with a bad policy")
	}
	for _, want := range []string{`--allowed-agent-images "quay.io/acme*"`, `--privileged-namespaces "Infra"`,
		`--allowed-service-accounts "backup-agent"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "registry.example") {
		t.Errorf("error %q refuses the valid pattern too", err)
	}
}
