package haproxy

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrBackendNotFound is returned (wrapped) when the stats hold no BACKEND row for the
// requested proxy: a wrong backend name, or a frontend-only proxy.
var ErrBackendNotFound = errors.New("backend not found in the HAProxy stats")

// State is a server's state normalised from HAProxy's free-form status column
// ("UP", "UP 1/2", "DOWN 1/2", "MAINT (via)", "no check", ...), whose exact strings
// vary between versions.
type State string

const (
	// StateUp is "UP": healthy, takes new clients.
	StateUp State = "Up"
	// StateGoingDown is "UP n/m": still up and taking clients, but its last checks failed.
	StateGoingDown State = "GoingDown"
	// StateDown is "DOWN" or "DOWN (agent)": takes no clients.
	StateDown State = "Down"
	// StateGoingUp is "DOWN n/m": still down, but its last checks passed.
	StateGoingUp State = "GoingUp"
	// StateDrain is "DRAIN", "DRAIN n/m" or "DRAIN (agent)": takes only clients that a
	// stick table or cookie already pins to it (recorded: new clients of a drained server
	// that the stick entry names still go there).
	StateDrain State = "Drain"
	// StateNoLB is "NOLB" or "NOLB n/m": like Drain, set by a check (e.g. disable-on-404).
	StateNoLB State = "NoLB"
	// StateMaint is "MAINT", "MAINT (via)" or "MAINT (resolution)": administratively
	// disabled, takes no clients; its sessions were shut down.
	StateMaint State = "Maint"
	// StateNoCheck is "no check": health checks are off, HAProxy assumes it is up.
	StateNoCheck State = "NoCheck"
	// StateUnknown is any status this package does not recognise.
	StateUnknown State = "Unknown"
)

// ClassifyStatus maps HAProxy's status column to a State by prefix, case-insensitively.
// It never fails: an unrecognised status is StateUnknown.
func ClassifyStatus(status string) State {
	s := strings.ToUpper(strings.TrimSpace(status))
	switch {
	case s == "UP":
		return StateUp
	case strings.HasPrefix(s, "UP "):
		if isFraction(s[len("UP "):]) {
			return StateGoingDown
		}
		return StateUp
	case s == "DOWN" || strings.HasPrefix(s, "DOWN ("):
		return StateDown
	case strings.HasPrefix(s, "DOWN ") && isFraction(s[len("DOWN "):]):
		return StateGoingUp
	case strings.HasPrefix(s, "DOWN"):
		return StateDown
	case strings.HasPrefix(s, "MAINT"):
		return StateMaint
	case strings.HasPrefix(s, "DRAIN"):
		return StateDrain
	case strings.HasPrefix(s, "NOLB"):
		return StateNoLB
	case s == "NO CHECK":
		return StateNoCheck
	default:
		return StateUnknown
	}
}

