package agent

// mariadb-dump's TLS per mode against a real, standalone mariadbd of this test's own
// (mariadb-install-db into a temporary directory, 127.0.0.1 and a free port, stopped by
// its PID): what the Galera sandbox cannot show, since its certificates name the address
// dialled and its servers always offer TLS. A certificate that names another host, another
// CA, and a server that offers no TLS at all (what an attacker who strips the offer from
// the greeting looks like). The dump is run as the agent runs it (dumpFiles), without the
// agent's own connection first: the tool's connection must hold by itself, since an
// attacker on the path may leave the agent's connection alone and go for the tool's.
// Needs mariadbd and mariadb-install-db (the sandbox's packages): fails, never skips,
// without them.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// standalone is a throwaway mariadbd on 127.0.0.1.
type standalone struct {
	dir, sock string
	port      int
	osUser    string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// installStandalone makes a datadir with mariadb-install-db; the OS user running the test
// logs in over the socket (unix_socket).
func installStandalone(t testing.TB) *standalone {
	t.Helper()
	for _, bin := range []string{"mariadb-install-db", "/usr/sbin/mariadbd", "mariadb", "mariadb-dump"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing (install the sandbox's packages: hack/overcloud.sh up): %v", bin, err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &standalone{dir: dir, sock: filepath.Join(dir, "mysqld.sock"), osUser: u.Username}
	for _, d := range []string{"data", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	//nolint:gosec // G204: fixed tool, the test's own directories
	out, err := exec.CommandContext(ctx, "mariadb-install-db", "--no-defaults", "--user="+s.osUser,
		"--datadir="+filepath.Join(dir, "data"), "--tmpdir="+filepath.Join(dir, "tmp"),
		"--auth-root-authentication-method=socket", "--skip-test-db").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, lastBytes(out, 1500))
	}
	return s
}

// start runs mariadbd, with TLS when tlsFiles is set (the CA, the certificate and its key).
func (s *standalone) start(t testing.TB, tlsFiles *serverTLS) {
	t.Helper()
	s.port = freePort(t)
	args := []string{"--no-defaults", "--user=" + s.osUser, "--datadir=" + filepath.Join(s.dir, "data"),
		"--tmpdir=" + filepath.Join(s.dir, "tmp"), "--socket=" + s.sock, "--pid-file=" + filepath.Join(s.dir, "mysqld.pid"),
		"--port=" + strconv.Itoa(s.port), "--bind-address=127.0.0.1", "--skip-name-resolve",
		"--log-error=" + filepath.Join(s.dir, "error.log"), "--innodb-buffer-pool-size=16M"}
	if tlsFiles != nil {
		args = append(args, "--ssl-ca="+tlsFiles.ca, "--ssl-cert="+tlsFiles.cert, "--ssl-key="+tlsFiles.key)
	}
	// Not bound to the test's context: the server outlives subtests, and stop ends it by PID.
	s.cmd = exec.CommandContext(context.Background(), "/usr/sbin/mariadbd", args...) //nolint:gosec // G204: fixed binary, own paths
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := s.sql(t.Context(), "SELECT 1"); err == nil {
			return
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			t.Fatalf("the standalone mariadbd exited\n...%s", lastBytes(log, 1500))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the standalone mariadbd did not answer in 30 s")
		}
	}
}

// stop ends the server by its PID (SIGTERM, then SIGKILL after 30 s).
func (s *standalone) stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Error("the standalone mariadbd ignored SIGTERM for 30 s")
	}
	s.cmd = nil
}

