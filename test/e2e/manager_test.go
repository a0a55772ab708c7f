//go:build e2e

package e2e_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// metricsService and metricsReader are what config/default deploys.
	metricsService = "overcloud-backup-controller-manager-metrics-service"
	metricsReader  = "overcloud-backup-metrics-reader"
	// serviceCIDR is the node's service range, routed to its node bridge (docs/kube-node.md).
	serviceCIDR = "10.96.0.0/24"
)

// TestManagerMetrics: the manager Deployment that `make deploy` created is available, its pod
// Ready, and the metrics Service serves Prometheus text over HTTPS to a ServiceAccount bound to
// the metrics-reader ClusterRole, while the API server (TokenReview, SubjectAccessReview) turns
// away a caller without a token (401) and one whose account lacks the role (403).
//
// The host reaches the Service's ClusterIP as any client in the cluster would: the service
// range is routed to the node bridge and kube-proxy's iptables rules (OUTPUT chain) translate
// the ClusterIP to the pod, so neither the pod IP nor the API server's service proxy is needed.
func TestManagerMetrics(t *testing.T) {
	k := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The Deployment is available and every one of its pods is Ready.
	dep := &appsv1.Deployment{}
	k.poll(ctx, t, "the manager Deployment to be available", func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: managerDeployment}, dep); err != nil {
			return false, fmt.Errorf("the manager Deployment (is the operator deployed? `make deploy`): %w", err)
		}
		want := ptr.Deref(dep.Spec.Replicas, 1)
		return dep.Status.ObservedGeneration == dep.Generation && dep.Status.ReadyReplicas == want &&
			dep.Status.AvailableReplicas == want && dep.Status.UpdatedReplicas == want, nil
	})
	pods := &corev1.PodList{}
	if err := k.c.List(ctx, pods, client.InNamespace(operatorNamespace), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
		t.Fatal(err)
	}
	var ready []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && podReady(&p) {
			ready = append(ready, p.Name+" "+p.Status.PodIP)
		}
	}
	if len(ready) == 0 {
		t.Fatalf("no Ready manager pod among %d", len(pods.Items))
	}
	t.Logf("Manager Ready: %v", ready)

	// The metrics Service (its ClusterIP in the Service range), and an endpoint of it that is ready.
	url, ip := k.metricsURL(ctx, t)
	if _, services, _ := net.ParseCIDR(serviceCIDR); !services.Contains(ip) {
		t.Fatalf("metrics Service at %s: want a ClusterIP in %s", ip, serviceCIDR)
	}

	// A reader: a ServiceAccount bound to the metrics-reader ClusterRole; and one without.
	ns := k.namespace(t, "metrics")
	for _, name := range []string{"reader", "nobody"} {
		if err := k.c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader", Labels: map[string]string{e2eLabel: "true"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReader},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "reader"}},
	}
	if err := k.c.Create(ctx, crb); err != nil {
		t.Fatalf("binding %s: %v", metricsReader, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := k.c.Delete(ctx, crb); client.IgnoreNotFound(err) != nil {
			t.Errorf("deleting ClusterRoleBinding %s: %v", crb.Name, err)
		}
	})
	token := func(sa string) string {
		tr, err := k.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest for %s: %v", sa, err)
		}
		return tr.Status.Token
	}
	reader, nobody := token("reader"), token("nobody")

	// The manager's certificate is self-signed (no cert-manager here): the test checks who may
	// read, not who serves.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // G402: see above
	}}
	for _, tc := range []struct {
		who, token string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"an account without " + metricsReader, nobody, http.StatusForbidden},
	} {
		if code, _, err := scrape(ctx, hc, url, tc.token); err != nil || code != tc.want {
			t.Errorf("%s with %s: %d %v, want %d", url, tc.who, code, err, tc.want)
		}
	}
	// RBAC reaches the API server's authorizer through its informers: allow a few seconds.
	var code int
	var body string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		code, body, err = scrape(ctx, hc, url, reader)
		return err == nil && code == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%s with the reader's token: %d, want 200: %v\n%.500s", url, code, err, body)
	}
	var families []string
	for _, want := range []string{"# TYPE controller_runtime_", "# TYPE process_resident_memory_bytes", "# TYPE go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("the metrics lack %q", want)
		}
	}
	for line := range strings.Lines(body) {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			families = append(families, strings.Fields(name)[0])
		}
	}
	t.Logf("Metrics at %s: 200, %d bytes, %d families (e.g. %s)", url, len(body), len(families), strings.Join(families[:min(3, len(families))], ", "))
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// scrape GETs url with the bearer token (none when empty) and returns the status and body.
func scrape(ctx context.Context, hc *http.Client, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err == nil && resp.StatusCode == http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		err = fmt.Errorf("content type %q, want Prometheus text", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b), err
}

// metricsURL is the manager's /metrics through its Service's ClusterIP, as Prometheus in the
// cluster reads it, once an endpoint of the Service is ready; and that ClusterIP.
func (k *cluster) metricsURL(ctx context.Context, t testing.TB) (string, net.IP) {
	t.Helper()
	svc := &corev1.Service{}
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: metricsService}, svc); err != nil {
		t.Fatalf("the metrics Service: %v", err)
	}
	var port int32
	for _, p := range svc.Spec.Ports {
		if p.Name == "https" {
			port = p.Port
		}
	}
	ip := net.ParseIP(svc.Spec.ClusterIP)
	if port == 0 || ip == nil {
		t.Fatalf("metrics Service %s:%d: want a ClusterIP and an https port", svc.Spec.ClusterIP, port)
	}
	k.poll(ctx, t, "a ready endpoint of the metrics Service", func(ctx context.Context) (bool, error) {
		slices := &discoveryv1.EndpointSliceList{}
		if err := k.c.List(ctx, slices, client.InNamespace(operatorNamespace),
			client.MatchingLabels{discoveryv1.LabelServiceName: metricsService}); err != nil {
			return false, err
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if ptr.Deref(e.Conditions.Ready, false) {
					return true, nil
				}
			}
		}
		return false, nil
	})
	return "https://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port))) + "/metrics", ip
}