// isFraction reports whether s is "<digits>/<digits>", the check progress HAProxy
// appends to a status in transition.
func isFraction(s string) bool {
	num, den, ok := strings.Cut(s, "/")
	return ok && isDigits(num) && isDigits(den)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// TakesNewClients reports whether HAProxy may send a client that is not yet pinned
// to any server to a server in this state.
func (s State) TakesNewClients() bool {
	return s == StateUp || s == StateGoingDown || s == StateNoCheck
}

// TakesStickyClients reports whether HAProxy still honours a stick-table entry that
// points to a server in this state (drained servers keep their pinned clients; down and
// maintenance servers do not, so the next client is sent elsewhere and the entry moves).
func (s State) TakesStickyClients() bool {
	return s.TakesNewClients() || s == StateDrain || s == StateNoLB
}

// Server is one server row of a backend in the stats CSV.
type Server struct {
	// Name is the server's name (svname), e.g. "controller-0".
	Name string
	// ID is the server id (sid), unique within the proxy; stick tables refer to it.
	ID int
	// Address is "ip:port" (addr). The stats socket shows it; the stats page leaves it
	// empty unless "stats show-legends" is set, and versions before 1.9 lack the column.
	Address string
	// Status is HAProxy's status column verbatim, e.g. "UP 1/2".
	Status string
	// State is Status normalised.
	State State
	// CurrentSessions is the number of sessions open to the server now (scur).
	CurrentSessions int
	// MaxSessions is the highest CurrentSessions seen (smax).
	MaxSessions int
	// TotalSessions is the number of sessions since start (stot).
	TotalSessions int64
	// Weight is the effective weight (weight). HAProxy 2.6 still shows the configured
	// weight of a drained server: use State, not Weight, to tell a drain.
	Weight int
	// Backup tells a "backup" server (bck=1), as every TripleO database server is.
	Backup bool
	// Active tells an active, non-backup server (act=1).
	Active bool
	// CheckStatus is the last health check's result (check_status, e.g. "L7OK",
	// "L7STS"), without the "* " HAProxy prefixes while a check runs; empty without checks.
	CheckStatus string
	// CheckCode is the last check's layer-7 code (check_code), e.g. 200 or 503; 0 if none.
	CheckCode int
	// CheckDescription is the human-readable check result (check_desc).
	CheckDescription string
	// LastCheck is the last check's detail (last_chk), e.g. the HTTP reason phrase.
	LastCheck string
	// ChecksFailed counts failed checks (chkfail).
	ChecksFailed int64
	// DownTransitions counts UP to DOWN transitions (chkdown).
	DownTransitions int64
	// LastChangeSeconds is the time since the last UP/DOWN transition, in seconds (lastchg).
	LastChangeSeconds int64
	// DowntimeSeconds is the total downtime, in seconds (downtime).
	DowntimeSeconds int64
}

// Host returns the IP or host part of Address, without the port ("" when Address is
// empty, as on the stats page, which shows addresses only with "stats show-legends").
func (s *Server) Host() string {
	addr := s.Address
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
}

// Backend is one proxy of the stats CSV: its BACKEND row, its FRONTEND row when the proxy
// is a "listen" section, and its servers in configuration order.
type Backend struct {
	// Name is the proxy name (pxname), e.g. "mysql".
	Name string
	// ProxyID is the proxy's unique id (iid).
	ProxyID int
	// Status is the BACKEND row's status verbatim: "UP" while a server is usable, else "DOWN".
	Status string
	// CurrentSessions is the BACKEND row's scur: sessions open to all servers.
	CurrentSessions int
	// HasFrontend tells whether the proxy has a FRONTEND row (a "listen" section).
	HasFrontend bool
	// FrontendStatus is the FRONTEND row's status ("OPEN", "STOP", "FULL"), if any.
	FrontendStatus string
	// FrontendSessions is the FRONTEND row's scur: clients connected to the VIP.
	FrontendSessions int
	// Servers are the proxy's servers in the order of the stats, which is the
	// configuration order (the order HAProxy tries backup servers in).
	Servers []Server
}

// Server returns the server with this name, or nil.
func (b *Backend) Server(name string) *Server {
	for i := range b.Servers {
		if b.Servers[i].Name == name {
			return &b.Servers[i]
		}
	}
	return nil
}

// ServerByID returns the server with this sid, or nil.
func (b *Backend) ServerByID(id int) *Server {
	for i := range b.Servers {
		if b.Servers[i].ID == id {
			return &b.Servers[i]
		}
	}
	return nil
}

// requiredColumns must be in every stats CSV we accept.
var requiredColumns = []string{"pxname", "svname", "status", "scur"}

// ParseStatCSV parses HAProxy's stats CSV (the stats socket's "show stat" or the stats
// page's ";csv" export) and returns the proxy named backend. Columns are found by the
// names in the "# pxname,svname,..." header, so columns added or moved by other HAProxy
// versions do no harm. Every row must have as many fields as the header (a truncated
// document is an error). It returns an error wrapping ErrBackendNotFound when the proxy
// has no BACKEND row.
func ParseStatCSV(data []byte, backend string) (*Backend, error) {
	if backend == "" {
		return nil, errors.New("parse stats CSV: empty backend name")
	}
	doc := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(doc, []byte("#")) {
		return nil, fmt.Errorf("parse stats CSV: no \"# pxname,...\" header, got %s", describeAnswer(doc))
	}
	r := csv.NewReader(bytes.NewReader(doc[1:]))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true

	cols, width, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	b := &Backend{Name: backend}
	idx := serverIndex{names: map[string]bool{}, ids: map[int]string{}}
	foundBackend := false
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse stats CSV: %w", err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != width {
			return nil, fmt.Errorf("parse stats CSV line %d: %d fields, header has %d", line, len(rec), width)
		}
		row := statRow{rec: rec, cols: cols, line: line}
		if row.str("pxname") != backend {
			continue
		}
		if row.str("svname") == "BACKEND" {
			if foundBackend {
				return nil, fmt.Errorf("parse stats CSV line %d: second BACKEND row for %q", line, backend)
			}
			foundBackend = true
		}
		if err := b.addRow(&row, &idx); err != nil {
			return nil, err
		}
	}
	if !foundBackend {
		return nil, fmt.Errorf("parse stats CSV: proxy %q: %w", backend, ErrBackendNotFound)
	}
	return b, nil
}

// readHeader reads the "# pxname,svname,..." header (the "#" already consumed) and
// returns each column's index by name and the number of columns.
func readHeader(r *csv.Reader) (map[string]int, int, error) {
	header, err := r.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("parse stats CSV header: %w", err)
	}
	cols := make(map[string]int, len(header))
	for i, name := range header {
		name = strings.TrimSpace(name)
		if _, dup := cols[name]; !dup && name != "" && name != "-" {
			cols[name] = i
		}
	}
	for _, name := range requiredColumns {
		if _, ok := cols[name]; !ok {
			return nil, 0, fmt.Errorf("parse stats CSV header: no %q column", name)
		}
	}
	return cols, len(header), nil
}

