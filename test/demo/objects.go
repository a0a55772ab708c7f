package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

const (
	// namespace holds everything the demo creates; `make demo-down` deletes it.
	namespace = "ocb-demo"
	// demoLabel marks the demo's objects (demoLabels).
	demoLabel = "ocb.dev/demo"
	// sample is the backup the demo starts from.
	sample = "config/samples/backup_v1alpha1_overcloudbackup.yaml"
	// overcloudSample is the Overcloud the sample backup names.
	overcloudSample = "config/samples/backup_v1alpha1_overcloud.yaml"
	// demoWatchInterval is how often the controller probes the demo's Overcloud.
	demoWatchInterval = 5 * time.Second
	// storageClass is hack/kube-node.sh's local PVs (WaitForFirstConsumer).
	storageClass = "local-backup"
	// haproxySecret holds HAProxy's stats credentials: the sandbox's stats page asks for
	// them, the sample's does not.
	haproxySecret = "overcloud-haproxy-stats" //nolint:gosec // G101: a Secret's name, not a credential
	// sshSecret is the SSH Secret's name when the sample names none.
	sshSecret = "overcloud-ssh" //nolint:gosec // G101: a Secret's name, not a credential
)

// demoLabels are the labels of every object the demo creates.
func demoLabels() map[string]string { return map[string]string{demoLabel: "true"} }

// withSSH says whether the demo's backup reaches Pacemaker (crm_mon) and HAProxy's stats
// socket over SSH, as the sample does.
const withSSH = true

// demoMaxRateMiB caps the dump's rate (spec.dump.maxRateMiB): the agent writes a progress
// line every 5 s, and the dataset (about 150-190 MB dumped) would take about 5 s unbounded.
const demoMaxRateMiB = 20

