package main

import (
	"strings"
	"testing"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// logicalBackupFor is a committed backup whose manifest says it is a logical backup of
// nova and keystone at a Galera position.
func logicalBackupFor(t *testing.T) string {
	t.Helper()
	a, err := agent.Begin(t.TempDir(), "openstack", "nightly")
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Create("databases.sql", agent.Zstd, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("-- a dump\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dir, err := a.Commit(&agent.Manifest{Backup: agent.Identity{Namespace: "openstack", Name: "nightly"},
		Options:   agent.Options{Method: agent.Logical},
		Databases: []agent.Database{{Name: "nova"}, {Name: "keystone"}},
		Position:  &agent.Position{ClusterUUID: "39c27411-f0ff-11f1-9d54-e767733f6249", Seqno: 42}})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRestorePlanCommand(t *testing.T) {
	dir := logicalBackupFor(t)
	nodes := []string{"--node", "controller-0=10.0.0.11", "--node", "controller-1=10.0.0.12:3307", "--node", "controller-2=10.0.0.13"}
	out, err := runCLI(t, append([]string{"restore", "plan", dir, "--through", "controller-1", "--database", "nova"}, nodes...)...)
	if err != nil {
		t.Fatalf("restore plan: %v\n%s", err, out)
	}
	for _, want := range []string{
		"1. hold-backups\n",
		"3. check-space\n   Free space is not checked: no --ssh-user to reach the nodes",
		"4. restore-database-1 [controller-1]\n   Drop database `nova`",
		"$ overcloud-backup-operator agent restore /backup/openstack/nightly --node=controller-1 --address=10.0.0.12 --port=3307",
		"7. prove-controller-2 [controller-2]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)

	out, err = runCLI(t, append([]string{"restore", "plan", dir, "--through", "controller-1", "--ssh-user", "tripleo-admin"}, nodes...)...)
	if err != nil || !strings.Contains(out, "$ df -Pk -- /var/lib/mysql") ||
		!strings.Contains(out, "--space-node=controller-0=10.0.0.11 --space-node=controller-1=10.0.0.12 --space-node=controller-2=10.0.0.13 "+
			"--datadir=/var/lib/mysql --ssh-user=tripleo-admin") {
		t.Fatalf("databases, the nodes' space checked: %v\n%s", err, out)
	}

	out, err = runCLI(t, append([]string{"restore", "plan", dir, "--mode", "WholeCluster", "--galera-resource", "galera-bundle",
		"--datadir", "/srv/mysql", "--galera-image", "registry.example/openstack-mariadb:17.1"}, nodes...)...)
	if err != nil || !strings.Contains(out, "crm_resource --resource galera-bundle --meta --set-parameter target-role --parameter-value Stopped") ||
		!strings.Contains(out, "podman run --rm -i --net=none --user=root -v /srv/mysql:/srv/mysql:z registry.example/openstack-mariadb:17.1 mariadb-install-db") ||
		!strings.Contains(out, "sudo -n mv -T -- /srv/mysql /srv/mysql.before-restore-") {
		t.Fatalf("whole cluster: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--through", "controller-1"}, "no --node"},
		{append([]string{"--through", "controller-9"}, nodes...), `--through "controller-9" is not one of the --node names`},
		{append([]string{"--through", "controller-1", "--database", "cinder"}, nodes...), "1 of the 1 databases asked for are not in the backup: `cinder`"},
		{append([]string{"--through", "controller-1", "--node", "controller-3=10.0.0.14:http"}, nodes...), `"http" is not a port`},
		{[]string{"--node", "controller-0"}, "want name=address[:port]"},
	} {
		if out, err := runCLI(t, append([]string{"restore", "plan", dir}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("restore plan %v: %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
}
