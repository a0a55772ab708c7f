//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// pluginRun is one `kubectl ocb ...` as a user runs it: its output and exit code.
type pluginRun struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// TestPlugin: the kubectl plugin, built into a directory first on PATH, run by the node's
// real kubectl through its plugin mechanism (`kubectl ocb ...` execs kubectl-ocb) against
// an Overcloud of the sandbox: `kubectl plugin list` finds it; status before any probe;
// probe (the operator answers status.lastProbeRequest, and the node table names every
// node); backup --pvc --wait (Succeeded, exit 0); verify --wait (the drill answering the
// request: Verified=True, exit 0); restore plan (a plan printed, the restore Planned and
// never confirmed); status with the backup; -o json parses as a List; backup --wait
// through the Overcloud's only BackupSchedule (its run-now creates the backup the plugin
// named, and it succeeds); a missing object exits 1 with one "error: " line, a missing
// argument exits 2. Each output is logged: the examples of docs/plugin.md are these.
func TestPlugin(t *testing.T) {
	k := connect(t)
	kubectl := kubectlPath(t)
	bin := buildPlugin(t)
	sb := lockSandbox(t)
	ns := k.namespace(t, "plugin")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)
	e := controllerBackup(sb, ns, "plugin", accessHTTP)
	oc := e.Overcloud
	k.createOvercloud(t, oc)

	ocb := func(args ...string) pluginRun {
		t.Helper()
		r := runPlugin(t, kubectl, bin, append([]string{"ocb"}, args...)...)
		t.Logf("$ kubectl ocb %s   (exit %d, %v)\n%s%s", strings.Join(args, " "), r.code, r.took.Round(100*time.Millisecond), r.stdout, r.stderr)
		noSecrets(t, "kubectl ocb "+strings.Join(args, " "), r.stdout+r.stderr, secrets)
		return r
	}
	must := func(r pluginRun, args ...string) pluginRun {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("kubectl ocb %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	nsFlag := []string{"-n", ns}

	list := runPlugin(t, kubectl, bin, "plugin", "list")
	if !strings.Contains(list.stdout, filepath.Join(bin, "kubectl-ocb")) {
		t.Fatalf("kubectl plugin list does not show %s:\n%s%s", bin, list.stdout, list.stderr)
	}
	if r := must(ocb("version"), "version"); r.stdout != "kubectl-ocb e2e\n" {
		t.Errorf("version: %q", r.stdout)
	}

	// Bad usage and missing objects, as kubectl reports them.
	if r := ocb("backup"); r.code != 2 || !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("a missing argument: exit %d, stderr %q; want 2 and \"error: ...\"", r.code, r.stderr)
	}
	if r := ocb(append([]string{"status", "no-such-overcloud"}, nsFlag...)...); r.code != 1 ||
		!strings.HasPrefix(r.stderr, "error: ") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("a missing Overcloud: exit %d, stderr %q; want 1 and one \"error: ... not found\" line", r.code, r.stderr)
	}

	// Before any probe (monitoring.interval is 0s): no node table yet.
	must(ocb(append([]string{"status"}, nsFlag...)...))
	must(ocb(append([]string{"status", oc.Name}, nsFlag...)...))

	// probe: run by the operator, answered in status.
	r := must(ocb(append([]string{"probe", oc.Name, "--timeout", "90s"}, nsFlag...)...))
	got := &backupv1alpha1.Overcloud{}
	if err := k.c.Get(context.Background(), client.ObjectKeyFromObject(oc), got); err != nil {
		t.Fatal(err)
	}
	if req := got.Status.LastProbeRequest; !strings.HasPrefix(req, "kubectl-ocb-") || got.Annotations[backupv1alpha1.AnnotationProbe] != req {
		t.Errorf("status.lastProbeRequest %q, annotation %q", req, got.Annotations[backupv1alpha1.AnnotationProbe])
	}
	for _, n := range sb.Nodes {
		if !strings.Contains(r.stdout, n.Name) {
			t.Errorf("the probe's node table does not name %s", n.Name)
		}
	}
	if !strings.Contains(r.stdout, "Selected node:") || !strings.Contains(r.stdout, "NODE ") {
		t.Errorf("the probe's output has no node table and decision")
	}

	// backup --pvc --wait: no schedule, the plugin creates <overcloud>-r<8 hex>.
	r = must(ocb(append([]string{"backup", oc.Name, "--pvc", claimName, "--sub-path", "plugin", "--wait", "--timeout", "4m"}, nsFlag...)...))
	m := regexp.MustCompile(`overcloudbackup\.backup\.overcloud\.io/(` + regexp.QuoteMeta(oc.Name) + `-r[0-9a-f]{8}) created`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("backup: no \"overcloudbackup.backup.overcloud.io/%s-r<8 hex> created\" line", oc.Name)
	}
	backup := m[1]
	if !strings.Contains(r.stdout, "Phase:     Succeeded") {
		t.Fatalf("backup %s did not end Succeeded", backup)
	}

	// verify --wait: a drill answering this request. The backup's own drill (every backup
	// is drilled unless spec.verification.drill is Disabled) may be running: the request
	// replaces it, so the test waits for one drill, not two.
	r = must(ocb(append([]string{"verify", backup, "--wait", "--timeout", "4m"}, nsFlag...)...))
	if !strings.Contains(r.stdout, "Verified:  True") {
		t.Errorf("verify: no \"Verified:  True\" line")
	}
	b := &backupv1alpha1.OvercloudBackup{}
	if err := k.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: backup}, b); err != nil {
		t.Fatal(err)
	}
	if v := b.Status.Verification; v == nil || v.Request != b.Annotations[backupv1alpha1.AnnotationVerify] || v.Tables == 0 {
		t.Errorf("status.verification %+v does not answer %q", v, b.Annotations[backupv1alpha1.AnnotationVerify])
	}

	// restore plan: Planned, printed, never confirmed.
	r = must(ocb(append([]string{"restore", "plan", backup, "--databases", "nova", "--credentials-secret", credentialsSecret}, nsFlag...)...))
	if !strings.Contains(r.stdout, `kubectl patch overcloudrestore `) || !strings.Contains(r.stdout, `{"spec":{"confirm":"`+oc.Name+`"}}`) {
		t.Errorf("restore plan: no confirm command")
	}
	var restores backupv1alpha1.OvercloudRestoreList
	if err := k.c.List(context.Background(), &restores, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(restores.Items) != 1 {
		t.Fatalf("%d OvercloudRestores, want the one planned", len(restores.Items))
	}
	if rs := restores.Items[0]; rs.Spec.Confirm != "" || rs.Status.Phase != backupv1alpha1.RestorePlanned || len(rs.Status.Plan) == 0 ||
		!strings.Contains(r.stdout, rs.Name) {
		t.Errorf("restore %s: confirm %q, phase %s, %d steps", rs.Name, rs.Spec.Confirm, rs.Status.Phase, len(rs.Status.Plan))
	}

	// status with the backup, as a person and as JSON.
	r = must(ocb(append([]string{"status", oc.Name}, nsFlag...)...))
	if !regexp.MustCompile(backup + `\s+Succeeded\s+Logical\s+\S+ \S+\s+yes`).MatchString(r.stdout) {
		t.Errorf("status: no line for backup %s, Succeeded, verified", backup)
	}
	r = must(runPlugin(t, kubectl, bin, append([]string{"ocb", "status", oc.Name, "-o", "json"}, nsFlag...)...))
	var asList struct {
		Kind  string `json:"kind"`
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &asList); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if asList.Kind != "List" || len(asList.Items) != 2 || asList.Items[0].Kind != "Overcloud" ||
		asList.Items[1].Kind != "OvercloudBackup" || asList.Items[1].Metadata.Name != backup {
		t.Errorf("status -o json: %+v; want a List of the Overcloud and its backup", asList)
	}

	// backup --wait through the Overcloud's only BackupSchedule (@yearly: it never fires
	// during the test): the plugin sets the run-now annotation, the schedule controller
	// creates <schedule>-r<8 hex>, named as the plugin computed, owned by the schedule.
	s := &backupv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plugin-nightly", Labels: map[string]string{e2eLabel: "true"}},
		Spec: backupv1alpha1.BackupScheduleSpec{
			Schedule:       "@yearly",
			BackupTemplate: backupv1alpha1.BackupTemplate{Spec: e.Spec},
		},
	}
	if err := k.c.Create(context.Background(), s); err != nil {
		t.Fatalf("creating BackupSchedule %s: %v", s.Name, err)
	}
	r = must(ocb(append([]string{"backup", oc.Name, "--wait", "--timeout", "4m"}, nsFlag...)...))
	m = regexp.MustCompile(`overcloudbackup\.backup\.overcloud\.io/(\S+) created \(run-now of backupschedule ` +
		regexp.QuoteMeta(s.Name) + `\)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("backup through the schedule: no \"overcloudbackup.backup.overcloud.io/<name> created (run-now of backupschedule %s)\" line", s.Name)
	}
	if !strings.Contains(r.stdout, "Phase:     Succeeded") {
		t.Fatalf("backup %s through the schedule did not end Succeeded", m[1])
	}
	if err := k.c.Get(context.Background(), client.ObjectKeyFromObject(s), s); err != nil {
		t.Fatal(err)
	}
	run := s.Annotations[backupv1alpha1.AnnotationRunNow]
	if want := s.RunNowName(run); run == "" || m[1] != want || s.Status.LastRunNow != backupv1alpha1.RequestKey(run) {
		t.Errorf("run-now %q, status.lastRunNow %q: backup %s, want %s", run, s.Status.LastRunNow, m[1], want)
	}
	if names := k.scheduleChildren(context.Background(), t, s); !slices.Equal(names, []string{m[1]}) {
		t.Errorf("the schedule's backups are %v, want only %s", names, m[1])
	}
}

// buildPlugin builds kubectl-ocb (version "e2e") into a fresh directory and returns it.
func buildPlugin(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	//nolint:gosec // G204: the go tool, our package
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=e2e",
		"-o", filepath.Join(dir, "kubectl-ocb"), "./cmd/kubectl-ocb")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building kubectl-ocb: %v\n%s", err, out)
	}
	return dir
}

// runPlugin runs the node's kubectl with the suite's kubeconfig and the plugin's
// directory first on PATH, at most 6 minutes, and returns its output and exit code.
func runPlugin(t testing.TB, kubectl, bin string, args ...string) pluginRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	// --kubeconfig after the plugin's name: kubectl looks a plugin up by the arguments
	// before the first flag, and passes the plugin every argument after its name.
	//nolint:gosec // G204: the node's own kubectl, our arguments
	cmd := exec.CommandContext(ctx, kubectl, append(args, "--kubeconfig", os.Getenv("OCB_KUBECONFIG"))...)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := pluginRun{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return r
}
