package controllers

import (
	"errors"
	"fmt"
	"maps"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// Paths inside the agent container. The agent's flags point at them; the volumes are
// mounted there.
const (
	agentContainer    = "agent"
	agentCommand      = "agent"
	agentBinary       = "/usr/local/bin/overcloud-backup-operator"
	backupMountPath   = "/backup"
	dbCredentialsPath = "/etc/overcloud-backup/db" //nolint:gosec // G101: a mount path, not a credential
	sshPath           = "/etc/overcloud-backup/ssh"
	haproxyCredsPath  = "/etc/overcloud-backup/haproxy" //nolint:gosec // G101: a mount path, not a credential
	dbCAPath          = "/etc/overcloud-backup/db-ca"
	tmpPath           = "/tmp"
	agentUID          = int64(65532)
	secretFileMode    = int32(0o400)
	tmpSizeLimit      = "64Mi"
	progressInterval  = "5s"
	labelManagedBy    = "app.kubernetes.io/managed-by"
	labelComponent    = "app.kubernetes.io/component"
	managedBy         = "overcloud-backup-operator"
	agentComponent    = "backup-agent"
	annotationAttempt = "backup.overcloud.io/attempt"
	annotationNode    = "backup.overcloud.io/node"
	// The files a credentials Secret's keys are projected to (the agent's --credentials-dir).
	credentialsUserFile     = "username"
	credentialsPasswordFile = "password"
)

// JobParams is what the controller decided for one attempt: the overcloud as it is now,
// the node, the image and the Galera cluster the Job holds the lock of.
type JobParams struct {
	// Overcloud is the spec of the Overcloud the backup names.
	Overcloud *backupv1alpha1.OvercloudSpec
	// Cluster is the Galera cluster's state UUID ("" when unknown): the Job carries it
	// as a label, and at most one backup Job runs per cluster.
	Cluster string
	// Attempt is 1-based; it names the Job (JobName) and is recorded on it.
	Attempt int32
	// Node is the selected node, one of the Overcloud's nodes.
	Node string
	// Image is the agent image when spec.job.image is empty: the operator's own.
	Image string
}

// BuildJob is the Job that runs `agent dump` for one attempt of the backup. It is pure:
// the same backup and parameters always give the same Job. Credentials reach the pod
// only as Secret volumes, never in arguments or environment variables; the pod runs as
// a non-root user with a read-only root filesystem, no capabilities, the runtime's
// default seccomp profile and no service account token.
func BuildJob(b *backupv1alpha1.OvercloudBackup, p JobParams) (*batchv1.Job, error) {
	oc := p.Overcloud
	if oc == nil {
		return nil, errors.New("no Overcloud spec")
	}
	node := findNode(oc, p.Node)
	if node == nil {
		return nil, fmt.Errorf("node %q is not a node of Overcloud %s", p.Node, b.Spec.OvercloudRef.Name)
	}
	if p.Attempt < 1 {
		return nil, fmt.Errorf("attempt %d: attempts start at 1", p.Attempt)
	}
	js, image, err := agentJobSpec(b, p.Image)
	if err != nil {
		return nil, err
	}
	args, err := agentArgs(b, oc, node)
	if err != nil {
		return nil, err
	}
	volumes, mounts := agentVolumes(b, oc)

	labels := map[string]string{
		backupv1alpha1.LabelBackup:    b.Name,
		backupv1alpha1.LabelOvercloud: b.Spec.OvercloudRef.Name,
		labelManagedBy:                managedBy,
		labelComponent:                agentComponent,
	}
	if p.Cluster != "" {
		labels[backupv1alpha1.LabelCluster] = p.Cluster
	}
	annotations := map[string]string{annotationAttempt: strconv.Itoa(int(p.Attempt)), annotationNode: node.Name}
	podAnnotations := maps.Clone(js.PodAnnotations)
	if podAnnotations == nil {
		podAnnotations = map[string]string{}
	}
	maps.Copy(podAnnotations, annotations)

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            b.JobName(p.Attempt),
			Namespace:       b.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: controlledBy(b),
		},
		Spec: batchv1.JobSpec{
			// A retry must re-probe (the node may have become the active one): the
			// controller makes the next attempt as a new Job.
			BackoffLimit:          ptr.To(int32(0)),
			ActiveDeadlineSeconds: ptr.To(js.ActiveDeadlineSecondsOrDefault()),
			Template:              agentPod(js, image, args, volumes, mounts, labels, podAnnotations),
		},
	}
	return job, nil
}

