package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/controllers"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/jobpolicy"
)

// managerOptions are the manager's flags.
type managerOptions struct {
	metricsAddr      string
	secureMetrics    bool
	enableHTTP2      bool
	probeAddr        string
	leaderElect      bool
	leaderElectionNS string
	watchNamespaces  []string
	agentImage       string
	jobPolicy        jobpolicy.Policy
	zap              zap.Options
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(backupv1alpha1.AddToScheme(scheme))
	return scheme
}

func newManagerCommand() *cobra.Command {
	o := &managerOptions{zap: zap.Options{Development: false}}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the controllers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
			// A policy flag that would allow more than it says, or never match, stops
			// the manager before it serves anything.
			if err := o.jobPolicy.Validate(); err != nil {
				return fmt.Errorf("the backup Job policy: %w", err)
			}
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return fmt.Errorf("finding the Kubernetes API (in-cluster, or --kubeconfig/KUBECONFIG): %w", err)
			}
			return runManager(cmd.Context(), cfg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"Address of the metrics endpoint (HTTPS unless --metrics-secure=false); \"0\" disables it.")
	f.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, for callers the API server authenticates and authorizes.")
	f.BoolVar(&o.enableHTTP2, "enable-http2", false, "Allow HTTP/2 on the metrics server (off: CVE-2023-44487, CVE-2023-39325).")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader, so that only one of several replicas acts.")
	f.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election Lease (default: the pod's namespace).")
	f.StringSliceVar(&o.watchNamespaces, "watch-namespaces", nil, "Comma-separated namespaces to watch (default: all).")
	f.StringVar(&o.agentImage, "agent-image", "", "Image of backup Jobs when a backup names none (default: the operator's own image).")
	f.StringSliceVar(&o.jobPolicy.AllowedImages, "allowed-agent-images", nil,
		"Further images spec.job.image may name: exact references, or repo@sha256:* (any digest), repo:* (any tag), "+
			"prefix/* (any repository under it) (default: only the agent image).")
	f.StringSliceVar(&o.jobPolicy.PrivilegedNamespaces, "privileged-namespaces", nil,
		"Namespaces whose backups may set spec.job.hostNetwork and tolerate control-plane taints (* for all; default: none).")
	f.StringSliceVar(&o.jobPolicy.ServiceAccounts, "allowed-service-accounts", nil,
		"namespace/name (or namespace/*) of the ServiceAccounts backups may run their agent as (default: each namespace's default).")
	// controller-runtime registers --kubeconfig on the standard flag set; expose it.
	if kc := flag.CommandLine.Lookup("kubeconfig"); kc != nil {
		f.AddGoFlag(kc)
	}
	gofs := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.zap.BindFlags(gofs)
	f.AddGoFlagSet(gofs)
	return cmd
}

// runManager runs the manager until ctx is cancelled.
func runManager(ctx context.Context, cfg *rest.Config, o *managerOptions) error {
	log := ctrl.Log.WithName("setup")

	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if o.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	// Jobs and Pods are cached only when they are the operator's (its labels); Secrets
	// are never cached (read when needed, watched by metadata only). No cached object
	// keeps its managedFields: nothing here reads them, and every read from the cache
	// would copy them.
	cacheOpts := cache.Options{ByObject: controllers.CacheByObject(), DefaultTransform: cache.TransformStripManagedFields()}
	if ns := cleanNamespaces(o.watchNamespaces); len(ns) > 0 {
		cacheOpts.DefaultNamespaces = make(map[string]cache.Config, len(ns))
		for _, n := range ns {
			cacheOpts.DefaultNamespaces[n] = cache.Config{}
		}
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  newScheme(),
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "overcloud-backup-operator.backup.overcloud.io",
		LeaderElectionNamespace: o.leaderElectionNS,
		// The manager steps down at once on SIGTERM instead of waiting for the
		// lease to expire, so a rollout does not leave backups unattended.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOpts,
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: controllers.UncachedObjects()}},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the ready check: %w", err)
	}

	agentImage, err := resolveAgentImage(ctx, cfg, o.agentImage)
	if err != nil {
		return err
	}
	if agentImage == "" {
		log.Info("No agent image: set --agent-image (or run in a pod with POD_NAME and POD_NAMESPACE); " +
			"backups without spec.job.image wait until then")
	}
	if err := (&controllers.OvercloudBackupReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("overcloudbackup-controller"),
		AgentImage:              agentImage,
		JobPolicy:               o.jobPolicy,
		WatchNamespaces:         cleanNamespaces(o.watchNamespaces),
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the OvercloudBackup controller: %w", err)
	}
	if err := (&controllers.OvercloudReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("overcloud-controller"),
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the Overcloud controller: %w", err)
	}
	if err := (&controllers.BackupScheduleReconciler{
		Client:                  mgr.GetClient(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("backupschedule-controller"),
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the BackupSchedule controller: %w", err)
	}
	if err := (&controllers.OvercloudRestoreReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		AgentImage:              agentImage,
		JobPolicy:               o.jobPolicy,
		Recorder:                mgr.GetEventRecorder("overcloudrestore-controller"),
		MaxConcurrentReconciles: 2,
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the OvercloudRestore controller: %w", err)
	}

	log.Info("Starting manager", "watchNamespaces", cleanNamespaces(o.watchNamespaces),
		"leaderElection", o.leaderElect, "agentImage", agentImage, "allowedAgentImages", o.jobPolicy.AllowedImages,
		"privilegedNamespaces", o.jobPolicy.PrivilegedNamespaces, "allowedServiceAccounts", o.jobPolicy.ServiceAccounts)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}

// resolveAgentImage is --agent-image, else the image of the manager's own container,
// read from its pod (POD_NAMESPACE and POD_NAME, set through the downward API in
// config/manager/manager.yaml), else "" when the manager runs outside a pod.
func resolveAgentImage(ctx context.Context, cfg *rest.Config, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	ns, name := os.Getenv("POD_NAMESPACE"), os.Getenv("POD_NAME")
	if ns == "" || name == "" {
		return "", nil
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return "", fmt.Errorf("creating a client to read the manager's pod: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
		return "", fmt.Errorf("reading the manager's pod %s/%s to find its image (or set --agent-image): %w", ns, name, err)
	}
	return podImage(pod, managerContainer), nil
}

// managerContainer is the manager's container in config/manager/manager.yaml.
const managerContainer = "manager"

// podImage is the image of the named container, else of the only container.
func podImage(pod *corev1.Pod, container string) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	if len(pod.Spec.Containers) == 1 {
		return pod.Spec.Containers[0].Image
	}
	return ""
}

// cleanNamespaces drops empty entries and surrounding spaces from --watch-namespaces.
func cleanNamespaces(in []string) []string {
	out := make([]string, 0, len(in))
	for _, n := range in {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
