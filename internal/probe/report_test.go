package probe

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

func TestClip(t *testing.T) {
	maint := "MAINT (via mysql/overcloud-controller-0.internalapi.redhat.local)" // HAProxy's own words, 65 characters
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"fits", "UP", 64, "UP"},
		{"HAProxy's MAINT via, 65 characters", maint, 64, maint[:61] + "..."},
		{"control characters become spaces", "a\nb\x1b[31mc\x00", 64, "a b [31mc "},
		{"invalid UTF-8 replaced", "ab\xffcd", 64, "ab\uFFFDcd"},
		{"cut on a character boundary", strings.Repeat("é", 40), 64, strings.Repeat("é", 30) + "..."},
		{"a 3-byte character at the cut", "ab" + strings.Repeat("€", 30), 10, "ab€..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Clip(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if len(got) > tc.n || !utf8.ValidString(got) {
				t.Errorf("Clip(%q, %d) = %q: %d bytes, valid UTF-8 %v", tc.in, tc.n, got, len(got), utf8.ValidString(got))
			}
		})
	}
}

// TestNewReportClipsServerText: every string a server sent reaches the node table cut to
// its field's limit in the CRD (controllers' TestStatusTakesHostileServerText sends such
// a table to the real API server).
func TestNewReportClipsServerText(t *testing.T) {
	long := strings.Repeat("x\n", 5000)
	s := selection.Snapshot{Nodes: []selection.Node{{
		Name: "controller-0", Address: "10.0.0.1",
		Galera: selection.Galera{Reachable: true, LocalState: 4, LocalStateComment: long, ClusterStatus: long,
			ClusterStateUUID: long, Error: long},
		Pacemaker: &selection.Pacemaker{Online: true, GaleraRole: long},
		HAProxy:   &selection.HAProxyServer{Status: "MAINT (via mysql/overcloud-controller-0.internalapi.redhat.local)"},
	}}}
	d := selection.Decide(s, selection.Policy{})
	r := NewReport("oc", s, d)
	g, p, h := r.Nodes[0].Galera, r.Nodes[0].Pacemaker, r.Nodes[0].HAProxy
	for name, v := range map[string]struct {
		s string
		n int
	}{
		"localStateComment": {g.LocalStateComment, 64}, "clusterStatus": {g.ClusterStatus, 64}, "error": {g.Error, 1024},
		"galeraRole": {p.GaleraRole, 64}, "haproxy.status": {h.Status, 64}, "reason": {r.Nodes[0].Reason, 1024},
		"clusterStateUUID": {r.ClusterStateUUID, 64},
	} {
		if utf8.RuneCountInString(v.s) > v.n || strings.ContainsAny(v.s, "\n\x00") {
			t.Errorf("%s: %d characters (limit %d) or a control character: %q", name, utf8.RuneCountInString(v.s), v.n, v.s)
		}
	}
}
