package controllers

// The envtest tier: a real kube-apiserver and etcd (test/testenv), the controller in a
// real manager, the probes against the real local overcloud (test/sandbox; every test
// that probes holds its lock). No kubelet or Job controller runs here: where a Job must
// finish, the test creates the Job's pod with the agent's termination message and sets
// the Job's status as the Job controller would (finishJob says so where it does it).

import (
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/jobpolicy"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
	"github.com/overcloud-backup/overcloud-backup-operator/test/testenv"
)

const (
	testImage = "registry.example/overcloud-backup-operator:test"
	// wffcClass is a StorageClass that binds at the first consumer: a claim on it is
	// Pending until the Job's pod is scheduled, and usable.
	wffcClass = "ocb-test-wffc"
	// waitTimeout bounds every wait of these tests.
	waitTimeout = 30 * time.Second
)

var (
	restCfg *rest.Config
	scheme  *runtime.Scheme
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, filepath.Join("..", "config", "crd", "bases"), func(cfg *rest.Config) error {
		var err error
		if scheme, err = testenv.Scheme(); err != nil {
			return err
		}
		restCfg = cfg
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
		return nil
	}))
}

// newClient is a client that talks to the API server directly.
func newClient(t testing.TB) client.WithWatch {
	t.Helper()
	c, err := client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startManager runs the OvercloudBackup controller in its own manager, watching only
// namespace, the way cmd/manager.go configures it (label-selected Jobs and Pods, Secrets
// never cached). The returned function stops it and waits until it has stopped.
func startManager(t testing.TB, namespace string) (stop func()) {
	t.Helper()
	return runManager(t, namespace, managerOptions{backups: true})
}

// startManagerWith is startManager with the reconciler's client wrapped (nil: as is), to
// count or fail its calls.
func startManagerWith(t testing.TB, namespace string, wrap func(client.Client) client.Client) (stop func()) {
	t.Helper()
	return runManager(t, namespace, managerOptions{backups: true, wrap: wrap})
}

// managerOptions says what runManager runs.
type managerOptions struct {
	// backups, schedules, overclouds and restores are the controllers to run.
	backups, schedules, overclouds, restores bool
	// namespaces are more namespaces to watch.
	namespaces []string
	// watcher is the Overcloud reconciler's (nil: the live one).
	watcher Watcher
	// prober is the OvercloudBackup reconciler's (nil: the live one).
	prober Prober
	// overcloudWorkers is the Overcloud controller's MaxConcurrentReconciles (2 when zero).
	overcloudWorkers int
	// wrap wraps the OvercloudBackup reconciler's client (nil: as is).
	wrap func(client.Client) client.Client
	// clock is the BackupSchedule reconciler's (nil: time.Now).
	clock func() time.Time
	// metricsAddr serves the metrics ("" or "0": none).
	metricsAddr string
	// schedulesWorkers is the schedule controller's MaxConcurrentReconciles (1 when zero).
	schedulesWorkers int
	// policy is the OvercloudBackup reconciler's JobPolicy (the manager's flags).
	policy jobpolicy.Policy
}

// runManager runs the chosen controllers in their own manager on namespace; stop (also
// run at cleanup) stops it and waits until it has stopped.
func runManager(t testing.TB, namespace string, o managerOptions) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: cmp.Or(o.metricsAddr, "0")},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{ByObject: CacheByObject(), DefaultNamespaces: namespaceConfigs(namespace, o.namespaces),
			DefaultTransform: cache.TransformStripManagedFields()}, // as cmd/manager.go
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: UncachedObjects()}},
		// Each test starts its own manager with the same controller name.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if o.backups {
		r := &OvercloudBackupReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
			Recorder: mgr.GetEventRecorder("overcloudbackup-controller"), AgentImage: testImage,
			MinProbeBackoff: 300 * time.Millisecond, MaxProbeBackoff: 2 * time.Second, MaxConcurrentReconciles: 2,
			Prober: o.prober, JobPolicy: o.policy,
		}
		if o.wrap != nil {
			r.Client = o.wrap(r.Client)
		}
		if err := r.SetupWithManager(ctx, mgr); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	if o.overclouds {
		if err := (&OvercloudReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
			Recorder: mgr.GetEventRecorder("overcloud-controller"), Watcher: o.watcher, MaxConcurrentReconciles: cmp.Or(o.overcloudWorkers, 2),
		}).SetupWithManager(ctx, mgr); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	if o.schedules {
		if err := (&BackupScheduleReconciler{
			Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("backupschedule-controller"), Now: o.clock,
			MaxConcurrentReconciles: o.schedulesWorkers,
		}).SetupWithManager(mgr); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	if o.restores {
		if err := (&OvercloudRestoreReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("overcloudrestore-controller"),
			Now: o.clock, AgentImage: testImage, JobPolicy: o.policy,
		}).SetupWithManager(ctx, mgr); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("manager: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("the manager did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func namespaceConfigs(first string, more []string) map[string]cache.Config {
	out := map[string]cache.Config{first: {}}
	for _, ns := range more {
		out[ns] = cache.Config{}
	}
	return out
}

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ocb-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	// envtest runs no garbage collector nor namespace controller: the test's Jobs would
	// outlive it, still unfinished, and hold their Galera cluster's lock for the next tests
	// (a real cluster deletes them with their backups).
	t.Cleanup(func() {
		if err := c.DeleteAllOf(context.Background(), &batchv1.Job{}, client.InNamespace(ns.Name),
			client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Errorf("deleting the Jobs of namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// lockedSandbox loads the local overcloud, takes its lock for the test and waits until
// it is healthy.
func lockedSandbox(t testing.TB) *sandbox.Sandbox {
	t.Helper()
	return lock(t, sandbox.Load(t))
}

// lock takes sb's test lock and waits until it is healthy.
func lock(t testing.TB, sb *sandbox.Sandbox) *sandbox.Sandbox {
	t.Helper()
	start := time.Now()
	sb.Lock(t)
	locked := time.Now()
	sb.WaitHealthy(t)
	t.Logf("sandbox: locked after %v, healthy after %v more", locked.Sub(start).Round(time.Millisecond), time.Since(locked).Round(time.Millisecond))
	return sb
}

// overcloudSpec describes the sandbox as a user would: Galera, Pacemaker over SSH and
// HAProxy (stats page with basic auth, stats socket), short timeouts.
func overcloudSpec(sb *sandbox.Sandbox) backupv1alpha1.OvercloudSpec {
	short := &metav1.Duration{Duration: 2 * time.Second}
	oc := backupv1alpha1.OvercloudSpec{
		DatabaseVIP: sb.VIP,
		Database: backupv1alpha1.DatabaseAccess{
			CredentialsSecret: backupv1alpha1.CredentialsSecretReference{Name: "db"},
			ConnectTimeout:    short, QueryTimeout: short,
		},
		SSH:       &backupv1alpha1.SSHAccess{SecretName: "ssh", User: sb.SSH.User, Timeout: &metav1.Duration{Duration: 3 * time.Second}},
		Pacemaker: &backupv1alpha1.PacemakerAccess{},
		HAProxy: &backupv1alpha1.HAProxyAccess{
			StatsURL: sb.HAProxy.StatsURL, StatsSocket: sb.HAProxy.StatsSocket, Backend: sb.HAProxy.Backend,
			CredentialsSecret: &backupv1alpha1.CredentialsSecretReference{Name: "haproxy"},
			Timeout:           short,
		},
	}
	for _, n := range sb.Nodes {
		mp, sp := int32(n.MySQLPort), int32(n.SSHPort) //nolint:gosec // G115: ports
		oc.Nodes = append(oc.Nodes, backupv1alpha1.NodeSpec{Name: n.Name, Address: n.Address, MySQLPort: &mp, SSHPort: &sp})
	}
	return oc
}

// testOvercloud is the name of the Overcloud (the sandbox) ready() creates.
const testOvercloud = "site-a"

// newOvercloud is the sandbox as an Overcloud, watched every 2 s (none when the
// interval is 0).
func newOvercloud(sb *sandbox.Sandbox, namespace, name string, interval time.Duration) *backupv1alpha1.Overcloud {
	oc := &backupv1alpha1.Overcloud{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       overcloudSpec(sb),
	}
	oc.Spec.Monitoring = &backupv1alpha1.MonitoringSpec{Interval: &metav1.Duration{Duration: interval}}
	return oc
}

// newBackup is a backup of the sandbox (Overcloud site-a) into the claim "backups", with
// no restore drill: envtest runs no Job, and a drill Job nobody finishes would hold the
// deletion of the backup (its pod must go first). The drill's tests turn it on.
func newBackup(_ *sandbox.Sandbox, namespace, name string) *backupv1alpha1.OvercloudBackup {
	return &backupv1alpha1.OvercloudBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: backupv1alpha1.OvercloudBackupSpec{
			OvercloudRef: backupv1alpha1.OvercloudReference{Name: testOvercloud},
			Storage:      backupv1alpha1.StorageSpec{ClaimName: "backups"},
			Verification: &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled},
		},
	}
}

func create(t testing.TB, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// secrets are the three Secrets overcloudSpec names, with the sandbox's credentials.
func secrets(t testing.TB, sb *sandbox.Sandbox, namespace string) (db, ssh, haproxy *corev1.Secret) {
	t.Helper()
	mk := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Data: data}
	}
	return mk("db", map[string][]byte{"username": []byte(sb.Database.User), "password": []byte(sb.Password(t))}),
		mk("ssh", map[string][]byte{
			"ssh-privatekey": sb.ReadFile(t, sb.SSH.PrivateKeyFile), "known_hosts": sb.ReadFile(t, sb.SSH.KnownHostsFile),
		}),
		mk("haproxy", map[string][]byte{"username": []byte(sb.HAProxy.StatsUser), "password": []byte(sb.StatsPassword(t))})
}

// claim is the PVC "backups" on a WaitForFirstConsumer StorageClass (created once).
func claim(t testing.TB, c client.Client, namespace string) *corev1.PersistentVolumeClaim {
	t.Helper()
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: wffcClass},
		Provisioner:       "kubernetes.io/no-provisioner",
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	if err := c.Create(context.Background(), sc); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "backups"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(wffcClass),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

// ready creates everything a backup needs: Secrets and claim.
func ready(t testing.TB, c client.Client, sb *sandbox.Sandbox, namespace string) {
	t.Helper()
	db, ssh, hap := secrets(t, sb, namespace)
	create(t, c, db, ssh, hap, claim(t, c, namespace), newOvercloud(sb, namespace, testOvercloud, 0))
}

// waitBackup polls the backup until ok says so, and returns it.
func waitBackup(t testing.TB, c client.Client, key client.ObjectKey, what string, ok func(*backupv1alpha1.OvercloudBackup) bool) *backupv1alpha1.OvercloudBackup {
	t.Helper()
	b := &backupv1alpha1.OvercloudBackup{}
	waitObject(t, c, key, b, "backup", what, waitTimeout, func() bool { return ok(b) }, func() any { return b.Status })
	return b
}

// waitObject polls obj (read into it) until ok says so, at most timeout; a failure shows
// status().
func waitObject(t testing.TB, c client.Client, key client.ObjectKey, obj client.Object, kind, what string, timeout time.Duration,
	ok func() bool, status func() any,
) {
	t.Helper()
	start := time.Now()
	for {
		err := c.Get(context.Background(), key, obj)
		if err == nil && ok() {
			t.Logf("%s %s: %s after %v", kind, key.Name, what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > timeout {
			st, _ := json.MarshalIndent(status(), "", "  ")
			t.Fatalf("%s %s: not %s within %v (err %v); status:\n%s", kind, key.Name, what, timeout, err, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// condition is the backup's condition of that type ("" fields when absent).
func condition(b *backupv1alpha1.OvercloudBackup, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(b.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func hasCondition(typ string, status metav1.ConditionStatus, reason string) func(*backupv1alpha1.OvercloudBackup) bool {
	return func(b *backupv1alpha1.OvercloudBackup) bool {
		c := condition(b, typ)
		return c.Status == status && (reason == "" || c.Reason == reason)
	}
}

// running: the backup's attempt n Job exists and the status says so.
func running(n int32) func(*backupv1alpha1.OvercloudBackup) bool {
	return func(b *backupv1alpha1.OvercloudBackup) bool {
		return b.Status.Phase == backupv1alpha1.PhaseRunning && b.Status.Attempts == n && b.Status.JobName == b.JobName(n)
	}
}

// jobsOf lists the backup's Jobs.
func jobsOf(t testing.TB, c client.Client, b *backupv1alpha1.OvercloudBackup) []batchv1.Job {
	t.Helper()
	list := &batchv1.JobList{}
	if err := c.List(context.Background(), list, client.InNamespace(b.Namespace), client.MatchingLabels{backupv1alpha1.LabelBackup: b.Name}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func getJob(t testing.TB, c client.Client, namespace, name string) *batchv1.Job {
	t.Helper()
	j := &batchv1.Job{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, j); err != nil {
		t.Fatal(err)
	}
	return j
}

// okResult is what the agent reports for a good backup.
func okResult(b *backupv1alpha1.OvercloudBackup, node string) *agent.Result {
	return &agent.Result{
		Dir: "/backup/" + b.Namespace + "/" + b.Name, Node: node,
		Files: []agent.FileInfo{
			{Name: "all-databases.sql.zst", Compression: "zstd", Bytes: 1536 * 1024, SHA256: strings.Repeat("ab", 32)},
			{Name: "users.sql.zst", Compression: "zstd", Bytes: 512, SHA256: strings.Repeat("cd", 32)},
		},
		TotalBytes: 1536*1024 + 512,
		Position:   &agent.Position{ClusterUUID: "6c1b7a52-0000-11ef-0000-000000000001", Seqno: 4242},
		DesyncSet:  true, DesyncReset: true,
	}
}

// finishJob plays the kubelet and the Job controller, which do not run in envtest: it
// creates the Job's pod (labels and owner as the Job controller sets them), records the
// agent container's termination with res as its message (no pod at all when res is nil:
// a pod that is gone), then sets the Job's terminal status as the Job controller would
// (SuccessCriteriaMet then Complete, or FailureTarget then Failed).
func finishJob(t testing.TB, c client.Client, job *batchv1.Job, res *agent.Result, succeeded bool) {
	t.Helper()
	if res == nil {
		finishJobMessage(t, c, job, nil, succeeded)
		return
	}
	msg := string(res.Summary())
	finishJobMessage(t, c, job, &msg, succeeded)
}

// finishJobMessage is finishJob with the container's termination message as is (nil:
// no pod at all).
func finishJobMessage(t testing.TB, c client.Client, job *batchv1.Job, msg *string, succeeded bool) {
	t.Helper()
	ctx := context.Background()
	now := metav1.Now()
	if msg != nil {
		labels := map[string]string{batchv1.JobNameLabel: job.Name, batchv1.ControllerUidLabel: string(job.UID)}
		for k, v := range job.Spec.Template.Labels {
			labels[k] = v
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: job.Namespace, Name: job.Name + "-" + string(job.UID)[:5], Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
				}},
			},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: agentContainer, Image: testImage}}},
		}
		create(t, c, pod)
		exit, phase := int32(0), corev1.PodSucceeded
		if !succeeded {
			exit, phase = 1, corev1.PodFailed
		}
		pod.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			Name: agentContainer, Image: testImage, ImageID: testImage,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exit, Message: *msg, StartedAt: now, FinishedAt: now,
			}},
		}}}
		if err := c.Status().Update(ctx, pod); err != nil {
			t.Fatalf("setting the pod's status: %v", err)
		}
	}
	job = getJob(t, c, job.Namespace, job.Name)
	job.Status.StartTime = ptr.To(metav1.NewTime(now.Add(-time.Minute)))
	if succeeded {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
		}
	}
	if err := c.Status().Update(ctx, job); err != nil {
		t.Fatalf("setting the Job's status: %v", err)
	}
}

// clientSession opens one client session through HAProxy on the VIP, kept until the
// test ends, so that HAProxy's stick table names the active node; it returns that node.
func clientSession(t testing.TB, sb *sandbox.Sandbox) string {
	t.Helper()
	_, name := sb.ClientSession(t)
	return name
}

// nodeIndex is the sandbox index of the named node.
func nodeIndex(t testing.TB, sb *sandbox.Sandbox, name string) string {
	t.Helper()
	for i, n := range sb.Nodes {
		if n.Name == name {
			return strconv.Itoa(i)
		}
	}
	t.Fatalf("no sandbox node %s", name)
	return ""
}
