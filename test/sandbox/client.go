package sandbox

import (
	"context"
	"database/sql"
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
