package haproxy

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
)

// fixtureDir holds what hack/haproxy-fixtures.sh recorded from Debian 12's HAProxy.
const fixtureDir = "testdata/haproxy-2.6.12"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := fs.ReadFile(os.DirFS(fixtureDir), name)
	if err != nil {
		t.Fatalf("fixture %s: %v (regenerate with hack/haproxy-fixtures.sh)", name, err)
	}
	return data
}

// srv is the part of a server row that a scenario determines (counters and timings vary
// between recordings and are not compared).
type srv struct {
	status string
	state  State
	scur   int
}

// scenario is one recorded situation and what must be concluded from it.
type scenario struct {
	name          string
	servers       [3]srv // controller-0, -1, -2 (sid 1, 2, 3)
	backendStatus string
	stick         string // server_key of the single stick entry; "" for an empty table
	stickID       int
	active        string // from stats + table (socket)
	next          string
	reason        string // a fragment of the reason
	activeNoTable string // from the stats alone (stats page)
}

var (
	up    = srv{"UP", StateUp, 0}
	down  = srv{"DOWN", StateDown, 0}
	maint = srv{"MAINT", StateMaint, 0}
)

func upWith(n int) srv { return srv{"UP", StateUp, n} }

var scenarios = []scenario{
	{
		name: "01-all-up-no-client", servers: [3]srv{up, up, up}, backendStatus: "UP",
		active: "", next: "controller-0", reason: "no client yet", activeNoTable: "",
	},
	{
		name: "02-one-client", servers: [3]srv{upWith(1), up, up}, backendStatus: "UP",
		stick: "controller-0", stickID: 1, active: "controller-0", next: "controller-0",
		reason: "confirmed by 1 current sessions", activeNoTable: "controller-0",
	},
	{
		name: "03a-server1-going-down", servers: [3]srv{{"UP 1/2", StateGoingDown, 1}, up, up}, backendStatus: "UP",
		stick: "controller-0", stickID: 1, active: "controller-0", next: "controller-0",
		reason: "(server is UP 1/2)", activeNoTable: "controller-0",
	},
	{
		// on-marked-down shutdown-sessions closed the client; the entry still names
		// controller-0 until the next client arrives.
		name: "03b-server1-down", servers: [3]srv{down, up, up}, backendStatus: "UP",
		stick: "controller-0", stickID: 1, active: "", next: "controller-1",
		reason: "points to controller-0 which is DOWN", activeNoTable: "",
	},
	{
		// The next client went to controller-1 and the entry moved there.
		name: "04-failover-new-client", servers: [3]srv{down, upWith(1), up}, backendStatus: "UP",
		stick: "controller-1", stickID: 2, active: "controller-1", next: "controller-1",
		reason: "stick table pins clients to controller-1 (key=127.0.77.10 via server_key)", activeNoTable: "controller-1",
	},
	{
		name: "05a-server1-coming-up", servers: [3]srv{{"DOWN 1/2", StateGoingUp, 0}, upWith(1), up}, backendStatus: "UP",
		stick: "controller-1", stickID: 2, active: "controller-1", next: "controller-1",
		reason: "confirmed by 1 current sessions", activeNoTable: "controller-1",
	},
	{
		// controller-0 is UP again, yet a new client still went to controller-1.
		name: "05b-server1-recovered", servers: [3]srv{up, upWith(2), up}, backendStatus: "UP",
		stick: "controller-1", stickID: 2, active: "controller-1", next: "controller-1",
		reason: "confirmed by 2 current sessions", activeNoTable: "controller-1",
	},
	{
		name: "06-all-down", servers: [3]srv{down, down, down}, backendStatus: "DOWN",
		stick: "controller-1", stickID: 2, active: "", next: "",
		reason: "points to controller-1 which is DOWN", activeNoTable: "",
	},
	{
		name: "07a-recovered-all-up", servers: [3]srv{up, upWith(1), up}, backendStatus: "UP",
		stick: "controller-1", stickID: 2, active: "controller-1", next: "controller-1",
		reason: "confirmed by 1 current sessions", activeNoTable: "controller-1",
	},
	{
		// "disable server" also closed controller-1's session.
		name: "07b-server2-maint", servers: [3]srv{up, maint, up}, backendStatus: "UP",
		stick: "controller-1", stickID: 2, active: "", next: "controller-0",
		reason: "points to controller-1 which is MAINT", activeNoTable: "",
	},
	{
		name: "07c-maint-new-client", servers: [3]srv{upWith(1), maint, up}, backendStatus: "UP",
		stick: "controller-0", stickID: 1, active: "controller-0", next: "controller-0",
		reason: "confirmed by 1 current sessions", activeNoTable: "controller-0",
	},
	{
		// A drained server keeps the clients the stick table pins to it, new ones included.
		name: "08-server1-drain", servers: [3]srv{{"DRAIN", StateDrain, 2}, up, up}, backendStatus: "UP",
		stick: "controller-0", stickID: 1, active: "controller-0", next: "controller-0",
		reason: "(server is DRAIN)", activeNoTable: "controller-0",
	},
}

