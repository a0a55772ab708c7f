// Package dumpfilter passes through, from a mariadb-dump stream made with --databases,
// only the sections of chosen databases, plus the dump's header and trailer session
// statements, and drops everything else: what restoring some databases of a logical
// backup into a running server feeds the mariadb client. It does no I/O of its own: it is
// an io.Writer in front of another.
//
// mariadb-dump (MariaDB 10.11) writes each database as
//
//	--
//	-- Current Database: `name`
//	--
//
//	CREATE DATABASE /*!32312 IF NOT EXISTS*/ `name` ...;
//
//	USE `name`;
//
// followed by its tables, views, triggers, events and routines; views come last, in a
// second section of the database that starts with the same comment and a USE.
//
// The stream is hostile: its bytes come from the overcloud's database, whose users choose
// names, values, and the bodies of routines, triggers and events, which mariadb-dump
// writes as they are, raw newlines included. A line that merely looks like a section's
// start (inside a string of a procedure's body, a backquoted column name, a comment) must
// not switch sections. So the filter follows the stream as the mariadb client reads it:
// quoted strings and names (with backslash escapes where the client honours them),
// comments, executable comments, and the current delimiter; a section starts only on a
// "-- Current Database:" line at the start of a statement, outside a DELIMITER ;; block.
// Row lines (each row of an INSERT on a line of its own, its newlines escaped) are passed
// or dropped whole, never read but for their last two bytes. Only the start of a line is
// ever buffered (at most maxHead bytes). A stream the filter cannot follow is an error,
// never a guess.
package dumpfilter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
)

// ErrUnfollowable is the error (wrapped, with the line number) for a stream the filter
// cannot follow: not the shape mariadb-dump writes.
var ErrUnfollowable = errors.New("the dump is not a mariadb-dump --databases stream this filter can follow")

// maxHead is the longest line start examined to classify a line at the start of a
// statement: a keyword and one quoted name (64 characters of at most 4 bytes each, every
// backtick doubled), as internal/dumpdigest bounds it.
const maxHead = 640

// Line prefixes the filter classifies.
var (
	currentDatabase = []byte("-- Current Database: ")
	createDatabase  = []byte("CREATE DATABASE /*!32312 IF NOT EXISTS*/ ")
	useDatabase     = []byte("USE ")
	insertInto      = []byte("INSERT INTO ")
	delimiterWord   = []byte("delimiter")
)

// sandboxLine is the first line of a MariaDB 10.11 dump: it puts the client in its sandbox
// mode (no shell, no file access). It holds a client command (a backslash outside a
// string), which the filter refuses anywhere else.
var sandboxLine = regexp.MustCompile(`^/\*M!999999\\- enable the sandbox mode \*/ ?$`)

// headerSet is one of the session statements of a dump's header; trailerSet one of those
// that restore the session's settings at its end.
var (
	headerSet  = regexp.MustCompile(`^/\*!\d{5} SET [A-Za-z0-9_@=, '+:.-]{1,200} \*/;$`)
	trailerSet = regexp.MustCompile(`^/\*!\d{5} SET [A-Z_]{1,64}=@OLD_[A-Z_]{1,64} \*/;$`)
)

// Filter is an io.Writer that writes to another the parts of a dump it lets through.
type Filter struct {
	w      io.Writer
	chosen map[string]bool
	seen   []string
	saw    map[string]bool
	passed int64
	line   int64 // lines read so far (the current line's number - 1)
	out    []byte

	// The section: none yet (the header), or a database's.
	inSection bool
	section   string
	pass      bool
	// expect: the section's first statement is still to come; it must name its database.
	expect bool

	mode     mode
	head     []byte // the start of a line at a statement's start, up to maxHead bytes
	linePass bool   // whether the current line goes through
	rowTail  [2]byte
	rowLen   int

	// outLines counts the lines let through; runs map them to the stream's lines.
	outLines int64
	runs     []lineRun

	lx  lexer
	err error
}

