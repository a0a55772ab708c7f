package controllers

// The Prober seam of the backup controller and its live implementation: internal/probe
// and internal/selection, with timing wrappers that feed the probe metrics.

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// Prober reaches the overcloud for the controller: it probes and decides which node a
// backup may be taken from, and turns wsrep_desync OFF on a node a killed agent left
// desynced. The live one is internal/probe + internal/selection; it must return within
// the overcloud's own timeouts, as it runs on a reconcile worker.
type Prober interface {
	Probe(ctx context.Context, name string, oc *backupv1alpha1.OvercloudSpec, ns *backupv1alpha1.NodeSelectionSpec,
		c probe.Credentials) (probe.Report, error)
	ResetDesync(ctx context.Context, oc *backupv1alpha1.OvercloudSpec, node string, c probe.Credentials) (wasOn bool, err error)
}

// LiveProber probes the real overcloud (internal/probe) and decides (internal/selection),
// recording each call's duration. It returns within the overcloud's timeouts: every call
// has the spec's deadline (connect + query timeout), the calls run in parallel, and the
// whole probe is bounded by twice that.
type LiveProber struct{}

var _ Prober = LiveProber{}

// Probe implements Prober.
func (LiveProber) Probe(
	ctx context.Context, name string, oc *backupv1alpha1.OvercloudSpec, ns *backupv1alpha1.NodeSelectionSpec, c probe.Credentials,
) (probe.Report, error) {
	t, err := probe.NewTarget(oc, c, 0)
	if err != nil {
		return probe.Report{}, err
	}
	defer t.Close()
	timed(&t, name)
	ctx, cancel := context.WithTimeout(ctx, 2*t.Timeout+time.Second)
	defer cancel()
	snap, d := probe.GatherDecided(ctx, t, probe.PolicyOf(ns))
	return probe.NewReport(name, snap, d), nil
}

// ResetDesync implements Prober.
func (LiveProber) ResetDesync(
	ctx context.Context, oc *backupv1alpha1.OvercloudSpec, node string, c probe.Credentials,
) (bool, error) {
	t, err := probe.NewTarget(oc, c, 0)
	if err != nil {
		return false, err
	}
	defer t.Close()
	return t.ResetDesync(ctx, node)
}

// timed wraps the target's sources so that every call's duration lands in
// ocb_probe_duration_seconds.
func timed(t *probe.Target, overcloud string) {
	names := map[string]string{}
	for _, n := range t.Nodes {
		names[fmt.Sprintf("%s:%d", n.Address, n.MySQLPort)] = n.Name
		if strings.Contains(n.Address, ":") {
			names[fmt.Sprintf("[%s]:%d", n.Address, n.MySQLPort)] = n.Name
		}
	}
	t.Galera = timedGalera{inner: t.Galera, overcloud: overcloud, names: names}
	if t.Pacemaker != nil {
		t.Pacemaker = timedPacemaker{inner: t.Pacemaker, overcloud: overcloud}
	}
	if t.HAProxyHTTP != nil {
		t.HAProxyHTTP = timedHAProxy{inner: t.HAProxyHTTP, overcloud: overcloud, source: "haproxy-http"}
	}
	if t.HAProxySocket != nil {
		t.HAProxySocket = timedHAProxy{inner: t.HAProxySocket, overcloud: overcloud, source: "haproxy-socket"}
	}
}

type timedGalera struct {
	inner     probe.GaleraSource
	overcloud string
	names     map[string]string
}

func (s timedGalera) Probe(ctx context.Context, addr string) (*galera.Status, error) {
	start := time.Now()
	st, err := s.inner.Probe(ctx, addr)
	observeProbe(s.overcloud, cmp.Or(s.names[addr], addr), "galera", time.Since(start), err)
	return st, err
}

type timedPacemaker struct {
	inner     probe.PacemakerSource
	overcloud string
}

func (s timedPacemaker) Status(ctx context.Context, node probe.Node) (*probe.PacemakerView, error) {
	start := time.Now()
	v, err := s.inner.Status(ctx, node)
	observeProbe(s.overcloud, node.Name, "pacemaker", time.Since(start), err)
	return v, err
}

type timedHAProxy struct {
	inner             probe.HAProxySource
	overcloud, source string
}

func (s timedHAProxy) Read(ctx context.Context, node *probe.Node, nodes []probe.Node) (*probe.HAProxyView, error) {
	start := time.Now()
	v, err := s.inner.Read(ctx, node, nodes)
	name := "-" // the stats page speaks for HAProxy, not for one node
	if node != nil {
		name = node.Name
	}
	observeProbe(s.overcloud, name, s.source, time.Since(start), err)
	return v, err
}
