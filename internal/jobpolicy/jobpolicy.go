// Package jobpolicy decides what a backup's spec.job may ask of its agent pod. A user
// who may create an OvercloudBackup (the narrow editor role) must not thereby run any
// image, on a node's host network, as any ServiceAccount, on control-plane nodes, or
// with the runtime's security settings changed by annotations: the cluster administrator
// says what is allowed, with the manager's flags. Pure: no I/O.
package jobpolicy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// Policy is what the cluster administrator allows beyond the defaults.
type Policy struct {
	// AgentImage is the operator's own agent image, always allowed.
	AgentImage string
	// AllowedImages are further images spec.job.image may name: an exact reference, or
	// a pattern ending in one of the wildcards of imageWildcards
	// ("registry.example.com/ocb/agent@sha256:*").
	AllowedImages []string
	// PrivilegedNamespaces may set hostNetwork and tolerate control-plane taints (or
	// every taint); "*" is every namespace.
	PrivilegedNamespaces []string
	// ServiceAccounts are the "namespace/name" (or "namespace/*") a backup may run its
	// agent as; the namespace's default account is always allowed.
	ServiceAccounts []string
}

// The wildcards an allowed-image pattern may end in. Each stops at a boundary of the
// reference, so that a pattern never reaches a registry, an organisation or a
// repository its author did not write: "quay.io/acme*" would also allow
// "quay.io/acmeevil/x" and is refused.
const (
	// wildDigest: any digest of the repository, "registry/agent@sha256:*".
	wildDigest = "@sha256:*"
	// wildTag: any tag (optionally pinned by a digest) of the repository, "registry/agent:*".
	wildTag = ":*"
	// wildPath: any repository under the registry or path, "registry/ocb/*".
	wildPath = "/*"
)