// lineRun is a stretch of lines let through: output line out is the stream's line in, and so on.
type lineRun struct{ out, in int64 }

// maxRuns bounds the line map: a dump's header, trailer and a few sections need a few
// dozen; past it, InputLine says it does not know.
const maxRuns = 10000

type mode int

const (
	lineStart mode = iota // nothing of the current line read yet
	inHead                // gathering the start of a line at a statement's start
	inLine                // the rest of a line, read by the lexer
	inRow                 // a row line of an INSERT, passed or dropped whole
)

// New returns a filter writing to w the header's session statements, the sections of the
// databases named, and the trailer's session statements.
func New(w io.Writer, databases []string) *Filter {
	f := &Filter{w: w, chosen: map[string]bool{}, saw: map[string]bool{}}
	for _, d := range databases {
		f.chosen[d] = true
	}
	f.lx.reset()
	return f
}

// Seen are the chosen databases whose sections the stream held, in the order first seen.
func (f *Filter) Seen() []string { return append([]string(nil), f.seen...) }

// Passed is how many bytes went through.
func (f *Filter) Passed() int64 { return f.passed }

// Err is the first error: the stream's (ErrUnfollowable) or the writer's.
func (f *Filter) Err() error { return f.err }

// Write reads p and writes what goes through to the underlying writer. Once it failed,
// it fails again with the same error.
func (f *Filter) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	for n < len(p) && f.err == nil {
		n += f.step(p[n:])
	}
	if len(f.out) > 0 && f.err == nil {
		k, err := f.w.Write(f.out)
		f.passed += int64(k)
		if err == nil && k < len(f.out) {
			err = io.ErrShortWrite
		}
		if err != nil {
			f.err = err
		}
		f.out = f.out[:0]
	}
	if f.err != nil {
		return n, f.err
	}
	return len(p), nil
}

// Close says whether the stream ended where a dump ends: after a whole line, outside any
// statement, string or comment, with the delimiter back to ";". It writes nothing.
func (f *Filter) Close() error {
	if f.err != nil {
		return f.err
	}
	switch {
	case f.mode != lineStart:
		f.fail("the dump ends inside a line")
	case !f.lx.clean() || !f.lx.empty:
		f.fail("the dump ends inside a statement, a string or a comment")
	case f.lx.delim != ";":
		f.fail("the dump ends inside a DELIMITER ;; block")
	}
	return f.err
}

// step reads from the start of p and returns how many bytes it used.
func (f *Filter) step(p []byte) int {
	switch f.mode {
	case lineStart:
		f.startLine(p[0])
		return 0
	case inHead:
		return f.stepHead(p)
	case inLine:
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		if f.linePass {
			f.out = append(f.out, chunk...)
		}
		f.lexAll(chunk)
		if i >= 0 {
			f.mode = lineStart
		}
		return len(chunk)
	}
	return f.stepRow(p)
}

// startLine decides how the line starting with c is read.
func (f *Filter) startLine(c byte) {
	f.line++
	switch {
	case f.lx.clean() && f.lx.empty:
		f.mode, f.head = inHead, f.head[:0]
	case f.lx.clean() && f.lx.insert && c == '(':
		f.mode, f.rowLen, f.linePass = inRow, 0, f.pass
		f.noteLine()
	case !f.inSection:
		f.fail("a statement of the header spans lines")
	default:
		f.mode, f.linePass = inLine, f.pass
		f.noteLine()
	}
}

