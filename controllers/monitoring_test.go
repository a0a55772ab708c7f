package controllers

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// The alerts (config/prometheus/alerts.yaml) and the dashboard
// (config/prometheus/grafana-dashboard.json) name metrics by string: a renamed or never
// exported metric leaves an alert that cannot fire and an empty panel, and nothing else
// notices. TestMonitoringNamesExportedMetrics runs the controllers with the metrics
// server on, drives real flows against the local overcloud until every series they name
// exists, scrapes /metrics as Prometheus would, and fails on each name it lacks.

var (
	monitoringRuleFile      = filepath.Join("..", "config", "prometheus", "alerts.yaml")
	monitoringDashboardFile = filepath.Join("..", "config", "prometheus", "grafana-dashboard.json")
)

// monitoringAlerts are the alerts docs/monitoring.md documents; the rule file must keep them.
var monitoringAlerts = []string{
	"OvercloudBackupStale", "OvercloudBackupFailed", "OvercloudBackupDesyncLeftOn",
	"OvercloudBackupNoIdleNode", "OvercloudBackupScheduleFailing", "OvercloudBackupUnverified",
	"OvercloudNodeNotSynced", "OvercloudNoBackupNode", "OvercloudProbeFailing",
}

func TestMonitoringNamesExportedMetrics(t *testing.T) {
	// The files first: one that does not parse fails here, before any cluster work.
	refs := map[string][]string{} // metric name -> where it is used
	for name, where := range monitoringRuleNames(t, monitoringRuleFile) {
		refs[name] = append(refs[name], where...)
	}
	for name, where := range monitoringDashboardNames(t, monitoringDashboardFile) {
		refs[name] = append(refs[name], where...)
	}
	t.Logf("the alerts and the dashboard name %d ocb_* metrics", len(refs))

	sb := lockedSandbox(t)
	c := newClient(t)
	ns := newNamespace(t, c)
	ready(t, c, sb, ns)
	addr := monitoringFreeAddr(t)
	startMonitoredManager(t, ns, addr)
	ctx := context.Background()

	// 1. A backup that succeeds (backups_total, duration, size, last success, probes,
	// node selections), then is deleted with deletionPolicy Delete and its cleanup Job
	// succeeds (cleanups_total).
	kept := newBackup(sb, ns, "mon-ok")
	kept.Spec.DeletionPolicy = backupv1alpha1.DeletionDelete
	create(t, c, kept)
	key := client.ObjectKeyFromObject(kept)
	got := waitBackup(t, c, key, "running attempt 1", running(1))
	finishJob(t, c, getJob(t, c, ns, got.JobName(1)), okResult(got, got.Status.SelectedNode), true)
	got = waitBackup(t, c, key, "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))
	if err := c.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	cleanup := waitJob(t, c, ns, got.CleanupJobName())
	removed, err := json.Marshal(agent.RemoveResult{Removed: []string{ns + "/" + got.Name}, Bytes: okResult(got, "").TotalBytes})
	if err != nil {
		t.Fatal(err)
	}
	msg := string(removed)
	finishJobMessage(t, c, cleanup, &msg, true)
	waitGone(t, c, got)

	// 2. A backup whose only attempt fails without a result (backup_failures_total
	// AttemptsExhausted; desync_left_on set, then the controller's check:
	// desync_repairs_total verified).
	lost := newBackup(sb, ns, "mon-fail")
	lost.Spec.Job = &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(1))}
	create(t, c, lost)
	key = client.ObjectKeyFromObject(lost)
	got = waitBackup(t, c, key, "running attempt 1", running(1))
	finishJob(t, c, getJob(t, c, ns, got.JobName(1)), nil, false)
	waitBackup(t, c, key, "Failed", hasCondition(backupv1alpha1.ConditionFailed, metav1.ConditionTrue, backupv1alpha1.ReasonAttemptsExhausted))
	waitBackup(t, c, key, "desync checked", hasCondition(backupv1alpha1.ConditionDesyncCleared, metav1.ConditionTrue, ""))

	// 3. A schedule asked for a run now, whose backup succeeds (schedule_runs_total
	// started, the schedule gauges, last success), with restore drills (the
	// verification gauges).
	tmpl := newBackup(sb, ns, "unused").Spec
	tmpl.Verification = nil
	s := &backupv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: "mon-nightly",
			Annotations: map[string]string{backupv1alpha1.AnnotationRunNow: "1"},
		},
		Spec: backupv1alpha1.BackupScheduleSpec{
			Schedule:       "0 3 * * *",
			BackupTemplate: backupv1alpha1.BackupTemplate{Spec: tmpl},
		},
	}
	create(t, c, s)
	child := monitoringWaitScheduleChild(t, c, s)
	key = client.ObjectKeyFromObject(child)
	got = waitBackup(t, c, key, "running attempt 1", running(1))
	finishJob(t, c, getJob(t, c, ns, got.JobName(1)), okResult(got, got.Status.SelectedNode), true)
	waitBackup(t, c, key, "Complete", hasCondition(backupv1alpha1.ConditionComplete, metav1.ConditionTrue, backupv1alpha1.ReasonSucceeded))

	// 4. An Overcloud watched every 2 s (the ocb_overcloud_* series of its probes).
	create(t, c, newOvercloud(sb, ns, "mon-watched", 2*time.Second))

	// The metrics are updated right after each status patch: scrape until every name is
	// there, or the wait ends.
	var fams map[string]string
	var missing []string
	deadline := time.Now().Add(waitTimeout)
	for {
		fams = scrapeMetricFamilies(t, addr)
		missing = monitoringMissing(refs, fams)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > 0 {
		var b strings.Builder
		for _, name := range missing {
			fmt.Fprintf(&b, "\n  %s, used by %s", name, strings.Join(slices.Compact(slices.Sorted(slices.Values(refs[name]))), "; "))
		}
		if sched := monitoringScheduleNames(missing); len(sched) > 0 {
			fmt.Fprintf(&b, "\nthe schedule metrics %v are exported by the BackupSchedule controller "+
				"(controllers/backupschedule_controller.go); it ran here with schedule %s/%s", sched, ns, s.Name)
		}
		t.Fatalf("%d metric(s) named by the alerts or the dashboard are not in the manager's /metrics "+
			"after driving a success, a failure, a cleanup and a scheduled run:%s", len(missing), b.String())
	}
	var unused []string
	for fam := range fams {
		if _, ok := refs[fam]; strings.HasPrefix(fam, "ocb_") && !ok && !monitoringReferencedAsSeries(refs, fam) {
			unused = append(unused, fam)
		}
	}
	sort.Strings(unused)
	t.Logf("every name is exported; ocb_* families that neither the alerts nor the dashboard use: %v", unused)
}

