package agent

// The real mariadb-dump, as the agent runs it, against an endpoint that is not MariaDB (a
// tenant chooses the address; an attacker on the path may answer in its place and leave
// the agent's own connection alone): it offers no TLS and, once the client has said who
// it is, asks for the password in a form it can read: switching to mysql_clear_password
// or dialog (PAM), or asking for caching_sha2_password's full authentication, which
// libmariadb answers with the password in clear when there is no TLS. This stands in for
// a server on purpose: no real MariaDB server sends these to a client that did not ask.

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// hostileEndpoint serves one login: a greeting offering no TLS with plugin, then ask
// after the client's handshake response. Everything the client sent comes on the channel.
func hostileEndpoint(t *testing.T, plugin string, ask []byte) (int, <-chan []byte) {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan []byte, 1)
	go func() {
		var sent bytes.Buffer
		defer func() { got <- sent.Bytes() }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := io.TeeReader(c, &sent)
		const caps = 0x1 | 0x200 | 0x2000 | 0x8000 | 0x80000 // long password, 4.1, transactions, secure conn, plugin auth; no SSL
		hs := []byte{10}
		hs = append(hs, "5.5.5-10.11.14-MariaDB\x00"...)
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
		hs = append(hs, plugin+"\x00"...)
		if writePacket(c, 0, hs) != nil {
			return
		}
		if _, _, err := readPacket(r, 1<<16); err != nil { // the handshake response
			return
		}
		if writePacket(c, 2, ask) != nil {
			return
		}
		_, _, _ = readPacket(r, 1<<16) // whatever the client answers
	}()
	return ln.Addr().(*net.TCPAddr).Port, got
}

// TestDumpNeverGivesThePasswordAway: with no TLS mode and with Preferred (the modes that
// may run in clear), each request is refused and the endpoint never sees the password.
// Without the private plugin directory mariadb-dump sent it in clear in all three cases.
func TestDumpNeverGivesThePasswordAway(t *testing.T) {
	const password = "not-for-this-endpoint"
	for _, tc := range []struct {
		name, plugin string
		ask          []byte
	}{
		{"switch to mysql_clear_password", "mysql_native_password", append([]byte{0xfe}, "mysql_clear_password\x00"...)},
		{"switch to dialog", "mysql_native_password", append([]byte{0xfe}, "dialog\x00\x04Password: "...)},
		{"caching_sha2_password's full authentication", "caching_sha2_password", []byte{0x01, 0x04}},
	} {
		for _, mode := range []string{"", "Preferred"} {
			t.Run(tc.name+" "+mode, func(t *testing.T) {
				port, got := hostileEndpoint(t, tc.plugin, tc.ask)
				cfg := Config{Address: "127.0.0.1", Port: port, User: "backup", Password: password, TempDir: t.TempDir(),
					Compression: None, ConnectTimeout: 5 * time.Second}
				if mode != "" {
					cfg.TLS = &TLSOptions{Mode: mode}
				}
				art, err := Begin(t.TempDir(), "ns", "b")
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = art.Abort() }()
				_, err = dumpFiles(t.Context(), cfg, art, []Database{{Name: "nova"}})
				if err == nil {
					t.Fatal("the dump succeeded against an endpoint that is not MariaDB")
				}
				sent := <-got
				if len(sent) == 0 {
					t.Fatalf("mariadb-dump sent nothing (%v): the endpoint did not play its part", err)
				}
				if bytes.Contains(sent, []byte(password)) {
					t.Errorf("mariadb-dump gave the endpoint the password in clear (%v)", err)
				}
				if strings.Contains(err.Error(), password) {
					t.Error("the error quotes the password")
				}
				t.Logf("refused: %v", err)
			})
		}
	}
}

// TestGatePassesAServerRefusal: a server that refuses the connection in place of its
// greeting (an error packet, as MariaDB sends "Too many connections" or a blocked host)
// is reported as the server said, not as a server without TLS, and nothing of the client
// passes the gate. The endpoint stands in for a server because a real one sends this
// only under conditions a test cannot make cheaply.
func TestGatePassesAServerRefusal(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	got := make(chan []byte, 1)
	go func() {
		var sent bytes.Buffer
		defer func() { got <- sent.Bytes() }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		refusal := append([]byte{0xff}, binary.LittleEndian.AppendUint16(nil, 1040)...)
		refusal = append(refusal, "Too many connections"...)
		if writePacket(c, 0, refusal) != nil {
			return
		}
		_, _ = io.Copy(&sent, c)
	}()
	cfg := Config{Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "backup", Password: "not-for-this-endpoint",
		TempDir: t.TempDir(), Compression: None, ConnectTimeout: 5 * time.Second, TLS: &TLSOptions{Mode: "Required"}}
	art, err := Begin(t.TempDir(), "ns", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = art.Abort() }()
	_, err = dumpFiles(t.Context(), cfg, art, []Database{{Name: "nova"}})
	if err == nil || !strings.Contains(err.Error(), "Too many connections") || strings.Contains(err.Error(), "offers no TLS") {
		t.Errorf("%v; want the server's refusal", err)
	}
	if sent := <-got; len(sent) != 0 {
		t.Errorf("%d bytes of the client reached the server after its refusal", len(sent))
	}
}