var serverNames = [3]string{"controller-0", "controller-1", "controller-2"}

// checkBackend compares b with the scenario. The stats page hides server addresses (no
// "stats show-legends"), the socket shows them: withAddr says which one b came from.
func checkBackend(t *testing.T, b *Backend, sc scenario, withAddr bool) {
	t.Helper()
	if b.Name != "mysql" || b.Status != sc.backendStatus || !b.HasFrontend || b.FrontendStatus != "OPEN" {
		t.Errorf("backend = %q status %q frontend %v %q, want mysql %q with an OPEN frontend",
			b.Name, b.Status, b.HasFrontend, b.FrontendStatus, sc.backendStatus)
	}
	if len(b.Servers) != 3 {
		t.Fatalf("got %d servers, want 3: %+v", len(b.Servers), b.Servers)
	}
	total := 0
	for i, want := range sc.servers {
		total += b.Servers[i].CurrentSessions
		checkServer(t, i, &b.Servers[i], want, withAddr)
	}
	if b.CurrentSessions != total {
		t.Errorf("backend scur %d, servers sum to %d", b.CurrentSessions, total)
	}
}

func checkServer(t *testing.T, i int, got *Server, want srv, withAddr bool) {
	t.Helper()
	if got.Name != serverNames[i] || got.ID != i+1 || got.Status != want.status || got.State != want.state ||
		got.CurrentSessions != want.scur {
		t.Errorf("server %d = %s sid %d %q (%s) scur %d, want %s sid %d %q (%s) scur %d", i,
			got.Name, got.ID, got.Status, got.State, got.CurrentSessions,
			serverNames[i], i+1, want.status, want.state, want.scur)
	}
	if !got.Backup || got.Active {
		t.Errorf("%s: backup %v active %v, want a backup server", got.Name, got.Backup, got.Active)
	}
	wantAddr, wantHost := "", ""
	if withAddr {
		wantHost = fmt.Sprintf("127.0.77.%d", 11+i)
		wantAddr = wantHost + ":23306"
	}
	if got.Address != wantAddr || got.Host() != wantHost {
		t.Errorf("%s: address %q host %q, want %q", got.Name, got.Address, got.Host(), wantAddr)
	}
	switch got.State {
	case StateMaint:
		if got.CheckStatus != "" && got.CheckStatus != "L7OK" {
			t.Errorf("%s: check status %q", got.Name, got.CheckStatus)
		}
	case StateDown, StateGoingDown:
		if got.CheckStatus != "L7STS" || got.CheckCode != 503 {
			t.Errorf("%s: check %q %d, want L7STS 503", got.Name, got.CheckStatus, got.CheckCode)
		}
	default:
		if got.CheckStatus != "L7OK" {
			t.Errorf("%s: check %q, want L7OK", got.Name, got.CheckStatus)
		}
	}
	// HAProxy 2.6 keeps showing the configured weight of a drained server.
	if got.Weight != 1 {
		t.Errorf("%s: weight %d, want 1", got.Name, got.Weight)
	}
}

