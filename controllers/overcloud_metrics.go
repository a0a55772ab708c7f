package controllers

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// The Overcloud watch's metrics: per overcloud, and per node of it. Each probe sets every
// series of the overcloud anew (a node removed from the spec loses its series).
var (
	ocBackupPossible = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_overcloud_backup_possible",
		Help: "1 when the last probe found a node a backup could be taken from now, else 0.",
	}, []string{labelNamespace, labelOvercloud})

	ocClusterSize = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_overcloud_cluster_size",
		Help: "The Galera primary component's size (wsrep_cluster_size) at the last probe; 0 when no node answered.",
	}, []string{labelNamespace, labelOvercloud})

	ocNodeSynced = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_overcloud_node_synced",
		Help: "1 when the node was a synced member of the primary component at the last probe, else 0.",
	}, []string{labelNamespace, labelOvercloud, labelNode})

	ocLocalState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_overcloud_galera_local_state",
		Help: "The node's wsrep_local_state at the last probe (1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced); -1 when it did not answer.",
	}, []string{labelNamespace, labelOvercloud, labelNode})

	ocRecvQueue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_overcloud_galera_recv_queue",
		Help: "The node's receive queue (wsrep_local_recv_queue) at the last probe: write-sets waiting to be applied.",
	}, []string{labelNamespace, labelOvercloud, labelNode})

	ocFlowControlPaused = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_overcloud_galera_flow_control_paused_seconds_total",
		Help: "Time the node has paused replication for flow control since it started (wsrep_flow_control_paused_ns): " +
			"its rate is the fraction of time paused.",
	}, []string{labelNamespace, labelOvercloud, labelNode})

	ocProbeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ocb_overcloud_probe_seconds",
		Help: "Time one whole probe of the overcloud took (every node, Pacemaker and HAProxy, in parallel).",
		// 5 ms to about 41 s.
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{labelNamespace, labelOvercloud})

	ocProbeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_overcloud_probe_failures_total",
		Help: "Probes of the overcloud that could not run or that no Galera node answered.",
	}, []string{labelNamespace, labelOvercloud})

	ocLastProbeSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_overcloud_last_probe_success_timestamp_seconds",
		Help: "Unix time of the last probe of the overcloud that some Galera node answered.",
	}, []string{labelNamespace, labelOvercloud})

	ocProbeInterval = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_overcloud_probe_interval_seconds",
		Help: "The overcloud's monitoring.interval (0: probed only when a backup needs it).",
	}, []string{labelNamespace, labelOvercloud})
)

func init() {
	metrics.Registry.MustRegister(ocBackupPossible, ocClusterSize, ocNodeSynced, ocLocalState, ocRecvQueue,
		ocFlowControlPaused, ocProbeSeconds, ocProbeFailures, ocLastProbeSuccess, ocProbeInterval)
}

// recordOvercloudProbe sets the overcloud's series from the probe just made; before
// are the node rows of the status it replaces (their series go when their node went).
func recordOvercloudProbe(oc *backupv1alpha1.Overcloud, before []backupv1alpha1.NodeStatus, interval float64, p overcloudProbe) {
	ns, name := oc.Namespace, oc.Name
	ocProbeInterval.WithLabelValues(ns, name).Set(interval)
	ocProbeSeconds.WithLabelValues(ns, name).Observe(p.Took.Seconds())
	ready := meta.FindStatusCondition(oc.Status.Conditions, backupv1alpha1.ConditionReady)
	failed := ready != nil && ready.Reason == backupv1alpha1.ReasonProbeFailed
	failures := ocProbeFailures.WithLabelValues(ns, name) // exported at 0 from the first probe on
	if failed {
		failures.Inc()
	} else {
		ocLastProbeSuccess.WithLabelValues(ns, name).Set(float64(p.Start.Unix()))
	}
	possible := 0.0
	if ready != nil && ready.Status == metav1.ConditionTrue {
		possible = 1
	}
	ocBackupPossible.WithLabelValues(ns, name).Set(possible)
	ocClusterSize.WithLabelValues(ns, name).Set(float64(oc.Status.ClusterSize))
	// Series are deleted by their full labels, never by a partial match: that scans every
	// series of the vector, which with many overclouds costs more than the probe.
	nodeVecs := []*prometheus.GaugeVec{ocNodeSynced, ocLocalState, ocRecvQueue, ocFlowControlPaused}
	for _, n := range before {
		if !slices.ContainsFunc(oc.Status.Nodes, func(m backupv1alpha1.NodeStatus) bool { return m.Name == n.Name }) {
			for _, v := range nodeVecs {
				v.DeleteLabelValues(ns, name, n.Name)
			}
		}
	}
	for _, n := range oc.Status.Nodes {
		synced, state := 0.0, -1.0
		if nodeSynced(n) {
			synced = 1
		}
		ocNodeSynced.WithLabelValues(ns, name, n.Name).Set(synced)
		if g := n.Galera; g != nil && g.Reachable {
			state = float64(g.LocalState)
			ocRecvQueue.WithLabelValues(ns, name, n.Name).Set(float64(g.RecvQueue))
			ocFlowControlPaused.WithLabelValues(ns, name, n.Name).Set(float64(g.FlowControlPausedNs) / 1e9)
		} else {
			ocRecvQueue.DeleteLabelValues(ns, name, n.Name)
			ocFlowControlPaused.DeleteLabelValues(ns, name, n.Name)
		}
		ocLocalState.WithLabelValues(ns, name, n.Name).Set(state)
	}
}

// forgetOvercloudMetrics removes the series of an Overcloud that is gone.
func forgetOvercloudMetrics(namespace, name string) {
	labels := prometheus.Labels{labelNamespace: namespace, labelOvercloud: name}
	for _, v := range []*prometheus.GaugeVec{ocBackupPossible, ocClusterSize, ocNodeSynced, ocLocalState, ocRecvQueue,
		ocFlowControlPaused, ocLastProbeSuccess, ocProbeInterval} {
		v.DeletePartialMatch(labels)
	}
	ocProbeSeconds.DeletePartialMatch(labels)
	ocProbeFailures.DeletePartialMatch(labels)
	lastVerified.DeletePartialMatch(labels)
}
