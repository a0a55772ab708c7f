package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// now is the fixed clock of the rendering tests.
var now = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func agoP(d time.Duration) *metav1.Time { t := ago(d); return &t }

func cond(t string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
}

// overcloud is an Overcloud after a probe: controller-1 active and VIP holder,
// controller-0 chosen, controller-2 not synced.
func overcloud() *backupv1alpha1.Overcloud {
	galera := func(state string) *backupv1alpha1.GaleraNodeStatus {
		return &backupv1alpha1.GaleraNodeStatus{Reachable: true, LocalStateComment: state, ClusterStatus: "Primary", ClusterSize: 3,
			Synced: state == "Synced", ClientConnections: 1}
	}
	return &backupv1alpha1.Overcloud{
		ObjectMeta: metav1.ObjectMeta{Namespace: "openstack", Name: "overcloud", CreationTimestamp: ago(48 * time.Hour)},
		Status: backupv1alpha1.OvercloudStatus{
			Conditions: []metav1.Condition{
				cond(backupv1alpha1.ConditionReady, metav1.ConditionTrue, "BackupPossible", "controller-0 may be backed up from"),
				cond(backupv1alpha1.ConditionDegraded, metav1.ConditionTrue, "NodeNotSynced", "controller-2 is Donor/Desynced"),
			},
			Nodes: []backupv1alpha1.NodeStatus{
				{Name: "controller-0", Role: backupv1alpha1.RoleStandby, Eligible: true, Selected: true, Reason: "idle and synced", Galera: galera("Synced")},
				{Name: "controller-1", Role: backupv1alpha1.RoleActive, Reason: "the active node", Galera: galera("Synced")},
				{Name: "controller-2", Role: backupv1alpha1.RoleUnavailable, Reason: "not synced", Galera: galera("Donor/Desynced")},
			},
			ActiveNode: "controller-1", ActiveSource: "HAProxy", VIPNode: "controller-1", BackupFrom: "controller-0",
			Reason: "controller-0: idle and synced", Synced: "2/3", ClusterSize: 3,
			LastProbeTime: agoP(90 * time.Second), LastProbeDuration: &metav1.Duration{Duration: 1234 * time.Millisecond},
			LastBackup:         &backupv1alpha1.BackupRecord{Name: "nightly-1", Phase: backupv1alpha1.PhaseSucceeded, Time: agoP(3 * time.Hour)},
			LastVerifiedBackup: &backupv1alpha1.BackupRecord{Name: "nightly-0", Time: agoP(27 * time.Hour)},
		},
	}
}

// backupAt is a backup of the overcloud created d ago.
func backupAt(name string, d time.Duration, phase backupv1alpha1.BackupPhase, conds ...metav1.Condition) backupv1alpha1.OvercloudBackup {
	b := backupv1alpha1.OvercloudBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "openstack", Name: name, CreationTimestamp: ago(d)},
		Spec:       backupv1alpha1.OvercloudBackupSpec{OvercloudRef: backupv1alpha1.OvercloudReference{Name: "overcloud"}},
		Status:     backupv1alpha1.OvercloudBackupStatus{Phase: phase, Conditions: conds},
	}
	if phase == backupv1alpha1.PhaseSucceeded {
		b.Status.Artifact = &backupv1alpha1.BackupArtifact{Method: backupv1alpha1.DumpLogical, TotalBytes: 3 << 20}
	}
	return b
}