// stepHead gathers the start of a line at a statement's start, and classifies it.
func (f *Filter) stepHead(p []byte) int {
	i := bytes.IndexByte(p, '\n')
	take := p
	if i >= 0 {
		take = p[:i]
	}
	take = take[:min(len(take), maxHead-len(f.head))]
	f.head = append(f.head, take...)
	used := len(take)
	ended := i >= 0 && i == len(take)
	if !ended && len(f.head) < maxHead {
		return used // more of the line's start to come
	}
	command := f.classify(ended)
	if f.err != nil {
		return used
	}
	f.noteLine()
	if f.linePass {
		f.out = append(f.out, f.head...)
	}
	if !command { // a DELIMITER line is the client's command, not SQL
		f.lexAll(f.head)
	}
	if !ended {
		f.mode = inLine
		return used
	}
	if f.linePass {
		f.out = append(f.out, '\n')
	}
	if !command {
		f.lexAll([]byte{'\n'})
	}
	f.mode = lineStart
	return used + 1
}

// stepRow passes or drops a row line whole, and reads its last two bytes: ")," goes on,
// ");" ends the INSERT.
func (f *Filter) stepRow(p []byte) int {
	i := bytes.IndexByte(p, '\n')
	chunk := p
	if i >= 0 {
		chunk = p[:i]
	}
	if f.linePass {
		f.out = append(f.out, chunk...)
	}
	for _, c := range chunk[max(0, len(chunk)-2):] {
		f.rowTail[0], f.rowTail[1] = f.rowTail[1], c
		f.rowLen++
	}
	if i < 0 {
		return len(chunk)
	}
	if f.linePass {
		f.out = append(f.out, '\n')
	}
	switch {
	case f.rowLen >= 2 && f.rowTail == [2]byte{')', ','}:
	case f.rowLen >= 2 && f.rowTail == [2]byte{')', ';'}:
		f.lx.endStatement()
	default:
		f.fail("a row line of an INSERT that does not end with \"),\" or \");\"")
	}
	f.mode = lineStart
	return len(chunk) + 1
}

// noteLine counts the current line in the output when it goes through.
func (f *Filter) noteLine() {
	if !f.linePass {
		return
	}
	f.outLines++
	if n := len(f.runs); n > 0 && f.runs[n-1].in+(f.outLines-f.runs[n-1].out) == f.line {
		return
	}
	if len(f.runs) < maxRuns {
		f.runs = append(f.runs, lineRun{out: f.outLines, in: f.line})
	}
}

// InputLine is the line of the stream that line n (1-based) of the output was, 0 when
// unknown: how a client's "at line n" is said of the dump.
func (f *Filter) InputLine(n int64) int64 {
	i := sort.Search(len(f.runs), func(i int) bool { return f.runs[i].out > n }) - 1
	if n < 1 || n > f.outLines || i < 0 || i == maxRuns-1 && len(f.runs) == maxRuns {
		return 0
	}
	return f.runs[i].in + n - f.runs[i].out
}

func (f *Filter) lexAll(b []byte) {
	if f.err != nil {
		return
	}
	for _, c := range b {
		if err := f.lx.feed(c); err != nil {
			f.fail(err.Error())
			return
		}
	}
}

// classify decides what the line at a statement's start in head is (ended: head is the
// whole line), switches sections, and sets whether the line goes through. It says whether
// the line is a client command (DELIMITER, the sandbox line), which the lexer does not read.
func (f *Filter) classify(ended bool) (command bool) {
	line := f.head
	f.linePass = f.pass
	switch {
	case len(line) > len(delimiterWord) && bytes.EqualFold(line[:len(delimiterWord)], delimiterWord) &&
		(line[len(delimiterWord)] == ' ' || line[len(delimiterWord)] == '\t'):
		f.delimiter(line, ended)
		return true
	case bytes.HasPrefix(line, currentDatabase):
		f.startSection(line, ended)
		return false
	case !f.inSection:
		return f.header(line, ended)
	case isComment(line) || ended && len(bytes.TrimLeft(line, " \t\r")) == 0:
		return false
	case bytes.HasPrefix(line, useDatabase):
		f.use(line)
	case f.expect:
		if name, _, ok := dumpdigest.QuotedName(bytes.TrimPrefix(line, createDatabase)); !bytes.HasPrefix(line, createDatabase) ||
			!ok || name != f.section {
			f.fail("a database's section that does not start with its CREATE DATABASE or USE")
		}
	case bytes.HasPrefix(line, insertInto):
		f.lx.insert = true
	case !f.pass && ended && f.lx.delim == ";" && trailerSet.Match(line):
		f.linePass = true // the trailer after an unchosen last database
	}
	f.expect = false
	return false
}

