package galera

import (
	"slices"
	"strings"
	"testing"
)

// healthyStatus is SHOW GLOBAL STATUS LIKE 'wsrep%' of a synced node (MariaDB 10.11,
// galera-4 26.4), trimmed to the variables the prober reads.
func healthyStatus() map[string]string {
	return map[string]string{
		"wsrep_local_state":         "4",
		"wsrep_local_state_comment": "Synced",
		"wsrep_cluster_status":      "Primary",
		"wsrep_cluster_size":        "3",
		"wsrep_cluster_state_uuid":  "5f3b2a10-1111-11ef-8000-0242ac110002",
		"wsrep_cluster_conf_id":     "3",
		"wsrep_ready":               "ON",
		"wsrep_connected":           "ON",
		"wsrep_desync_count":        "0",
		"wsrep_local_recv_queue":    "0",
		"wsrep_last_committed":      "1042",
		"wsrep_incoming_addresses":  "10.77.0.11:3306,10.77.0.12:3306,10.77.0.13:3306",
	}
}

func TestParseStatus(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(st, vars map[string]string)
		synced  bool
		desync  bool
		wantErr string
	}{
		{name: "synced", synced: true},
		{name: "desynced by variable", edit: func(_, v map[string]string) { v["wsrep_desync"] = "ON" }, synced: true, desync: true},
		{name: "desynced by FTWRL (count only)", edit: func(s, _ map[string]string) { s["wsrep_desync_count"] = "1" }, synced: true, desync: true},
		{name: "donor", edit: func(s, _ map[string]string) {
			s["wsrep_local_state"] = "2"
			s["wsrep_local_state_comment"] = "Donor/Desynced"
		}, desync: true},
		{name: "non-Primary", edit: func(s, _ map[string]string) {
			s["wsrep_cluster_status"] = "non-Primary"
			s["wsrep_ready"] = "OFF"
			s["wsrep_cluster_conf_id"] = "18446744073709551615"
		}},
		{name: "garbage conf_id", edit: func(s, _ map[string]string) { s["wsrep_cluster_conf_id"] = "many" }, wantErr: "wsrep_cluster_conf_id"},
		{name: "non-Primary, conf_id -1", edit: func(s, _ map[string]string) {
			s["wsrep_cluster_status"] = "non-Primary"
			s["wsrep_ready"] = "OFF"
			s["wsrep_cluster_conf_id"] = "-1"
		}},
		{name: "older galera without desync count", edit: func(s, _ map[string]string) { delete(s, "wsrep_desync_count") }, synced: true},
		{name: "not a galera node", edit: func(s, _ map[string]string) { clear(s) }, wantErr: "not a Galera node"},
		{name: "garbage state", edit: func(s, _ map[string]string) { s["wsrep_local_state"] = "x" }, wantErr: "wsrep_local_state"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, vars := healthyStatus(), map[string]string{"wsrep_desync": "OFF", "wsrep_node_name": "controller-0"}
			if tc.edit != nil {
				tc.edit(st, vars)
			}
			s, err := ParseStatus(st, vars)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Synced() != tc.synced || s.Desynced() != tc.desync {
				t.Errorf("synced=%v desynced=%v, want %v %v (%+v)", s.Synced(), s.Desynced(), tc.synced, tc.desync, s)
			}
			if s.ClientConnections != -1 {
				t.Errorf("client connections %d before counting, want -1", s.ClientConnections)
			}
		})
	}
	s, err := ParseStatus(healthyStatus(), map[string]string{"wsrep_node_name": "controller-0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.ClusterSize != 3 || s.ClusterConfID != 3 || s.LastCommitted != 1042 || len(s.IncomingAddresses) != 3 || s.NodeName != "controller-0" {
		t.Errorf("parsed %+v", s)
	}
}

