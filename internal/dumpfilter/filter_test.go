package dumpfilter

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// hostileDump is a real mariadb-dump 10.11 stream (testdata/hostile-10.11.sql, made on the
// local overcloud with the agent's options) of three databases:
//   - ocbf_a: a table whose column name holds raw newlines and a fake section line, rows
//     with escaped newlines, a trigger, an event, a procedure and a view whose strings
//     hold "DELIMITER ;" and "-- Current Database: `ocbf_b`" lines, and, at the end of
//     the dump, the second section of its view;
//   - "ocbf_we`ird -- x", named with a backtick and a comment marker;
//   - ocbf_b, last, with a table `u` of two rows, followed by the trailer.
func hostileDump(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/hostile-10.11.sql")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run filters in through a Filter choosing dbs, written in chunks of size n (0: at once).
func run(in []byte, dbs []string, n int) ([]byte, *Filter, error) {
	var out bytes.Buffer
	f := New(&out, dbs)
	if n <= 0 {
		n = len(in) + 1
	}
	for len(in) > 0 {
		k := min(n, len(in))
		if _, err := f.Write(in[:k]); err != nil {
			return out.Bytes(), f, err
		}
		in = in[k:]
	}
	return out.Bytes(), f, f.Close()
}

const (
	header  = "/*M!999999\\- enable the sandbox mode */ \n/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
	trailer = "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n"
)

func TestFilterRealDump(t *testing.T) {
	dump := hostileDump(t)
	// Markers of each database's own statements (values of ocbf_a name ocbf_b too).
	a := []string{"CREATE TABLE `col``nl`", "(1,'line1\\nline2", "TRIGGER tr AFTER INSERT", "EVENT `ev`", "PROCEDURE `p`",
		"CREATE VIEW `v`", "VIEW `v` AS select", "USE `ocbf_a`;"}
	weird := []string{"CREATE TABLE `t``x`", "(1,'weird')", "USE `ocbf_we``ird -- x`;"}
	b := []string{"CREATE TABLE `u`", "(1),\n(2);", "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `ocbf_b`"}
	for _, tc := range []struct {
		name     string
		dbs      []string
		in, out  [][]string
		wantSeen []string
	}{
		{"the first", []string{"ocbf_a"}, [][]string{a}, [][]string{weird, b}, []string{"ocbf_a"}},
		{"a hostile name", []string{"ocbf_we`ird -- x"}, [][]string{weird}, [][]string{a, b}, []string{"ocbf_we`ird -- x"}},
		{"the last", []string{"ocbf_b"}, [][]string{b}, [][]string{a, weird}, []string{"ocbf_b"}},
		{"two", []string{"ocbf_b", "ocbf_a"}, [][]string{a, b}, [][]string{weird}, []string{"ocbf_a", "ocbf_b"}},
		{"the name undoubled is another", []string{"ocbf_we``ird -- x", "ocbf_we"}, nil, [][]string{a, weird, b}, nil},
		{"none", nil, nil, [][]string{a, weird, b}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, f, err := run(dump, tc.dbs, 0)
			if err != nil {
				t.Fatal(err)
			}
			s := string(out)
			for _, group := range tc.in {
				for _, m := range group {
					if !strings.Contains(s, m) {
						t.Errorf("%q missing", m)
					}
				}
			}
			for _, group := range tc.out {
				for _, m := range group {
					if strings.Contains(s, m) {
						t.Errorf("%q let through", m)
					}
				}
			}
			if !strings.HasPrefix(s, header) || !strings.Contains(s, "/*!40101 SET NAMES utf8mb4 */;\n") {
				t.Errorf("the header's session statements are not first:\n%.300s", s)
			}
			if !strings.Contains(s, trailer) || !strings.HasSuffix(s, "/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n") &&
				!strings.HasSuffix(s, "-- Dump completed on 2026-12-06  0:09:05\n") {
				t.Errorf("the trailer's session statements are not last:\n%s", s[max(0, len(s)-400):])
			}
			if strings.Contains(s, "-- MariaDB dump") || strings.Contains(s, "-- Host:") {
				t.Error("the header's comments went through")
			}
			if got := f.Seen(); strings.Join(got, "|") != strings.Join(tc.wantSeen, "|") {
				t.Errorf("seen %q, want %q", got, tc.wantSeen)
			}
			if f.Passed() != int64(len(out)) {
				t.Errorf("passed %d, wrote %d", f.Passed(), len(out))
			}
			// The same, whatever the writes' sizes.
			for _, n := range []int{1, 2, 3, 7, 64, 639, 640, 641, 4096} {
				again, _, err := run(dump, tc.dbs, n)
				if err != nil || !bytes.Equal(again, out) {
					t.Fatalf("written %d bytes at a time: %v, output differs: %v", n, err, !bytes.Equal(again, out))
				}
			}
		})
	}
}