// agentPod is the locked-down pod both the backup and the cleanup Jobs run: the agent
// as a non-root user, read-only root filesystem, no capabilities, the runtime's default
// seccomp profile, no service account token, placed as spec.job says.
func agentPod(js *backupv1alpha1.JobSpec, image string, args []string, volumes []corev1.Volume,
	mounts []corev1.VolumeMount, labels, annotations map[string]string,
) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels), Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			ServiceAccountName:            js.ServiceAccountName,
			NodeSelector:                  js.NodeSelector,
			Tolerations:                   js.Tolerations,
			Affinity:                      js.Affinity,
			PriorityClassName:             js.PriorityClassName,
			HostNetwork:                   js.HostNetwork,
			TerminationGracePeriodSeconds: ptr.To(int64(30)),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:        ptr.To(true),
				RunAsUser:           ptr.To(agentUID),
				RunAsGroup:          ptr.To(agentUID),
				FSGroup:             ptr.To(agentUID),
				FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
				SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:                     agentContainer,
				Image:                    image,
				ImagePullPolicy:          js.ImagePullPolicyOrDefault(),
				Command:                  []string{agentBinary},
				Args:                     args,
				Env:                      []corev1.EnvVar{{Name: "TMPDIR", Value: tmpPath}},
				Resources:                agentResources(js.Resources),
				VolumeMounts:             mounts,
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
			Volumes: volumes,
		},
	}
}

// agentJobSpec is the backup's spec.job (empty when omitted) and the agent image it
// names, or the manager's when it names none.
func agentJobSpec(b *backupv1alpha1.OvercloudBackup, operatorImage string) (*backupv1alpha1.JobSpec, string, error) {
	js := b.Spec.Job
	if js == nil {
		js = &backupv1alpha1.JobSpec{}
	}
	image := js.ImageOr(operatorImage)
	if image == "" {
		return nil, "", errors.New("no agent image: spec.job.image is empty and the manager has no --agent-image")
	}
	return js, image, nil
}

