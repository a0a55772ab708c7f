package pacemaker

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const fixtureDir = "testdata/crm_mon"

// golden is what a fixture must parse to; expectations were read off `crm_mon -1 -r` (console)
// for the same CIB, not off this parser's output.
type golden struct {
	maintenance bool
	vip         string // with Options{VIP: "10.77.0.10"}
	nodes       string // nodeSummary of every node, space separated
	galera      string // galeraSummary
	resource    string // GaleraResource
}

const (
	bundleGuests = "galera-bundle-0:guest@controller-0:online galera-bundle-1:guest@controller-1:online " +
		"galera-bundle-2:guest@controller-2:online"
	allOnline        = "controller-0:member:online,dc controller-1:member:online controller-2:member:online"
	allPromoted      = "controller-0=Promoted controller-1=Promoted controller-2=Promoted"
	dbVIPOnC0        = "ip-10.77.0.10@controller-0"
	maintenanceGuest = "galera-bundle-0:guest@controller-0:online,maintenance galera-bundle-1:guest@controller-1:online,maintenance " +
		"galera-bundle-2:guest@controller-2:online,maintenance"
)

// goldens are keyed by <layout>-<state>; legacy-* and pcmk11-* fixtures must parse to the same.
var goldens = map[string]golden{
	"bundle-healthy": {vip: dbVIPOnC0, nodes: allOnline + " " + bundleGuests, galera: allPromoted},
	"bundle-vip-standby": {
		vip: "ip-10.77.0.10@controller-2",
		nodes: "controller-0:member:online,standby,dc controller-1:member:online controller-2:member:online " +
			"galera-bundle-0:guest:offline galera-bundle-1:guest@controller-1:online galera-bundle-2:guest@controller-2:online",
		galera: "controller-0=Stopped controller-1=Promoted controller-2=Promoted",
	},
	"bundle-node-offline": {
		vip: dbVIPOnC0,
		nodes: "controller-0:member:online,dc controller-1:member:online controller-2:member:offline " +
			"galera-bundle-0:guest@controller-0:online galera-bundle-1:guest@controller-1:online galera-bundle-2:guest:offline",
		// crm_mon: "galera-bundle-2 (ocf:heartbeat:galera): FAILED Promoted" with no node: the
		// container is gone, so no host can be named for it.
		galera: "controller-0=Promoted controller-1=Promoted controller-2=Stopped ?galera-bundle-2=Promoted!-",
	},
	"bundle-node-unclean": {
		vip: dbVIPOnC0,
		nodes: "controller-0:member:online,dc controller-1:member:online controller-2:member:offline,unclean " +
			"galera-bundle-0:guest@controller-0:online galera-bundle-1:guest@controller-1:online galera-bundle-2:guest@controller-2:offline",
		// crm_mon: "FAILED Promoted controller-2 (UNCLEAN)".
		galera: "controller-0=Promoted controller-1=Promoted controller-2=Promoted!-",
	},
	"bundle-galera-demoted": {
		vip: dbVIPOnC0, nodes: allOnline + " " + bundleGuests,
		galera: "controller-0=Promoted controller-1=Unpromoted controller-2=Promoted",
	},
	"bundle-galera-stopped": {
		vip: dbVIPOnC0,
		nodes: allOnline + " galera-bundle-0:guest@controller-0:online galera-bundle-1:guest:offline " +
			"galera-bundle-2:guest@controller-2:online",
		galera: "controller-0=Promoted controller-1=Stopped controller-2=Promoted",
	},
	"bundle-galera-failed": {
		vip: dbVIPOnC0, nodes: allOnline + " " + bundleGuests,
		galera: "controller-0=Promoted controller-1=Promoted! controller-2=Promoted",
	},
	"bundle-node-maintenance": {
		vip: dbVIPOnC0,
		nodes: "controller-0:member:online,dc controller-1:member:online controller-2:member:online,maintenance " +
			"galera-bundle-0:guest@controller-0:online galera-bundle-1:guest@controller-1:online " +
			"galera-bundle-2:guest@controller-2:online,maintenance",
		galera: "controller-0=Promoted controller-1=Promoted controller-2=Promoted~",
	},
	"bundle-cluster-maintenance": {
		maintenance: true, vip: dbVIPOnC0, nodes: allOnline + " " + maintenanceGuest,
		galera: "controller-0=Promoted~ controller-1=Promoted~ controller-2=Promoted~",
	},

	"clone-healthy": {vip: dbVIPOnC0, nodes: allOnline, galera: allPromoted},
	"clone-vip-standby": {
		vip:    "ip-10.77.0.10@controller-1",
		nodes:  "controller-0:member:online,standby,dc controller-1:member:online controller-2:member:online",
		galera: "controller-0=Stopped controller-1=Promoted controller-2=Promoted",
	},
	"clone-node-offline": {
		vip:    dbVIPOnC0,
		nodes:  "controller-0:member:online,dc controller-1:member:online controller-2:member:offline",
		galera: "controller-0=Promoted controller-1=Promoted controller-2=Stopped",
	},
	"clone-node-unclean": {
		vip:   dbVIPOnC0,
		nodes: "controller-0:member:online,dc controller-1:member:online controller-2:member:offline,unclean",
		// crm_mon: "galera (ocf:heartbeat:galera): Promoted controller-2 (UNCLEAN)": the node flag
		// is what rules it out.
		galera: allPromoted,
	},
	"clone-galera-demoted": {vip: dbVIPOnC0, nodes: allOnline,
		galera: "controller-0=Promoted controller-1=Unpromoted controller-2=Promoted"},
	"clone-galera-stopped": {vip: dbVIPOnC0, nodes: allOnline,
		galera: "controller-0=Promoted controller-1=Stopped controller-2=Promoted"},
	"clone-galera-failed": {vip: dbVIPOnC0, nodes: allOnline,
		galera: "controller-0=Promoted controller-1=Promoted! controller-2=Promoted"},
	"clone-node-maintenance": {
		vip:    dbVIPOnC0,
		nodes:  "controller-0:member:online,dc controller-1:member:online controller-2:member:online,maintenance",
		galera: "controller-0=Promoted controller-1=Promoted controller-2=Promoted~",
	},
	"clone-cluster-maintenance": {maintenance: true, vip: dbVIPOnC0, nodes: allOnline,
		galera: "controller-0=Promoted~ controller-1=Promoted~ controller-2=Promoted~"},

	"remote-healthy": {
		vip: dbVIPOnC0,
		nodes: allOnline + " database-0:remote:online database-1:remote:online database-2:remote:online " +
			"galera-bundle-0:guest@database-0:online galera-bundle-1:guest@database-1:online galera-bundle-2:guest@database-2:online",
		galera: "controller-0=Stopped controller-1=Stopped controller-2=Stopped database-0=Promoted database-1=Promoted database-2=Promoted",
	},
}

