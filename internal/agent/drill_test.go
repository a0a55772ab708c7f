package agent

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestClientError: the client's error keeps its code and line, never the dump's text.
func TestClientError(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"--------------\nINSERT INTO `t` VALUES\n(1,'secret'\n--------------\n\nERROR 1064 (42000) at line 77: You have an error in your SQL syntax; check the manual ... near ''secret'' at line 2\n",
			": server error 1064 (42000) at line 77 of the dump"},
		{"ERROR 2002 (HY000): Can't connect to local server through socket '/x'\n", ": server error 2002 (HY000)"},
		{"something else\n", ""},
	} {
		if got := clientError([]byte(tc.out)); got != tc.want {
			t.Errorf("clientError(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

// TestCheckVerdict: CHECK TABLE's rows as MariaDB 10.11 gave them (testdata/checktable,
// the mariadb client's --batch output): an InnoDB table OK, a MEMORY table its engine
// does not check, a MyISAM table whose index file was overwritten, a table that does not
// exist.
func TestCheckVerdict(t *testing.T) {
	for file, want := range map[string]string{"ok.tsv": "", "memory.tsv": notChecked, "corrupt.tsv": "Corrupt", "missing.tsv": "Operation failed"} {
		data, err := os.ReadFile(filepath.Join("testdata", "checktable", file)) //nolint:gosec // G304: test data
		if err != nil {
			t.Fatal(err)
		}
		var rows []checkRow
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n")[1:] {
			f := strings.Split(line, "\t")
			if len(f) != 4 {
				t.Fatalf("%s: %q", file, line)
			}
			rows = append(rows, checkRow{Table: f[0], Op: f[1], MsgType: f[2], MsgText: f[3]})
		}
		if got := checkVerdict(rows); got != want {
			t.Errorf("%s: %q, want %q", file, got, want)
		}
	}
}

// TestScratchSpace: the space a restore needs, and the free space the drill takes: the
// file system's, or the limit when smaller.
func TestScratchSpace(t *testing.T) {
	m := &Manifest{Files: []FileInfo{{Name: "databases.sql.zst", UncompressedBytes: 300 << 20}, {Name: "users.sql.zst", UncompressedBytes: 1 << 20}}}
	if got, want := scratchNeeded(m), int64(2*301+200)<<20; got != want {
		t.Errorf("scratchNeeded = %d, want %d", got, want)
	}
	m.Files[0].UncompressedBytes = math.MaxInt64 // saturates, never wraps
	if got := scratchNeeded(m); got < 1<<62 {
		t.Errorf("scratchNeeded of a huge backup = %d", got)
	}
	dir := t.TempDir()
	fsFree, limited, err := scratchFree(dir, 0)
	if err != nil || limited || fsFree <= 0 {
		t.Fatalf("scratchFree(no limit) = %d, %v, %v", fsFree, limited, err)
	}
	if free, limited, _ := scratchFree(dir, 1<<20); free != 1<<20 || !limited {
		t.Errorf("scratchFree(1 MiB limit) = %d, %v", free, limited)
	}
	if free, limited, _ := scratchFree(dir, math.MaxInt64); free != fsFree || limited {
		t.Errorf("scratchFree(a limit above the free space) = %d, %v, want %d", free, limited, fsFree)
	}
	msg := tooLargeMessage(802<<20, 1<<20, true)
	if want := "the restore needs about 802 MiB of scratch space (2 x the backup's uncompressed size, plus 200 MiB), " +
		"1 MiB is the scratch directory's size limit"; msg != want {
		t.Errorf("tooLargeMessage = %q, want %q", msg, want)
	}
}

// TestErrorCodes: what reaches the result from a failed program's output is its error
// codes, never its text (testdata/drill, as mariadbd and mariadb-dump wrote them: an
// unknown option it quotes, a datadir it may not write, a database name with a backtick
// and angle brackets).
func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		file      string
		serverLog bool
		want      string
	}{
		{"server-unknown-option.log", true, ": 2 [ERROR] lines without an error code"},
		{"server-permission-denied.log", true, ": error codes 13"},
		{"dump-unknown-database.txt", false, ": error codes 1049"},
		{"prepare-corrupted-page.log", true, ": 1 [ERROR] lines without an error code (InnoDB reports corruption: a damaged page or file in the backup)"},
	} {
		out, err := os.ReadFile(filepath.Join("testdata", "drill", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := errorCodes(out, tc.serverLog); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.file, got, tc.want)
		}
	}
}

// hostile is a table name as a hostile dump may write one: quotes, backslashes,
// control characters, HTML-escaped runes, invalid UTF-8, a line separator.
const hostile = "a\"b\\c\x00\x1b[31m<script>&\xff\xfe\u2028" + "\n' OR 1=1 -- "

