package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// termGrace is how long a stopped Stream waits, after SIGINT and SIGTERM, for the
// command to end before it sends SIGKILL and closes the connection.
const termGrace = time.Second

// Stream runs command with stdin on host:port (port 0 means 22), like Run, but hands its
// standard output to stdout as it arrives instead of keeping it: the output of a backup
// is as large as the database, so nothing of it is buffered here. stderr, when not nil,
// sees the command's standard error as it arrives (its write errors are ignored); the
// end of it is also kept for the *ExitError of a non-zero exit.
//
// Only the connection is bounded by the Runner's ConnectTimeout: how long a stream may
// last depends on the data, so ctx bounds the rest (CommandTimeout does not apply), and a
// host that stops answering (dead, or off the network) ends it with ErrNoAnswer within
// KeepaliveTimeout and one KeepaliveInterval. When
// ctx ends, or when stdout fails (a full disk), the command is sent SIGINT and SIGTERM,
// which sudo passes on to the command it runs (mariadb-backup ends on SIGINT; it holds
// SIGTERM back), then SIGKILL after a second, and the connection is closed and
// forgotten (a command still running then fails on its next write). sshd honours signal
// requests only for unprivileged users. The error then wraps ctx's error or stdout's. A
// command that exits by itself with a non-zero status gives an *ExitError.
func (r *Runner) Stream(ctx context.Context, host string, port int, command string, stdin []byte, stdout, stderr io.Writer) error {
	return r.StreamFrom(ctx, host, port, command, bytes.NewReader(stdin), stdout, stderr)
}

// StreamFrom is Stream with the command's standard input read from stdin as the command
// reads it (a restore streams a backup into the node): nothing of it is held here. A
// kept connection found dead is replaced only before anything was read from stdin.
func (r *Runner) StreamFrom(ctx context.Context, host string, port int, command string, stdin io.Reader, stdout, stderr io.Writer) error {
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	for {
		c, reused, err := r.connection(ctx, addr)
		if err != nil {
			return err
		}
		stale, err := r.streamOn(ctx, c, addr, command, stdin, stdout, stderr)
		if stale && reused && ctx.Err() == nil {
			continue // the kept connection had died before anything ran; dial a fresh one
		}
		return err
	}
}

// streamOn runs command in a new session of c, stdout streamed. stale is true when the
// session could not even be opened.
func (r *Runner) streamOn(ctx context.Context, c *conn, addr, command string, stdin io.Reader,
	stdout, stderr io.Writer) (stale bool, err error) {
	healthy := false
	defer func() {
		if healthy {
			r.release(addr, c)
		} else {
			r.forget(addr, c)
		}
	}()
	// stopCtx ends with ctx or with the first failed write to stdout.
	stopCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var running atomic.Pointer[ssh.Session]
	finished := make(chan struct{})
	unwatch := context.AfterFunc(stopCtx, func() {
		if sess := running.Load(); sess != nil {
			signal(sess, ssh.SIGINT)
			signal(sess, ssh.SIGTERM)
			select {
			case <-finished:
			case <-time.After(termGrace):
				signal(sess, ssh.SIGKILL)
			}
		}
		c.close()
	})
	defer unwatch()

	sess, err := c.client.NewSession()
	if err != nil {
		return true, r.wrap(ctx, addr, "opening ssh session on", c.cause(err))
	}
	defer func() { _ = sess.Close() }()

	out := &streamWriter{w: stdout, fail: func(err error) { stop(err) }}
	tail := &tailBuffer{limit: stderrTail}
	sess.Stdin = stdin
	sess.Stdout = out
	sess.Stderr = tail
	if stderr != nil {
		sess.Stderr = io.MultiWriter(tail, ignoreErrors{stderr})
	}

	running.Store(sess)
	err = sess.Run(command)
	close(finished)
	if werr := out.failure(); werr != nil {
		return false, fmt.Errorf("writing the output of the command on %s: %w", addr, werr)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if err == nil {
			err = errors.New("it ended at the same time")
		}
		// The command's own last words do not matter here: it was stopped.
		return false, fmt.Errorf("running command on %s: stopped: %w (%w)", addr, ctxErr, describe(err, addr, &tailBuffer{}))
	}
	if err == nil {
		healthy = true
		return false, nil
	}
	var exitErr *ssh.ExitError
	if errors.As(err, &exitErr) {
		healthy = true
		return false, describe(err, addr, tail)
	}
	return false, r.wrap(ctx, addr, "running command on", c.cause(err))
}

// describe turns ssh's exit error into an *ExitError with the end of stderr.
func describe(err error, addr string, tail *tailBuffer) error {
	var exitErr *ssh.ExitError
	if errors.As(err, &exitErr) {
		return &ExitError{Host: addr, Status: exitStatus(exitErr), Signal: exitErr.Signal(), Stderr: tail.String()}
	}
	return err
}

// signal sends sig to the session's command, waiting at most killGrace for the request
// to be written (a dead connection never takes it).
func signal(sess *ssh.Session, sig ssh.Signal) {
	sent := make(chan struct{})
	go func() { _ = sess.Signal(sig); close(sent) }()
	select {
	case <-sent:
	case <-time.After(killGrace):
	}
}

// streamWriter passes the command's output on; its first write error stops the command
// (fail), and every later write fails at once, so the SSH session stops reading.
type streamWriter struct {
	w    io.Writer
	fail func(error)

	mu  sync.Mutex
	err error
}

// Write implements io.Writer.
func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.err = err
		s.fail(err)
	}
	return n, err
}

func (s *streamWriter) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ignoreErrors keeps a failing observer of stderr from stopping the session.
type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(p []byte) (int, error) {
	_, _ = i.w.Write(p)
	return len(p), nil
}