// sql runs statements over the socket as the OS user.
func (s *standalone) sql(ctx context.Context, stmts string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	//nolint:gosec // G204: fixed tool, the test's own statements
	out, err := exec.CommandContext(ctx, "mariadb", "--no-defaults", "--protocol=SOCKET", "--socket="+s.sock,
		"--user="+s.osUser, "-N", "-e", stmts).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// lastBytes is the end of a tool's output, for a failure message.
func lastBytes(b []byte, n int) []byte { return b[max(0, len(b)-n):] }

func freePort(t testing.TB) int {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// serverTLS are a server's PEM files.
type serverTLS struct{ ca, cert, key string }

// testPKI writes a CA, a server certificate of it naming only "elsewhere" (not the
// address dialled), and an unrelated CA, as PEM files in dir.
func testPKI(t testing.TB, dir string) (srv *serverTLS, otherCA string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, kind string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	makeCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, k, write(name+".crt", "CERTIFICATE", der)
	}
	ca, caKey, caFile := makeCA("test-ca")
	_, _, otherCA = makeCA("other-ca")
	k := newKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano() + 1), Subject: pkix.Name{CommonName: "elsewhere"},
		DNSNames: []string{"elsewhere"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &serverTLS{ca: caFile, cert: write("server.crt", "CERTIFICATE", der), key: write("server.key", "PRIVATE KEY", keyDER)}, otherCA
}

// TestDumpTLSStandalone: every mode against a server whose certificate names another
// host, with the right CA and another one; then the same server offering no TLS. Users:
// "plain" (mysql_native_password), "tlsonly" (the same, REQUIRE SSL: a dump that succeeds
// as it was encrypted) and "ed" (ed25519: the one other plugin the private plugin
// directory keeps).
func TestDumpTLSStandalone(t *testing.T) {
	srv := installStandalone(t)
	pki, otherCA := testPKI(t, t.TempDir())
	srv.start(t, pki)
	const password = "standalone-pw-1"
	if _, err := srv.sql(t.Context(), `DELETE FROM mysql.global_priv WHERE User = ''; FLUSH PRIVILEGES;
		INSTALL SONAME 'auth_ed25519';
		CREATE USER plain@'%' IDENTIFIED BY '`+password+`';
		CREATE USER tlsonly@'%' IDENTIFIED BY '`+password+`' REQUIRE SSL;
		CREATE USER ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('`+password+`');
		CREATE DATABASE nova; CREATE TABLE nova.instances (id INT PRIMARY KEY) ENGINE=InnoDB;
		INSERT INTO nova.instances VALUES (1), (2), (3);
		GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT, RELOAD, PROCESS ON *.* TO plain@'%', tlsonly@'%', ed@'%'`); err != nil {
		t.Fatal(err)
	}
	type tc struct {
		name, user, mode, ca string
		want                 string // "" for success, else in the error
	}
	run := func(t *testing.T, c tc) {
		cfg := Config{Address: "127.0.0.1", Port: srv.port, User: c.user, Password: password, TempDir: t.TempDir(),
			Compression: None, ConnectTimeout: 5 * time.Second, QueryTimeout: 5 * time.Second}
		if c.mode != "" {
			cfg.TLS = &TLSOptions{Mode: c.mode, CAFile: c.ca}
		}
		art, err := Begin(t.TempDir(), "ns", "b")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = art.Abort() }()
		_, err = dumpFiles(t.Context(), cfg, art, []Database{{Name: "nova"}})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("as %s, mode %q: %v", c.user, c.mode, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("as %s, mode %q: %v; want an error with %q", c.user, c.mode, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Error("the error quotes the password")
		}
	}
	t.Run("TLS offered", func(t *testing.T) {
		for _, c := range []tc{
			{"no TLS mode: the client's default, TLS when offered", "tlsonly", "", "", ""},
			{"Preferred", "tlsonly", "Preferred", "", ""},
			{"Required, through the gate", "tlsonly", "Required", "", ""},
			{"VerifyCA: the chain, not the name", "tlsonly", "VerifyCA", pki.ca, ""},
			{"VerifyFull: the name is not the address dialled", "tlsonly", "VerifyFull", pki.ca, "Validation of SSL server certificate failed"},
			{"VerifyCA, another CA", "tlsonly", "VerifyCA", otherCA, "certificate"},
			{"VerifyFull, another CA", "tlsonly", "VerifyFull", otherCA, "certificate"},
			{"ed25519 over Required", "ed", "Required", "", ""},
		} {
			t.Run(c.name, func(t *testing.T) { run(t, c) })
		}
		// A client that answers the greeting in clear (its login) is cut off there.
		t.Run("the gate, a client without TLS", func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "gate.sock")
			g, err := openTLSGate(t.Context(), sock, net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.port)), "Required", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			//nolint:gosec // G204: fixed tool, the test's own socket
			out, err := exec.CommandContext(t.Context(), "mariadb", "--no-defaults", "--protocol=SOCKET", "--socket="+sock,
				"--skip-ssl", "--user=plain", "--password="+password, "-e", "SELECT 1").CombinedOutput()
			if err == nil {
				t.Fatalf("a client without TLS went through the gate: %s", out)
			}
			if gerr := g.Err(); gerr == nil || !strings.Contains(gerr.Error(), "did not ask") {
				t.Errorf("the gate's reason: %v; the client: %s", gerr, out)
			}
		})
	})

	srv.stop(t)
	srv.start(t, nil)
	if got, err := srv.sql(t.Context(), "SELECT @@have_ssl"); err != nil || got != "DISABLED" {
		t.Fatalf("have_ssl %q (%v), want DISABLED", got, err)
	}
	t.Run("no TLS offered", func(t *testing.T) {
		for _, c := range []tc{
			{"no TLS mode", "plain", "", "", ""},
			{"Preferred: in clear", "plain", "Preferred", "", ""},
			{"ed25519 without TLS", "ed", "", "", ""},
			{"Required", "plain", "Required", "", "offers no TLS"},
			{"VerifyCA", "plain", "VerifyCA", pki.ca, "offers no TLS"},
			{"VerifyFull", "plain", "VerifyFull", pki.ca, "SSL is required, but the server does not support it"},
		} {
			t.Run(c.name, func(t *testing.T) { run(t, c) })
		}
	})
}

