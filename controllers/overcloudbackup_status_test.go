package controllers

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

var t0 = time.Date(2026, 5, 1, 2, 30, 0, 0, time.UTC)

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason}
}

func TestPhaseOf(t *testing.T) {
	T, F := metav1.ConditionTrue, metav1.ConditionFalse
	cases := []struct {
		name  string
		conds []metav1.Condition
		want  backupv1alpha1.BackupPhase
	}{
		{"nothing yet", nil, backupv1alpha1.PhasePending},
		{"waiting for references", []metav1.Condition{cond(backupv1alpha1.ConditionReferencesResolved, F, backupv1alpha1.ReasonSecretNotFound)}, backupv1alpha1.PhasePending},
		{"queued", []metav1.Condition{cond(backupv1alpha1.ConditionNodeSelected, F, backupv1alpha1.ReasonQueued)}, backupv1alpha1.PhasePending},
		{"job running", []metav1.Condition{cond(backupv1alpha1.ConditionJobRunning, T, backupv1alpha1.ReasonJobCreated)}, backupv1alpha1.PhaseRunning},
		{"attempt failed, next one pending", []metav1.Condition{cond(backupv1alpha1.ConditionJobRunning, F, backupv1alpha1.ReasonJobFailed)}, backupv1alpha1.PhasePending},
		{"complete wins", []metav1.Condition{
			cond(backupv1alpha1.ConditionJobRunning, T, backupv1alpha1.ReasonJobRunning), cond(backupv1alpha1.ConditionComplete, T, backupv1alpha1.ReasonSucceeded),
		}, backupv1alpha1.PhaseSucceeded},
		{"failed", []metav1.Condition{cond(backupv1alpha1.ConditionFailed, T, backupv1alpha1.ReasonAttemptsExhausted)}, backupv1alpha1.PhaseFailed},
	}
	for _, tc := range cases {
		if got := phaseOf(tc.conds); got != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestMarkers(t *testing.T) {
	start := metav1.NewTime(t0)
	cases := []struct {
		name      string
		mark      func(b *backupv1alpha1.OvercloudBackup)
		wantPhase backupv1alpha1.BackupPhase
		ready     metav1.ConditionStatus
		reason    string
		finished  bool
	}{
		{"progress", func(b *backupv1alpha1.OvercloudBackup) { markProgress(b, "Queued") },
			backupv1alpha1.PhasePending, metav1.ConditionFalse, backupv1alpha1.ReasonProgressing, false},
		{"succeeded", func(b *backupv1alpha1.OvercloudBackup) {
			setCondition(b, backupv1alpha1.ConditionJobRunning, metav1.ConditionTrue, backupv1alpha1.ReasonJobRunning, "")
			markSucceeded(b, t0.Add(90*time.Second), &backupv1alpha1.BackupArtifact{ClaimName: "c"}, "done")
		}, backupv1alpha1.PhaseSucceeded, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded, true},
		{"failed", func(b *backupv1alpha1.OvercloudBackup) {
			setCondition(b, backupv1alpha1.ConditionJobRunning, metav1.ConditionTrue, backupv1alpha1.ReasonJobRunning, "")
			markFailed(b, t0.Add(90*time.Second), backupv1alpha1.ReasonAttemptsExhausted, "gave up")
		}, backupv1alpha1.PhaseFailed, metav1.ConditionFalse, backupv1alpha1.ReasonAttemptsExhausted, true},
	}
	for _, tc := range cases {
		b := &backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
		b.Status.StartTime = &start
		b.Status.NextProbeTime = &start
		tc.mark(b)
		if got := phaseOf(b.Status.Conditions); got != tc.wantPhase {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.wantPhase)
		}
		r := condition(b, backupv1alpha1.ConditionReady)
		if r.Status != tc.ready || r.Reason != tc.reason || r.ObservedGeneration != 3 {
			t.Errorf("%s: Ready %+v, want %s/%s at generation 3", tc.name, r, tc.ready, tc.reason)
		}
		if b.IsFinished() != tc.finished {
			t.Errorf("%s: finished %v", tc.name, b.IsFinished())
		}
		if tc.finished {
			if b.Status.Duration == nil || b.Status.Duration.Duration != 90*time.Second || b.Status.NextProbeTime != nil {
				t.Errorf("%s: duration %v, nextProbeTime %v", tc.name, b.Status.Duration, b.Status.NextProbeTime)
			}
			if jr := condition(b, backupv1alpha1.ConditionJobRunning); jr.Status != metav1.ConditionFalse {
				t.Errorf("%s: JobRunning %+v after the end", tc.name, jr)
			}
		}
		if b.Status.Message == "" {
			t.Errorf("%s: no message", tc.name)
		}
	}
}

func TestProbeBackoff(t *testing.T) {
	lo, hi := 5*time.Second, 2*time.Minute
	deadline := t0.Add(time.Hour)
	cases := []struct {
		waited time.Duration
		now    time.Time
		want   time.Duration
	}{
		{0, t0, lo},
		{8 * time.Second, t0, lo},
		{time.Minute, t0, 30 * time.Second},
		{30 * time.Minute, t0, hi},
		{10 * time.Minute, deadline.Add(-20 * time.Second), 20 * time.Second}, // never past the deadline
		{10 * time.Minute, deadline.Add(time.Second), 0},
	}
	for _, tc := range cases {
		if got := probeBackoff(tc.now.Add(-tc.waited), tc.now, deadline, lo, hi); got != tc.want {
			t.Errorf("waited %v: backoff %v, want %v", tc.waited, got, tc.want)
		}
	}
}

func backupAt(name, overcloud string, created time.Time, conds ...metav1.Condition) backupv1alpha1.OvercloudBackup {
	b := backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)}}
	b.Spec.OvercloudRef.Name = overcloud
	b.Status.Conditions = conds
	return b
}