func checkTable(t *testing.T, tbl *Table, sc scenario) {
	t.Helper()
	if tbl.Name != "mysql" || tbl.Type != "ip" || tbl.Size != 1000 || tbl.Hidden {
		t.Errorf("table header = %+v", tbl)
	}
	if sc.stick == "" {
		if tbl.Used != 0 || len(tbl.Entries) != 0 {
			t.Errorf("table used %d entries %+v, want empty", tbl.Used, tbl.Entries)
		}
		return
	}
	if tbl.Used != 1 || len(tbl.Entries) != 1 {
		t.Fatalf("table used %d entries %+v, want 1", tbl.Used, tbl.Entries)
	}
	e := tbl.Entries[0]
	if e.Key != "127.0.77.10" || e.ServerKey != sc.stick || !e.HasServerID || e.ServerID != sc.stickID ||
		e.Use != 0 || e.ExpireMillis != 0 || !strings.HasPrefix(e.Ref, "0x") || len(e.Data) != 0 {
		t.Errorf("entry = %+v, want key 127.0.77.10 -> %s (sid %d)", e, sc.stick, sc.stickID)
	}
}

func TestFixturesSocket(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			b, err := ParseStatCSV(fixture(t, sc.name+".stat.csv"), "mysql")
			if err != nil {
				t.Fatal(err)
			}
			checkBackend(t, b, sc, true)
			tbl, err := ParseTable(fixture(t, sc.name+".table.txt"))
			if err != nil {
				t.Fatal(err)
			}
			checkTable(t, tbl, sc)

			active, reason := Active(b, tbl)
			if active != sc.active || !strings.Contains(reason, sc.reason) {
				t.Errorf("Active = %q, %q; want %q with reason containing %q", active, reason, sc.active, sc.reason)
			}
			snap := NewSnapshot(b, tbl)
			if snap.Active != active || snap.ActiveReason != reason || snap.Next != sc.next {
				t.Errorf("snapshot active %q next %q, want %q next %q", snap.Active, snap.Next, active, sc.next)
			}
			checkReports(t, snap, sc)
		})
	}
}

func checkReports(t *testing.T, snap *Snapshot, sc scenario) {
	t.Helper()
	if len(snap.Servers) != 3 {
		t.Fatalf("snapshot has %d servers", len(snap.Servers))
	}
	for i, r := range snap.Servers {
		if r.Name != serverNames[i] || r.State != sc.servers[i].state || r.CurrentSessions != sc.servers[i].scur {
			t.Errorf("report %d = %+v", i, r)
		}
		if r.Active != (r.Name == sc.active) || r.Next != (r.Name == sc.next) || r.Sticky != (r.Name == sc.stick) {
			t.Errorf("report %s: active %v next %v sticky %v", r.Name, r.Active, r.Next, r.Sticky)
		}
		if !strings.HasPrefix(r.Reason, r.Status) || r.Reason == "" {
			t.Errorf("report %s: reason %q", r.Name, r.Reason)
		}
		if r.Active && !strings.Contains(r.Reason, "ACTIVE") {
			t.Errorf("report %s: reason %q does not say ACTIVE", r.Name, r.Reason)
		}
		if r.Sticky && !r.State.TakesStickyClients() && !strings.Contains(r.Reason, "stale stick entry") {
			t.Errorf("report %s: reason %q does not call the entry stale", r.Name, r.Reason)
		}
	}
	if got := snap.Server("controller-2"); got == nil || got.Name != "controller-2" {
		t.Errorf("Snapshot.Server(controller-2) = %+v", got)
	}
	if snap.Server("nope") != nil {
		t.Error("Snapshot.Server(nope) != nil")
	}
}

func TestFixturesHTTP(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			b, err := ParseStatCSV(fixture(t, sc.name+".http.csv"), "mysql")
			if err != nil {
				t.Fatal(err)
			}
			checkBackend(t, b, sc, false)
			active, reason := Active(b, nil)
			if active != sc.activeNoTable || !strings.Contains(reason, "stick table not read") {
				t.Errorf("Active(stats only) = %q, %q; want %q", active, reason, sc.activeNoTable)
			}
			if snap := NewSnapshot(b, nil); snap.Next != "" {
				t.Errorf("Next without a table = %q, want unknown", snap.Next)
			}
		})
	}
}

