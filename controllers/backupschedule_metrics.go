package controllers

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of the BackupSchedule controller: what an alert on stale backups needs
// (seconds since the last success against the schedule's own interval), and what each
// run did.
var (
	scheduleRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_schedule_runs_total",
		Help: "Runs of a schedule by result: started (a backup was created), skipped (concurrencyPolicy Forbid " +
			"while one runs, or a name held by an object the schedule does not own), missed (past startingDeadlineSeconds, " +
			"or more than 100 missed while the operator was away).",
	}, []string{labelNamespace, labelSchedule, labelResult})

	scheduleFailures = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ocb_schedule_consecutive_failures",
		Help: "Failed backups of the schedule since its last success.",
	}, []string{labelNamespace, labelSchedule})

	backupFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_backup_failures_total",
		Help: "Backups that failed for good, by the reason of their Failed condition (NoIdleNode, AttemptsExhausted, DeadlineExceeded...).",
	}, []string{labelNamespace, labelOvercloud, labelReason})
)

// Label names of the schedule metrics.
const (
	labelSchedule = "schedule"
	labelReason   = "reason"
)

// Results of ocb_schedule_runs_total.
const (
	runStarted = "started"
	runSkipped = "skipped"
	runMissed  = "missed"
)

// scheduleClock is what the schedule gauges read at scrape time: seconds since the last
// success must grow between reconciles, so it is computed when Prometheus asks.
type scheduleClock struct {
	mu   sync.Mutex
	now  func() time.Time
	rows map[[2]string]scheduleRow
}

type scheduleRow struct {
	// since is the last success, or the schedule's creation when it never succeeded (a
	// schedule that never succeeded is as stale as its age).
	since     time.Time
	succeeded bool
	interval  time.Duration
	suspended bool
	// verifyInterval is how far apart verified backups are due (0: the schedule's backups
	// get no drill); verifiedSince the last verified backup's drill, or the schedule's
	// creation when none has.
	verifyInterval time.Duration
	verifiedSince  time.Time
	verified       bool
}

var (
	sinceDesc = prometheus.NewDesc("ocb_schedule_seconds_since_last_success",
		"Seconds since the schedule's last successful backup completed (since its creation when none has). "+
			"Compare with ocb_schedule_interval_seconds to alert on stale backups.",
		[]string{labelNamespace, labelSchedule}, nil)
	lastSuccessDesc = prometheus.NewDesc("ocb_schedule_last_success_timestamp_seconds",
		"Unix time the schedule's last successful backup completed (absent until one has).",
		[]string{labelNamespace, labelSchedule}, nil)
	intervalDesc = prometheus.NewDesc("ocb_schedule_interval_seconds",
		"The schedule's interval: the time between its next two runs.",
		[]string{labelNamespace, labelSchedule}, nil)
	sinceVerifiedDesc = prometheus.NewDesc("ocb_schedule_seconds_since_last_verified",
		"Seconds since the restore drill of the schedule's newest verified backup completed (since the schedule's "+
			"creation when none has). Only for a schedule whose backups get restore drills.",
		[]string{labelNamespace, labelSchedule}, nil)
	verifyIntervalDesc = prometheus.NewDesc("ocb_schedule_verification_interval_seconds",
		"How far apart the schedule's verified backups are due: the longer of its interval and its "+
			"spec.verification.interval. Only for a schedule whose backups get restore drills.",
		[]string{labelNamespace, labelSchedule}, nil)
	suspendedDesc = prometheus.NewDesc("ocb_schedule_suspended",
		"1 when the schedule is suspended (spec.suspend), else 0.",
		[]string{labelNamespace, labelSchedule}, nil)
)

// schedules is the one clock the manager's registry reads.
var schedules = &scheduleClock{now: time.Now, rows: map[[2]string]scheduleRow{}}

func init() {
	metrics.Registry.MustRegister(scheduleRuns, scheduleFailures, backupFailures, schedules)
}

// set records a schedule's state for the gauges.
func (c *scheduleClock) set(namespace, name string, row scheduleRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows[[2]string{namespace, name}] = row
}

// forget drops a deleted schedule's series.
func (c *scheduleClock) forget(namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.rows, [2]string{namespace, name})
	scheduleFailures.DeleteLabelValues(namespace, name)
	scheduleRuns.DeletePartialMatch(prometheus.Labels{labelNamespace: namespace, labelSchedule: name})
}

// Describe implements prometheus.Collector.
func (c *scheduleClock) Describe(ch chan<- *prometheus.Desc) {
	ch <- sinceDesc
	ch <- lastSuccessDesc
	ch <- intervalDesc
	ch <- suspendedDesc
	ch <- sinceVerifiedDesc
	ch <- verifyIntervalDesc
}

// Collect implements prometheus.Collector.
func (c *scheduleClock) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for k, r := range c.rows {
		ch <- prometheus.MustNewConstMetric(sinceDesc, prometheus.GaugeValue, max(now.Sub(r.since).Seconds(), 0), k[0], k[1])
		if r.succeeded {
			ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(r.since.Unix()), k[0], k[1])
		}
		if r.interval > 0 {
			ch <- prometheus.MustNewConstMetric(intervalDesc, prometheus.GaugeValue, r.interval.Seconds(), k[0], k[1])
		}
		suspended := 0.0
		if r.suspended {
			suspended = 1
		}
		ch <- prometheus.MustNewConstMetric(suspendedDesc, prometheus.GaugeValue, suspended, k[0], k[1])
		if r.verifyInterval > 0 {
			ch <- prometheus.MustNewConstMetric(sinceVerifiedDesc, prometheus.GaugeValue,
				max(now.Sub(r.verifiedSince).Seconds(), 0), k[0], k[1])
			ch <- prometheus.MustNewConstMetric(verifyIntervalDesc, prometheus.GaugeValue, r.verifyInterval.Seconds(), k[0], k[1])
		}
	}
}
