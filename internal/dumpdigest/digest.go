// Package dumpdigest describes, table by table, the data a mariadb-dump stream holds: how
// many rows, and a SHA-256 of the table's INSERT statements in the order the dump wrote
// them. It reads the stream as it goes by (an io.Writer beside the compressor), keeps no
// line in memory, and needs no server.
//
// Two dumps made with the same options by the same mariadb-dump of two servers holding
// the same rows write the same INSERT statements, byte for byte (mariadb-dump reads each
// table in its primary key's order, or its insertion order for a table without one, which
// an import keeps). So the digest of a backup's dump, recorded when it was taken, and the
// digest of a dump of the server the backup was restored into, are equal exactly when
// the restored tables hold the rows the backup read: one row missing, or one byte of one
// value changed, changes its table's digest. A dump made with --single-transaction reads
// one snapshot, so writes by clients during the backup change neither the dump nor its
// digest.
//
// The stream is hostile (its bytes come from the overcloud's database): names are
// bounded, lines are hashed as they stream and never kept, and the number of tables is
// capped.
package dumpdigest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sort"
)

// Table is one table's data as a dump holds it.
type Table struct {
	Database string `json:"database"`
	Table    string `json:"table"`
	// Rows is the number of rows the dump's INSERT statements hold.
	Rows int64 `json:"rows"`
	// SHA256 is the hex SHA-256 of the table's INSERT statements (each line with its
	// newline), in the dump's order; of nothing for a table without rows.
	SHA256 string `json:"sha256"`
}

// DefaultMaxTables bounds the tables a digest records: an overcloud has one or two
// thousand (OpenStack's services together), and each costs ~200 bytes of manifest.
const DefaultMaxTables = 20000

// maxHead is the longest line start examined to classify a line: a statement keyword and
// one quoted name (64 characters of at most 4 bytes each, every backtick doubled).
const maxHead = 640

// Digest is an io.Writer that digests a mariadb-dump stream.
type Digest struct {
	maxTables int
	tables    map[key]*table
	order     []key
	db        string

	head []byte // the current line's start, up to maxHead bytes
	kind lineKind
	// values is where an INSERT line's values start in head (after the table's name,
	// which may hold parentheses and quotes of its own).
	values int
	cur    *table
	// Inside an INSERT statement's VALUES: depth of parentheses outside strings, the
	// string state, and whether its closing semicolon was seen. MariaDB 10.11's
	// mariadb-dump writes each row on a line of its own, so a statement spans lines
	// (strings never do: their newlines are escaped).
	depth                   int
	inString, escp, stmtEnd bool
	// delimited is true between "DELIMITER ;;" and "DELIMITER ;" (routines, triggers,
	// events): their bodies are free text, never data.
	delimited bool
	err       error
}

type key struct{ db, table string }

type table struct {
	rows int64
	h    hash.Hash
}

type lineKind int

const (
	undecided lineKind = iota
	other
	insert
)

// New returns a digest that records at most maxTables tables (DefaultMaxTables when 0).
func New(maxTables int) *Digest {
	if maxTables <= 0 {
		maxTables = DefaultMaxTables
	}
	return &Digest{maxTables: maxTables, tables: map[key]*table{}}
}

// Write digests p. It never fails: a stream it cannot read is reported by Tables, and
// the dump goes on.
func (d *Digest) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && d.err == nil {
		if d.kind == undecided {
			// Gather the line's start until it can be classified.
			i := bytes.IndexByte(p, '\n')
			take := p
			if i >= 0 {
				take = p[:i]
			}
			room := maxHead - len(d.head)
			if len(take) > room {
				take = take[:room]
			}
			d.head = append(d.head, take...)
			p = p[len(take):]
			ended := i >= 0 && i == len(take)
			if !ended && len(d.head) < maxHead {
				continue // more of the line's start to come
			}
			d.classify(ended)
			if d.kind == insert {
				d.cur.h.Write(d.head)
				d.scan(d.head[d.values:])
			}
			if ended {
				d.endLine()
				p = p[1:]
			}
			continue
		}
		// The rest of a classified line.
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if d.kind == insert {
			d.cur.h.Write(chunk)
			d.scan(chunk)
		}
		p = p[len(chunk):]
		if i >= 0 {
			d.endLine()
			p = p[1:]
		}
	}
	return n, nil
}

// classify decides what the line in head is; ended is true when head is the whole line.
func (d *Digest) classify(ended bool) {
	line := d.head
	d.kind = other
	switch {
	case d.delimited:
		if ended && bytes.Equal(bytes.TrimRight(line, " \r"), []byte("DELIMITER ;")) {
			d.delimited = false
		}
	case ended && bytes.Equal(bytes.TrimRight(line, " \r"), []byte("DELIMITER ;;")):
		d.delimited = true
	case bytes.HasPrefix(line, []byte("USE `")):
		name, _, ok := quoted(line[len("USE "):])
		if !ok {
			d.fail(fmt.Errorf("a USE statement without a well-quoted name"))
			return
		}
		d.db = name
	case bytes.HasPrefix(line, []byte("-- Dumping data for table `")):
		name, _, ok := quoted(line[len("-- Dumping data for table "):])
		if !ok {
			d.fail(fmt.Errorf("a table's data comment without a well-quoted name"))
			return
		}
		d.table(name)
	case bytes.HasPrefix(line, []byte("INSERT INTO `")):
		name, rest, ok := quoted(line[len("INSERT INTO "):])
		// " VALUES (...)" on the line, or " VALUES" and a row per line (MariaDB 10.11).
		values := bytes.Equal(rest, []byte(" VALUES")) || bytes.HasPrefix(rest, []byte(" VALUES "))
		if !ok || !values {
			d.fail(fmt.Errorf("an INSERT statement this digest cannot read"))
			return
		}
		if d.cur = d.table(name); d.cur != nil {
			d.kind, d.values = insert, len(line)-len(rest)
			d.depth, d.inString, d.escp, d.stmtEnd = 0, false, false, false
		}
	}
}

