package haproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Table is the answer to the runtime API's "show table <name>": the stick table's
// header and its entries.
type Table struct {
	// Name is the table's name: the proxy that declares it, e.g. "mysql".
	Name string
	// Type is the key type, e.g. "ip" ("stick on dst" keys on the VIP address).
	Type string
	// Size is the table's capacity.
	Size int
	// Used is the number of entries HAProxy reports in use.
	Used int
	// Hidden tells that HAProxy printed the header but withheld the entries: the stats
	// socket's level is "user" (TripleO's default), and dumping contents needs "operator"
	// or "admin". Entries is then empty whatever Used says.
	Hidden bool
	// Entries are the dumped entries, in HAProxy's order.
	Entries []Entry
}

// Entry is one stick-table entry, e.g.
// "0x55d8c0a4de90: key=172.17.1.10 use=0 exp=0 server_id=1 server_key=controller-0".
type Entry struct {
	// Ref is the entry's address in HAProxy's memory ("0x..."): only an identifier for
	// the length of one dump.
	Ref string
	// Key is the stuck value (for "stick on dst": the database VIP).
	Key string
	// Use is the number of sessions currently using the entry.
	Use int
	// ExpireMillis is the time to expiry in milliseconds (exp); 0 when the table has no expiry.
	ExpireMillis int64
	// ServerID is the sid of the server the key sticks to (server_id); valid when HasServerID.
	ServerID int
	// HasServerID tells whether the entry carries a server_id.
	HasServerID bool
	// ServerKey identifies the server the key sticks to (server_key, HAProxy 2.5 and later;
	// "server_name" in some older versions): its name, or "ip:port" with "srvkey addr".
	// Empty when absent; then ServerID is what identifies the server.
	ServerKey string
	// Data holds every other stored value as printed (e.g. "shard", "conn_rate(30000)").
	Data map[string]string
}

const (
	tableHeaderPrefix = "# table: "
	fieldServerKey    = "server_key"
	fieldServerID     = "server_id"
)

// ParseTable parses the answer to "show table <name>" for one table. An answer that is
// not a table dump (e.g. "No such table", a permission error) is an error quoting it.
func ParseTable(data []byte) (*Table, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var t *Table
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if t == nil {
			if !strings.HasPrefix(line, tableHeaderPrefix) {
				return nil, fmt.Errorf("parse stick table: not a \"show table\" answer: %s", excerpt([]byte(line)))
			}
			h, err := parseTableHeader(line[len(tableHeaderPrefix):])
			if err != nil {
				return nil, fmt.Errorf("parse stick table line %d: %w", lineNo, err)
			}
			t = h
			continue
		}
		if strings.HasPrefix(line, tableHeaderPrefix) {
			return nil, fmt.Errorf("parse stick table line %d: a second table header: %s", lineNo, excerpt([]byte(line)))
		}
		if strings.HasPrefix(line, "#") {
			// "# contents not dumped due to insufficient privileges"; other comments
			// (none known) are ignored so a newer version's remarks do no harm.
			if strings.Contains(line, "not dumped") {
				t.Hidden = true
			}
			continue
		}
		e, err := parseEntry(line)
		if err != nil {
			return nil, fmt.Errorf("parse stick table %q line %d: %w", t.Name, lineNo, err)
		}
		t.Entries = append(t.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse stick table: %w", err)
	}
	if t == nil {
		return nil, errors.New("parse stick table: empty answer")
	}
	return t, nil
}

// parseTableHeader parses "mysql, type: ip, size:1000, used:1" (after "# table: ").
// Unknown attributes are ignored: newer versions may add some.
func parseTableHeader(s string) (*Table, error) {
	parts := strings.Split(s, ",")
	t := &Table{Name: strings.TrimSpace(parts[0])}
	if t.Name == "" {
		return nil, errors.New("table header without a name")
	}
	var haveType, haveSize, haveUsed bool
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return nil, fmt.Errorf("table header attribute %s is not \"name: value\"", excerpt([]byte(p)))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var err error
		switch k {
		case "type":
			t.Type, haveType = v, true
		case "size":
			t.Size, err = strconv.Atoi(v)
			haveSize = true
		case "used":
			t.Used, err = strconv.Atoi(v)
			haveUsed = true
		}
		if err != nil {
			return nil, fmt.Errorf("table header attribute %s: %q is not an integer", k, truncate(v, 32))
		}
	}
	if !haveType || !haveSize || !haveUsed {
		return nil, fmt.Errorf("table header of %q lacks type, size or used", t.Name)
	}
	return t, nil
}

// parseEntry parses "0x...: key=... use=0 exp=0 server_id=1 server_key=controller-0".
func parseEntry(line string) (Entry, error) {
	ref, rest, ok := strings.Cut(line, ": ")
	if !ok || !strings.HasPrefix(ref, "0x") || len(ref) < 3 {
		return Entry{}, fmt.Errorf("entry %s does not start with \"0x...: \"", excerpt([]byte(line)))
	}
	e := Entry{Ref: ref}
	haveKey := false
	for _, tok := range strings.Fields(rest) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || k == "" {
			return Entry{}, fmt.Errorf("entry field %s is not name=value", excerpt([]byte(tok)))
		}
		var err error
		switch k {
		case "key":
			e.Key, haveKey = v, true
		case "use":
			e.Use, err = strconv.Atoi(v)
		case "exp":
			e.ExpireMillis, err = strconv.ParseInt(v, 10, 64)
		case fieldServerID:
			e.ServerID, err = strconv.Atoi(v)
			e.HasServerID = true
		case fieldServerKey, "server_name":
			e.ServerKey = v
		default:
			if e.Data == nil {
				e.Data = make(map[string]string)
			}
			e.Data[k] = v
		}
		if err != nil {
			return Entry{}, fmt.Errorf("entry field %s: %q is not an integer", k, truncate(v, 32))
		}
	}
	if !haveKey {
		return Entry{}, fmt.Errorf("entry %s has no key", ref)
	}
	return e, nil
}
