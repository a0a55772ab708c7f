// Command demo is what `make demo` runs: the operator's main job end to end on this machine.
// `make demo` first brings up (or checks) the local overcloud (hack/overcloud.sh) and the
// one-node Kubernetes with the operator's image built and deployed (`make sandbox deploy`).
// This program then, timing each step: makes an OpenStack-like dataset in the overcloud;
// opens a client session through HAProxy, as nova's would be; applies the Secrets, the claim
// and an OvercloudBackup made from config/samples with the local overcloud's addresses; shows
// what a user sees while the deployed controller probes the overcloud, chooses an idle node
// and runs the backup Job (the node table, status.message and the conditions, the agent's
// progress lines); then `kubectl get ocb`, the files on the volume and `agent verify`; then
// the sample BackupSchedule, adapted the same way, asked for a backup at once with its
// run-now annotation; and last, nova's database dropped by mistake and restored from the
// backup by the sample OvercloudRestore (its plan, `kubectl patch` to confirm it, the
// restore Job, every node proved equal to the backup). It leaves everything running and
// ends with how to explore and how to tear down (`make demo-down`). Run again, it replaces
// its backups with new ones (the schedule is updated and given a new run-now value) and
// its restore with a new one.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

const (
	// datasetSchema and datasetMB are the dataset of the benchmarks (docs/benchmarks.md):
	// made once and shared, so the demo adds nothing to the overcloud when they ran.
	datasetSchema = "ocb_bench"
	datasetMB     = 200
	// backupTimeout bounds the backup, from its creation to Succeeded or Failed.
	backupTimeout = 10 * time.Minute
	// operatorNamespace and managerDeployment are what `make deploy` creates.
	operatorNamespace = "overcloud-backup-system"
	managerDeployment = "overcloud-backup-controller-manager"
	// kubectlGet is kubectl's verb, in the commands the demo runs and shows.
	kubectlGet = "get"
	// kubectlWaitTimeout bounds `kubectl wait`, which the demo runs once the outcome it
	// waits for is known (kubectlRun bounds every kubectl to 30 s).
	kubectlWaitTimeout = "--timeout=30s"
	// ocbResource is the OvercloudBackup's short name, as people type it.
	ocbResource = "ocb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	d := &demo{t: &demoT{}, began: time.Now()}
	err := d.run(ctx)
	d.t.cleanup() // the client session and the sandbox lock
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
		os.Exit(1)
	}
}

// demo is one run.
type demo struct {
	*env
	t       *demoT
	began   time.Time
	timings []timing
	// sample is config/samples' backup, backup the one made from it (as it ended).
	sample, backup *backupv1alpha1.OvercloudBackup
	// ocSample is config/samples' Overcloud, overcloud the one made from it.
	ocSample, overcloud *backupv1alpha1.Overcloud
	// dir is the backup's directory on this machine (the local PV's host path).
	dir string
}

type timing struct {
	title string
	took  time.Duration
}

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.env, err = newEnv(ctx); err != nil {
		return err
	}
	steps := []struct {
		title string
		do    func(context.Context) error
	}{
		{"The local overcloud and the one-node Kubernetes", d.check},
		{"An OpenStack-like dataset in the overcloud", d.dataset},
		{"A client of the database, as an OpenStack service would be", d.client},
		{"An Overcloud and an OvercloudBackup that names it, from the samples", d.fromSample},
		{"The namespace, Secrets and claim, then the Overcloud: what its watch shows (`kubectl get overcloud`)", d.prepare},
		{"The backup: what the controller does (`kubectl get ocb -w`, `kubectl logs -f`)", d.runBackup},
		{"What kubectl shows", d.kubectlViews},
		{"The files on the volume, and `agent verify`", d.files},
		{"The restore drill: the backup restored into a scratch server, every table compared (`kubectl wait --for=condition=Verified`)", d.drill},
		{"What the drill says of a backup that does not hold what was dumped", d.mismatch},
		{"A BackupSchedule, from the sample, run now (`backup.overcloud.io/run-now`)", d.scheduleStep},
		{"A database dropped by mistake, brought back by an OvercloudRestore: its plan, the confirmation, the proof on every node", d.restore},
	}
	for i, s := range steps {
		fmt.Printf("\n== %d. %s\n", i+1, s.title)
		start := time.Now()
		if err := try(func() error { return s.do(ctx) }); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
		took := time.Since(start)
		d.timings = append(d.timings, timing{s.title, took})
		fmt.Printf("   (%.1fs)\n", took.Seconds())
	}
	d.summary()
	return nil
}

