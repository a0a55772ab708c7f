package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/controllers"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/test/tamper"
)

// drillTimeout bounds the restore drill of the demo's backup.
const drillTimeout = 5 * time.Minute

// mismatchName is the name the tampered copy's drill goes by (its directory and Job).
const mismatchName = "mismatch"

// drill waits for the backup's restore drill, which the controller started as soon as the
// backup succeeded, and shows its outcome as kubectl does.
func (d *demo) drill(ctx context.Context) error {
	got := &backupv1alpha1.OvercloudBackup{}
	var cond *metav1.Condition
	err := wait.PollUntilContextTimeout(ctx, time.Second, drillTimeout, true, func(ctx context.Context) (bool, error) {
		if err := d.c.Get(ctx, client.ObjectKeyFromObject(d.backup), got); err != nil {
			return false, err
		}
		cond = meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionVerified)
		return cond != nil && cond.Status != metav1.ConditionUnknown, nil
	})
	if err != nil {
		return fmt.Errorf("no outcome of the restore drill after %s (Verified: %+v): %w", drillTimeout, cond, err)
	}
	d.backup = got
	for _, args := range [][]string{
		waitArgs("Verified", ocbResource+"/"+got.Name),
		{"-n", namespace, kubectlGet, ocbResource, got.Name},
	} {
		out, err := d.kubectlRun(ctx, args...)
		if err != nil {
			return err
		}
		fmt.Printf("   $ kubectl %s\n", strings.Join(args, " "))
		printIndented(out)
	}
	v := got.Status.Verification
	fmt.Printf("   Verified=%s (%s): %s\n", cond.Status, cond.Reason, cond.Message)
	if v != nil {
		took := "?"
		if v.Duration != nil {
			took = v.Duration.Duration.String()
		}
		fmt.Printf("   status.verification: %d tables, %d rows, %d accounts restored; scratch server %s; took %s\n",
			v.Tables, v.Rows, v.Users, v.ServerVersion, took)
		fmt.Printf("   Job %s is deleted once its outcome is recorded: its scratch space goes with its pod\n", v.JobName)
	}
	if cond.Status != metav1.ConditionTrue {
		return errors.New("the backup did not pass its restore drill")
	}
	return nil
}

// mismatch shows what the drill says of a backup that does not hold what was dumped: a
// copy of the demo's backup with one row of the dump removed and its manifest's sizes and
// SHA-256 rewritten (so `agent verify` passes), drilled by the same Job the controller
// builds.
func (d *demo) mismatch(ctx context.Context) error {
	b := d.backup
	root, err := d.volumeRoot(ctx, b.Status.Artifact.ClaimName)
	if err != nil {
		return err
	}
	dst := filepath.Join(root, b.Namespace, mismatchName)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dst) }()
	if err := tamper.Copy(d.dir, dst, tamper.RemoveRow(17)); err != nil {
		return fmt.Errorf("the tampered copy: %w", err)
	}
	if err := chownTree(dst, 65532); err != nil {
		return err
	}
	fmt.Printf("   %s: a copy with one row of the dump removed, its manifest's size and SHA-256 rewritten to match\n", dst)

	agentC, err := d.agentContainer(ctx, b)
	if err != nil {
		return err
	}
	copyOf := b.DeepCopy()
	copyOf.Name = mismatchName
	job, err := controllers.BuildDrillJob(copyOf, agentC.Image)
	if err != nil {
		return err
	}
	// Owned by the demo's backup without being its controller's: deleting the backup (the
	// next `make demo` does) deletes it; the controller never takes it for a drill of its own.
	job.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: backupv1alpha1.GroupVersion.String(), Kind: "OvercloudBackup", Name: b.Name, UID: b.UID,
	}}
	job.Labels = demoLabels()
	job.Spec.Template.Labels = demoLabels()
	_ = d.c.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationForeground))
	if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := d.c.Create(ctx, job)
		return err == nil, client.IgnoreAlreadyExists(err)
	}); err != nil {
		return fmt.Errorf("creating job %s: %w", job.Name, err)
	}
	defer func() {
		_ = d.c.Delete(context.Background(), job, client.PropagationPolicy(metav1.DeletePropagationBackground))
	}()
	fmt.Printf("   job/%s: %s (the controller's drill Job, on the copy)\n", job.Name,
		strings.Join(job.Spec.Template.Spec.Containers[0].Args, " "))
	var msg string
	err = wait.PollUntilContextTimeout(ctx, time.Second, drillTimeout, true, func(ctx context.Context) (bool, error) {
		pods := &corev1.PodList{}
		if err := d.c.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if t := cs.State.Terminated; t != nil {
					msg = t.Message
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("job %s did not end within %s: %w", job.Name, drillTimeout, err)
	}
	var res agent.DrillResult
	if err := json.Unmarshal([]byte(msg), &res); err != nil {
		return fmt.Errorf("job %s ended without the drill's result: %q", job.Name, msg)
	}
	fmt.Printf("   The drill's result: %s: %s\n", res.Reason, res.Message)
	fmt.Printf("   On a backup, that is Verified=False reason %s, status.verification.mismatches %q,\n", res.Reason, res.Mismatches)
	fmt.Println("   a Warning event, and ocb_backup_drills_total{reason=\"" + res.Reason + "\"}; the backup stays Succeeded.")
	if res.Reason != agent.ReasonTableMismatch {
		return fmt.Errorf("the drill of the tampered copy said %q, not %s", res.Reason, agent.ReasonTableMismatch)
	}
	return nil
}

// chownTree gives the tampered copy to the agent's user, as the backup's own files are.
func chownTree(dir string, uid int) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	return fs.WalkDir(root.FS(), ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return root.Lchown(p, uid, uid)
	})
}