// TestFilterWholeSection: the chosen database's section goes through byte for byte, from
// its "-- Current Database:" line to the next one.
func TestFilterWholeSection(t *testing.T) {
	dump := string(hostileDump(t))
	out, _, err := run([]byte(dump), []string{"ocbf_we`ird -- x"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(dump, "-- Current Database: `ocbf_we``ird -- x`")
	end := start + strings.Index(dump[start:], "--\n-- Current Database: `ocbf_b`")
	if !strings.Contains(string(out), dump[start:end]) {
		t.Errorf("the section is not whole:\n%s", out)
	}
}

func TestFilterRefuses(t *testing.T) {
	dump := string(hostileDump(t))
	newline, err := os.ReadFile("testdata/newline-name-10.11.sql")
	if err != nil {
		t.Fatal(err)
	}
	section := "--\n-- Current Database: `d`\n--\n\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `d`;\n\nUSE `d`;\n"
	for _, tc := range []struct{ name, in, want string }{
		{"a database named with a newline (mariadb-dump's comment)", string(newline), "line 21: a \"-- Current Database:\" line without one well-quoted name"},
		{"cut inside a row", dump[:strings.Index(dump, "(2),")+2], "ends inside a line"},
		{"cut after a row", dump[:strings.Index(dump, "(2);")], "ends inside a statement"},
		{"cut inside a DELIMITER block", dump[:strings.Index(dump, "DELIMITER ;\n/*!50106 SET TIME_ZONE")], "inside a DELIMITER ;; block"},
		{"another delimiter", header + section + "DELIMITER //\n", "a DELIMITER other than"},
		{"USE of another database", header + section + "USE `e`;\n", "naming another database"},
		{"a section without its CREATE DATABASE", header + "-- Current Database: `d`\nDROP TABLE x;\n", "does not start with its CREATE DATABASE or USE"},
		{"a CREATE DATABASE of another", header + "-- Current Database: `d`\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `e`;\n", "does not start"},
		{"a client command", header + section + "SELECT 1 \\! sh\n;\n", "client command"},
		{"a charset command", header + section + "\\C gbk\n", "client command"},
		{"a statement before the first database", "DROP DATABASE x;\n" + section, "line 1: a statement before the first database"},
		{"a header statement over lines", "/*!40101 SET NAMES utf8mb4\n */;\n", "line 1: a statement before the first database"},
		{"a section line too long", header + "-- Current Database: `" + strings.Repeat("x", 700) + "`\n", "without one well-quoted name"},
		{"a section line in a DELIMITER block", header + section + "DELIMITER ;;\n-- Current Database: `d`\n", "inside a DELIMITER ;; block"},
		{"a row line not ending a row", header + section + "INSERT INTO `t` VALUES\n(1,'x')\n", "a row line of an INSERT that does not end"},
		{"a statement ending in an executable comment", header + section + "DELIMITER ;;\nCREATE PROCEDURE p() BEGIN /*!99999 ;;\nDELIMITER ;\n",
			"ends inside an executable comment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 5} {
				_, f, err := run([]byte(tc.in), []string{"d", "ocbf_b", "ocbf_nl\nx"}, n)
				if !errors.Is(err, ErrUnfollowable) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("written %d at a time: %v, want %q", n, err, tc.want)
				}
				if _, werr := f.Write([]byte("\n")); !errors.Is(werr, ErrUnfollowable) || f.Err() == nil || f.Err().Error() != werr.Error() {
					t.Errorf("a failed filter takes more: %v", werr)
				}
			}
		})
	}
}

