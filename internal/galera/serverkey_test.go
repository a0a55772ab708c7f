package galera_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
)

// packet writes one MySQL protocol packet.
func packet(w io.Writer, seq byte, payload []byte) error {
	n := uint32(len(payload)) //nolint:gosec // G115: test packets are a few bytes
	h := []byte{byte(n), byte(n >> 8), byte(n >> 16), seq}
	_, err := w.Write(append(h, payload...))
	return err
}

// readPacket reads one MySQL protocol packet's payload.
func readPacket(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(r, p)
	return p, err
}

// TestNoServerKeyFetchedInClear plays an endpoint that is not MariaDB (a tenant chooses
// the address; an attacker on the path may answer in its place): it offers no TLS and
// asks for caching_sha2_password's full authentication, which makes go-sql-driver, by
// itself, request the server's RSA key in clear and encrypt the password with whatever
// key comes back. The prober must not ask for a key: it encrypts with one nobody holds.
// This stands in for a server on purpose: no real MariaDB sends this exchange.
func TestNoServerKeyFetchedInClear(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		const caps = 0x1 | 0x200 | 0x2000 | 0x8000 | 0x80000 // long password, 4.1, transactions, secure conn, plugin auth; no SSL
		hs := []byte{0x0a}
		hs = append(hs, "8.0.0-not-mariadb\x00"...)
		hs = binary.LittleEndian.AppendUint32(hs, 7)
		hs = append(hs, "abcdefgh"...)
		hs = append(hs, 0)
		hs = binary.LittleEndian.AppendUint16(hs, caps&0xffff)
		hs = append(hs, 45)
		hs = binary.LittleEndian.AppendUint16(hs, 2)
		hs = binary.LittleEndian.AppendUint16(hs, caps>>16)
		hs = append(hs, 21)
		hs = append(hs, make([]byte, 10)...)
		hs = append(hs, "ijklmnopqrst\x00"...)
		hs = append(hs, "caching_sha2_password\x00"...)
		if packet(c, 0, hs) != nil {
			got <- nil
			return
		}
		if _, err := readPacket(c); err != nil { // the handshake response
			got <- nil
			return
		}
		if packet(c, 2, []byte{0x01, 0x04}) != nil { // perform full authentication
			got <- nil
			return
		}
		next, _ := readPacket(c)
		got <- next
	}()
	p := galera.NewProber(galera.Config{User: "backup", Password: "not-for-this-server", ConnectTimeout: 2 * time.Second,
		QueryTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := p.Probe(ctx, ln.Addr().String()); err == nil {
		t.Fatal("the probe logged in to a fake server")
	}
	next := <-got
	switch {
	case next == nil:
		t.Fatal("the client sent nothing after the request for full authentication")
	case len(next) == 1 && next[0] == 0x02:
		t.Fatal("the client asked the server for its RSA key over a clear connection")
	case len(next) != 256:
		t.Errorf("the client answered %d bytes, want a password encrypted with a 2048-bit key (256)", len(next))
	}
}
