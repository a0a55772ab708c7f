package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

const (
	// restoreSample is the OvercloudRestore the demo applies: nova's database, through an
	// idle node.
	restoreSample = "config/samples/backup_v1alpha1_overcloudrestore.yaml"
	// restoreAccount is the write account the demo makes for the restore (the backup's
	// account is read-only); its password is new at each run and only in the Secret.
	restoreAccount = "ocb_demo_restorer"
	// restoreTimeout bounds the restore, from its confirmation to its end.
	restoreTimeout = 5 * time.Minute
	// ocrResource is the OvercloudRestore's short name.
	ocrResource = "ocr"
)

// restore shows the everyday restore: nova's database dropped by mistake, then brought back
// from the demo's (verified) backup by the sample OvercloudRestore, adapted to the demo's
// backup: its plan first, nothing run; confirmed with `kubectl patch`, its Job restores the
// database through the idle node and proves every node equal to the backup.
func (d *demo) restore(ctx context.Context) error {
	rs := &backupv1alpha1.OvercloudRestore{}
	if err := loadSample(restoreSample, rs); err != nil {
		return err
	}
	if len(rs.Spec.Databases) != 1 {
		return fmt.Errorf("%s restores %d databases, the demo shows one", restoreSample, len(rs.Spec.Databases))
	}
	db := rs.Spec.Databases[0]
	if rs.Spec.CredentialsSecret == nil {
		return fmt.Errorf("%s names no credentialsSecret, which a Databases restore needs", restoreSample)
	}
	if strings.ContainsFunc(db, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) {
		return fmt.Errorf("%s names database %q; the demo quotes only lowercase names", restoreSample, db)
	}
	rs.ObjectMeta = metav1.ObjectMeta{Namespace: namespace, Name: rs.Name, Labels: demoLabels()}
	rs.Spec.BackupRef.Name, rs.Spec.OvercloudRef.Name = d.backup.Name, d.overcloud.Name
	// A restore is a record of one act, and its spec cannot change: the previous run's goes.
	if err := d.removeRestore(ctx, rs); err != nil {
		return err
	}

	before := d.countRows(db)
	fmt.Printf("   %s.instances on each node: %s\n", db, strings.Join(before, ", "))
	d.sb.RootQuery(d.t, 0, "DROP DATABASE "+db, false)
	fmt.Printf("   The mistake: DROP DATABASE %s (as root on %s); Galera replicated it everywhere.\n", db, d.sb.Nodes[0].Name)

	// The restore's account: it may drop, create and fill databases.
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	password := hex.EncodeToString(raw)
	d.sb.RootQuery(d.t, 0, fmt.Sprintf("CREATE OR REPLACE USER '%s'@'%%' IDENTIFIED BY '%s'; "+
		"GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION;", restoreAccount, password, restoreAccount), false)
	if err := d.applySecret(ctx, secretSpec{name: rs.Spec.CredentialsSecret.Name, typ: corev1.SecretTypeOpaque,
		literal: map[string]string{"username": restoreAccount, "password": password}}); err != nil {
		return err
	}

	if err := d.plan(ctx, rs, db); err != nil {
		return err
	}
	return d.confirm(ctx, rs, db, before)
}

// plan creates the restore and shows its plan, once made: nothing has run yet.
func (d *demo) plan(ctx context.Context, rs *backupv1alpha1.OvercloudRestore, db string) error {
	if err := d.c.Create(ctx, rs); err != nil {
		return fmt.Errorf("creating OvercloudRestore %s: %w", rs.Name, err)
	}
	fmt.Printf("   Read %s: databases [%s] of backup %s (the demo's), into Overcloud %s.\n", restoreSample, db,
		rs.Spec.BackupRef.Name, rs.Spec.OvercloudRef.Name)
	got, err := d.waitRestore(ctx, rs, time.Minute, func(r *backupv1alpha1.OvercloudRestore) bool {
		return r.Status.Phase != "" && r.Status.Phase != backupv1alpha1.RestorePending
	})
	if err != nil {
		return err
	}
	if got.Status.Phase != backupv1alpha1.RestorePlanned {
		return fmt.Errorf("restore %s is %s, not Planned: %s", rs.Name, got.Status.Phase, got.Status.Message)
	}
	fmt.Printf("   Planned, nothing run yet: %s\n", got.Status.Message)
	for i, s := range got.Status.Plan {
		fmt.Printf("     %d. %-19s %-14s %s\n", i+1, s.Name, s.Node, s.Command)
	}

	return nil
}

