package agent_test

// Names and credentials an attacker chooses, against the real mariadb-dump of the local
// overcloud: anyone who may create a schema on the overcloud chooses a database name the
// agent dumps, and a Secret's author chooses the password that goes into the option file.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// hostileSchemas are database names that, passed to mariadb-dump as they come, were an
// option (the first two: every table dumped without rows, or without any data) or were
// split or refused by the agent's own flag parsing (the last two).
var hostileSchemas = []string{"--where=0", "-d", "a,b", `a"b`}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// makeHostileSchemas creates each schema with a table of three rows (dropped at the end).
func makeHostileSchemas(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	var b strings.Builder
	for _, s := range hostileSchemas {
		fmt.Fprintf(&b, "DROP DATABASE IF EXISTS %[1]s; CREATE DATABASE %[1]s; CREATE TABLE %[1]s.t (id INT PRIMARY KEY, v VARCHAR(20));"+
			" INSERT INTO %[1]s.t VALUES (1,'one'),(2,'two'),(3,'three');\n", quoteIdent(s))
	}
	sb.RootQuery(t, 0, b.String(), false)
	t.Cleanup(func() { dropSchemas(t, sb) })
	sb.RootQuery(t, 2, "SET SESSION wsrep_sync_wait = 15; SELECT COUNT(*) FROM "+quoteIdent(hostileSchemas[len(hostileSchemas)-1])+".t", false)
}

func dropSchemas(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	var b strings.Builder
	for _, s := range hostileSchemas {
		fmt.Fprintf(&b, "DROP DATABASE IF EXISTS %s;\n", quoteIdent(s))
	}
	sb.RootQuery(t, 0, b.String(), false)
}

// restoresEachSchema drops the hostile schemas, restores the backup's databases.sql.zst
// and checks that each has its three rows again.
func restoresEachSchema(t *testing.T, sb *sandbox.Sandbox, dir string) {
	t.Helper()
	dropSchemas(t, sb)
	restore(t, sb, 0, filepath.Join(dir, "databases.sql.zst"))
	for _, s := range hostileSchemas {
		if n := rowsIn(t, sb, s); n != 3 {
			t.Errorf("%s.t: %d rows after the restore, want 3", quoteIdent(s), n)
		}
	}
}

// rowsIn counts the rows of schema.t on node 0, or -1 when the table is missing.
func rowsIn(t *testing.T, sb *sandbox.Sandbox, schema string) int {
	t.Helper()
	out := strings.TrimSpace(sb.RootQuery(t, 0, "SET SESSION wsrep_sync_wait = 15; SELECT COUNT(*) FROM "+quoteIdent(schema)+".t", true))
	n, err := strconv.Atoi(out)
	if err != nil {
		return -1
	}
	return n
}

// TestDumpSchemaNamesAreOperands: with every database dumped (none asked for), schemas
// named like options are backed up as databases with their rows, and so is every other
// database (a schema named --where=0 once emptied every table of the backup while the
// dump still ended "Dump completed"). Restoring the dump after dropping them brings back
// the three rows of each.
func TestDumpSchemaNamesAreOperands(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	makeHostileSchemas(t, sb)
	cfg := config(t, sb, 2)
	cfg.Users = false
	res, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	if _, err := agent.Verify(t.Context(), res.Dir); err != nil {
		t.Fatalf("verify: %v", err)
	}
	dump := decompressed(t, filepath.Join(res.Dir, "databases.sql.zst"))
	for _, s := range hostileSchemas {
		if !strings.Contains(dump, "CREATE DATABASE /*!32312 IF NOT EXISTS*/ "+quoteIdent(s)) {
			t.Errorf("the dump has no database %s", quoteIdent(s))
		}
	}
	restoresEachSchema(t, sb, res.Dir)
}

