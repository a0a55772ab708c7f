package dumpdigest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dump is a mariadb-dump stream of the shape `mariadb-dump --databases` writes.
const dump = "-- MariaDB dump 10.19  Distrib 10.11.14-MariaDB\n" +
	"/*!40101 SET NAMES utf8mb4 */;\n" +
	"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `nova` /*!40100 DEFAULT CHARACTER SET utf8mb3 */;\n" +
	"USE `nova`;\n" +
	"DROP TABLE IF EXISTS `instances`;\n" +
	"CREATE TABLE `instances` (\n  `id` int(11) NOT NULL,\n  `name` varchar(255) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n" +
	"--\n-- Dumping data for table `instances`\n--\n\n" +
	"LOCK TABLES `instances` WRITE;\n" +
	"/*!40000 ALTER TABLE `instances` DISABLE KEYS */;\n" +
	"INSERT INTO `instances` VALUES (1,'vm-1'),(2,'it''s (2)'),(3,'a\\'b),(c\\\\');\n" +
	"INSERT INTO `instances` VALUES (4,NULL);\n" +
	"/*!40000 ALTER TABLE `instances` ENABLE KEYS */;\n" +
	"UNLOCK TABLES;\n" +
	"--\n-- Dumping data for table `audit`\n--\n\n" +
	"INSERT INTO `audit` VALUES\n(1,1,'create'),\n(4,4,'cre;ate (x)');\n" +
	"--\n-- Dumping data for table `empty(t)`\n--\n\n" +
	"DELIMITER ;;\n" +
	"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t1 AFTER INSERT ON instances FOR EACH ROW\n" +
	"INSERT INTO `audit` VALUES (NEW.id) */;;\n" +
	"DELIMITER ;\n" +
	"USE `odd``db`;\n" +
	"--\n-- Dumping data for table `t'(x`\n--\n\n" +
	"INSERT INTO `t'(x` VALUES (0x28,'('),(0x29,')');\n" +
	"-- Dump completed on 2026-12-05 17:00:00\n"

