package agent_test

// Fault tests of `agent dump` against the local overcloud (see sandbox_test.go): the
// node killed mid-dump, the agent stopped by SIGTERM mid-dump, a full volume, a dump tool
// that exits 0 with a truncated dump, and bad credentials given to the real binary. Each
// must end with a clear error, leave nothing that looks like a backup (no `.partial-*`
// either), and leave wsrep_desync OFF where the node is alive.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// agentBinary is the real binary of the operator (./cmd), built into the test's
// temporary directory (the Go build cache makes it cheap after the first time).
func agentBinary(t *testing.T) string {
	t.Helper()
	return sandbox.BuildCommand(t, "./cmd", "ocb")
}

// realDump is the path of the real mariadb-dump, which the wrappers below call.
func realDump(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("mariadb-dump")
	if err != nil {
		t.Fatalf("the real mariadb-dump is needed: %v", err)
	}
	return p
}

// writeScript writes an executable bash script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/bash\n"+body), 0o700); err != nil { //nolint:gosec // G306: an executable
		t.Fatal(err)
	}
}

// heldDump writes, as dir/mariadb-dump, a wrapper around the real mariadb-dump that lets
// its first MiB through, creates dir/ready, and holds the rest in the pipe until dir/go
// exists (at most `hold`), so that a fault lands while mariadb-dump is mid-stream every
// time. It records its process group in dir/pgid. pipefail keeps mariadb-dump's exit
// status, which a plain pipeline would hide.
func heldDump(t *testing.T, dir string, hold time.Duration) string {
	t.Helper()
	path := filepath.Join(dir, "mariadb-dump")
	writeScript(t, path, fmt.Sprintf(`set -o pipefail
real=%q dir=%q
if [ "$1" = --version ]; then exec "$real" --version; fi
echo $$ >"$dir/pgid"
"$real" "$@" | {
	head -c 1048576 || exit 1
	: >"$dir/ready"
	for _ in $(seq %d); do [ -e "$dir/go" ] && break; sleep 0.1; done
	cat
}
`, realDump(t), dir, int(hold/(100*time.Millisecond))))
	return path
}

// blobDataset creates, as root on controller-0, the database schema with one table of
// mib MiB of random bytes (incompressible, and twice that in mariadb-dump's --hex-blob
// output), dropped when the test ends.
func blobDataset(t *testing.T, sb *sandbox.Sandbox, schema string, mib int) {
	t.Helper()
	t.Cleanup(func() { rootSQL(t, sb, 0, strings.NewReader("DROP DATABASE IF EXISTS "+schema)) })
	var b strings.Builder
	fmt.Fprintf(&b, "DROP DATABASE IF EXISTS %[1]s; CREATE DATABASE %[1]s; USE %[1]s;\n"+
		"CREATE TABLE blobs (id INT PRIMARY KEY, b VARBINARY(1024)) ENGINE=InnoDB;\n", schema)
	// 1024 rows of 1 KiB per statement keeps every writeset at 1 MiB.
	for i := range mib {
		fmt.Fprintf(&b, "INSERT INTO blobs SELECT seq, RANDOM_BYTES(1024) FROM mysql.seq_%d_to_%d;\n", i*1024+1, (i+1)*1024)
	}
	rootSQL(t, sb, 0, strings.NewReader(b.String()))
}

