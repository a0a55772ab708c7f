package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/config/crd"
	"github.com/overcloud-backup/overcloud-backup-operator/controllers"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/crdcheck"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// exitNoNode is the exit code when the probe worked but no node may be backed up from.
const exitNoNode = 2

// errNoNode is returned when no node was chosen; main maps it to exitNoNode.
var errNoNode = errors.New("no node to back up from")

func newProbeCommand() *cobra.Command {
	var file, output, overcloud, namespace, kubeconfig, kubeContext string
	var excluded []string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe (-f overcloud.yaml | --overcloud NAME [-n NAMESPACE])",
		Short: "Probe Galera, Pacemaker and HAProxy and print the node table and the decision",
		Long: `Probe every node of an overcloud (Galera, and Pacemaker and HAProxy when configured),
print one line per node with why it may or may not be backed up from, and the node a
backup would use now. Exit code 0: a node was chosen; 2: none may be used (the reason is
printed); 1: the probe could not run.

The overcloud is an Overcloud, the same object the operator reads:
  -f FILE            a manifest: one Overcloud document, and the Secrets it names as
                     further documents (kind: Secret, data or stringData), as kubectl
                     would apply them. OCB_DB_USER, OCB_DB_PASSWORD, OCB_HAPROXY_USER and
                     OCB_HAPROXY_PASSWORD in the environment override the Secrets' values.
  --overcloud NAME   read from a cluster through the kubeconfig (--kubeconfig, --context,
                     -n): the Overcloud and its Secrets, with the reader's own rights.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" && output != "yaml" {
				return fmt.Errorf("-o %q: want table, json or yaml", output)
			}
			if (file == "") == (overcloud == "") {
				return errors.New("give either -f FILE or --overcloud NAME")
			}
			var oc *backupv1alpha1.Overcloud
			var creds probe.Credentials
			var err error
			if file != "" {
				oc, creds, err = loadOvercloudFile(file)
			} else {
				oc, creds, err = loadOvercloudFromCluster(cmd.Context(), kubeconfig, kubeContext, namespace, overcloud)
			}
			if err != nil {
				return err
			}
			creds = credentialsFromEnv(creds)
			target, err := probe.NewTarget(&oc.Spec, creds, timeout)
			if err != nil {
				return err
			}
			defer target.Close()
			snap, d := probe.GatherDecided(cmd.Context(), target, selection.Policy{Excluded: excluded})
			report := probe.NewReport(oc.Name, snap, d)
			if err := writeReport(cmd.OutOrStdout(), report, output); err != nil {
				return err
			}
			if d.Selected == "" {
				return fmt.Errorf("%w: %s", errNoNode, d.Reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "An Overcloud manifest, with the Secrets it names as further documents.")
	f.StringVar(&overcloud, "overcloud", "", "The Overcloud to read from the cluster of the kubeconfig.")
	f.StringVarP(&namespace, "namespace", "n", "", "The Overcloud's namespace (default: the kubeconfig context's).")
	f.StringVar(&kubeconfig, "kubeconfig", "", "Path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config).")
	f.StringVar(&kubeContext, "context", "", "The kubeconfig context to use.")
	f.StringArrayVar(&excluded, "exclude", nil, "A node never to choose (repeatable), as nodeSelection.excludedNodes.")
	f.StringVarP(&output, "output", "o", "table", "Output format: table, json or yaml.")
	f.DurationVar(&timeout, "timeout", 0, "Deadline of each single probe call (default: the Overcloud's connect plus query timeouts).")
	return cmd
}

// maxManifest bounds the manifest `probe -f` reads.
const maxManifest = 1 << 20

// loadOvercloudFile reads the Overcloud and the Secrets it names from a manifest: YAML
// documents separated by "---", decoded strictly (an unknown field is an error).
func loadOvercloudFile(path string) (*backupv1alpha1.Overcloud, probe.Credentials, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the user names the file to read
	if err != nil {
		return nil, probe.Credentials{}, fmt.Errorf("reading the Overcloud manifest: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, probe.Credentials{}, fmt.Errorf("reading the Overcloud manifest: %w", err)
	}
	if len(data) > maxManifest {
		return nil, probe.Credentials{}, fmt.Errorf("%s: larger than %d bytes", path, maxManifest)
	}
	var oc *backupv1alpha1.Overcloud
	secrets := map[string]*corev1.Secret{}
	for i, doc := range strings.Split("\n"+string(data), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return nil, probe.Credentials{}, fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		switch {
		case meta.Kind == "Overcloud" && meta.APIVersion == backupv1alpha1.GroupVersion.String():
			if oc != nil {
				return nil, probe.Credentials{}, fmt.Errorf("%s: more than one Overcloud", path)
			}
			// A strict decode (an unknown field is an error, as with `kubectl apply
			// --validate=strict`), then the API server's checks: the CRD's schema and CEL
			// rules. The file meets what the cluster would accept.
			oc = &backupv1alpha1.Overcloud{}
			if err := yaml.UnmarshalStrict([]byte(doc), oc); err != nil {
				return nil, probe.Credentials{}, fmt.Errorf("%s: the Overcloud: %w", path, err)
			}
			if err := validateOvercloud(context.Background(), []byte(doc)); err != nil {
				return nil, probe.Credentials{}, fmt.Errorf("%s: the Overcloud is invalid: %w", path, err)
			}
		case meta.Kind == "Secret" && meta.APIVersion == "v1":
			s := &corev1.Secret{}
			if err := yaml.UnmarshalStrict([]byte(doc), s); err != nil {
				return nil, probe.Credentials{}, fmt.Errorf("%s: document %d (a Secret): %w", path, i+1, err)
			}
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			for k, v := range s.StringData {
				s.Data[k] = []byte(v)
			}
			secrets[s.Name] = s
		default:
			return nil, probe.Credentials{}, fmt.Errorf("%s: document %d is %s %s: want an Overcloud (%s) and Secrets (v1)",
				path, i+1, clip(meta.APIVersion, 64), clip(meta.Kind, 64), backupv1alpha1.GroupVersion)
		}
	}
	if oc == nil {
		return nil, probe.Credentials{}, fmt.Errorf("%s: no Overcloud (apiVersion %s, kind Overcloud)", path, backupv1alpha1.GroupVersion)
	}
	creds, err := controllers.CredentialsFromSecrets(oc.Namespace, &oc.Spec, secrets)
	if err != nil && !credentialsFromEnvComplete() {
		return nil, probe.Credentials{}, fmt.Errorf("%s: %w (add the Secrets as documents of the file, "+
			"or set OCB_DB_USER and OCB_DB_PASSWORD)", path, err)
	}
	return oc, creds, nil
}

