package agent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TestDumpSessionArgs: mariadb-dump's options per mode. The client checks the chain
// whenever it has a CA (--ssl-ca) and the name too with --ssl-verify-server-cert, which
// alone makes TLS mandatory: Required and VerifyCA go through the gate instead of
// --host. Every mode loads client plugins only from the private directory, and the
// defaults file comes first. What these options do to the real client is
// TestDumpTLSStandalone's.
func TestDumpSessionArgs(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want []string
	}{
		{"", []string{"--host=10.0.0.1", "--port=3306"}}, // no TLS mode
		{"Preferred", []string{"--host=10.0.0.1", "--port=3306", "--ssl"}},
		{"Required", []string{"--protocol=SOCKET", "--socket={dir}/gate.sock", "--ssl"}},
		{"VerifyCA", []string{"--protocol=SOCKET", "--socket={dir}/gate.sock", "--ssl-ca=/etc/ca.crt"}},
		{"VerifyFull", []string{"--host=10.0.0.1", "--port=3306", "--ssl-ca=/etc/ca.crt", "--ssl-verify-server-cert"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := Config{Address: "10.0.0.1", Port: 3306, User: "u", Password: "p", TempDir: t.TempDir(), ConnectTimeout: time.Second}
			if tc.mode != "" {
				cfg.TLS = &TLSOptions{Mode: tc.mode, CAFile: "/etc/ca.crt"}
			}
			s, err := openDumpSession(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := append([]string{"--defaults-extra-file={dir}/client.cnf", "--plugin-dir={dir}/plugins"}, tc.want...)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], "{dir}", s.dir)
			}
			if !slices.Equal(s.args, want) {
				t.Errorf("args %q\nwant %q", s.args, want)
			}
			if (s.gate != nil) != strings.Contains(strings.Join(tc.want, " "), "gate.sock") {
				t.Errorf("gate %v", s.gate)
			}
			dir := s.dir
			s.Close()
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the private directory (credentials) outlives the session: %v", err)
			}
		})
	}
	_, err := openDumpSession(t.Context(), Config{TempDir: t.TempDir(), TLS: &TLSOptions{Mode: "Sometimes"}})
	if err == nil || !strings.Contains(err.Error(), `unknown TLS mode "Sometimes"`) {
		t.Errorf("an unknown mode: %v", err)
	}
}

// TestDumpSessionDeepTempDir: a temporary directory too deep for a Unix socket path
// (108 bytes) puts the gate in a private directory of /tmp, removed with the session.
func TestDumpSessionDeepTempDir(t *testing.T) {
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 90))
	if err := os.Mkdir(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := openDumpSession(t.Context(), Config{Address: "10.0.0.1", Port: 3306, TempDir: deep, ConnectTimeout: time.Second,
		TLS: &TLSOptions{Mode: "Required"}})
	if err != nil {
		t.Fatal(err)
	}
	sockDir := s.sockDir
	if !strings.HasPrefix(sockDir, "/tmp/ocb-gate-") || !slices.Contains(s.args, "--socket="+sockDir+"/gate.sock") {
		t.Errorf("socket dir %q, args %q", sockDir, s.args)
	}
	s.Close()
	if _, err := os.Stat(sockDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the gate's directory outlives the session: %v", err)
	}
}

// TestApplyTLS: every connection gets the driver's defences (no server key fetched in
// clear); a CA file that is missing, relative or not PEM is a clear error naming the
// file, never its bytes.
func TestApplyTLS(t *testing.T) {
	mc := mysql.NewConfig()
	if err := applyTLS(mc, nil); err != nil || mc.ServerPubKey == "" || mc.TLS != nil {
		t.Fatalf("no TLS: err %v, server key %q, TLS %v", err, mc.ServerPubKey, mc.TLS)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, want string
	}{
		{"relative", "ca.crt", "absolute path"},
		{"missing", dir + "/missing.crt", "no such file"},
		{"not PEM", "/dev/null", "no PEM certificate"},
	} {
		err := applyTLS(mysql.NewConfig(), &TLSOptions{Mode: "VerifyFull", CAFile: tc.file})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	mc = mysql.NewConfig()
	if err := applyTLS(mc, &TLSOptions{Mode: "Preferred"}); err != nil || mc.TLS == nil || !mc.AllowFallbackToPlaintext {
		t.Errorf("Preferred: err %v, TLS %v, fallback %v", err, mc.TLS, mc.AllowFallbackToPlaintext)
	}
}

// TestClientDefaultsTLS: mariadb-backup is asked for TLS (ssl) in the modes that require
// it (clients before 10.10 do not take it by themselves), and nothing changes otherwise.
func TestClientDefaultsTLS(t *testing.T) {
	const base = "[client]\nuser=\"u\"\npassword=\"p\"\nhost=\"10.0.0.1\"\nport=3306\n"
	for mode, want := range map[string]string{
		"":           base,
		"Preferred":  base,
		"Required":   base + "ssl\n",
		"VerifyCA":   base + "ssl\n",
		"VerifyFull": base + "ssl\n",
	} {
		cfg := Config{User: "u", Password: "p", Address: "10.0.0.1", Port: 3306}
		if mode != "" {
			cfg.TLS = &TLSOptions{Mode: mode, CAFile: "/etc/ca.crt"}
		}
		if got := string(clientDefaults(cfg)); got != want {
			t.Errorf("mode %q:\n%s\nwant:\n%s", mode, got, want)
		}
	}
}
