//go:build e2e

package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
	"github.com/overcloud-backup/overcloud-backup-operator/test/sandbox"
)

// restoreTimeout bounds one restore of the e2e database in the cluster.
const restoreTimeout = 4 * time.Minute

// TestRestoreDatabases: an OvercloudRestore in the cluster against the live overcloud. A
// database of the test's is backed up by a schedule (run now) through the deployed
// controller and drilled (Verified=True); then it is dropped, rows are written to another database, and
// an OvercloudRestore of it is created: it plans (status.plan, nothing run) until confirmed;
// confirmed, its Job (the operator's image, `agent restore`, the claim read-only) restores the
// database through the overcloud's idle node and proves it on every node; the restore is
// Complete (`kubectl wait --for=condition=Complete ocr/...` returns), and every node holds
// the database's rows again.
func TestRestoreDatabases(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	ns := k.namespace(t, "restore")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)

	const db, other, account = "ocb_e2e_restore", "ocb_e2e_untouched", "ocb_e2e_restorer"
	sb.RootQuery(t, 0, "DROP DATABASE IF EXISTS "+db+"; CREATE DATABASE "+db+"; "+
		"CREATE TABLE "+db+".servers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64)) ENGINE=InnoDB; "+
		"USE "+db+"; INSERT INTO servers (name) SELECT CONCAT('server-', seq) FROM seq_1_to_500;", false)
	t.Cleanup(func() { sb.RootQuery(t, 0, "DROP DATABASE IF EXISTS "+db, true) })
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	password := hex.EncodeToString(raw)
	sb.RootQuery(t, 0, fmt.Sprintf("CREATE OR REPLACE USER '%s'@'%%' IDENTIFIED BY '%s'; "+
		"GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION;", account, password, account), false)
	t.Cleanup(func() { sb.RootQuery(t, 0, "DROP USER IF EXISTS '"+account+"'@'%'", true) })
	secrets = append(secrets, password)
	k.secret(t, ns, "restore-account", corev1.SecretTypeOpaque, map[string][]byte{
		"username": []byte(account), "password": []byte(password),
	})

	// The backup is a schedule's (run now), drilled: the everyday source of a restore.
	tmpl := controllerBackup(sb, ns, "template", accessHTTP, db)
	tmpl.Spec.DeletionPolicy = backupv1alpha1.DeletionDelete
	// The restore goes through the node the Overcloud's watch names idle: it is watched.
	tmpl.Overcloud.Spec.Monitoring = &backupv1alpha1.MonitoringSpec{Interval: &metav1.Duration{Duration: 10 * time.Second}}
	k.createOvercloud(t, tmpl.Overcloud)
	s := &backupv1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly", Labels: map[string]string{e2eLabel: "true"}},
		Spec: backupv1alpha1.BackupScheduleSpec{
			Schedule: "@yearly",
			BackupTemplate: backupv1alpha1.BackupTemplate{
				Metadata: &backupv1alpha1.BackupTemplateMetadata{Labels: map[string]string{e2eLabel: "true"}},
				Spec:     tmpl.Spec,
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	if err := k.c.Create(ctx, s); err != nil {
		t.Fatalf("creating BackupSchedule %s: %v", s.Name, err)
	}
	backup := k.runNow(t, s, "1", secrets)
	k.waitVerified(ctx, t, backup, secrets)

	// The mistake: the database dropped. Meanwhile another database gets rows the restore
	// must not touch.
	sb.RootQuery(t, 0, "DROP DATABASE "+db, false)
	sb.RootQuery(t, 0, "DROP DATABASE IF EXISTS "+other+"; CREATE DATABASE "+other+"; "+
		"CREATE TABLE "+other+".events (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO "+other+".events VALUES (1), (2), (3);", false)
	t.Cleanup(func() { sb.RootQuery(t, 0, "DROP DATABASE IF EXISTS "+other, true) })

	rs := &backupv1alpha1.OvercloudRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restore-servers", Labels: map[string]string{e2eLabel: "true"}},
		Spec: backupv1alpha1.OvercloudRestoreSpec{
			BackupRef: backupv1alpha1.BackupReference{Name: backup.Name}, OvercloudRef: backupv1alpha1.OvercloudReference{Name: tmpl.Overcloud.Name},
			Databases: []string{db}, CredentialsSecret: &backupv1alpha1.CredentialsSecretReference{Name: "restore-account"},
		},
	}
	if err := k.c.Create(ctx, rs); err != nil {
		t.Fatalf("creating OvercloudRestore: %v", err)
	}
	got := &backupv1alpha1.OvercloudRestore{}
	k.poll(withTimeout(t, ctx, time.Minute), t, "the restore's plan", func(ctx context.Context) (bool, error) {
		err := k.c.Get(ctx, client.ObjectKeyFromObject(rs), got)
		return err == nil && got.Status.Phase == backupv1alpha1.RestorePlanned, err
	})
	if got.Status.JobName != "" || len(got.Status.Plan) == 0 {
		t.Fatalf("planned, not confirmed: %+v", got.Status)
	}
	t.Logf("plan through %s: %d steps", got.Status.Node, len(got.Status.Plan))

	kw := k.startKubectlWait(t, kubectlPath(t), ns, "ocr/"+rs.Name, restoreTimeout)
	got.Spec.Confirm = tmpl.Overcloud.Name
	if err := k.c.Update(ctx, got); err != nil {
		t.Fatalf("confirming: %v", err)
	}
	kw.start()
	k.poll(withTimeout(t, ctx, restoreTimeout), t, "the restore's end", func(ctx context.Context) (bool, error) {
		err := k.c.Get(ctx, client.ObjectKeyFromObject(rs), got)
		return err == nil && (got.Status.Phase == backupv1alpha1.RestoreSucceeded || got.Status.Phase == backupv1alpha1.RestoreFailed), err
	})
	c := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionComplete)
	if c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("restore %s: %s\nresult %+v\nevents:\n%s", got.Status.Phase, got.Status.Message, got.Status.Result,
			redactAll(k.events(ns), secrets))
	}
	if r := got.Status.Result; r == nil || len(r.Proofs) != len(sb.Nodes) || r.Rows != 500 {
		t.Fatalf("result %+v, want 500 rows proved on %d nodes", got.Status.Result, len(sb.Nodes))
	}
	for i := range sb.Nodes {
		if n := strings.TrimSpace(sb.RootQuery(t, i, "SELECT COUNT(*) FROM "+db+".servers", false)); n != "500" {
			t.Errorf("%s holds %s rows of %s.servers after the restore, want 500", sb.Nodes[i].Name, n, db)
		}
		if n := strings.TrimSpace(sb.RootQuery(t, i, "SELECT COUNT(*) FROM "+other+".events", false)); n != "3" {
			t.Errorf("%s holds %s rows of %s.events after the restore, want the 3 written after the backup", sb.Nodes[i].Name, n, other)
		}
	}
	kw.check(t, 30*time.Second)
	noSecrets(t, "the restore's status", fmt.Sprintf("%+v", got.Status), secrets)
	t.Logf("%s", got.Status.Message)
}

