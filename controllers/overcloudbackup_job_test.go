package controllers

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

func testBackup() *backupv1alpha1.OvercloudBackup {
	return &backupv1alpha1.OvercloudBackup{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly-1", Namespace: "openstack", UID: "uid-1"},
		Spec: backupv1alpha1.OvercloudBackupSpec{
			OvercloudRef: backupv1alpha1.OvercloudReference{Name: "overcloud"},
			Storage:      backupv1alpha1.StorageSpec{ClaimName: "backups"},
		},
	}
}

func testOvercloudSpec() *backupv1alpha1.OvercloudSpec {
	return &backupv1alpha1.OvercloudSpec{
		Nodes: []backupv1alpha1.NodeSpec{
			{Name: "controller-0", Address: "172.17.1.10"},
			{Name: "controller-1", Address: "172.17.1.11", MySQLPort: ptr.To(int32(13306)), SSHPort: ptr.To(int32(2222))},
		},
		Database: backupv1alpha1.DatabaseAccess{
			CredentialsSecret: backupv1alpha1.CredentialsSecretReference{Name: "db-creds"},
		},
	}
}

func env(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func volume(vs []corev1.Volume, name string) *corev1.Volume {
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	return nil
}

func TestBuildJob(t *testing.T) {
	cases := []struct {
		name   string
		change func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec)
		params JobParams
		check  func(t *testing.T, job *JobView)
	}{
		{
			name:   "defaults: logical, zstd, desync, users, the operator's image",
			params: JobParams{Attempt: 1, Node: "controller-0", Image: "overcloud-backup-operator:v0.1.0"},
			check: func(t *testing.T, j *JobView) {
				j.wantArgs(t, "agent", "dump", "--node=controller-0", "--address=172.17.1.10", "--port=3306",
					"--namespace=openstack", "--name=nightly-1", "--uid=uid-1", "--root=/backup",
					"--credentials-dir=/etc/overcloud-backup/db", "--method=Logical", "--compression=zstd",
					"--users=true", "--desync=true", "--termination-log=/dev/termination-log")
				j.noArgPrefix(t, "--level", "--database", "--haproxy", "--ssh", "--mariabackup", "--max-rate")
				if j.Job.Name != "nightly-1-1" || j.Job.Namespace != "openstack" {
					t.Errorf("job %s/%s", j.Job.Namespace, j.Job.Name)
				}
				if j.C.Image != "overcloud-backup-operator:v0.1.0" || j.C.ImagePullPolicy != corev1.PullIfNotPresent {
					t.Errorf("image %s %s", j.C.Image, j.C.ImagePullPolicy)
				}
				if *j.Job.Spec.ActiveDeadlineSeconds != 3600 {
					t.Errorf("deadline %d", *j.Job.Spec.ActiveDeadlineSeconds)
				}
				db := volume(j.Pod.Volumes, "db-credentials")
				if db == nil || db.Secret.SecretName != "db-creds" || *db.Secret.DefaultMode != 0o400 ||
					!reflect.DeepEqual(db.Secret.Items, []corev1.KeyToPath{{Key: "username", Path: "username"}, {Key: "password", Path: "password"}}) {
					t.Errorf("credentials volume %+v", db)
				}
				if v := volume(j.Pod.Volumes, "backup"); v == nil || v.PersistentVolumeClaim.ClaimName != "backups" {
					t.Errorf("backup volume %+v", v)
				}
				if v := volume(j.Pod.Volumes, "tmp"); v == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory {
					t.Errorf("tmp volume %+v: the client defaults file must stay in memory", v)
				}
				if len(j.Pod.Volumes) != 3 {
					t.Errorf("%d volumes, want backup, db-credentials and tmp", len(j.Pod.Volumes))
				}
				if got := j.C.Resources.Limits.Memory(); got.Cmp(resource.MustParse("512Mi")) != 0 {
					t.Errorf("memory limit %s", got)
				}
			},
		},
		{
			name: "the user's choices reach the Job",
			change: func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
				oc.Database.CredentialsSecret = backupv1alpha1.CredentialsSecretReference{ //nolint:gosec // G101: key names
					Name: "galera", UsernameKey: "user", PasswordKey: "mysql-root-password"}
				oc.Database.ConnectTimeout = &metav1.Duration{Duration: 7e9}
				b.Spec.Storage.SubPath = "overcloud/db"
				b.Spec.Dump = &backupv1alpha1.DumpSpec{Databases: []string{"nova", "keystone"}, Users: backupv1alpha1.UsersExclude, MaxRateMiB: ptr.To(int32(20)),
					Compression: backupv1alpha1.CompressionNone, Desync: backupv1alpha1.DesyncDisabled}
				b.Spec.Job = &backupv1alpha1.JobSpec{
					Image: "registry.example.com/ocb:v1", ImagePullPolicy: corev1.PullAlways, ActiveDeadlineSeconds: ptr.To(int64(600)),
					ServiceAccountName: "backup", NodeSelector: map[string]string{"zone": "a"},
					Tolerations:       []corev1.Toleration{{Key: "infra", Operator: corev1.TolerationOpExists}},
					PriorityClassName: "high", HostNetwork: true,
					PodAnnotations: map[string]string{"k8s.v1.cni.cncf.io/networks": "internalapi"},
					Resources:      &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
				}
			},
			params: JobParams{Attempt: 3, Node: "controller-1", Image: "ignored:v0", Cluster: "8f2d3c52-f040-11f1-a573-ae37243b7103"},
			check: func(t *testing.T, j *JobView) {
				if got := j.Job.Labels[backupv1alpha1.LabelCluster]; got != "8f2d3c52-f040-11f1-a573-ae37243b7103" {
					t.Errorf("cluster label %q, want the Galera cluster's UUID", got)
				}
				j.wantArgs(t, "--node=controller-1", "--address=172.17.1.11", "--port=13306", "--database=nova", "--database=keystone",
					"--users=false", "--desync=false", "--compression=none", "--connect-timeout=7s", "--max-rate=20971520")
				if j.Job.Name != "nightly-1-3" || j.Job.Annotations["backup.overcloud.io/attempt"] != "3" {
					t.Errorf("job %s %v", j.Job.Name, j.Job.Annotations)
				}
				if j.C.Image != "registry.example.com/ocb:v1" || j.C.ImagePullPolicy != corev1.PullAlways || *j.Job.Spec.ActiveDeadlineSeconds != 600 {
					t.Errorf("image %s %s deadline %d", j.C.Image, j.C.ImagePullPolicy, *j.Job.Spec.ActiveDeadlineSeconds)
				}
				p := j.Pod
				if p.ServiceAccountName != "backup" || p.NodeSelector["zone"] != "a" || len(p.Tolerations) != 1 ||
					p.PriorityClassName != "high" || !p.HostNetwork {
					t.Errorf("placement %+v", p)
				}
				if j.Job.Spec.Template.Annotations["k8s.v1.cni.cncf.io/networks"] != "internalapi" ||
					j.Job.Spec.Template.Annotations["backup.overcloud.io/node"] != "controller-1" {
					t.Errorf("pod annotations %v", j.Job.Spec.Template.Annotations)
				}
				if db := volume(p.Volumes, "db-credentials"); !reflect.DeepEqual(db.Secret.Items,
					[]corev1.KeyToPath{{Key: "user", Path: "username"}, {Key: "mysql-root-password", Path: "password"}}) {
					t.Errorf("credential keys %+v", db.Secret.Items)
				}
				if j.C.VolumeMounts[0].SubPath != "overcloud/db" {
					t.Errorf("backup mount %+v", j.C.VolumeMounts[0])
				}
				if got := j.C.Resources.Limits.Memory(); got.Cmp(resource.MustParse("1Gi")) != 0 || j.C.Resources.Requests != nil {
					t.Errorf("resources %+v", j.C.Resources)
				}
			},
		},
		{
			name: "mariabackup over SSH with HAProxy's stats",
			change: func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
				oc.SSH = &backupv1alpha1.SSHAccess{SecretName: "ssh", User: "tripleo-admin", KnownHostsKey: "hosts",
					Timeout: &metav1.Duration{Duration: 20e9}}
				oc.HAProxy = &backupv1alpha1.HAProxyAccess{StatsURL: "http://172.17.1.5:1993/",
					CredentialsSecret: &backupv1alpha1.CredentialsSecretReference{Name: "haproxy-stats"}}
				b.Spec.Dump = &backupv1alpha1.DumpSpec{Method: backupv1alpha1.DumpMariabackup, CompressionLevel: ptr.To(int32(5)),
					MariabackupCommand: "sudo -n podman exec -i galera-bundle-podman-0 mariabackup --defaults-extra-file={defaultsFile} --backup --galera-info --no-lock --stream=xbstream"}
			},
			params: JobParams{Attempt: 1, Node: "controller-1", Image: "ocb:v1"},
			check: func(t *testing.T, j *JobView) {
				j.wantArgs(t, "--method=Mariabackup", "--level=5", "--ssh-dir=/etc/overcloud-backup/ssh", "--ssh-user=tripleo-admin",
					"--ssh-port=2222", "--ssh-timeout=20s", "--haproxy-stats-url=http://172.17.1.5:1993/", "--haproxy-backend=mysql",
					"--haproxy-credentials-dir=/etc/overcloud-backup/haproxy",
					"--mariabackup-command=sudo -n podman exec -i galera-bundle-podman-0 mariabackup --defaults-extra-file={defaultsFile} --backup --galera-info --no-lock --stream=xbstream")
				if v := volume(j.Pod.Volumes, "ssh"); v == nil || !reflect.DeepEqual(v.Secret.Items,
					[]corev1.KeyToPath{{Key: "ssh-privatekey", Path: "ssh-privatekey"}, {Key: "hosts", Path: "known_hosts"}}) {
					t.Errorf("ssh volume %+v", v)
				}
				if v := volume(j.Pod.Volumes, "haproxy-credentials"); v == nil || v.Secret.SecretName != "haproxy-stats" {
					t.Errorf("haproxy volume %+v", v)
				}
			},
		},
		{
			name: "database TLS, VerifyFull: the mode, and the CA as a file of its Secret",
			change: func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
				oc.Database.TLS = &backupv1alpha1.DatabaseTLS{Mode: backupv1alpha1.TLSVerifyFull,
					CASecret: &backupv1alpha1.SecretKeyReference{Name: "overcloud-ca", Key: "ca-bundle.pem"}}
			},
			params: JobParams{Attempt: 1, Node: "controller-0", Image: "i:1"},
			check: func(t *testing.T, j *JobView) {
				j.wantArgs(t, "--db-tls-mode=VerifyFull", "--db-ca-file=/etc/overcloud-backup/db-ca/ca.crt")
				if v := volume(j.Pod.Volumes, "db-ca"); v == nil || v.Secret.SecretName != "overcloud-ca" ||
					!reflect.DeepEqual(v.Secret.Items, []corev1.KeyToPath{{Key: "ca-bundle.pem", Path: "ca.crt"}}) {
					t.Errorf("db-ca volume %+v", v)
				}
			},
		},
		{
			name: "database TLS, Required: the mode, no CA",
			change: func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
				oc.Database.TLS = &backupv1alpha1.DatabaseTLS{Mode: backupv1alpha1.TLSRequired}
			},
			params: JobParams{Attempt: 1, Node: "controller-0", Image: "i:1"},
			check: func(t *testing.T, j *JobView) {
				j.wantArgs(t, "--db-tls-mode=Required")
				j.noArgPrefix(t, "--db-ca-file")
				if v := volume(j.Pod.Volumes, "db-ca"); v != nil {
					t.Errorf("a CA volume without a CA: %+v", v)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, oc := testBackup(), testOvercloudSpec()
			if tc.change != nil {
				tc.change(b, oc)
			}
			tc.params.Overcloud = oc
			job, err := BuildJob(b, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := BuildJob(b, tc.params)
			if !reflect.DeepEqual(job, again) {
				t.Error("two builds of the same backup differ")
			}
			j := &JobView{Job: job, Pod: &job.Spec.Template.Spec, C: job.Spec.Template.Spec.Containers[0]}
			j.lockedDown(t, b)
			tc.check(t, j)
		})
	}
}

