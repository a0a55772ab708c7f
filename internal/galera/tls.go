package galera

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/go-sql-driver/mysql"
)

// TLS modes, as the API's database.tls.mode spells them.
const (
	TLSPreferred  = "Preferred"
	TLSRequired   = "Required"
	TLSVerifyCA   = "VerifyCA"
	TLSVerifyFull = "VerifyFull"
)

// TLSConfig is the TLS of a connection to a node in mode, with the PEM CA bundle ca for
// VerifyCA and VerifyFull. Preferred and Required encrypt without verifying (as MySQL's
// own modes do); fallback says whether a server without TLS may be talked to in clear
// (Preferred only). VerifyCA verifies the chain but not the name (the certificate may
// name a host other than the address dialled); VerifyFull verifies both, the name
// against the address dialled (go-sql-driver sets ServerName from it).
func TLSConfig(mode string, ca []byte) (cfg *tls.Config, fallback bool, err error) {
	cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	switch mode {
	case TLSPreferred, TLSRequired:
		cfg.InsecureSkipVerify = true
		return cfg, mode == TLSPreferred, nil
	case TLSVerifyCA, TLSVerifyFull:
	default:
		return nil, false, fmt.Errorf("unknown TLS mode %q", mode)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, false, errors.New("the database CA bundle holds no PEM certificate")
	}
	cfg.RootCAs = pool
	if mode == TLSVerifyCA {
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg, false, nil
}

// noServerKey names, in the driver's registry, an RSA public key whose private half was
// never kept (Harden).
const noServerKey = "ocb-no-server-key"

var registerNoServerKey = sync.OnceFunc(func() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("generating an RSA key: %v", err))
	}
	mysql.RegisterServerPubKey(noServerKey, &k.PublicKey)
})

// Harden sets what every connection of ours to a node needs, TLS or not: a server (or
// whoever answers in its place) that asks for caching_sha2_password's full
// authentication over a clear connection makes go-sql-driver fetch the server's RSA key
// in clear, so an active attacker could hand over their own and read the password. With
// a registered key, the driver encrypts with it instead, and nobody holds its private
// half: the login fails, the password stays secret. MariaDB itself never asks (it has no
// caching_sha2_password); over TLS the driver sends the password inside the tunnel.
// Cleartext and old (pre-4.1) password plugins stay refused.
func Harden(mc *mysql.Config) {
	registerNoServerKey()
	mc.ServerPubKey = noServerKey
	mc.AllowCleartextPasswords = false
	mc.AllowOldPasswords = false
}