// BenchmarkDumpTLSGate: what the gate costs. A 256 MiB table (256 rows of 1 MiB) dumped
// uncompressed from the standalone server over TLS, directly (Preferred: the tool's TLS,
// no gate) and through the gate (Required, VerifyCA); MB/s is the table's bytes per second.
//
//	go test -run '^$' -bench BenchmarkDumpTLSGate -benchtime 3x ./internal/agent/
func BenchmarkDumpTLSGate(b *testing.B) {
	srv := installStandalone(b)
	pki, _ := testPKI(b, b.TempDir())
	srv.start(b, pki)
	const password = "standalone-pw-1"
	const rows = 256
	if _, err := srv.sql(b.Context(), `DELETE FROM mysql.global_priv WHERE User = ''; FLUSH PRIVILEGES;
		CREATE USER tlsonly@'%' IDENTIFIED BY '`+password+`' REQUIRE SSL;
		GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT, RELOAD, PROCESS ON *.* TO tlsonly@'%';
		SET GLOBAL max_allowed_packet = 64 * 1024 * 1024;
		CREATE DATABASE big; USE big; CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB;
		INSERT INTO blobs SELECT seq, REPEAT(MD5(seq), 32768) FROM seq_1_to_`+strconv.Itoa(rows)); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"Preferred", "Required", "VerifyCA"} {
		b.Run(mode, func(b *testing.B) {
			cfg := Config{Address: "127.0.0.1", Port: srv.port, User: "tlsonly", Password: password, TempDir: b.TempDir(),
				Compression: None, ConnectTimeout: 5 * time.Second, TLS: &TLSOptions{Mode: mode, CAFile: pki.ca}}
			b.SetBytes(rows << 20)
			for b.Loop() {
				art, err := Begin(b.TempDir(), "ns", "b")
				if err != nil {
					b.Fatal(err)
				}
				_, err = dumpFiles(b.Context(), cfg, art, []Database{{Name: "big"}})
				_ = art.Abort()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
