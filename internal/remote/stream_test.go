package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStreamAgainstSSHD(t *testing.T) {
	s := startSSHD(t)
	tests := []struct {
		name string
		test func(t *testing.T, s *testSSHD)
	}{
		{"large output streamed, not capped", streamLarge},
		{"stdin then output", streamStdin},
		{"non-zero exit keeps partial output and stderr", streamNonZeroExit},
		{"stderr observed as it comes", streamStderrObserved},
		{"caller cancels an endless stream", streamCallerCancels},
		{"failing writer stops the command", streamWriterFails},
		{"command timeout does not apply", streamOutlivesCommandTimeout},
		{"stale kept connection replaced", streamStaleConnection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, s) })
	}
}

// hashingWriter counts and hashes what it is given, like the backup file does, keeping
// nothing.
type hashingWriter struct {
	n int64
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func newHashingWriter() *hashingWriter { return &hashingWriter{h: sha256.New()} }

func (w *hashingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

func (w *hashingWriter) hex() string { return fmt.Sprintf("%x", w.h.Sum(nil)) }

func streamLarge(t *testing.T, s *testSSHD) {
	// MaxOutput 1 KiB: Run would refuse this output, Stream must not keep it at all.
	r := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 1024)
	const size = 64 << 20
	w := newHashingWriter()
	err := r.Stream(t.Context(), "127.0.0.1", s.port, fmt.Sprintf("head -c %d /dev/zero", size), nil, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(make([]byte, size))
	if w.n != size || w.hex() != fmt.Sprintf("%x", want) {
		t.Fatalf("streamed %d bytes (sha256 %s), want %d zero bytes", w.n, w.hex(), size)
	}
}

func streamStdin(t *testing.T, s *testSSHD) {
	r := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	in := []byte("[client]\nuser=\"x\"\n")
	var out bytes.Buffer
	// The command reads all of stdin first (as the backup's preamble does), then writes.
	if err := r.Stream(t.Context(), "127.0.0.1", s.port, "cat; echo done", in, &out, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != string(in)+"done\n" {
		t.Fatalf("stdout = %q", out.String())
	}
}

func streamNonZeroExit(t *testing.T, s *testSSHD) {
	r := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	var out bytes.Buffer
	err := r.Stream(t.Context(), "127.0.0.1", s.port, "echo partial; echo 'mariadb-backup: boom' >&2; exit 7", nil, &out, nil)
	var exitErr *ExitError
	if !errors.As(err, &exitErr) || exitErr.Status != 7 || !strings.Contains(exitErr.Stderr, "boom") {
		t.Fatalf("err = %v (%T), want an *ExitError with status 7 and the stderr", err, err)
	}
	// (This test sshd logs at DEBUG1, which it also sends to a root session's stderr.)
	if !strings.Contains(err.Error(), "exited with status 7: ") || !strings.HasSuffix(err.Error(), "mariadb-backup: boom") {
		t.Errorf("message = %q", err)
	}
	if out.String() != "partial\n" {
		t.Errorf("stdout = %q, want what came before the failure", out.String())
	}
}

func streamStderrObserved(t *testing.T, s *testSSHD) {
	r := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	var errOut bytes.Buffer
	// 10 KiB of stderr: the observer sees all of it, the ExitError only the end.
	cmd := "i=0; while [ $i -lt 1024 ]; do echo line-$i-xxxx >&2; i=$((i+1)); done; exit 3"
	err := r.Stream(t.Context(), "127.0.0.1", s.port, cmd, nil, io.Discard, &errOut)
	var exitErr *ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(errOut.String(), "\nline-0-xxxx\n") || !strings.HasSuffix(errOut.String(), "line-1023-xxxx\n") {
		t.Errorf("the stderr observer got %d bytes: %.40q...", errOut.Len(), errOut.String())
	}
	if len(exitErr.Stderr) > stderrTail+len("…") || !strings.HasSuffix(exitErr.Stderr, "line-1023-xxxx\n") {
		t.Errorf("ExitError.Stderr is %d bytes, want the last %d", len(exitErr.Stderr), stderrTail)
	}
}

func streamCallerCancels(t *testing.T, s *testSSHD) {
	r := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The caller cancels once the stream flows (1 MiB in), not at a fixed time: on a busy
	// machine the connection alone can take longer than any fixed delay.
	w := &cancelAfter{hashingWriter: newHashingWriter(), after: 1 << 20, cancel: cancel}
	before := s.signals()
	err := r.Stream(ctx, "127.0.0.1", s.port, "yes", nil, w, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if w.at.IsZero() || w.n < w.after {
		t.Fatalf("Stream returned after %d bytes, before the caller cancelled", w.n)
	}
	// yes never ends on its own: anything short of the test's timeout is "stopped"; the
	// bound is loose so that a loaded machine does not fail it.
	if took := time.Since(w.at); took > termGrace+10*time.Second {
		t.Fatalf("Stream returned %v after the caller cancelled", took)
	}
	if s.signals() <= before {
		t.Error("sshd received no signal request for the stopped command")
	}
}

// cancelAfter hashes what it is given and calls cancel once it has had after bytes,
// noting when.
type cancelAfter struct {
	*hashingWriter
	after  int64
	cancel context.CancelFunc
	at     time.Time
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	n, err := c.hashingWriter.Write(p)
	if c.n >= c.after && c.at.IsZero() {
		c.at = time.Now()
		c.cancel()
	}
	return n, err
}

// failAfter takes n bytes, then fails every write, like a full disk; at is when it first
// failed.
type failAfter struct {
	n  int
	at time.Time
}

var errDiskFull = errors.New("no space left on device")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		if f.at.IsZero() {
			f.at = time.Now()
		}
		return 0, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

func streamWriterFails(t *testing.T, s *testSSHD) {
	r := s.runner(t, s.knownHosts(s.ed25519), 20*time.Second, 0)
	w := &failAfter{n: 1 << 20}
	err := r.Stream(t.Context(), "127.0.0.1", s.port, "yes", nil, w, nil)
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "writing the output of the command") {
		t.Fatalf("err = %v, want the writer's error", err)
	}
	// Counted from the failed write, not from the dial: the handshake is no part of it. The
	// bound separates "stopped" (SIGTERM, at worst SIGKILL after termGrace) from "never":
	// yes runs forever and Stream has no command timeout. Loose, for a loaded machine.
	if took := time.Since(w.at); took > termGrace+10*time.Second {
		t.Fatalf("an endless command took %v to stop after its output failed", took)
	}
}

func streamOutlivesCommandTimeout(t *testing.T, s *testSSHD) {
	r := s.runner(t, s.knownHosts(s.ed25519), 300*time.Millisecond, 0)
	var out bytes.Buffer
	if err := r.Stream(t.Context(), "127.0.0.1", s.port, "sleep 1; echo late", nil, &out, nil); err != nil {
		t.Fatalf("a stream longer than CommandTimeout: %v", err)
	}
	if out.String() != "late\n" {
		t.Fatalf("stdout = %q", out.String())
	}
}

func streamStaleConnection(t *testing.T, s *testSSHD) {
	r := s.runner(t, s.knownHosts(s.ed25519), 10*time.Second, 0)
	ctx := t.Context()
	if _, err := r.Run(ctx, "127.0.0.1", s.port, "true", nil); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	kept := r.conns[net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))]
	r.mu.Unlock()
	if kept == nil {
		t.Fatal("the connection was not kept")
	}
	_ = kept.raw.Close()
	var out bytes.Buffer
	if err := r.Stream(ctx, "127.0.0.1", s.port, "echo again", nil, &out, nil); err != nil || out.String() != "again\n" {
		t.Fatalf("stream after the kept connection died: %q %v", out.String(), err)
	}
}
