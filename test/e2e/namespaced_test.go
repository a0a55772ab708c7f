//go:build e2e && namespaced

package e2e_test

// The namespaced install (config/namespaced, `make deploy OVERLAY=namespaced`; `make test`
// deploys it after the main e2e suite and runs this test alone): the manager watches
// "openstack" only, with its rules bound there only. A backup in "openstack" succeeds;
// one elsewhere is never touched, and the API server refuses the manager's account the
// Secrets there.

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

const watched = "openstack"

func TestNamespacedInstall(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	dep := &appsv1.Deployment{}
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: "overcloud-backup-system", Name: "overcloud-backup-controller-manager"}, dep); err != nil {
		t.Fatal(err)
	}
	if args := dep.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--watch-namespaces="+watched) {
		t.Fatalf("the manager runs with %q: deploy the namespaced install first (make deploy OVERLAY=namespaced)", args)
	}
	sa := "system:serviceaccount:overcloud-backup-system:" + dep.Spec.Template.Spec.ServiceAccountName

	if err := k.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: watched}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The namespace is the install's (its RoleBinding lives there): what the test made in
	// it goes, the namespace stays.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, o := range []client.Object{&backupv1alpha1.OvercloudBackup{}, &backupv1alpha1.Overcloud{}, &batchv1.Job{}, &corev1.Secret{},
			&corev1.PersistentVolumeClaim{}} {
			if err := k.c.DeleteAllOf(ctx, o, client.InNamespace(watched), client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
				t.Errorf("cleaning %s up: %v", watched, err)
			}
		}
	})
	k.controllerSecrets(t, sb, watched)
	k.claim(t, watched)
	b := controllerBackup(sb, watched, "namespaced-1", accessSSH, "nova")
	run := k.runBackup(t, b, 4*time.Minute, nil)
	if got := run.final; got.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Fatalf("the backup in the watched namespace ended %s: %s\nevents:\n%s", got.Status.Phase, got.Status.Message, k.events(watched))
	}
	t.Logf("the backup in %s: Succeeded in %v", watched, run.toDone.Round(time.Millisecond))

	// Elsewhere: the manager neither sees the backup nor could read its Secrets.
	other := k.namespace(t, "unwatched")
	k.controllerSecrets(t, sb, other)
	k.claim(t, other)
	b2 := controllerBackup(sb, other, "namespaced-2", accessSSH, "nova")
	k.createBackup(t, b2)
	time.Sleep(20 * time.Second)
	got := &backupv1alpha1.OvercloudBackup{}
	if err := k.c.Get(ctx, client.ObjectKeyFromObject(b2.OvercloudBackup), got); err != nil {
		t.Fatal(err)
	}
	jobs := &batchv1.JobList{}
	if err := k.c.List(ctx, jobs, client.InNamespace(other)); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != "" || len(got.Status.Conditions) != 0 || len(jobs.Items) != 0 {
		t.Errorf("a backup outside the watched namespace was touched: phase %q, %d conditions, %d Jobs",
			got.Status.Phase, len(got.Status.Conditions), len(jobs.Items))
	}
	for _, tc := range []struct {
		ns, group, resource, verb string
		allowed                   bool
	}{
		{watched, "", "secrets", "get", true},
		{watched, "batch", "jobs", "create", true},
		{other, "", "secrets", "get", false},
		{other, "batch", "jobs", "create", false},
		{"", "", "secrets", "list", false},
	} {
		r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:overcloud-backup-system", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: tc.ns, Group: tc.group, Resource: tc.resource, Verb: tc.verb},
		}}
		if err := k.c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != tc.allowed {
			t.Errorf("%s %s in %q: allowed %v, want %v (%s)", tc.verb, strings.TrimPrefix(tc.group+"/"+tc.resource, "/"), tc.ns,
				r.Status.Allowed, tc.allowed, r.Status.Reason)
		}
	}
}
