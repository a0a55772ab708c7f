package agent

import (
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestDumpTLSArgs: mariadb-dump verifies the chain whenever it is given a CA (--ssl-ca),
// and the name too with --ssl-verify-server-cert (both checked by hand against the
// sandbox's nodes with another CA: "self-signed certificate in certificate chain").
func TestDumpTLSArgs(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want []string
	}{
		{"Preferred", []string{"--ssl"}},
		{"Required", []string{"--ssl"}},
		{"VerifyCA", []string{"--ssl-ca=/etc/ca.crt"}},
		{"VerifyFull", []string{"--ssl-ca=/etc/ca.crt", "--ssl-verify-server-cert"}},
	} {
		if got := dumpTLSArgs(&TLSOptions{Mode: tc.mode, CAFile: "/etc/ca.crt"}); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.mode, got, tc.want)
		}
	}
	if got := dumpTLSArgs(nil); got != nil {
		t.Errorf("no TLS: %q", got)
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