// waitFile waits until path exists, at most d; it gives up early when stop is closed
// (what was to create the file has ended).
func waitFile(path string, d time.Duration, stop <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-stop:
			return fmt.Errorf("ended before %s appeared", filepath.Base(path))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s after %v", filepath.Base(path), d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupGone checks that no process of the dump tool's process group (recorded by the
// wrapper in pgidFile) is left, waiting up to 10 s: orphans are reaped by PID 1, which
// here reaps only every ~2 s.
func groupGone(t *testing.T, pgidFile string) {
	t.Helper()
	b, err := os.ReadFile(pgidFile) //nolint:gosec // G304: the test's own file
	if err != nil {
		t.Errorf("the dump tool recorded no process group: %v", err)
		return
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pgid <= 1 {
		t.Errorf("process group %q", b)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			t.Errorf("processes of the dump tool's group %d still run 10 s after the agent ended", pgid)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leftovers lists everything under dir (a backup's parent directory), hidden entries
// included; a missing dir has none.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			out = append(out, strings.TrimPrefix(path, dir+"/"))
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("listing %s: %v", dir, err)
	}
	return out
}

// restartNode starts a killed node again (a no-op when it runs) and waits until the
// whole sandbox is healthy.
func restartNode(t testing.TB, sb *sandbox.Sandbox, node int) {
	t.Helper()
	sb.Run(t, "start", strconv.Itoa(node))
	sb.WaitHealthy(t)
}

// TestDumpNodeKilledMidway: controller-2's mariadbd is SIGKILLed while mariadb-dump is
// mid-way through a table (held after its first MiB of a ~48 MB dump). The dump ends
// with mariadb-dump's lost-connection error, leaves nothing under the backup's parent
// directory, and says honestly that wsrep_desync could not be set OFF (the node is
// gone). wsrep_desync is not persisted: the restarted node is not desynced.
func TestDumpNodeKilledMidway(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	sb.WaitHealthy(t)
	const schema = "ocb_fault_killed"
	blobDataset(t, sb, schema, 24)

	cfg := config(t, sb, 2)
	cfg.Databases = []string{schema}
	tool := t.TempDir()
	cfg.DumpTool = heldDump(t, tool, 60*time.Second)

	var res agent.Result
	var err error
	finished := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	go func() {
		defer close(finished)
		res, err = agent.Dump(ctx, cfg)
	}()
	t.Cleanup(func() {
		// On an early failure: release the wrapper, stop the agent, wait for it.
		_ = os.WriteFile(filepath.Join(tool, "go"), nil, 0o600)
		cancel()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Error("the agent did not end 30 s after it was stopped")
		}
	})
	if werr := waitFile(filepath.Join(tool, "ready"), time.Minute, finished); werr != nil {
		select {
		case <-finished:
			t.Fatalf("mariadb-dump never got mid-stream: %v; the dump ended: %v", werr, err)
		default:
			t.Fatalf("mariadb-dump never got mid-stream: %v", werr)
		}
	}

	sb.Run(t, "kill", "2")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			restartNode(t, sb, 2)
		}
	})
	killed := time.Now()
	if werr := os.WriteFile(filepath.Join(tool, "go"), nil, 0o600); werr != nil {
		t.Fatal(werr)
	}
	select {
	case <-finished:
	case <-time.After(time.Minute):
		t.Fatal("the dump did not end within a minute of the node's death")
	}
	t.Logf("the dump ended %v after the kill: %v", time.Since(killed).Round(time.Millisecond), err)

	if err == nil {
		t.Fatal("the dump succeeded although its node died mid-dump")
	}
	// "when dumping table `blobs` at row: N": the stream was cut inside the table.
	for _, want := range []string{"mariadb-dump for databases.sql", "when dumping table `blobs`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The client says the connection broke: "Lost connection" in clear, "unexpected eof"
	// over TLS (the sandbox's nodes serve it, and mariadb-dump uses it when offered).
	if !strings.Contains(err.Error(), "Lost connection") && !strings.Contains(err.Error(), "TLS/SSL error: unexpected eof") {
		t.Errorf("error %q says nothing of the connection breaking", err)
	}
	if !res.DesyncSet || res.DesyncReset || !strings.Contains(err.Error(), "setting wsrep_desync=OFF on controller-2") {
		t.Errorf("desync set=%v reset=%v, error %q: want set, and the failed reset reported", res.DesyncSet, res.DesyncReset, err)
	}
	if res.Dir != "" {
		t.Errorf("result names a backup directory %s", res.Dir)
	}
	if left := leftovers(t, filepath.Join(cfg.Root, cfg.Namespace)); len(left) != 0 {
		t.Errorf("left %v behind", left)
	}
	groupGone(t, filepath.Join(tool, "pgid"))

	restartNode(t, sb, 2)
	restarted = true
	if st := status(t, sb, 2); st.DesyncVar || st.Desynced() {
		t.Errorf("controller-2 came back desynced: wsrep_desync=%v, %s, desync count %d", st.DesyncVar, st.LocalStateComment, st.DesyncCount)
	}
}

// TestDumpTruncatedOutput: the dump tool exits 0 but its output stops in the middle (a
// tool killed without a proper error, or a wrapper that loses the status). The agent
// must see that the stream lacks mariadb-dump's "-- Dump completed" trailer and fail,
// leaving no backup, and with the desync undone.
func TestDumpTruncatedOutput(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	cfg := config(t, sb, 2)
	cfg.Databases = []string{"nova"}
	tool := t.TempDir()
	cfg.DumpTool = filepath.Join(tool, "mariadb-dump")
	writeScript(t, cfg.DumpTool, fmt.Sprintf(`real=%q
if [ "$1" = --version ]; then exec "$real" --version; fi
full=$(mktemp %q/full.XXXXXX) || exit 1
"$real" "$@" >"$full" || exit
head -c $(( $(stat -c %%s "$full") / 2 )) "$full"
rm -f "$full"
exit 0
`, realDump(t), tool))

	res, err := agent.Dump(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("err = %v, want an error saying the dump is incomplete", err)
	}
	undone(t, sb, res, cfg)
}

