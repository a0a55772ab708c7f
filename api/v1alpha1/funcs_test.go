package v1alpha1_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// The getters of *_funcs.go: the one place each default lives. Every table has a nil
// receiver (an omitted sub-struct), the zero value, and a set value.

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestNodeSpecPorts(t *testing.T) {
	for name, tc := range map[string]struct {
		n          *backupv1alpha1.NodeSpec
		mysql, ssh int32
	}{
		"nil":  {nil, 3306, 22},
		"zero": {&backupv1alpha1.NodeSpec{}, 3306, 22},
		"set":  {&backupv1alpha1.NodeSpec{MySQLPort: ptr.To(int32(13306)), SSHPort: ptr.To(int32(2222))}, 13306, 2222},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.n.MySQLPortOrDefault(); got != tc.mysql {
				t.Errorf("MySQLPortOrDefault() = %d, want %d", got, tc.mysql)
			}
			if got := tc.n.SSHPortOrDefault(); got != tc.ssh {
				t.Errorf("SSHPortOrDefault() = %d, want %d", got, tc.ssh)
			}
		})
	}
	if backupv1alpha1.DefaultMySQLPort != 3306 || backupv1alpha1.DefaultSSHPort != 22 {
		t.Errorf("default ports %d, %d", backupv1alpha1.DefaultMySQLPort, backupv1alpha1.DefaultSSHPort)
	}
}

func TestDatabaseAccessTimeouts(t *testing.T) {
	for name, tc := range map[string]struct {
		d              *backupv1alpha1.DatabaseAccess
		connect, query time.Duration
	}{
		"nil":          {nil, 5 * time.Second, 5 * time.Second},
		"zero":         {&backupv1alpha1.DatabaseAccess{}, 5 * time.Second, 5 * time.Second},
		"set":          {&backupv1alpha1.DatabaseAccess{ConnectTimeout: dur(2 * time.Second), QueryTimeout: dur(time.Minute)}, 2 * time.Second, time.Minute},
		"not positive": {&backupv1alpha1.DatabaseAccess{ConnectTimeout: dur(0), QueryTimeout: dur(-time.Second)}, 5 * time.Second, 5 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.d.ConnectTimeoutOrDefault(); got != tc.connect {
				t.Errorf("ConnectTimeoutOrDefault() = %v, want %v", got, tc.connect)
			}
			if got := tc.d.QueryTimeoutOrDefault(); got != tc.query {
				t.Errorf("QueryTimeoutOrDefault() = %v, want %v", got, tc.query)
			}
		})
	}
}

func TestCredentialsSecretKeys(t *testing.T) {
	for name, tc := range map[string]struct {
		c              *backupv1alpha1.CredentialsSecretReference
		user, password string
	}{
		"nil":  {nil, "username", "password"},
		"zero": {&backupv1alpha1.CredentialsSecretReference{Name: "db"}, "username", "password"},
		"set":  {&backupv1alpha1.CredentialsSecretReference{Name: "db", UsernameKey: "user", PasswordKey: "pass"}, "user", "pass"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.c.UsernameKeyOrDefault(); got != tc.user {
				t.Errorf("UsernameKeyOrDefault() = %q, want %q", got, tc.user)
			}
			if got := tc.c.PasswordKeyOrDefault(); got != tc.password {
				t.Errorf("PasswordKeyOrDefault() = %q, want %q", got, tc.password)
			}
		})
	}
}

func TestSSHAccess(t *testing.T) {
	for name, tc := range map[string]struct {
		s               *backupv1alpha1.SSHAccess
		key, knownHosts string
		timeout         time.Duration
	}{
		"nil":          {nil, "ssh-privatekey", "known_hosts", 10 * time.Second},
		"zero":         {&backupv1alpha1.SSHAccess{}, "ssh-privatekey", "known_hosts", 10 * time.Second},
		"set":          {&backupv1alpha1.SSHAccess{PrivateKeyKey: "id", KnownHostsKey: "hosts", Timeout: dur(3 * time.Second)}, "id", "hosts", 3 * time.Second},
		"not positive": {&backupv1alpha1.SSHAccess{Timeout: dur(0)}, "ssh-privatekey", "known_hosts", 10 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.s.PrivateKeyKeyOrDefault(); got != tc.key {
				t.Errorf("PrivateKeyKeyOrDefault() = %q, want %q", got, tc.key)
			}
			if got := tc.s.KnownHostsKeyOrDefault(); got != tc.knownHosts {
				t.Errorf("KnownHostsKeyOrDefault() = %q, want %q", got, tc.knownHosts)
			}
			if got := tc.s.TimeoutOrDefault(); got != tc.timeout {
				t.Errorf("TimeoutOrDefault() = %v, want %v", got, tc.timeout)
			}
		})
	}
}

