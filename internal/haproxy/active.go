package haproxy

import (
	"fmt"
	"net"
	"strings"
)

// Snapshot is what HAProxy says about the database servers at one moment, with the
// decision drawn from it: the input of node selection. Build it with NewSnapshot.
type Snapshot struct {
	// Backend is the parsed stats of the database proxy.
	Backend *Backend
	// Table is its stick table; nil when it was not read (stats page only).
	Table *Table
	// Active is the server that serves the clients now; empty when none can be named.
	Active string
	// ActiveReason explains Active (or why there is none).
	ActiveReason string
	// Next is the server HAProxy would send the next new client to, when that can be
	// told: the server an honoured stick entry points to, else (stick table read, every
	// server a backup server) the first server in configuration order that takes new
	// clients. Empty when it cannot be told.
	Next string
	// Servers has one report per server, in configuration order.
	Servers []ServerReport
}

// ServerReport is one server's row of a Snapshot.
type ServerReport struct {
	// Name is the server's name in HAProxy, e.g. "controller-0".
	Name string
	// Address is the server's "ip:port" as HAProxy knows it (may be empty).
	Address string
	// Status is HAProxy's status verbatim.
	Status string
	// State is Status normalised.
	State State
	// CurrentSessions is the number of sessions open to the server.
	CurrentSessions int
	// Sticky tells whether a stick-table entry points to this server.
	Sticky bool
	// Active tells whether this is the Snapshot's Active server.
	Active bool
	// Next tells whether this is the Snapshot's Next server.
	Next bool
	// Reason sums the above up for a human.
	Reason string
}

// Server returns the report of the server with this name, or nil.
func (s *Snapshot) Server(name string) *ServerReport {
	for i := range s.Servers {
		if s.Servers[i].Name == name {
			return &s.Servers[i]
		}
	}
	return nil
}

// NewSnapshot combines a backend and its stick table (nil when not read) into a Snapshot.
// It is pure. A nil backend gives an empty Snapshot whose ActiveReason says so.
func NewSnapshot(b *Backend, t *Table) *Snapshot {
	d := decide(b, t)
	s := &Snapshot{Backend: b, Table: t, Active: d.active, ActiveReason: d.reason, Next: d.next}
	if b == nil {
		return s
	}
	s.Servers = make([]ServerReport, 0, len(b.Servers))
	for i := range b.Servers {
		srv := &b.Servers[i]
		r := ServerReport{
			Name:            srv.Name,
			Address:         srv.Address,
			Status:          srv.Status,
			State:           srv.State,
			CurrentSessions: srv.CurrentSessions,
			Sticky:          d.sticky[srv.Name],
			Active:          srv.Name == d.active,
			Next:            srv.Name == d.next,
		}
		r.Reason = serverReason(srv, r)
		s.Servers = append(s.Servers, r)
	}
	return s
}

// Active names the server that serves the database clients, and why. The strongest
// signal is the stick table: the server an entry points to (by server_key, else by
// server_id matched against the servers' sid), as long as HAProxy honours the entry
// (the server is not DOWN or in MAINT); its current sessions confirm it. Without an
// honoured entry (or without the table: t may be nil) it is the single server with
// current sessions. Otherwise it is "" with the reason, e.g. no client yet.
func Active(b *Backend, t *Table) (server string, reason string) {
	d := decide(b, t)
	return d.active, d.reason
}

// decision is what decide concludes; sticky marks the servers stick entries point to.
type decision struct {
	active, reason, next string
	sticky               map[string]bool
}

// servers finds a backend's servers by name, address and sid in constant time.
type servers struct {
	byName, byAddr map[string]*Server
	byID           map[int]*Server
}

func indexServers(b *Backend) servers {
	ix := servers{
		byName: make(map[string]*Server, len(b.Servers)),
		byAddr: make(map[string]*Server, len(b.Servers)),
		byID:   make(map[int]*Server, len(b.Servers)),
	}
	for i := range b.Servers {
		s := &b.Servers[i]
		if _, dup := ix.byName[s.Name]; !dup {
			ix.byName[s.Name] = s
		}
		if _, dup := ix.byAddr[s.Address]; !dup && s.Address != "" {
			ix.byAddr[s.Address] = s
		}
		if _, dup := ix.byID[s.ID]; !dup && s.ID > 0 {
			ix.byID[s.ID] = s
		}
	}
	return ix
}

