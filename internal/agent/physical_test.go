package agent_test

// These tests take physical backups (mariadb-backup over SSH) from the real Galera nodes
// of the local overcloud, through each controller's sshd and the sandbox's sudoers, and
// prove the copy with the real mbstream, mariadb-backup --prepare and a throwaway
// mariadbd. They fail, never skip, without them.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// physicalConfig is config() for the Mariabackup method with the default command, from
// controller-2 (the idle node, as for the logical tests).
func physicalConfig(t testing.TB, sb *sandbox.Sandbox) agent.Config {
	t.Helper()
	const node = 2
	cfg := config(t, sb, node)
	cfg.Method = agent.Mariabackup
	cfg.Users = false
	cfg.Physical = agent.PhysicalConfig{
		SSHUser: sb.SSH.User, SSHPort: sb.Nodes[node].SSHPort, SSHTimeout: 5 * time.Second,
		KeyFile: sb.SSH.PrivateKeyFile, KnownHostsFile: sb.SSH.KnownHostsFile,
		Command: agent.DefaultMariabackupCommand,
	}
	return cfg
}

// TestMariabackupFromIdleNode takes a physical backup of controller-2 with the default
// command. The backup verifies, records the exact Galera position (between the node's
// wsrep_last_committed before and after), the node is desynced for it and not after, and
// the proof: the stream extracts with mbstream, prepares with mariadb-backup --prepare,
// and a throwaway mariadbd started on it returns the cluster's CHECKSUM TABLE.
func TestMariabackupFromIdleNode(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	const schema = "ocb_physical_test"
	testDataset(t, sb, schema)
	want := checksums(t, sqlDB(t, sb, 2), schema) // on controller-2 itself, after a causality wait
	before := status(t, sb, 2)

	cfg := physicalConfig(t, sb)
	start := time.Now()
	res, err := agent.Dump(t.Context(), cfg)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	t.Logf("Mariabackup backup of controller-2: %v, %d bytes on the volume", took.Round(time.Millisecond), res.TotalBytes)
	after := status(t, sb, 2)
	if !res.DesyncSet || !res.DesyncReset {
		t.Errorf("desync set=%v reset=%v, want both", res.DesyncSet, res.DesyncReset)
	}
	if !notDesynced(t, sb, 2) {
		t.Error("the node is still desynced after the backup")
	}
	m, err := agent.Verify(t.Context(), res.Dir)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(m.Files) != 1 || m.Files[0].Name != agent.PhysicalFile+".zst" || m.Options.Method != agent.Mariabackup {
		t.Errorf("manifest files %+v, method %q", m.Files, m.Options.Method)
	}
	if !strings.HasPrefix(m.ToolVersion, "mariadb-backup ") {
		t.Errorf("tool version %q", m.ToolVersion)
	}
	pos := m.Position
	if pos == nil || pos.ClusterUUID != before.ClusterStateUUID || pos.Seqno < before.LastCommitted || pos.Seqno > after.LastCommitted {
		t.Fatalf("position %+v, want cluster %s and a seqno in [%d, %d]", pos, before.ClusterStateUUID, before.LastCommitted, after.LastCommitted)
	}
	if strings.Contains(string(res.Summary()), sb.Password(t)) {
		t.Fatal("the password is in the termination message")
	}

	dir := filepath.Join(t.TempDir(), "restore")
	extractAndPrepare(t, filepath.Join(res.Dir, m.Files[0].Name), dir)
	info, err := os.ReadFile(filepath.Join(dir, "xtrabackup_galera_info")) //nolint:gosec // G304: test output
	if err != nil || !strings.HasPrefix(string(info), fmt.Sprintf("%s:%d", pos.ClusterUUID, pos.Seqno)) {
		t.Errorf("xtrabackup_galera_info = %q (%v), the manifest says %s:%d", info, err, pos.ClusterUUID, pos.Seqno)
	}
	// The prepared InnoDB pages carry the same position: what a node bootstrapped from
	// this copy starts from (docs/restore.md).
	if rec := recoveredPosition(t, dir); rec != fmt.Sprintf("%s:%d", pos.ClusterUUID, pos.Seqno) {
		t.Errorf("mariadbd --wsrep-recover on the prepared copy: %q, the manifest says %s:%d", rec, pos.ClusterUUID, pos.Seqno)
	}
	got := restoredChecksums(t, dir, schema, []string{"instances", "audit", "flavors"})
	for tb, sum := range want {
		if got[tb] != sum {
			t.Errorf("table %s: checksum %d in the restored copy, %d in the cluster", tb, got[tb], sum)
		}
	}
	if len(want) != 3 {
		t.Errorf("checksums of %d tables, want 3", len(want))
	}
}

