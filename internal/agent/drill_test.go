package agent

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
