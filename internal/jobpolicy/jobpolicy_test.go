package jobpolicy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

const digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestCheck(t *testing.T) {
	const own = "registry.example.com/ocb/operator:v1.2.0"
	base := Policy{AgentImage: own}
	admin := Policy{
		AgentImage: own,
		AllowedImages: []string{"registry.example.com/ocb/agent@sha256:*", "quay.io/acme/agent:2.0",
			"quay.io/acme/tools:*", "mirror.example.net/ocb/*"},
		PrivilegedNamespaces: []string{"infra"},
		ServiceAccounts:      []string{"openstack/backup-agent", "infra/*"},
	}
	job := func(f func(*backupv1alpha1.JobSpec)) *backupv1alpha1.JobSpec {
		j := &backupv1alpha1.JobSpec{}
		f(j)
		return j
	}
	image := func(i string) *backupv1alpha1.JobSpec { return job(func(j *backupv1alpha1.JobSpec) { j.Image = i }) }
	annotation := func(k string) *backupv1alpha1.JobSpec {
		return job(func(j *backupv1alpha1.JobSpec) { j.PodAnnotations = map[string]string{k: "unconfined"} })
	}
	toleration := func(t corev1.Toleration) *backupv1alpha1.JobSpec {
		return job(func(j *backupv1alpha1.JobSpec) { j.Tolerations = []corev1.Toleration{t} })
	}
	for _, tc := range []struct {
		name   string
		ns     string
		job    *backupv1alpha1.JobSpec
		policy Policy
		want   string // "" when allowed; else in the error
	}{
		{"no spec.job", "openstack", nil, base, ""},
		{"defaults", "openstack", &backupv1alpha1.JobSpec{}, base, ""},

		// Images: the operator's own, and what the administrator listed, within each
		// wildcard's boundary.
		{"the operator's own image named", "openstack", image(own), base, ""},
		{"any other image", "openstack", image("evil.example/miner:1"), base, "spec.job.image"},
		{"no agent image known", "openstack", image("evil.example/miner:1"), Policy{}, "--allowed-agent-images"},
		{"an allowed digest", "openstack", image("registry.example.com/ocb/agent@sha256:" + digest), admin, ""},
		{"a digest pattern, a tag", "openstack", image("registry.example.com/ocb/agent:latest2"), admin, "--allowed-agent-images"},
		{"a digest pattern, not a digest", "openstack", image("registry.example.com/ocb/agent@sha256:abcd"), admin, "spec.job.image"},
		{"a digest pattern, another repository", "openstack", image("registry.example.com/ocb/agent-x@sha256:" + digest), admin,
			"spec.job.image"},
		{"an exact allowed image", "openstack", image("quay.io/acme/agent:2.0"), admin, ""},
		{"an exact image, another tag", "openstack", image("quay.io/acme/agent:2.0.1"), admin, "spec.job.image"},
		{"a tag pattern", "openstack", image("quay.io/acme/tools:v3"), admin, ""},
		{"a tag pattern, pinned by digest", "openstack", image("quay.io/acme/tools:v3@sha256:" + digest), admin, ""},
		{"a tag pattern, another repository", "openstack", image("quay.io/acme/tools-evil:v3"), admin, "spec.job.image"},
		{"a tag pattern, not a tag", "openstack", image("quay.io/acme/tools:v3/x"), admin, "spec.job.image"},
		{"a path pattern", "openstack", image("mirror.example.net/ocb/agent:1"), admin, ""},
		{"a path pattern, a sibling path", "openstack", image("mirror.example.net/ocb-evil/agent:1"), admin, "spec.job.image"},
		{"a path pattern, the path itself", "openstack", image("mirror.example.net/ocb/"), admin, "spec.job.image"},
		{"a bare prefix allows nothing", "openstack", image("quay.io/acmeevil/x:1"),
			Policy{AllowedImages: []string{"quay.io/acme*"}}, "spec.job.image"},
		{"* alone allows nothing", "openstack", image("quay.io/x:1"), Policy{AllowedImages: []string{"*"}}, "spec.job.image"},

		// hostNetwork and the control plane: privileged namespaces only.
		{"hostNetwork", "openstack", job(func(j *backupv1alpha1.JobSpec) { j.HostNetwork = true }), admin, "--privileged-namespaces"},
		{"hostNetwork in a privileged namespace", "infra", job(func(j *backupv1alpha1.JobSpec) { j.HostNetwork = true }), admin, ""},
		{"hostNetwork, every namespace privileged", "openstack", job(func(j *backupv1alpha1.JobSpec) { j.HostNetwork = true }),
			Policy{PrivilegedNamespaces: []string{"*"}}, ""},
		{"tolerating the control plane", "openstack", toleration(corev1.Toleration{Key: "node-role.kubernetes.io/control-plane",
			Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}), admin, "tolerations[0]"},
		{"tolerating etcd nodes", "openstack", toleration(corev1.Toleration{Key: "node-role.kubernetes.io/etcd",
			Operator: corev1.TolerationOpEqual, Value: "true"}), admin, "tolerations[0]"},
		{"tolerating every taint", "openstack", toleration(corev1.Toleration{Operator: corev1.TolerationOpExists}), admin,
			"tolerations[0]"},
		{"an ordinary toleration", "openstack", toleration(corev1.Toleration{Key: "dedicated", Value: "backup",
			Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoSchedule}), base, ""},
		{"the control plane in a privileged namespace", "infra", toleration(corev1.Toleration{Key: "node-role.kubernetes.io/master",
			Operator: corev1.TolerationOpExists}), admin, ""},

		// ServiceAccounts: the default one, and those listed.
		{"another ServiceAccount", "openstack", job(func(j *backupv1alpha1.JobSpec) { j.ServiceAccountName = "admin" }), admin,
			"--allowed-service-accounts"},
		{"the default ServiceAccount", "openstack", job(func(j *backupv1alpha1.JobSpec) { j.ServiceAccountName = "default" }), base, ""},
		{"an allowed ServiceAccount", "openstack", job(func(j *backupv1alpha1.JobSpec) { j.ServiceAccountName = "backup-agent" }),
			admin, ""},
		{"an account allowed in another namespace", "infra-2", job(func(j *backupv1alpha1.JobSpec) { j.ServiceAccountName = "x" }),
			admin, "--allowed-service-accounts"},
		{"any ServiceAccount of a namespace allowed", "infra", job(func(j *backupv1alpha1.JobSpec) { j.ServiceAccountName = "x" }),
			admin, ""},

		// Pod annotations: none of the platform's or the runtimes' domains, whatever the policy.
		{"AppArmor unconfined", "infra", annotation("container.apparmor.security.beta.kubernetes.io/agent"), admin, "is reserved"},
		{"seccomp", "infra", annotation("seccomp.security.alpha.kubernetes.io/pod"), admin, "is reserved"},
		{"CDI devices", "infra", annotation("cdi.k8s.io/gpu"), admin, "is reserved"},
		{"OpenShift SCC", "infra", annotation("openshift.io/scc"), admin, "is reserved"},
		{"CRI-O devices, reverse-DNS", "infra", annotation("io.kubernetes.cri-o.Devices"), admin, "is reserved"},
		{"CRI-O user namespace", "infra", annotation("io.kubernetes.cri-o.userns-mode"), admin, "is reserved"},
		{"CRI-O seccomp profile from an image", "infra", annotation("seccomp-profile.kubernetes.cri-o.io/POD"), admin, "is reserved"},
		{"CRI-O CPU load balancing", "infra", annotation("cpu-load-balancing.crio.io"), admin, "is reserved"},
		{"Kata hypervisor", "infra", annotation("io.katacontainers.config.hypervisor.path"), admin, "is reserved"},
		{"crun", "infra", annotation("run.oci.keep_original_groups"), admin, "is reserved"},
		{"NRI device injection", "infra", annotation("devices.noderesource.dev/container.agent"), admin, "is reserved"},
		{"upper case", "infra", annotation("IO.Kubernetes.cri-o.Devices"), admin, "is reserved"},
		{"not a key", "openstack", annotation("a b/c"), admin, "not an annotation key"},
		{"Multus networks", "openstack", annotation("k8s.v1.cni.cncf.io/networks"), base, ""},
		{"a look-alike domain", "openstack", annotation("notkubernetes.io/x"), base, ""},
		{"a plain annotation", "openstack", annotation("team"), base, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.ns, tc.job, tc.policy)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "unconfined") {
				t.Errorf("the error echoes an annotation's value: %v", err)
			}
		})
	}
}