func jobOf(backup string, conds ...batchv1.JobCondition) batchv1.Job {
	return batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: backup + "-1", Labels: map[string]string{backupv1alpha1.LabelBackup: backup, labelComponent: agentComponent}},
		Status:     batchv1.JobStatus{Conditions: conds},
	}
}

// withComponent is the Job with another component label (a drill's, a cleanup's).
func withComponent(j batchv1.Job, component string) batchv1.Job {
	j.Labels[labelComponent] = component
	return j
}

func TestQueueBlocker(t *testing.T) {
	done := cond(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded)
	complete := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}
	me := backupAt("m", "oc", t0)
	cases := []struct {
		name   string
		others []backupv1alpha1.OvercloudBackup
		jobs   []batchv1.Job
		want   string
	}{
		{"alone", []backupv1alpha1.OvercloudBackup{me}, nil, ""},
		{"older unfinished goes first", []backupv1alpha1.OvercloudBackup{me, backupAt("z", "oc", t0.Add(-time.Minute))}, nil, "z"},
		{"same second: by name", []backupv1alpha1.OvercloudBackup{me, backupAt("a", "oc", t0), backupAt("x", "oc", t0)}, nil, "a"},
		{"the oldest of several", []backupv1alpha1.OvercloudBackup{backupAt("b", "oc", t0.Add(-time.Minute)), backupAt("c", "oc", t0.Add(-2*time.Minute)), me}, nil, "c"},
		{"newer ones wait for me", []backupv1alpha1.OvercloudBackup{me, backupAt("n", "oc", t0.Add(time.Minute))}, nil, ""},
		{"finished ones do not count", []backupv1alpha1.OvercloudBackup{me, backupAt("z", "oc", t0.Add(-time.Minute), done)}, nil, ""},
		{"another overcloud does not count", []backupv1alpha1.OvercloudBackup{me, backupAt("z", "other", t0.Add(-time.Minute))}, nil, ""},
		{"a running Job of a newer backup blocks", []backupv1alpha1.OvercloudBackup{me}, []batchv1.Job{jobOf("n")}, "n"},
		{"a finished Job does not", []backupv1alpha1.OvercloudBackup{me}, []batchv1.Job{jobOf("n", complete)}, ""},
		{"my own Job does not", []backupv1alpha1.OvercloudBackup{me}, []batchv1.Job{jobOf("m")}, ""},
		{"a running drill of another backup does not: it never touches the overcloud", []backupv1alpha1.OvercloudBackup{me},
			[]batchv1.Job{withComponent(jobOf("n"), drillComponent)}, ""},
		{"nor a running cleanup", []backupv1alpha1.OvercloudBackup{me}, []batchv1.Job{withComponent(jobOf("n"), cleanupComponent)}, ""},
	}
	for _, tc := range cases {
		if got := queueBlocker(&me, tc.others, tc.jobs); got != tc.want {
			t.Errorf("%s: blocker %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestJobOutcome(t *testing.T) {
	cases := []struct {
		name            string
		conds           []batchv1.JobCondition
		done, succeeded bool
		why             string
	}{
		{"running", nil, false, false, ""},
		{"interim only", []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}}, false, false, ""},
		{"complete", []batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue}, {Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}, true, true, ""},
		{"deadline", []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded", Message: "Job was active longer than specified deadline"}},
			true, false, "DeadlineExceeded: Job was active longer than specified deadline"},
	}
	for _, tc := range cases {
		j := &batchv1.Job{Status: batchv1.JobStatus{Conditions: tc.conds}}
		done, ok, why := jobOutcome(j)
		if done != tc.done || ok != tc.succeeded || why != tc.why {
			t.Errorf("%s: (%v, %v, %q), want (%v, %v, %q)", tc.name, done, ok, why, tc.done, tc.succeeded, tc.why)
		}
	}
}