// use reads a USE statement: of the section's own database only, which the client is
// then in.
func (f *Filter) use(line []byte) {
	name, rest, ok := dumpdigest.QuotedName(line[len(useDatabase):])
	switch {
	case !ok || !bytes.Equal(rest, []byte(";")):
		f.fail("a USE statement without one well-quoted name")
	case name != f.section:
		f.fail("a USE statement naming another database than its section's")
	case f.lx.delim != ";":
		f.fail("a USE statement inside a DELIMITER ;; block")
	}
}

// delimiter reads a DELIMITER line: mariadb-dump's two, nothing else.
func (f *Filter) delimiter(line []byte, ended bool) {
	switch {
	case !ended:
		f.fail("a DELIMITER line too long")
	case !f.inSection:
		f.fail("a DELIMITER line before the first database")
	case string(line) == "DELIMITER ;;":
		f.lx.delim = ";;"
	case string(line) == "DELIMITER ;":
		f.lx.delim = ";"
	default:
		f.fail("a DELIMITER other than \";;\" or \";\"")
	}
}

// startSection reads a "-- Current Database:" line: the section of that database starts.
func (f *Filter) startSection(line []byte, ended bool) {
	name, rest, ok := dumpdigest.QuotedName(line[len(currentDatabase):])
	switch {
	case !ended || !ok || len(rest) != 0:
		f.fail("a \"-- Current Database:\" line without one well-quoted name")
		return
	case f.lx.delim != ";":
		f.fail("a \"-- Current Database:\" line inside a DELIMITER ;; block")
		return
	}
	f.inSection, f.section, f.pass, f.expect = true, name, f.chosen[name], true
	if f.pass && !f.saw[name] {
		f.saw[name] = true
		f.seen = append(f.seen, name)
	}
	f.linePass = f.pass
}

// header reads a line before the first section: comments and blank lines (dropped), the
// sandbox line and the session statements (passed), nothing else.
func (f *Filter) header(line []byte, ended bool) (command bool) {
	f.linePass = false
	switch {
	case isComment(line) || ended && len(bytes.TrimLeft(line, " \t\r")) == 0:
	case ended && sandboxLine.Match(line):
		f.linePass = true
		return true // its backslash is the client's command, not SQL
	case ended && headerSet.Match(line):
		f.linePass = true
	default:
		f.fail("a statement before the first database that is not one of a dump's session statements")
	}
	return false
}

// isComment says whether a line at a statement's start is a comment to its end: "#", or
// "--" followed by a space, a control character or nothing.
func isComment(line []byte) bool {
	if len(line) > 0 && line[0] == '#' {
		return true
	}
	return bytes.HasPrefix(line, []byte("--")) && (len(line) == 2 || commentSpace(line[2]))
}

// commentSpace says whether c after "--" makes a comment, as for the client: a space
// (my_isspace) or the end of the line (a NUL ends the client's line buffer too).
func commentSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0:
		return true
	}
	return false
}

func (f *Filter) fail(what string) {
	if f.err == nil {
		f.err = fmt.Errorf("%w: line %d: %s", ErrUnfollowable, f.line, what)
	}
}

// lexer follows the stream as the mariadb client splits it into statements (client/mysql.cc,
// add_line): strings in single or double quotes (a backslash escapes the next byte), names
// in backticks (no escapes), comments ("#" and "-- " to the line's end, "/* */"),
// executable comments ("/*!" and "/*M!", read as SQL), and the delimiter. Byte by byte:
// UTF-8's multibyte characters hold no ASCII byte, so the client's multibyte skipping
// changes nothing.
type lexer struct {
	quote       byte // the open quote: ', " or `; 0 outside
	escaped     bool // the previous byte was a backslash in a string
	ml          bool // inside /* ... */
	star        bool // the previous byte inside /* */ was '*'
	lineComment bool // inside a comment to the line's end
	pend        pending
	exec        bool // inside /*! ... */
	delim       string
	matched     int  // bytes of the delimiter matched so far
	empty       bool // the statement so far holds only blanks and comments
	insert      bool // the statement is an INSERT
}

