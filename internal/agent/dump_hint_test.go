package agent

import (
	"strings"
	"testing"
)

// TestUsersDumpHint: the users-dump failures a Galera node shows are explained; others
// are left as the tool said them.
func TestUsersDumpHint(t *testing.T) {
	for _, tc := range []struct {
		name, stderr, want string
	}{
		{"anonymous account of a restore", "mariadb-dump: Couldn't execute 'SHOW CREATE USER ''@''': Operation failed (1396)", "anonymous account ''@''"},
		{"host-named account under skip-name-resolve",
			"mariadb-dump: Couldn't execute 'SHOW CREATE USER ''@'controller-2'': Can't find any matching row in the user table (1133)",
			"skip-name-resolve"},
		{"another error", "mariadb-dump: Got error: 1045: Access denied for user", ""},
		{"1133 elsewhere", "mariadb-dump: Couldn't execute 'SHOW GRANTS FOR x': (1133)", ""},
	} {
		got := usersDumpHint(tc.stderr)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: hint %q, want one containing %q", tc.name, got, tc.want)
		}
	}
}
