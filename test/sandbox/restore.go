package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/pacemaker"
)

// GaleraResource is the live sandbox's promotable galera clone (hack/overcloud-live.sh).
const GaleraResource = "galera-clone"

// ClusterDatadir is the live sandbox's galera datadir as each controller sees it (its
// mount namespace binds <state>/local to its own <state>/cN): what a WholeCluster restore
// of the sandbox names as its datadir.
func (s *Sandbox) ClusterDatadir() string {
	return filepath.Join(filepath.Dir(s.Path), "local", "data")
}

// AsideDir is controller i's datadir kept aside by a WholeCluster restore of the stamp,
// as the host sees it.
func (s *Sandbox) AsideDir(i int, stamp string) string {
	return filepath.Join(s.NodeDir(i), "data.before-restore-"+stamp)
}

// InController runs a command inside controller i's namespaces, bounded to 30 s.
func (s *Sandbox) InController(i int, args ...string) ([]byte, error) {
	pid, err := os.ReadFile(filepath.Join(s.NodeDir(i), "holder.pid"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	//nolint:gosec // G204: a PID from the sandbox's own state, fixed commands
	return exec.CommandContext(ctx, "nsenter", append([]string{"--target", strings.TrimSpace(string(pid)), "--pid", "--mount",
		"--net", "--uts", "--"}, args...)...).Output()
}

// CrmStatus is crm_mon's view, read inside the first controller that answers.
func (s *Sandbox) CrmStatus() (*pacemaker.Status, error) {
	var last error
	for i := range s.Nodes {
		out, err := s.InController(i, "crm_mon", "--one-shot", "--inactive", "--output-as=xml")
		if err != nil {
			last = err
			continue
		}
		st, err := pacemaker.Parse(out, pacemaker.Options{GaleraResource: GaleraResource, VIP: s.VIP})
		if err != nil {
			last = err
			continue
		}
		return st, nil
	}
	return nil, last
}

// AllPromoted says whether galera is Promoted on every controller.
func (s *Sandbox) AllPromoted() bool {
	st, err := s.CrmStatus()
	if err != nil {
		return false
	}
	for _, n := range s.Nodes {
		if !st.GaleraOn(n.Name).Promoted() {
			return false
		}
	}
	return true
}

// CleanupClusterRestore leaves the cluster as the next test expects it after a
// WholeCluster restore of the stamp: galera Promoted everywhere and healthy, no datadir
// kept aside by it left. When the restore did not bring galera back (restored says so:
// it failed before, or at, its start), the kept-aside datadirs are put back, galera
// stopped around it, as the agent's error tells a person to.
func (s *Sandbox) CleanupClusterRestore(t testing.TB, stamp string, restored func() bool) {
	t.Helper()
	anyAside := false
	for i := range s.Nodes {
		if _, err := os.Stat(s.AsideDir(i, stamp)); err == nil {
			anyAside = true
		}
	}
	if !restored() && anyAside {
		t.Log("cleanup: the restore did not finish: putting every kept-aside datadir back")
		s.Run(t, "stop-galera")
		deadline := time.Now().Add(3 * time.Minute)
		for !s.galeraStopped() {
			if time.Now().After(deadline) {
				t.Fatal("cleanup: galera not stopped within 3 minutes")
			}
			time.Sleep(time.Second)
		}
		for i := range s.Nodes {
			aside, data := s.AsideDir(i, stamp), filepath.Join(s.NodeDir(i), "data")
			if _, err := os.Stat(aside); err != nil {
				continue
			}
			if err := os.RemoveAll(data); err != nil { // the test's partial restore, never a user's
				t.Errorf("cleanup: %v", err)
			}
			if err := os.Rename(aside, data); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	// Started whatever happened: a restore that failed may have left target-role Stopped.
	s.Run(t, "start-galera")
	s.Run(t, "cleanup")
	deadline := time.Now().Add(5 * time.Minute)
	for !s.AllPromoted() {
		if time.Now().After(deadline) {
			t.Fatal("cleanup: galera not Promoted on every controller within 5 minutes")
		}
		time.Sleep(time.Second)
	}
	s.WaitHealthy(t)
	for i := range s.Nodes {
		if err := os.RemoveAll(s.AsideDir(i, stamp)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// galeraStopped says whether crm_mon shows galera Stopped on every controller and no
// mariadbd runs in any.
func (s *Sandbox) galeraStopped() bool {
	st, err := s.CrmStatus()
	if err != nil {
		return false
	}
	for i, n := range s.Nodes {
		if st.GaleraOn(n.Name).Role != pacemaker.RoleStopped {
			return false
		}
		if _, err := s.InController(i, "pgrep", "-x", "mariadbd"); err == nil {
			return false
		}
	}
	return true
}