func TestPacemakerAndHAProxyAccess(t *testing.T) {
	const crmMon = "sudo -n crm_mon --one-shot --inactive --output-as=xml"
	const socat = "sudo -n socat stdio UNIX-CONNECT:{socket}"
	for name, tc := range map[string]struct {
		p                         *backupv1alpha1.PacemakerAccess
		h                         *backupv1alpha1.HAProxyAccess
		command, backend, sockCmd string
		timeout                   time.Duration
	}{
		"nil":  {nil, nil, crmMon, "mysql", socat, 5 * time.Second},
		"zero": {&backupv1alpha1.PacemakerAccess{}, &backupv1alpha1.HAProxyAccess{}, crmMon, "mysql", socat, 5 * time.Second},
		"set": {&backupv1alpha1.PacemakerAccess{Command: "crm_mon -X"},
			&backupv1alpha1.HAProxyAccess{Backend: "galera", StatsSocketCommand: "nc -U {socket}", Timeout: dur(2 * time.Second)},
			"crm_mon -X", "galera", "nc -U {socket}", 2 * time.Second},
		"not positive": {nil, &backupv1alpha1.HAProxyAccess{Timeout: dur(-time.Second)}, crmMon, "mysql", socat, 5 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.p.CommandOrDefault(); got != tc.command {
				t.Errorf("CommandOrDefault() = %q, want %q", got, tc.command)
			}
			if got := tc.h.BackendOrDefault(); got != tc.backend {
				t.Errorf("BackendOrDefault() = %q, want %q", got, tc.backend)
			}
			if got := tc.h.StatsSocketCommandOrDefault(); got != tc.sockCmd {
				t.Errorf("StatsSocketCommandOrDefault() = %q, want %q", got, tc.sockCmd)
			}
			if got := tc.h.TimeoutOrDefault(); got != tc.timeout {
				t.Errorf("TimeoutOrDefault() = %v, want %v", got, tc.timeout)
			}
		})
	}
}

