package controllers

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// succeededBackup is testBackup once it succeeded, with an artifact of 1 GiB uncompressed.
func succeededBackup() *backupv1alpha1.OvercloudBackup {
	b := testBackup()
	b.Status.Conditions = []metav1.Condition{{Type: backupv1alpha1.ConditionComplete, Status: metav1.ConditionTrue, Reason: "Succeeded"}}
	b.Status.Artifact = &backupv1alpha1.BackupArtifact{ClaimName: "backups", Path: "openstack/nightly-1", TotalBytes: 200 << 20, UncompressedBytes: 1 << 30}
	return b
}

func TestBuildDrillJob(t *testing.T) {
	cases := []struct {
		name    string
		change  func(b *backupv1alpha1.OvercloudBackup)
		wantErr string
		check   func(t *testing.T, j *batchv1.Job)
	}{
		{
			name: "defaults: read-only claim, scratch twice the data plus 256Mi, buffer pool 128Mi, no Secret, 6h",
			check: func(t *testing.T, j *batchv1.Job) {
				c := j.Spec.Template.Spec.Containers[0]
				want := []string{"agent", "drill", "/backup/openstack/nightly-1", "--scratch=/scratch", "--buffer-pool=134217728",
					"--termination-log=/dev/termination-log", "--scratch-limit=2415919104"}
				if !slices.Equal(c.Args, want) {
					t.Errorf("args %q\nwant %q", c.Args, want)
				}
				if j.Name != "nightly-1-drill" || j.Labels[labelComponent] != drillComponent || j.Labels[backupv1alpha1.LabelCluster] != "" {
					t.Errorf("name %s, labels %v", j.Name, j.Labels)
				}
				if *j.Spec.ActiveDeadlineSeconds != 6*3600 || *j.Spec.BackoffLimit != 0 {
					t.Errorf("deadline %d, backoffLimit %d", *j.Spec.ActiveDeadlineSeconds, *j.Spec.BackoffLimit)
				}
				vs := j.Spec.Template.Spec.Volumes
				if v := volume(vs, "backup"); v == nil || !v.PersistentVolumeClaim.ReadOnly || v.PersistentVolumeClaim.ClaimName != "backups" {
					t.Errorf("backup volume %+v, want the claim read-only", v)
				}
				for _, m := range c.VolumeMounts {
					if m.Name == "backup" && !m.ReadOnly {
						t.Errorf("the claim is mounted writable")
					}
				}
				if v := volume(vs, "scratch"); v == nil || v.EmptyDir == nil || v.EmptyDir.SizeLimit.Cmp(resource.MustParse("2304Mi")) != 0 {
					t.Errorf("scratch volume %+v, want an emptyDir of 2304Mi", v)
				}
				for _, v := range vs {
					if v.Secret != nil {
						t.Errorf("volume %s is a Secret: the drill needs none", v.Name)
					}
				}
				if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(resource.MustParse("640Mi")) != 0 {
					t.Errorf("memory limit %s, want 640Mi", got.String())
				}
				if got := c.Resources.Requests[corev1.ResourceMemory]; got.Cmp(resource.MustParse("384Mi")) != 0 {
					t.Errorf("memory request %s, want 384Mi", got.String())
				}
				ps := j.Spec.Template.Spec
				if !*ps.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem || *ps.AutomountServiceAccountToken {
					t.Errorf("the drill's pod is not locked down like the backup's")
				}
				if len(j.OwnerReferences) != 1 || j.OwnerReferences[0].UID != "uid-1" || !*j.OwnerReferences[0].Controller {
					t.Errorf("owner %+v", j.OwnerReferences)
				}
			},
		},
		{
			name: "the user's sizes, deadline and resources; hostNetwork never",
			change: func(b *backupv1alpha1.OvercloudBackup) {
				b.Spec.Verification = &backupv1alpha1.VerificationSpec{
					BufferPool: ptr.To(resource.MustParse("1Gi")), ScratchSize: ptr.To(resource.MustParse("50Gi")),
					Deadline:  &metav1.Duration{Duration: 90 * time.Minute},
					Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("3Gi")}},
				}
				b.Spec.Job = &backupv1alpha1.JobSpec{HostNetwork: true, Image: "registry.example/ocb:v2"}
				b.Spec.Storage.SubPath = "overcloud-a"
			},
			check: func(t *testing.T, j *batchv1.Job) {
				c := j.Spec.Template.Spec.Containers[0]
				if !slices.Contains(c.Args, "--buffer-pool=1073741824") || !slices.Contains(c.Args, "--scratch-limit=53687091200") {
					t.Errorf("args %q", c.Args)
				}
				if c.Args[2] != "/backup/openstack/nightly-1" {
					t.Errorf("dir %s: the subPath is the mount's, not the path's", c.Args[2])
				}
				if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(resource.MustParse("3Gi")) != 0 || len(c.Resources.Requests) != 0 {
					t.Errorf("resources %+v, want the user's as given", c.Resources)
				}
				if *j.Spec.ActiveDeadlineSeconds != 5400 || j.Spec.Template.Spec.HostNetwork || c.Image != "registry.example/ocb:v2" {
					t.Errorf("deadline %d, hostNetwork %v, image %s", *j.Spec.ActiveDeadlineSeconds, j.Spec.Template.Spec.HostNetwork, c.Image)
				}
			},
		},
		{
			name:   "a backup that did not record its uncompressed size: no limit, the agent checks the disk",
			change: func(b *backupv1alpha1.OvercloudBackup) { b.Status.Artifact.UncompressedBytes = 0 },
			check: func(t *testing.T, j *batchv1.Job) {
				if v := volume(j.Spec.Template.Spec.Volumes, "scratch"); v.EmptyDir.SizeLimit != nil {
					t.Errorf("sizeLimit %s", v.EmptyDir.SizeLimit)
				}
				if slices.ContainsFunc(j.Spec.Template.Spec.Containers[0].Args, func(a string) bool { return strings.HasPrefix(a, "--scratch-limit") }) {
					t.Errorf("args %q", j.Spec.Template.Spec.Containers[0].Args)
				}
			},
		},
		{name: "no artifact", change: func(b *backupv1alpha1.OvercloudBackup) { b.Status.Artifact = nil }, wantErr: "no artifact"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := succeededBackup()
			if tc.change != nil {
				tc.change(b)
			}
			j, err := BuildDrillJob(b, "overcloud-backup-operator:v0.1.0")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, j)
		})
	}
	if _, err := BuildDrillJob(succeededBackup(), ""); err == nil || !strings.Contains(err.Error(), "no agent image") {
		t.Errorf("no image: %v", err)
	}
}