// TestMariabackupThroughAPipe runs the container recipe of the API's mariabackupCommand
// with `cat |` in place of `podman exec -i` (which relays stdin through a pipe): the
// backup logs in as the backup user and completes.
func TestMariabackupThroughAPipe(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	cfg := physicalConfig(t, sb)
	cfg.Compression = agent.None
	cfg.Physical.Command = `cat | sh -c 'f=$(mktemp -p /dev/shm) && exec 3>$f 4<$f && rm $f && cat >&3 && exec 0<&4 ` +
		`sudo -n mariadb-backup --defaults-extra-file={defaultsFile} --backup --galera-info --stream=xbstream'`
	res, err := agent.Dump(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	m, err := agent.Verify(t.Context(), res.Dir)
	if err != nil || m.Position == nil || m.Files[0].Name != agent.PhysicalFile {
		t.Fatalf("verify: %v, %+v", err, m)
	}
	if left, _ := filepath.Glob("/dev/shm/tmp.*"); len(left) > 0 {
		t.Errorf("the recipe left %v", left)
	}
}

// extractAndPrepare decompresses the backup file into `mbstream -x` and prepares the
// result with `mariadb-backup --prepare`: the first two steps of docs/restore.md.
func extractAndPrepare(t *testing.T, file, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	f, err := os.Open(file) //nolint:gosec // G304: test output
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	dec, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	start := time.Now()
	x := exec.CommandContext(ctx, "mbstream", "-x", "-C", dir) //nolint:gosec // G204: fixed tool, test directory
	x.Stdin = dec
	if out, err := x.CombinedOutput(); err != nil {
		t.Fatalf("mbstream -x: %v\n%s", err, out)
	}
	//nolint:gosec // G204: fixed tool, test directory
	prep := exec.CommandContext(ctx, "mariadb-backup", "--no-defaults", "--prepare", "--target-dir="+dir)
	if out, err := prep.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("completed OK!")) {
		t.Fatalf("mariadb-backup --prepare: %v\n...%s", err, tailOf(out, 1500))
	}
	t.Logf("mbstream -x and mariadb-backup --prepare: %v", time.Since(start).Round(time.Millisecond))
}

func tailOf(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// recoveredPosition runs `mariadbd --wsrep-recover` on a prepared datadir and returns
// the position it recovers.
func recoveredPosition(t *testing.T, datadir string) string {
	t.Helper()
	run := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	log := filepath.Join(run, "recover.log")
	//nolint:gosec // G204: fixed program, test paths
	cmd := exec.CommandContext(ctx, "/usr/sbin/mariadbd", "--no-defaults", "--user=root", "--datadir="+datadir,
		"--socket="+filepath.Join(run, "s.sock"), "--skip-networking", "--tmpdir="+run, "--log-error="+log,
		"--wsrep-recover", "--wsrep-on=ON", "--wsrep-provider=/usr/lib/galera/libgalera_smm.so",
		"--wsrep-cluster-address=gcomm://", "--binlog-format=ROW", "--innodb-buffer-pool-size=64M")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadbd --wsrep-recover: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log) //nolint:gosec // G304: test output
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "WSREP: Recovered position: ")
	if !ok {
		t.Fatalf("mariadbd --wsrep-recover recovered no position:\n%s", tailOf(b, 1500))
	}
	pos, _, _ := strings.Cut(after, "\n")
	return strings.TrimSpace(pos)
}

// restoredChecksums starts a throwaway standalone mariadbd (no wsrep, no networking,
// its own socket, no grant tables) on the prepared datadir, reads CHECKSUM TABLE of the
// tables and stops it by its PID.
func restoredChecksums(t *testing.T, datadir, schema string, tables []string) map[string]int64 {
	t.Helper()
	run := t.TempDir()
	sock := filepath.Join(run, "mysqld.sock")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	//nolint:gosec // G204: fixed program, test paths
	srv := exec.CommandContext(ctx, "/usr/sbin/mariadbd", "--no-defaults", "--user=root",
		"--datadir="+datadir, "--socket="+sock, "--pid-file="+filepath.Join(run, "mysqld.pid"),
		"--log-error="+filepath.Join(run, "error.log"), "--tmpdir="+run, "--skip-networking",
		"--skip-grant-tables", "--wsrep-on=OFF", "--skip-log-bin", "--innodb-buffer-pool-size=64M")
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = srv.Wait(); close(exited) }()
	defer func() {
		_ = syscall.Kill(srv.Process.Pid, syscall.SIGTERM) // by its PID, nothing broader
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
	}()
	for {
		if c, err := (&net.Dialer{}).DialContext(ctx, "unix", sock); err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(run, "error.log")) //nolint:gosec // G304: test output
			t.Fatalf("the throwaway mariadbd exited: %v\n...%s", waitErr, tailOf(log, 1500))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("the throwaway mariadbd did not open its socket in 30s")
		}
	}
	var q strings.Builder
	for _, tb := range tables {
		fmt.Fprintf(&q, "CHECKSUM TABLE `%s`.`%s`;\n", schema, tb)
	}
	//nolint:gosec // G204: fixed program, test paths
	cli := exec.CommandContext(ctx, "mariadb", "--no-defaults", "--socket="+sock, "-uroot", "-N", "-B")
	cli.Stdin = strings.NewReader(q.String())
	out, err := cli.CombinedOutput()
	if err != nil {
		t.Fatalf("CHECKSUM TABLE on the restored copy: %v\n%s", err, out)
	}
	sums := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("CHECKSUM TABLE said %q", sc.Text())
		}
		sums[strings.TrimPrefix(f[0], schema+".")] = n
	}
	t.Logf("throwaway mariadbd on the prepared copy: up and checksummed in %v", time.Since(start).Round(time.Millisecond))
	return sums
}

