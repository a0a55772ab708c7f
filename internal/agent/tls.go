package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/galera"
)

// TLSOptions is how the agent's connections to the node are encrypted and verified: the
// Overcloud's database.tls, with the CA bundle mounted as a file.
type TLSOptions struct {
	// Mode is Preferred, Required, VerifyCA or VerifyFull (galera's TLS modes).
	Mode string
	// CAFile is the PEM CA bundle, for VerifyCA and VerifyFull.
	CAFile string
}

// maxCABytes bounds the CA bundle read: a real one is a few KiB.
const maxCABytes = 1 << 20

// applyTLS sets the TLS of the agent's own connection (the desync guard, the snapshot's
// position) on mc, and the driver's defences whatever the mode (galera.Harden).
func applyTLS(mc *mysql.Config, t *TLSOptions) error {
	galera.Harden(mc)
	cfg, fallback, err := tlsOf(t)
	if err != nil {
		return err
	}
	mc.TLS, mc.AllowFallbackToPlaintext = cfg, fallback
	return nil
}

// tlsOf is the TLS configuration of the options (nil for none).
func tlsOf(t *TLSOptions) (*tls.Config, bool, error) {
	if t == nil {
		return nil, false, nil
	}
	var ca []byte
	if t.Mode == galera.TLSVerifyCA || t.Mode == galera.TLSVerifyFull {
		var err error
		if ca, err = readCA(t.CAFile); err != nil {
			return nil, false, err
		}
	}
	cfg, fallback, err := galera.TLSConfig(t.Mode, ca)
	if err != nil {
		return nil, false, fmt.Errorf("TLS to the database: %w", err)
	}
	return cfg, fallback, nil
}

// readCA reads the CA bundle file (bounded; the error names the file, never its bytes).
func readCA(path string) ([]byte, error) {
	if path == "" || !filepath.IsAbs(path) {
		return nil, fmt.Errorf("TLS to the database: the CA file must be an absolute path, got %q", path)
	}
	f, err := os.Open(path) //nolint:gosec // G304: the path the Job mounts the CA Secret at
	if err != nil {
		return nil, fmt.Errorf("TLS to the database: %w", err)
	}
	defer func() { _ = f.Close() }()
	ca, err := io.ReadAll(io.LimitReader(f, maxCABytes+1))
	if err != nil {
		return nil, fmt.Errorf("TLS to the database: reading %s: %w", path, err)
	}
	if len(ca) > maxCABytes {
		return nil, fmt.Errorf("TLS to the database: %s is larger than %d bytes", path, maxCABytes)
	}
	return ca, nil
}

// dumpSession is how mariadb-dump reaches the node: in a private directory (0700), the
// client defaults file with the credentials, the client plugins it may load and, where
// the mode needs one, the gate it connects through; and its connection options.
type dumpSession struct {
	dir     string
	plugins string // the client plugin directory
	sockDir string // the gate's own directory, when dir is too deep for a socket path
	args    []string
	gate    *tlsGate
}

// maxSocketPath is the longest Unix socket path Linux accepts (sun_path, 108 bytes with
// its NUL).
const maxSocketPath = 107