func TestMonitoringInterval(t *testing.T) {
	for name, tc := range map[string]struct {
		s    *backupv1alpha1.OvercloudSpec
		want time.Duration
	}{
		"nil spec":        {nil, time.Minute},
		"no monitoring":   {&backupv1alpha1.OvercloudSpec{}, time.Minute},
		"no interval":     {&backupv1alpha1.OvercloudSpec{Monitoring: &backupv1alpha1.MonitoringSpec{}}, time.Minute},
		"0s: not watched": {&backupv1alpha1.OvercloudSpec{Monitoring: &backupv1alpha1.MonitoringSpec{Interval: dur(0)}}, 0},
		"negative":        {&backupv1alpha1.OvercloudSpec{Monitoring: &backupv1alpha1.MonitoringSpec{Interval: dur(-time.Second)}}, 0},
		"set":             {&backupv1alpha1.OvercloudSpec{Monitoring: &backupv1alpha1.MonitoringSpec{Interval: dur(15 * time.Second)}}, 15 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.s.MonitoringInterval(); got != tc.want {
				t.Errorf("MonitoringInterval() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDumpSpec(t *testing.T) {
	for name, tc := range map[string]struct {
		d            *backupv1alpha1.DumpSpec
		method       backupv1alpha1.DumpMethod
		compression  backupv1alpha1.Compression
		users        backupv1alpha1.UsersPolicy
		desync       backupv1alpha1.DesyncPolicy
		includeUsers bool
		desyncsNode  bool
	}{
		"nil":  {nil, backupv1alpha1.DumpLogical, backupv1alpha1.CompressionZstd, backupv1alpha1.UsersInclude, backupv1alpha1.DesyncEnabled, true, true},
		"zero": {&backupv1alpha1.DumpSpec{}, backupv1alpha1.DumpLogical, backupv1alpha1.CompressionZstd, backupv1alpha1.UsersInclude, backupv1alpha1.DesyncEnabled, true, true},
		"set": {&backupv1alpha1.DumpSpec{Method: backupv1alpha1.DumpMariabackup, Compression: backupv1alpha1.CompressionGzip,
			Users: backupv1alpha1.UsersExclude, Desync: backupv1alpha1.DesyncDisabled},
			backupv1alpha1.DumpMariabackup, backupv1alpha1.CompressionGzip, backupv1alpha1.UsersExclude, backupv1alpha1.DesyncDisabled, false, false},
		"set to the defaults": {&backupv1alpha1.DumpSpec{Method: backupv1alpha1.DumpLogical, Compression: backupv1alpha1.CompressionNone,
			Users: backupv1alpha1.UsersInclude, Desync: backupv1alpha1.DesyncEnabled},
			backupv1alpha1.DumpLogical, backupv1alpha1.CompressionNone, backupv1alpha1.UsersInclude, backupv1alpha1.DesyncEnabled, true, true},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.d.EffectiveMethod(); got != tc.method {
				t.Errorf("EffectiveMethod() = %q, want %q", got, tc.method)
			}
			if got := tc.d.EffectiveCompression(); got != tc.compression {
				t.Errorf("EffectiveCompression() = %q, want %q", got, tc.compression)
			}
			if got := tc.d.EffectiveUsers(); got != tc.users {
				t.Errorf("EffectiveUsers() = %q, want %q", got, tc.users)
			}
			if got := tc.d.EffectiveDesync(); got != tc.desync {
				t.Errorf("EffectiveDesync() = %q, want %q", got, tc.desync)
			}
			if got := tc.d.IncludesUsers(); got != tc.includeUsers {
				t.Errorf("IncludesUsers() = %v, want %v", got, tc.includeUsers)
			}
			if got := tc.d.DesyncsNode(); got != tc.desyncsNode {
				t.Errorf("DesyncsNode() = %v, want %v", got, tc.desyncsNode)
			}
		})
	}
}

func TestRecordsDigests(t *testing.T) {
	mb := backupv1alpha1.DumpMariabackup
	for name, tc := range map[string]struct {
		d    *backupv1alpha1.DumpSpec
		want bool
	}{
		"nil: logical":               {nil, true},
		"logical":                    {&backupv1alpha1.DumpSpec{Method: backupv1alpha1.DumpLogical}, true},
		"mariabackup, the default":   {&backupv1alpha1.DumpSpec{Method: mb}, true},
		"mariabackup with --no-lock": {&backupv1alpha1.DumpSpec{Method: mb, MariabackupCommand: "sudo -n mariadb-backup --defaults-extra-file={defaultsFile} --backup --no-lock --stream=xbstream"}, true},
		"inside a quoted sh -c": {&backupv1alpha1.DumpSpec{Method: mb, MariabackupCommand: "podman exec -i g sh -c 'cat >&3 && " +
			"exec mariadb-backup --defaults-extra-file={defaultsFile} --backup --no-lock --stream=xbstream'"}, true},
		"mariabackup without it":    {&backupv1alpha1.DumpSpec{Method: mb, MariabackupCommand: "sudo -n mariadb-backup --defaults-extra-file={defaultsFile} --backup --stream=xbstream"}, false},
		"a longer option is not it": {&backupv1alpha1.DumpSpec{Method: mb, MariabackupCommand: "mariadb-backup --defaults-extra-file={defaultsFile} --no-lock-ddl-per-table"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.d.RecordsDigests(); got != tc.want {
				t.Errorf("RecordsDigests() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestJobSpec(t *testing.T) {
	const operator = "registry.example/operator:v1"
	for name, tc := range map[string]struct {
		j        *backupv1alpha1.JobSpec
		image    string
		pull     corev1.PullPolicy
		deadline int64
	}{
		"nil":  {nil, operator, corev1.PullIfNotPresent, 3600},
		"zero": {&backupv1alpha1.JobSpec{}, operator, corev1.PullIfNotPresent, 3600},
		"set": {&backupv1alpha1.JobSpec{Image: "agent:v2", ImagePullPolicy: corev1.PullAlways, ActiveDeadlineSeconds: ptr.To(int64(60))},
			"agent:v2", corev1.PullAlways, 60},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.j.ImageOr(operator); got != tc.image {
				t.Errorf("ImageOr() = %q, want %q", got, tc.image)
			}
			if got := tc.j.ImagePullPolicyOrDefault(); got != tc.pull {
				t.Errorf("ImagePullPolicyOrDefault() = %q, want %q", got, tc.pull)
			}
			if got := tc.j.ActiveDeadlineSecondsOrDefault(); got != tc.deadline {
				t.Errorf("ActiveDeadlineSecondsOrDefault() = %d, want %d", got, tc.deadline)
			}
		})
	}
	if got := (*backupv1alpha1.JobSpec)(nil).ImageOr(""); got != "" {
		t.Errorf("ImageOr(\"\") with no image = %q, want \"\"", got)
	}
}

func TestOvercloudBackupGetters(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	created := metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}
	for name, tc := range map[string]struct {
		b        *backupv1alpha1.OvercloudBackup
		attempts int32
		deadline time.Duration
		at       time.Time
		deletion backupv1alpha1.DeletionPolicy
	}{
		"nil":  {nil, 3, 6 * time.Hour, time.Time{}, backupv1alpha1.DeletionRetain},
		"zero": {&backupv1alpha1.OvercloudBackup{ObjectMeta: created}, 3, 6 * time.Hour, t0.Add(6 * time.Hour), backupv1alpha1.DeletionRetain},
		"empty job": {&backupv1alpha1.OvercloudBackup{ObjectMeta: created, Spec: backupv1alpha1.OvercloudBackupSpec{Job: &backupv1alpha1.JobSpec{}}},
			3, 6 * time.Hour, t0.Add(6 * time.Hour), backupv1alpha1.DeletionRetain},
		"set": {&backupv1alpha1.OvercloudBackup{ObjectMeta: created, Spec: backupv1alpha1.OvercloudBackupSpec{
			Job: &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(5))}, Deadline: dur(time.Hour), DeletionPolicy: backupv1alpha1.DeletionDelete}},
			5, time.Hour, t0.Add(time.Hour), backupv1alpha1.DeletionDelete},
		"not positive": {&backupv1alpha1.OvercloudBackup{ObjectMeta: created, Spec: backupv1alpha1.OvercloudBackupSpec{
			Job: &backupv1alpha1.JobSpec{MaxAttempts: ptr.To(int32(0))}, Deadline: dur(0)}},
			3, 6 * time.Hour, t0.Add(6 * time.Hour), backupv1alpha1.DeletionRetain},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.b.MaxAttempts(); got != tc.attempts {
				t.Errorf("MaxAttempts() = %d, want %d", got, tc.attempts)
			}
			if got := tc.b.Deadline(); got != tc.deadline {
				t.Errorf("Deadline() = %v, want %v", got, tc.deadline)
			}
			if got := tc.b.DeadlineTime(); !got.Equal(tc.at) {
				t.Errorf("DeadlineTime() = %v, want %v", got, tc.at)
			}
			if got := tc.b.EffectiveDeletionPolicy(); got != tc.deletion {
				t.Errorf("EffectiveDeletionPolicy() = %q, want %q", got, tc.deletion)
			}
		})
	}
}

