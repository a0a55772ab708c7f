package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// mbstreamCreate builds an xbstream of files with the real `mbstream -c`, as
// mariadb-backup --stream=xbstream writes them.
func mbstreamCreate(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	dir := t.TempDir()
	names := make([]string, 0, len(files))
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	sort.Strings(names) // empty, nova/instances.ibd, xtrabackup_*: chunkEnd relies on it
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mbstream", append([]string{"-c", "-C", dir}, names...)...) //nolint:gosec // G204: fixed tool
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mbstream -c (package mariadb-backup): %v: %s", err, stderr.String())
	}
	return out.Bytes()
}

func testFiles(t *testing.T) map[string][]byte {
	t.Helper()
	big := make([]byte, 3<<20) // several chunks
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"xtrabackup_galera_info": []byte("b08ff3f0-e8c1-11f1-a1dd-e348195fce58:252 0\n"),
		"xtrabackup_info":        []byte("uuid = x\ntool_name = mariadb-backup\ntool_version = 10.11.19-MariaDB\n"),
		"empty":                  nil,
		"nova/instances.ibd":     big,
	}
}

// follow writes the stream through an xbFollower in pieces of the given size.
func follow(stream []byte, piece int) (map[string][]byte, error) {
	f := followXBStream(galeraInfoFile, backupInfoFile, "nova/instances.ibd")
	for len(stream) > 0 {
		n := min(piece, len(stream))
		if _, err := f.Write(stream[:n]); err != nil {
			_, ferr := f.finish()
			return nil, errors.Join(err, ferr)
		}
		stream = stream[n:]
	}
	return f.finish()
}