// check locks the overcloud (tests of other packages may be using it) and shows that it and
// the node with the operator are up: `make demo` brought them up before this program.
func (d *demo) check(ctx context.Context) error {
	start := time.Now()
	d.sb.Lock(d.t)
	if waited := time.Since(start); waited > time.Second {
		fmt.Printf("   (waited %.1fs for tests using the overcloud)\n", waited.Seconds())
	}
	d.sb.WaitHealthy(d.t)
	fmt.Printf("   $ %shack/overcloud.sh status\n", d.scriptPrefix())
	printIndented(d.sb.Run(d.t, "status"))
	if d.sb.Live() {
		// Pacemaker's own view, as an operator of the overcloud reads it on a controller:
		// Corosync membership, galera promoted everywhere, the VIP and HAProxy.
		fmt.Printf("   $ %shack/overcloud.sh crm-mon    # crm_mon --one-shot --inactive on a controller\n", d.scriptPrefix())
		printIndented(d.sb.Run(d.t, "crm-mon"))
	}
	for _, args := range [][]string{
		{kubectlGet, "nodes"},
		{"-n", operatorNamespace, kubectlGet, "deployment", managerDeployment},
	} {
		out, err := d.kubectlRun(ctx, args...)
		if err != nil {
			return err
		}
		fmt.Printf("   $ kubectl %s\n", strings.Join(args, " "))
		printIndented(out)
	}
	return nil
}

func (d *demo) dataset(context.Context) error {
	ds := d.sb.EnsureDataset(d.t, datasetSchema, datasetMB)
	fmt.Printf("   %s looks like nova's, neutron's and keystone's tables: instances, their extras and faults, ports,\n", ds.Schema)
	fmt.Println("   credentials. The backup dumps every database but the system ones: nova's, this one, any the tests made.")
	return nil
}

func (d *demo) client(context.Context) error {
	_, node := d.sb.ClientSession(d.t)
	fmt.Printf("   A session through HAProxy on the VIP %s landed on %s and stays open: HAProxy counts it there,\n",
		d.sb.HAProxy.Frontend, node)
	fmt.Println("   which is how the controller tells the node serving clients from the idle ones.")
	return nil
}

func (d *demo) fromSample(context.Context) error {
	d.ocSample, d.sample = &backupv1alpha1.Overcloud{}, &backupv1alpha1.OvercloudBackup{}
	if err := loadSample(overcloudSample, d.ocSample); err != nil {
		return err
	}
	if err := loadSample(sample, d.sample); err != nil {
		return err
	}
	if d.sample.Spec.OvercloudRef.Name != d.ocSample.Name {
		return fmt.Errorf("%s names Overcloud %s, %s is %s", sample, d.sample.Spec.OvercloudRef.Name, overcloudSample, d.ocSample.Name)
	}
	d.overcloud = d.overcloudFromSample(d.ocSample)
	if err := describeOvercloud(d.ocSample, d.overcloud); err != nil {
		return err
	}
	fmt.Println()
	d.backup = backupFromSample(d.sample, time.Now())
	return describeBackup(d.backup)
}

// prepare applies the namespace, the Secrets and the claim, then the Overcloud, and
// waits for its first probe: the columns and the node table answer, before any backup,
// "could a backup run now, and from which node?".
func (d *demo) prepare(ctx context.Context) error {
	if err := d.applyObjects(ctx, d.overcloud, d.backup); err != nil {
		return err
	}
	if err := d.applyOvercloud(ctx, d.overcloud); err != nil {
		return err
	}
	got, err := d.waitProbed(ctx, d.overcloud, time.Minute)
	if err != nil {
		return err
	}
	out, err := d.kubectlRun(ctx, "-n", namespace, kubectlGet, "overcloud", "-o", "wide")
	if err != nil {
		return err
	}
	fmt.Printf("   $ kubectl -n %s get overcloud -o wide\n", namespace)
	printIndented(out)
	printOvercloudTable(got)
	return nil
}

func (d *demo) runBackup(ctx context.Context) error {
	got, created, err := d.createAndFollow(ctx, d.backup, backupTimeout)
	if got != nil {
		d.backup = got
	}
	if err != nil {
		return err
	}
	took := time.Since(created)
	if got.Status.Phase != backupv1alpha1.PhaseSucceeded {
		events, _ := d.kubectlRun(ctx, "-n", namespace, kubectlGet, "events", "--field-selector", "involvedObject.name="+got.Name)
		return fmt.Errorf("the backup ended %s after %.1fs: %s\n%s", got.Status.Phase, took.Seconds(), got.Status.Message, events)
	}
	fmt.Printf("   Succeeded %.1fs after its creation", took.Seconds())
	if dur := got.Status.Duration; dur != nil {
		fmt.Printf(" (status.duration %s: from its Job's start to the end)", dur.Duration)
	}
	fmt.Println()
	return nil
}

