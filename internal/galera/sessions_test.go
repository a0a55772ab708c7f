package galera

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestSessionsSweep: a pool nobody asked for within its idle time is closed at the next
// request for another; one still in use, or asked for again, stays.
func TestSessionsSweep(t *testing.T) {
	s := NewSessions()
	defer s.Close()
	t0 := time.Unix(1_000_000, 0)
	cfg := Config{User: "u", Password: "p", SessionIdle: 10 * time.Second}
	for _, tc := range []struct {
		addr  string
		at    time.Duration
		idle  time.Duration
		pools int
	}{
		{"a:3306", 0, 10 * time.Second, 1},
		{"b:3306", 5 * time.Second, 10 * time.Second, 2},
		{"a:3306", 12 * time.Second, 10 * time.Second, 2}, // b used 7 s ago: kept
		{"c:3306", 16 * time.Second, 10 * time.Second, 2}, // b idle 11 s: closed
		{"c:3306", 40 * time.Second, time.Minute, 1},      // a idle 28 s: closed; c asked with a longer keep
		{"a:3306", 90 * time.Second, 10 * time.Second, 2}, // c idle 50 s < its minute: kept
	} {
		cfg.SessionIdle = tc.idle
		if _, err := s.get(cfg, tc.addr, t0.Add(tc.at)); err != nil {
			t.Fatal(err)
		}
		if got := s.Len(); got != tc.pools {
			t.Fatalf("at %v after %s: %d pools, want %d", tc.at, tc.addr, got, tc.pools)
		}
	}
}

// TestShareable: with TLS, only a config whose TLSKey says what it verifies shares.
func TestShareable(t *testing.T) {
	s := NewSessions()
	tlsCfg, _, err := TLSConfig(TLSRequired, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want bool
	}{
		{"no sessions", Config{}, false},
		{"clear", Config{Sessions: s}, true},
		{"TLS without a key", Config{Sessions: s, TLS: tlsCfg}, false},
		{"TLS with a key", Config{Sessions: s, TLS: tlsCfg, TLSKey: "Required/..."}, true},
	} {
		if got := shareable(tc.cfg); got != tc.want {
			t.Errorf("%s: shareable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestCappedConnRenewedByWrite: the read budget covers one answer; the next statement
// (a write) renews it.
func TestCappedConnRenewedByWrite(t *testing.T) {
	client, server := net.Pipe()
	defer func() { _ = server.Close() }()
	c := &cappedConn{Conn: client, left: MaxReadBytes}
	defer func() { _ = c.Close() }()
	answer := bytes.Repeat([]byte{'x'}, MaxReadBytes)
	go func() {
		buf := make([]byte, 1)
		for range 2 {
			if _, err := io.ReadFull(server, buf); err != nil {
				return
			}
			_, _ = server.Write(answer)
		}
		_, _ = server.Write([]byte("one byte too many"))
	}()
	for round := range 2 {
		if _, err := c.Write([]byte{'q'}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, MaxReadBytes)); err != nil {
			t.Fatalf("round %d: reading a whole answer of the budget's size: %v", round, err)
		}
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrAnswerTooLarge) {
		t.Fatalf("reading past the budget without a write: %v, want ErrAnswerTooLarge", err)
	}
}