type pending int

const (
	noPending   pending = iota
	pDash               // "-"
	pDash2              // "--"
	pSlash              // "/"
	pSlashStar          // "/*"
	pSlashStarM         // "/*M"
	pStar               // "*" inside /*! */
)

func (l *lexer) reset() { *l = lexer{delim: ";", empty: true} }

// clean says whether the lexer is outside any string, comment or pending token.
func (l *lexer) clean() bool {
	return l.quote == 0 && !l.escaped && !l.ml && !l.lineComment && l.pend == noPending && l.matched == 0
}

func (l *lexer) endStatement() {
	l.empty, l.insert, l.matched = true, false, 0
}

// content marks the statement as holding something.
func (l *lexer) content() { l.empty = false }

func (l *lexer) feed(c byte) error {
	if l.inside(c) {
		return nil
	}
	if done, err := l.resolve(c); done || err != nil {
		return err
	}
	return l.top(c)
}

// inside reads c inside a comment, after an escaping backslash or inside quotes, and says
// whether it did.
func (l *lexer) inside(c byte) bool {
	switch {
	case l.lineComment:
		l.lineComment = c != '\n'
	case l.ml:
		if l.star && c == '/' {
			l.ml, l.star = false, false
		} else {
			l.star = c == '*'
		}
	case l.escaped:
		l.escaped = false
	case l.quote != 0:
		switch {
		case c == '\\' && l.quote != '`':
			l.escaped = true
		case c == l.quote:
			l.quote = 0
		}
	default:
		return false
	}
	return true
}

// resolve settles a pending token with c, and says whether c was used.
func (l *lexer) resolve(c byte) (bool, error) {
	p := l.pend
	l.pend = noPending
	switch p {
	case pDash:
		if c == '-' {
			l.pend = pDash2
			return true, nil
		}
		l.content()
	case pDash2:
		if commentSpace(c) {
			l.lineComment = c != '\n'
			return true, nil
		}
		l.content() // the first '-'; the second may start "--" with this byte
		l.pend = pDash
		return true, l.feed(c)
	case pSlash:
		if c == '*' {
			l.pend = pSlashStar
			return true, nil
		}
		l.content()
	case pSlashStar, pSlashStarM:
		switch {
		case c == '!':
			l.content()
			l.exec = true
			return true, nil
		case c == 'M' && p == pSlashStar:
			l.pend = pSlashStarM
			return true, nil
		}
		l.ml = true
		return true, l.feed(c)
	case pStar:
		if c == '/' {
			l.exec = false
			return true, nil
		}
	}
	return false, nil
}

// top reads c outside strings and comments.
func (l *lexer) top(c byte) error {
	if c == l.delim[l.matched] {
		l.matched++
		if l.matched == len(l.delim) {
			l.matched = 0
			if l.exec {
				return errors.New("a statement ends inside an executable comment")
			}
			l.endStatement()
		}
		return nil
	}
	if l.matched > 0 {
		l.matched = 0
		l.content()
	}
	switch c {
	case '\\':
		return errors.New("a client command (a backslash outside a string)")
	case '\'', '"', '`':
		l.quote = c
		l.content()
	case '#':
		l.lineComment = true
	case '-':
		l.pend = pDash
	case '/':
		l.pend = pSlash
	case '*':
		l.content()
		if l.exec {
			l.pend = pStar
		}
	case ' ', '\t', '\n', '\r', '\v', '\f':
	default:
		l.content()
	}
	return nil
}
