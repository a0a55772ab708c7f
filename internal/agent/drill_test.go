package agent

import "testing"

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