var (
	// digestRE and tagRE are the reference grammar's digest (sha256) and tag
	// (github.com/distribution/reference).
	digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$`)
)

// controlPlaneTaints keep workloads off the nodes that run the control plane and etcd
// (kubeadm; "master" before 1.24; RKE2's etcd nodes).
var controlPlaneTaints = []string{
	"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master", "node-role.kubernetes.io/etcd",
}

// reservedDomains are the domains of annotations that Kubernetes, its distributions and
// the container runtimes read as settings of the pod (AppArmor, seccomp, CDI devices,
// OpenShift's SCC, CRI-O's devices and user namespaces, Kata's hypervisor, crun, NRI's
// device and mount injection): a tenant may not set them on the agent pod. A key matches
// when its domain (the part before "/", or the whole key when it has none) is one of
// them or a subdomain, or is one of them written the reverse-DNS way the runtimes use
// ("io.kubernetes.cri-o.Devices", "run.oci.keep_original_groups").
var reservedDomains = []string{
	"kubernetes.io", "k8s.io", "openshift.io",
	"cri-o.io", "crio.io", "containerd.io", "containers.io", "katacontainers.io", "gvisor.dev", "oci.run", "opencontainers.org",
	"nri.io", "noderesource.dev",
}

// Validate checks the administrator's settings: a pattern that would allow more than
// its author could mean, or a name that can never match, is an error naming the flag.
func (p Policy) Validate() error {
	var errs []error
	for _, a := range p.AllowedImages {
		if err := validatePattern(a); err != nil {
			errs = append(errs, fmt.Errorf("--allowed-agent-images %q: %w", a, err))
		}
	}
	for _, ns := range p.PrivilegedNamespaces {
		if ns != "*" && len(validation.IsDNS1123Label(ns)) > 0 {
			errs = append(errs, fmt.Errorf("--privileged-namespaces %q: not a namespace name (or *)", ns))
		}
	}
	for _, sa := range p.ServiceAccounts {
		ns, name, ok := strings.Cut(sa, "/")
		if !ok || len(validation.IsDNS1123Label(ns)) > 0 || name != "*" && len(validation.IsDNS1123Subdomain(name)) > 0 {
			errs = append(errs, fmt.Errorf("--allowed-service-accounts %q: not namespace/name or namespace/*", sa))
		}
	}
	return errors.Join(errs...)
}

func validatePattern(a string) error {
	if a == "" || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("empty, or has spaces or control characters")
	}
	base, wild := cutWildcard(a)
	switch {
	case wild == "" && strings.HasSuffix(a, "*"):
		return errors.New("a * must follow @sha256:, : or / (a bare prefix could reach other repositories)")
	case strings.Contains(base, "*"):
		return errors.New("* only at the end, as @sha256:*, :* or /*")
	case wild != "" && base == "":
		return errors.New("allows every image: name a registry, a path or a repository before the wildcard")
	}
	return nil
}

// cutWildcard splits a pattern into what precedes its wildcard and the wildcard ("" for
// an exact reference).
func cutWildcard(a string) (base, wild string) {
	for _, w := range []string{wildDigest, wildTag, wildPath} {
		if b, ok := strings.CutSuffix(a, w); ok {
			return b, w
		}
	}
	return a, ""
}

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
	if err := checkPlacement(namespace, job, p); err != nil {
		return err
	}
	if sa := job.ServiceAccountName; sa != "" && sa != "default" &&
		!slices.Contains(p.ServiceAccounts, namespace+"/"+sa) && !slices.Contains(p.ServiceAccounts, namespace+"/*") {
		return fmt.Errorf("spec.job.serviceAccountName %q is not allowed: an administrator lists the accounts "+
			"backups may run as in --allowed-service-accounts (namespace/name)", clip(sa))
	}
	return checkAnnotations(job.PodAnnotations)
}

// checkPlacement: the node's network and the control-plane nodes only in the
// namespaces the administrator listed.
func checkPlacement(namespace string, job *backupv1alpha1.JobSpec, p Policy) error {
	if slices.Contains(p.PrivilegedNamespaces, "*") || slices.Contains(p.PrivilegedNamespaces, namespace) {
		return nil
	}
	if job.HostNetwork {
		return fmt.Errorf("spec.job.hostNetwork is not allowed in namespace %s: an administrator lists the namespaces "+
			"that may use it in --privileged-namespaces", namespace)
	}
	for i, t := range job.Tolerations {
		if t.Operator == corev1.TolerationOpExists && t.Key == "" || slices.Contains(controlPlaneTaints, t.Key) {
			return fmt.Errorf("spec.job.tolerations[%d] tolerates control-plane nodes, which is not allowed in namespace %s: "+
				"an administrator lists the namespaces that may in --privileged-namespaces", i, namespace)
		}
	}
	return nil
}

// checkAnnotations: well-formed keys, none of a reserved domain; in key order, so the
// same spec always gets the same answer.
func checkAnnotations(annotations map[string]string) error {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if len(validation.IsQualifiedName(k)) > 0 {
			return fmt.Errorf("spec.job.podAnnotations: %q is not an annotation key ([prefix/]name)", clip(k))
		}
		if reservedAnnotation(k) {
			return fmt.Errorf("spec.job.podAnnotations: %q is reserved (annotations of the domains %s, or their "+
				"reverse-DNS form, are security settings of the platform or the container runtime)",
				clip(k), strings.Join(reservedDomains, ", "))
		}
	}
	return nil
}

// imageAllowed says whether image is one of allowed, or matches a pattern of it within
// the wildcard's boundary.
func imageAllowed(image string, allowed []string) bool {
	for _, a := range allowed {
		if validatePattern(a) != nil {
			continue // Validate reports it; a bad pattern allows nothing
		}
		base, wild := cutWildcard(a)
		rest, ok := strings.CutPrefix(image, base)
		switch {
		case !ok:
		case wild == "":
			if rest == "" {
				return true
			}
		case wild == wildDigest:
			if r, ok := strings.CutPrefix(rest, "@sha256:"); ok && digestRE.MatchString(r) {
				return true
			}
		case wild == wildTag:
			if r, ok := strings.CutPrefix(rest, ":"); ok && tagRE.MatchString(r) {
				return true
			}
		case wild == wildPath:
			if r, ok := strings.CutPrefix(rest, "/"); ok && r != "" {
				return true
			}
		}
	}
	return false
}

// reservedAnnotation says whether key's domain is reserved (reservedDomains).
func reservedAnnotation(key string) bool {
	domain, _, ok := strings.Cut(key, "/")
	if !ok {
		domain = key
	}
	domain = strings.ToLower(domain)
	for _, d := range reservedDomains {
		if domain == d || strings.HasSuffix(domain, "."+d) || strings.HasPrefix(domain, reverseDNS(d)+".") {
			return true
		}
	}
	return false
}

// reverseDNS writes a domain the way runtimes name their annotations: "kubernetes.io"
// is "io.kubernetes".
func reverseDNS(d string) string {
	parts := strings.Split(d, ".")
	slices.Reverse(parts)
	return strings.Join(parts, ".")
}

// clip bounds a tenant's value quoted in an error.
func clip(s string) string {
	if len(s) > 128 {
		return s[:125] + "..."
	}
	return s
}
