package probe

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// These stand in for the sources in a test of Gather's order of reads only: each
// counts its calls and answers what it is given.
type downGalera struct{}

func (downGalera) Probe(context.Context, string) (*galera.Status, error) {
	return nil, errors.New("not dialled in this test")
}

type countedHAProxy struct {
	calls atomic.Int32
	view  *HAProxyView
	err   error
}

func (c *countedHAProxy) Read(context.Context, *Node, []Node) (*HAProxyView, error) {
	c.calls.Add(1)
	return c.view, c.err
}

// TestStatsPageLast: a watch's target reads the stats page only when the socket of the
// VIP holder did not answer; a backup's target reads both at once.
func TestStatsPageLast(t *testing.T) {
	nodes := []Node{{Name: "c0"}, {Name: "c1"}, {Name: "c2"}}
	holder := &PacemakerView{Cluster: selection.PacemakerCluster{Quorum: true},
		Nodes: map[string]selection.Pacemaker{"c0": {Online: true}, "c1": {Online: true, HoldsVIP: true}, "c2": {Online: true}}}
	pcmk := scripted{"c0": {view: holder}, "c1": {view: holder}, "c2": {view: holder}}
	viewOf := func(status string) *HAProxyView {
		return &HAProxyView{Servers: map[string]selection.HAProxyServer{"c0": {Status: status, StickTarget: true}}, Clients: true}
	}
	for _, tc := range []struct {
		name      string
		last      bool
		socketErr error
		wantHTTP  int32
		want      string // the status of c0's server in the snapshot
	}{
		{"a backup's target: both at once", false, nil, 1, "UP"},
		{"a watch's target, the socket answers: no stats page", true, nil, 0, "UP"},
		{"a watch's target, the socket fails: the stats page", true, errors.New("ssh: refused"), 1, "MAINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := &countedHAProxy{view: viewOf("UP"), err: tc.socketErr}
			if tc.socketErr != nil {
				sock.view = nil
			}
			page := &countedHAProxy{view: viewOf("MAINT")}
			tg := Target{Nodes: nodes, Galera: downGalera{}, Pacemaker: pcmk, HAProxySocket: sock, HAProxyHTTP: page,
				Timeout: 200 * time.Millisecond, StatsPageLast: tc.last, vipHint: &atomic.Int32{}}
			s := Gather(t.Context(), tg)
			if got := page.calls.Load(); got != tc.wantHTTP {
				t.Errorf("stats page read %d times, want %d", got, tc.wantHTTP)
			}
			if s.Nodes[0].HAProxy == nil || s.Nodes[0].HAProxy.Status != tc.want {
				t.Errorf("c0's server: %+v, want status %s", s.Nodes[0].HAProxy, tc.want)
			}
		})
	}
}
