package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

func newVerifyCommand(o *options) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify BACKUP [--wait [--timeout 15m]]",
		Short: "Have the operator run a restore drill of a succeeded backup now",
		Long: `Have the operator run a restore drill of the backup now: it restores the backup into a
scratch server in a Job of its own, checks what it restored against what the backup
recorded, and sets the backup's Verified condition. The plugin sets the backup's
backup.overcloud.io/verify annotation to a fresh value; the drill that answers it records
that value in status.verification.request.

--wait follows the drill to its end and prints its result. Exit code 1 when the drill
found the backup does not restore (Verified=False) or did not end within --timeout.`,
		Example: `  kubectl ocb verify overcloud-r1a2b3c4d -n openstack --wait`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			s, err := o.start(args[0])
			if err != nil {
				return err
			}
			return s.verify(cmd.Context(), o, args[0], wait, timeout)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "Follow the drill to its end.")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "How long --wait follows the drill.")
	return cmd
}

func (s *session) verify(ctx context.Context, o *options, name string, wait bool, timeout time.Duration) error {
	b := &backupv1alpha1.OvercloudBackup{}
	key := types.NamespacedName{Namespace: s.namespace, Name: name}
	if err := s.c.Get(ctx, key, b); err != nil {
		return fmt.Errorf("getting OvercloudBackup %s/%s: %w", s.namespace, name, err)
	}
	if b.Status.Phase != backupv1alpha1.PhaseSucceeded {
		return fmt.Errorf("backup %s is %s: only a succeeded backup can be verified", name, cell(string(b.Status.Phase), 16))
	}
	value := requestValue(s.now())
	if err := s.annotate(ctx, b, backupv1alpha1.AnnotationVerify, value); err != nil {
		return fmt.Errorf("asking for a restore drill of backup %s: %w", name, err)
	}
	if o.output == outputTable {
		fmt.Fprintf(o.out, "overcloudbackup.backup.overcloud.io/%s annotated: restore drill %s requested\n", name, value)
	}
	if !wait {
		if o.output == outputTable {
			return nil
		}
		return printObjects(o.out, o.output, s.c.Scheme(), false, b)
	}
	want := backupv1alpha1.RequestKey(value)
	start := s.now()
	var lastLine string
	err := s.pollUntil(ctx, timeout, "the restore drill of backup "+name, func(ctx context.Context) (bool, error) {
		if err := s.c.Get(ctx, key, b); err != nil {
			return false, fmt.Errorf("getting OvercloudBackup %s/%s: %w", s.namespace, name, err)
		}
		done, line := drillState(b, want)
		if line != lastLine && o.output == outputTable {
			lastLine = line
			fmt.Fprintf(o.out, "%6s  %s\n", elapsed(s.now().Sub(start)), line)
		}
		return done, nil
	})
	if err != nil {
		return err
	}
	if o.output != outputTable {
		if err := printObjects(o.out, o.output, s.c.Scheme(), false, b); err != nil {
			return err
		}
	} else if err := writeDrillResult(o.out, b); err != nil {
		return err
	}
	if c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionVerified); c != nil && c.Status == metav1.ConditionFalse {
		return fmt.Errorf("the restore drill of backup %s %w: %s", name, errFailed, clip(c.Message, 512))
	}
	return nil
}

// drillState says whether the drill answering the request (the RequestKey of the
// annotation's value) has ended, and its state in one line. Before the controller has
// taken the request up, the status still shows the earlier drill: it is not this one.
func drillState(b *backupv1alpha1.OvercloudBackup, want string) (bool, string) {
	v := b.Status.Verification
	if v == nil || v.Request != want {
		return false, "Requested  waiting for the operator to start the drill"
	}
	c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionVerified)
	if c == nil {
		return false, "Pending    the drill is about to start"
	}
	line := fmt.Sprintf("%-9s  %s: %s", c.Status, clip(c.Reason, 64), clip(c.Message, 512))
	switch {
	case c.Status != metav1.ConditionUnknown:
		return true, line
	case c.Reason == backupv1alpha1.ReasonNotCompared:
		// Unknown for good: restored, but nothing to compare with.
		return true, line
	}
	return false, line
}

// writeDrillResult prints what the drill checked.
func writeDrillResult(w io.Writer, b *backupv1alpha1.OvercloudBackup) error {
	c := meta.FindStatusCondition(b.Status.Conditions, backupv1alpha1.ConditionVerified)
	fmt.Fprintf(w, "\nBackup:    %s/%s\nVerified:  %s\n", b.Namespace, b.Name,
		conditionLine(b.Status.Conditions, backupv1alpha1.ConditionVerified))
	v := b.Status.Verification
	if c == nil || v == nil {
		return nil
	}
	took := "-"
	if v.Duration != nil {
		took = v.Duration.Round(time.Second).String()
	}
	fmt.Fprintf(w, "Restored:  %d tables, %d rows, %d users in %s (drill Job %s)\n", v.Tables, v.Rows, v.Users, took, cell(v.JobName, 63))
	if v.ServerVersion != "" || v.SourceVersion != "" {
		fmt.Fprintf(w, "Servers:   drill %s, source %s\n", cell(v.ServerVersion, 64), cell(v.SourceVersion, 64))
	}
	for i, m := range v.Mismatches {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more mismatches (status.verification.mismatches)\n", len(v.Mismatches)-10)
			break
		}
		fmt.Fprintf(w, "Mismatch:  %s\n", clip(m, 256))
	}
	return nil
}