func sum(lines ...string) string {
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func digestOf(t *testing.T, chunks ...string) ([]Table, error) {
	t.Helper()
	d := New(0)
	for _, c := range chunks {
		if n, err := d.Write([]byte(c)); n != len(c) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	return d.Tables()
}

func TestDigest(t *testing.T) {
	got, err := digestOf(t, dump)
	if err != nil {
		t.Fatal(err)
	}
	want := []Table{
		// MariaDB 10.11's mariadb-dump: a row per line.
		{Database: "nova", Table: "audit", Rows: 2, SHA256: sum("INSERT INTO `audit` VALUES", "(1,1,'create'),", "(4,4,'cre;ate (x)');")},
		{Database: "nova", Table: "empty(t)", Rows: 0, SHA256: sum()},
		{Database: "nova", Table: "instances", Rows: 4, SHA256: sum(
			"INSERT INTO `instances` VALUES (1,'vm-1'),(2,'it''s (2)'),(3,'a\\'b),(c\\\\');",
			"INSERT INTO `instances` VALUES (4,NULL);")},
		{Database: "odd`db", Table: "t'(x", Rows: 2, SHA256: sum("INSERT INTO `t'(x` VALUES (0x28,'('),(0x29,')');")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tables %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("table %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestDigestAnySplit: the stream arrives in pieces cut anywhere (the compressor's pipe
// reads): the digest is the same.
func TestDigestAnySplit(t *testing.T) {
	whole, err := digestOf(t, dump)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= len(dump); i++ {
		for _, j := range []int{i, min(i+1, len(dump)), min(i+7, len(dump)), len(dump)} {
			got, err := digestOf(t, dump[:i], dump[i:j], dump[j:])
			if err != nil {
				t.Fatalf("split at %d,%d: %v", i, j, err)
			}
			if len(got) != len(whole) {
				t.Fatalf("split at %d,%d: %d tables, want %d", i, j, len(got), len(whole))
			}
			for k := range got {
				if got[k] != whole[k] {
					t.Fatalf("split at %d,%d: %+v, want %+v", i, j, got[k], whole[k])
				}
			}
		}
	}
}

// TestDigestSeesEveryChange: a row missing, a byte changed, a row added or a row moved to
// another table each change the digest of that table, and of that table only.
func TestDigestSeesEveryChange(t *testing.T) {
	base, err := digestOf(t, dump)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, from, to string
		table          string
	}{
		{"a row missing", "(1,'vm-1'),", "", "instances"},
		{"one byte of a value", "'vm-1'", "'vm-2'", "instances"},
		{"one byte of a hex value", "0x28", "0x29", "t'(x"},
		{"a row added", "(4,NULL);", "(4,NULL),(5,NULL);", "instances"},
		{"NULL for an empty string", "(4,NULL)", "(4,'')", "instances"},
		{"a row missing, a row per line", "(1,1,'create'),\n", "", "audit"},
		{"a byte changed, a row per line", "cre;ate", "cre;atE", "audit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := strings.Replace(dump, tc.from, tc.to, 1)
			if changed == dump {
				t.Fatal("the change changed nothing")
			}
			got, err := digestOf(t, changed)
			if err != nil {
				t.Fatal(err)
			}
			diffs := Compare(base, got)
			if len(diffs) != 1 || diffs[0].Table != tc.table {
				t.Fatalf("differences %v, want one, in %s", diffs, tc.table)
			}
			t.Log(diffs[0])
		})
	}
}

func TestCompare(t *testing.T) {
	a := Table{Database: "d", Table: "a", Rows: 2, SHA256: "x"}
	b := Table{Database: "d", Table: "b", Rows: 0, SHA256: sum()}
	for _, tc := range []struct {
		name             string
		backup, restored []Table
		want             []string
	}{
		{"equal", []Table{a, b}, []Table{b, a}, nil},
		{"missing", []Table{a, b}, []Table{a}, []string{"d.b: missing from the restored copy"}},
		{"extra", []Table{a}, []Table{a, b}, []string{"d.b: not in the backup"}},
		{"fewer rows", []Table{a}, []Table{{Database: "d", Table: "a", Rows: 1, SHA256: "y"}}, []string{"d.a: 1 rows restored, the backup holds 2"}},
		{"same rows, other bytes", []Table{a}, []Table{{Database: "d", Table: "a", Rows: 2, SHA256: "y"}}, []string{"d.a: its 2 rows differ from the backup's"}},
		{"same name, other database", []Table{a}, []Table{{Database: "e", Table: "a", Rows: 2, SHA256: "x"}},
			[]string{"d.a: missing from the restored copy", "e.a: not in the backup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diffs := Compare(tc.backup, tc.restored)
			got := make([]string, 0, len(diffs))
			for _, d := range diffs {
				got = append(got, d.String())
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Compare = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDigestRefuses(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct{ name, stream, want string }{
		{"an unterminated name", "INSERT INTO `abc VALUES (1);\n", "cannot read"},
		{"an over-long name", "INSERT INTO `" + long + "` VALUES (1);\n", "cannot read"},
		{"an empty name", "USE ``;\n", "well-quoted"},
		{"a line ending inside a string", "USE `d`;\nINSERT INTO `t` VALUES (1,'a\n", "inside a value"},
		{"a cut stream", "USE `d`;\nINSERT INTO `t` VALUES (1,'a')", "ends inside a line"},
		{"a statement never ended", "USE `d`;\nINSERT INTO `t` VALUES\n(1,'a'),\n", "ends inside a line or an INSERT statement"},
		{"not VALUES", "INSERT INTO `t` SELECT 1;\n", "cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := digestOf(t, tc.stream); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	d := New(2)
	_, _ = d.Write([]byte("USE `d`;\nINSERT INTO `a` VALUES (1);\nINSERT INTO `b` VALUES (1);\nINSERT INTO `c` VALUES (1);\n"))
	if _, err := d.Tables(); err == nil || !strings.Contains(err.Error(), "more than 2 tables") {
		t.Errorf("past the table cap: %v", err)
	}
}

// FuzzDigest: any stream, cut anywhere, gives the same result as in one piece, and never
// panics.
func FuzzDigest(f *testing.F) {
	f.Add([]byte(dump), 17)
	f.Add([]byte("INSERT INTO `a``b` VALUES ('\\\\'),('(');\n"), 3)
	f.Fuzz(func(t *testing.T, stream []byte, cut int) {
		one := New(50)
		_, _ = one.Write(stream)
		want, wantErr := one.Tables()
		if cut < 0 {
			cut = -cut
		}
		cut %= len(stream) + 1
		two := New(50)
		_, _ = two.Write(stream[:cut])
		_, _ = two.Write(stream[cut:])
		got, err := two.Tables()
		if (err == nil) != (wantErr == nil) || len(got) != len(want) {
			t.Fatalf("cut at %d: %v %v, in one piece %v %v", cut, got, err, want, wantErr)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("cut at %d: %+v, in one piece %+v", cut, got[i], want[i])
			}
		}
	})
}

// benchDump is a dump of one table of 20,000 rows in extended INSERTs of ~1 MiB, as
// mariadb-dump writes them.
func benchDump() []byte {
	var b strings.Builder
	b.WriteString("USE `nova`;\n--\n-- Dumping data for table `instances`\n--\n\n")
	for line := 0; line < 8; line++ {
		b.WriteString("INSERT INTO `instances` VALUES ")
		for r := 0; r < 2500; r++ {
			if r > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(12345,'9f0c3d2e-1b7a-4c55-8e1f-3a2b1c0d9e8f','instance-with-a-name (it\\'s long)',4,8192,'compute-17.example.org',0x0102030405060708090a)")
		}
		b.WriteString(";\n")
	}
	b.WriteString("-- Dump completed\n")
	return []byte(b.String())
}

// BenchmarkDigest is the digest's cost per byte of dump; BenchmarkSHA256 the same bytes
// hashed alone, its floor. Quote the ratio.
func BenchmarkDigest(b *testing.B) {
	data := benchDump()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d := New(0)
		for i := 0; i < len(data); i += 1 << 20 { // the agent's 1 MiB pipe reads
			_, _ = d.Write(data[i:min(i+1<<20, len(data))])
		}
		if _, err := d.Tables(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSHA256(b *testing.B) {
	data := benchDump()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_ = sha256.Sum256(data)
	}
}

// TestDigestRealDump reads what Debian 12's mariadb-dump 10.11 wrote (--single-transaction
// --quick --routines --events --triggers --hex-blob --databases, as the agent runs it) for
// a database with a trigger, utf8mb4 text, a BLOB and NULLs: a row per line, and the
// trigger's INSERT between DELIMITER lines, which is no data.
func TestDigestRealDump(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mariadb-dump-10.11.sql"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := digestOf(t, string(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Table{
		{Database: "dg_t", Table: "audit", Rows: 2, SHA256: sum("INSERT INTO `audit` VALUES", "(1,1,'create'),", "(4,4,'create');")},
		{Database: "dg_t", Table: "instances", Rows: 2, SHA256: sum("INSERT INTO `instances` VALUES",
			"(1,'vm-1-été-🙂',0x00FF01,'it\\'s \\\\ quoted'),", "(4,'b',NULL,NULL);")},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