// TestSyncedChecks: Synced and NotSynced read one table of conditions, so a node is
// synced exactly when it fails none, and the failures come in a fixed order. A desync is
// a separate fact: it does not count against Synced unless it changed the local state.
func TestSyncedChecks(t *testing.T) {
	cases := []struct {
		name string
		edit func(st, vars map[string]string)
		want []Check
	}{
		{name: "synced"},
		{name: "wsrep_ready OFF", edit: func(s, _ map[string]string) { s["wsrep_ready"] = "OFF" }, want: []Check{CheckReady}},
		{name: "wsrep_connected OFF", edit: func(s, _ map[string]string) { s["wsrep_connected"] = "OFF" }, want: []Check{CheckConnected}},
		{name: "donor", edit: func(s, _ map[string]string) {
			s["wsrep_local_state"] = "2"
			s["wsrep_local_state_comment"] = "Donor/Desynced"
		}, want: []Check{CheckLocalState}},
		{name: "joining", edit: func(s, _ map[string]string) {
			s["wsrep_local_state"] = "1"
			s["wsrep_local_state_comment"] = "Joining"
		}, want: []Check{CheckLocalState}},
		{name: "non-Primary", edit: func(s, _ map[string]string) {
			s["wsrep_cluster_status"] = "non-Primary"
			s["wsrep_ready"] = "OFF"
		}, want: []Check{CheckReady, CheckClusterStatus}},
		{name: "disconnected, initialized", edit: func(s, _ map[string]string) {
			s["wsrep_cluster_status"] = "Disconnected"
			s["wsrep_ready"] = "OFF"
			s["wsrep_connected"] = "OFF"
			s["wsrep_local_state"] = "0"
			s["wsrep_local_state_comment"] = "Initialized"
		}, want: []Check{CheckReady, CheckConnected, CheckClusterStatus, CheckLocalState}},
		{name: "wsrep_desync ON, still state 4", edit: func(_, v map[string]string) { v["wsrep_desync"] = "ON" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, vars := healthyStatus(), map[string]string{"wsrep_desync": "OFF"}
			if tc.edit != nil {
				tc.edit(st, vars)
			}
			s, err := ParseStatus(st, vars)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.NotSynced(); !slices.Equal(got, tc.want) {
				t.Errorf("NotSynced() = %v, want %v", got, tc.want)
			}
			if s.Synced() != (len(tc.want) == 0) {
				t.Errorf("Synced() = %v with NotSynced() = %v", s.Synced(), s.NotSynced())
			}
			if s.Primary() != (s.ClusterStatus == ClusterPrimary) || slices.Contains(s.NotSynced(), CheckClusterStatus) == s.Primary() {
				t.Errorf("Primary() = %v for %q", s.Primary(), s.ClusterStatus)
			}
		})
	}
}

func TestCountClients(t *testing.T) {
	procs := []Process{
		{ID: 1, User: "system user", Command: "Sleep"},
		{ID: 2, User: "system user", Command: "Daemon"},
		{ID: 5, User: "event_scheduler", Command: "Daemon"},
		{ID: 10, User: "nova", Command: "Sleep"},
		{ID: 11, User: "nova", Command: "Query", Info: "SELECT 1"},
		{ID: 12, User: "keystone", Command: "Sleep"},
		{ID: 13, User: "clustercheck", Command: "Query"},
		{ID: 14, User: "repl", Command: "Binlog Dump"},
		{ID: 20, User: "ocbbackup", Command: "Query", Info: "SHOW FULL PROCESSLIST"},
	}
	cases := []struct {
		self   int64
		ignore []string
		want   int
	}{
		{20, []string{"clustercheck"}, 3},
		{20, nil, 4},
		{99, []string{"clustercheck"}, 4},
		{20, []string{"clustercheck", "nova"}, 1},
	}
	for _, tc := range cases {
		if got := CountClients(procs, tc.self, tc.ignore); got != tc.want {
			t.Errorf("CountClients(self=%d, ignore=%v) = %d, want %d", tc.self, tc.ignore, got, tc.want)
		}
	}
}
