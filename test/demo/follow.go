package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// agentContainer is the container of a backup Job's pod (controllers.BuildJob).
const agentContainer = "agent"

// follower prints a backup as a user watching it would see it: each new status.message
// and set of conditions, the node table once the controller has probed, and the agent's
// log (its JSON progress lines) once its pod runs.
type follower struct {
	e       *env
	created time.Time
	// lastMessage, lastConditions and lastNodes are what was printed last.
	lastMessage, lastConditions, lastNodes string
	// logs receives the agent's log lines; nil until the pod runs, closed at its end.
	logs    chan string
	logging bool
	// brief: only the conditions and the messages.
	brief bool
}

// createAndFollow creates the backup and prints what happens until it has succeeded or
// failed (at most timeout). It returns the backup as it ended, and when it was created.
func (e *env) createAndFollow(ctx context.Context, b *backupv1alpha1.OvercloudBackup, timeout time.Duration) (
	*backupv1alpha1.OvercloudBackup, time.Time, error) {
	return e.follow(ctx, b, timeout, false, func(ctx context.Context) error {
		if err := e.c.Create(ctx, b); err != nil {
			return fmt.Errorf("creating the backup: %w", err)
		}
		fmt.Printf("   ocb/%s created\n", b.Name)
		return nil
	})
}

// follow watches the backup named like b, calls start (which creates it, or has a
// controller create it), and prints what happens until it has succeeded or failed (at
// most timeout); brief leaves out the node table and the agent's log. It returns the
// backup as it ended, and when start was called.
func (e *env) follow(ctx context.Context, b *backupv1alpha1.OvercloudBackup, timeout time.Duration, brief bool,
	start func(context.Context) error) (*backupv1alpha1.OvercloudBackup, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	watchBackup := func() (watch.Interface, error) {
		return e.w.Watch(ctx, &backupv1alpha1.OvercloudBackupList{}, client.InNamespace(b.Namespace),
			client.MatchingFields{"metadata.name": b.Name})
	}
	watchPods := func() (watch.Interface, error) {
		return e.cs.CoreV1().Pods(b.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: backupv1alpha1.LabelBackup + "=" + b.Name})
	}
	bw, err := watchBackup()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("watching the backup: %w", err)
	}
	defer func() { bw.Stop() }()
	pw, err := watchPods()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("watching the backup's pods: %w", err)
	}
	defer func() { pw.Stop() }()

	f := &follower{e: e, created: time.Now(), brief: brief}
	if err := start(ctx); err != nil {
		return nil, f.created, err
	}
	last := b
	for {
		select {
		case ev, ok := <-bw.ResultChan():
			if !ok { // the API server ends watches now and then: open it again
				if bw, err = watchBackup(); err != nil {
					return last, f.created, fmt.Errorf("watching the backup: %w", err)
				}
				continue
			}
			got, isBackup := ev.Object.(*backupv1alpha1.OvercloudBackup)
			if !isBackup || ev.Type == watch.Deleted {
				continue
			}
			last = got
			f.backup(got)
			if err := stuck(got); err != nil {
				return last, f.created, err
			}
			if got.IsFinished() {
				f.drainLogs(15 * time.Second)
				return got, f.created, nil
			}
		case ev, ok := <-pw.ResultChan():
			if !ok {
				if pw, err = watchPods(); err != nil {
					return last, f.created, fmt.Errorf("watching the backup's pods: %w", err)
				}
				continue
			}
			if pod, isPod := ev.Object.(*corev1.Pod); isPod {
				f.pod(ctx, pod)
			}
		case line, ok := <-f.logs:
			if !ok {
				f.logs = nil // the log ended: a nil channel is never selected
				continue
			}
			f.printLog(line)
		case <-ctx.Done():
			return last, f.created, fmt.Errorf("the backup has not finished %v after its creation: %s", timeout, last.Status.Message)
		}
	}
}

// stuck says why the backup waits for something the demo will not do: a change of its
// Secrets, after the controller found it cannot use them.
func stuck(b *backupv1alpha1.OvercloudBackup) error {
	c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionReferencesResolved)
	if c != nil && c.Status == metav1.ConditionFalse && c.Reason == backupv1alpha1.ReasonInvalidSpec {
		return fmt.Errorf("the controller cannot use the backup's Secrets: %s", c.Message)
	}
	return nil
}

// since is the time since the creation, as printed before each line.
func (f *follower) since() string {
	return fmt.Sprintf("+%5.1fs", time.Since(f.created).Seconds())
}

// backup prints what changed in the backup's status.
func (f *follower) backup(b *backupv1alpha1.OvercloudBackup) {
	st := b.Status
	if conds := conditionsLine(st.Conditions); conds != "" && conds != f.lastConditions {
		f.lastConditions = conds
		fmt.Printf("   %s  %-9s conditions: %s\n", f.since(), st.Phase, conds)
	}
	if st.Message != "" && st.Message != f.lastMessage {
		f.lastMessage = st.Message
		fmt.Printf("   %s  %-9s %s\n", f.since(), st.Phase, st.Message)
	}
	nodes, err := json.Marshal([]any{st.Nodes, st.ActiveNode, st.VIPNode, st.SelectedNode})
	if err == nil && !f.brief && len(st.Nodes) > 0 && string(nodes) != f.lastNodes {
		f.lastNodes = string(nodes)
		printNodeTable(b)
	}
}