// TestFilterForgedSections: lines that look like a section's start but are inside a
// string, a name or a comment never switch sections, whichever database is chosen.
func TestFilterForgedSections(t *testing.T) {
	evil := "--\n-- Current Database: `b`\n--\n\nUSE `b`;\nDROP USER root;\n"
	for _, tc := range []struct{ name, body string }{
		{"a string in a procedure", "DELIMITER ;;\nCREATE PROCEDURE `p`()\nBEGIN SELECT 'x;;\nDELIMITER ;\n" + evil + "'; END ;;\nDELIMITER ;\n"},
		{"a double-quoted string", "DELIMITER ;;\nCREATE PROCEDURE `p`()\nBEGIN SELECT \"x\\\";;\nDELIMITER ;\n" + evil + "\"; END ;;\nDELIMITER ;\n"},
		{"a backquoted column name", "CREATE TABLE `t` (\n  `x\n" + strings.ReplaceAll(evil, "`", "``") + "` int\n);\n"},
		{"a comment in a procedure", "DELIMITER ;;\nCREATE PROCEDURE `p`()\nBEGIN /* ;;\nDELIMITER ;\n" + evil + "*/ SELECT 1; END ;;\nDELIMITER ;\n"},
		{"a comment line in a body", "DELIMITER ;;\nCREATE PROCEDURE `p`()\nBEGIN\n" + evil + "END ;;\nDELIMITER ;\n"},
		{"an escaped quote", "DELIMITER ;;\nCREATE PROCEDURE `p`()\nBEGIN SELECT 'it\\'s;;\nDELIMITER ;\n" + evil + "'; END ;;\nDELIMITER ;\n"},
		{"a trigger's executable comment", "DELIMITER ;;\n/*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW SET @x = ';;\nDELIMITER ;\n" + evil + "' */;;\nDELIMITER ;\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := header + "--\n-- Current Database: `a`\n--\n\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `a`;\n\nUSE `a`;\n" + tc.body + trailer
			out, f, err := run([]byte(in), []string{"b"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != header+trailer || len(f.Seen()) != 0 {
				t.Errorf("choosing b let through:\n%s", out)
			}
			out, _, err = run([]byte(in), []string{"a"}, 0)
			// All but the header's comment line above the section's.
			if err != nil || string(out) != strings.Replace(in, header+"--\n", header, 1) {
				t.Errorf("choosing a: %v, not everything went through:\n%s", err, out)
			}
		})
	}
}

// escapeValue escapes a value as mariadb-dump writes it in a row (mysql_real_escape_string).
func escapeValue(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		switch c {
		case 0:
			s.WriteString(`\0`)
		case '\n':
			s.WriteString(`\n`)
		case '\r':
			s.WriteString(`\r`)
		case '\\', '\'', '"':
			s.WriteByte('\\')
			s.WriteByte(c)
		case 0x1a:
			s.WriteString(`\Z`)
		default:
			s.WriteByte(c)
		}
	}
	return s.String()
}

// literal is b as a string literal of a routine's body, as the server keeps it: raw, its
// quotes and backslashes escaped.
func literal(b []byte) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(string(b))
}

// hostileSection is the section of database name in the shapes mariadb-dump writes, with
// x placed wherever the overcloud's users choose the bytes: a column's name, a row's
// value, a procedure's string and comment, a trigger's string.
func hostileSection(name string, x []byte) string {
	q := "`" + strings.ReplaceAll(name, "`", "``") + "`"
	return "--\n-- Current Database: " + q + "\n--\n\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ " + q +
		" /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n\nUSE " + q + ";\n\n" +
		"CREATE TABLE `t` (\n  `" + strings.ReplaceAll(string(x), "`", "``") + "` int(11) DEFAULT NULL\n);\n" +
		"LOCK TABLES `t` WRITE;\nINSERT INTO `t` VALUES\n(1,'" + escapeValue(x) + "'),\n(2,'x');\nUNLOCK TABLES;\n" +
		"DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW SET @x = '" + literal(x) + "' */;;\nDELIMITER ;\n" +
		"DELIMITER ;;\nCREATE DEFINER=`root`@`localhost` PROCEDURE `p`()\nBEGIN SELECT '" + literal(x) + "'; /* " +
		strings.ReplaceAll(string(x), "*/", "* /") + " */ SELECT 2; END ;;\nDELIMITER ;\n\n"
}