// resolve finds the server a stick entry points to, and by which field: server_key is a
// name (or "ip:port" with "srvkey addr"); without a match, server_id is a sid.
func (ix servers) resolve(e *Entry) (*Server, string) {
	if e.ServerKey != "" {
		if s := ix.byName[e.ServerKey]; s != nil {
			return s, fieldServerKey
		}
		if s := ix.byAddr[e.ServerKey]; s != nil {
			return s, fieldServerKey
		}
	}
	if e.HasServerID {
		if s := ix.byID[e.ServerID]; s != nil {
			return s, fieldServerID
		}
	}
	return nil, ""
}

// maxNotes bounds how many stale or unknown stick entries a reason lists one by one.
const maxNotes = 3

func decide(b *Backend, t *Table) decision {
	d := decision{sticky: map[string]bool{}}
	if b == nil {
		d.reason = "no HAProxy stats"
		return d
	}
	var notes []string
	var honoured []*Server // distinct servers with an honoured stick entry, in entry order
	var honouredBy []string
	if t != nil && t.Hidden {
		notes = append(notes, fmt.Sprintf("stick table %s has %d entries but HAProxy hid them "+
			"(stats socket level user; operator or admin needed)", t.Name, t.Used))
		t = nil
	}
	if t != nil {
		ix := indexServers(b)
		skipped := 0
		note := func(format string, args ...any) {
			if len(notes) < maxNotes {
				notes = append(notes, fmt.Sprintf(format, args...))
			} else {
				skipped++
			}
		}
		for i := range t.Entries {
			e := &t.Entries[i]
			srv, how := ix.resolve(e)
			switch {
			case srv == nil:
				note("stick entry key=%s points to no known server (server_key=%q server_id=%d)",
					truncate(e.Key, 64), truncate(e.ServerKey, 64), e.ServerID)
			case !srv.State.TakesStickyClients():
				d.sticky[srv.Name] = true
				note("stick entry key=%s points to %s which is %s: HAProxy ignores it, "+
					"sends the next client to another server and moves the entry there", truncate(e.Key, 64), srv.Name, srv.Status)
			default:
				if !d.sticky[srv.Name] {
					honoured = append(honoured, srv)
					honouredBy = append(honouredBy, fmt.Sprintf("key=%s via %s", truncate(e.Key, 64), how))
				}
				d.sticky[srv.Name] = true
			}
		}
		if skipped > 0 {
			notes = append(notes, fmt.Sprintf("and %d more such stick entries", skipped))
		}
	}

	var withSessions []*Server
	for i := range b.Servers {
		if b.Servers[i].CurrentSessions > 0 {
			withSessions = append(withSessions, &b.Servers[i])
		}
	}

	switch {
	case len(honoured) == 1:
		d.active = honoured[0].Name
		notes = append([]string{stickReason(honoured[0], honouredBy[0], withSessions)}, notes...)
	case len(honoured) > 1:
		var busy []*Server
		for _, s := range honoured {
			if s.CurrentSessions > 0 {
				busy = append(busy, s)
			}
		}
		if len(busy) == 1 {
			d.active = busy[0].Name
			notes = append([]string{fmt.Sprintf("stick entries point to %s; only %s has current sessions (%d)",
				names(honoured), busy[0].Name, busy[0].CurrentSessions)}, notes...)
		} else {
			notes = append([]string{fmt.Sprintf("ambiguous: stick entries point to %s (%s)",
				names(honoured), sessions(honoured))}, notes...)
		}
	default:
		notes = append(notes, sessionsReason(t, withSessions, &d))
	}

	d.next = nextServer(b, t, honoured, d.active)
	d.reason = strings.Join(notes, "; ")
	return d
}

