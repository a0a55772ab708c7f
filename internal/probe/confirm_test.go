package probe

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// syncedNodes answers every node as a synced member of one primary component, with
// clients on the node named active.
type syncedNodes struct{ active string }

func (s syncedNodes) Probe(_ context.Context, addr string) (*galera.Status, error) {
	clients := 0
	if addr == s.active+":3306" {
		clients = 5
	}
	return &galera.Status{
		LocalState: galera.StateSynced, LocalStateComment: "Synced", ClusterStatus: galera.ClusterPrimary,
		ClusterSize: 3, ClusterStateUUID: "6c1b7a52-0000-11ef-0000-000000000001", ClusterConfID: 7,
		Ready: true, Connected: true, ClientConnections: clients,
	}, nil
}

// counted is a scripted Pacemaker source that records who was asked.
type counted struct {
	scripted
	mu    *sync.Mutex
	asked *[]string
}

func (c counted) Status(ctx context.Context, n Node) (*PacemakerView, error) {
	c.mu.Lock()
	*c.asked = append(*c.asked, n.Name)
	c.mu.Unlock()
	return c.scripted.Status(ctx, n)
}

// view is a quorate crm_mon view from source: every node online with galera promoted,
// but those in lost (OFFLINE, galera stopped) and those in standby.
func view(source string, lost, standby []string) *PacemakerView {
	v := &PacemakerView{Cluster: selection.PacemakerCluster{Quorum: true, Source: source}, Nodes: map[string]selection.Pacemaker{}}
	for _, n := range []string{"c0", "c1", "c2"} {
		p := selection.Pacemaker{Online: true, GaleraRole: "Promoted"}
		for _, l := range lost {
			if n == l {
				p = selection.Pacemaker{Online: false, Unclean: true, GaleraRole: "Stopped"}
			}
		}
		for _, s := range standby {
			if n == s {
				p = selection.Pacemaker{Online: true, Standby: true, GaleraRole: "Stopped"}
			}
		}
		v.Nodes[n] = p
	}
	return v
}

// TestGatherDecidedConfirms: a node chosen on its own crm_mon's word alone is checked
// against another node's view; otherwise nothing more is asked.
func TestGatherDecidedConfirms(t *testing.T) {
	nodes := []Node{{Name: "c0", Address: "c0", MySQLPort: 3306}, {Name: "c1", Address: "c1", MySQLPort: 3306}, {Name: "c2", Address: "c2", MySQLPort: 3306}}
	cases := []struct {
		name     string
		src      scripted
		selected string
		asked    []string
	}{
		{
			name: "healthy: the other idle node, vouched for by c1's view, is chosen; one crm_mon",
			src:  scripted{"c1": {view: view("c1", nil, nil)}},
			// c0 serves clients; crm_mon asked c1 first (the active node last).
			selected: "c2", asked: []string{"c1"},
		},
		{
			name: "c1 cut off, the only candidate (c2 in standby): c2's view says c1 is lost",
			src: scripted{
				"c1": {view: view("c1", nil, []string{"c2"})},
				"c2": {view: view("c2", []string{"c1"}, []string{"c2"})},
			},
			selected: "", asked: []string{"c1", "c2"},
		},
		{
			name: "c1 the only candidate, confirmed by c2's view: chosen",
			src: scripted{
				"c1": {view: view("c1", nil, []string{"c2"})},
				"c2": {view: view("c2", nil, []string{"c2"})},
			},
			selected: "c1", asked: []string{"c1", "c2"},
		},
		{
			name: "c1 the only candidate, no other node answers: its own view stands",
			src: scripted{
				"c1": {view: view("c1", nil, []string{"c2"})},
				"c2": {err: errors.New("connection refused")},
				"c0": {err: errors.New("connection refused")},
			},
			selected: "c1", asked: []string{"c1", "c2", "c0"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			var mu sync.Mutex
			tg := Target{
				Nodes: nodes, Timeout: time.Second, AskLast: []string{"c0"},
				Galera: syncedNodes{active: "c0"}, Pacemaker: counted{tc.src, &mu, &asked},
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, d := GatherDecided(ctx, tg, selection.Policy{})
			mu.Lock()
			defer mu.Unlock()
			if d.Selected != tc.selected {
				t.Errorf("selected %q, want %q: %s", d.Selected, tc.selected, d.Reason)
			}
			if len(asked) != len(tc.asked) {
				t.Fatalf("crm_mon asked of %v, want %v", asked, tc.asked)
			}
			for i := range asked {
				if asked[i] != tc.asked[i] {
					t.Errorf("crm_mon asked of %v, want %v", asked, tc.asked)
				}
			}
		})
	}
}

// TestLastOf: the order Pacemaker is asked in (Target.AskLast).
func TestLastOf(t *testing.T) {
	nodes := []Node{{Name: "c0"}, {Name: "c1"}, {Name: "c2"}}
	for _, tc := range []struct {
		last []string
		want string
	}{
		{nil, "c0 c1 c2"},
		{[]string{""}, "c0 c1 c2"},
		{[]string{"c0"}, "c1 c2 c0"},
		{[]string{"c1", "c0"}, "c2 c1 c0"},
		{[]string{"", "c1"}, "c0 c2 c1"},
		{[]string{"c2", "c2"}, "c0 c1 c2"},
		{[]string{"gone", "c0"}, "c1 c2 c0"},
	} {
		var got []string
		for _, n := range lastOf(nodes, tc.last...) {
			got = append(got, n.Name)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("lastOf(%v) = %v, want %s", tc.last, got, tc.want)
		}
	}
}