// loadSample reads a sample of config/samples into obj.
func loadSample(path string, obj any) error {
	data, err := os.ReadFile(path) //nolint:gosec // G304: a sample of the repository
	if err != nil {
		return fmt.Errorf("reading the sample: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

// overcloudFromSample is the sample Overcloud with the local overcloud's addresses and
// access in place of the sample's, in the demo's namespace, watched every
// demoWatchInterval. Its name is the sample's, which the sample backup and schedule name.
func (e *env) overcloudFromSample(s *backupv1alpha1.Overcloud) *backupv1alpha1.Overcloud {
	o := s.DeepCopy()
	o.ObjectMeta = metav1.ObjectMeta{Namespace: namespace, Name: s.Name, Labels: demoLabels()}
	oc := &o.Spec
	oc.DatabaseVIP = e.sb.VIP
	oc.Nodes = nil
	for _, n := range e.sb.Nodes {
		port := int32(n.MySQLPort) //nolint:gosec // G115: a TCP port, from sandbox.json
		node := backupv1alpha1.NodeSpec{Name: n.Name, Address: n.Address, MySQLPort: &port}
		if withSSH {
			sshPort := int32(n.SSHPort) //nolint:gosec // G115: a TCP port, from sandbox.json
			node.SSHPort = &sshPort
		}
		oc.Nodes = append(oc.Nodes, node)
	}
	oc.HAProxy = &backupv1alpha1.HAProxyAccess{
		StatsURL: e.sb.HAProxy.StatsURL, Backend: e.sb.HAProxy.Backend,
		CredentialsSecret: &backupv1alpha1.CredentialsSecretReference{Name: haproxySecret},
	}
	if withSSH {
		secret := sshSecret
		if oc.SSH != nil {
			secret = oc.SSH.SecretName
		}
		oc.SSH = &backupv1alpha1.SSHAccess{SecretName: secret, User: e.sb.SSH.User}
		oc.Pacemaker = &backupv1alpha1.PacemakerAccess{}
		// The sandbox's datadir as each controller sees it: a restore checks its free space.
		oc.Restore = &backupv1alpha1.RestoreAccess{Datadir: e.sb.ClusterDatadir()}
		oc.HAProxy.StatsSocket = e.sb.HAProxy.StatsSocket
	} else {
		oc.SSH, oc.Pacemaker = nil, nil
	}
	oc.Monitoring = &backupv1alpha1.MonitoringSpec{Interval: &metav1.Duration{Duration: demoWatchInterval}}
	return o
}

// backupFromSample is the sample backup with a fresh name (a backup is a record: each run
// is a new one), the demo's namespace, and a cap on the dump's rate (demoMaxRateMiB).
// Everything else (the Overcloud it names, storage, dump, job, deletionPolicy) is the sample's.
func backupFromSample(s *backupv1alpha1.OvercloudBackup, now time.Time) *backupv1alpha1.OvercloudBackup {
	b := s.DeepCopy()
	prefix := strings.TrimRight(s.Name, "0123456789")
	b.ObjectMeta = metav1.ObjectMeta{
		Namespace: namespace, Name: prefix + now.Format("0102-150405"), Labels: demoLabels(),
	}
	if b.Spec.Dump == nil {
		b.Spec.Dump = &backupv1alpha1.DumpSpec{}
	}
	b.Spec.Dump.MaxRateMiB = ptr.To(int32(demoMaxRateMiB))
	return b
}

// describeOvercloud prints what overcloudFromSample changed, then the Overcloud as it
// will be applied.
func describeOvercloud(s, o *backupv1alpha1.Overcloud) error {
	was := make([]string, 0, len(s.Spec.Nodes))
	for _, n := range s.Spec.Nodes {
		was = append(was, n.Address)
	}
	fmt.Printf("   Read %s (%s).\n", overcloudSample, s.Name)
	fmt.Printf("   Replaced its nodes (at %s, VIP %s) with the local overcloud's:\n", strings.Join(was, ", "), s.Spec.DatabaseVIP)
	fmt.Println("   three controllers in network namespaces, the VIP on HAProxy, HAProxy's stats page with basic auth.")
	fmt.Printf("   monitoring.interval %s: the controller probes it that often, between backups too.\n", demoWatchInterval)
	return printObject(o, "Overcloud")
}

// describeBackup prints what backupFromSample changed, then the backup as it will be applied.
func describeBackup(b *backupv1alpha1.OvercloudBackup) error {
	fmt.Printf("   Read %s: it names overcloudRef %s, the Overcloud above; nothing in it says how to reach the nodes.\n",
		sample, b.Spec.OvercloudRef.Name)
	fmt.Printf("   Added spec.dump.maxRateMiB: %d, which caps how fast the agent reads from the node (the load a dump\n", demoMaxRateMiB)
	fmt.Println("   puts on it, and through Galera on the cluster): the dump lasts long enough to show its progress lines.")
	fmt.Printf("   Kept the rest (storage, dump, job, deletionPolicy); a new name, %s: a backup is a record.\n", b.Name)
	return printObject(b, "OvercloudBackup")
}

// printObject prints the object as YAML, without status and creation time.
func printObject(obj client.Object, kind string) error {
	out := obj.DeepCopyObject().(client.Object)
	out.GetObjectKind().SetGroupVersionKind(backupv1alpha1.GroupVersion.WithKind(kind))
	data, err := yaml.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println()
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "status:") || strings.HasPrefix(line, "  creationTimestamp:") {
			break
		}
		fmt.Print("     " + line)
	}
	return nil
}

// applyOvercloud creates or updates the Overcloud.
func (e *env) applyOvercloud(ctx context.Context, o *backupv1alpha1.Overcloud) error {
	live := &backupv1alpha1.Overcloud{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name}}
	op, err := controllerutil.CreateOrUpdate(ctx, e.c, live, func() error {
		live.Labels, live.Spec = o.Labels, o.Spec
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying Overcloud %s: %w", o.Name, err)
	}
	fmt.Printf("   overcloud/%s %s\n", o.Name, op)
	return nil
}

// applyObjects removes the previous demo's backups (their Jobs go with them, by owner
// reference) and their files on the volume, then applies the namespace, the Secrets the
// Overcloud names and the claim the backup names. The claim and its volume are kept from one run to the next.
func (e *env) applyObjects(ctx context.Context, o *backupv1alpha1.Overcloud, b *backupv1alpha1.OvercloudBackup) error {
	if err := e.ensureNamespace(ctx); err != nil {
		return err
	}
	if err := e.removePrevious(ctx); err != nil {
		return err
	}
	if err := e.applySecrets(ctx, o.Spec); err != nil {
		return err
	}
	return e.ensureClaim(ctx, b.Spec.Storage.ClaimName)
}

// applySecrets applies the Secrets the overcloud's access names, from the sandbox's files.
func (e *env) applySecrets(ctx context.Context, oc backupv1alpha1.OvercloudSpec) error {
	db := oc.Database.CredentialsSecret
	secrets := []secretSpec{
		{name: db.Name, typ: corev1.SecretTypeOpaque,
			literal: map[string]string{db.UsernameKeyOrDefault(): e.sb.Database.User},
			files:   map[string]string{db.PasswordKeyOrDefault(): e.sb.Database.PasswordFile}},
		{name: haproxySecret, typ: corev1.SecretTypeOpaque,
			literal: map[string]string{backupv1alpha1.DefaultUsernameKey: e.sb.HAProxy.StatsUser},
			files:   map[string]string{backupv1alpha1.DefaultPasswordKey: e.sb.HAProxy.StatsPasswordFile}},
	}
	if oc.SSH != nil {
		// Key and known_hosts keep their final newline: they are files, not one-line values.
		secrets = append(secrets, secretSpec{name: oc.SSH.SecretName, typ: corev1.SecretTypeSSHAuth, keepNewline: true,
			files: map[string]string{
				corev1.SSHAuthPrivateKey:            e.sb.SSH.PrivateKeyFile,
				backupv1alpha1.DefaultKnownHostsKey: e.sb.SSH.KnownHostsFile,
			}})
	}
	for _, s := range secrets {
		if err := e.applySecret(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// secretSpec is a Secret the backup names: literal values, and values read from the
// sandbox's files (without their trailing newline unless keepNewline).
type secretSpec struct {
	name        string
	typ         corev1.SecretType
	literal     map[string]string
	files       map[string]string
	keepNewline bool
}

// applySecret creates or updates the Secret. It prints its name and keys, never a value.
func (e *env) applySecret(ctx context.Context, spec secretSpec) error {
	data := map[string][]byte{}
	for k, v := range spec.literal {
		data[k] = []byte(v)
	}
	for k, path := range spec.files {
		content, err := os.ReadFile(path) //nolint:gosec // G304: files named by sandbox.json
		if err != nil {
			return fmt.Errorf("reading a sandbox secret file for Secret %s: %w", spec.name, err)
		}
		if !spec.keepNewline {
			content = []byte(strings.TrimRight(string(content), "\r\n"))
		}
		data[k] = content
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: spec.name}}
	op, err := controllerutil.CreateOrUpdate(ctx, e.c, s, func() error {
		s.Labels, s.Type, s.Data = demoLabels(), spec.typ, data
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying Secret %s: %v", spec.name, apierrors.ReasonForError(err))
	}
	fmt.Printf("   secret/%s %s (keys %s; values from the sandbox)\n", s.Name, op, strings.Join(slices.Sorted(maps.Keys(data)), ", "))
	return nil
}

// ensureNamespace creates the demo's namespace (restricted Pod Security, as a backup
// namespace should be), waiting for an old one still terminating to go first.
func (e *env) ensureNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		err := e.c.Get(ctx, client.ObjectKey{Name: namespace}, ns)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && ns.DeletionTimestamp == nil, err
	})
	if err != nil {
		return fmt.Errorf("namespace %s still terminating after 2 minutes: %w", namespace, err)
	}
	if ns.Name != "" {
		fmt.Printf("   namespace/%s unchanged\n", namespace)
		return nil
	}
	labels := demoLabels()
	labels["pod-security.kubernetes.io/enforce"] = "restricted"
	ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: labels}}
	if err := e.c.Create(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	fmt.Printf("   namespace/%s created (Pod Security: restricted)\n", namespace)
	// A pod is refused until the namespace's default ServiceAccount exists.
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := e.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client.IgnoreNotFound(err)
	})
}