// TestDumpAskedNamesOnePerFlag: the real binary, given each hostile name with one
// --database flag (as the Job builder passes spec.dump.databases), dumps exactly those
// databases, each whole: no name split at ",", none parsed as CSV, none read as an option.
func TestDumpAskedNamesOnePerFlag(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	makeHostileSchemas(t, sb)
	bin := agentBinary(t)
	tmp := t.TempDir()
	root, termLog := filepath.Join(tmp, "root"), filepath.Join(tmp, "termination-log")
	extra := make([]string, 0, 1+len(hostileSchemas))
	extra = append(extra, "--users=false")
	for _, s := range hostileSchemas {
		extra = append(extra, "--database="+s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	//nolint:gosec // G204: the binary built by the test
	cmd := exec.CommandContext(ctx, bin, dumpArgs(sb, 2, credentialsDir(t, sb.Database.User, sb.Password(t)), root, termLog, extra...)...)
	cmd.Env = append(cmd.Environ(), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("agent dump: %v\nstderr: %s", err, &stderr)
	}
	res, raw := termination(t, termLog)
	if res.Error != "" || res.Dir == "" {
		t.Fatalf("termination message %s", raw)
	}
	dump := decompressed(t, filepath.Join(res.Dir, "databases.sql.zst"))
	if n := strings.Count(dump, "CREATE DATABASE "); n != len(hostileSchemas) {
		t.Errorf("%d databases in the dump, want the %d asked for", n, len(hostileSchemas))
	}
	restoresEachSchema(t, sb, res.Dir)
}

// TestDumpRefusesControlCharactersInCredentials: a password or user name with a newline
// once ended its line of the option file and injected options (the tail of the password
// then reached the tool's error, the status and events). Now the real binary refuses it
// before connecting anywhere, says which credential and where, and quotes none of it.
func TestDumpRefusesControlCharactersInCredentials(t *testing.T) {
	sb := sandbox.Load(t)
	bin := agentBinary(t)
	const injected = "host=127.0.0.99" // loopback: on the old code it was a live option
	for _, tc := range []struct{ name, user, password, want string }{
		{"newline in the password", sb.Database.User, "Secret-Head\n" + injected, "the password in the database credentials has a control character (byte 12 of 27)"},
		{"carriage return in the password", sb.Database.User, "Secret-Head\r" + injected, "the password in the database credentials has a control character"},
		{"NUL in the user name", sb.Database.User + "\x00" + injected, sb.Password(t), "the user name in the database credentials has a control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			root, termLog := filepath.Join(tmp, "root"), filepath.Join(tmp, "termination-log")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			//nolint:gosec // G204: the binary built by the test
			cmd := exec.CommandContext(ctx, bin, dumpArgs(sb, 2, credentialsDir(t, tc.user, tc.password), root, termLog)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("run: %v, want a non-zero exit status", err)
			}
			res, raw := termination(t, termLog)
			if !strings.Contains(res.Error, tc.want) {
				t.Errorf("termination message error %q, want %q", res.Error, tc.want)
			}
			if res.DesyncSet {
				t.Error("the node was desynced: the refusal came after connecting")
			}
			noSecret(t, map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "termination message": raw},
				injected, "Secret-Head", tc.password)
			if left := leftovers(t, root); len(left) != 0 {
				t.Errorf("left %v under the root", left)
			}
		})
	}
}

// TestDumpPasswordWithOptionFileSyntax: a password holding what an option file reads as
// syntax (quotes, backslashes, comment and assignment characters, spaces at the ends)
// reaches mariadb-dump intact through the one quoting function both methods use: the
// dump logs in with it.
func TestDumpPasswordWithOptionFileSyntax(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const user = "ocb_quoting"
	password := ` a"b\c#d;e'f=g $h\ ` //nolint:gosec // G101: a test account's password, made for the test
	sql := fmt.Sprintf("DROP USER IF EXISTS '%[1]s'@'%%'; CREATE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s'; "+
		"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, PROCESS ON *.* TO '%[1]s'@'%%';",
		user, strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password))
	sb.RootQuery(t, 0, sql, false)
	t.Cleanup(func() { sb.RootQuery(t, 0, "DROP USER IF EXISTS '"+user+"'@'%';", false) })
	sb.RootQuery(t, 2, "SET SESSION wsrep_sync_wait = 15; SELECT COUNT(*) FROM mysql.global_priv WHERE User = '"+user+"'", false)

	cfg := config(t, sb, 2)
	cfg.User, cfg.Password = user, password
	cfg.Users, cfg.Desync = false, false // no SUPER: the option file is what is tested
	cfg.Databases = []string{"nova"}
	res, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dump with a password full of option-file syntax: %v", err)
	}
	if _, err := agent.Verify(t.Context(), res.Dir); err != nil {
		t.Fatal(err)
	}
}