// TestValidate: the manager refuses, at start, settings that would allow more than they
// say or could never match.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		want string // "" when valid; else in the error
	}{
		{"none", Policy{}, ""},
		{"all the forms", Policy{
			AllowedImages:        []string{"quay.io/acme/agent:2.0", "r.example/a@sha256:*", "r.example/a:*", "r.example:5000/ocb/*"},
			PrivilegedNamespaces: []string{"infra", "*"},
			ServiceAccounts:      []string{"openstack/backup-agent", "infra/*"},
		}, ""},
		{"a bare prefix", Policy{AllowedImages: []string{"quay.io/acme*"}}, "a * must follow"},
		{"every image", Policy{AllowedImages: []string{"*"}}, "a * must follow"},
		{"every image under nothing", Policy{AllowedImages: []string{"/*"}}, "allows every image"},
		{"a * inside", Policy{AllowedImages: []string{"quay.io/*/agent:1"}}, "only at the end"},
		{"a space", Policy{AllowedImages: []string{"quay.io/acme/agent:1 "}}, "spaces"},
		{"an empty pattern", Policy{AllowedImages: []string{""}}, "empty"},
		{"a namespace that is no name", Policy{PrivilegedNamespaces: []string{"Infra"}}, "--privileged-namespaces"},
		{"an account without namespace", Policy{ServiceAccounts: []string{"backup-agent"}}, "--allowed-service-accounts"},
		{"an account in every namespace", Policy{ServiceAccounts: []string{"*/backup-agent"}}, "--allowed-service-accounts"},
		{"two errors", Policy{AllowedImages: []string{"*"}, ServiceAccounts: []string{"x"}}, "--allowed-service-accounts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
