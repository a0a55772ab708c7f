package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// liveInterval is the Overcloud watch's interval in BenchmarkLiveActiveNodeNamed.
const liveInterval = 5 * time.Second

// BenchmarkLiveActiveNodeNamed: on the live Pacemaker sandbox, the time from a fault to the
// Overcloud watch (every 5 s) naming the new active node in its status, against the time
// the cluster itself took to move the clients (a client reconnecting through the VIP lands
// on the new node), measured in the same op: the ratio is what the operator adds.
// "kill": kill -9 of the active node's mariadbd (HAProxy's checks move the clients);
// "standby": standby of the VIP holder (Pacemaker moves the VIP, the new holder's HAProxy
// picks a node). One fault per op.
//
//	OCB_SANDBOX=/tmp/ocb-live/sandbox.json go test -run '^$' -bench BenchmarkLiveActiveNodeNamed -benchtime 1x ./controllers/
func BenchmarkLiveActiveNodeNamed(b *testing.B) {
	for _, fault := range []string{"kill", "standby"} {
		b.Run(fault, func(b *testing.B) {
			sb := lock(b, sandbox.Load(b))
			var cluster, named time.Duration
			for b.Loop() {
				c, n := liveFaultToNamed(b, sb, fault)
				cluster += c
				named += n
			}
			ops := float64(b.N)
			b.ReportMetric(cluster.Seconds()/ops, "cluster-s")
			b.ReportMetric(named.Seconds()/ops, "named-s")
			b.ReportMetric(named.Seconds()/cluster.Seconds(), "named/cluster")
		})
	}
}

// liveFaultToNamed runs one fault on a healthy live sandbox watched by a new manager, and
// returns when a client had moved and when the watch named the node it moved to, both from
// the fault; it undoes the fault and waits until the sandbox is whole again.
func liveFaultToNamed(b *testing.B, sb *sandbox.Sandbox, fault string) (cluster, named time.Duration) {
	b.Helper()
	// The timer runs throughout: an op lasts tens of seconds, so the default benchtime (1 s)
	// stops after one. (With the timer stopped here, b.Loop never reached the benchtime and
	// faulted the cluster over and over until the test binary's timeout.)
	sb.WaitHealthy(b)
	c := newClient(b)
	ns := newNamespace(b, c)
	conn, active := sb.ClientSession(b)
	stop := runManager(b, ns, managerOptions{overclouds: true})
	defer stop()
	db, ssh, hap := secrets(b, sb, ns)
	name := "live-" + fault
	create(b, c, db, ssh, hap, newOvercloud(sb, ns, name, liveInterval))
	key := client.ObjectKey{Namespace: ns, Name: name}
	oc := &backupv1alpha1.Overcloud{}
	waitObject(b, c, key, oc, "overcloud", "the active node and the VIP holder known", 3*liveInterval+waitTimeout,
		func() bool { return oc.Status.ActiveNode == active && oc.Status.VIPNode != "" }, func() any { return oc.Status })

	victim, undo := active, []string{"start"}
	if fault == "standby" {
		victim, undo = oc.Status.VIPNode, []string{"unstandby", "start"}
	}
	vi := nodeIndex(b, sb, victim)
	start := time.Now()
	sb.Run(b, fault, vi)
	defer func() {
		for _, u := range undo {
			sb.Run(b, u, vi)
		}
		sb.Run(b, "cleanup")
	}()
	_ = conn.Close()
	// The cluster's part: for a standby, Pacemaker moved the VIP (crm_mon says where); then,
	// for both, a service reconnecting (every 200 ms) lands on the node it will use.
	holder := victim
	for fault == "standby" && (holder == victim || holder == "") {
		if time.Since(start) > 2*time.Minute {
			b.Fatalf("standby of %s: the VIP did not move within 2 minutes", victim)
		}
		holder = vipHolder(sb.Run(b, "crm"))
	}
	var moved string
	for moved == "" || (fault == "kill" && moved == active) {
		if time.Since(start) > 2*time.Minute {
			b.Fatalf("%s of %s: no client reached another node within 2 minutes", fault, victim)
		}
		moved = reconnect(b, sb)
		if moved == "" || (fault == "kill" && moved == active) {
			time.Sleep(200 * time.Millisecond)
		}
	}
	cluster = time.Since(start)
	sb.ClientSession(b) // held until the benchmark ends: the stick entry names the node
	waitObject(b, c, key, oc, "overcloud", "the new active node named", 3*liveInterval+waitTimeout,
		func() bool {
			return oc.Status.ActiveNode == moved && oc.Status.VIPNode != "" && (fault != "standby" || oc.Status.VIPNode != victim)
		}, func() any { return oc.Status })
	named = time.Since(start)
	b.Logf("%s of %s: clients on %s after %v; the watch named it after %v (active was %s)", fault, victim, moved,
		cluster.Round(time.Millisecond), named.Round(time.Millisecond), active)
	return cluster, named
}

// vipHolder is the VIP holder in the live sandbox's `crm` line ("... | vip=controller-1 | ..."),
// "" when none.
func vipHolder(crm string) string {
	_, after, ok := strings.Cut(crm, "vip=")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(after, " ")
	if name == "-" {
		return ""
	}
	return strings.TrimSpace(name)
}

// reconnect opens one session through the VIP and says which node serves it ("" when none).
func reconnect(b *testing.B, sb *sandbox.Sandbox) string {
	db := sb.Open(b, sb.HAProxy.Frontend)
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var name string
	if err := db.QueryRowContext(ctx, "SELECT @@wsrep_node_name").Scan(&name); err != nil {
		return ""
	}
	return name
}