func TestIsFinished(t *testing.T) {
	cond := func(typ string, s metav1.ConditionStatus) []metav1.Condition {
		return []metav1.Condition{{Type: typ, Status: s}}
	}
	for name, tc := range map[string]struct {
		b    *backupv1alpha1.OvercloudBackup
		want bool
	}{
		"nil":            {nil, false},
		"new":            {&backupv1alpha1.OvercloudBackup{}, false},
		"complete":       {&backupv1alpha1.OvercloudBackup{Status: backupv1alpha1.OvercloudBackupStatus{Conditions: cond(backupv1alpha1.ConditionComplete, metav1.ConditionTrue)}}, true},
		"failed":         {&backupv1alpha1.OvercloudBackup{Status: backupv1alpha1.OvercloudBackupStatus{Conditions: cond(backupv1alpha1.ConditionFailed, metav1.ConditionTrue)}}, true},
		"failed=False":   {&backupv1alpha1.OvercloudBackup{Status: backupv1alpha1.OvercloudBackupStatus{Conditions: cond(backupv1alpha1.ConditionFailed, metav1.ConditionFalse)}}, false},
		"ready, running": {&backupv1alpha1.OvercloudBackup{Status: backupv1alpha1.OvercloudBackupStatus{Conditions: cond(backupv1alpha1.ConditionJobRunning, metav1.ConditionTrue)}}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.b.IsFinished(); got != tc.want {
				t.Errorf("IsFinished() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackupScheduleGetters(t *testing.T) {
	for name, tc := range map[string]struct {
		s                 *backupv1alpha1.BackupSchedule
		suspended         bool
		policy            backupv1alpha1.ConcurrencyPolicy
		succeeded, failed int32
		keepWithin        time.Duration
	}{
		"nil":  {nil, false, backupv1alpha1.ConcurrencyForbid, 7, 3, 0},
		"zero": {&backupv1alpha1.BackupSchedule{}, false, backupv1alpha1.ConcurrencyForbid, 7, 3, 0},
		"set": {&backupv1alpha1.BackupSchedule{Spec: backupv1alpha1.BackupScheduleSpec{
			Suspend: ptr.To(true), ConcurrencyPolicy: backupv1alpha1.ConcurrencyReplace,
			SuccessfulBackupsHistoryLimit: ptr.To(int32(30)), FailedBackupsHistoryLimit: ptr.To(int32(1)), KeepWithin: dur(168 * time.Hour)}},
			true, backupv1alpha1.ConcurrencyReplace, 30, 1, 168 * time.Hour},
		"set to zero": {&backupv1alpha1.BackupSchedule{Spec: backupv1alpha1.BackupScheduleSpec{
			Suspend: ptr.To(false), SuccessfulBackupsHistoryLimit: ptr.To(int32(0)), FailedBackupsHistoryLimit: ptr.To(int32(0)), KeepWithin: dur(0)}},
			false, backupv1alpha1.ConcurrencyForbid, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.s.IsSuspended(); got != tc.suspended {
				t.Errorf("IsSuspended() = %v, want %v", got, tc.suspended)
			}
			if got := tc.s.EffectiveConcurrencyPolicy(); got != tc.policy {
				t.Errorf("EffectiveConcurrencyPolicy() = %q, want %q", got, tc.policy)
			}
			if got := tc.s.SuccessfulHistoryLimit(); got != tc.succeeded {
				t.Errorf("SuccessfulHistoryLimit() = %d, want %d", got, tc.succeeded)
			}
			if got := tc.s.FailedHistoryLimit(); got != tc.failed {
				t.Errorf("FailedHistoryLimit() = %d, want %d", got, tc.failed)
			}
			if got := tc.s.KeepWithin(); got != tc.keepWithin {
				t.Errorf("KeepWithin() = %v, want %v", got, tc.keepWithin)
			}
		})
	}
}

// TestMarkerDefaultsMatchGetters: a +kubebuilder:default marker cannot name a Go constant,
// so the generated CRDs are checked against the Default* constants the getters apply: the
// API server and the controllers can never disagree on a default.
func TestMarkerDefaultsMatchGetters(t *testing.T) {
	for _, tc := range []struct {
		crd  string
		path []string
		want string
	}{
		{"overcloudbackups", []string{"spec", "dump", "method"}, string(backupv1alpha1.DefaultDumpMethod)},
		{"overcloudbackups", []string{"spec", "dump", "compression"}, string(backupv1alpha1.DefaultCompression)},
		{"overcloudbackups", []string{"spec", "dump", "users"}, string(backupv1alpha1.DefaultUsersPolicy)},
		{"overcloudbackups", []string{"spec", "dump", "desync"}, string(backupv1alpha1.DefaultDesyncPolicy)},
		{"overcloudbackups", []string{"spec", "deletionPolicy"}, string(backupv1alpha1.DefaultDeletionPolicy)},
		{"backupschedules", []string{"spec", "concurrencyPolicy"}, string(backupv1alpha1.DefaultConcurrencyPolicy)},
		{"backupschedules", []string{"spec", "backupTemplate", "spec", "dump", "method"}, string(backupv1alpha1.DefaultDumpMethod)},
		{"backupschedules", []string{"spec", "backupTemplate", "spec", "deletionPolicy"}, string(backupv1alpha1.DefaultDeletionPolicy)},
	} {
		t.Run(tc.crd+"."+strings.Join(tc.path, "."), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "backup.overcloud.io_"+tc.crd+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.Unmarshal(data, crd); err != nil {
				t.Fatal(err)
			}
			if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Schema == nil {
				t.Fatalf("want one version with a schema")
			}
			s := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
			for _, p := range tc.path {
				next, ok := s.Properties[p]
				if !ok {
					t.Fatalf("no property %s", p)
				}
				s = &next
			}
			if s.Default == nil || string(s.Default.Raw) != `"`+tc.want+`"` {
				t.Errorf("default = %v, want %q", s.Default, tc.want)
			}
		})
	}
	// The fields that are not policy enums have no API default: only their getter has one.
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "backup.overcloud.io_overclouds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "default:") {
		t.Errorf("the Overcloud CRD has a default: its defaults live in overcloud_funcs.go only")
	}
}

// TestRequests: a request annotation (probe, verify, run-now) is pending until status records its
// value; a value longer than status may hold is recorded by its hash; a schedule's run-now
// child is named from the value.
func TestRequests(t *testing.T) {
	long := strings.Repeat("v", 201)
	tests := []struct {
		name, value, answered string
		wantPending           string
	}{
		{"no annotation", "", "", ""},
		{"new value", "kubectl-ocb-1", "", "kubectl-ocb-1"},
		{"answered", "kubectl-ocb-1", "kubectl-ocb-1", ""},
		{"another value", "kubectl-ocb-2", "kubectl-ocb-1", "kubectl-ocb-2"},
		{"long value", long, "", backupv1alpha1.RequestKey(long)},
		{"long value answered", long, backupv1alpha1.RequestKey(long), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oc := &backupv1alpha1.Overcloud{}
			b := &backupv1alpha1.OvercloudBackup{}
			s := &backupv1alpha1.BackupSchedule{}
			if tt.value != "" {
				oc.Annotations = map[string]string{backupv1alpha1.AnnotationProbe: tt.value}
				b.Annotations = map[string]string{backupv1alpha1.AnnotationVerify: tt.value}
				s.Annotations = map[string]string{backupv1alpha1.AnnotationRunNow: tt.value}
			}
			oc.Status.LastProbeRequest = tt.answered
			b.Status.Verification = &backupv1alpha1.VerificationStatus{Request: tt.answered}
			s.Status.LastRunNow = tt.answered
			if got := oc.ProbeRequest(); got != tt.wantPending {
				t.Errorf("ProbeRequest() = %q, want %q", got, tt.wantPending)
			}
			if got := b.VerifyRequest(); got != tt.wantPending {
				t.Errorf("VerifyRequest() = %q, want %q", got, tt.wantPending)
			}
			// A pending run-now is the value itself, not its key: it names the backup.
			wantRunNow := ""
			if tt.wantPending != "" {
				wantRunNow = tt.value
			}
			if got := s.RunNowRequest(); got != wantRunNow {
				t.Errorf("RunNowRequest() = %q, want %q", got, wantRunNow)
			}
		})
	}
	if k := backupv1alpha1.RequestKey(long); len(k) != len("sha256:")+64 || !strings.HasPrefix(k, "sha256:") {
		t.Errorf("backupv1alpha1.RequestKey of 201 bytes = %q", k)
	}
	if k := backupv1alpha1.RequestKey(strings.Repeat("v", 200)); k != strings.Repeat("v", 200) {
		t.Errorf("backupv1alpha1.RequestKey of 200 bytes changed it")
	}
	s := &backupv1alpha1.BackupSchedule{}
	s.Name = "nightly"
	if a, b := s.RunNowName("x"), s.RunNowName("y"); a == b || !strings.HasPrefix(a, "nightly-r") || len(a) != len("nightly-r")+8 {
		t.Errorf("RunNowName: %q, %q", a, b)
	}
	if (*backupv1alpha1.Overcloud)(nil).ProbeRequest() != "" || (*backupv1alpha1.OvercloudBackup)(nil).VerifyRequest() != "" ||
		(*backupv1alpha1.BackupSchedule)(nil).RunNowRequest() != "" {
		t.Error("nil receivers")
	}
}