func TestBuildJobRefuses(t *testing.T) {
	cases := []struct {
		name   string
		change func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec)
		params JobParams
		want   string
	}{
		{"unknown node", nil, JobParams{Attempt: 1, Node: "controller-9", Image: "i:1"}, `node "controller-9" is not a node of Overcloud overcloud`},
		{"attempt 0", nil, JobParams{Attempt: 0, Node: "controller-0", Image: "i:1"}, "attempts start at 1"},
		{"no image", nil, JobParams{Attempt: 1, Node: "controller-0"}, "no agent image"},
		{"mariabackup without ssh", func(b *backupv1alpha1.OvercloudBackup, oc *backupv1alpha1.OvercloudSpec) {
			b.Spec.Dump = &backupv1alpha1.DumpSpec{Method: backupv1alpha1.DumpMariabackup}
		}, JobParams{Attempt: 1, Node: "controller-0", Image: "i:1"}, "needs the Overcloud's ssh"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, oc := testBackup(), testOvercloudSpec()
			if tc.change != nil {
				tc.change(b, oc)
			}
			tc.params.Overcloud = oc
			if _, err := BuildJob(b, tc.params); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// JobView holds the parts of a built Job the checks read.
type JobView struct {
	Job *batchv1.Job
	Pod *corev1.PodSpec
	C   corev1.Container
}

// wantArgs fails unless every one of want is an argument of the agent.
func (j *JobView) wantArgs(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(j.C.Args, w) {
			t.Errorf("argument %q missing from %q", w, j.C.Args)
		}
	}
}

// noArgPrefix fails when an argument starts with one of the prefixes.
func (j *JobView) noArgPrefix(t *testing.T, prefixes ...string) {
	t.Helper()
	for _, a := range j.C.Args {
		for _, p := range prefixes {
			if strings.HasPrefix(a, p) {
				t.Errorf("unexpected argument %q", a)
			}
		}
	}
}

// lockedDown checks what every agent Job must be, whatever the backup asks: owned by the
// backup, labelled, never retried by the Job controller, non-root with a read-only root
// filesystem, no capabilities, RuntimeDefault seccomp, no service account token, and
// secrets only as files.
func (j *JobView) lockedDown(t *testing.T, b *backupv1alpha1.OvercloudBackup) {
	t.Helper()
	job := j.Job
	if len(job.OwnerReferences) != 1 || job.OwnerReferences[0].UID != b.UID || !*job.OwnerReferences[0].Controller ||
		job.OwnerReferences[0].Kind != "OvercloudBackup" || job.OwnerReferences[0].APIVersion != "backup.overcloud.io/v1alpha1" {
		t.Errorf("owner references %+v", job.OwnerReferences)
	}
	for _, labels := range []map[string]string{job.Labels, job.Spec.Template.Labels} {
		if labels[backupv1alpha1.LabelBackup] != b.Name || labels[backupv1alpha1.LabelOvercloud] != b.Spec.OvercloudRef.Name {
			t.Errorf("labels %v", labels)
		}
	}
	if *job.Spec.BackoffLimit != 0 || j.Pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("backoffLimit %d, restartPolicy %s: a retry is the controller's, after a new probe", *job.Spec.BackoffLimit, j.Pod.RestartPolicy)
	}
	psc, sc := j.Pod.SecurityContext, j.C.SecurityContext
	if *j.Pod.AutomountServiceAccountToken || !*psc.RunAsNonRoot || *psc.RunAsUser == 0 ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security %+v, automount %v", psc, *j.Pod.AutomountServiceAccountToken)
	}
	if *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security %+v", sc)
	}
	if len(j.Pod.Containers) != 1 || j.C.Command[0] != agentBinary || j.C.TerminationMessagePath != "/dev/termination-log" {
		t.Errorf("container %+v", j.C)
	}
	if e := env(j.C); len(e) != 1 || e["TMPDIR"] != "/tmp" || len(j.C.EnvFrom) != 0 {
		t.Errorf("environment %v %v: secrets go through volumes only", j.C.Env, j.C.EnvFrom)
	}
	for _, a := range j.C.Args {
		if strings.Contains(strings.ToLower(a), "password=") || strings.Contains(a, "PRIVATE KEY") {
			t.Errorf("a secret-looking argument: %q", a)
		}
	}
	for _, m := range j.C.VolumeMounts {
		if m.Name != "backup" && m.Name != "tmp" && !m.ReadOnly {
			t.Errorf("secret volume %s mounted read-write", m.Name)
		}
	}
}