func stickReason(s *Server, by string, withSessions []*Server) string {
	r := fmt.Sprintf("stick table pins clients to %s (%s)", s.Name, by)
	if s.CurrentSessions > 0 {
		r += fmt.Sprintf(", confirmed by %d current sessions", s.CurrentSessions)
	} else {
		r += ", no current sessions: the next client goes there"
	}
	if s.State == StateGoingDown || s.State == StateDrain || s.State == StateNoLB {
		r += fmt.Sprintf(" (server is %s)", s.Status)
	}
	var others []*Server
	for _, o := range withSessions {
		if o != s {
			others = append(others, o)
		}
	}
	if len(others) > 0 {
		r += fmt.Sprintf("; sessions also on %s", sessions(others))
	}
	return r
}

func sessionsReason(t *Table, withSessions []*Server, d *decision) string {
	where := "no honoured stick entry"
	if t == nil {
		where = "stick table not read"
	} else if len(t.Entries) == 0 {
		where = "stick table empty"
	}
	switch len(withSessions) {
	case 0:
		return "no client yet: " + where + " and no current sessions"
	case 1:
		d.active = withSessions[0].Name
		return fmt.Sprintf("%s is the only server with current sessions (%d); %s",
			withSessions[0].Name, withSessions[0].CurrentSessions, where)
	default:
		return fmt.Sprintf("ambiguous: sessions on several servers (%s); %s", sessions(withSessions), where)
	}
}

// nextServer tells where a new client would go; see Snapshot.Next.
func nextServer(b *Backend, t *Table, honoured []*Server, active string) string {
	if len(honoured) == 1 {
		return honoured[0].Name
	}
	if len(honoured) > 1 {
		return active
	}
	if t == nil {
		return ""
	}
	// Without "option allbackups", HAProxy sends everything to the first usable backup
	// server in configuration order when no active server is usable.
	for i := range b.Servers {
		if !b.Servers[i].Backup {
			return "" // load-balanced active servers: cannot tell
		}
	}
	for i := range b.Servers {
		s := &b.Servers[i]
		if s.State.TakesNewClients() && s.Weight > 0 {
			return s.Name
		}
	}
	return ""
}

func serverReason(s *Server, r ServerReport) string {
	var parts []string
	st := s.Status
	if s.CheckStatus != "" {
		if s.CheckCode != 0 {
			st += fmt.Sprintf(" (check %s %d)", s.CheckStatus, s.CheckCode)
		} else {
			st += fmt.Sprintf(" (check %s)", s.CheckStatus)
		}
	}
	parts = append(parts, st)
	switch s.State {
	case StateGoingDown:
		parts = append(parts, "failing health checks, still serving")
	case StateGoingUp:
		parts = append(parts, "passing health checks again, not serving yet")
	case StateDown:
		parts = append(parts, "marked down, not serving")
	case StateMaint:
		parts = append(parts, "in maintenance, not serving")
	case StateDrain, StateNoLB:
		parts = append(parts, "drained: keeps only clients pinned to it")
	case StateUnknown:
		parts = append(parts, "status not understood")
	}
	parts = append(parts, fmt.Sprintf("%d current sessions", s.CurrentSessions))
	switch {
	case r.Sticky && s.State.TakesStickyClients():
		parts = append(parts, "stick entry points here")
	case r.Sticky:
		parts = append(parts, "stale stick entry points here (ignored while not serving)")
	}
	switch {
	case r.Active:
		parts = append(parts, "ACTIVE: serves the clients")
	case r.Next:
		parts = append(parts, "next new client would go here")
	}
	return strings.Join(parts, ", ")
}

func names(ss []*Server) string {
	n := make([]string, len(ss))
	for i, s := range ss {
		n[i] = s.Name
	}
	return strings.Join(n, ", ")
}

func sessions(ss []*Server) string {
	n := make([]string, len(ss))
	for i, s := range ss {
		n[i] = fmt.Sprintf("%s=%d", s.Name, s.CurrentSessions)
	}
	return strings.Join(n, ", ")
}

// IsNode tells whether the server is the node with this address (HAProxy's server
// address, port aside), else this name (exactly, or as the first label of a name like
// controller-0.internalapi.localdomain).
func (r ServerReport) IsNode(address, name string) bool {
	host := r.Address
	if h, _, err := net.SplitHostPort(r.Address); err == nil {
		host = h
	}
	if host != "" && address != "" {
		return host == address
	}
	return name != "" && (r.Name == name || strings.HasPrefix(r.Name, name+"."))
}