// errorGoldens are crm_mon's real failures: what the error must wrap or say.
var errorGoldens = map[string]struct {
	code      int    // ResultError.Code, -1: not a ResultError
	contains  string // in the message
	malformed bool
}{
	"error-missing-cib":        {code: 0, contains: "Could not connect to the CIB: No such device or address"},
	"error-unreadable-cib":     {code: 0, contains: "Could not connect to the CIB: Update does not conform"},
	"error-no-cluster":         {code: 102, contains: "Not connected"},
	"error-legacy-missing-cib": {code: -1, contains: "no <summary>", malformed: true},
}

func fixtures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s (hack/pacemaker-fixtures.sh makes them): %v", fixtureDir, err)
	}
	sort.Strings(files)
	return files
}

// readTestdata reads a file of testdata/crm_mon by its base name.
func readTestdata(base string) ([]byte, error) {
	return os.ReadFile(filepath.Join(fixtureDir, filepath.Base(base)))
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := readTestdata(name + ".xml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	seen := map[string]bool{}
	for _, file := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".xml")
		t.Run(name, func(t *testing.T) {
			data, err := readTestdata(filepath.Base(file))
			if err != nil {
				t.Fatal(err)
			}
			if eg, ok := errorGoldens[name]; ok {
				seen[name] = true
				checkErrorFixture(t, name, data, eg.code, eg.contains, eg.malformed)
				return
			}
			key, format, version := name, "pacemaker-result", "2.25"
			switch {
			case strings.HasPrefix(name, "legacy-"):
				key, format, version = strings.TrimPrefix(name, "legacy-"), "crm_mon", "2.1.5"
			case strings.HasPrefix(name, "pcmk11-"):
				key, format, version = strings.TrimPrefix(name, "pcmk11-"), "crm_mon", "1.1.23"
			}
			want, ok := goldens[key]
			if !ok {
				t.Fatalf("no golden expectation for %s: add one", key)
			}
			seen[key] = true
			st, err := Parse(data, Options{VIP: "10.77.0.10"})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkGolden(t, st, want, format, version)
		})
	}
	for key := range goldens {
		if !seen[key] {
			t.Errorf("golden %s has no fixture", key)
		}
	}
	for key := range errorGoldens {
		if !seen[key] {
			t.Errorf("error golden %s has no fixture", key)
		}
	}
}

