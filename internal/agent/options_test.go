package agent

import (
	"strings"
	"testing"
)

func TestCheckDatabaseName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"nova", true},
		{"--where=0", true}, // an operand after "--": backed up like any other
		{"-d", true},
		{"a,b", true},
		{`a"b`, true},
		{"ünïcode", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("é", 64), true}, // 64 characters, 128 bytes
		{"", false},
		{strings.Repeat("x", 65), false},
		{"a\nb", false},
		{"a\x00b", false},
		{"a\x7fb", false},
		{"\xff\xfe", false},
	} {
		err := checkDatabaseName(tc.name, "database #1")
		if (err == nil) != tc.ok {
			t.Errorf("checkDatabaseName(%q): %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && tc.name != "" && strings.Contains(err.Error(), tc.name) {
			t.Errorf("the error %q quotes the name", err)
		}
	}
}

func TestCheckCredential(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"", true},
		{`plain-Pa55 with "quotes", \backslashes\, #hash ;semi 'single'`, true},
		{"tail\n", false},
		{"inject\nhost=127.0.0.99", false},
		{"cr\rx", false},
		{"tab\tx", false},
		{"nul\x00x", false},
	} {
		err := checkCredential("password", tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("checkCredential(%q): %v, want ok=%v", tc.value, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "127.0.0.99") {
			t.Errorf("the error %q quotes the password", err)
		}
	}
}

// TestOptionValue: both methods' option files quote a value the one way, which the real
// tools read back (TestDumpPasswordWithOptionFileSyntax logs in with such a password).
func TestOptionValue(t *testing.T) {
	for in, want := range map[string]string{
		"plain":        `"plain"`,
		`a"b`:          `"a\"b"`,
		`a\b`:          `"a\\b"`,
		`#;'= $`:       `"#;'= $"`,
		` spaced out `: `" spaced out "`,
	} {
		if got := optionValue(in); got != want {
			t.Errorf("optionValue(%q) = %s, want %s", in, got, want)
		}
	}
	cfg := Config{User: `u"1`, Password: `p\2`, Address: "10.0.0.1", Port: 3307}
	if got, want := string(clientDefaults(cfg)), "[client]\nuser=\"u\\\"1\"\npassword=\"p\\\\2\"\nhost=\"10.0.0.1\"\nport=3307\n"; got != want {
		t.Errorf("clientDefaults:\n%s\nwant:\n%s", got, want)
	}
}
