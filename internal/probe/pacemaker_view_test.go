package probe_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/pacemaker"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// TestPacemakerViewSafetyFacts: the facts the selection's safety rules read, from real
// crm_mon output (internal/pacemaker/testdata, made by crm_simulate from real CIBs) with
// one attribute changed to the state the generator does not produce: a remote node's
// connection host UNCLEAN, a galera instance blocked or unmanaged, a node shutting down or
// joining. Each must reach selection.Pacemaker, and only on the node it concerns; the
// cluster-wide maintenance, which crm_mon shows as every resource unmanaged, must not read
// as "unmanaged".
func TestPacemakerViewSafetyFacts(t *testing.T) {
	cases := []struct {
		name, fixture string
		edit          func(t *testing.T, doc string) string // nil: the fixture as it is
		node          string
		want          func(selection.Pacemaker) bool
		others        func(selection.Pacemaker) bool // every other node
	}{
		{
			name: "remote node's connection on an unclean node", fixture: "remote-healthy.xml",
			edit: after(`<node name="controller-0"`, `unclean="false"`, `unclean="true"`),
			node: "database-0", want: func(p selection.Pacemaker) bool { return p.ConnectionUnclean == "controller-0" },
			others: func(p selection.Pacemaker) bool { return p.ConnectionUnclean == "" },
		},
		{
			name: "galera blocked", fixture: "clone-healthy.xml",
			edit: onGaleraOf("controller-1", `blocked="false"`, `blocked="true"`),
			node: "controller-1", want: func(p selection.Pacemaker) bool { return p.GaleraBlocked && !p.GaleraUnmanaged },
			others: func(p selection.Pacemaker) bool { return !p.GaleraBlocked },
		},
		{
			name: "galera unmanaged", fixture: "clone-healthy.xml",
			edit: onGaleraOf("controller-1", `managed="true"`, `managed="false"`),
			node: "controller-1", want: func(p selection.Pacemaker) bool { return p.GaleraUnmanaged && !p.GaleraBlocked },
			others: func(p selection.Pacemaker) bool { return !p.GaleraUnmanaged },
		},
		{
			name: "cluster maintenance is not 'unmanaged'", fixture: "clone-cluster-maintenance.xml",
			node: "controller-1", want: func(p selection.Pacemaker) bool { return !p.GaleraUnmanaged && !p.GaleraBlocked },
			others: func(p selection.Pacemaker) bool { return !p.GaleraUnmanaged },
		},
		{
			name: "node shutting down", fixture: "clone-healthy.xml",
			edit: after(`<node name="controller-2" id="3" online`, `shutdown="false"`, `shutdown="true"`),
			node: "controller-2", want: func(p selection.Pacemaker) bool { return p.Shutdown },
			others: func(p selection.Pacemaker) bool { return !p.Shutdown },
		},
		{
			name: "node joining", fixture: "clone-healthy.xml",
			edit: after(`<node name="controller-2" id="3" online`, `pending="false"`, `pending="true"`),
			node: "controller-2", want: func(p selection.Pacemaker) bool { return p.Pending },
			others: func(p selection.Pacemaker) bool { return !p.Pending },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "pacemaker", "testdata", "crm_mon", tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			doc := string(data)
			if tc.edit != nil {
				doc = tc.edit(t, doc)
			}
			st, err := pacemaker.Parse([]byte(doc), pacemaker.Options{VIP: "10.77.0.10"})
			if err != nil {
				t.Fatal(err)
			}
			v := probe.PacemakerViewOf(st)
			for name, p := range v.Nodes {
				ok := tc.others(p)
				if name == tc.node {
					ok = tc.want(p)
				}
				if !ok {
					t.Errorf("%s: %+v", name, p)
				}
			}
			if _, ok := v.Nodes[tc.node]; !ok {
				t.Fatalf("no %s in the view", tc.node)
			}
		})
	}
}

// after is an edit replacing the first old after the first mark.
func after(mark, old, new string) func(*testing.T, string) string {
	return func(t *testing.T, doc string) string {
		t.Helper()
		i := strings.Index(doc, mark)
		if i < 0 {
			t.Fatalf("no %q in the fixture", mark)
		}
		j := strings.Index(doc[i:], old)
		if j < 0 {
			t.Fatalf("no %q after %q", old, mark)
		}
		return doc[:i+j] + new + doc[i+j+len(old):]
	}
}

// onGaleraOf is an edit replacing old with new in the galera <resource> placed on node.
func onGaleraOf(node, old, new string) func(*testing.T, string) string {
	return func(t *testing.T, doc string) string {
		t.Helper()
		return editGaleraOf(t, doc, node, old, new)
	}
}

func editGaleraOf(t *testing.T, doc, node, old, new string) string {
	t.Helper()
	place := `<node name="` + node + `"`
	for at := 0; ; {
		i := strings.Index(doc[at:], `<resource id="galera"`)
		if i < 0 {
			t.Fatalf("no galera instance on %s", node)
		}
		start := at + i
		end := start + strings.Index(doc[start:], "</resource>")
		if strings.Contains(doc[start:end], place) {
			head := start + strings.Index(doc[start:], ">")
			return doc[:start] + strings.Replace(doc[start:head], old, new, 1) + doc[head:]
		}
		at = end
	}
}
