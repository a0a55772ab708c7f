package agent

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Everything here reaches a client tool: a database name as mariadb-dump's operand, a user
// name or a password as an option file's value. Each comes from a tenant's spec, a Secret
// or the server itself, so each is checked before it is used, and an error never quotes it.

// maxDatabaseName is MariaDB's limit on a database name, in characters.
const maxDatabaseName = 64

// checkDatabaseName refuses a name that mariadb-dump could misread: empty, longer than the
// server allows, not UTF-8, or holding a control character. Every name passes the tool as
// an operand after "--" (never as an option, whatever its first character), so a leading
// "-" is harmless there and allowed (a schema created as `-d` is still backed up).
// what says where the name came from, since the error must not quote it.
func checkDatabaseName(name, what string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is empty", what)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s is not valid UTF-8: refused, mariadb-dump could misread it", what)
	case utf8.RuneCountInString(name) > maxDatabaseName:
		return fmt.Errorf("%s is longer than %d characters", what, maxDatabaseName)
	}
	if i := controlAt(name); i >= 0 {
		return fmt.Errorf("%s has a control character (byte %d of %d): refused, mariadb-dump could misread it", what, i+1, len(name))
	}
	return nil
}

// checkCredential refuses a user name or password holding a control character (a newline
// would end its line of the option file and start another option). The error says which
// and where, never the value.
func checkCredential(what, value string) error {
	if i := controlAt(value); i >= 0 {
		return fmt.Errorf("the %s in the database credentials has a control character (byte %d of %d): "+
			"refused (it cannot be passed to the client tools safely); set one without control characters", what, i+1, len(value))
	}
	return nil
}

// controlAt is the index of the first ASCII control character (NUL, newline, DEL...) in s,
// or -1.
func controlAt(s string) int {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// optionValue is s as a double-quoted value of a MySQL/MariaDB option file, for both
// methods' client defaults. checkCredential has refused control characters; backslash and
// the double quote are escaped, and inside quotes "#" and ";" start no comment.
func optionValue(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