// TestDumpDiskFull: the backup volume is a 2 MiB tmpfs and the dump (~12 MB of hex of
// random bytes) cannot fit even compressed, while the space check before the dump (10%
// of the 6 MiB of table data) lets it start: the volume fills mid-dump. The dump ends
// with an error that says the volume is full, nothing is left on the volume, and the
// desync is undone.
func TestDumpDiskFull(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const schema = "ocb_fault_disk"
	blobDataset(t, sb, schema, 6)

	volume := filepath.Join(t.TempDir(), "volume")
	if err := os.Mkdir(volume, 0o750); err != nil {
		t.Fatal(err)
	}
	mountCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	//nolint:gosec // G204: a fixed program on the test's own directory
	if out, err := exec.CommandContext(mountCtx, "mount", "-t", "tmpfs", "-o", "size=2m,mode=0750", "tmpfs", volume).CombinedOutput(); err != nil {
		t.Fatalf("mounting a 2 MiB tmpfs on %s (this test runs as root): %v: %s", volume, err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "umount", volume).CombinedOutput(); err != nil { //nolint:gosec // G204: as above
			t.Errorf("unmounting the tmpfs %s: %v: %s", volume, err, out)
		}
	})
	// Never fill the real disk: the volume must be the small tmpfs.
	var fs unix.Statfs_t
	if err := unix.Statfs(volume, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC || fs.Blocks*uint64(fs.Bsize) > 2<<20 { //nolint:gosec // G115: a block size is positive
		t.Fatalf("%s is not a 2 MiB tmpfs (type %#x, %d blocks of %d): %v", volume, fs.Type, fs.Blocks, fs.Bsize, err)
	}

	cfg := config(t, sb, 2)
	cfg.Root = volume
	cfg.Databases = []string{schema}
	start := time.Now()
	res, err := agent.Dump(t.Context(), cfg)
	t.Logf("the dump ended after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		t.Fatalf("a dump that cannot fit succeeded: %+v", res)
	}
	if !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("error %q does not say the volume is full (no space left on device)", err)
	}
	undone(t, sb, res, cfg)
	if err := unix.Statfs(volume, &fs); err == nil && fs.Bfree != fs.Blocks {
		t.Errorf("%d of %d blocks of the volume still used after the failed dump", fs.Blocks-fs.Bfree, fs.Blocks)
	}
}

// agentRun is one run of the real binary.
type agentRun struct {
	exitCode       int
	stdout, stderr string
	took           time.Duration
}

// dumpArgs are `agent dump` arguments for a node of the sandbox, writing under root.
func dumpArgs(sb *sandbox.Sandbox, node int, creds, root, termLog string, extra ...string) []string {
	n := sb.Nodes[node]
	return append([]string{"agent", "dump", "--node", n.Name, "--address", n.Address, "--port", strconv.Itoa(n.MySQLPort),
		"--credentials-dir", creds, "--root", root, "--namespace", "ns", "--name", "b", "--termination-log", termLog}, extra...)
}

// credentialsDir writes a Secret-volume-like directory with the files username and
// password (either skipped when empty).
func credentialsDir(t *testing.T, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{"username": user, "password": password} {
		if v == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// termination reads the termination message the agent wrote.
func termination(t *testing.T, path string) (agent.Result, string) {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // G304: the test's own file
	if err != nil {
		t.Fatalf("no termination message: %v", err)
	}
	var r agent.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("termination message %q: %v", b, err)
	}
	return r, string(b)
}

// noSecret fails when one of the secrets appears in one of the outputs.
func noSecret(t *testing.T, outputs map[string]string, secrets ...string) {
	t.Helper()
	for what, out := range outputs {
		for _, s := range secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("a password is in the agent's %s", what)
			}
		}
	}
}