func TestXBStreamFollower(t *testing.T) {
	files := testFiles(t)
	stream := mbstreamCreate(t, files)
	for _, piece := range []int{1 << 20, 32 << 10, 7} {
		kept, err := follow(stream, piece)
		if err != nil {
			t.Fatalf("pieces of %d: %v", piece, err)
		}
		if !bytes.Equal(kept[galeraInfoFile], files[galeraInfoFile]) || !bytes.Equal(kept[backupInfoFile], files[backupInfoFile]) {
			t.Errorf("pieces of %d: kept %q, %q", piece, kept[galeraInfoFile], kept[backupInfoFile])
		}
		if _, ok := kept["nova/instances.ibd"]; ok {
			t.Errorf("a file larger than %d bytes was kept", xbMaxKept)
		}
	}

	bad := []struct {
		name   string
		stream []byte
		want   string
	}{
		{"empty", nil, "the stream is empty"},
		{"garbage", []byte("-- MariaDB dump 10.19\n"), "no chunk magic at offset 0"},
		{"cut inside a chunk", stream[:len(stream)/2], "cut inside the chunk"},
		{"cut between chunks", stream[:chunkEnd(t, stream, 2)], "the stream ends inside 1 files (nova/instances.ibd"},
		{"flipped payload byte", flipped(stream, len(stream)/2), "CRC-32"},
		{"trailing garbage", append(append([]byte{}, stream...), "XBSTCK"...), "cut inside the chunk"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := follow(tt.stream, 32<<10)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// chunkEnd is the offset just after the n-th chunk of a stream.
func chunkEnd(t *testing.T, stream []byte, n int) int {
	t.Helper()
	off := 0
	for range n {
		pathLen := int(stream[off+10]) | int(stream[off+11])<<8
		off += 14 + pathLen
		if stream[off-14-pathLen+9] == xbTypeEOF {
			continue
		}
		length := int(stream[off]) | int(stream[off+1])<<8 | int(stream[off+2])<<16 | int(stream[off+3])<<24
		off += 20 + length
	}
	return off
}

func flipped(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x40
	return c
}

// TestXBStreamAbort: abandoning the stream ends the follower without waiting.
func TestXBStreamAbort(t *testing.T) {
	stream := mbstreamCreate(t, testFiles(t))
	f := followXBStream()
	if _, err := f.Write(stream[:1000]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { f.abort(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("abort hangs")
	}
	if _, err := f.Write(stream[1000:2000]); err == nil {
		t.Error("a write after abort succeeded")
	}
}

func TestParseGaleraInfo(t *testing.T) {
	tests := []struct {
		in      string
		want    Position
		wantErr string
	}{
		{"b08ff3f0-e8c1-11f1-a1dd-e348195fce58:252 0\n", Position{ClusterUUID: "b08ff3f0-e8c1-11f1-a1dd-e348195fce58", Seqno: 252}, ""},
		{"b08ff3f0-e8c1-11f1-a1dd-e348195fce58:7\n", Position{ClusterUUID: "b08ff3f0-e8c1-11f1-a1dd-e348195fce58", Seqno: 7}, ""},
		{"", Position{}, "does the command pass --galera-info"},
		{"b08ff3f0-e8c1-11f1-a1dd-e348195fce58:-1 0\n", Position{}, "no valid seqno"},
		{"00000000-0000-0000-0000-000000000000 12", Position{}, "not <cluster uuid>:<seqno>"},
		{"not-a-uuid:12", Position{}, "not <cluster uuid>:<seqno>"},
	}
	for _, tt := range tests {
		got, err := parseGaleraInfo([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseGaleraInfo(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || *got != tt.want {
			t.Errorf("parseGaleraInfo(%q) = %+v, %v", tt.in, got, err)
		}
	}
	if g := binlogGTID([]byte("mariadb-bin.000096 568 0-1-2,1-1-7\n")); g != "0-1-2,1-1-7" {
		t.Errorf("binlogGTID = %q", g)
	}
	if g := binlogGTID(nil); g != "" {
		t.Errorf("binlogGTID(nil) = %q", g)
	}
	if v := backupToolVersion([]byte("uuid = x\ntool_name = mariadb-backup\ntool_command = --backup\ntool_version = 10.11.19-MariaDB\n")); v != "mariadb-backup 10.11.19-MariaDB" {
		t.Errorf("backupToolVersion = %q", v)
	}
}

func TestLoginWatch(t *testing.T) {
	const ok = "[00] 2026-11-25 11:58:04 Connecting to MariaDB server host: 10.77.0.13, user: ocbbackup, password: set, port: 3306, socket: /run/mysqld/mysqld.sock\n"
	const root = "[00] 2026-11-25 11:58:06 Connecting to MariaDB server host: localhost, user: root, password: not set, port: not set, socket: /run/mysqld/mysqld.sock\n"
	for _, tt := range []struct {
		name, stderr string
		wantErr      bool
	}{
		{"the backup user", "mariadb-backup based on MariaDB server 10.11.19\n" + ok + root, false},
		{"root by unix_socket", root, true},
		{"no such line", "mariadb-backup: Can't change dir\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stopped error
			w := &loginWatch{user: "ocbbackup", mismatch: func(err error) { stopped = err }}
			for i := 0; i < len(tt.stderr); i += 5 { // lines split across writes
				if n, err := w.Write([]byte(tt.stderr[i:min(i+5, len(tt.stderr))])); err != nil || n == 0 {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := w.check(); (err != nil) != tt.wantErr || (stopped != nil) != tt.wantErr {
				t.Fatalf("check = %v, mismatch called with %v, want an error: %v", err, stopped, tt.wantErr)
			}
		})
	}
}

// TestRemoteCommandPreamble runs the remote command locally with /bin/sh: the defaults
// sent on stdin can be read twice through /dev/stdin (mariadb-backup does), and no file
// is left behind, not even while the command runs.
func TestRemoteCommandPreamble(t *testing.T) {
	// (A password with a control character never gets here: withDefaults refuses it.)
	cfg := Config{User: `back"up`, Password: `p\a'ss$(x) #word`, Address: "10.77.0.13", Port: 3306} //nolint:gosec // G101: test data
	in := clientDefaults(cfg)
	want := "[client]\nuser=\"back\\\"up\"\npassword=\"p\\\\a'ss$(x) #word\"\nhost=\"10.77.0.13\"\nport=3306\n"
	if string(in) != want {
		t.Fatalf("clientDefaults = %q, want %q", in, want)
	}
	tmp, home := t.TempDir(), t.TempDir()
	template := `sh -c 'cat "$1"; cat "$1"; ls -A "$2" "$3"; [ ! -p "$1" ]' sh {defaultsFile} ` + tmp + " " + home
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", remoteCommand(template)) //nolint:gosec // G204: the command under test
	// /dev/shm is tried first; an unwritable one moves to TMPDIR, then HOME.
	cmd.Env = []string{"TMPDIR=" + tmp, "HOME=" + home, "PATH=/usr/bin:/bin"}
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !bytes.HasPrefix(out, append(append([]byte{}, in...), in...)) {
		t.Fatalf("the defaults were not read twice through /dev/stdin: %q", out)
	}
	if rest := string(out[2*len(in):]); strings.Contains(rest, "ocb-defaults") {
		t.Errorf("a defaults file has a name while the command runs: %q", rest)
	}
	if left, _ := filepath.Glob("/dev/shm/.ocb-defaults.*"); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestExtractXBStream: a stream made by the real `mbstream -c` extracts to the same files
// (the empty one included, directories made); a stream naming a path outside the
// directory ("..", absolute), as a hostile node could write, is refused and writes nothing
// outside it; a cut stream fails.
func TestExtractXBStream(t *testing.T) {
	files := testFiles(t)
	stream := mbstreamCreate(t, files)
	dir := t.TempDir()
	if err := extractXBStream(bytes.NewReader(stream), dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name)) //nolint:gosec // G304: the test's directory
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (%v), want %d", name, len(got), err, len(want))
		}
	}
	if err := extractXBStream(bytes.NewReader(stream[:len(stream)-10]), t.TempDir()); err == nil {
		t.Error("a cut stream extracted without error")
	}
	outside := t.TempDir()
	for _, name := range []string{"../escaped", "/" + filepath.Join(outside[1:], "abs"), "a/../../escaped2"} {
		hostile := bytes.ReplaceAll(mbstreamCreate(t, map[string][]byte{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": []byte("payload")}),
			[]byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), []byte(fmt.Sprintf("%-36s", name)[:36]))
		inner := filepath.Join(t.TempDir(), "in")
		if err := os.Mkdir(inner, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := extractXBStream(bytes.NewReader(hostile), inner); err == nil {
			t.Errorf("path %q: extracted without error", name)
		}
		for _, p := range []string{filepath.Join(filepath.Dir(inner), "escaped"), filepath.Join(outside, "abs")} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("path %q: %s was written", name, p)
			}
		}
	}
}