// The same recording with every column in reverse order must parse the same: columns are
// found by header name.
func TestParseStatCSVColumnsByName(t *testing.T) {
	for _, sc := range scenarios {
		orig := fixture(t, sc.name+".stat.csv")
		r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(orig, []byte("# "))))
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		for _, rec := range recs {
			rev := make([]string, len(rec))
			for i := range rec {
				rev[len(rec)-1-i] = rec[i]
			}
			_ = w.Write(rev)
		}
		w.Flush()
		b, err := ParseStatCSV(append([]byte("# "), buf.Bytes()...), "mysql")
		if err != nil {
			t.Fatalf("%s reversed: %v", sc.name, err)
		}
		checkBackend(t, b, sc, true)
	}
}

func TestParseStatCSVOtherProxy(t *testing.T) {
	// mysql_nocheck shares a prefix with mysql and has servers without health checks.
	b, err := ParseStatCSV(fixture(t, "02-one-client.stat.csv"), "mysql_nocheck")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Servers) != 3 || b.ProxyID == 0 {
		t.Fatalf("mysql_nocheck = %+v", b)
	}
	for _, s := range b.Servers {
		if s.Status != "no check" || s.State != StateNoCheck || s.CheckStatus != "" || !s.State.TakesNewClients() {
			t.Errorf("%s = %q %s check %q", s.Name, s.Status, s.State, s.CheckStatus)
		}
	}
	if b.Server("controller-1") == nil || b.ServerByID(3).Name != "controller-2" || b.ServerByID(9) != nil {
		t.Error("Server/ServerByID lookups")
	}

	stats, err := ParseStatCSV(fixture(t, "02-one-client.stat.csv"), "haproxy.stats")
	if err != nil || len(stats.Servers) != 0 || stats.Status != "UP" {
		t.Errorf("haproxy.stats = %+v, %v", stats, err)
	}

	_, err = ParseStatCSV(fixture(t, "02-one-client.stat.csv"), "mysq")
	if !errors.Is(err, ErrBackendNotFound) {
		t.Errorf("unknown backend: err = %v, want ErrBackendNotFound", err)
	}
}

func TestParseTableLevelUser(t *testing.T) {
	tbl, err := ParseTable(fixture(t, "02-one-client.table-level-user.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !tbl.Hidden || tbl.Used != 1 || len(tbl.Entries) != 0 || tbl.Name != "mysql" {
		t.Fatalf("table = %+v, want hidden with 1 used", tbl)
	}
	b, err := ParseStatCSV(fixture(t, "02-one-client.stat.csv"), "mysql")
	if err != nil {
		t.Fatal(err)
	}
	active, reason := Active(b, tbl)
	if active != "controller-0" || !strings.Contains(reason, "hid them") {
		t.Errorf("Active = %q, %q; want controller-0 from sessions, saying the table is hidden", active, reason)
	}
}

func TestParseTableErrorAnswers(t *testing.T) {
	for _, name := range []string{"error-no-stick-table.table.txt", "error-no-such-proxy.table.txt"} {
		_, err := ParseTable(fixture(t, name))
		if err == nil || !strings.Contains(err.Error(), "No such table") {
			t.Errorf("%s: err = %v, want one quoting the answer", name, err)
		}
	}
}

// Versions before server_key (2.4 and older) print only server_id; "srvkey addr" tables
// key on the address. Both variants are derived from the recording, not typed.
func TestActiveServerKeyVariants(t *testing.T) {
	b, err := ParseStatCSV(fixture(t, "04-failover-new-client.stat.csv"), "mysql")
	if err != nil {
		t.Fatal(err)
	}
	orig := string(fixture(t, "04-failover-new-client.table.txt"))
	serverKey := regexp.MustCompile(` server_key=\S+`)
	serverID := regexp.MustCompile(` server_id=\S+`)
	cases := []struct {
		name, table, want, reason string
	}{
		{"recorded", orig, "controller-1", "via server_key"},
		{"no server_key", serverKey.ReplaceAllString(orig, ""), "controller-1", "via server_id"},
		{"srvkey addr", serverKey.ReplaceAllString(orig, " server_key=127.0.77.12:23306"), "controller-1", "via server_key"},
		{"unknown server_key falls back to server_id", serverKey.ReplaceAllString(orig, " server_key=gone"),
			"controller-1", "via server_id"},
		{"nothing resolves", serverID.ReplaceAllString(serverKey.ReplaceAllString(orig, " server_key=gone"), " server_id=7"),
			"controller-1", "points to no known server"},
		{"no server at all", serverID.ReplaceAllString(serverKey.ReplaceAllString(orig, ""), ""),
			"controller-1", "only server with current sessions"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, err := ParseTable([]byte(c.table))
			if err != nil {
				t.Fatal(err)
			}
			got, reason := Active(b, tbl)
			if got != c.want || !strings.Contains(reason, c.reason) {
				t.Errorf("Active = %q, %q; want %q with %q", got, reason, c.want, c.reason)
			}
		})
	}
}

