package probe

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/haproxy"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/remote"
)

// Credentials are the secrets a probe needs, read from Kubernetes Secrets by the
// controller or from files by the probe command. They never reach a log.
type Credentials struct {
	DatabaseUser     string
	DatabasePassword string
	// DatabaseCA is the PEM CA bundle for TLS modes VerifyCA and VerifyFull.
	DatabaseCA []byte
	// SSHPrivateKey and SSHKnownHosts are needed when overcloud.ssh is set.
	SSHPrivateKey []byte
	SSHKnownHosts []byte
	// HAProxyUser and HAProxyPassword are the stats page's basic auth, if any.
	HAProxyUser     string
	HAProxyPassword string
}

// NewTarget builds the sources of a probe from an overcloud's spec. timeout, when
// positive, bounds every single call; otherwise the spec's connect plus query timeouts
// (their getters give the defaults) do.
func NewTarget(oc *backupv1alpha1.OvercloudSpec, c Credentials, timeout time.Duration) (Target, error) {
	return NewKeptTarget(oc, c, timeout, 0, nil)
}

// NewKeptTarget is NewTarget for a target probed again and again (the Overcloud watch):
// its SSH connections are kept for keep after their last command (the remote package's
// default when 0), so that probes at an interval shorter than keep reuse them; with
// sessions, its database connections come from (and go back to) those shared by every
// target of the same nodes and account, also kept for keep.
func NewKeptTarget(
	oc *backupv1alpha1.OvercloudSpec, c Credentials, timeout, keep time.Duration, sessions *galera.Sessions,
) (Target, error) {
	if len(oc.Nodes) == 0 {
		return Target{}, errors.New("the overcloud has no nodes")
	}
	connect, query := oc.Database.ConnectTimeoutOrDefault(), oc.Database.QueryTimeoutOrDefault()
	if timeout <= 0 {
		timeout = connect + query
	}
	tlsCfg, fallback, err := databaseTLS(oc.Database.TLS, c.DatabaseCA)
	if err != nil {
		return Target{}, err
	}
	t := Target{
		Timeout: timeout,
		vipHint: &atomic.Int32{},
		// A kept target is a watch's: the stats page is read only when the socket did
		// not decide.
		StatsPageLast: keep > 0,
		Galera: galera.NewProber(galera.Config{
			User: c.DatabaseUser, Password: c.DatabasePassword, TLS: tlsCfg, TLSFallback: fallback,
			ConnectTimeout: min(connect, timeout), QueryTimeout: min(query, timeout),
			IgnoreUsers: []string{c.DatabaseUser, "clustercheck"},
			Sessions:    sessions, SessionIdle: keep, TLSKey: tlsKey(oc.Database.TLS, c.DatabaseCA),
		}),
	}
	for _, n := range oc.Nodes {
		t.Nodes = append(t.Nodes, Node{
			Name: n.Name, Address: n.Address,
			MySQLPort: int(n.MySQLPortOrDefault()),
			SSHPort:   int(n.SSHPortOrDefault()),
		})
	}

	var runner *remote.Runner
	if oc.SSH != nil {
		if len(c.SSHPrivateKey) == 0 || len(c.SSHKnownHosts) == 0 {
			return Target{}, errors.New("overcloud.ssh is set but the SSH private key or known_hosts is empty")
		}
		sshTimeout := oc.SSH.TimeoutOrDefault()
		runner, err = remote.NewRunner(remote.Config{
			User: oc.SSH.User, PrivateKey: c.SSHPrivateKey, KnownHosts: c.SSHKnownHosts,
			ConnectTimeout: min(sshTimeout, timeout), CommandTimeout: min(sshTimeout, timeout), IdleTimeout: keep,
			// The largest answer a probe reads over SSH is HAProxy's (crm_mon is held to
			// less in PacemakerSSH): more is not an overcloud talking.
			MaxOutput: haproxy.MaxResponseBytes,
		})
		if err != nil {
			return Target{}, fmt.Errorf("configuring SSH: %w", err)
		}
		t.closers = append(t.closers, runner.Close)
	}
	if oc.Pacemaker != nil {
		if runner == nil {
			return Target{}, errors.New("overcloud.pacemaker needs overcloud.ssh")
		}
		t.Pacemaker = newPacemakerSSH(runner, oc)
	}
	if h := oc.HAProxy; h != nil {
		backend := h.BackendOrDefault()
		hapTimeout := min(h.TimeoutOrDefault(), timeout)
		if h.StatsURL != "" {
			t.HAProxyHTTP = &HAProxyHTTP{
				Client: noRedirects(hapTimeout), URL: h.StatsURL,
				User: c.HAProxyUser, Password: c.HAProxyPassword, Backend: backend,
			}
		}
		if h.StatsSocket != "" {
			if runner == nil {
				return Target{}, errors.New("overcloud.haproxy.statsSocket needs overcloud.ssh")
			}
			t.HAProxySocket = &HAProxySocket{
				Runner: runner, Command: haproxy.SocketCommand(h.StatsSocketCommandOrDefault(), h.StatsSocket), Backend: backend,
				Timeout: hapTimeout,
			}
		}
	}
	return t, nil
}

// noRedirects is the stats page's HTTP client: a redirect is an answer, never followed.
// Following one would send the basic-auth credentials to wherever the endpoint (chosen
// by a tenant) points, https to http included.
func noRedirects(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ResetDesync makes sure wsrep_desync is OFF on the named node, turning it off when it
// is ON (galera.Prober.ResetDesync); wasOn says whether it had to.
func (t Target) ResetDesync(ctx context.Context, node string) (wasOn bool, err error) {
	r, ok := t.Galera.(interface {
		ResetDesync(ctx context.Context, addr string) (bool, error)
	})
	if !ok {
		return false, errors.New("this target's Galera source cannot reset wsrep_desync")
	}
	for _, n := range t.Nodes {
		if n.Name == node {
			return r.ResetDesync(ctx, net.JoinHostPort(n.Address, strconv.Itoa(n.MySQLPort)))
		}
	}
	return false, fmt.Errorf("node %q is not in spec.overcloud.nodes", node)
}

// tlsKey names what the database TLS verifies, for galera.Sessions: the mode and the
// CA's digest.
func tlsKey(t *backupv1alpha1.DatabaseTLS, ca []byte) string {
	if t == nil {
		return ""
	}
	return fmt.Sprintf("%s/%x", t.Mode, sha256.Sum256(ca))
}

func databaseTLS(t *backupv1alpha1.DatabaseTLS, ca []byte) (*tls.Config, bool, error) {
	if t == nil {
		return nil, false, nil
	}
	return galera.TLSConfig(string(t.Mode), ca)
}