// validateOvercloud holds an Overcloud document to the Overcloud CRD, as the API server
// would on create (internal/crdcheck, the CRD embedded from config/crd).
func validateOvercloud(ctx context.Context, doc []byte) error {
	v, err := crdcheck.New(crd.Overclouds, backupv1alpha1.GroupVersion.Version)
	if err != nil {
		return fmt.Errorf("the embedded Overcloud CRD: %w", err)
	}
	return v.ValidateYAML(ctx, doc)
}

// loadOvercloudFromCluster reads the Overcloud and its Secrets through the kubeconfig.
func loadOvercloudFromCluster(
	ctx context.Context, kubeconfig, kubeContext, namespace, name string,
) (*backupv1alpha1.Overcloud, probe.Credentials, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, probe.Credentials{}, fmt.Errorf("the kubeconfig: %w", err)
	}
	if namespace == "" {
		if namespace, _, err = cc.Namespace(); err != nil {
			return nil, probe.Credentials{}, fmt.Errorf("the kubeconfig's namespace: %w", err)
		}
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), backupv1alpha1.AddToScheme(scheme)); err != nil {
		return nil, probe.Credentials{}, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, probe.Credentials{}, fmt.Errorf("a client of the cluster: %w", err)
	}
	oc := &backupv1alpha1.Overcloud{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, oc); err != nil {
		return nil, probe.Credentials{}, fmt.Errorf("getting Overcloud %s/%s: %w", namespace, name, err)
	}
	creds, err := controllers.ReadCredentials(ctx, c, namespace, &oc.Spec)
	if err != nil && !credentialsFromEnvComplete() {
		return nil, probe.Credentials{}, err
	}
	return oc, creds, nil
}

// credentialsFromEnv overrides the database and HAProxy credentials from the environment.
func credentialsFromEnv(c probe.Credentials) probe.Credentials {
	c.DatabaseUser = envOr("OCB_DB_USER", c.DatabaseUser)
	c.DatabasePassword = envOr("OCB_DB_PASSWORD", c.DatabasePassword)
	c.HAProxyUser = envOr("OCB_HAPROXY_USER", c.HAProxyUser)
	c.HAProxyPassword = envOr("OCB_HAPROXY_PASSWORD", c.HAProxyPassword)
	return c
}

// credentialsFromEnvComplete is true when the environment gives the database credentials,
// so that missing Secrets do not stop the probe.
func credentialsFromEnvComplete() bool {
	_, user := os.LookupEnv("OCB_DB_USER")
	_, pass := os.LookupEnv("OCB_DB_PASSWORD")
	return user && pass
}

func envOr(key, fallback string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return fallback
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func writeReport(w io.Writer, r probe.Report, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return r.WriteTable(w)
}
