package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// maxBackupName is the longest OvercloudBackup name the CRD accepts.
const maxBackupName = 52

// scheduleCreateTimeout bounds the wait for the schedule controller to create the
// backup a run-now asks for.
const scheduleCreateTimeout = time.Minute

// requestPrefix starts every annotation value the plugin writes, so that a person
// reading the object sees who asked.
const requestPrefix = "kubectl-ocb-"

// requestValue is a fresh value for a request annotation (run-now, probe, verify): the
// time to the nanosecond, so two requests never share a value (each value is answered
// once).
func requestValue(now time.Time) string {
	return requestPrefix + now.UTC().Format(time.RFC3339Nano)
}

type backupFlags struct {
	schedule, pvc, subPath string
	wait                   bool
	timeout                time.Duration
}

func newBackupCommand(o *options) *cobra.Command {
	var f backupFlags
	cmd := &cobra.Command{
		Use:   "backup OVERCLOUD [--schedule NAME | --pvc CLAIM [--sub-path PATH]] [--wait [--timeout 30m]]",
		Short: "Take a backup of an Overcloud now",
		Long: `Take a backup of the Overcloud now.

When BackupSchedules back the Overcloud up, the backup is one of theirs (the one
--schedule names, or the only one): the plugin sets the schedule's
backup.overcloud.io/run-now annotation to a fresh value, and the schedule controller
creates the backup <schedule>-r<8 hex>, with the schedule's template, labels and history
limits. Without a schedule, the plugin creates an OvercloudBackup <overcloud>-r<8 hex>
itself, writing to the claim --pvc names (under --sub-path).

--wait follows the backup until it has succeeded or failed, printing each change of its
phase, node, attempt and message, then a summary with its restore drill's state. Exit
code 1 when it failed or did not finish within --timeout.`,
		Example: `  kubectl ocb backup overcloud -n openstack --wait
  kubectl ocb backup overcloud -n openstack --schedule nightly
  kubectl ocb backup overcloud -n openstack --pvc backups --sub-path adhoc --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			names := []string{args[0]}
			if f.schedule != "" {
				names = append(names, f.schedule)
			}
			if f.pvc != "" {
				names = append(names, f.pvc)
			}
			if f.schedule != "" && f.pvc != "" {
				return usagef("--schedule and --pvc exclude each other: a schedule's backups use its template's claim")
			}
			s, err := o.start(names...)
			if err != nil {
				return err
			}
			return s.backup(cmd.Context(), o, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.schedule, "schedule", "", "The BackupSchedule whose run-now takes the backup, when the Overcloud has several.")
	fl.StringVar(&f.pvc, "pvc", "", "Without a schedule: the PersistentVolumeClaim the backup writes to.")
	fl.StringVar(&f.subPath, "sub-path", "", "Without a schedule: the directory in the claim (spec.storage.subPath).")
	fl.BoolVar(&f.wait, "wait", false, "Follow the backup until it has succeeded or failed.")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Minute, "How long --wait follows the backup.")
	return cmd
}

func (s *session) backup(ctx context.Context, o *options, overcloud string, f backupFlags) error {
	oc := &backupv1alpha1.Overcloud{}
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: overcloud}, oc); err != nil {
		return fmt.Errorf("getting Overcloud %s/%s: %w", s.namespace, overcloud, err)
	}
	var list backupv1alpha1.BackupScheduleList
	if err := s.c.List(ctx, &list, client.InNamespace(s.namespace)); err != nil {
		return fmt.Errorf("listing BackupSchedules in %s: %w", s.namespace, err)
	}
	schedules := schedulesOf(list.Items, overcloud)
	value := requestValue(s.now())
	var name string
	if len(schedules) > 0 && f.pvc == "" {
		sched, err := chooseSchedule(schedules, overcloud, f.schedule)
		if err != nil {
			return err
		}
		name = sched.RunNowName(value)
		if err := s.annotate(ctx, sched, backupv1alpha1.AnnotationRunNow, value); err != nil {
			return fmt.Errorf("asking BackupSchedule %s for a backup now: %w", sched.Name, err)
		}
		// The schedule controller creates the backup: wait until it exists, so that what
		// is printed names a backup that is there.
		err = s.pollUntil(ctx, min(scheduleCreateTimeout, f.timeout), "BackupSchedule "+sched.Name+" to create backup "+name,
			func(ctx context.Context) (bool, error) {
				err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, &backupv1alpha1.OvercloudBackup{})
				return err == nil, client.IgnoreNotFound(err)
			})
		if err != nil {
			return err
		}
		if o.output == outputTable {
			fmt.Fprintf(o.out, "overcloudbackup.backup.overcloud.io/%s created (run-now of backupschedule %s)\n", name, sched.Name)
		}
	} else {
		if f.schedule != "" {
			return fmt.Errorf("no BackupSchedule of Overcloud %s is named %s", overcloud, f.schedule)
		}
		b, err := directBackup(s.namespace, overcloud, value, f.pvc, f.subPath)
		if err != nil {
			return err
		}
		if err := s.c.Create(ctx, b); err != nil {
			return fmt.Errorf("creating OvercloudBackup %s: %w", b.Name, err)
		}
		name = b.Name
		if o.output == outputTable {
			fmt.Fprintf(o.out, "overcloudbackup.backup.overcloud.io/%s created\n", name)
		}
	}
	if !f.wait {
		if o.output == outputTable {
			return nil
		}
		b := &backupv1alpha1.OvercloudBackup{}
		if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, b); err != nil {
			return fmt.Errorf("getting OvercloudBackup %s: %w", name, err)
		}
		return printObjects(o.out, o.output, s.c.Scheme(), false, b)
	}
	return s.followBackup(ctx, o, name, f.timeout)
}

// chooseSchedule is the schedule that takes the backup: the one named, or the only one.
func chooseSchedule(schedules []backupv1alpha1.BackupSchedule, overcloud, name string) (*backupv1alpha1.BackupSchedule, error) {
	names := make([]string, 0, len(schedules))
	for i := range schedules {
		if name != "" && schedules[i].Name == name {
			return &schedules[i], nil
		}
		names = append(names, schedules[i].Name)
	}
	switch {
	case name != "":
		return nil, fmt.Errorf("no BackupSchedule of Overcloud %s is named %s (its schedules: %s)",
			overcloud, name, strings.Join(names, ", "))
	case len(schedules) == 1:
		return &schedules[0], nil
	default:
		return nil, usagef("Overcloud %s has %d BackupSchedules (%s): name one with --schedule",
			overcloud, len(schedules), strings.Join(names, ", "))
	}
}

// directBackup is the backup taken now of an Overcloud without a schedule, named like a
// schedule's run-now child: <overcloud>-r<8 hex of the value's SHA-256>.
func directBackup(namespace, overcloud, value, claim, subPath string) (*backupv1alpha1.OvercloudBackup, error) {
	if claim == "" {
		return nil, usagef("Overcloud %s has no BackupSchedule: give the claim to write to with --pvc", overcloud)
	}
	name := overcloud + backupv1alpha1.RunNowSuffix(value)
	if len(name) > maxBackupName {
		return nil, fmt.Errorf("the backup's name %s would be longer than %d characters: give Overcloud %s a "+
			"BackupSchedule with a shorter name and use it", name, maxBackupName, overcloud)
	}
	if strings.Contains(subPath, "..") || strings.HasPrefix(subPath, "/") || len(subPath) > 253 {
		return nil, usagef("--sub-path %q: want a relative path without \"..\", at most 253 characters", clip(subPath, 64))
	}
	return &backupv1alpha1.OvercloudBackup{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: name,
			// The value asked for, as a schedule's run-now child records its schedule's.
			Annotations: map[string]string{backupv1alpha1.AnnotationRunNow: value},
		},
		Spec: backupv1alpha1.OvercloudBackupSpec{
			OvercloudRef: backupv1alpha1.OvercloudReference{Name: overcloud},
			Storage:      backupv1alpha1.StorageSpec{ClaimName: claim, SubPath: subPath},
		},
	}, nil
}

// annotate sets one annotation with a merge patch: only that key changes, whoever
// else writes the object.
func (s *session) annotate(ctx context.Context, obj client.Object, key, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if err != nil {
		return err
	}
	return s.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
}

// errFailed is a backup, drill or plan that failed: exit code 1, its reason printed.
var errFailed = errors.New("failed")

// followBackup prints the backup's progress until it has succeeded or failed, then its
// summary; an error when it failed or timed out.
func (s *session) followBackup(ctx context.Context, o *options, name string, timeout time.Duration) error {
	start := s.now()
	var last *backupv1alpha1.OvercloudBackup
	var lastLine string
	err := s.pollUntil(ctx, timeout, "backup "+name+" to finish", func(ctx context.Context) (bool, error) {
		b := &backupv1alpha1.OvercloudBackup{}
		if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, b); err != nil {
			if apierrors.IsNotFound(err) && last != nil {
				return false, fmt.Errorf("backup %s was deleted while it ran", name)
			}
			return false, fmt.Errorf("getting OvercloudBackup %s: %w", name, err)
		}
		last = b
		if line := progressLine(b); line != lastLine && o.output == outputTable {
			lastLine = line
			fmt.Fprintf(o.out, "%6s  %s\n", elapsed(s.now().Sub(start)), line)
		}
		return b.IsFinished(), nil
	})
	if err != nil {
		if last != nil && last.Status.Message != "" {
			return fmt.Errorf("%w (last message: %s)", err, clip(last.Status.Message, 256))
		}
		return err
	}
	if o.output != outputTable {
		if err := printObjects(o.out, o.output, s.c.Scheme(), false, last); err != nil {
			return err
		}
	} else if err := writeBackupSummary(o.out, last); err != nil {
		return err
	}
	if last.Status.Phase == backupv1alpha1.PhaseFailed {
		return fmt.Errorf("backup %s %w: %s", name, errFailed, clip(failureReason(last), 512))
	}
	return nil
}

// progressLine is the backup's state in one line: phase, node, attempt and message. The
// follower prints it each time it changes.
func progressLine(b *backupv1alpha1.OvercloudBackup) string {
	st := b.Status
	if st.Phase == "" && st.Message == "" {
		return "Created    waiting for the operator"
	}
	parts := []string{fmt.Sprintf("%-9s", cell(string(st.Phase), 16))}
	if st.SelectedNode != "" {
		parts = append(parts, "node "+clip(st.SelectedNode, 63))
	}
	if st.Attempts > 0 {
		parts = append(parts, fmt.Sprintf("attempt %d/%d", st.Attempts, b.MaxAttempts()))
	}
	line := strings.Join(parts, "  ")
	if st.Message != "" {
		line += "  " + clip(st.Message, 512)
	}
	return line
}

// writeBackupSummary prints a finished backup: where it came from, what it wrote, and
// its restore drill's state.
func writeBackupSummary(w io.Writer, b *backupv1alpha1.OvercloudBackup) error {
	st := b.Status
	took := "-"
	if st.Duration != nil {
		took = st.Duration.Round(time.Second).String()
	}
	fmt.Fprintf(w, "\nBackup:    %s/%s\nPhase:     %s (took %s)\n", b.Namespace, b.Name, st.Phase, took)
	if src := st.Source; src != nil {
		fmt.Fprintf(w, "From:      node %s of cluster %s\n", cell(src.Node, 63), cell(src.ClusterStateUUID, 64))
	}
	if a := st.Artifact; a != nil {
		fmt.Fprintf(w, "Artifact:  %d files, %s (%s, %s) in claim %s at %s\n", len(a.Files), sizeCell(b),
			cell(string(a.Method), 16), cell(string(a.Compression), 16), cell(a.ClaimName, 253), cell(a.Path, 512))
	}
	if st.Phase == backupv1alpha1.PhaseFailed {
		fmt.Fprintf(w, "Reason:    %s\n", clip(failureReason(b), 512))
	}
	verified := verifiedCell(b)
	if c := meta.FindStatusCondition(st.Conditions, backupv1alpha1.ConditionVerified); c != nil {
		verified += " (" + clip(c.Reason, 64) + ": " + clip(c.Message, 256) + ")"
	}
	if verifiedCell(b) == "pending" {
		verified += "; `kubectl ocb status " + b.Spec.OvercloudRef.Name + "` shows its drill's outcome"
	}
	_, err := fmt.Fprintf(w, "Verified:  %s\n", verified)
	return err
}

// failureReason is why the backup failed: its Failed condition's message, else its
// status message.
func failureReason(b *backupv1alpha1.OvercloudBackup) string {
	if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionFailed); c != nil && c.Message != "" {
		return c.Message
	}
	return b.Status.Message
}

// elapsed is a duration since the start, in whole seconds.
func elapsed(d time.Duration) string {
	return d.Round(time.Second).String()
}
