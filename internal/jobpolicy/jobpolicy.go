// Package jobpolicy decides what a backup's spec.job may ask of its agent pod. A user
// who may create an OvercloudBackup (the narrow editor role) must not thereby run any
// image, on a node's host network, as any ServiceAccount, on control-plane nodes: the
// cluster administrator says what is allowed, with the manager's flags. Pure: no I/O.
package jobpolicy

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// Policy is what the cluster administrator allows beyond the defaults.
type Policy struct {
	// AgentImage is the operator's own agent image, always allowed.
	AgentImage string
	// AllowedImages are further images spec.job.image may name: an exact reference, or
	// a prefix ending in "*" (e.g. "registry.example.com/ocb/agent@sha256:*").
	AllowedImages []string
	// PrivilegedNamespaces may set hostNetwork and tolerate control-plane taints (or
	// every taint); "*" is every namespace.
	PrivilegedNamespaces []string
	// ServiceAccounts are the "namespace/name" (or "namespace/*") a backup may run its
	// agent as; the namespace's default account is always allowed.
	ServiceAccounts []string
}

// controlPlaneTaints are the taints that keep workloads off control-plane nodes.
var controlPlaneTaints = []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}

// reservedAnnotationDomains are the prefixes of annotations Kubernetes and its
// distributions read as security settings (AppArmor, seccomp, OpenShift's SCC, Pod
// Security), or that belong to the platform: a tenant may not set them on the agent pod.
var reservedAnnotationDomains = []string{"kubernetes.io", "k8s.io", "openshift.io"}

// Check returns nil when the backup in namespace may run with job, else an error naming
// the field and the flag that would allow it. It never echoes an annotation's value.
func Check(namespace string, job *backupv1alpha1.JobSpec, p Policy) error {
	if job == nil {
		return nil
	}
	if job.Image != "" && job.Image != p.AgentImage && !imageAllowed(job.Image, p.AllowedImages) {
		return fmt.Errorf("spec.job.image %q is not allowed: the manager runs its own agent image and those "+
			"an administrator lists in --allowed-agent-images", clip(job.Image))
	}
	privileged := slices.Contains(p.PrivilegedNamespaces, "*") || slices.Contains(p.PrivilegedNamespaces, namespace)
	if job.HostNetwork && !privileged {
		return fmt.Errorf("spec.job.hostNetwork is not allowed in namespace %s: an administrator lists the namespaces "+
			"that may use it in --privileged-namespaces", namespace)
	}
	if !privileged {
		for i, t := range job.Tolerations {
			if t.Operator == corev1.TolerationOpExists && t.Key == "" || slices.Contains(controlPlaneTaints, t.Key) {
				return fmt.Errorf("spec.job.tolerations[%d] tolerates control-plane nodes, which is not allowed in namespace %s: "+
					"an administrator lists the namespaces that may in --privileged-namespaces", i, namespace)
			}
		}
	}
	if sa := job.ServiceAccountName; sa != "" && sa != "default" &&
		!slices.Contains(p.ServiceAccounts, namespace+"/"+sa) && !slices.Contains(p.ServiceAccounts, namespace+"/*") {
		return fmt.Errorf("spec.job.serviceAccountName %q is not allowed: an administrator lists the accounts "+
			"backups may run as in --allowed-service-accounts (namespace/name)", clip(sa))
	}
	keys := make([]string, 0, len(job.PodAnnotations))
	for k := range job.PodAnnotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if reservedAnnotation(k) {
			return fmt.Errorf("spec.job.podAnnotations: %q is reserved (annotations under %s are security settings "+
				"or the platform's)", clip(k), strings.Join(reservedAnnotationDomains, ", "))
		}
	}
	return nil
}

func imageAllowed(image string, allowed []string) bool {
	for _, a := range allowed {
		if prefix, ok := strings.CutSuffix(a, "*"); ok && prefix != "" && strings.HasPrefix(image, prefix) || a == image {
			return true
		}
	}
	return false
}

// reservedAnnotation says whether key's prefix (before "/") is a reserved domain or a
// subdomain of one (container.apparmor.security.beta.kubernetes.io/...).
func reservedAnnotation(key string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	prefix = strings.ToLower(prefix)
	for _, d := range reservedAnnotationDomains {
		if prefix == d || strings.HasSuffix(prefix, "."+d) {
			return true
		}
	}
	return false
}

// clip bounds a tenant's value quoted in an error.
func clip(s string) string {
	if len(s) > 128 {
		return s[:125] + "..."
	}
	return s
}