func TestAttemptOf(t *testing.T) {
	b := &backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Name: "nightly-2"}}
	for name, want := range map[string]int32{"nightly-2-1": 1, "nightly-2-10": 10, "nightly-2": 0, "nightly-2-x": 0, "nightly-2-0": 0, "other-1": 0} {
		if got := attemptOf(b, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}}); got != want {
			t.Errorf("attemptOf(%s) = %d, want %d", name, got, want)
		}
	}
}

func TestArtifactOf(t *testing.T) {
	b := &backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "n"}}
	b.Spec.Storage = backupv1alpha1.StorageSpec{ClaimName: "c", SubPath: "site-a"}
	b.Spec.Dump = &backupv1alpha1.DumpSpec{Method: backupv1alpha1.DumpMariabackup, Compression: backupv1alpha1.CompressionGzip}
	art := artifactOf(b, agent.Result{
		Files: []agent.FileInfo{{Name: "f.xb.gz", Bytes: 2048, SHA256: "ab"}}, TotalBytes: 2048,
		Position: &agent.Position{ClusterUUID: "u", Seqno: 7, GTID: "0-1-7"},
	})
	if art.Path != "site-a/ns/n" || art.Size != "2.0 KiB" || art.Method != backupv1alpha1.DumpMariabackup ||
		art.Compression != backupv1alpha1.CompressionGzip || len(art.Files) != 1 || art.Files[0].SizeBytes != 2048 ||
		art.Position.GTID != "0-1-7" {
		t.Errorf("artifact %+v", art)
	}
}