// TestDumpTerminatedMidway: the real binary gets SIGTERM (a deleted pod, the Job's
// deadline) while mariadb-dump is mid-stream. It exits non-zero within seconds, kills
// the dump tool's whole process group, writes a termination message with the error and
// the desync set and reset, leaves no backup, and the node is not desynced.
func TestDumpTerminatedMidway(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	bin := agentBinary(t)
	const schema = "ocb_fault_sigterm"
	blobDataset(t, sb, schema, 4)

	// The binary has no flag for the dump tool: the wrapper is mariadb-dump in its PATH.
	tool := t.TempDir()
	heldDump(t, tool, 60*time.Second)
	tmp := t.TempDir()
	root, termLog := filepath.Join(tmp, "root"), filepath.Join(tmp, "termination-log")
	password := sb.Password(t)
	creds := credentialsDir(t, sb.Database.User, password)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	//nolint:gosec // G204: the binary built above
	cmd := exec.CommandContext(ctx, bin, dumpArgs(sb, 2, creds, root, termLog, "--database", schema)...)
	cmd.Env = append(os.Environ(), "PATH="+tool+":"+os.Getenv("PATH"), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		defer close(exited)
		waitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	if err := waitFile(filepath.Join(tool, "ready"), time.Minute, exited); err != nil {
		t.Fatalf("mariadb-dump never got mid-stream: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the agent still runs 20 s after SIGTERM\nstderr: %s", &stderr)
	}
	took := time.Since(signalled)
	t.Logf("exited %v after SIGTERM: %v; stderr: %s", took.Round(time.Millisecond), waitErr, bytes.TrimSpace(stderr.Bytes()))
	if took > 10*time.Second {
		t.Errorf("stopping took %v", took)
	}
	var exitErr *exec.ExitError
	if !errors.As(waitErr, &exitErr) || exitErr.ExitCode() <= 0 {
		t.Errorf("exit: %v, want a non-zero exit status", waitErr)
	}
	if !strings.Contains(stderr.String(), "Error: ") || !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr %q does not say the dump was stopped", &stderr)
	}
	res, raw := termination(t, termLog)
	if !strings.Contains(res.Error, "mariadb-dump for databases.sql: stopped") {
		t.Errorf("termination message error %q, want the dump stopped", res.Error)
	}
	if !res.DesyncSet || !res.DesyncReset || res.Dir != "" {
		t.Errorf("termination message %s: want desyncSet and desyncReset, no dir", raw)
	}
	noSecret(t, map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "termination message": raw}, password)
	if left := leftovers(t, root); len(left) > 1 || (len(left) == 1 && left[0] != "ns") {
		t.Errorf("left %v behind", left)
	}
	groupGone(t, filepath.Join(tool, "pgid"))
	if !notDesynced(t, sb, 2) {
		t.Error("the node is left desynced")
	}
}

// TestDumpCredentialErrors: the real binary with credentials it cannot read, or with a
// wrong password, ends with a clear error, writes nothing under the root, and never
// prints a password, neither the given one nor the real one.
func TestDumpCredentialErrors(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	bin := agentBinary(t)
	password := sb.Password(t)
	wrong := "wrong-Pa55word-" + strconv.FormatInt(time.Now().UnixNano(), 36)

	run := func(t *testing.T, creds string) (agentRun, string, string) {
		t.Helper()
		tmp := t.TempDir()
		root, termLog := filepath.Join(tmp, "root"), filepath.Join(tmp, "termination-log")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		//nolint:gosec // G204: the binary built above
		cmd := exec.CommandContext(ctx, bin, dumpArgs(sb, 1, creds, root, termLog)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		r := agentRun{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("run: %v, want a non-zero exit status\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
		}
		r.exitCode = exitErr.ExitCode()
		if r.exitCode <= 0 {
			t.Errorf("exit code %d", r.exitCode)
		}
		if left := leftovers(t, root); len(left) != 0 {
			t.Errorf("left %v under the root", left)
		}
		return r, root, termLog
	}

	unreadable := []struct{ name, creds string }{
		{"missing credentials dir", filepath.Join(t.TempDir(), "no-such-dir")},
		{"password file missing", credentialsDir(t, sb.Database.User, "")},
	}
	for _, tc := range unreadable {
		t.Run(tc.name, func(t *testing.T) {
			r, _, termLog := run(t, tc.creds)
			want := "Error: reading the database credentials: open " + tc.creds
			if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "no such file or directory") {
				t.Errorf("stderr %q, want %q and the cause", r.stderr, want)
			}
			// The controller learns it from the termination message too.
			res, raw := termination(t, termLog)
			if !strings.Contains(res.Error, "reading the database credentials") || res.DesyncSet {
				t.Errorf("termination message %s", raw)
			}
			noSecret(t, map[string]string{"stdout": r.stdout, "stderr": r.stderr, "termination message": raw}, password)
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		r, _, termLog := run(t, credentialsDir(t, sb.Database.User, wrong))
		res, raw := termination(t, termLog)
		for _, want := range []string{"re-checking controller-1", "Access denied for user '" + sb.Database.User + "'"} {
			if !strings.Contains(res.Error, want) || !strings.Contains(r.stderr, want) {
				t.Errorf("termination error %q / stderr %q, want %q in both", res.Error, r.stderr, want)
			}
		}
		if res.DesyncSet || res.Dir != "" {
			t.Errorf("termination message %s: nothing may have happened", raw)
		}
		noSecret(t, map[string]string{"stdout": r.stdout, "stderr": r.stderr, "termination message": raw}, password, wrong)
		if !notDesynced(t, sb, 1) {
			t.Error("the node is left desynced")
		}
	})
}
