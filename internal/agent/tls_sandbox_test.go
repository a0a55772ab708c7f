package agent_test

// TLS to the database, against the local overcloud's nodes (hack/overcloud.sh gives each
// a certificate of its own CA): the agent's backups as a user the server admits only over
// TLS (REQUIRE SSL), so that a backup that succeeds proves every connection of it was
// encrypted; and a CA that does not match refused. Fails, never skips, without them.

import (
	"os"
	"strings"
	"testing"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

func tlsConfig(t *testing.T, sb *sandbox.Sandbox, cfg agent.Config, mode, ca string) agent.Config {
	t.Helper()
	cfg.User = sb.TLS.User
	cfg.TLS = &agent.TLSOptions{Mode: mode, CAFile: ca}
	return cfg
}

func TestLogicalBackupOverTLS(t *testing.T) {
	sb := sandbox.Load(t)
	sb.RequireTLS(t)
	sb.Lock(t)
	for _, mode := range []string{"VerifyFull", "VerifyCA", "Required", "Preferred"} {
		t.Run(mode, func(t *testing.T) {
			cfg := tlsConfig(t, sb, config(t, sb, 2), mode, sb.TLS.CAFile)
			cfg.Databases = []string{"nova"}
			res, err := agent.Dump(t.Context(), cfg)
			if err != nil {
				t.Fatalf("a logical backup as %s (REQUIRE SSL) over TLS %s: %v", sb.TLS.User, mode, err)
			}
			if _, err := agent.Verify(t.Context(), res.Dir); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !res.DesyncSet || !res.DesyncReset {
				t.Errorf("desync set=%v reset=%v: the agent's own connection did not work over TLS", res.DesyncSet, res.DesyncReset)
			}
		})
	}
}

func TestPhysicalBackupOverTLS(t *testing.T) {
	sb := sandbox.Load(t)
	sb.RequireTLS(t)
	sb.Lock(t)
	cfg := tlsConfig(t, sb, physicalConfig(t, sb), "VerifyFull", sb.TLS.CAFile)
	res, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("a physical backup with the agent's connection over TLS VerifyFull: %v", err)
	}
	if _, err := agent.Verify(t.Context(), res.Dir); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// TestTLSWrongCA: a CA that did not sign the node's certificate is refused before
// anything is touched: no desync, no backup directory, and the error says why.
func TestTLSWrongCA(t *testing.T) {
	sb := sandbox.Load(t)
	sb.RequireTLS(t)
	sb.Lock(t)
	for _, mode := range []string{"VerifyFull", "VerifyCA"} {
		t.Run(mode, func(t *testing.T) {
			cfg := tlsConfig(t, sb, config(t, sb, 2), mode, sb.TLS.OtherCAFile)
			res, err := agent.Dump(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("a backup with a CA that does not match: %+v, %v; want an error about the certificate", res, err)
			}
			if res.DesyncSet {
				t.Error("the node was desynced although the connection should have been refused")
			}
			if entries, _ := os.ReadDir(cfg.Root + "/" + cfg.Namespace); len(entries) != 0 {
				t.Errorf("left on the volume: %v", entries)
			}
		})
	}
}