// TestBounded: every string bounded is printable, valid UTF-8, and encoding/json writes
// it in at most the bound, however hostile its bytes.
func TestBounded(t *testing.T) {
	for _, n := range []int{10, 64, 300, 1024} {
		for _, s := range []string{"", "plain", strings.Repeat(hostile, 200), strings.Repeat("<", 5000), strings.Repeat("é", 3000)} {
			got := bounded(s, n)
			b, _ := json.Marshal(got)
			if len(b)-2 > n || jsonLen(got) != len(b)-2 {
				t.Errorf("bounded(%.20q..., %d): %d bytes of JSON (jsonLen %d)", s, n, len(b)-2, jsonLen(got))
			}
			if !utf8.ValidString(got) || strings.ContainsFunc(got, func(r rune) bool { return !unicode.IsPrint(r) }) {
				t.Errorf("bounded(%.20q..., %d) = %q: not printable", s, n, got)
			}
		}
	}
	if got := bounded("10.11.14-MariaDB", maxVersion); got != "10.11.14-MariaDB" {
		t.Errorf("a short string changed: %q", got)
	}
}

// TestDrillResultBounds: the largest result a drill can give (every string at its
// longest, 30 mismatches of hostile names) stays under 3 KiB of JSON, and so does the
// largest error; mismatches are at most 20 named, then how many more, each at most 300
// bytes.
func TestDrillResultBounds(t *testing.T) {
	name := strings.Repeat(hostile, 20)
	diffs := make([]string, 0, 30)
	for range 30 {
		diffs = append(diffs, quoteTable(name, name)+": 123456789 rows restored, the backup holds 123456790")
	}
	r := DrillResult{Reason: ReasonVersionMismatch, Message: strings.Repeat(hostile, 500), Tables: math.MaxInt, Rows: math.MaxInt64,
		Users: math.MaxInt, Checked: math.MaxInt, Mismatches: listed(diffs), ServerVersion: strings.Repeat(hostile, 50),
		SourceVersion: strings.Repeat(hostile, 50), Seconds: math.MaxFloat64}
	r.bound()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 3<<10 {
		t.Errorf("the largest result is %d bytes of JSON, want at most 3 KiB", len(b))
	}
	if n := len(r.Mismatches); n < 2 || n > maxListed+1 || !strings.HasPrefix(r.Mismatches[n-1], "and ") {
		t.Errorf("%d mismatches, the last %q", n, r.Mismatches[n-1])
	}
	for _, m := range r.Mismatches {
		if jsonLen(m) > maxMismatch {
			t.Errorf("a mismatch of %d bytes", jsonLen(m))
		}
	}
	if jsonLen(r.Message) > maxMessage || jsonLen(r.ServerVersion) > maxVersion || jsonLen(r.SourceVersion) > maxVersion {
		t.Errorf("message %d, versions %d and %d bytes", jsonLen(r.Message), jsonLen(r.ServerVersion), jsonLen(r.SourceVersion))
	}
	if got := listed([]string{"a", "b"}); len(got) != 2 {
		t.Errorf("listed of two = %q", got)
	}
	if got := listed(make([]string, 25)); len(got) != maxListed+1 || got[maxListed] != "and 5 more" {
		t.Errorf("listed of 25 = %q", got)
	}

	// A failed drill: an error, as the agent's command writes it, in a result with the
	// versions only.
	e := DrillResult{ServerVersion: r.ServerVersion, SourceVersion: r.SourceVersion, Tables: math.MaxInt, Rows: math.MaxInt64,
		Seconds: math.MaxFloat64, Error: "drill /backups/openstack/nightly-29413722: " + boundedError{errors.New(strings.Repeat(hostile, 500))}.Error()}
	if b, _ := json.Marshal(e); len(b) > 3<<10 {
		t.Errorf("the largest failed result is %d bytes of JSON, want at most 3 KiB", len(b))
	}
}

// TestVersionVerdict: a scratch server older than the backup's source (by major.minor)
// is refused; a newer one is allowed and said; the same one says nothing.
func TestVersionVerdict(t *testing.T) {
	for _, tc := range []struct {
		server, source string
		older          bool
		msg            string
	}{
		{"10.11.14-MariaDB-0+deb12u2", "10.11.6-MariaDB-log", false, ""},
		{"10.11.14-MariaDB-0+deb12u2", "11.4.2-MariaDB", true, `the scratch server "10.11.14-MariaDB-0+deb12u2" is older than ` +
			`the backup's source "11.4.2-MariaDB": a dump of a newer server may not load into an older one; drill it with MariaDB 11.4 or newer`},
		{"10.11.14-MariaDB", "10.12.0", true, "drill it with MariaDB 10.12 or newer"},
		{"10.11.14-MariaDB", "9.99.1", false, `the scratch server "10.11.14-MariaDB" is newer than the backup's source "9.99.1"`},
		{"11.4.2-MariaDB", "10.11.14-MariaDB", false, "is newer than"},
		{"10.11.14-MariaDB", "", false, `the backup's source server version is unknown ("")`},
		{"10.11.14-MariaDB", "x\x1b[2J" + strings.Repeat("9", 100), false, `unknown ("x\x1b[2J999`},
		{"", "10.11.6", false, "the scratch server's version is unknown"},
	} {
		older, msg := versionVerdict(tc.server, tc.source)
		if older != tc.older || (tc.msg == "" && msg != "") || !strings.Contains(msg, tc.msg) {
			t.Errorf("versionVerdict(%q, %q) = %v, %q; want %v, %q", tc.server, tc.source, older, msg, tc.older, tc.msg)
		}
	}
}
