package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// maxDatabases and maxDatabaseName are the CRD's bounds of spec.databases.
const (
	maxDatabases    = 256
	maxDatabaseName = 64
)

type restoreFlags struct {
	name, mode, users, credentialsSecret string
	databases                            []string
	allowUnverified                      bool
	timeout                              time.Duration
}

func newRestoreCommand(o *options) *cobra.Command {
	restore := &cobra.Command{
		Use:   "restore",
		Short: "Plan a restore of a backup (never runs one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("a subcommand is required: restore plan BACKUP")
		},
	}
	var f restoreFlags
	plan := &cobra.Command{
		Use: "plan BACKUP [--mode Databases|WholeCluster] [--databases a,b] [--users Include|Exclude] " +
			"[--credentials-secret NAME] [--allow-unverified] [--name NAME]",
		Short: "Create an unconfirmed OvercloudRestore of a backup and print the operator's plan",
		Long: `Create an OvercloudRestore of the backup into the Overcloud it was taken of, without
confirming it, wait for the operator to compute its plan, and print the plan's steps and
the one command that confirms it. The plugin never confirms a restore: nothing is
changed on the overcloud until a person runs that command.

Exit code 1 when the operator refuses to plan it (the reason is printed: an unverified
backup without --allow-unverified, a database not in the backup, a missing Secret...).`,
		Example: `  kubectl ocb restore plan overcloud-r1a2b3c4d -n openstack --databases nova --credentials-secret restore-admin
  kubectl ocb restore plan overcloud-r1a2b3c4d -n openstack --mode WholeCluster`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			names := []string{args[0]}
			for _, n := range []string{f.name, f.credentialsSecret} {
				if n != "" {
					names = append(names, n)
				}
			}
			s, err := o.start(names...)
			if err != nil {
				return err
			}
			b := &backupv1alpha1.OvercloudBackup{}
			if err := s.c.Get(cmd.Context(), types.NamespacedName{Namespace: s.namespace, Name: args[0]}, b); err != nil {
				return fmt.Errorf("getting OvercloudBackup %s/%s: %w", s.namespace, args[0], err)
			}
			r, err := restoreFor(b, f)
			if err != nil {
				return err
			}
			return s.restorePlan(cmd.Context(), o, r, f.timeout)
		},
	}
	fl := plan.Flags()
	fl.StringVar(&f.name, "name", "", "The OvercloudRestore's name (default: <backup>-plan-<5 random characters>).")
	fl.StringVar(&f.mode, "mode", string(backupv1alpha1.RestoreDatabases), "Databases or WholeCluster.")
	fl.StringSliceVar(&f.databases, "databases", nil, "Databases mode: the databases to restore (default: all of the backup's).")
	fl.StringVar(&f.users, "users", "", "Databases mode: Include also restores users and grants; Exclude (the default) does not.")
	fl.StringVar(&f.credentialsSecret, "credentials-secret", "",
		"The Secret (username, password) of the account the restore writes with; required by the Databases mode.")
	fl.BoolVar(&f.allowUnverified, "allow-unverified", false, "Plan a restore of a backup whose restore drill did not pass.")
	fl.DurationVar(&f.timeout, "timeout", time.Minute, "How long to wait for the operator's plan.")
	restore.AddCommand(plan)
	return restore
}

// restoreFor is the unconfirmed OvercloudRestore the flags ask for: of the backup, into
// the Overcloud it names. Bad flags are usage errors.
func restoreFor(b *backupv1alpha1.OvercloudBackup, f restoreFlags) (*backupv1alpha1.OvercloudRestore, error) {
	mode := backupv1alpha1.RestoreMode(f.mode)
	if mode != backupv1alpha1.RestoreDatabases && mode != backupv1alpha1.RestoreWholeCluster {
		return nil, usagef("--mode %q: want Databases or WholeCluster", clip(f.mode, 32))
	}
	users := backupv1alpha1.UsersPolicy(f.users)
	if users != "" && users != backupv1alpha1.UsersInclude && users != backupv1alpha1.UsersExclude {
		return nil, usagef("--users %q: want Include or Exclude", clip(f.users, 32))
	}
	if mode == backupv1alpha1.RestoreWholeCluster && (len(f.databases) > 0 || users != "") {
		return nil, usagef("--databases and --users are for the Databases mode: a WholeCluster restore restores everything")
	}
	if mode == backupv1alpha1.RestoreDatabases && f.credentialsSecret == "" {
		return nil, usagef("a Databases restore needs --credentials-secret: an account that may drop, create and fill databases")
	}
	if len(f.databases) > maxDatabases {
		return nil, usagef("--databases: %d databases, at most %d", len(f.databases), maxDatabases)
	}
	for _, d := range f.databases {
		if d == "" || len(d) > maxDatabaseName {
			return nil, usagef("--databases: %q is not a database name (1 to %d characters)", clip(d, 80), maxDatabaseName)
		}
	}
	r := &backupv1alpha1.OvercloudRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: f.name},
		Spec: backupv1alpha1.OvercloudRestoreSpec{
			BackupRef:       backupv1alpha1.BackupReference{Name: b.Name},
			OvercloudRef:    b.Spec.OvercloudRef,
			Mode:            mode,
			Databases:       f.databases,
			Users:           users,
			AllowUnverified: f.allowUnverified,
			// spec.confirm stays empty: a person confirms the plan, never the plugin.
		},
	}
	if f.name == "" {
		r.GenerateName = b.Name + "-plan-"
	}
	if f.credentialsSecret != "" {
		r.Spec.CredentialsSecret = &backupv1alpha1.CredentialsSecretReference{Name: f.credentialsSecret}
	}
	return r, nil
}