func checkGolden(t *testing.T, st *Status, want golden, format, version string) {
	t.Helper()
	if st.Format != format || st.Version != version {
		t.Errorf("format %s %s, want %s %s", st.Format, st.Version, format, version)
	}
	if st.Stack != "corosync" || st.DC != "controller-0" || !st.WithQuorum {
		t.Errorf("stack %q DC %q quorum %v, want corosync controller-0 true", st.Stack, st.DC, st.WithQuorum)
	}
	if st.MaintenanceMode != want.maintenance {
		t.Errorf("MaintenanceMode = %v, want %v", st.MaintenanceMode, want.maintenance)
	}
	resource := want.resource
	if resource == "" {
		resource = "galera-bundle"
		if len(st.Nodes) == 3 {
			resource = "galera-master"
		}
	}
	if st.GaleraResource != resource {
		t.Errorf("GaleraResource = %q, want %q", st.GaleraResource, resource)
	}
	nodes := make([]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		nodes = append(nodes, nodeSummary(n))
	}
	if got := strings.Join(nodes, " "); got != want.nodes {
		t.Errorf("nodes:\n got %s\nwant %s", got, want.nodes)
	}
	if got := galeraSummary(st); got != want.galera {
		t.Errorf("galera:\n got %s\nwant %s", got, want.galera)
	}
	if got := vipSummary(st); got != want.vip {
		t.Errorf("VIP = %s, want %s", got, want.vip)
	}
}

func checkErrorFixture(t *testing.T, name string, data []byte, code int, contains string, malformed bool) {
	t.Helper()
	st, err := Parse(data, Options{})
	if err == nil {
		t.Fatalf("Parse accepted a failure: %+v", st)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not contain %q", err, contains)
	}
	var re *ResultError
	switch {
	case code >= 0 && !errors.As(err, &re):
		t.Errorf("error %v is not a *ResultError", err)
	case code >= 0 && re.Code != code:
		t.Errorf("ResultError.Code = %d, want %d", re.Code, code)
	}
	if errors.Is(err, ErrMalformed) != malformed {
		t.Errorf("errors.Is(err, ErrMalformed) = %v, want %v", !malformed, malformed)
	}
	// The .rc file next to it is crm_mon's exit code: 0 for all but "no cluster". That is why the
	// parser cannot trust it.
	rc, err := readTestdata(name + ".rc")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(rc))); (n == 0) != (code != 102) {
		t.Errorf("%s.rc = %d: fixture and expectation disagree", name, n)
	}
}