// openDumpSession prepares mariadb-dump's connection to the node for the TLS mode:
//
//	none        --host --port: the client's defaults (10.10 and later: TLS when offered,
//	            not verified)
//	Preferred   --host --port --ssl: the same, said explicitly
//	Required    through the gate (TLS enforced), --ssl: not verified
//	VerifyCA    through the gate (TLS enforced), --ssl-ca: the chain checked, not the name
//	VerifyFull  --host --port --ssl-ca --ssl-verify-server-cert: the client enforces TLS
//	            and checks the chain and the name (the address dialled) by itself
//
// Whatever the mode, the tool loads client plugins only from a private directory that
// holds none that gives the password away: a server (or whoever answers in its place)
// that switches the login to mysql_clear_password or dialog, or to caching_sha2_password's
// full authentication (which libmariadb answers with the password in clear without TLS),
// is refused, as the agent's own connections refuse it (galera.Harden).
func openDumpSession(ctx context.Context, cfg Config) (*dumpSession, error) {
	dir, err := os.MkdirTemp(cfg.TempDir, "ocb-dump-")
	if err != nil {
		return nil, fmt.Errorf("creating the dump's private directory: %w", err)
	}
	s := &dumpSession{dir: dir}
	if err := s.prepare(ctx, cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepare writes the defaults file, the plugin directory and the gate, and the options.
func (s *dumpSession) prepare(ctx context.Context, cfg Config) error {
	defaults := filepath.Join(s.dir, "client.cnf")
	content := fmt.Appendf(nil, "[client]\nuser=%s\npassword=%s\n", optionValue(cfg.User), optionValue(cfg.Password))
	if err := os.WriteFile(defaults, content, 0o600); err != nil {
		return fmt.Errorf("writing the client defaults file: %w", err)
	}
	plugins, err := clientPlugins(s.dir)
	if err != nil {
		return err
	}
	s.plugins = plugins
	// The defaults file must come first: mariadb-dump reads --defaults-extra-file only there.
	s.args = []string{"--defaults-extra-file=" + defaults, "--plugin-dir=" + plugins}
	direct := []string{"--host=" + cfg.Address, "--port=" + strconv.Itoa(cfg.Port)}
	mode := ""
	if cfg.TLS != nil {
		mode = cfg.TLS.Mode
	}
	switch mode {
	case "":
		s.args = append(s.args, direct...)
	case galera.TLSPreferred:
		s.args = append(append(s.args, direct...), "--ssl")
	case galera.TLSVerifyFull:
		s.args = append(append(s.args, direct...), "--ssl-ca="+cfg.TLS.CAFile, "--ssl-verify-server-cert")
	case galera.TLSRequired, galera.TLSVerifyCA:
		sock := filepath.Join(s.dir, "gate.sock")
		if len(sock) > maxSocketPath {
			// A temporary directory too deep for a socket path (TMPDIR too): a private one in /tmp.
			if s.sockDir, err = os.MkdirTemp("/tmp", "ocb-gate-"); err != nil {
				return fmt.Errorf("TLS to the database: creating the gate's directory: %w", err)
			}
			sock = filepath.Join(s.sockDir, "gate.sock")
		}
		target := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
		if s.gate, err = openTLSGate(ctx, sock, target, mode, cfg.ConnectTimeout); err != nil {
			return err
		}
		s.args = append(s.args, "--protocol=SOCKET", "--socket="+sock)
		if mode == galera.TLSVerifyCA {
			s.args = append(s.args, "--ssl-ca="+cfg.TLS.CAFile)
		} else {
			s.args = append(s.args, "--ssl")
		}
	default:
		return fmt.Errorf("TLS to the database: unknown TLS mode %q", mode)
	}
	return nil
}

// explain prefers the gate's reason to the tool's error ("lost connection"), and says
// why a client plugin could not be loaded.
func (s *dumpSession) explain(name string, err error) error {
	if err == nil {
		return nil
	}
	if s.gate != nil {
		if gerr := s.gate.Err(); gerr != nil {
			return fmt.Errorf("mariadb-dump for %s: TLS to the database: %w", name, gerr)
		}
	}
	if strings.Contains(err.Error(), "could not be loaded: "+s.plugins) {
		return fmt.Errorf("%w (the node asked for a login method that would hand the password over, or that the agent "+
			"does not carry: mariadb-dump logs in only with mysql_native_password or ed25519)", err)
	}
	return err
}

// Close ends the gate and removes the directory (the credentials with it).
func (s *dumpSession) Close() {
	if s.gate != nil {
		s.gate.Close()
	}
	_ = os.RemoveAll(s.dir)
	if s.sockDir != "" {
		_ = os.RemoveAll(s.sockDir)
	}
}

// safeClientPlugins are the client authentication plugins mariadb-dump may load (besides
// mysql_native_password, built in): ed25519 proves the password without revealing it.
var safeClientPlugins = []string{"client_ed25519.so"}

// clientPluginDirs are where libmariadb's client plugins are installed (Debian's multiarch
// directories: the agent image's; RPM-based systems').
var clientPluginDirs = []string{"/usr/lib/*/libmariadb3/plugin", "/usr/lib64/mariadb/plugin"}

// clientPlugins makes dir/plugins with links to the safe plugins found; a login that
// asks for any other plugin fails ("could not be loaded").
func clientPlugins(dir string) (string, error) {
	p := filepath.Join(dir, "plugins")
	if err := os.Mkdir(p, 0o700); err != nil {
		return "", fmt.Errorf("creating the client plugin directory: %w", err)
	}
	for _, name := range safeClientPlugins {
		for _, pattern := range clientPluginDirs {
			found, _ := filepath.Glob(filepath.Join(pattern, name))
			if len(found) == 0 {
				continue
			}
			if err := os.Symlink(found[0], filepath.Join(p, name)); err != nil {
				return "", fmt.Errorf("linking the client plugin %s: %w", name, err)
			}
			break
		}
	}
	return p, nil
}
