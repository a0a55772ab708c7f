package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/units"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// volumeName and volumeMount are the verify Job's volume of the claim and where it mounts it.
const (
	volumeName  = "backup"
	volumeMount = "/" + volumeName
)

// showFiles prints the backup's files as they are on the local PV's host directory, with
// the sizes and SHA-256 the status records, and returns that directory.
func (e *env) showFiles(ctx context.Context, b *backupv1alpha1.OvercloudBackup) (string, error) {
	a := b.Status.Artifact
	root, err := e.volumeRoot(ctx, a.ClaimName)
	if err != nil {
		return "", err
	}
	if root == "" {
		return "", fmt.Errorf("claim %s is not bound after a successful backup", a.ClaimName)
	}
	dir := filepath.Join(root, filepath.FromSlash(a.Path))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("the backup's directory on the volume: %w", err)
	}
	recorded := map[string]backupv1alpha1.ArtifactFile{}
	for _, f := range a.Files {
		recorded[f.Name] = f
	}
	fmt.Printf("   claim %s, on this node at %s, directory %s:\n", a.ClaimName, root, a.Path)
	for _, d := range entries {
		info, err := d.Info()
		if err != nil {
			return "", err
		}
		note := "(manifest: names, sizes, SHA-256 of each file, the Galera position)"
		if f, ok := recorded[d.Name()]; ok {
			note = "sha256 " + f.SHA256[:16] + "... as in status.artifact"
			if f.SizeBytes != info.Size() {
				note = fmt.Sprintf("status.artifact says %d bytes!", f.SizeBytes)
			}
		}
		fmt.Printf("     %-22s %10s  %s\n", d.Name(), units.HumanBytes(info.Size()), note)
	}
	if p := a.Position; p != nil {
		fmt.Printf("   Galera position %s:%d (restoring the backup brings a node there; docs/restore.md)\n", p.ClusterUUID, p.Seqno)
	}
	return dir, nil
}

// verify runs `agent verify` on the backup in a Job of the operator's image that mounts the
// claim read-only, as a user without access to the node would, and prints its output. The
// Job is owned by the backup: deleting the backup (the next `make demo` does) deletes it.
func (e *env) verify(ctx context.Context, b *backupv1alpha1.OvercloudBackup) error {
	agentC, err := e.agentContainer(ctx, b)
	if err != nil {
		return err
	}
	dir := path.Join(volumeMount, b.Status.Artifact.Path)
	job := verifyJob(b, agentC.Image, agentC.Command, dir)
	fmt.Printf("   job/%s: %s agent verify %s (image %s, claim %s read-only)\n",
		job.Name, agentC.Command[0], dir, agentC.Image, b.Status.Artifact.ClaimName)
	if err := e.c.Create(ctx, job); err != nil {
		return fmt.Errorf("creating job %s: %w", job.Name, err)
	}
	var done *batchv1.Job
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		j := &batchv1.Job{}
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(job), j); err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
				done = j
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("job %s not finished after 2 minutes: %w", job.Name, err)
	}
	logs, err := e.kubectlRun(ctx, "-n", b.Namespace, "logs", "job/"+job.Name)
	if err != nil {
		return err
	}
	for line := range strings.Lines(logs) {
		fmt.Print("     " + line)
	}
	if done.Status.Succeeded == 0 {
		return errors.New("agent verify failed")
	}
	return nil
}

// agentContainer is the agent container of the backup's Job: its image and command.
func (e *env) agentContainer(ctx context.Context, b *backupv1alpha1.OvercloudBackup) (corev1.Container, error) {
	backupJob := &batchv1.Job{}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.Status.JobName}, backupJob); err != nil {
		return corev1.Container{}, fmt.Errorf("the backup's Job %s: %w", b.Status.JobName, err)
	}
	return backupJob.Spec.Template.Spec.Containers[0], nil
}

// verifyArg is the agent's subcommand, and the name of the verify Job's container.
const verifyArg = "verify"

// verifyJob is the Job that runs `agent verify dir`, locked down as the backup Jobs are
// (the namespace enforces the restricted Pod Security Standard).
func verifyJob(b *backupv1alpha1.OvercloudBackup, image string, command []string, dir string) *batchv1.Job {
	uid := int64(65532)
	labels := demoLabels()
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: b.Namespace, Name: "verify-" + b.Name, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: backupv1alpha1.GroupVersion.String(), Kind: "OvercloudBackup", Name: b.Name, UID: b.UID,
			}},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To(int32(0)),
			ActiveDeadlineSeconds: ptr.To(int64(300)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: &uid, RunAsGroup: &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:    verifyArg,
						Image:   image,
						Command: command,
						Args:    []string{"agent", verifyArg, dir},
						Resources: corev1.ResourceRequirements{
							Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: volumeName, MountPath: volumeMount, ReadOnly: true}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{{Name: volumeName, VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.Spec.Storage.ClaimName, ReadOnly: true},
					}}},
				},
			},
		},
	}
}
