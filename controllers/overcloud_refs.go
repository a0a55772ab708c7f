package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// An Overcloud's references, for the Overcloud controller and for the backups that name
// it: the Secrets its spec names, in its namespace, read from the API server (their data
// is never cached), checked, and turned into the probe's credentials.

// refProblem is why the references are not usable yet.
type refProblem struct{ reason, message string }

// readCredentials reads the Secrets the overcloud names and turns them into the probe's
// credentials, or the first problem found.
func readCredentials(
	ctx context.Context, r client.Reader, namespace string, oc *backupv1alpha1.OvercloudSpec,
) (probe.Credentials, *refProblem, error) {
	secrets := map[string]*corev1.Secret{}
	for _, name := range overcloudSecretNames(oc) {
		s := &corev1.Secret{}
		err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s)
		switch {
		case apierrors.IsNotFound(err):
			secrets[name] = nil
		case err != nil:
			return probe.Credentials{}, nil, fmt.Errorf("getting Secret %s: %w", name, err)
		default:
			secrets[name] = s
		}
	}
	creds, problem := credentialsFrom(namespace, oc, secrets)
	return creds, problem, nil
}

// overcloudSecretNames are the Secrets the overcloud names, each once: the field index of
// the Secret watches, and what readCredentials reads.
func overcloudSecretNames(oc *backupv1alpha1.OvercloudSpec) []string {
	names := []string{oc.Database.CredentialsSecret.Name}
	if t := oc.Database.TLS; t != nil && t.CASecret != nil {
		names = append(names, t.CASecret.Name)
	}
	if oc.SSH != nil {
		names = append(names, oc.SSH.SecretName)
	}
	if h := oc.HAProxy; h != nil && h.CredentialsSecret != nil {
		names = append(names, h.CredentialsSecret.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// credentialsFrom checks that every Secret exists and holds its keys (non-empty) and
// returns the probe's credentials. Pure: secrets maps a name to the Secret, nil when it
// does not exist. Messages name Secrets and keys, never a value.
func credentialsFrom(
	namespace string, oc *backupv1alpha1.OvercloudSpec, secrets map[string]*corev1.Secret,
) (probe.Credentials, *refProblem) {
	var c probe.Credentials
	var problems []refProblem
	read := func(name, what string, keys ...string) [][]byte {
		s := secrets[name]
		if s == nil {
			problems = append(problems, refProblem{backupv1alpha1.ReasonSecretNotFound,
				fmt.Sprintf("Secret %s (%s) not found in namespace %s: create it with the keys %s",
					name, what, namespace, strings.Join(keys, " and "))})
			return nil
		}
		var missing []string
		out := make([][]byte, len(keys))
		for i, k := range keys {
			if out[i] = s.Data[k]; len(out[i]) == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			problems = append(problems, refProblem{backupv1alpha1.ReasonSecretKeyMissing,
				fmt.Sprintf("Secret %s (%s) has no non-empty key %s", name, what, strings.Join(missing, " or "))})
			return nil
		}
		return out
	}
	trim := func(b []byte) string { return strings.TrimRight(string(b), "\r\n") }

	db := oc.Database.CredentialsSecret
	if v := read(db.Name, "database credentials", db.UsernameKeyOrDefault(), db.PasswordKeyOrDefault()); v != nil {
		c.DatabaseUser, c.DatabasePassword = trim(v[0]), trim(v[1])
	}
	if t := oc.Database.TLS; t != nil && t.CASecret != nil {
		if v := read(t.CASecret.Name, "database CA", t.CASecret.Key); v != nil {
			c.DatabaseCA = v[0]
		}
	}
	if s := oc.SSH; s != nil {
		if v := read(s.SecretName, "SSH", s.PrivateKeyKeyOrDefault(), s.KnownHostsKeyOrDefault()); v != nil {
			c.SSHPrivateKey, c.SSHKnownHosts = v[0], v[1]
		}
	}
	if h := oc.HAProxy; h != nil && h.CredentialsSecret != nil {
		hc := h.CredentialsSecret
		if v := read(hc.Name, "HAProxy stats credentials", hc.UsernameKeyOrDefault(), hc.PasswordKeyOrDefault()); v != nil {
			c.HAProxyUser, c.HAProxyPassword = trim(v[0]), trim(v[1])
		}
	}
	if len(problems) == 0 {
		return c, nil
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.message
	}
	return probe.Credentials{}, &refProblem{reason: problems[0].reason, message: strings.Join(msgs, "; ")}
}

// ReadCredentials is readCredentials for the `probe` command: a problem with the Secrets
// is an error that names them (never a value).
func ReadCredentials(ctx context.Context, r client.Reader, namespace string, oc *backupv1alpha1.OvercloudSpec) (probe.Credentials, error) {
	c, problem, err := readCredentials(ctx, r, namespace, oc)
	if err == nil && problem != nil {
		err = fmt.Errorf("%s: %s", problem.reason, problem.message)
	}
	return c, err
}

// CredentialsFromSecrets is credentialsFrom for Secrets read from a file (`probe -f`):
// secrets maps a name to the Secret, absent when not given.
func CredentialsFromSecrets(
	namespace string, oc *backupv1alpha1.OvercloudSpec, secrets map[string]*corev1.Secret,
) (probe.Credentials, error) {
	c, problem := credentialsFrom(namespace, oc, secrets)
	if problem != nil {
		return c, fmt.Errorf("%s: %s", problem.reason, problem.message)
	}
	return c, nil
}
