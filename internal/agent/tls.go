package agent

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

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
	buf := make([]byte, maxCABytes+1)
	n, _ := f.Read(buf)
	if n > maxCABytes {
		return nil, fmt.Errorf("TLS to the database: %s is larger than %d bytes", path, maxCABytes)
	}
	return buf[:n], nil
}

// dumpTLSArgs are mariadb-dump's options for the mode. The client verifies the chain
// whenever it is given a CA (--ssl-ca), and the name too with --ssl-verify-server-cert.
// Preferred and Required ask for TLS without verifying; the agent's own connection,
// made first to the same node, has already refused a server without TLS (Required).
func dumpTLSArgs(t *TLSOptions) []string {
	if t == nil {
		return nil
	}
	switch t.Mode {
	case galera.TLSVerifyCA:
		return []string{"--ssl-ca=" + t.CAFile}
	case galera.TLSVerifyFull:
		return []string{"--ssl-ca=" + t.CAFile, "--ssl-verify-server-cert"}
	default:
		return []string{"--ssl"}
	}
}
