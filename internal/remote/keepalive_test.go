package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"
)

// cable is a TCP relay between the runner and the test's sshd that can go silent: held,
// it stops passing bytes either way and closes nothing, as a host that lost power or its
// network does (no FIN, no RST; the relay's own kernel even keeps acknowledging until its
// buffers fill, then advertises a zero window, which TCP probes for ever). Released, it
// passes on what it held. cut holds the connections made so far for good, new ones pass.
type cable struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	cond     *sync.Cond
	held     bool
	closed   bool
	next     int // the next connection's number
	cutBelow int // connections numbered below are held for good
	conns    []net.Conn
	wg       sync.WaitGroup
}

func newCable(t *testing.T, target string) *cable {
	t.Helper()
	c := &cable{ln: listen(t), target: target}
	c.cond = sync.NewCond(&c.mu)
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.close)
	return c
}

func (c *cable) port() int { return c.ln.Addr().(*net.TCPAddr).Port }

func (c *cable) accept() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		var d net.Dialer
		out, err := d.DialContext(context.Background(), "tcp", c.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, in, out)
		id := c.next
		c.next++
		c.mu.Unlock()
		c.wg.Add(2)
		go c.pipe(id, out, in)
		go c.pipe(id, in, out)
	}
}

// pipe copies src to dst, each chunk waiting while the cable is held.
func (c *cable) pipe(id int, dst, src net.Conn) {
	defer c.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			c.mu.Lock()
			for (c.held || id < c.cutBelow) && !c.closed {
				c.cond.Wait()
			}
			closed := c.closed
			c.mu.Unlock()
			if closed {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func (c *cable) hold(on bool) {
	c.mu.Lock()
	c.held = on
	c.mu.Unlock()
	c.cond.Broadcast()
}

func (c *cable) cut() {
	c.mu.Lock()
	c.cutBelow = c.next
	c.mu.Unlock()
}

func (c *cable) close() {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.mu.Unlock()
	c.cond.Broadcast()
	_ = c.ln.Close()
	for _, conn := range conns {
		_ = conn.Close()
	}
	c.wg.Wait()
}

// holdAfter opens the runner's connection through the cable (so that the silence falls
// on a command, not on the handshake), holds the cable 300 ms later, and returns when it
// did (to be read once the command has returned, or to wait for the hold).
func holdAfter(t *testing.T, r *Runner, c *cable) func() time.Time {
	t.Helper()
	if _, err := r.Run(t.Context(), "127.0.0.1", c.port(), "true", nil); err != nil {
		t.Fatal(err)
	}
	held := make(chan time.Time, 1)
	time.AfterFunc(300*time.Millisecond, func() { c.hold(true); held <- time.Now() })
	var at time.Time
	return func() time.Time {
		if at.IsZero() {
			at = <-held
		}
		return at
	}
}

// zeros is an endless stdin, n bytes at most.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n)
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

// TestKeepalive: a real sshd behind the cable. A host that answers keeps its connection
// however long the command stays quiet; a host gone silent (the cable held) fails what
// runs on its connection with ErrNoAnswer within KeepaliveTimeout and one interval, a
// command, a stream of stdin or of stdout alike; a kept connection gone silent is
// replaced; a silence shorter than the timeout is survived.
func TestKeepalive(t *testing.T) {
	s := startSSHD(t)
	const interval, timeout = 150 * time.Millisecond, time.Second
	// The longest a silent host may go unnoticed: the timeout, one interval, and slack for a
	// loaded machine. Without keepalives the silence would last until CommandTimeout (20 s),
	// with another error than ErrNoAnswer.
	const bound = timeout + interval + 4*time.Second
	tests := []struct {
		name string
		// run runs on the runner through the cable, holding it (or not) as the case says,
		// and returns when the silence began (the zero time: none) and its error.
		run func(t *testing.T, r *Runner, c *cable) (time.Time, error)
		// silent: the error must be ErrNoAnswer; within: run returns within that of the
		// silence (0: any time).
		silent bool
		within time.Duration
	}{
		{"a quiet command on a host that answers", func(t *testing.T, r *Runner, c *cable) (time.Time, error) {
			_, err := r.Run(t.Context(), "127.0.0.1", c.port(), "sleep 2", nil)
			return time.Time{}, err
		}, false, 0},
		{"a host silent during a command", func(t *testing.T, r *Runner, c *cable) (time.Time, error) {
			heldAt := holdAfter(t, r, c)
			_, err := r.Run(t.Context(), "127.0.0.1", c.port(), "sleep 5", nil)
			return heldAt(), err
		}, true, bound},
		{"a host silent while stdin streams to it", func(t *testing.T, r *Runner, c *cable) (time.Time, error) {
			heldAt := holdAfter(t, r, c)
			err := r.StreamFrom(t.Context(), "127.0.0.1", c.port(), "cat >/dev/null", &zeros{n: 8 << 30}, io.Discard, nil)
			return heldAt(), err
		}, true, bound},
		{"a host silent while its output streams", func(t *testing.T, r *Runner, c *cable) (time.Time, error) {
			heldAt := holdAfter(t, r, c)
			err := r.Stream(t.Context(), "127.0.0.1", c.port(), "head -c 8000000000 /dev/zero", nil, io.Discard, nil)
			return heldAt(), err
		}, true, bound},
		{"a kept connection gone silent is replaced", func(t *testing.T, r *Runner, c *cable) (time.Time, error) {
			if _, err := r.Run(t.Context(), "127.0.0.1", c.port(), "true", nil); err != nil {
				return time.Time{}, err
			}
			// The kept connection: its session never opens until keepalive closes it; then a
			// new connection (a handshake more), not CommandTimeout.
			c.cut()
			at := time.Now()
			out, err := r.Run(t.Context(), "127.0.0.1", c.port(), "echo again", nil)
			if err == nil && string(out) != "again\n" {
				t.Errorf("stdout %q", out)
			}
			return at, err
		}, false, bound + 5*time.Second},
		{"a silence shorter than the timeout", func(t *testing.T, r *Runner, c *cable) (time.Time, error) {
			heldAt := holdAfter(t, r, c)
			go func() { time.Sleep(time.Until(heldAt().Add(timeout / 2))); c.hold(false) }()
			var out bytes.Buffer
			if err := r.StreamFrom(t.Context(), "127.0.0.1", c.port(), "wc -c", &zeros{n: 256 << 20}, &out, nil); err != nil {
				return time.Time{}, err
			}
			if got := string(bytes.TrimSpace(out.Bytes())); got != strconv.Itoa(256<<20) {
				t.Errorf("wc -c = %q after the pause, want every byte", got)
			}
			return time.Time{}, nil
		}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCable(t, s.addr())
			known := []byte(knownhosts.Line([]string{knownhosts.Normalize(c.ln.Addr().String())}, s.ed25519) + "\n")
			r, err := NewRunner(Config{User: s.user, PrivateKey: s.clientKey, KnownHosts: known, ConnectTimeout: 5 * time.Second,
				CommandTimeout: 20 * time.Second, KeepaliveInterval: interval, KeepaliveTimeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(r.Close)
			from, err := tt.run(t, r, c)
			took := time.Since(from)
			switch {
			case !tt.silent && err != nil:
				t.Fatal(err)
			case tt.silent && !errors.Is(err, ErrNoAnswer):
				t.Fatalf("%v, want ErrNoAnswer", err)
			case tt.within > 0 && took > tt.within:
				t.Fatalf("returned %v after the silence began, want within %v", took, tt.within)
			}
			if !from.IsZero() {
				t.Logf("%v, %v after the silence began", err, took)
			}
		})
	}
}

// TestKeepaliveConfig: the timeout must be longer than the interval, or a host that
// answers every keepalive could be taken for dead between two of them.
func TestKeepaliveConfig(t *testing.T) {
	host, key := newKey(t)
	known := []byte(knownhosts.Line([]string{"127.0.0.1"}, host.PublicKey()) + "\n")
	for _, tc := range []struct {
		interval, timeout time.Duration
		ok                bool
	}{
		{0, 0, true},
		{time.Second, 3 * time.Second, true},
		{time.Second, time.Second, false},
		{0, 5 * time.Second, false}, // the default interval is 10 s
		{time.Minute, 0, false},     // the default timeout is 30 s
	} {
		_, err := NewRunner(Config{User: "u", PrivateKey: key, KnownHosts: known, KeepaliveInterval: tc.interval, KeepaliveTimeout: tc.timeout})
		if (err == nil) != tc.ok {
			t.Errorf("interval %v, timeout %v: %v, want ok=%v", tc.interval, tc.timeout, err, tc.ok)
		}
	}
}