// confirm confirms the restore with kubectl, as a person would, follows it to its end, and
// shows what it did: the result, each node's proof, the rows back on every node.
func (d *demo) confirm(ctx context.Context, rs *backupv1alpha1.OvercloudRestore, db string, before []string) error {
	patch := fmt.Sprintf(`{"spec":{"confirm":%q}}`, d.overcloud.Name)
	args := []string{"-n", namespace, "patch", ocrResource, rs.Name, "--type", "merge", "-p", patch}
	out, err := d.kubectlRun(ctx, args...)
	if err != nil {
		return err
	}
	fmt.Printf("   $ kubectl %s '%s'\n", strings.Join(args[:len(args)-1], " "), patch) // as typed in a shell
	printIndented(out)
	got, err := d.waitRestore(ctx, rs, restoreTimeout, func(r *backupv1alpha1.OvercloudRestore) bool {
		return r.Status.Phase == backupv1alpha1.RestoreSucceeded || r.Status.Phase == backupv1alpha1.RestoreFailed
	})
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		waitArgs("Complete", ocrResource+"/"+rs.Name),
		{"-n", namespace, kubectlGet, ocrResource, rs.Name},
	} {
		out, err := d.kubectlRun(ctx, args...)
		if err != nil {
			return fmt.Errorf("%w (the restore: %s)", err, got.Status.Message)
		}
		fmt.Printf("   $ kubectl %s\n", strings.Join(args, " "))
		printIndented(out)
	}
	if r := got.Status.Result; r != nil {
		fmt.Printf("   status.result: %d tables, %d rows, %d bytes of SQL in %ss (%s MiB/s)\n", r.Tables, r.Rows, r.Bytes,
			r.Seconds, r.ThroughputMiB)
		for _, p := range r.Proofs {
			fmt.Printf("     %s: %s\n", p.Node, p.Message)
		}
	}
	after := d.countRows(db)
	fmt.Printf("   %s.instances on each node again: %s\n", db, strings.Join(after, ", "))
	if strings.Join(after, ",") != strings.Join(before, ",") {
		return fmt.Errorf("the nodes hold %v rows after the restore, %v before the drop", after, before)
	}
	return nil
}

// countRows is the rows of db.instances on each node, as "node: n".
func (d *demo) countRows(db string) []string {
	out := make([]string, 0, len(d.sb.Nodes))
	for i, n := range d.sb.Nodes {
		rows := strings.TrimSpace(d.sb.RootQuery(d.t, i, "SELECT COUNT(*) FROM "+db+".instances", false))
		out = append(out, n.Name+": "+rows)
	}
	return out
}

// waitRestore polls the restore until done says so, at most timeout.
func (d *demo) waitRestore(ctx context.Context, rs *backupv1alpha1.OvercloudRestore, timeout time.Duration,
	done func(*backupv1alpha1.OvercloudRestore) bool) (*backupv1alpha1.OvercloudRestore, error) {
	got := &backupv1alpha1.OvercloudRestore{}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := d.c.Get(ctx, client.ObjectKeyFromObject(rs), got); err != nil {
			return false, err
		}
		return done(got), nil
	})
	if err != nil {
		msg := got.Status.Message
		if c := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionFailed); c != nil && c.Status == metav1.ConditionTrue {
			msg = c.Reason + ": " + c.Message
		}
		return got, fmt.Errorf("restore %s is %s after %s (%s): %w", rs.Name, got.Status.Phase, timeout, msg, err)
	}
	return got, nil
}

// removeRestore deletes the restore of an earlier run, and waits until it is gone.
func (d *demo) removeRestore(ctx context.Context, rs *backupv1alpha1.OvercloudRestore) error {
	old := &backupv1alpha1.OvercloudRestore{}
	if err := d.c.Get(ctx, client.ObjectKeyFromObject(rs), old); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if err := d.c.Delete(ctx, old, client.PropagationPolicy(metav1.DeletePropagationForeground)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting the previous restore %s: %w", old.Name, err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := d.c.Get(ctx, client.ObjectKeyFromObject(old), &backupv1alpha1.OvercloudRestore{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		return errors.Join(fmt.Errorf("the previous restore %s is still there after a minute", old.Name), err)
	}
	fmt.Printf("   %s/%s of an earlier run deleted (its Job with it)\n", ocrResource, old.Name)
	return nil
}