// ensureClaim creates the claim the sample names on the node's local StorageClass; it
// binds when the first backup Job uses it.
func (e *env) ensureClaim(ctx context.Context, name string) error {
	pvc := &corev1.PersistentVolumeClaim{}
	err := e.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, pvc)
	if err == nil {
		fmt.Printf("   persistentvolumeclaim/%s unchanged (%s %s)\n", name, pvc.Status.Phase, pvc.Spec.VolumeName)
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting claim %s: %w", name, err)
	}
	pvc = &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: demoLabels()},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(storageClass),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
			},
		},
	}
	if err := e.c.Create(ctx, pvc); err != nil {
		return fmt.Errorf("creating claim %s: %w", name, err)
	}
	fmt.Printf("   persistentvolumeclaim/%s created (StorageClass %s: bound when the backup's Job uses it)\n", name, storageClass)
	return nil
}

// removePrevious deletes the backups an earlier run left, waits until they are gone, and
// removes their directories from the volume: deletionPolicy Retain (the sample's) keeps a
// deleted backup's files, which the demo does not want to pile up.
func (e *env) removePrevious(ctx context.Context) error {
	list := &backupv1alpha1.OvercloudBackupList{}
	if err := e.c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing the previous backups: %w", err)
	}
	for i := range list.Items {
		old := &list.Items[i]
		if err := e.c.Delete(ctx, old, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting the previous backup %s: %w", old.Name, err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			err := e.c.Get(ctx, client.ObjectKeyFromObject(old), &backupv1alpha1.OvercloudBackup{})
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
		if err != nil {
			return fmt.Errorf("the previous backup %s is still there after a minute: %w", old.Name, err)
		}
		// Its Jobs go with it (owner references), but the garbage collector may take a
		// moment: a Job still running would queue the new backup behind it.
		if err := e.c.DeleteAllOf(ctx, &batchv1.Job{}, client.InNamespace(namespace),
			client.MatchingLabels{backupv1alpha1.LabelBackup: old.Name},
			client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			return fmt.Errorf("deleting the Jobs of the previous backup %s: %w", old.Name, err)
		}
		removed, err := e.removeFiles(ctx, old)
		if err != nil {
			return err
		}
		fmt.Printf("   ocb/%s of an earlier run deleted (its Jobs with it)%s\n", old.Name, removed)
	}
	return nil
}