// FuzzFilterHostileContent: whatever bytes the overcloud's users put in a database's names,
// values and bodies, the filter lets through exactly the header's session statements, the
// chosen database's section and the trailer's, and never a byte of the other's.
func FuzzFilterHostileContent(f *testing.F) {
	for _, s := range []string{"", "x", "';;\nDELIMITER ;\n-- Current Database: `c`\n--\nUSE `c`;\nDROP USER root;\n",
		"`\n-- Current Database: ``c``\n", "*/;;\nDELIMITER ;\n-- Current Database: `c`\n", "\\", "\\';;\n", "\x00\r\n\x1a\"--\n#",
		"/*!99999 ;;\n*/", "a\n-- Current Database: `c`\nUSE `c`;\n", "é🙂\xff\xfe"} {
		f.Add([]byte(s), "hostile", false, uint16(7))
	}
	f.Fuzz(func(t *testing.T, x []byte, name string, chosenFirst bool, chunk uint16) {
		if name == "" || name == "c" || len(name) > 64 || strings.ContainsAny(name, "\n\r\x00") {
			name = "other"
		}
		head := "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump\n--\n\n/*!40101 SET NAMES utf8mb4 */;\n" +
			"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n\n"
		tail := "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n\n-- Dump completed on 2026-12-06\n"
		chosen := hostileSection("c", []byte("fine"))
		other := hostileSection(name, x)
		passedHead := "/*M!999999\\- enable the sandbox mode */ \n/*!40101 SET NAMES utf8mb4 */;\n" +
			"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
		// A section runs from its "-- Current Database:" line to the next one: the "--" line
		// above that is the previous section's. Last, the chosen section holds the trailer;
		// else only the trailer's session statements pass.
		passed := strings.TrimPrefix(chosen, "--\n")
		in, want := head+other+chosen+tail, passedHead+passed+tail
		if chosenFirst {
			in = head + chosen + other + tail
			want = passedHead + passed + "--\n/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n"
		}
		out, _, err := run([]byte(in), []string{"c"}, int(chunk))
		if err != nil {
			t.Fatalf("%v", err)
		}
		if string(out) != want {
			t.Fatalf("output differs from the chosen section:\n%q\nwant\n%q", out, want)
		}
	})
}

// FuzzFilterArbitrary: on any bytes, the filter never panics, fails or succeeds alike
// whatever the sizes of the writes, and lets through the same bytes.
func FuzzFilterArbitrary(f *testing.F) {
	f.Add(hostileDump(f), uint16(1000))
	f.Add([]byte(header+"--\n-- Current Database: `d`\n--\nUSE `d`;\nINSERT INTO `t` VALUES\n(1,'x'),\n(2);\n"+trailer), uint16(3))
	f.Add([]byte("-- Current Database: `a``b`\n/*M!x*/;\n'\\'"), uint16(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16) {
		for _, dbs := range [][]string{{"d"}, {"ocbf_a", "a`b"}} {
			whole, _, werr := run(in, dbs, 0)
			parts, _, perr := run(in, dbs, int(chunk%700)+1)
			if (werr == nil) != (perr == nil) || (werr != nil && werr.Error() != perr.Error()) {
				t.Fatalf("at once: %v; in parts: %v", werr, perr)
			}
			if werr == nil && !bytes.Equal(whole, parts) {
				t.Fatal("the output depends on the sizes of the writes")
			}
		}
	})
}

// TestFilterInputLine: the output's lines are mapped back to the dump's, as the client's
// "at line N" of a failed statement is reported.
func TestFilterInputLine(t *testing.T) {
	dump := hostileDump(t)
	lines := strings.Split(string(dump), "\n")
	out, f, err := run(dump, []string{"ocbf_we`ird -- x"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for i, l := range got {
		in := f.InputLine(int64(i + 1))
		if in < 1 || lines[in-1] != l {
			t.Fatalf("output line %d %q is dump line %d", i+1, l, in)
		}
	}
	if f.InputLine(0) != 0 || f.InputLine(int64(len(got)+1)) != 0 {
		t.Error("lines outside the output are mapped")
	}
}

// BenchmarkFilter: the filter's throughput on a long dump, every section kept (the bytes
// a restore streams), the real dump repeated as INSERT-heavy data in 1 MiB writes, as the
// restore's io.Copy feeds it.
func BenchmarkFilter(b *testing.B) {
	row := "(1,'" + strings.Repeat("abcdefgh\\n", 20) + "',NULL,0x0102),"
	var in bytes.Buffer
	in.WriteString(header + "\n--\n-- Current Database: `ocbf_b`\n--\n\nUSE `ocbf_b`;\n")
	for in.Len() < 32<<20 {
		in.WriteString("INSERT INTO `u` VALUES ")
		for range 500 {
			in.WriteString(row)
		}
		in.WriteString("(2,'x',NULL,0x00);\n")
	}
	in.WriteString(trailer)
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f := New(io.Discard, []string{"ocbf_b"})
		for rest := data; len(rest) > 0; {
			k := min(1<<20, len(rest))
			if _, err := f.Write(rest[:k]); err != nil {
				b.Fatal(err)
			}
			rest = rest[k:]
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