// table is the named table of the current database, made on first sight.
func (d *Digest) table(name string) *table {
	k := key{d.db, name}
	if t := d.tables[k]; t != nil {
		return t
	}
	if len(d.tables) >= d.maxTables {
		d.fail(fmt.Errorf("more than %d tables", d.maxTables))
		return nil
	}
	t := &table{h: sha256.New()}
	d.tables[k] = t
	d.order = append(d.order, k)
	return t
}

// scan counts the rows in a piece of an INSERT statement: each parenthesis opened
// outside a string at depth 0 starts a row. Strings are single-quoted, with backslash
// escapes (mariadb-dump's own quoting). It jumps from one byte that matters to the next.
func (d *Digest) scan(b []byte) {
	for len(b) > 0 {
		if d.escp {
			d.escp = false
			b = b[1:]
			continue
		}
		if d.inString {
			i := bytes.IndexAny(b, `\'`)
			if i < 0 {
				return
			}
			if b[i] == '\\' {
				d.escp = true
			} else {
				d.inString = false
			}
			b = b[i+1:]
			continue
		}
		i := bytes.IndexAny(b, "'();")
		if i < 0 {
			return
		}
		switch b[i] {
		case ';':
			if d.depth == 0 {
				d.stmtEnd = true
			}
		case '\'':
			d.inString = true
		case '(':
			if d.depth == 0 {
				d.cur.rows++
			}
			d.depth++
		case ')':
			d.depth--
		}
		b = b[i+1:]
	}
}

// endLine closes the current line; an INSERT statement not ended yet goes on on the next.
func (d *Digest) endLine() {
	d.head = d.head[:0]
	if d.kind == insert {
		d.cur.h.Write([]byte{'\n'})
		if d.inString || d.depth != 0 {
			d.fail(fmt.Errorf("an INSERT statement ends a line inside a value"))
		}
		if !d.stmtEnd {
			return
		}
	}
	d.kind, d.cur = undecided, nil
}

func (d *Digest) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Tables is the digest of every table seen, sorted by database and table. It fails when
// the stream could not be read to the end of a line, or broke a limit.
func (d *Digest) Tables() ([]Table, error) {
	if d.err == nil && (len(d.head) > 0 || d.kind != undecided) {
		d.fail(errors.New("the dump ends inside a line or an INSERT statement"))
	}
	if d.err != nil {
		return nil, fmt.Errorf("digesting the dump: %w", d.err)
	}
	out := make([]Table, 0, len(d.order))
	for _, k := range d.order {
		t := d.tables[k]
		out = append(out, Table{Database: k.db, Table: k.table, Rows: t.rows, SHA256: hex.EncodeToString(t.h.Sum(nil))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Database != out[j].Database {
			return out[i].Database < out[j].Database
		}
		return out[i].Table < out[j].Table
	})
	return out, nil
}

// QuotedName reads a backtick-quoted name at the start of b (a doubled backtick stands for
// one; 1 to 256 bytes) and returns it and what follows: internal/dumpfilter reads the
// names of the same stream with it.
func QuotedName(b []byte) (name string, rest []byte, ok bool) { return quoted(b) }

// quoted reads a backtick-quoted name at the start of b (a doubled backtick stands for
// one) and returns it and what follows.
func quoted(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '`' {
		return "", nil, false
	}
	var name []byte
	for i := 1; i < len(b); i++ {
		if b[i] != '`' {
			name = append(name, b[i])
			continue
		}
		if i+1 < len(b) && b[i+1] == '`' {
			name = append(name, '`')
			i++
			continue
		}
		if len(name) == 0 || len(name) > 256 {
			return "", nil, false
		}
		return string(name), b[i+1:], true
	}
	return "", nil, false
}

// Compare says how the tables a restored copy holds differ from those the backup
// recorded: the tables whose rows or digests differ, and those on one side only. Empty
// when they are equal.
func Compare(backup, restored []Table) []Difference {
	index := make(map[key]Table, len(restored))
	for _, t := range restored {
		index[key{t.Database, t.Table}] = t
	}
	var out []Difference
	for _, b := range backup {
		k := key{b.Database, b.Table}
		r, ok := index[k]
		delete(index, k)
		switch {
		case !ok:
			out = append(out, Difference{Database: b.Database, Table: b.Table, Reason: "missing from the restored copy"})
		case r.Rows != b.Rows:
			out = append(out, Difference{Database: b.Database, Table: b.Table,
				Reason: fmt.Sprintf("%d rows restored, the backup holds %d", r.Rows, b.Rows)})
		case r.SHA256 != b.SHA256:
			out = append(out, Difference{Database: b.Database, Table: b.Table,
				Reason: fmt.Sprintf("its %d rows differ from the backup's", b.Rows)})
		}
	}
	for _, r := range restored {
		if _, extra := index[key{r.Database, r.Table}]; extra {
			out = append(out, Difference{Database: r.Database, Table: r.Table, Reason: "not in the backup"})
		}
	}
	return out
}

// Difference is one table that differs.
type Difference struct {
	Database, Table, Reason string
}

func (d Difference) String() string { return fmt.Sprintf("%s.%s: %s", d.Database, d.Table, d.Reason) }
