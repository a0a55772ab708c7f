package agent

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A tlsGate stands between mariadb-dump and the node when the mode requires TLS but
// mariadb-dump cannot be told to (Required, VerifyCA). MariaDB's client takes TLS when the
// server offers it and goes on in clear when it does not: only --ssl-verify-server-cert
// makes TLS mandatory, and that also checks the name, which VerifyCA must not. So an
// attacker on the path who strips the offer from the server's greeting would get the
// login (and the data) in clear. The gate is a Unix socket in the agent's private
// directory: for each connection of the tool it dials the node, reads the server's
// greeting and passes it on only if it offers TLS, then requires the tool's first packet
// to be a TLS request and its next bytes a TLS handshake record, and from there relays
// bytes unchanged. The TLS session, and the CA check, stay the tool's own, end to end.
type tlsGate struct {
	ln      *net.UnixListener
	target  string
	mode    string
	timeout time.Duration

	mu     sync.Mutex
	err    error
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// MySQL protocol facts the gate reads.
const (
	clientSSL       = 0x0800 // capability flag: TLS
	sslRequestBytes = 32     // an SSLRequest packet's payload
	maxGreeting     = 4096   // a real greeting is about 100 bytes
	tlsHandshake    = 0x16   // the content type of a TLS handshake record
	errPacket       = 0xff   // the first byte of an error packet
)

// openTLSGate listens on the Unix socket path and relays to target (host:port), each
// handshake bounded by timeout, until Close.
func openTLSGate(ctx context.Context, path, target, mode string, timeout time.Duration) (*tlsGate, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("TLS to the database: opening the gate for mariadb-dump: %w", err)
	}
	g := &tlsGate{ln: l.(*net.UnixListener), target: target, mode: mode, timeout: timeout, conns: map[net.Conn]struct{}{}}
	g.wg.Add(1)
	go g.serve(ctx)
	return g, nil
}

func (g *tlsGate) serve(ctx context.Context) {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return // closed
		}
		if !g.track(c) {
			_ = c.Close()
			return
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.handle(ctx, c)
		}()
	}
}

// track registers a connection to close with the gate; false once the gate is closed.
func (g *tlsGate) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *tlsGate) untrack(c net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.conns, c)
}

// refuse records why a connection was refused (the first reason is kept).
func (g *tlsGate) refuse(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
	}
}

// Err is why the gate refused a connection, if it did: a clearer cause than the tool's
// "lost connection".
func (g *tlsGate) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Close stops accepting, ends the relayed connections and waits for them.
func (g *tlsGate) Close() {
	g.mu.Lock()
	g.closed = true
	for c := range g.conns {
		_ = c.Close()
	}
	g.mu.Unlock()
	_ = g.ln.Close()
	g.wg.Wait()
}

// handle lets one connection of the tool through once it is sure that it is TLS.
func (g *tlsGate) handle(ctx context.Context, c net.Conn) {
	defer g.untrack(c)
	defer func() { _ = c.Close() }()
	d := net.Dialer{Timeout: g.timeout}
	up, err := d.DialContext(ctx, "tcp", g.target)
	if err != nil {
		g.refuse(fmt.Errorf("connecting to %s: %w", g.target, err))
		return
	}
	if !g.track(up) {
		_ = up.Close()
		return
	}
	defer g.untrack(up)
	defer func() { _ = up.Close() }()
	deadline := time.Now().Add(g.timeout)
	_, _ = up.SetDeadline(deadline), c.SetDeadline(deadline)
	if tlsStarted, err := g.handshake(c, up); err != nil || !tlsStarted {
		if err != nil {
			g.refuse(err)
		}
		return
	}
	_, _ = up.SetDeadline(time.Time{}), c.SetDeadline(time.Time{})
	relay(c, up)
}

// handshake passes the greeting and the TLS request between client c and server up, and
// the first byte of the client's TLS handshake; nothing else of the client reaches the
// server before TLS, and no credential is sent in clear. tlsStarted is false, without an
// error, when the server refused the connection in its greeting.
func (g *tlsGate) handshake(c, up net.Conn) (tlsStarted bool, err error) {
	seq, greeting, err := readPacket(up, maxGreeting)
	if err != nil {
		return false, fmt.Errorf("reading the greeting of %s: %w", g.target, err)
	}
	if len(greeting) > 0 && greeting[0] == errPacket {
		// The server refuses the connection (too many, host blocked): the tool reports it,
		// and nothing more passes.
		_ = writePacket(c, seq, greeting)
		return false, nil
	}
	if !offersTLS(greeting) {
		return false, fmt.Errorf("%s offers no TLS (or something on the way removed the offer): "+
			"refused, database.tls.mode is %s; no credential was sent", g.target, g.mode)
	}
	if err := writePacket(c, seq, greeting); err != nil {
		return false, err
	}
	seq, req, err := readPacket(c, maxGreeting)
	if err != nil {
		return false, fmt.Errorf("reading mariadb-dump's answer to the greeting: %w", err)
	}
	if seq != 1 || len(req) != sslRequestBytes || binary.LittleEndian.Uint32(req)&clientSSL == 0 {
		return false, fmt.Errorf("mariadb-dump did not ask %s for TLS (database.tls.mode %s): refused, nothing of it was sent",
			g.target, g.mode)
	}
	if err := writePacket(up, seq, req); err != nil {
		return false, err
	}
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return false, fmt.Errorf("reading mariadb-dump's TLS handshake: %w", err)
	}
	if first[0] != tlsHandshake {
		return false, fmt.Errorf("mariadb-dump asked %s for TLS but did not start it: refused", g.target)
	}
	if _, err := up.Write(first[:]); err != nil {
		return false, err
	}
	return true, nil
}

// offersTLS says whether a protocol-10 greeting sets CLIENT_SSL: the protocol version,
// the server's version (NUL-terminated), the connection id (4 bytes), the first 8 bytes
// of the scramble, a filler byte, then the low 16 bits of the capabilities.
func offersTLS(p []byte) bool {
	if len(p) < 1 || p[0] != 10 {
		return false
	}
	i := 1
	for i < len(p) && p[i] != 0 {
		i++
	}
	i += 1 + 4 + 8 + 1
	return i+2 <= len(p) && binary.LittleEndian.Uint16(p[i:])&clientSSL != 0
}

// readPacket reads one MySQL packet of at most max bytes: its sequence number and payload.
func readPacket(r io.Reader, maxBytes int) (byte, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n > maxBytes {
		return 0, nil, fmt.Errorf("a packet of %d bytes where at most %d are expected", n, maxBytes)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return h[3], p, nil
}

// writePacket writes one MySQL packet (payloads here are a few KiB at most).
func writePacket(w io.Writer, seq byte, p []byte) error {
	if len(p) >= 1<<24 {
		return fmt.Errorf("a packet of %d bytes needs splitting", len(p))
	}
	h := binary.LittleEndian.AppendUint32(nil, uint32(len(p))) //nolint:gosec // G115: below 1<<24, checked above
	h[3] = seq
	_, err := w.Write(append(h, p...))
	return err
}

// relay copies both ways until either side ends, then ends both.
func relay(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	_, _ = a.Close(), b.Close()
	<-done
}