func (s *session) restorePlan(ctx context.Context, o *options, r *backupv1alpha1.OvercloudRestore, timeout time.Duration) error {
	if err := s.c.Create(ctx, r); err != nil {
		return fmt.Errorf("creating the OvercloudRestore of backup %s: %w", r.Spec.BackupRef.Name, err)
	}
	if o.output == outputTable {
		fmt.Fprintf(o.out, "overcloudrestore.backup.overcloud.io/%s created (not confirmed)\n", r.Name)
	}
	key := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
	var refused *metav1.Condition
	err := s.pollUntil(ctx, timeout, "the operator to plan restore "+r.Name+" (is the operator running?)",
		func(ctx context.Context) (bool, error) {
			if err := s.c.Get(ctx, key, r); err != nil {
				return false, fmt.Errorf("getting OvercloudRestore %s: %w", r.Name, err)
			}
			refused = planRefused(r)
			return r.Status.Phase == backupv1alpha1.RestorePlanned || refused != nil ||
				r.Status.Phase == backupv1alpha1.RestoreFailed, nil
		})
	if err != nil {
		return err
	}
	if o.output != outputTable {
		if err := printObjects(o.out, o.output, s.c.Scheme(), false, r); err != nil {
			return err
		}
	}
	switch {
	case refused != nil:
		return fmt.Errorf("the operator %w to plan restore %s (%s): %s", errFailed, r.Name, clip(refused.Reason, 64), clip(refused.Message, 512))
	case r.Status.Phase != backupv1alpha1.RestorePlanned:
		return fmt.Errorf("restore %s is %s: %s", r.Name, r.Status.Phase, clip(r.Status.Message, 512))
	}
	if o.output == outputTable {
		return writePlan(o.out, r)
	}
	return nil
}

// planRefused is the Planned condition when it is False: the operator will not plan the
// restore as it is (the restore stays Pending, and says why).
func planRefused(r *backupv1alpha1.OvercloudRestore) *metav1.Condition {
	c := meta.FindStatusCondition(r.Status.Conditions, backupv1alpha1.ConditionPlanned)
	if c != nil && c.Status == metav1.ConditionFalse && c.ObservedGeneration == r.Generation {
		return c
	}
	return nil
}

// writePlan prints the plan's steps and the command that confirms it.
func writePlan(w io.Writer, r *backupv1alpha1.OvercloudRestore) error {
	st := r.Status
	fmt.Fprintf(w, "\nRestore:   %s/%s (%s) of backup %s into Overcloud %s\n", r.Namespace, r.Name, r.Spec.Mode,
		r.Spec.BackupRef.Name, r.Spec.OvercloudRef.Name)
	if st.Node != "" {
		fmt.Fprintf(w, "Node:      %s\n", clip(st.Node, 63))
	}
	if len(st.Databases) > 0 {
		fmt.Fprintf(w, "Databases: %s\n", clip(strings.Join(st.Databases, ", "), 1024))
	}
	fmt.Fprintf(w, "\nPlan (%d steps):\n", len(st.Plan))
	for i, step := range st.Plan {
		where := ""
		if step.Node != "" {
			where = " on " + clip(step.Node, 63)
		}
		fmt.Fprintf(w, "%3d. %s%s: %s\n", i+1, clip(step.Name, 63), where, clip(step.Description, 1024))
		if step.Command != "" {
			fmt.Fprintf(w, "       $ %s\n", clip(step.Command, 4096))
		}
	}
	_, err := fmt.Fprintf(w, "\nNothing has been changed. To run this plan, confirm it:\n  %s\n", confirmCommand(r))
	return err
}

// confirmCommand is the one command that confirms the restore. The names in it are the
// API server's (valid DNS-1123 names), so it is safe to paste into a shell.
func confirmCommand(r *backupv1alpha1.OvercloudRestore) string {
	return fmt.Sprintf(`kubectl patch overcloudrestore %s -n %s --type merge -p '{"spec":{"confirm":"%s"}}'`,
		r.Name, r.Namespace, r.Spec.OvercloudRef.Name)
}