// kubectlViews shows the backup as kubectl does: the printer columns, and `kubectl wait`.
func (d *demo) kubectlViews(ctx context.Context) error {
	for _, args := range [][]string{
		{"-n", namespace, kubectlGet, ocbResource, "-o", "wide"},
		waitArgs("Complete", ocbResource+"/"+d.backup.Name),
	} {
		out, err := d.kubectlRun(ctx, args...)
		if err != nil {
			return err
		}
		fmt.Printf("   $ kubectl %s\n", strings.Join(args, " "))
		printIndented(out)
	}
	if c := meta.FindStatusCondition(d.backup.Status.Conditions, backupv1alpha1.ConditionReady); c != nil {
		fmt.Printf("   Ready=%s (%s), what dashboards and GitOps tools read.\n", c.Status, c.Reason)
	}
	return nil
}

func (d *demo) files(ctx context.Context) error {
	var err error
	if d.dir, err = d.showFiles(ctx, d.backup); err != nil {
		return err
	}
	return d.verify(ctx, d.backup)
}

// summary prints the time of each step, then how to explore and how to tear down.
func (d *demo) summary() {
	fmt.Println("\n== Done. Time of each step:")
	if !d.started.IsZero() {
		fmt.Printf("   %6.1fs  make sandbox deploy (the overcloud, the node, the image, the operator) and go run\n",
			d.began.Sub(d.started).Seconds())
	}
	for i, t := range d.timings {
		fmt.Printf("   %6.1fs  %d. %s\n", t.took.Seconds(), i+1, t.title)
	}
	total := time.Since(d.began)
	if !d.started.IsZero() {
		total = time.Since(d.started)
	}
	fmt.Printf("   %6.1fs  in all\n", total.Seconds())

	name := d.backup.Name
	fmt.Printf(`
Everything is still running. To explore, with the node's kubeconfig and kubectl
(or: eval "$(hack/kube-node.sh env)"; alias kubectl="$OCB_KUBECTL"):
   export KUBECONFIG=%[1]s
   alias kubectl=%[2]s
   # the backups: phase, node, size, duration; with -o wide the active node and the message
   kubectl -n %[3]s get ocb -o wide
   # its conditions, node table, artifact and events
   kubectl -n %[3]s describe ocb %[4]s
   kubectl -n %[3]s get ocb %[4]s -o jsonpath='{range .status.nodes[*]}{.name}{"\t"}{.role}{"\t"}{.reason}{"\n"}{end}'
   # the restore: its plan, each node's proof
   kubectl -n %[3]s get ocr -o yaml
   # the agent's log (its progress lines), the controller's log
   kubectl -n %[3]s logs job/%[5]s
   kubectl -n %[6]s logs deploy/%[7]s
   # the files, on this machine
   ls -l %[8]s
   %[10]shack/kube-node.sh status

Run `+"`make demo`"+` again to replace this backup with a new one. To tear everything down:
   make demo-down    # deletes namespace %[3]s, then hack/kube-node.sh down and %[9]shack/overcloud.sh down
`, d.kubeconfig, d.kubectl, namespace, name, d.backup.Status.JobName, operatorNamespace, managerDeployment, d.dir,
		d.scriptPrefix(), d.overcloudViews())
}

// overcloudViews are the commands that show the overcloud, each followed by "; ".
func (d *demo) overcloudViews() string {
	views := d.scriptPrefix() + "hack/overcloud.sh status; "
	if d.sb.Live() {
		views += d.scriptPrefix() + "hack/overcloud.sh crm-mon; "
	}
	return views
}

// scriptPrefix is what a person types before hack/overcloud.sh to reach the demo's
// overcloud: nothing for the live Pacemaker one (the default), OCB_PACEMAKER=file for the other.
func (d *demo) scriptPrefix() string {
	if d.sb.Live() {
		return ""
	}
	return "OCB_PACEMAKER=file "
}

// waitArgs are the arguments of `kubectl wait` for the object's condition, in the demo's
// namespace: the demo runs it once the outcome is known, as a user would to read it back.
func waitArgs(condition, object string) []string {
	return []string{"-n", namespace, "wait", "--for=condition=" + condition, object, kubectlWaitTimeout}
}

// printIndented prints a command's output under the step.
func printIndented(out string) {
	for line := range strings.Lines(out) {
		fmt.Print("     " + line)
	}
	if out != "" && !strings.HasSuffix(out, "\n") {
		fmt.Println()
	}
}