// serverIndex finds duplicate server names and ids in linear time.
type serverIndex struct {
	names map[string]bool
	ids   map[int]string
}

// addRow records one of the proxy's rows: FRONTEND, BACKEND or a server.
func (b *Backend) addRow(row *statRow, idx *serverIndex) error {
	switch row.str("svname") {
	case "FRONTEND":
		b.HasFrontend = true
		b.FrontendStatus = row.str("status")
		b.FrontendSessions = row.integer("scur")
	case "BACKEND":
		b.Status = row.str("status")
		b.CurrentSessions = row.integer("scur")
		b.ProxyID = row.integer("iid")
	default:
		// type 2 is a server; type 3 a listener row ("option socket-stats").
		if t, ok := row.cols["type"]; ok && row.rec[t] != "2" {
			return nil
		}
		srv := row.server()
		if row.err != nil {
			return row.err
		}
		if err := b.addServer(srv, idx); err != nil {
			return fmt.Errorf("parse stats CSV line %d: %w", row.line, err)
		}
	}
	return row.err
}

func (b *Backend) addServer(srv Server, idx *serverIndex) error {
	if srv.Name == "" {
		return errors.New("server with an empty name")
	}
	if idx.names[srv.Name] {
		return fmt.Errorf("server %q listed twice", truncate(srv.Name, 64))
	}
	if other, dup := idx.ids[srv.ID]; dup && srv.ID != 0 {
		return fmt.Errorf("servers %q and %q share sid %d", truncate(other, 64), truncate(srv.Name, 64), srv.ID)
	}
	idx.names[srv.Name] = true
	idx.ids[srv.ID] = srv.Name
	b.Servers = append(b.Servers, srv)
	return nil
}

// statRow reads one CSV record by column name; the first malformed number sticks in err.
type statRow struct {
	rec  []string
	cols map[string]int
	line int
	err  error
}

func (r *statRow) str(name string) string {
	i, ok := r.cols[name]
	if !ok {
		return ""
	}
	return r.rec[i]
}

func (r *statRow) integer(name string) int {
	return int(r.parse(name, strconv.IntSize))
}

func (r *statRow) int64(name string) int64 {
	return r.parse(name, 64)
}

// parse reads an integer column; HAProxy leaves a column empty when it does not apply.
func (r *statRow) parse(name string, bits int) int64 {
	s := strings.TrimSpace(r.str(name))
	if s == "" || r.err != nil {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		r.err = fmt.Errorf("parse stats CSV line %d: column %s: %q is not an integer", r.line, name, truncate(s, 32))
		return 0
	}
	return v
}

func (r *statRow) server() Server {
	status := r.str("status")
	return Server{
		Name:              r.str("svname"),
		ID:                r.integer("sid"),
		Address:           r.str("addr"),
		Status:            status,
		State:             ClassifyStatus(status),
		CurrentSessions:   r.integer("scur"),
		MaxSessions:       r.integer("smax"),
		TotalSessions:     r.int64("stot"),
		Weight:            r.integer("weight"),
		Backup:            r.integer("bck") == 1,
		Active:            r.integer("act") == 1,
		CheckStatus:       strings.TrimPrefix(r.str("check_status"), "* "),
		CheckCode:         r.integer("check_code"),
		CheckDescription:  r.str("check_desc"),
		LastCheck:         r.str("last_chk"),
		ChecksFailed:      r.int64("chkfail"),
		DownTransitions:   r.int64("chkdown"),
		LastChangeSeconds: r.int64("lastchg"),
		DowntimeSeconds:   r.int64("downtime"),
	}
}

// describeAnswer describes an unexpected answer for an error message without quoting it: the
// endpoint is chosen by a tenant, and quoting what it said would read any internal
// service's answer back to them through the status. Its size and kind are enough to
// recognise a misdirected request (an HTML login page, a runtime API error).
func describeAnswer(b []byte) string {
	t := bytes.TrimSpace(b)
	kind := "text"
	switch {
	case len(t) == 0:
		return "an empty answer"
	case t[0] == '<':
		kind = "HTML or XML"
	case t[0] == '{' || t[0] == '[':
		kind = "JSON"
	case !utf8.Valid(t) || bytes.ContainsFunc(t, func(r rune) bool { return r < ' ' && r != '\n' && r != '\r' && r != '\t' }):
		kind = "binary"
	}
	return fmt.Sprintf("%d bytes of %s (not quoted)", len(b), kind)
}

// excerpt quotes the start of an answer of the stats socket for an error message: short,
// one line, so a runtime API error ("No such table", "Permission denied") is recognisable.
// Only for the socket: it answers over the tenant's own SSH access, on their own node;
// an HTTP answer may come from anywhere the manager can reach (describeAnswer).
func excerpt(b []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	return strconv.Quote(truncate(string(line), 80))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