// monitoringRuleFileShape is what the test reads of the PrometheusRule.
type monitoringRuleFileShape struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Record      string            `json:"record"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// monitoringRuleNames parses the PrometheusRule, checks each alert's shape, and returns
// the ocb_* names of its expressions.
func monitoringRuleNames(t *testing.T, path string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(path) //nolint:gosec // G304: our own config/prometheus file
	if err != nil {
		t.Fatalf("reading the alerts: %v", err)
	}
	var pr monitoringRuleFileShape
	if err := yaml.Unmarshal(raw, &pr); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Fatalf("%s is a %s %s, want a monitoring.coreos.com/v1 PrometheusRule", path, pr.APIVersion, pr.Kind)
	}
	names := map[string][]string{}
	seen := map[string]bool{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			id := cmp.Or(r.Alert, r.Record)
			if id == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: group %s has a rule without a name or an expression", path, g.Name)
				continue
			}
			seen[id] = true
			if r.Alert != "" {
				if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("alert %s: want a severity label and summary and description annotations, have %v %v",
						r.Alert, r.Labels, slices.Sorted(maps.Keys(r.Annotations)))
				}
				if r.For != "" {
					if _, err := time.ParseDuration(r.For); err != nil {
						t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
					}
				}
			}
			found := monitoringMetricNames(r.Expr)
			if len(found) == 0 && r.Alert != "OvercloudBackupOperatorDown" {
				t.Errorf("alert %s names no ocb_* metric: %q", id, r.Expr)
			}
			for _, n := range found {
				names[n] = append(names[n], "alert "+id)
			}
		}
	}
	for _, a := range monitoringAlerts {
		if !seen[a] {
			t.Errorf("%s has no alert %s", path, a)
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s: no ocb_* metric in any expression", path)
	}
	return names
}

// monitoringDashboard is what the test reads of the Grafana dashboard.
type monitoringDashboard struct {
	Title         string            `json:"title"`
	UID           string            `json:"uid"`
	SchemaVersion int               `json:"schemaVersion"`
	Panels        []monitoringPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type monitoringPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos *struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []monitoringPanel `json:"panels"`
}

// monitoringDashboardNames parses the dashboard, checks what Grafana needs of each panel,
// and returns the ocb_* names of the panels' targets and of the template variables.
func monitoringDashboardNames(t *testing.T, path string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(path) //nolint:gosec // G304: our own config/prometheus file
	if err != nil {
		t.Fatalf("reading the dashboard: %v", err)
	}
	var d monitoringDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 || len(d.Panels) == 0 {
		t.Fatalf("%s: title %q, uid %q, schemaVersion %d, %d panels: not a dashboard Grafana imports",
			path, d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	names := map[string][]string{}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		q := string(v.Query)
		var s string
		if json.Unmarshal(v.Query, &s) == nil {
			q = s
		} else {
			var o struct {
				Query string `json:"query"`
			}
			if json.Unmarshal(v.Query, &o) == nil {
				q = o.Query
			}
		}
		for _, n := range monitoringMetricNames(q) {
			names[n] = append(names[n], "dashboard variable $"+v.Name)
		}
	}
	for _, v := range []string{"datasource", "namespace", "overcloud"} {
		if !vars[v] {
			t.Errorf("%s: no template variable $%s", path, v)
		}
	}
	ids := map[int]bool{}
	var walk func([]monitoringPanel)
	walk = func(ps []monitoringPanel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d is used twice", path, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: panel %q has no usable gridPos", path, p.Title)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no target", path, p.Title)
			}
			for _, tg := range p.Targets {
				found := monitoringMetricNames(tg.Expr)
				if len(found) == 0 {
					t.Errorf("%s: panel %q target %s names no ocb_* metric: %q", path, p.Title, tg.RefID, tg.Expr)
				}
				for _, n := range found {
					names[n] = append(names[n], fmt.Sprintf("panel %q", p.Title))
				}
			}
		}
	}
	walk(d.Panels)
	return names
}

var monitoringNameRE = regexp.MustCompile(`\bocb_[a-zA-Z0-9_:]*`)

// monitoringMetricNames are the distinct ocb_* names in a PromQL expression.
func monitoringMetricNames(expr string) []string {
	return slices.Compact(slices.Sorted(slices.Values(monitoringNameRE.FindAllString(expr, -1))))
}

// monitoringMissing lists the referenced names the scrape lacks. A histogram's or
// summary's _bucket, _sum and _count series belong to its family.
func monitoringMissing(refs map[string][]string, fams map[string]string) []string {
	var missing []string
	for name := range refs {
		if _, ok := fams[name]; ok {
			continue
		}
		if monitoringSeriesOfFamily(name, fams) {
			continue
		}
		missing = append(missing, name)
	}
	sort.Strings(missing)
	return missing
}

func monitoringSeriesOfFamily(name string, fams map[string]string) bool {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if typ := fams[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
			return true
		}
	}
	return false
}

// monitoringReferencedAsSeries: a histogram family used only through its _bucket, _sum
// or _count series.
func monitoringReferencedAsSeries(refs map[string][]string, fam string) bool {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if _, ok := refs[fam+suffix]; ok {
			return true
		}
	}
	return false
}

func monitoringScheduleNames(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "ocb_schedule_") {
			out = append(out, n)
		}
	}
	return out
}

// scrapeMetricFamilies GETs /metrics in the Prometheus text format and returns the
// families that have at least one sample, with their TYPE.
func scrapeMetricFamilies(t *testing.T, addr string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		t.Fatalf("scraping %s: %s: %s", addr, resp.Status, body)
	}
	fams, err := parseMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("reading the scrape of %s: %v", addr, err)
	}
	return fams
}

// parseMetricFamilies reads the text exposition format: "# TYPE name type" lines give
// the families, sample lines ("name{labels} value" or "name value") show which have
// series.
func parseMetricFamilies(r io.Reader) (map[string]string, error) {
	types := map[string]string{}
	samples := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				return nil, fmt.Errorf("bad TYPE line %q", line)
			}
			types[f[0]] = f[1]
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			return nil, fmt.Errorf("bad sample line %q", line)
		}
		samples[line[:end]] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	fams := map[string]string{}
	for name, typ := range types {
		has := samples[name]
		if typ == "histogram" || typ == "summary" {
			has = has || samples[name+"_count"]
		}
		if has {
			fams[name] = typ
		}
	}
	return fams, nil
}

// monitoringFreeAddr is a free 127.0.0.1 port for the metrics server (free when asked:
// the listener is closed before the manager binds it).
func monitoringFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startMonitoredManager is startManager with the metrics server on addr (plain HTTP, no
// authentication: the test is the only client) and the BackupSchedule controller too,
// as cmd/manager.go runs them. It returns once /metrics answers.
func startMonitoredManager(t *testing.T, namespace, addr string) {
	t.Helper()
	runManager(t, namespace, managerOptions{backups: true, schedules: true, overclouds: true, metricsAddr: addr})
	ctx := context.Background()

	deadline := time.Now().Add(waitTimeout)
	for {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics server is not listening on %s after %v: %v", addr, waitTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// monitoringWaitScheduleChild waits for the backup the schedule created and returns it.
func monitoringWaitScheduleChild(t *testing.T, c client.Client, s *backupv1alpha1.BackupSchedule) *backupv1alpha1.OvercloudBackup {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		list := &backupv1alpha1.OvercloudBackupList{}
		if err := c.List(context.Background(), list, client.InNamespace(s.Namespace),
			client.MatchingLabels{backupv1alpha1.LabelSchedule: s.Name}); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			return &list.Items[0]
		}
		if time.Now().After(deadline) {
			got := &backupv1alpha1.BackupSchedule{}
			_ = c.Get(context.Background(), client.ObjectKeyFromObject(s), got)
			st, _ := json.MarshalIndent(got.Status, "", "  ")
			t.Fatalf("schedule %s created no backup for run-now within %v; status:\n%s", s.Name, waitTimeout, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
