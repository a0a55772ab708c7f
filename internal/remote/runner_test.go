package remote

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newKey(t testing.TB) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

func TestCappedBuffer(t *testing.T) {
	tests := []struct {
		name     string
		limit    int
		writes   []string
		want     string
		overflow bool
	}{
		{"empty", 4, nil, "", false},
		{"under", 4, []string{"ab"}, "ab", false},
		{"exact", 4, []string{"ab", "cd"}, "abcd", false},
		{"over in one write", 4, []string{"abcdef"}, "abcd", true},
		{"over across writes", 4, []string{"abc", "de", "f"}, "abcd", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := make(chan struct{}, 4)
			c := &cappedBuffer{limit: tt.limit, onOverflow: func() { calls <- struct{}{} }}
			for _, w := range tt.writes {
				n, err := c.Write([]byte(w))
				if err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := string(c.Bytes()); got != tt.want {
				t.Errorf("Bytes() = %q, want %q", got, tt.want)
			}
			if c.Overflowed() != tt.overflow {
				t.Errorf("Overflowed() = %v, want %v", c.Overflowed(), tt.overflow)
			}
			if tt.overflow {
				<-calls // called exactly once (a second call would block nobody but show below)
			}
			if len(calls) != 0 {
				t.Errorf("onOverflow called %d extra times", len(calls))
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		writes []string
		want   string
	}{
		{"empty", 4, nil, ""},
		{"fits", 4, []string{"ab", "cd"}, "abcd"},
		{"keeps the end", 4, []string{"abc", "def"}, "…cdef"},
		{"drops a cut rune", 2, []string{"xé!"}, "…!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &tailBuffer{limit: tt.limit}
			for _, w := range tt.writes {
				_, _ = b.Write([]byte(w))
			}
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExitErrorMessage(t *testing.T) {
	tests := []struct {
		err  ExitError
		want string
	}{
		{ExitError{Host: "10.0.0.1:22", Status: 102}, "command on 10.0.0.1:22 exited with status 102"},
		{ExitError{Host: "h:22", Status: 1, Stderr: " boom\n"}, "command on h:22 exited with status 1: boom"},
		{ExitError{Host: "h:22", Status: -1, Signal: "KILL"}, "command on h:22 killed by signal KILL"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if tt.err.ExitStatus() != tt.err.Status {
			t.Errorf("ExitStatus() = %d", tt.err.ExitStatus())
		}
	}
}

func TestAlgorithmsForKeyType(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{ssh.KeyAlgoED25519, []string{ssh.KeyAlgoED25519}},
		{ssh.KeyAlgoECDSA256, []string{ssh.KeyAlgoECDSA256}},
		{ssh.KeyAlgoRSA, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
	}
	for _, tt := range tests {
		if got := algorithmsForKeyType(tt.in); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("algorithmsForKeyType(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestHostKeyChecks drives the known_hosts callback the Runner builds, without a network.
func TestHostKeyChecks(t *testing.T) {
	known, _ := newKey(t)
	other, _ := newKey(t)
	content := []byte(knownhosts.Line([]string{knownhosts.Normalize("db0.example:2222")}, known.PublicKey()) + "\n")
	cb, err := knownHostsCallback(content)
	if err != nil {
		t.Fatal(err)
	}
	check := verifyHostKey(cb)
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2222}
	tests := []struct {
		name string
		addr string
		key  ssh.PublicKey
		want error
	}{
		{"known", "db0.example:2222", known.PublicKey(), nil},
		{"other key", "db0.example:2222", other.PublicKey(), ErrHostKeyMismatch},
		{"unknown host", "db1.example:2222", known.PublicKey(), ErrUnknownHost},
		{"same host other port", "db0.example:22", known.PublicKey(), ErrUnknownHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.addr, remote, tt.key)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("check = %v, want %v", err, tt.want)
			}
			if tt.want != nil && !strings.Contains(err.Error(), "SHA256:") {
				t.Errorf("error should name the fingerprint: %v", err)
			}
		})
	}
	if got := hostKeyAlgorithms(cb, "db0.example:2222", remote); strings.Join(got, ",") != ssh.KeyAlgoED25519 {
		t.Errorf("hostKeyAlgorithms(known) = %v", got)
	}
	if got := hostKeyAlgorithms(cb, "db9.example:22", remote); got != nil {
		t.Errorf("hostKeyAlgorithms(unknown) = %v, want nil", got)
	}
}

func TestNewRunnerRejects(t *testing.T) {
	signer, keyPEM := newKey(t)
	kh := []byte(knownhosts.Line([]string{"h"}, signer.PublicKey()) + "\n")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no user", Config{PrivateKey: keyPEM, KnownHosts: kh}, "user is empty"},
		{"bad key", Config{User: "root", PrivateKey: []byte("nope"), KnownHosts: kh}, "private key"},
		{"no known_hosts", Config{User: "root", PrivateKey: keyPEM}, "known_hosts is empty"},
		{"bad known_hosts", Config{User: "root", PrivateKey: keyPEM, KnownHosts: []byte("h ssh-ed25519 !!!\n")}, "known_hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRunner(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRunner() error = %v, want it to contain %q", err, tt.want)
			}
			if bytes.Contains([]byte(err.Error()), keyPEM) {
				t.Fatal("error leaks the private key")
			}
		})
	}
	r, err := NewRunner(Config{User: "root", PrivateKey: keyPEM, KnownHosts: kh})
	if err != nil {
		t.Fatal(err)
	}
	if r.connectTimeout != DefaultConnectTimeout || r.commandTimeout != DefaultCommandTimeout || r.maxOutput != DefaultMaxOutput {
		t.Errorf("defaults not applied: %+v", r)
	}
}