// controlledBy makes the backup the controller of a Job it runs: the Job goes with it.
func controlledBy(b *backupv1alpha1.OvercloudBackup) []metav1.OwnerReference {
	gvk := backupv1alpha1.GroupVersion.WithKind("OvercloudBackup")
	return []metav1.OwnerReference{{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: b.Name, UID: b.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
}

func findNode(oc *backupv1alpha1.OvercloudSpec, name string) *backupv1alpha1.NodeSpec {
	for i := range oc.Nodes {
		if oc.Nodes[i].Name == name {
			return &oc.Nodes[i]
		}
	}
	return nil
}

// agentArgs are the arguments of `agent dump`: where and what to back up, never a secret.
func agentArgs(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec, node *backupv1alpha1.NodeSpec) ([]string, error) {
	d := b.Spec.Dump
	if d == nil {
		d = &backupv1alpha1.DumpSpec{}
	}
	method := d.EffectiveMethod()
	args := []string{
		agentCommand, "dump",
		"--node=" + node.Name,
		"--address=" + node.Address,
		"--port=" + strconv.Itoa(int(node.MySQLPortOrDefault())),
		"--namespace=" + b.Namespace,
		"--name=" + b.Name,
		"--uid=" + string(b.UID),
		"--root=" + backupMountPath,
		"--credentials-dir=" + dbCredentialsPath,
		"--method=" + string(method),
		"--compression=" + string(d.EffectiveCompression()),
		"--users=" + strconv.FormatBool(d.IncludesUsers()),
		"--desync=" + strconv.FormatBool(d.DesyncsNode()),
		"--progress-interval=" + progressInterval,
		"--termination-log=" + corev1.TerminationMessagePathDefault,
	}
	if d.CompressionLevel != nil {
		args = append(args, "--level="+strconv.Itoa(int(*d.CompressionLevel)))
	}
	if d.MaxRateMiB != nil {
		args = append(args, "--max-rate="+strconv.FormatInt(int64(*d.MaxRateMiB)<<20, 10))
	}
	// One flag per name: a name is never split, never parsed (",", quotes) and never an
	// option of its own ("--database=" holds it, whatever its first character).
	for _, name := range d.Databases {
		args = append(args, "--database="+name)
	}
	if oc.Database.ConnectTimeout != nil {
		args = append(args, "--connect-timeout="+oc.Database.ConnectTimeout.Duration.String())
	}
	// TLS as the probe uses it: the mode, and the CA as a file of a Secret volume (a
	// path in the arguments, never the CA itself).
	if t := oc.Database.TLS; t != nil {
		args = append(args, "--db-tls-mode="+string(t.Mode))
		if t.CASecret != nil {
			args = append(args, "--db-ca-file="+dbCAPath+"/ca.crt")
		}
	}
	if h := oc.HAProxy; h != nil && h.StatsURL != "" {
		args = append(args, "--haproxy-stats-url="+h.StatsURL, "--haproxy-backend="+h.BackendOrDefault())
		if h.CredentialsSecret != nil {
			args = append(args, "--haproxy-credentials-dir="+haproxyCredsPath)
		}
	}
	if method == backupv1alpha1.DumpMariabackup {
		if oc.SSH == nil {
			return nil, errors.New("the Mariabackup method needs the Overcloud's ssh")
		}
		args = append(args,
			"--ssh-dir="+sshPath,
			"--ssh-user="+oc.SSH.User,
			"--ssh-port="+strconv.Itoa(int(node.SSHPortOrDefault())))
		if oc.SSH.Timeout != nil {
			args = append(args, "--ssh-timeout="+oc.SSH.Timeout.Duration.String())
		}
		if d.MariabackupCommand != "" {
			args = append(args, "--mariabackup-command="+d.MariabackupCommand)
		}
	}
	return args, nil
}

// agentVolumes are the backup volume, the Secrets (read-only files, 0400, only the
// keys the agent reads) and a memory-backed /tmp for the client defaults file.
func agentVolumes(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) ([]corev1.Volume, []corev1.VolumeMount) {
	creds := oc.Database.CredentialsSecret
	volumes, mounts := storageVolumes(b)
	volumes = append(volumes, secretVolume("db-credentials", creds.Name,
		[2]string{creds.UsernameKeyOrDefault(), credentialsUserFile},
		[2]string{creds.PasswordKeyOrDefault(), credentialsPasswordFile}))
	mounts = append(mounts, corev1.VolumeMount{Name: "db-credentials", MountPath: dbCredentialsPath, ReadOnly: true})
	if t := oc.Database.TLS; t != nil && t.CASecret != nil {
		volumes = append(volumes, secretVolume("db-ca", t.CASecret.Name, [2]string{t.CASecret.Key, "ca.crt"}))
		mounts = append(mounts, corev1.VolumeMount{Name: "db-ca", MountPath: dbCAPath, ReadOnly: true})
	}
	if h := oc.HAProxy; h != nil && h.StatsURL != "" && h.CredentialsSecret != nil {
		volumes = append(volumes, secretVolume("haproxy-credentials", h.CredentialsSecret.Name,
			[2]string{h.CredentialsSecret.UsernameKeyOrDefault(), credentialsUserFile},
			[2]string{h.CredentialsSecret.PasswordKeyOrDefault(), credentialsPasswordFile}))
		mounts = append(mounts, corev1.VolumeMount{Name: "haproxy-credentials", MountPath: haproxyCredsPath, ReadOnly: true})
	}
	if b.Spec.Dump.EffectiveMethod() == backupv1alpha1.DumpMariabackup && oc.SSH != nil {
		volumes = append(volumes, secretVolume("ssh", oc.SSH.SecretName,
			[2]string{oc.SSH.PrivateKeyKeyOrDefault(), "ssh-privatekey"},
			[2]string{oc.SSH.KnownHostsKeyOrDefault(), "known_hosts"}))
		mounts = append(mounts, corev1.VolumeMount{Name: "ssh", MountPath: sshPath, ReadOnly: true})
	}
	return volumes, mounts
}

// storageVolumes are the backup's volume at /backup (its claim, at spec.storage.subPath)
// and a memory-backed /tmp: what every agent pod mounts.
func storageVolumes(b *backupv1alpha1.OvercloudBackup) ([]corev1.Volume, []corev1.VolumeMount) {
	volumes := []corev1.Volume{
		{Name: "backup", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.Spec.Storage.ClaimName},
		}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse(tmpSizeLimit)),
		}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "backup", MountPath: backupMountPath, SubPath: b.Spec.Storage.SubPath},
		{Name: "tmp", MountPath: tmpPath},
	}
	return volumes, mounts
}

// secretVolume projects keys of a Secret to files: pairs of key and file name.
func secretVolume(name, secret string, files ...[2]string) corev1.Volume {
	items := make([]corev1.KeyToPath, 0, len(files))
	for _, f := range files {
		items = append(items, corev1.KeyToPath{Key: f[0], Path: f[1]})
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: secret, Items: items, DefaultMode: ptr.To(secretFileMode),
	}}}
}

// agentResources are the user's, or requests that fit the agent (it streams: its memory
// does not grow with the database) and mariadb-dump beside it.
func agentResources(r *corev1.ResourceRequirements) corev1.ResourceRequirements {
	if r != nil {
		return *r.DeepCopy()
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("250m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
}
