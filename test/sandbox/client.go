package sandbox

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"
)

// ClientSession opens one client session through HAProxy on the VIP, as an OpenStack
// service would, and keeps it open until the test ends, so that HAProxy's stick table
// and counters name the active node. It returns the session and the node it landed on.
func (s *Sandbox) ClientSession(t testing.TB) (*sql.Conn, string) {
	t.Helper()
	db := s.Open(t, s.HAProxy.Frontend)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var conn *sql.Conn
	var err error
	for {
		if conn, err = db.Conn(ctx); err == nil {
			if err = conn.PingContext(ctx); err == nil {
				break
			}
			_ = conn.Close()
		}
		if ctx.Err() != nil {
			t.Fatalf("no client session through HAProxy at %s: %v", s.HAProxy.Frontend, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Cleanup(func() { _ = conn.Close(); _ = db.Close() })
	var name string
	if err := conn.QueryRowContext(ctx, "SELECT @@wsrep_node_name").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return conn, name
}

// KillServing kills -9 the mariadbd of node, the node serving clients, and returns the
// node HAProxy moves them to: where a new session through the VIP lands. HAProxy marks a
// node down after its checks fail five times in a row (about 10 s); Pacemaker restarts a
// killed mariadbd after its next monitor (up to 10 s) and may bring it back first, and then
// HAProxy never moves the clients, as on an overcloud after a short crash. So while new
// sessions still land on node, it is killed again (at most four times, within two minutes).
func (s *Sandbox) KillServing(t testing.TB, node string) string {
	t.Helper()
	i := -1
	for k, n := range s.Nodes {
		if n.Name == node {
			i = k
		}
	}
	if i < 0 {
		t.Fatalf("%s is not a controller of the sandbox", node)
	}
	deadline := time.Now().Add(2 * time.Minute)
	s.Run(t, "kill", strconv.Itoa(i))
	kills, last := 1, time.Now()
	for {
		name, err := s.ServedBy(t)
		switch {
		case err == nil && name != node:
			if kills > 1 {
				// A kill that lands while Pacemaker recovers the node fails galera there for
				// good (a failed start is fatal to the node until cleaned up), as on an overcloud.
				t.Logf("%s came back before HAProxy marked it down; clients moved after kill %d", node, kills)
				s.Run(t, "cleanup")
			}
			return name
		case err == nil && time.Since(last) > 3*time.Second:
			if kills == 4 {
				t.Fatalf("clients still land on %s after %d kills: Pacemaker brings it back before HAProxy marks it down", node, kills)
			}
			s.Run(t, "kill", strconv.Itoa(i))
			kills, last = kills+1, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no client session through the VIP on a node other than %s within two minutes (last: %q, %v)", node, name, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// ServedBy opens one session through the VIP, says which node serves it, and closes it.
func (s *Sandbox) ServedBy(t testing.TB) (string, error) {
	t.Helper()
	db := s.Open(t, s.HAProxy.Frontend)
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var name string
	err := db.QueryRowContext(ctx, "SELECT @@wsrep_node_name").Scan(&name)
	return name, err
}