// Two stick entries (e.g. an IPv4 and an IPv6 VIP) pointing to different servers: the
// one with sessions wins; with sessions on both, none is named.
func TestActiveSeveralEntries(t *testing.T) {
	b, err := ParseStatCSV(fixture(t, "04-failover-new-client.stat.csv"), "mysql")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Split(string(fixture(t, "04-failover-new-client.table.txt")), "\n")
	second := strings.NewReplacer("server_id=2", "server_id=3", "server_key=controller-1", "server_key=controller-2",
		"key=127.0.77.10", "key=127.0.77.20").Replace(line[1])
	two := strings.Join([]string{line[0], line[1], second, ""}, "\n")
	tbl, err := ParseTable([]byte(two))
	if err != nil {
		t.Fatal(err)
	}
	if got, reason := Active(b, tbl); got != "controller-1" || !strings.Contains(reason, "only controller-1 has current sessions") {
		t.Errorf("Active = %q, %q", got, reason)
	}
	b.Servers[2].CurrentSessions = 4
	if got, reason := Active(b, tbl); got != "" || !strings.Contains(reason, "ambiguous") {
		t.Errorf("Active with sessions on both = %q, %q", got, reason)
	}
	if got, reason := Active(b, nil); got != "" || !strings.Contains(reason, "ambiguous") {
		t.Errorf("Active without table, sessions on two servers = %q, %q", got, reason)
	}
	if got, reason := Active(nil, tbl); got != "" || reason == "" {
		t.Errorf("Active(nil) = %q, %q", got, reason)
	}
	if s := NewSnapshot(nil, nil); s.Active != "" || len(s.Servers) != 0 {
		t.Errorf("NewSnapshot(nil) = %+v", s)
	}
}