// wholeRestoreTimeout bounds a WholeCluster restore of the sandbox in the cluster: galera
// stopped, the copy, galera promoted everywhere again (two SSTs), the proofs.
const wholeRestoreTimeout = 12 * time.Minute

// TestRestoreWholeCluster: a WholeCluster OvercloudRestore in the cluster against the live
// Pacemaker overcloud. A physical backup (Mariabackup over SSH) through the deployed
// controller, drilled (Verified=True); then rows written and a database created after it.
// The restore plans (status.plan, nothing touched), is confirmed, and its Job (`agent
// restore-cluster` over SSH through sudo, the Overcloud's SSH Secret, no restore account:
// the proof logs in with the backup account) stops galera through Pacemaker, keeps every
// datadir aside, copies the backup onto controller-0, starts galera (Pacemaker bootstraps
// from it, the others join by SST) and proves every node: `kubectl wait
// --for=condition=Complete` returns, the rows written after the backup are gone on every
// node, the database created after it too, galera is Promoted everywhere and each node's
// previous datadir is kept aside (removed by the test's cleanup).
func TestRestoreWholeCluster(t *testing.T) {
	k := connect(t)
	sb := lockSandbox(t)
	ns := k.namespace(t, "wholerestore")
	secrets := k.controllerSecrets(t, sb, ns)
	k.claim(t, ns)

	const db, after = "ocb_e2e_whole", "ocb_e2e_whole_after"
	sb.RootQuery(t, 0, "DROP DATABASE IF EXISTS "+db+"; DROP DATABASE IF EXISTS "+after+"; CREATE DATABASE "+db+"; "+
		"USE "+db+"; CREATE TABLE events (id INT PRIMARY KEY, note VARCHAR(64)) ENGINE=InnoDB; "+
		"INSERT INTO events SELECT seq, CONCAT('before-', seq) FROM seq_1_to_100;", false)
	t.Cleanup(func() { sb.RootQuery(t, 0, "DROP DATABASE IF EXISTS "+db+"; DROP DATABASE IF EXISTS "+after, true) })

	b := controllerBackup(sb, ns, "whole-source", accessSSH) // the whole instance: a physical backup copies it all
	b.Spec.Dump.Method = backupv1alpha1.DumpMariabackup
	b.Overcloud.Spec.Monitoring = &backupv1alpha1.MonitoringSpec{Interval: &metav1.Duration{Duration: 10 * time.Second}}
	b.Overcloud.Spec.Pacemaker.GaleraResource = sandbox.GaleraResource
	b.Overcloud.Spec.Restore = &backupv1alpha1.RestoreAccess{Datadir: sb.ClusterDatadir()}
	k.createOvercloud(t, b.Overcloud)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	run := k.followBackup(t, b.OvercloudBackup, backupTimeout, func() {
		if err := k.c.Create(ctx, b.OvercloudBackup); err != nil {
			t.Fatalf("creating OvercloudBackup %s: %v", b.Name, err)
		}
	})
	if run.final.Status.Phase != backupv1alpha1.PhaseSucceeded {
		t.Fatalf("backup %s ended %s: %s", b.Name, run.final.Status.Phase, run.final.Status.Message)
	}
	k.waitVerified(ctx, t, b.OvercloudBackup, secrets)

	// After the backup: rows and a database the restore takes away.
	sb.RootQuery(t, 0, "INSERT INTO "+db+".events SELECT seq, CONCAT('after-', seq) FROM "+db+".seq_101_to_150; "+
		"CREATE DATABASE "+after+";", false)

	rs := &backupv1alpha1.OvercloudRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restore-everything", Labels: map[string]string{e2eLabel: "true"}},
		Spec: backupv1alpha1.OvercloudRestoreSpec{
			BackupRef: backupv1alpha1.BackupReference{Name: b.Name}, OvercloudRef: backupv1alpha1.OvercloudReference{Name: b.Overcloud.Name},
			Mode: backupv1alpha1.RestoreWholeCluster,
		},
	}
	if err := k.c.Create(ctx, rs); err != nil {
		t.Fatalf("creating OvercloudRestore: %v", err)
	}
	got := &backupv1alpha1.OvercloudRestore{}
	k.poll(withTimeout(t, ctx, time.Minute), t, "the restore's plan", func(ctx context.Context) (bool, error) {
		err := k.c.Get(ctx, client.ObjectKeyFromObject(rs), got)
		return err == nil && got.Status.Phase == backupv1alpha1.RestorePlanned, err
	})
	stamp := got.CreationTimestamp.UTC().Format(restoreplan.StampLayout)
	restored := false
	t.Cleanup(func() { sb.CleanupClusterRestore(t, stamp, func() bool { return restored }) })
	for _, s := range got.Status.Plan {
		t.Logf("plan %-22s %-13s %s", s.Name, s.Node, s.Command)
	}
	if got.Status.JobName != "" || !sb.AllPromoted() {
		t.Fatalf("planned, not confirmed: the Job %q, galera Promoted everywhere: %v", got.Status.JobName, sb.AllPromoted())
	}

	kw := k.startKubectlWait(t, kubectlPath(t), ns, "ocr/"+rs.Name, wholeRestoreTimeout)
	got.Spec.Confirm = b.Overcloud.Name
	if err := k.c.Update(ctx, got); err != nil {
		t.Fatalf("confirming: %v", err)
	}
	kw.start()
	k.poll(withTimeout(t, ctx, wholeRestoreTimeout), t, "the restore's end", func(ctx context.Context) (bool, error) {
		err := k.c.Get(ctx, client.ObjectKeyFromObject(rs), got)
		return err == nil && (got.Status.Phase == backupv1alpha1.RestoreSucceeded || got.Status.Phase == backupv1alpha1.RestoreFailed), err
	})
	if r := got.Status.Result; r != nil {
		for _, s := range r.Steps {
			took := ""
			if s.StartTime != nil && s.CompletionTime != nil {
				took = s.CompletionTime.Sub(s.StartTime.Time).String()
			}
			t.Logf("step %-22s %-13s succeeded=%v %s %s", s.Name, s.Node, s.Succeeded, took, s.Error)
		}
	}
	c := meta.FindStatusCondition(got.Status.Conditions, backupv1alpha1.ConditionComplete)
	if c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("restore %s: %s\nresult %+v\nevents:\n%s", got.Status.Phase, got.Status.Message, got.Status.Result,
			redactAll(k.events(ns), secrets))
	}
	restored = true
	kw.check(t, 30*time.Second)
	if r := got.Status.Result; r == nil || len(r.Proofs) != len(sb.Nodes) || len(r.Steps) == 0 {
		t.Fatalf("result %+v, want every node proved and the steps recorded", got.Status.Result)
	}
	if !sb.AllPromoted() {
		t.Errorf("galera is not Promoted on every controller after the restore")
	}
	for i := range sb.Nodes {
		if n := strings.TrimSpace(sb.RootQuery(t, i, "SELECT COUNT(*) FROM "+db+".events", false)); n != "100" {
			t.Errorf("%s holds %s rows of %s.events after the restore, want the backup's 100", sb.Nodes[i].Name, n, db)
		}
		if n := strings.TrimSpace(sb.RootQuery(t, i, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+
			after+"'", false)); n != "0" {
			t.Errorf("%s still has database %s, created after the backup", sb.Nodes[i].Name, after)
		}
		if _, err := os.Stat(sb.AsideDir(i, stamp)); err != nil {
			t.Errorf("%s's previous datadir is not kept aside: %v", sb.Nodes[i].Name, err)
		}
	}
	noSecrets(t, "the restore's status", fmt.Sprintf("%+v", got.Status), secrets)
	t.Logf("%s", got.Status.Message)
}
