package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/units"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// statusBackups is how many of an Overcloud's backups `status NAME` shows, newest first.
const statusBackups = 5

func newStatusCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "status [OVERCLOUD]",
		Short: "Show the Overclouds of the namespace, or one: its nodes, last backups and schedules",
		Long: `Without a name: one line per Overcloud of the namespace (ready, active node, VIP
holder, synced nodes, last backup, last verified backup).

With a name: the Overcloud's conditions and last probe, its node table (status.nodes, as
the operator's last probe saw it) and the node a backup would use now, its last 5
backups (verified: yes, no, pending, or - when no drill proves it) and its schedules.

-o json|yaml prints the objects instead: with a name, a v1 List of the Overcloud, then
its backups (newest first, all of them), then its schedules; without, a List of the
Overclouds.`,
		Example: `  kubectl ocb status -n openstack
  kubectl ocb status overcloud -n openstack
  kubectl ocb status overcloud -n openstack -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.start(args...)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return s.statusAll(cmd.Context(), o)
			}
			return s.statusOne(cmd.Context(), o, args[0])
		},
	}
}

func (s *session) statusAll(ctx context.Context, o *options) error {
	var list backupv1alpha1.OvercloudList
	if err := s.c.List(ctx, &list, client.InNamespace(s.namespace)); err != nil {
		return fmt.Errorf("listing Overclouds in %s: %w", s.namespace, err)
	}
	if o.output != outputTable {
		objs := make([]client.Object, 0, len(list.Items))
		for i := range list.Items {
			objs = append(objs, &list.Items[i])
		}
		return printObjects(o.out, o.output, s.c.Scheme(), true, objs...)
	}
	if len(list.Items) == 0 {
		_, err := fmt.Fprintf(o.out, "No Overclouds found in %s namespace.\n", s.namespace)
		return err
	}
	return writeOvercloudList(o.out, list.Items, s.now())
}

// overcloudView is an Overcloud with its backups (newest first) and schedules.
type overcloudView struct {
	oc        *backupv1alpha1.Overcloud
	backups   []backupv1alpha1.OvercloudBackup
	schedules []backupv1alpha1.BackupSchedule
}

// view reads the Overcloud, its backups and its schedules.
func (s *session) view(ctx context.Context, name string) (*overcloudView, error) {
	oc := &backupv1alpha1.Overcloud{}
	if err := s.c.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, oc); err != nil {
		return nil, fmt.Errorf("getting Overcloud %s/%s: %w", s.namespace, name, err)
	}
	var backups backupv1alpha1.OvercloudBackupList
	if err := s.c.List(ctx, &backups, client.InNamespace(s.namespace)); err != nil {
		return nil, fmt.Errorf("listing OvercloudBackups in %s: %w", s.namespace, err)
	}
	var schedules backupv1alpha1.BackupScheduleList
	if err := s.c.List(ctx, &schedules, client.InNamespace(s.namespace)); err != nil {
		return nil, fmt.Errorf("listing BackupSchedules in %s: %w", s.namespace, err)
	}
	return &overcloudView{
		oc: oc, backups: backupsOf(backups.Items, name), schedules: schedulesOf(schedules.Items, name),
	}, nil
}

func (s *session) statusOne(ctx context.Context, o *options, name string) error {
	v, err := s.view(ctx, name)
	if err != nil {
		return err
	}
	return s.printView(o, v)
}

// printView prints the view as -o asks.
func (s *session) printView(o *options, v *overcloudView) error {
	if o.output != outputTable {
		objs := make([]client.Object, 0, 1+len(v.backups)+len(v.schedules))
		objs = append(objs, v.oc)
		for i := range v.backups {
			objs = append(objs, &v.backups[i])
		}
		for i := range v.schedules {
			objs = append(objs, &v.schedules[i])
		}
		// Always a List here, even with no backups: the shape does not depend on them.
		return printObjects(o.out, o.output, s.c.Scheme(), true, objs...)
	}
	return writeOvercloudStatus(o.out, v, s.now())
}

// backupsOf is the backups of the Overcloud, newest first (then by name).
func backupsOf(all []backupv1alpha1.OvercloudBackup, overcloud string) []backupv1alpha1.OvercloudBackup {
	var out []backupv1alpha1.OvercloudBackup
	for _, b := range all {
		if b.Spec.OvercloudRef.Name == overcloud {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b backupv1alpha1.OvercloudBackup) int {
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// schedulesOf is the schedules whose backups name the Overcloud, by name.
func schedulesOf(all []backupv1alpha1.BackupSchedule, overcloud string) []backupv1alpha1.BackupSchedule {
	var out []backupv1alpha1.BackupSchedule
	for _, s := range all {
		if s.Spec.BackupTemplate.Spec.OvercloudRef.Name == overcloud {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b backupv1alpha1.BackupSchedule) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// writeOvercloudList prints one line per Overcloud.
func writeOvercloudList(w io.Writer, ocs []backupv1alpha1.Overcloud, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREADY\tACTIVE\tVIP\tSYNCED\tLAST BACKUP\tLAST VERIFIED\tAGE")
	for _, oc := range ocs {
		st := oc.Status
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", oc.Name, conditionStatus(st.Conditions, backupv1alpha1.ConditionReady),
			cell(st.ActiveNode, 63), cell(st.VIPNode, 63), cell(st.Synced, 32),
			recordCell(st.LastBackup, now), recordCell(st.LastVerifiedBackup, now), age(oc.CreationTimestamp, now))
	}
	return tw.Flush()
}

// writeOvercloudStatus prints one Overcloud for a person, in one screen: its conditions
// and last probe, the node table and decision (as the probe command prints them), its
// last backups and its schedules.
func writeOvercloudStatus(w io.Writer, v *overcloudView, now time.Time) error {
	oc, st := v.oc, v.oc.Status
	fmt.Fprintf(w, "Overcloud:     %s/%s\n", oc.Namespace, oc.Name)
	for _, t := range []string{backupv1alpha1.ConditionReady, backupv1alpha1.ConditionDegraded} {
		fmt.Fprintf(w, "%-14s %s\n", t+":", conditionLine(st.Conditions, t))
	}
	synced := cell(st.Synced, 32)
	if st.ClusterSize > 0 {
		synced += fmt.Sprintf(" (cluster size %d)", st.ClusterSize)
	}
	fmt.Fprintf(w, "Synced:        %s\n", synced)
	probed := "never"
	if st.LastProbeTime != nil {
		probed = fmt.Sprintf("%s (%s ago", st.LastProbeTime.UTC().Format(time.RFC3339), age(*st.LastProbeTime, now))
		if st.LastProbeDuration != nil {
			probed += ", took " + st.LastProbeDuration.Round(time.Millisecond).String()
		}
		probed += ")"
	}
	fmt.Fprintf(w, "Last probe:    %s\n\n", probed)

	if len(st.Nodes) == 0 {
		fmt.Fprintln(w, "No node table: no probe of this overcloud in status (Ready says why; kubectl ocb probe asks for one).")
	} else if err := nodeReport(oc).WriteTable(w); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nBackups (%s):\n", countOf(len(v.backups), statusBackups))
	if len(v.backups) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPHASE\tMETHOD\tSIZE\tVERIFIED\tAGE")
		for _, b := range v.backups[:min(len(v.backups), statusBackups)] {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, cell(string(b.Status.Phase), 16), method(&b),
				sizeCell(&b), verifiedCell(&b), age(b.CreationTimestamp, now))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nSchedules:")
	if len(v.schedules) == 0 {
		_, err := fmt.Fprintln(w, "  none")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tSUSPENDED\tNEXT RUN\tLAST SUCCESSFUL")
	for _, s := range v.schedules {
		next := "-"
		if t := s.Status.NextScheduleTime; t != nil && !s.IsSuspended() {
			next = t.UTC().Format(time.RFC3339)
			if t.After(now) {
				next += " (in " + duration.HumanDuration(t.Sub(now)) + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, cell(s.Spec.Schedule, 64), yesNo(s.IsSuspended()), next,
			cell(s.Status.LastSuccessfulBackup, 63))
	}
	return tw.Flush()
}

// nodeReport is the Overcloud's last probe as the probe command's report: the same
// node table and decision lines.
func nodeReport(oc *backupv1alpha1.Overcloud) probe.Report {
	st := oc.Status
	return probe.Report{
		Overcloud: oc.Name, Nodes: st.Nodes, ActiveNode: st.ActiveNode, ActiveSource: st.ActiveSource,
		VIPNode: st.VIPNode, SelectedNode: st.BackupFrom, Reason: clip(st.Reason, 1024),
		Pacemaker: clip(st.Pacemaker, 256), HAProxy: clip(st.HAProxy, 256),
		ClusterStateUUID: st.ClusterStateUUID, ClusterSize: st.ClusterSize,
	}
}

// countOf says how many of how many are shown.
func countOf(n, limit int) string {
	switch {
	case n <= limit:
		return fmt.Sprintf("%d", n)
	default:
		return fmt.Sprintf("last %d of %d", limit, n)
	}
}

// conditionStatus is the condition's status, or Unknown when absent.
func conditionStatus(conds []metav1.Condition, t string) string {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return string(c.Status)
	}
	return string(metav1.ConditionUnknown)
}

// conditionLine is "Status (Reason): message", or "-" when the condition is absent.
func conditionLine(conds []metav1.Condition, t string) string {
	c := meta.FindStatusCondition(conds, t)
	if c == nil {
		return "-"
	}
	s := string(c.Status) + " (" + clip(c.Reason, 64) + ")"
	if c.Message != "" {
		s += ": " + clip(c.Message, 512)
	}
	return s
}

// recordCell is a backup record in a cell: its name, phase and age.
func recordCell(r *backupv1alpha1.BackupRecord, now time.Time) string {
	if r == nil {
		return "-"
	}
	s := clip(r.Name, 63)
	var more []string
	if r.Phase != "" {
		more = append(more, clip(string(r.Phase), 16))
	}
	if r.Time != nil {
		more = append(more, age(*r.Time, now))
	}
	if len(more) > 0 {
		s += " (" + strings.Join(more, ", ") + ")"
	}
	return s
}

// method is how the backup dumps: the artifact's method once written, else its spec's.
func method(b *backupv1alpha1.OvercloudBackup) string {
	if a := b.Status.Artifact; a != nil && a.Method != "" {
		return clip(string(a.Method), 16)
	}
	return string(b.Spec.Dump.EffectiveMethod())
}

// sizeCell is the artifact's size, "-" before there is one.
func sizeCell(b *backupv1alpha1.OvercloudBackup) string {
	a := b.Status.Artifact
	switch {
	case a == nil:
		return "-"
	case a.Size != "":
		return clip(a.Size, 16)
	default:
		return units.HumanBytes(a.TotalBytes)
	}
}

// verifiedCell says whether a restore drill proved the backup: yes, no, pending (a drill
// is due or running), or "-" (not succeeded, or no drill proves it).
func verifiedCell(b *backupv1alpha1.OvercloudBackup) string {
	if b.Status.Phase != backupv1alpha1.PhaseSucceeded {
		return "-"
	}
	c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionVerified)
	switch {
	case c != nil && c.Status == metav1.ConditionTrue:
		return "yes"
	case c != nil && c.Status == metav1.ConditionFalse:
		return "no"
	case c != nil && c.Reason == backupv1alpha1.ReasonNotCompared:
		return "not compared"
	case c != nil || b.WantsDrill() || b.VerifyRequest() != "":
		return "pending"
	}
	return "-"
}

// age is the time since t, as kubectl prints ages.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func cell(s string, n int) string {
	if s == "" {
		return "-"
	}
	return clip(s, n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
