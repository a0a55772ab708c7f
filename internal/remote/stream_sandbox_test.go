package remote_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/remote"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// TestStreamStopKillsTheCommandBehindSudo: on the local overcloud, as the unprivileged
// ssh user (sshd honours signal requests only for those), a stopped Stream leaves no
// command running on the node, not even one sudo runs as root: sudo passes the signals on.
func TestStreamStopKillsTheCommandBehindSudo(t *testing.T) {
	sb := sandbox.Load(t)
	sb.Lock(t)
	r, err := remote.NewRunner(remote.Config{User: sb.SSH.User, PrivateKey: sb.ReadFile(t, sb.SSH.PrivateKeyFile),
		KnownHosts: sb.ReadFile(t, sb.SSH.KnownHostsFile), ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	n := sb.Nodes[2]
	// socat is one of the commands the sandbox's sudoers allows; it runs the sleep as root.
	const marker = "30.0505"
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	err = r.Stream(ctx, n.Address, n.SSHPort, `exec sudo -n socat -u EXEC:"sleep `+marker+`" STDOUT`, nil, io.Discard, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The cancel comes after 1 s and the sleep lasts 30: the bound is loose so that a loaded
	// machine does not fail it.
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Stream returned after %v", took)
	}
	want := []byte("sleep\x00" + marker + "\x00")
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range cmdlines {
			if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, want) { //nolint:gosec // G304: /proc/<pid>/cmdline
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the root command is still running after the stop: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