// removeFiles removes the backup's directory (and any unfinished one) from the host
// directory behind the claim's local PV.
func (e *env) removeFiles(ctx context.Context, b *backupv1alpha1.OvercloudBackup) (string, error) {
	root, err := e.volumeRoot(ctx, b.Spec.Storage.ClaimName)
	if err != nil || root == "" {
		return "", err
	}
	parent := filepath.Join(root, filepath.FromSlash(b.Spec.Storage.SubPath), b.Namespace)
	entries, err := os.ReadDir(parent)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var gone []string
	for _, d := range entries {
		if d.Name() == b.Name || strings.HasPrefix(d.Name(), "."+b.Name+".partial-") {
			if err := os.RemoveAll(filepath.Join(parent, d.Name())); err != nil {
				return "", fmt.Errorf("removing the previous backup's files: %w", err)
			}
			gone = append(gone, filepath.Join(parent, d.Name()))
		}
	}
	if len(gone) == 0 {
		return "", nil
	}
	return "; removed " + strings.Join(gone, ", "), nil
}

// volumeRoot is the host directory of the local PV bound to the claim, "" while unbound.
func (e *env) volumeRoot(ctx context.Context, claim string) (string, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: claim}, pvc); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	if pvc.Spec.VolumeName == "" {
		return "", nil
	}
	pv := &corev1.PersistentVolume{}
	if err := e.c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		return "", fmt.Errorf("the PV of claim %s: %w", claim, err)
	}
	if pv.Spec.Local == nil || pv.Spec.Local.Path == "" {
		return "", fmt.Errorf("PV %s is not a local volume", pv.Name)
	}
	return pv.Spec.Local.Path, nil
}
