package controllers

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

var (
	restoresTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ocb_restores_total",
		Help: "OvercloudRestores that ended, by result (succeeded, failed).",
	}, []string{"result"})
	restoreSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ocb_restore_duration_seconds",
		Help:    "Wall time of OvercloudRestores, from the restore Job's creation to its end.",
		Buckets: prometheus.ExponentialBuckets(10, 2, 12),
	})
)

func init() {
	metrics.Registry.MustRegister(restoresTotal, restoreSeconds)
}

// restoreResultOf is the agent's result from the newest pod of the Job that terminated
// with a message, in the API's words; ok is false when there is none. A message that is
// not the agent's JSON becomes the result's error. Pure.
func restoreResultOf(pods []corev1.Pod, job *batchv1.Job) (*backupv1alpha1.RestoreResult, bool) {
	t := newestTermination(pods, job)
	if t == nil {
		return nil, false
	}
	var res agent.RestoreResult
	if err := json.Unmarshal([]byte(t.Message), &res); err != nil {
		return &backupv1alpha1.RestoreResult{Error: fmt.Sprintf("exit code %d, output: %s", t.ExitCode,
			clip(strings.TrimSpace(t.Message), 900))}, true
	}
	out := &backupv1alpha1.RestoreResult{Tables: int64(res.Tables), Rows: res.Rows, Bytes: res.Bytes,
		Seconds: fmt.Sprintf("%.1f", res.Seconds), Error: clip(res.Error, 2048)}
	secs := res.Seconds
	for _, st := range res.Steps {
		// A WholeCluster restore's bytes are the copy's (physical) or the import's
		// (logical): its rate is that step's, not diluted by the waits for Pacemaker.
		if (st.Name == "copy-back" || st.Name == "import") && st.OK && st.End.After(st.Start) {
			secs = st.End.Sub(st.Start).Seconds()
		}
	}
	if secs > 0 {
		out.ThroughputMiB = fmt.Sprintf("%.1f", float64(res.Bytes)/(1<<20)/secs)
	}
	for i, st := range res.Steps {
		if i == 48 {
			break
		}
		run := backupv1alpha1.RestoreStepRun{Name: clip(st.Name, 63), Node: clip(st.Node, 63), Succeeded: st.OK,
			Error: clip(st.Error, 256)}
		if !st.Start.IsZero() {
			run.StartTime = &metav1.Time{Time: st.Start}
		}
		if !st.End.IsZero() {
			run.CompletionTime = &metav1.Time{Time: st.End}
		}
		out.Steps = append(out.Steps, run)
	}
	for i, p := range res.Proofs {
		if i == 16 {
			break
		}
		msg := fmt.Sprintf("%d tables, %d rows", p.Tables, p.Rows)
		switch {
		case p.Error != "":
			msg = "not proved: " + p.Error
		case !p.Equal:
			msg = fmt.Sprintf("%s; differing: %s", msg, strings.Join(p.Differences, "; "))
		}
		out.Proofs = append(out.Proofs, backupv1alpha1.RestoreProof{Node: clip(p.Node, 63), Equal: p.Equal, Message: clip(msg, 1024)})
	}
	return out, true
}

func allEqual(proofs []backupv1alpha1.RestoreProof) bool {
	for _, p := range proofs {
		if !p.Equal {
			return false
		}
	}
	return len(proofs) > 0
}

// provedNodes is "controller-0 equal, controller-1 differs, ...".
func provedNodes(proofs []backupv1alpha1.RestoreProof) string {
	parts := make([]string, len(proofs))
	for i, p := range proofs {
		parts[i] = p.Node + " differs"
		if p.Equal {
			parts[i] = p.Node + " equal"
		}
	}
	if len(parts) == 0 {
		return "no node proved"
	}
	return strings.Join(parts, ", ")
}

// databasesText names the databases of a plan for a message.
func databasesText(dbs []string) string {
	switch {
	case len(dbs) == 0:
		return "every database of the backup"
	case len(dbs) <= 5:
		return "database(s) " + strings.Join(dbs, ", ")
	}
	return fmt.Sprintf("databases %s and %d more", strings.Join(dbs[:5], ", "), len(dbs)-5)
}
