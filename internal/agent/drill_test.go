package agent

import (
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
