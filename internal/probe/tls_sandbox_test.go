package probe_test

// The probe over TLS to the local overcloud's nodes, as the user the server admits only
// over TLS: every node read with the right CA (VerifyFull checks the name against the
// address dialled: the certificates carry it), none with another CA.

import (
	"context"
	"strings"
	"testing"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

func TestProbeOverTLS(t *testing.T) {
	sb := sandbox.Load(t)
	sb.RequireTLS(t)
	sb.Lock(t)
	for _, tc := range []struct {
		name   string
		mode   backupv1alpha1.TLSMode
		ca     string
		reach  bool
		reason string
	}{
		{"VerifyFull, the nodes' CA", backupv1alpha1.TLSVerifyFull, sb.TLS.CAFile, true, ""},
		{"VerifyCA, the nodes' CA", backupv1alpha1.TLSVerifyCA, sb.TLS.CAFile, true, ""},
		{"Required", backupv1alpha1.TLSRequired, "", true, ""},
		{"VerifyFull, another CA", backupv1alpha1.TLSVerifyFull, sb.TLS.OtherCAFile, false, "certificate"},
		{"VerifyCA, another CA", backupv1alpha1.TLSVerifyCA, sb.TLS.OtherCAFile, false, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oc := spec(sb)
			oc.Database.TLS = &backupv1alpha1.DatabaseTLS{Mode: tc.mode}
			c := creds(t, sb)
			c.DatabaseUser = sb.TLS.User
			if tc.ca != "" {
				c.DatabaseCA = sb.ReadFile(t, tc.ca)
			}
			tg, err := probe.NewTarget(oc, c, probeTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 4*probeTimeout)
			defer cancel()
			snap := probe.Gather(ctx, tg)
			for _, n := range snap.Nodes {
				if n.Galera.Reachable != tc.reach {
					t.Errorf("%s: reachable %v, want %v (%s)", n.Name, n.Galera.Reachable, tc.reach, n.Galera.Error)
				}
				if !tc.reach && !strings.Contains(n.Galera.Error, tc.reason) {
					t.Errorf("%s: error %q, want one about the %s", n.Name, n.Galera.Error, tc.reason)
				}
			}
		})
	}
}