// conditionsLine is the conditions in one line: Type=Status (Reason when not the type).
func conditionsLine(conds []metav1.Condition) string {
	parts := make([]string, 0, len(conds))
	for _, c := range conds {
		p := c.Type + "=" + string(c.Status)
		if c.Reason != c.Type {
			p += "/" + c.Reason
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

// printNodeTable prints status.nodes the way `overcloud-backup-operator probe` prints a
// probe: one row per node with the reason it was or was not chosen.
func printNodeTable(b *backupv1alpha1.OvercloudBackup) {
	r := probe.Report{
		Overcloud: b.Spec.OvercloudRef.Name, Nodes: b.Status.Nodes,
		ActiveNode: b.Status.ActiveNode, VIPNode: b.Status.VIPNode, SelectedNode: b.Status.SelectedNode,
	}
	if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionNodeSelected); c != nil {
		r.Reason = c.Message
	}
	var out strings.Builder
	if err := r.WriteTable(&out); err != nil {
		return
	}
	fmt.Println("\n   The node table (status.nodes) of the controller's probe:")
	for line := range strings.Lines(out.String()) {
		fmt.Print("     " + line)
	}
	fmt.Println()
}

// pod starts following the agent's log once its pod has started.
func (f *follower) pod(ctx context.Context, p *corev1.Pod) {
	if f.brief || f.logging || p.Status.Phase == corev1.PodPending || p.Status.Phase == "" {
		return
	}
	f.logging = true
	fmt.Printf("   %s  pod/%s %s on %s; its log (`kubectl logs -f job/%s`):\n", f.since(), p.Name, p.Status.Phase,
		p.Spec.NodeName, p.Labels[batchJobNameLabel])
	f.logs = make(chan string, 64)
	go streamLog(ctx, f.e, p, f.logs)
}

// batchJobNameLabel is the label the Job controller sets on its pods.
const batchJobNameLabel = "batch.kubernetes.io/job-name"

// streamLog sends the agent container's log lines to out, following it until it ends.
func streamLog(ctx context.Context, e *env, p *corev1.Pod, out chan<- string) {
	defer close(out)
	rc, err := e.cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: agentContainer, Follow: true}).Stream(ctx)
	if err != nil {
		out <- "(the log could not be read: " + err.Error() + ")"
		return
	}
	defer func() { _ = rc.Close() }()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out <- sc.Text()
	}
}

// printLog prints one line of the agent's log.
func (f *follower) printLog(line string) {
	fmt.Printf("   %s  agent | %s\n", f.since(), line)
}

// drainLogs prints what is left of the agent's log, waiting at most timeout for its end.
func (f *follower) drainLogs(timeout time.Duration) {
	if f.logs == nil {
		return
	}
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-f.logs:
			if !ok {
				f.logs = nil
				return
			}
			f.printLog(line)
		case <-deadline:
			return
		}
	}
}

// waitProbed waits (at most timeout) for the Overcloud's first probe since its spec was
// applied, and returns it.
func (e *env) waitProbed(ctx context.Context, o *backupv1alpha1.Overcloud, timeout time.Duration) (*backupv1alpha1.Overcloud, error) {
	got := &backupv1alpha1.Overcloud{}
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(o), got); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return got.Status.LastProbeTime != nil && got.Status.ObservedGeneration == got.Generation, nil
	})
	if err != nil {
		return got, fmt.Errorf("overcloud %s not probed within %s (conditions: %s): %w",
			o.Name, timeout, conditionsLine(got.Status.Conditions), err)
	}
	fmt.Printf("   First probe %.1fs after the apply, taking %s: %s\n", time.Since(start).Seconds(),
		got.Status.LastProbeDuration.Duration, conditionsLine(got.Status.Conditions))
	return got, nil
}

// printOvercloudTable prints the Overcloud's node table as `probe` prints a probe.
func printOvercloudTable(o *backupv1alpha1.Overcloud) {
	st := o.Status
	r := probe.Report{
		Overcloud: o.Name, Nodes: st.Nodes, ActiveNode: st.ActiveNode, ActiveSource: st.ActiveSource, VIPNode: st.VIPNode,
		SelectedNode: st.BackupFrom, Reason: st.Reason, Pacemaker: st.Pacemaker, HAProxy: st.HAProxy,
		ClusterStateUUID: st.ClusterStateUUID, ClusterSize: st.ClusterSize,
	}
	var out strings.Builder
	if err := r.WriteTable(&out); err != nil {
		return
	}
	fmt.Println("\n   The Overcloud's node table (status.nodes), before any backup:")
	for line := range strings.Lines(out.String()) {
		fmt.Print("     " + line)
	}
}