// TestBuildJobDatabaseTLS: every mode reaches the agent as --db-tls-mode; the CA, when the
// Overcloud names one, as a path (--db-ca-file) to the one key of its Secret, mounted
// read-only and 0400; never the Secret's name or key in the arguments (the agent cannot
// read Secrets, and a CA's bytes never ride on a command line).
func TestBuildJobDatabaseTLS(t *testing.T) {
	ca := &backupv1alpha1.SecretKeyReference{Name: "overcloud-ca-secret", Key: "ca-bundle.pem"}
	for _, tc := range []struct {
		mode backupv1alpha1.TLSMode
		ca   *backupv1alpha1.SecretKeyReference
	}{
		{backupv1alpha1.TLSPreferred, nil},
		{backupv1alpha1.TLSRequired, nil},
		{backupv1alpha1.TLSRequired, ca},
		{backupv1alpha1.TLSVerifyCA, ca},
		{backupv1alpha1.TLSVerifyFull, ca},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			b, oc := testBackup(), testOvercloudSpec()
			oc.Database.TLS = &backupv1alpha1.DatabaseTLS{Mode: tc.mode, CASecret: tc.ca}
			job, err := BuildJob(b, JobParams{Overcloud: oc, Attempt: 1, Node: "controller-0", Image: "i:1"})
			if err != nil {
				t.Fatalf("a backup with database TLS %s: %v", tc.mode, err)
			}
			j := &JobView{Job: job, Pod: &job.Spec.Template.Spec, C: job.Spec.Template.Spec.Containers[0]}
			j.lockedDown(t, b)
			j.wantArgs(t, "--db-tls-mode="+string(tc.mode))
			for _, a := range j.C.Args {
				if strings.Contains(a, ca.Name) || strings.Contains(a, ca.Key) {
					t.Errorf("argument %q names the CA Secret", a)
				}
			}
			v := volume(j.Pod.Volumes, "db-ca")
			var m *corev1.VolumeMount
			for i := range j.C.VolumeMounts {
				if j.C.VolumeMounts[i].Name == "db-ca" {
					m = &j.C.VolumeMounts[i]
				}
			}
			if tc.ca == nil {
				j.noArgPrefix(t, "--db-ca-file")
				if v != nil || m != nil {
					t.Errorf("a CA volume without a CA: %+v, %+v", v, m)
				}
				return
			}
			j.wantArgs(t, "--db-ca-file=/etc/overcloud-backup/db-ca/ca.crt")
			if v == nil || v.Secret == nil || v.Secret.SecretName != ca.Name ||
				!reflect.DeepEqual(v.Secret.Items, []corev1.KeyToPath{{Key: ca.Key, Path: "ca.crt"}}) ||
				v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400 {
				t.Errorf("db-ca volume %+v", v)
			}
			if m == nil || !m.ReadOnly || m.MountPath != "/etc/overcloud-backup/db-ca" {
				t.Errorf("db-ca mount %+v", m)
			}
		})
	}
}