func TestCredentialsFrom(t *testing.T) {
	oc := &backupv1alpha1.OvercloudSpec{
		Database: backupv1alpha1.DatabaseAccess{CredentialsSecret: backupv1alpha1.CredentialsSecretReference{Name: "db", PasswordKey: "pw"}},
		SSH:      &backupv1alpha1.SSHAccess{SecretName: "ssh", User: "u"},
	}
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	good := map[string]*corev1.Secret{
		"db":  secret(map[string]string{"username": "backup\n", "pw": "s3cret"}),
		"ssh": secret(map[string]string{"ssh-privatekey": "KEY", "known_hosts": "HOSTS"}),
	}
	c, p := credentialsFrom("ns", oc, good)
	if p != nil || c.DatabaseUser != "backup" || c.DatabasePassword != "s3cret" || string(c.SSHKnownHosts) != "HOSTS" {
		t.Fatalf("credentials %+v, problem %+v", c, p)
	}
	cases := []struct {
		name    string
		secrets map[string]*corev1.Secret
		reason  string
		says    []string
	}{
		{"all missing", map[string]*corev1.Secret{}, backupv1alpha1.ReasonSecretNotFound,
			[]string{"Secret db (database credentials) not found in namespace ns", "keys username and pw", "Secret ssh (SSH) not found"}},
		{"a key missing", map[string]*corev1.Secret{"db": good["db"], "ssh": secret(map[string]string{"ssh-privatekey": "KEY"})},
			backupv1alpha1.ReasonSecretKeyMissing, []string{"Secret ssh (SSH) has no non-empty key known_hosts"}},
		{"an empty value", map[string]*corev1.Secret{"db": secret(map[string]string{"username": "u", "pw": ""}), "ssh": good["ssh"]},
			backupv1alpha1.ReasonSecretKeyMissing, []string{"key pw"}},
	}
	for _, tc := range cases {
		_, p := credentialsFrom("ns", oc, tc.secrets)
		if p == nil || p.reason != tc.reason {
			t.Errorf("%s: problem %+v, want reason %s", tc.name, p, tc.reason)
			continue
		}
		for _, s := range tc.says {
			if !strings.Contains(p.message, s) {
				t.Errorf("%s: message %q does not say %q", tc.name, p.message, s)
			}
		}
		if strings.Contains(p.message, "s3cret") || strings.Contains(p.message, "KEY") {
			t.Errorf("%s: a secret value is in the message %q", tc.name, p.message)
		}
	}
}

func TestClaimProblem(t *testing.T) {
	wffc := &storagev1.StorageClass{VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	immediate := &storagev1.StorageClass{VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate)}
	pvc := func(phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{
			Spec:   corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("local")},
			Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
		}
	}
	cases := []struct {
		name   string
		pvc    *corev1.PersistentVolumeClaim
		sc     *storagev1.StorageClass
		reason string
	}{
		{"missing", nil, nil, backupv1alpha1.ReasonClaimNotFound},
		{"bound", pvc(corev1.ClaimBound), nil, ""},
		{"pending, first consumer", pvc(corev1.ClaimPending), wffc, ""},
		{"pending, immediate", pvc(corev1.ClaimPending), immediate, backupv1alpha1.ReasonClaimNotBound},
		{"pending, class gone", pvc(corev1.ClaimPending), nil, backupv1alpha1.ReasonClaimNotBound},
		{"lost", pvc(corev1.ClaimLost), nil, backupv1alpha1.ReasonClaimNotBound},
	}
	for _, tc := range cases {
		p := claimProblem("ns", "c", tc.pvc, tc.sc)
		got := ""
		if p != nil {
			got = p.reason
			if !strings.Contains(p.message, "PersistentVolumeClaim c") {
				t.Errorf("%s: message %q does not name the claim", tc.name, p.message)
			}
		}
		if got != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.reason)
		}
	}
}

func TestResultOf(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j-1", UID: "job-uid"}}
	pod := func(msg string, at time.Time) corev1.Pod {
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{UID: "job-uid", Controller: ptr.To(true), Name: "j-1", Kind: "Job", APIVersion: "batch/v1"}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: agentContainer, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: msg, FinishedAt: metav1.NewTime(at)},
			}}}},
		}
	}
	if _, ok := resultOf(nil, job); ok {
		t.Error("a result without pods")
	}
	res, ok := resultOf([]corev1.Pod{
		pod(`{"node":"c-1","error":"old"}`, t0),
		pod(`{"node":"c-2","error":"newest"}`, t0.Add(time.Minute)),
	}, job)
	if !ok || res.Error != "newest" || res.Node != "c-2" {
		t.Errorf("result %+v, %v: want the newest pod's", res, ok)
	}
	res, ok = resultOf([]corev1.Pod{pod("panic: runtime error\ngoroutine 1", t0)}, job)
	if !ok || !strings.Contains(res.Error, "exit code 1") || !strings.Contains(res.Error, "panic: runtime error") {
		t.Errorf("a log tail for a message: %+v, %v", res, ok)
	}
}
