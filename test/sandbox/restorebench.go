package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The helpers of a WholeCluster restore done by hand, as a DBA would on a controller:
// BenchmarkRestoreCluster (internal/agent) measures the agent's restore against it.

// InControllerCtx runs a command inside controller i's namespaces as root (a DBA's root
// shell on the node), bounded by ctx, with stdin when not nil, and returns its output and
// errors combined.
func (s *Sandbox) InControllerCtx(ctx context.Context, i int, stdin io.Reader, args ...string) ([]byte, error) {
	pid, err := os.ReadFile(filepath.Join(s.NodeDir(i), "holder.pid"))
	if err != nil {
		return nil, err
	}
	//nolint:gosec // G204: a PID from the sandbox's own state, the caller's fixed commands
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--target", strings.TrimSpace(string(pid)), "--pid", "--mount",
		"--net", "--uts", "--"}, args...)...)
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}

// SSHArgs is the ssh command line that runs remote on controller i as the sandbox's SSH
// user, with its key and known hosts only (no user configuration read, no password
// asked, no host key accepted that is not known).
func (s *Sandbox) SSHArgs(i int, remote string) []string {
	n := s.Nodes[i]
	return []string{"ssh", "-F", "/dev/null", "-i", s.SSH.PrivateKeyFile, "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + s.SSH.KnownHostsFile, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		"-o", "ConnectTimeout=5", "-p", strconv.Itoa(n.SSHPort), "-l", s.SSH.User, "--", n.Address, remote}
}

// ControllerTmp is controller i's /tmp as the host sees it (each controller mounts a /tmp
// of its own).
func (s *Sandbox) ControllerTmp(i int) string { return filepath.Join(s.NodeDir(i), "root-tmp") }

// WaitGaleraStopped waits, at most timeout, until crm_mon shows galera Stopped on every
// controller and no mariadbd runs in any.
func (s *Sandbox) WaitGaleraStopped(ctx context.Context, timeout, poll time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !s.galeraStopped() {
		if time.Now().After(deadline) {
			return fmt.Errorf("galera not stopped everywhere within %s", timeout)
		}
		if err := sleep(ctx, poll); err != nil {
			return err
		}
	}
	return nil
}

// WaitPromotedVIP waits, at most timeout, until galera is Promoted on every controller and
// the database VIP is started (what the agent's start-galera step waits for), polling
// crm_mon every poll. It returns when each controller was first seen Promoted, from the
// call.
func (s *Sandbox) WaitPromotedVIP(ctx context.Context, timeout, poll time.Duration) (map[string]time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	seen := map[string]time.Duration{}
	last := "no crm_mon answered"
	for {
		st, err := s.CrmStatus()
		if err == nil {
			all := true
			roles := make([]string, 0, len(s.Nodes))
			for _, n := range s.Nodes {
				g := st.GaleraOn(n.Name)
				if _, ok := seen[n.Name]; g.Promoted() && !ok {
					seen[n.Name] = time.Since(start)
				}
				all = all && g.Promoted()
				roles = append(roles, n.Name+" "+string(g.Role))
			}
			vipUp := st.VIP != nil && st.VIP.Active && !st.VIP.Failed && st.VIP.Node != ""
			if all && vipUp {
				return seen, nil
			}
			last = strings.Join(roles, ", ") + fmt.Sprintf("; VIP up %v", vipUp)
		}
		if time.Now().After(deadline) {
			return seen, fmt.Errorf("galera not Promoted everywhere with the VIP up within %s: %s", timeout, last)
		}
		if err := sleep(ctx, poll); err != nil {
			return seen, err
		}
	}
}

// PipeToController runs `producer | ssh controller-i remote` (the two processes joined
// by a pipe, as a shell would), bounded by ctx, and says what either wrote to stderr when
// one fails.
func (s *Sandbox) PipeToController(ctx context.Context, i int, producer []string, remote string) error {
	//nolint:gosec // G204: the caller's fixed tools and files
	src := exec.CommandContext(ctx, producer[0], producer[1:]...)
	ssh := s.SSHArgs(i, remote)
	dst := exec.CommandContext(ctx, ssh[0], ssh[1:]...) //nolint:gosec // G204: ssh to a sandbox address
	src.WaitDelay, dst.WaitDelay = 5*time.Second, 5*time.Second
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	var srcErr, dstOut bytes.Buffer
	src.Stdout, src.Stderr = w, &srcErr
	dst.Stdin, dst.Stdout, dst.Stderr = r, &dstOut, &dstOut
	err = dst.Start()
	if err == nil {
		if err = src.Start(); err != nil {
			_ = dst.Process.Kill() // by its PID: ours
			_ = dst.Wait()
		}
	}
	// Only the children hold the pipe now: ssh exiting early stops zstd (SIGPIPE).
	_, _ = r.Close(), w.Close()
	if err != nil {
		return err
	}
	werr := src.Wait()
	err = dst.Wait()
	if werr != nil {
		err = errors.Join(err, fmt.Errorf("%s: %w: %s", producer[0], werr, bounded(srcErr.String())))
	}
	if err != nil {
		return fmt.Errorf("%s | ssh %s: %w: %s", producer[0], s.Nodes[i].Name, err, bounded(dstOut.String()))
	}
	return nil
}

func bounded(s string) string {
	if len(s) > 600 {
		return "..." + s[len(s)-600:]
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