func TestClassifyStatus(t *testing.T) {
	// The strings HAProxy's stats.c prints (srv_hlt_st), plus MAINT variants across versions.
	cases := map[string]State{
		"UP": StateUp, "UP 1/2": StateGoingDown, "UP 2/3": StateGoingDown, "DOWN": StateDown,
		"DOWN (agent)": StateDown, "DOWN 1/2": StateGoingUp, "NOLB": StateNoLB, "NOLB 1/2": StateNoLB,
		"DRAIN": StateDrain, "DRAIN 1/3": StateDrain, "DRAIN (agent)": StateDrain, "MAINT": StateMaint,
		"MAINT (via)": StateMaint, "MAINT(via)": StateMaint, "MAINT (resolution)": StateMaint,
		"no check": StateNoCheck, "": StateUnknown, "OPEN": StateUnknown, "up": StateUp, "UP x/y": StateUp,
		"DOWNTIME": StateDown,
	}
	for in, want := range cases {
		if got := ClassifyStatus(in); got != want {
			t.Errorf("ClassifyStatus(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseStatCSVMalformed(t *testing.T) {
	good := string(fixture(t, "02-one-client.stat.csv"))
	lines := strings.Split(good, "\n")
	header := lines[0]
	cases := map[string]string{
		"empty":              "",
		"no header":          strings.Join(lines[1:], "\n"),
		"html":               "<html><body>401 Unauthorized</body></html>",
		"missing scur":       strings.Replace(good, ",scur,", ",xcur,", 1),
		"missing status":     strings.Replace(good, ",status,", ",state,", 1),
		"truncated row":      good[:len(good)-200],
		"bad scur":           strings.Replace(good, "mysql,controller-0,0,0,1,", "mysql,controller-0,0,0,one,", 1),
		"duplicate server":   good + lineWithPrefix(t, lines, "mysql,controller-0,") + "\n",
		"two backend rows":   good + lineWithPrefix(t, lines, "mysql,BACKEND,") + "\n",
		"header only":        header + "\n",
		"only a hash":        "#",
		"unterminated quote": header + "\n\"mysql,",
	}
	// "bad sid": make the controller-1 row's sid non-numeric via the header position.
	cols := strings.Split(strings.TrimPrefix(header, "# "), ",")
	sid := -1
	for i, c := range cols {
		if c == "sid" {
			sid = i
		}
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "mysql,controller-1,") {
			f := strings.Split(l, ",")
			f[sid] = "2x"
			lines[i] = strings.Join(f, ",")
		}
	}
	cases["bad sid"] = strings.Join(lines, "\n")
	for name, in := range cases {
		if b, err := ParseStatCSV([]byte(in), "mysql"); err == nil {
			t.Errorf("%s: no error, got %+v", name, b)
		}
	}
	if _, err := ParseStatCSV([]byte(good), ""); err == nil {
		t.Error("empty backend name: no error")
	}
}

func lineWithPrefix(t *testing.T, lines []string, prefix string) string {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no line starting with %q", prefix)
	return ""
}

func TestParseTableMalformed(t *testing.T) {
	good := string(fixture(t, "02-one-client.table.txt"))
	lines := strings.Split(good, "\n")
	cases := map[string]string{
		"empty":          "",
		"blank":          "\n\n",
		"no header":      lines[1],
		"no name":        "# table: , type: ip, size:1000, used:1\n",
		"bad size":       strings.Replace(good, "size:1000", "size:big", 1),
		"bad used":       strings.Replace(good, "used:1", "used:", 1),
		"no type":        strings.Replace(good, ", type: ip", "", 1),
		"attr no colon":  strings.Replace(good, "size:1000", "size 1000", 1),
		"bad entry ref":  strings.Replace(good, "0x", "1x", 1),
		"no key":         strings.Replace(good, "key=127.0.77.10 ", "", 1),
		"bad use":        strings.Replace(good, "use=0", "use=x", 1),
		"bad exp":        strings.Replace(good, "exp=0", "exp=-", 1),
		"bad server_id":  strings.Replace(good, "server_id=1", "server_id=one", 1),
		"token no equal": strings.Replace(good, "use=0", "use", 1),
		"second header":  good + lines[0] + "\n",
		"long line":      lines[0] + "\n0x1: key=" + strings.Repeat("a", 2<<20) + "\n",
	}
	for name, in := range cases {
		if tbl, err := ParseTable([]byte(in)); err == nil {
			t.Errorf("%s: no error, got %+v", name, tbl)
		}
	}
	// Extra data columns and unknown header attributes are kept or ignored, not errors.
	extra := strings.Replace(good, "used:1", "used:1, shards:1", 1)
	extra = strings.Replace(extra, "exp=0", "exp=0 shard=0 conn_rate(30000)=1", 1)
	tbl, err := ParseTable([]byte(extra))
	if err != nil {
		t.Fatal(err)
	}
	if e := tbl.Entries[0]; e.Data["shard"] != "0" || e.Data["conn_rate(30000)"] != "1" || e.ServerKey != "controller-0" {
		t.Errorf("entry = %+v", e)
	}
}
