//go:build e2e

package e2e_test

// The overcloud side of the e2e tests: root SQL over a node's unix socket (the backup user
// may only read), a node's wsrep state as the backup user, and throwaway schemas.

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// lockSandbox loads the sandbox, takes the lock the tests of every package share (a test
// that kills or desyncs a node must not meet another's probe), and waits until the overcloud
// is healthy. It logs how long that took: other packages' tests may hold the lock.
func lockSandbox(t testing.TB) *sandbox.Sandbox {
	t.Helper()
	start := time.Now()
	sb := sandbox.Load(t)
	sb.Lock(t)
	locked := time.Since(start)
	sb.WaitHealthy(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("Sandbox locked after %v, healthy after %v", locked.Round(time.Millisecond), d.Round(time.Millisecond))
	}
	return sb
}

// nodeIndex is the index of the named node in the sandbox.
func nodeIndex(t testing.TB, sb *sandbox.Sandbox, name string) int {
	t.Helper()
	for i, n := range sb.Nodes {
		if n.Name == name {
			return i
		}
	}
	t.Fatalf("the sandbox has no node %s", name)
	return -1
}

// rootSQL runs SQL as root over node i's unix socket with the mariadb client, bounded to
// five minutes.
func rootSQL(t testing.TB, sb *sandbox.Sandbox, i int, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	//nolint:gosec // G204: a fixed program; the socket path comes from sandbox.json
	cmd := exec.CommandContext(ctx, "mariadb", "--no-defaults", "--protocol=socket", "--socket="+sb.Nodes[i].Socket,
		"--user=root", "--batch")
	cmd.Stdin = strings.NewReader(query)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 800 {
			out = out[:800]
		}
		t.Fatalf("mariadb as root on %s: %v\n%s", sb.Nodes[i].Name, err, out)
	}
}

// wsrep is a node's state as the backup user sees it over TCP.
type wsrep struct {
	// State is wsrep_local_state (4 = Synced), Comment its name; Desync is @@wsrep_desync.
	State, Comment string
	Desync         bool
}

// nodeWsrep reads node i's wsrep_local_state and wsrep_desync, each call bounded to 2 s.
func nodeWsrep(ctx context.Context, t testing.TB, sb *sandbox.Sandbox, i int) (wsrep, error) {
	t.Helper()
	db := sb.Open(t, sb.NodeAddr(i))
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var w wsrep
	var desync int
	err := db.QueryRowContext(ctx, "SELECT "+
		"(SELECT variable_value FROM information_schema.global_status WHERE variable_name = 'wsrep_local_state'), "+
		"(SELECT variable_value FROM information_schema.global_status WHERE variable_name = 'wsrep_local_state_comment'), "+
		"@@wsrep_desync").Scan(&w.State, &w.Comment, &desync)
	w.Desync = desync != 0
	return w, err
}

// waitSynced waits, at most timeout, until node i is Synced and not desynced: after
// wsrep_desync=OFF a node passes through Joined while it catches up. It returns how long it
// took.
func waitSynced(t testing.TB, sb *sandbox.Sandbox, i int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last wsrep
	var err error
	for {
		last, err = nodeWsrep(context.Background(), t, sb, i)
		if err == nil && last.State == "4" && !last.Desync {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s is not Synced and in sync after %v: wsrep_local_state %s (%s), wsrep_desync %v, %v",
				sb.Nodes[i].Name, timeout, last.State, last.Comment, last.Desync, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// schema creates a database as root on controller-0 with the statements given (run after
// USE), waits until node i has applied it (wsrep_sync_wait), and drops it at the end of the
// test.
func schema(t testing.TB, sb *sandbox.Sandbox, name string, i int, statements ...string) {
	t.Helper()
	t.Cleanup(func() { rootSQL(t, sb, 0, "DROP DATABASE IF EXISTS "+name) })
	rootSQL(t, sb, 0, fmt.Sprintf("DROP DATABASE IF EXISTS %[1]s; CREATE DATABASE %[1]s; USE %[1]s;\n%s",
		name, strings.Join(statements, ";\n")))
	rootSQL(t, sb, i, "SET SESSION wsrep_sync_wait = 1; SHOW TABLES FROM "+name)
}

// blobStatements fill a table of mib MiB of incompressible rows, 1 MiB per statement so that
// no Galera writeset comes near the limits a real cluster is tuned for.
func blobStatements(mib int) []string {
	st := make([]string, 0, 1+mib)
	st = append(st, "CREATE TABLE blobs (id INT PRIMARY KEY, b VARBINARY(1024)) ENGINE=InnoDB")
	for i := range mib {
		st = append(st, fmt.Sprintf("INSERT INTO blobs SELECT seq, RANDOM_BYTES(1024) FROM mysql.seq_%d_to_%d", i*1024+1, (i+1)*1024))
	}
	return st
}