// TestMariabackupRefuses: a command that fails, one that does not read the credentials,
// a missing key, a wrong host key and a template without {defaultsFile} end with a clear
// error; nothing is left in the backup root and the node is not left desynced.
func TestMariabackupRefuses(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	dir := t.TempDir()
	otherKnownHosts := filepath.Join(dir, "known_hosts")
	// controller-1's host key listed for controller-2's address.
	var kh bytes.Buffer
	for _, l := range strings.Split(string(sb.ReadFile(t, sb.SSH.KnownHostsFile)), "\n") {
		if strings.HasPrefix(l, sb.Nodes[1].Address+" ") {
			kh.WriteString(strings.Replace(l, sb.Nodes[1].Address, sb.Nodes[2].Address, 1) + "\n")
		}
	}
	if err := os.WriteFile(otherKnownHosts, kh.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		setup   func(p *agent.PhysicalConfig)
		want    []string
		touches bool // gets as far as setting wsrep_desync
	}{
		{"mariadb-backup fails (no sudo: the datadir is unreadable)", func(p *agent.PhysicalConfig) {
			p.Command = "mariadb-backup --defaults-extra-file={defaultsFile} --backup --galera-info --stream=xbstream"
		}, []string{"mariadb-backup on controller-2: command on " + sb.Nodes[2].Address + ":22 exited with status 1", "Permission denied"}, true},
		{"the command does not exist", func(p *agent.PhysicalConfig) {
			p.Command = "no-such-mariadb-backup --defaults-extra-file={defaultsFile}"
		}, []string{"exited with status 127", "not found"}, true},
		{"credentials through a pipe are not read", func(p *agent.PhysicalConfig) {
			p.Command = "cat {defaultsFile} | sudo -n mariadb-backup --defaults-extra-file={defaultsFile} --backup --galera-info --stream=xbstream"
		}, []string{`mariadb-backup connected as "root" (password not set), not as "ocbbackup"`, "must pass {defaultsFile} to --defaults-extra-file"}, true},
		{"sudoers allows only the default command", func(p *agent.PhysicalConfig) {
			p.Command = agent.DefaultMariabackupCommand + " --parallel=2"
		}, []string{"exited with status 1", "sudo: a password is required"}, true},
		{"missing key", func(p *agent.PhysicalConfig) { p.KeyFile = filepath.Join(dir, "no-such-key") }, []string{"reading the ssh private key", "no such file"}, false},
		{"wrong host key", func(p *agent.PhysicalConfig) { p.KnownHostsFile = otherKnownHosts }, []string{"host key mismatch", "SHA256:"}, true},
		{"no {defaultsFile} in the command", func(p *agent.PhysicalConfig) {
			p.Command = "sudo -n mariadb-backup --backup --galera-info --stream=xbstream"
		}, []string{"does not contain {defaultsFile}"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := physicalConfig(t, sb)
			tc.setup(&cfg.Physical)
			res, err := agent.Dump(t.Context(), cfg)
			if err == nil {
				t.Fatal("the backup succeeded")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), sb.Password(t)) || bytes.Contains([]byte(err.Error()), sb.ReadFile(t, sb.SSH.PrivateKeyFile)) {
				t.Fatal("the error holds a secret")
			}
			if entries, _ := os.ReadDir(filepath.Join(cfg.Root, cfg.Namespace)); len(entries) != 0 {
				t.Errorf("left %v behind", entries)
			}
			if res.DesyncSet != tc.touches || (tc.touches && !res.DesyncReset) {
				t.Errorf("desync set=%v reset=%v", res.DesyncSet, res.DesyncReset)
			}
			if !notDesynced(t, sb, 2) {
				t.Error("the node is left desynced")
			}
		})
	}
}

// TestMariabackupStoppedMidway: the agent is stopped while mariadb-backup streams. The
// backup fails, nothing is left, the node is not left desynced, and no mariadb-backup is
// left running on the node (it would hold its backup locks): SIGTERM reaches it through
// sudo.
func TestMariabackupStoppedMidway(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	cfg := physicalConfig(t, sb)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		// Stop as soon as mariadb-backup runs on the node (namespaces share the PID space).
		for ctx.Err() == nil {
			if len(mariabackupPIDs()) > 0 {
				time.Sleep(100 * time.Millisecond)
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	start := time.Now()
	res, err := agent.Dump(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("err = %v, want the backup stopped", err)
	}
	t.Logf("stopped after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("stopping took %v", took)
	}
	undone(t, sb, res, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for len(mariabackupPIDs()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("mariadb-backup still runs on the node after the stop: %v", mariabackupPIDs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mariabackupPIDs lists the processes running the default command's mariadb-backup.
func mariabackupPIDs() []string {
	var pids []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p) //nolint:gosec // G304: /proc/<pid>/cmdline
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == "mariadb-backup" && args[1] == "--defaults-extra-file=/dev/stdin" {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}
