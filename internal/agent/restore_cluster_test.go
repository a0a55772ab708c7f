package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/pacemaker"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

// TestCheckNodeSpace: df's POSIX output of the datadir's parent and the datadir, as GNU df
// prints it (df -Pk -- /var/lib /var/lib/mysql on a controller).
func TestCheckNodeSpace(t *testing.T) {
	cfg := ClusterRestoreConfig{Cluster: restoreplan.Cluster{Datadir: "/var/lib/mysql"}, Headroom: 1.25}
	const df = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n" +
		"/dev/vda4        104806380 52403190  52403190      50% /\n" +
		"/dev/vda4        104806380 52403190  52403190      50% /\n"
	for _, tc := range []struct {
		name, out string
		need      int64
		want      string
	}{
		{"room", df, 10 << 30, ""},
		{"exactly room", df, 52403190 * 1024, ""},
		{"short", df, 60 << 30, "51174 MiB free on /var/lib, and the restore needs 61440 MiB"},
		{"a datadir of its own", "h\n/dev/vda4 1 1 100 1% /\n/dev/vdb1 1 1 100 1% /var/lib/mysql\n", 1, "is a filesystem of its own"},
		{"a mount point with a space", "h\n/dev/a 1 1 100 1% /mnt/my disk\n/dev/b 1 1 100 1% /mnt/my disk/x\n", 1,
			`is a filesystem of its own (mounted on "/mnt/my disk/x", its parent on "/mnt/my disk")`},
		{"one line", "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/a 1 1 1 1% /\n", 1,
			"df printed 2 lines"},
		{"hostile numbers", "h\n/dev/a 1 1 -5 1% /\n/dev/a 1 1 -5 1% /\n", 1, "the available KiB are not a number"},
		{"too few fields", "h\n/dev/a 1 1\n/dev/a 1 1\n", 1, "is not filesystem, blocks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkNodeSpace(tc.out, tc.need, 10<<30, cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

// TestClusterSummaryBounded: a result with every step recorded, long outputs and a long
// error stays under Kubernetes' termination message size, and keeps each step's name,
// node, times and outcome.
func TestClusterSummaryBounded(t *testing.T) {
	res := RestoreResult{Node: "controller-0", Error: strings.Repeat("e", 5000)}
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	names := []string{"check-backup", "check-space", "check-space", "check-space", "stop-galera", "keep-aside-controller-0",
		"keep-aside-controller-1", "keep-aside-controller-2", "copy-back", "write-grastate", "start-galera", "read-position",
		"prove-controller-0", "prove-controller-1", "prove-controller-2"}
	for i, n := range names {
		res.Steps = append(res.Steps, StepRecord{Name: n, Node: "controller-" + string(rune('0'+i%3)), Start: now, End: now.Add(time.Second),
			OK: i < len(names)-1, Output: strings.Repeat("o", 400), Error: strings.Repeat("x", 400)})
	}
	for range 3 {
		res.Proofs = append(res.Proofs, NodeProof{Node: "controller-0", Differences: []string{strings.Repeat("d", 300)}, Error: strings.Repeat("p", 300)})
	}
	b := res.Summary()
	if len(b) > 4096 {
		t.Fatalf("%d bytes", len(b))
	}
	var back RestoreResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Steps) != len(names) || back.Steps[14].Name != "prove-controller-2" || back.Steps[14].OK || !back.Steps[0].OK ||
		!back.Steps[3].End.Equal(now.Add(time.Second)) || back.Error == "" {
		t.Fatalf("%s", b)
	}
}

// TestClusterConfigRefusals: what restore-cluster refuses before it reads the backup.
func TestClusterConfigRefusals(t *testing.T) {
	good := ClusterRestoreConfig{Nodes: []ClusterNode{{"controller-0", "10.0.0.11"}}, User: "u", Password: "p",
		ProveNodes: []NodeAddress{{"controller-0", "10.0.0.11", 3306}},
		Cluster:    restoreplan.Cluster{Resource: "galera-clone", Stamp: "20261206T030000Z"}}
	if _, err := good.withDefaults(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(c *ClusterRestoreConfig)
		want   string
	}{
		{"no node", func(c *ClusterRestoreConfig) { c.Nodes = nil }, "no node to restore onto"},
		{"a node twice", func(c *ClusterRestoreConfig) { c.Nodes = append(c.Nodes, c.Nodes[0]) }, "node #2 of 2 needs a name of its own"},
		{"an SSH host like an option", func(c *ClusterRestoreConfig) { c.Nodes[0].SSHHost = "-oProxyCommand=x" }, "node #1 of 1"},
		{"no proving node", func(c *ClusterRestoreConfig) { c.ProveNodes = nil }, "no node to prove"},
		{"a stamp that is not a time", func(c *ClusterRestoreConfig) { c.Cluster.Stamp = "now; reboot" }, "is not a UTC time"},
		{"a datadir that is /", func(c *ClusterRestoreConfig) { c.Cluster.Datadir = "/" }, "not a clean absolute path"},
		{"a datadir with ..", func(c *ClusterRestoreConfig) { c.Cluster.Datadir = "/var/lib/../mysql" }, "not a clean absolute path"},
		{"a resource that is an option", func(c *ClusterRestoreConfig) { c.Cluster.Resource = "--force" }, "is not a Pacemaker id"},
		{"a bundle without an image", func(c *ClusterRestoreConfig) { c.Cluster.Bundle = true }, "is not an image name"},
		{"headroom below 1", func(c *ClusterRestoreConfig) { c.Headroom = 0.5 }, "headroom 0.50 below 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Nodes = append([]ClusterNode{}, good.Nodes...)
			tc.change(&c)
			if _, err := c.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

// TestClusterProblem: what Pacemaker must say before anything is touched.
func TestClusterProblem(t *testing.T) {
	nodes := []ClusterNode{{"controller-0", "a"}, {"controller-1", "b"}}
	healthy := func() *pacemaker.Status {
		return &pacemaker.Status{WithQuorum: true, Nodes: []pacemaker.Node{
			{Name: "controller-0", Online: true}, {Name: "controller-1", Online: true}, {Name: "controller-2", Online: true}}}
	}
	if p := clusterProblem(healthy(), nodes); p != "" {
		t.Fatalf("healthy: %s", p)
	}
	for _, tc := range []struct {
		name   string
		change func(*pacemaker.Status)
		nodes  []ClusterNode
		want   string
	}{
		{"no quorum", func(s *pacemaker.Status) { s.WithQuorum = false }, nodes, "Pacemaker has no quorum"},
		{"maintenance", func(s *pacemaker.Status) { s.MaintenanceMode = true }, nodes, "maintenance mode"},
		{"stop-all-resources", func(s *pacemaker.Status) { s.StopAllResources = true }, nodes, "stop-all-resources"},
		{"a name Pacemaker does not know", func(*pacemaker.Status) {}, []ClusterNode{{"overcloud-controller-0", "a"}},
			`"overcloud-controller-0" is not a Pacemaker node`},
		{"a node offline", func(s *pacemaker.Status) { s.Nodes[1].Online = false }, nodes, "controller-1 is not online"},
		{"a node unclean", func(s *pacemaker.Status) { s.Nodes[0].Unclean = true }, nodes, "controller-0 is not online"},
		{"a node in standby", func(s *pacemaker.Status) { s.Nodes[1].Standby = true }, nodes, "controller-1 is in standby"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := healthy()
			tc.change(st)
			if p := clusterProblem(st, tc.nodes); !strings.Contains(p, tc.want) || tc.want == "" {
				t.Fatalf("%q, want %q", p, tc.want)
			}
		})
	}
}