func TestDrillPending(t *testing.T) {
	verified := func(s metav1.ConditionStatus, reason string) func(b *backupv1alpha1.OvercloudBackup) {
		return func(b *backupv1alpha1.OvercloudBackup) {
			b.Status.Conditions = append(b.Status.Conditions, metav1.Condition{Type: backupv1alpha1.ConditionVerified, Status: s, Reason: reason})
		}
	}
	cases := []struct {
		name   string
		change func(b *backupv1alpha1.OvercloudBackup)
		want   bool
	}{
		{"succeeded, not drilled yet", nil, true},
		{"drill running", verified(metav1.ConditionUnknown, backupv1alpha1.ReasonDrillRunning), true},
		{"verified", verified(metav1.ConditionTrue, backupv1alpha1.ReasonRestored), false},
		{"found wanting", verified(metav1.ConditionFalse, backupv1alpha1.ReasonTableMismatch), false},
		{"a physical backup restored, not compared", verified(metav1.ConditionUnknown, backupv1alpha1.ReasonNotCompared), false},
		{"drill disabled", func(b *backupv1alpha1.OvercloudBackup) {
			b.Spec.Verification = &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
		}, false},
		{"verified, then asked again by the annotation", func(b *backupv1alpha1.OvercloudBackup) {
			verified(metav1.ConditionTrue, backupv1alpha1.ReasonRestored)(b)
			b.Annotations = map[string]string{backupv1alpha1.AnnotationVerify: "2"}
			b.Status.Verification = &backupv1alpha1.VerificationStatus{Request: "1"}
		}, true},
		{"the annotation's request answered", func(b *backupv1alpha1.OvercloudBackup) {
			verified(metav1.ConditionFalse, backupv1alpha1.ReasonTableMismatch)(b)
			b.Annotations = map[string]string{backupv1alpha1.AnnotationVerify: "2"}
			b.Status.Verification = &backupv1alpha1.VerificationStatus{Request: "2"}
		}, false},
		{"drill disabled, asked by the annotation", func(b *backupv1alpha1.OvercloudBackup) {
			b.Spec.Verification = &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
			b.Annotations = map[string]string{backupv1alpha1.AnnotationVerify: "x"}
		}, true},
		{"drill disabled, the asked drill running", func(b *backupv1alpha1.OvercloudBackup) {
			b.Spec.Verification = &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
			b.Annotations = map[string]string{backupv1alpha1.AnnotationVerify: "x"}
			b.Status.Verification = &backupv1alpha1.VerificationStatus{Request: "x"}
			verified(metav1.ConditionUnknown, backupv1alpha1.ReasonDrillRunning)(b)
		}, true},
		{"failed backup, even when asked", func(b *backupv1alpha1.OvercloudBackup) {
			b.Annotations = map[string]string{backupv1alpha1.AnnotationVerify: "x"}
			b.Status.Conditions = []metav1.Condition{{Type: backupv1alpha1.ConditionFailed, Status: metav1.ConditionTrue, Reason: "AttemptsExhausted"}}
		}, false},
	}
	for _, tc := range cases {
		b := succeededBackup()
		if tc.change != nil {
			tc.change(b)
		}
		if got := drillPending(b); got != tc.want {
			t.Errorf("%s: drillPending %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDrillResultOf(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly-1-drill", UID: "job-uid"}}
	owned := metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true)}}}
	terminated := func(msg string) corev1.Pod {
		return corev1.Pod{ObjectMeta: owned, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: agentContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: msg}},
		}}}}
	}
	mismatch, _ := json.Marshal(agent.DrillResult{Reason: agent.ReasonTableMismatch, Message: "1 of 3 tables differ", Mismatches: []string{"nova.instances: rows 9 != 10"}})
	cases := []struct {
		name              string
		pods              []corev1.Pod
		reason, errSubstr string
	}{
		{"the agent's result", []corev1.Pod{terminated(string(mismatch))}, agent.ReasonTableMismatch, ""},
		{"not JSON: the log tail is not echoed", []corev1.Pod{terminated("panic: secret-looking bytes")}, "", "exited with code 1 without a result"},
		{"evicted for its scratch space", []corev1.Pod{{ObjectMeta: owned, Status: corev1.PodStatus{Reason: "Evicted",
			Message: "Usage of EmptyDir volume \"scratch\" exceeds the limit \"2304Mi\"."}}}, agent.ReasonTooLarge, ""},
		{"no pod", nil, "", "its Job failed without a result (DeadlineExceeded: Job was active longer than specified deadline)"},
		{"another Job's pod", []corev1.Pod{{Status: corev1.PodStatus{Reason: "Evicted"}}}, "", "without a result"},
	}
	for _, tc := range cases {
		res := drillResultOf(tc.pods, job, "DeadlineExceeded: Job was active longer than specified deadline")
		if res.Reason != tc.reason || (tc.errSubstr != "" && !strings.Contains(res.Error, tc.errSubstr)) || (tc.errSubstr == "" && res.Error != "") {
			t.Errorf("%s: %+v, want reason %q, error containing %q", tc.name, res, tc.reason, tc.errSubstr)
		}
		if strings.Contains(res.Error, "secret-looking") {
			t.Errorf("%s: the pod's output reached the result: %q", tc.name, res.Error)
		}
	}
}