func TestWriteOvercloudList(t *testing.T) {
	bare := backupv1alpha1.Overcloud{ObjectMeta: metav1.ObjectMeta{Name: "edge", CreationTimestamp: ago(5 * time.Minute)}}
	var out strings.Builder
	if err := writeOvercloudList(&out, []backupv1alpha1.Overcloud{*overcloud(), bare}, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME        READY     ACTIVE         VIP            SYNCED   LAST BACKUP                 LAST VERIFIED     AGE\n" +
		"overcloud   True      controller-1   controller-1   2/3      nightly-1 (Succeeded, 3h)   nightly-0 (27h)   2d\n" +
		"edge        Unknown   -              -              -        -                           -                 5m\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestWriteOvercloudStatus(t *testing.T) {
	verified := cond(backupv1alpha1.ConditionVerified, metav1.ConditionTrue, "Restored", "restored")
	failedDrill := cond(backupv1alpha1.ConditionVerified, metav1.ConditionFalse, "RestoreFailed", "did not restore")
	running := cond(backupv1alpha1.ConditionVerified, metav1.ConditionUnknown, "DrillRunning", "running")
	backups := make([]backupv1alpha1.OvercloudBackup, 0, 6)
	for i, b := range []backupv1alpha1.OvercloudBackup{
		backupAt("nightly-6", time.Minute, backupv1alpha1.PhaseRunning),
		backupAt("nightly-5", time.Hour, backupv1alpha1.PhaseSucceeded),
		backupAt("nightly-4", 2*time.Hour, backupv1alpha1.PhaseSucceeded, running),
		backupAt("nightly-3", 3*time.Hour, backupv1alpha1.PhaseFailed),
		backupAt("nightly-2", 4*time.Hour, backupv1alpha1.PhaseSucceeded, failedDrill),
		backupAt("nightly-1", 5*time.Hour, backupv1alpha1.PhaseSucceeded, verified),
	} {
		if i == 1 {
			b.Spec.Verification = &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
		}
		backups = append(backups, b)
	}
	suspended := true
	v := &overcloudView{oc: overcloud(), backups: backups, schedules: []backupv1alpha1.BackupSchedule{
		{ObjectMeta: metav1.ObjectMeta{Name: "nightly"}, Spec: backupv1alpha1.BackupScheduleSpec{Schedule: "0 2 * * *"},
			Status: backupv1alpha1.BackupScheduleStatus{NextScheduleTime: &metav1.Time{Time: now.Add(16 * time.Hour)}, LastSuccessfulBackup: "nightly-5"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "weekly"}, Spec: backupv1alpha1.BackupScheduleSpec{Schedule: "@weekly", Suspend: &suspended}},
	}}
	var out strings.Builder
	if err := writeOvercloudStatus(&out, v, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"Overcloud:     openstack/overcloud\n" +
		"Ready:         True (BackupPossible): controller-0 may be backed up from\n" +
		"Degraded:      True (NodeNotSynced): controller-2 is Donor/Desynced\n" +
		"Synced:        2/3 (cluster size 3)\n" +
		"Last probe:    2026-12-06T09:58:30Z (90s ago, took 1.234s)\n" +
		"\n" +
		"NODE          GALERA                    PACEMAKER  HAPROXY  CLIENTS  ROLE         ELIGIBLE  REASON\n" +
		"controller-0  Synced Primary/3          -          -        1        Standby      yes       idle and synced\n" +
		"controller-1  Synced Primary/3          -          -        1        Active       no        the active node\n" +
		"controller-2  Donor/Desynced Primary/3  -          -        1        Unavailable  no        not synced\n" +
		"\n" +
		"Active node:   controller-1 (HAProxy)\n" +
		"VIP holder:    controller-1\n" +
		"Selected node: controller-0\n" +
		"Reason:        controller-0: idle and synced\n" +
		"\n" +
		"Backups (last 5 of 6):\n" +
		"NAME        PHASE       METHOD    SIZE      VERIFIED   AGE\n" +
		"nightly-6   Running     Logical   -         -          60s\n" +
		"nightly-5   Succeeded   Logical   3.0 MiB   -          60m\n" +
		"nightly-4   Succeeded   Logical   3.0 MiB   pending    120m\n" +
		"nightly-3   Failed      Logical   -         -          3h\n" +
		"nightly-2   Succeeded   Logical   3.0 MiB   no         4h\n" +
		"\n" +
		"Schedules:\n" +
		"NAME      SCHEDULE    SUSPENDED   NEXT RUN                        LAST SUCCESSFUL\n" +
		"nightly   0 2 * * *   no          2026-12-07T02:00:00Z (in 16h)   nightly-5\n" +
		"weekly    @weekly     yes         -                               -\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestWriteOvercloudStatusNotProbed: before any probe, the view says how to get one.
func TestWriteOvercloudStatusNotProbed(t *testing.T) {
	oc := &backupv1alpha1.Overcloud{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "oc"}}
	var out strings.Builder
	if err := writeOvercloudStatus(&out, &overcloudView{oc: oc}, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"Overcloud:     ns/oc\n" +
		"Ready:         -\n" +
		"Degraded:      -\n" +
		"Synced:        -\n" +
		"Last probe:    never\n" +
		"\n" +
		"No node table: no probe of this overcloud in status (Ready says why; kubectl ocb probe asks for one).\n" +
		"\n" +
		"Backups (0):\n" +
		"  none\n" +
		"\n" +
		"Schedules:\n" +
		"  none\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestVerifiedCell(t *testing.T) {
	disabled := &backupv1alpha1.VerificationSpec{Drill: backupv1alpha1.DrillDisabled}
	tests := []struct {
		name  string
		phase backupv1alpha1.BackupPhase
		spec  *backupv1alpha1.VerificationSpec
		conds []metav1.Condition
		want  string
	}{
		{name: "running backup", phase: backupv1alpha1.PhaseRunning, want: "-"},
		{name: "failed backup", phase: backupv1alpha1.PhaseFailed, want: "-"},
		{name: "drill due", phase: backupv1alpha1.PhaseSucceeded, want: "pending"},
		{name: "drill disabled", phase: backupv1alpha1.PhaseSucceeded, spec: disabled, want: "-"},
		{name: "drill running", phase: backupv1alpha1.PhaseSucceeded,
			conds: []metav1.Condition{cond(backupv1alpha1.ConditionVerified, metav1.ConditionUnknown, "DrillRunning", "")}, want: "pending"},
		{name: "verified", phase: backupv1alpha1.PhaseSucceeded,
			conds: []metav1.Condition{cond(backupv1alpha1.ConditionVerified, metav1.ConditionTrue, "Restored", "")}, want: "yes"},
		{name: "verified, drill disabled since", phase: backupv1alpha1.PhaseSucceeded, spec: disabled,
			conds: []metav1.Condition{cond(backupv1alpha1.ConditionVerified, metav1.ConditionTrue, "Restored", "")}, want: "yes"},
		{name: "drill failed", phase: backupv1alpha1.PhaseSucceeded,
			conds: []metav1.Condition{cond(backupv1alpha1.ConditionVerified, metav1.ConditionFalse, "RestoreFailed", "")}, want: "no"},
		{name: "physical, not compared", phase: backupv1alpha1.PhaseSucceeded,
			conds: []metav1.Condition{cond(backupv1alpha1.ConditionVerified, metav1.ConditionUnknown, backupv1alpha1.ReasonNotCompared, "")},
			want:  "not compared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backupAt("b", time.Hour, tt.phase, tt.conds...)
			b.Spec.Verification = tt.spec
			if got := verifiedCell(&b); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
}

// TestBackupsOfAndSchedulesOf: only the Overcloud's, newest backups first (by name on a
// tie), schedules by name.
func TestBackupsOfAndSchedulesOf(t *testing.T) {
	other := backupAt("other", 0, backupv1alpha1.PhaseSucceeded)
	other.Spec.OvercloudRef.Name = "edge"
	got := backupsOf([]backupv1alpha1.OvercloudBackup{
		backupAt("old", 2*time.Hour, ""), other, backupAt("b-new", time.Minute, ""), backupAt("a-new", time.Minute, ""),
	}, "overcloud")
	names := make([]string, 0, len(got))
	for _, b := range got {
		names = append(names, b.Name)
	}
	if strings.Join(names, " ") != "a-new b-new old" {
		t.Errorf("backups %v", names)
	}
	sched := func(name, oc string) backupv1alpha1.BackupSchedule {
		s := backupv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: name}}
		s.Spec.BackupTemplate.Spec.OvercloudRef.Name = oc
		return s
	}
	ss := schedulesOf([]backupv1alpha1.BackupSchedule{sched("weekly", "overcloud"), sched("edge", "edge"), sched("daily", "overcloud")}, "overcloud")
	if len(ss) != 2 || ss[0].Name != "daily" || ss[1].Name != "weekly" {
		t.Errorf("schedules %+v", ss)
	}
}

// TestClipHostileText: text from a status cannot move the cursor or add lines.
func TestClipHostileText(t *testing.T) {
	oc := overcloud()
	oc.Status.Conditions[0].Message = "ok\x1b[2J\nfake line"
	oc.Status.Synced = "3/3\r\x1b[31m"
	var out strings.Builder
	if err := writeOvercloudStatus(&out, &overcloudView{oc: oc}, now); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.String(), "\x1b\r") || strings.Contains(out.String(), "\nfake line") {
		t.Errorf("control characters printed:\n%q", out.String())
	}
}