// TestParseMasterSlaveSpelling: pacemaker 2.0's <pacemaker-result> still said Master/Slave.
func TestParseMasterSlaveSpelling(t *testing.T) {
	data := readFixture(t, "bundle-galera-demoted")
	data = bytes.ReplaceAll(data, []byte(`role="Promoted"`), []byte(`role="Master"`))
	data = bytes.ReplaceAll(data, []byte(`role="Unpromoted"`), []byte(`role="Slave"`))
	st, err := Parse(data, Options{VIP: "10.77.0.10"})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, st, goldens["bundle-galera-demoted"], "pacemaker-result", "2.25")
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name     string
		fixture  string
		opts     Options
		resource string
		galera   string
		vip      string
		wantErr  error
	}{
		{name: "no VIP asked", fixture: "bundle-healthy", resource: "galera-bundle", galera: allPromoted, vip: "<none>"},
		{name: "VIP by resource id", fixture: "bundle-healthy", opts: Options{VIPResource: "ip-10.77.1.10"},
			resource: "galera-bundle", galera: allPromoted, vip: "ip-10.77.1.10@controller-1"},
		{name: "resource id wins over address", fixture: "bundle-healthy",
			opts:     Options{VIPResource: "ip-10.77.1.10", VIP: "10.77.0.10"},
			resource: "galera-bundle", galera: allPromoted, vip: "ip-10.77.1.10@controller-1"},
		{name: "VIP not found", fixture: "bundle-healthy", opts: Options{VIP: "10.9.9.9"},
			resource: "galera-bundle", galera: allPromoted, vip: "<none>"},
		{name: "bundle by inner primitive", fixture: "bundle-galera-demoted", opts: Options{GaleraResource: "galera"},
			resource: "galera", galera: "controller-0=Promoted controller-1=Unpromoted controller-2=Promoted", vip: "<none>"},
		{name: "clone by primitive", fixture: "clone-galera-demoted", opts: Options{GaleraResource: "galera"},
			resource: "galera", galera: "controller-0=Promoted controller-1=Unpromoted controller-2=Promoted", vip: "<none>"},
		{name: "clone by id", fixture: "clone-galera-stopped", opts: Options{GaleraResource: "galera-master"},
			resource: "galera-master", galera: "controller-0=Promoted controller-1=Stopped controller-2=Promoted", vip: "<none>"},
		{name: "a plain primitive", fixture: "bundle-healthy", opts: Options{GaleraResource: "ip-10.77.1.10"},
			resource: "ip-10.77.1.10", galera: "controller-0=Stopped controller-1=Started controller-2=Stopped", vip: "<none>"},
		{name: "named resource missing", fixture: "bundle-healthy", opts: Options{GaleraResource: "mysql-clone"},
			wantErr: ErrGaleraNotFound},
		{name: "no galera at all", fixture: "bundle-healthy", opts: Options{GaleraResource: "haproxy-clone"},
			wantErr: ErrGaleraNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Parse(readFixture(t, tt.fixture), tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.GaleraResource != tt.resource {
				t.Errorf("GaleraResource = %q, want %q", st.GaleraResource, tt.resource)
			}
			if got := galeraSummary(st); got != tt.galera {
				t.Errorf("galera = %s, want %s", got, tt.galera)
			}
			if got := vipSummary(st); got != tt.vip {
				t.Errorf("VIP = %s, want %s", got, tt.vip)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	healthy := string(readFixture(t, "bundle-healthy"))
	noNodes := healthy[:strings.Index(healthy, "<nodes>")] + healthy[strings.Index(healthy, "</nodes>")+len("</nodes>"):]
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "decoding XML"},
		{"not XML", "crm_mon: command not found\n", "decoding XML"},
		{"truncated", healthy[:len(healthy)/2], "decoding XML"},
		{"another root", "<cib><configuration/></cib>", "unexpected root element <cib>"},
		{"no summary", `<pacemaker-result api-version="2.25"><nodes><node name="a"/></nodes></pacemaker-result>`, "no <summary>"},
		{"no nodes", noNodes, "no nodes"},
		{"nameless node", `<crm_mon version="1.1.23"><summary/><nodes><node id="1"/></nodes></crm_mon>`, "without a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), Options{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
	// A document with a non-zero status code but a summary is still a failure.
	bad := strings.Replace(healthy, `<status code="0" message="OK"/>`, `<status code="1" message="Error occurred"/>`, 1)
	var re *ResultError
	if _, err := Parse([]byte(bad), Options{}); !errors.As(err, &re) || re.Code != 1 {
		t.Fatalf("err = %v, want *ResultError code 1", err)
	}
}

func TestNormaliseRole(t *testing.T) {
	tests := map[string]Role{
		"Promoted": RolePromoted, "Master": RolePromoted, "master": RolePromoted,
		"Unpromoted": RoleUnpromoted, "Slave": RoleUnpromoted,
		"Started": RoleStarted, "Stopped": RoleStopped, " Stopped ": RoleStopped,
		"Unknown": RoleUnknown, "": RoleUnknown, "Migrating": RoleUnknown,
	}
	for in, want := range tests {
		if got := NormaliseRole(in); got != want {
			t.Errorf("NormaliseRole(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGaleraOnMerges(t *testing.T) {
	st := &Status{Galera: []GaleraInstance{
		{Host: "a", Role: RolePromoted, Active: true, Managed: true},
		{Host: "b", Role: RolePromoted, Active: true, Managed: true, Guest: "g1"},
		{Host: "b", Role: RoleUnpromoted, Active: true, Failed: true, Managed: false, Guest: "g2"},
		{Host: "", Role: RolePromoted, Guest: "g3"},
	}}
	tests := []struct {
		host     string
		want     GaleraInstance
		promoted bool
	}{
		{"a", GaleraInstance{Host: "a", Role: RolePromoted, Active: true, Managed: true}, true},
		{"b", GaleraInstance{Host: "b", Guest: "g1", Role: RoleUnpromoted, Active: true, Failed: true}, false},
		{"c", GaleraInstance{Host: "c", Role: RoleStopped, Managed: true}, false},
	}
	for _, tt := range tests {
		got := st.GaleraOn(tt.host)
		if got != tt.want || got.Promoted() != tt.promoted {
			t.Errorf("GaleraOn(%q) = %+v (promoted %v), want %+v (%v)", tt.host, got, got.Promoted(), tt.want, tt.promoted)
		}
	}
	if _, ok := (&Status{}).Node("x"); ok {
		t.Error("Node found in an empty status")
	}
}

func TestResultErrorMessage(t *testing.T) {
	tests := []struct {
		err  ResultError
		want string
	}{
		{ResultError{Code: 102, Message: "Not connected", Errors: []string{"a", "b"}}, "crm_mon reported status 102 (Not connected): a; b"},
		{ResultError{Errors: []string{"Could not connect to the CIB"}}, "crm_mon reported: Could not connect to the CIB"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestCIBsBehindFixtures: every state's crm_mon output has the CIB it came from, so anyone can
// re-run crm_mon on it (CIB_file=testdata/cib/X.xml crm_mon --one-shot --inactive --output-as=xml).
func TestCIBsBehindFixtures(t *testing.T) {
	for key := range goldens {
		if _, err := os.Stat(filepath.Join("testdata/cib", key+".xml")); err != nil {
			t.Errorf("no CIB for %s: %v", key, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range fixtures(f) {
		data, err := readTestdata(filepath.Base(file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "", "10.77.0.10")
	}
	f.Add([]byte(`<crm_mon version="1.1"><summary/><nodes><node name="a" type="remote" id_as_resource="a"/></nodes>`+
		`<resources><bundle id="galera-bundle"><replica id="0"><resource id="a" resource_agent="ocf::pacemaker:remote">`+
		`<node name="a"/></resource></replica></bundle></resources></crm_mon>`), "", "")
	f.Fuzz(func(t *testing.T, data []byte, galera, vip string) {
		st, err := Parse(data, Options{GaleraResource: galera, VIP: vip})
		if err != nil {
			if st != nil {
				t.Fatal("a status with an error")
			}
			return
		}
		if len(st.Nodes) == 0 {
			t.Fatal("a status without nodes")
		}
		for _, n := range st.Nodes {
			_ = st.GaleraOn(n.Name)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := readFixture(b, "bundle-healthy")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, Options{VIP: "10.77.0.10"}); err != nil {
			b.Fatal(err)
		}
	}
}
