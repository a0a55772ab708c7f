package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The operator's metrics, served with controller-runtime's on the manager's metrics
// endpoint. Every name starts with ocb_. Labels carry names (namespace, overcloud, node),
// never anything from a Secret.
var (
	backupsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_backups_total",
		Help: "Backups that finished, by result (succeeded or failed).",
	}, []string{labelNamespace, labelOvercloud, labelResult})

	backupDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ocb_backup_duration_seconds",
		Help: "Time from the first attempt's Job start to the backup's end, by result.",
		// 10 s to about 5.7 h.
		Buckets: prometheus.ExponentialBuckets(10, 2, 12),
	}, []string{labelNamespace, labelOvercloud, labelResult})

	lastBackupSize = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_last_backup_size_bytes",
		Help: "Total size of the files of the last successful backup of the overcloud.",
	}, []string{labelNamespace, labelOvercloud})

	lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_last_success_timestamp_seconds",
		Help: "Unix time the last successful backup of the overcloud completed.",
	}, []string{labelNamespace, labelOvercloud})

	probeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ocb_probe_duration_seconds",
		Help: "Time one probe call took, by node and source (galera, pacemaker, haproxy-http, haproxy-socket).",
		// 5 ms to about 41 s: a healthy node answers in milliseconds, a frozen one at its timeout.
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{labelOvercloud, labelNode, "source", labelResult})

	nodeSelections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_node_selections_total",
		Help: "Backup attempts started, by the node chosen.",
	}, []string{labelNamespace, labelOvercloud, labelNode})

	desyncLeftOn = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_desync_left_on",
		Help: "1 while a failed attempt may have left wsrep_desync=ON on the node and the controller " +
			"has not yet checked or repaired it; 0 once it has.",
	}, []string{labelNamespace, labelOvercloud, labelNode})

	desyncRepairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_desync_repairs_total",
		Help: "Checks of wsrep_desync after an attempt that could not turn it off, by result: " +
			"repaired (it was ON), verified (already OFF), error.",
	}, []string{labelNamespace, labelOvercloud, labelNode, labelResult})

	lastVerified = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_backup_last_verified_timestamp_seconds",
		Help: "Unix time the restore drill of the overcloud's newest verified backup completed (absent until one has).",
	}, []string{labelNamespace, labelOvercloud})

	drills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_backup_drills_total",
		Help: "Restore drills that ended, by the reason of their Verified condition (Restored, TableMismatch, RestoreFailed, " +
			"CorruptTable, TooLarge, VersionMismatch, DrillFailed).",
	}, []string{labelNamespace, labelOvercloud, labelReason})

	cleanups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_cleanups_total",
		Help: "Cleanup Jobs of deleted backups with deletionPolicy Delete, by result (succeeded, failed).",
	}, []string{labelNamespace, labelOvercloud, labelResult})
)

func init() {
	metrics.Registry.MustRegister(backupsTotal, backupDuration, lastBackupSize, lastSuccess, probeDuration, nodeSelections,
		desyncLeftOn, desyncRepairs, cleanups, lastVerified, drills)
}

// Metric label names and values.
const (
	labelNamespace  = "namespace"
	labelOvercloud  = "overcloud"
	labelResult     = "result"
	labelNode       = "node"
	resultSucceeded = "succeeded"
	resultFailed    = "failed"
	resultOK        = "ok"
	resultError     = "error"
)

// recordFinished counts a backup that reached its end.
func recordFinished(namespace, overcloud string, succeeded bool, duration *time.Duration, sizeBytes int64, at time.Time) {
	result := resultFailed
	if succeeded {
		result = resultSucceeded
		lastBackupSize.WithLabelValues(namespace, overcloud).Set(float64(sizeBytes))
		lastSuccess.WithLabelValues(namespace, overcloud).Set(float64(at.Unix()))
	}
	backupsTotal.WithLabelValues(namespace, overcloud, result).Inc()
	if duration != nil {
		backupDuration.WithLabelValues(namespace, overcloud, result).Observe(duration.Seconds())
	}
}

// observeProbe records one probe call.
func observeProbe(overcloud, node, source string, took time.Duration, err error) {
	result := resultOK
	if err != nil {
		result = resultError
	}
	probeDuration.WithLabelValues(overcloud, node, source, result).Observe(took.Seconds())
}
