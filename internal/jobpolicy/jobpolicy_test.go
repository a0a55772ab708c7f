package jobpolicy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

func TestCheck(t *testing.T) {
	const own = "registry.example.com/ocb/operator:v1.2.0"
	base := Policy{AgentImage: own}
	admin := Policy{
		AgentImage:           own,
		AllowedImages:        []string{"registry.example.com/ocb/agent@sha256:*", "quay.io/acme/agent:2.0"},
		PrivilegedNamespaces: []string{"infra"},
		ServiceAccounts:      []string{"openstack/backup-agent", "infra/*"},
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
		{"the operator's own image named", "openstack", &backupv1alpha1.JobSpec{Image: own}, base, ""},
		{"any other image", "openstack", &backupv1alpha1.JobSpec{Image: "evil.example/miner:1"}, base, "spec.job.image"},
		{"an allowed digest prefix", "openstack", &backupv1alpha1.JobSpec{Image: "registry.example.com/ocb/agent@sha256:abcd"}, admin, ""},
		{"the same repository by tag", "openstack", &backupv1alpha1.JobSpec{Image: "registry.example.com/ocb/agent:latest2"}, admin,
			"--allowed-agent-images"},
		{"an exact allowed image", "openstack", &backupv1alpha1.JobSpec{Image: "quay.io/acme/agent:2.0"}, admin, ""},
		{"hostNetwork", "openstack", &backupv1alpha1.JobSpec{HostNetwork: true}, admin, "--privileged-namespaces"},
		{"hostNetwork in a privileged namespace", "infra", &backupv1alpha1.JobSpec{HostNetwork: true}, admin, ""},
		{"hostNetwork, every namespace privileged", "openstack", &backupv1alpha1.JobSpec{HostNetwork: true},
			Policy{PrivilegedNamespaces: []string{"*"}}, ""},
		{"tolerating the control plane", "openstack", &backupv1alpha1.JobSpec{Tolerations: []corev1.Toleration{
			{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
			admin, "tolerations[0]"},
		{"tolerating every taint", "openstack", &backupv1alpha1.JobSpec{Tolerations: []corev1.Toleration{
			{Operator: corev1.TolerationOpExists}}}, admin, "tolerations[0]"},
		{"an ordinary toleration", "openstack", &backupv1alpha1.JobSpec{Tolerations: []corev1.Toleration{
			{Key: "dedicated", Value: "backup", Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoSchedule}}}, base, ""},
		{"the control plane in a privileged namespace", "infra", &backupv1alpha1.JobSpec{Tolerations: []corev1.Toleration{
			{Key: "node-role.kubernetes.io/master", Operator: corev1.TolerationOpExists}}}, admin, ""},
		{"another ServiceAccount", "openstack", &backupv1alpha1.JobSpec{ServiceAccountName: "admin"}, admin, "--allowed-service-accounts"},
		{"the default ServiceAccount", "openstack", &backupv1alpha1.JobSpec{ServiceAccountName: "default"}, base, ""},
		{"an allowed ServiceAccount", "openstack", &backupv1alpha1.JobSpec{ServiceAccountName: "backup-agent"}, admin, ""},
		{"any ServiceAccount of a namespace allowed", "infra", &backupv1alpha1.JobSpec{ServiceAccountName: "x"}, admin, ""},
		{"AppArmor unconfined", "openstack", &backupv1alpha1.JobSpec{PodAnnotations: map[string]string{
			"container.apparmor.security.beta.kubernetes.io/agent": "unconfined"}}, admin, "is reserved"},
		{"seccomp", "openstack", &backupv1alpha1.JobSpec{PodAnnotations: map[string]string{
			"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}}, admin, "is reserved"},
		{"OpenShift SCC", "openstack", &backupv1alpha1.JobSpec{PodAnnotations: map[string]string{"openshift.io/scc": "privileged"}},
			admin, "is reserved"},
		{"Multus networks", "openstack", &backupv1alpha1.JobSpec{PodAnnotations: map[string]string{
			"k8s.v1.cni.cncf.io/networks": "ctlplane"}}, base, ""},
		{"a plain annotation", "openstack", &backupv1alpha1.JobSpec{PodAnnotations: map[string]string{"team": "dba"}}, base, ""},
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
