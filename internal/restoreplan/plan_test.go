package restoreplan

import (
	"slices"
	"strings"
	"testing"
)

func nodes() []Node {
	return []Node{{"controller-0", "10.0.0.11", 3306}, {"controller-1", "10.0.0.12", 3306}, {"controller-2", "10.0.0.13", 3306}}
}

func names(steps []Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

func TestPlan(t *testing.T) {
	logical := Input{Mode: Databases, Overcloud: "oc", Backup: "b", Method: Logical, BackupPath: "openstack/b",
		BackupDatabases: []string{"nova", "keystone", "glance"}, Node: "controller-1", Address: "10.0.0.12", Port: 3306,
		Nodes: nodes(), Stamp: "20261205T235900Z"}
	with := func(f func(*Input)) Input { in := logical; f(&in); return in }
	for name, tc := range map[string]struct {
		in      Input
		steps   []string
		dbs     []string
		wantErr string
		check   func(t *testing.T, steps []Step)
	}{
		"databases, all of the backup's, in order": {
			in: logical,
			steps: []string{"hold-backups", "recheck-node", "check-space", "restore-database-1", "restore-database-2", "restore-database-3",
				"prove-controller-0", "prove-controller-1", "prove-controller-2"},
			dbs: []string{"glance", "keystone", "nova"},
			check: func(t *testing.T, steps []Step) {
				c := steps[3].Command
				for _, want := range []string{"agent restore /backup/openstack/b", "--node=controller-1", "--address=10.0.0.12",
					"--database=glance", "--database=nova", "--prove-node=controller-0=10.0.0.11:3306"} {
					if !strings.Contains(c, want) {
						t.Errorf("command %q lacks %q", c, want)
					}
				}
				if strings.Contains(c, "--users") {
					t.Errorf("users not asked for: %q", c)
				}
			},
		},
		"databases, every node's free space checked over SSH": {
			in: with(func(in *Input) {
				in.Asked, in.SpaceCheck, in.SSHUser, in.SSHPort, in.Datadir = []string{"nova"}, true, "tripleo-admin", 2222, "/srv/mysql"
			}),
			steps: []string{"hold-backups", "recheck-node", "check-space", "restore-database-1", "prove-controller-0",
				"prove-controller-1", "prove-controller-2"},
			dbs: []string{"nova"},
			check: func(t *testing.T, steps []Step) {
				if steps[2].Command != "df -Pk -- /srv/mysql" {
					t.Errorf("check-space %q", steps[2].Command)
				}
				if want := "--space-node=controller-0=10.0.0.11 --space-node=controller-1=10.0.0.12 --space-node=controller-2=10.0.0.13 " +
					"--datadir=/srv/mysql --ssh-user=tripleo-admin --ssh-port=2222"; !strings.Contains(steps[3].Command, want) {
					t.Errorf("command %q lacks %q", steps[3].Command, want)
				}
			},
		},
		"one database, with users": {
			in:    with(func(in *Input) { in.Asked, in.Users = []string{"nova"}, true }),
			steps: []string{"hold-backups", "recheck-node", "check-space", "restore-database-1", "restore-users", "prove-controller-0", "prove-controller-1", "prove-controller-2"},
			dbs:   []string{"nova"},
			check: func(t *testing.T, steps []Step) {
				if steps[2].Command != "" || !strings.Contains(steps[2].Description, "Free space is not checked: no SSH access") ||
					strings.Contains(steps[3].Command, "--space-node") {
					t.Errorf("no SSH, no space check: %+v", steps[2])
				}
				if !strings.Contains(steps[3].Command, "--users") || !strings.Contains(steps[3].Description, "`nova`") {
					t.Errorf("step %+v", steps[3])
				}
			},
		},
		"a hostile database name is quoted, in the command and the description": {
			in: with(func(in *Input) {
				in.BackupDatabases = append(in.BackupDatabases, "x'; rm -rf / #`\n")
				in.Asked = []string{"x'; rm -rf / #`\n"}
			}),
			steps: []string{"hold-backups", "recheck-node", "check-space", "restore-database-1", "prove-controller-0", "prove-controller-1", "prove-controller-2"},
			dbs:   []string{"x'; rm -rf / #`\n"},
			check: func(t *testing.T, steps []Step) {
				if !strings.Contains(steps[3].Command, `'--database=x'\''; rm -rf / #`+"`\n'") {
					t.Errorf("command not quoted for a shell: %q", steps[3].Command)
				}
				if strings.ContainsRune(steps[3].Description, '\n') || !strings.Contains(steps[3].Description, "#``?`") {
					t.Errorf("description %q", steps[3].Description)
				}
			},
		},
		"the backup's databases not known: every one of them": {
			in:    with(func(in *Input) { in.BackupDatabases = nil }),
			steps: []string{"hold-backups", "recheck-node", "check-space", "restore-databases", "prove-controller-0", "prove-controller-1", "prove-controller-2"},
		},
		"the backup's databases not known: those asked, checked by the Job": {
			in:    with(func(in *Input) { in.BackupDatabases, in.Asked = nil, []string{"nova", "cinder"} }),
			steps: []string{"hold-backups", "recheck-node", "check-space", "restore-database-1", "restore-database-2", "prove-controller-0", "prove-controller-1", "prove-controller-2"},
			dbs:   []string{"cinder", "nova"},
		},
		"a database not in the backup": {
			in:      with(func(in *Input) { in.Asked = []string{"nova", "cinder", "heat"} }),
			wantErr: "2 of the 3 databases asked for are not in the backup: `cinder`, `heat`",
		},
		"a physical backup": {
			in:      with(func(in *Input) { in.Method = Mariabackup }),
			wantErr: "a Databases restore needs a logical backup",
		},
		"no node to go through": {
			in:      with(func(in *Input) { in.Node = "" }),
			wantErr: "no idle, synced node",
		},
		"an empty backup": {
			in:      with(func(in *Input) { in.BackupDatabases = []string{} }),
			wantErr: "the backup holds no database",
		},
		"an unknown mode": {
			in:      with(func(in *Input) { in.Mode = "Everything" }),
			wantErr: `unknown restore mode "Everything"`,
		},
		"whole cluster, physical, plain clone": {
			in: with(func(in *Input) {
				in.Mode, in.Method, in.ClusterUUID, in.Seqno = WholeCluster, Mariabackup, "39c27411-f0ff-11f1-9d54-e767733f6249", 84341
			}),
			steps: []string{"hold-backups", "check-backup", "check-cluster", "check-space", "stop-galera", "keep-aside-controller-0", "keep-aside-controller-1",
				"keep-aside-controller-2", "copy-back", "write-grastate", "start-galera", "prove-controller-0", "prove-controller-1",
				"prove-controller-2"},
			dbs: []string{"nova", "keystone", "glance"},
			check: func(t *testing.T, steps []Step) {
				for i, want := range map[int]string{
					2: "sudo -n crm_mon --one-shot --inactive --output-as=xml",
					1: "overcloud-backup-operator agent restore-cluster /backup/openstack/b --resource=galera-clone --datadir=/var/lib/mysql " +
						"--stamp=20261205T235900Z --credentials-dir=/etc/overcloud-backup/restore-credentials --node=controller-0=10.0.0.11 " +
						"--node=controller-1=10.0.0.12 --node=controller-2=10.0.0.13 --prove-node=controller-0=10.0.0.11:3306 " +
						"--prove-node=controller-1=10.0.0.12:3306 --prove-node=controller-2=10.0.0.13:3306",
					3: "df -Pk -- /var/lib /var/lib/mysql",
					4: "sudo -n crm_resource --resource galera-clone --meta --set-parameter target-role --parameter-value Stopped",
					5: "sudo -n mv -T -- /var/lib/mysql /var/lib/mysql.before-restore-20261205T235900Z && sudo -n mkdir -m 0750 -- " +
						"/var/lib/mysql && sudo -n chown -R --reference=/var/lib/mysql.before-restore-20261205T235900Z -- /var/lib/mysql",
					8:  "<restore Job> | sudo -n mbstream -x -C /var/lib/mysql && sudo -n mariadb-backup --prepare --target-dir=/var/lib/mysql",
					10: "sudo -n crm_resource --resource galera-clone --meta --set-parameter target-role --parameter-value Started",
				} {
					if steps[i].Command != want {
						t.Errorf("step %s: %q, want %q", steps[i].Name, steps[i].Command, want)
					}
				}
				if !strings.Contains(steps[9].Command, `uuid:    39c27411-f0ff-11f1-9d54-e767733f6249\nseqno:   84341\nsafe_to_bootstrap: 1`) ||
					!strings.HasSuffix(steps[9].Command, "| sudo -n tee -- /var/lib/mysql/grastate.dat && sudo -n chown -R "+
						"--reference=/var/lib/mysql.before-restore-20261205T235900Z -- /var/lib/mysql") {
					t.Errorf("grastate: %q", steps[9].Command)
				}
			},
		},
		"whole cluster, logical, plain clone": {
			in: with(func(in *Input) {
				in.Mode, in.ClusterUUID, in.Seqno = WholeCluster, "39c27411-f0ff-11f1-9d54-e767733f6249", 84341
			}),
			steps: []string{"hold-backups", "check-backup", "check-cluster", "check-space", "stop-galera", "keep-aside-controller-0",
				"keep-aside-controller-1", "keep-aside-controller-2", "initialise", "start-galera", "import", "prove-controller-0",
				"prove-controller-1", "prove-controller-2"},
			dbs: []string{"nova", "keystone", "glance"},
			check: func(t *testing.T, steps []Step) {
				for i, want := range map[int]string{
					8: "sudo -n mariadb-install-db --datadir=/var/lib/mysql --user=mysql --skip-test-db && printf '# GALERA saved state\\nversion: " +
						"2.1\\nuuid:    39c27411-f0ff-11f1-9d54-e767733f6249\\nseqno:   84341\\nsafe_to_bootstrap: 1\\n' | sudo -n tee -- " +
						"/var/lib/mysql/grastate.dat && sudo -n chown -R --reference=/var/lib/mysql.before-restore-20261205T235900Z -- /var/lib/mysql",
					9:  "sudo -n crm_resource --resource galera-clone --meta --set-parameter target-role --parameter-value Started",
					10: "<restore Job: databases.sql, users.sql> | sudo -n mariadb --user=root --binary-mode --default-character-set=utf8mb4 --batch",
				} {
					if steps[i].Command != want {
						t.Errorf("step %s: %q, want %q", steps[i].Name, steps[i].Command, want)
					}
				}
				if !strings.HasPrefix(steps[1].Command, "overcloud-backup-operator agent restore-cluster /backup/openstack/b ") ||
					!strings.Contains(steps[3].Description, "twice its uncompressed SQL") {
					t.Errorf("check-backup %q; check-space %q", steps[1].Command, steps[3].Description)
				}
			},
		},
		"whole cluster, logical, TripleO bundle": {
			in: with(func(in *Input) { in.Mode, in.Bundle, in.GaleraResource = WholeCluster, true, "galera-bundle" }),
			steps: []string{"hold-backups", "check-backup", "check-cluster", "check-space", "stop-galera", "keep-aside-controller-0",
				"keep-aside-controller-1", "keep-aside-controller-2", "initialise", "start-galera", "import", "prove-controller-0",
				"prove-controller-1", "prove-controller-2"},
			dbs: []string{"nova", "keystone", "glance"},
			check: func(t *testing.T, steps []Step) {
				const image = "sudo -n podman run --rm -i --net=none --user=root -v /var/lib/mysql:/var/lib/mysql:z '<galera image>' "
				if steps[4].Command != "sudo -n crm_resource --resource galera-bundle --meta --set-parameter target-role --parameter-value Stopped" ||
					!strings.HasPrefix(steps[8].Command, image+"mariadb-install-db --datadir=/var/lib/mysql --user=mysql --skip-test-db && ") {
					t.Errorf("bundle commands: %q, %q", steps[4].Command, steps[8].Command)
				}
				if want := "<restore Job: databases.sql, users.sql> | " + image + "mariadb --user=root --binary-mode " +
					"--default-character-set=utf8mb4 --batch --socket=/var/lib/mysql/mysql.sock"; steps[10].Command != want {
					t.Errorf("import %q, want %q", steps[10].Command, want)
				}
				if !strings.Contains(steps[8].Command, `uuid:    00000000-0000-0000-0000-000000000000\nseqno:   -1\nsafe_to_bootstrap: 1`) {
					t.Errorf("a backup with no position initialises a new cluster: %q", steps[8].Command)
				}
				for _, s := range steps {
					if strings.Contains(s.Command, "password") {
						t.Errorf("step %s names a password: %q", s.Name, s.Command)
					}
				}
			},
		},
		"whole cluster, physical, TripleO bundle with its image and a datadir": {
			in: with(func(in *Input) {
				in.Mode, in.Method, in.Bundle, in.GaleraResource = WholeCluster, Mariabackup, true, "galera-bundle"
				in.GaleraImage, in.Datadir, in.ClusterUUID = "registry.example/tripleo/mariadb:17.1", "/srv/galera/data", "39c27411-f0ff-11f1-9d54-e767733f6249"
			}),
			steps: []string{"hold-backups", "check-backup", "check-cluster", "check-space", "stop-galera", "keep-aside-controller-0", "keep-aside-controller-1",
				"keep-aside-controller-2", "copy-back", "write-grastate", "start-galera", "prove-controller-0", "prove-controller-1",
				"prove-controller-2"},
			dbs: []string{"nova", "keystone", "glance"},
			check: func(t *testing.T, steps []Step) {
				if want := "<restore Job> | sudo -n podman run --rm -i --net=none --user=root -v /srv/galera/data:/srv/galera/data:z " +
					"registry.example/tripleo/mariadb:17.1 mbstream -x -C /srv/galera/data && sudo -n podman run --rm -i --net=none " +
					"--user=root -v /srv/galera/data:/srv/galera/data:z registry.example/tripleo/mariadb:17.1 mariadb-backup --prepare " +
					"--target-dir=/srv/galera/data"; steps[8].Command != want {
					t.Errorf("copy-back %q, want %q", steps[8].Command, want)
				}
				if !strings.Contains(steps[1].Command, "--bundle --galera-image=registry.example/tripleo/mariadb:17.1") ||
					steps[3].Command != "df -Pk -- /srv/galera /srv/galera/data" {
					t.Errorf("%q, %q", steps[1].Command, steps[3].Command)
				}
			},
		},
		"whole cluster, a hostile datadir": {
			in:      with(func(in *Input) { in.Mode, in.Method, in.Datadir = WholeCluster, Mariabackup, "/var/lib/my sql;reboot" }),
			wantErr: "is not a clean absolute path",
		},
		"whole cluster, a stamp that is not a time": {
			in:      with(func(in *Input) { in.Mode, in.Method, in.Stamp = WholeCluster, Mariabackup, "1 /etc" }),
			wantErr: "is not a UTC time",
		},
		"whole cluster without a stamp": {
			in:      with(func(in *Input) { in.Mode, in.Stamp = WholeCluster, "" }),
			wantErr: "no time stamp",
		},
	} {
		t.Run(name, func(t *testing.T) {
			steps, dbs, err := Plan(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(steps); !slices.Equal(got, tc.steps) {
				t.Errorf("steps %v, want %v", got, tc.steps)
			}
			if !slices.Equal(dbs, tc.dbs) {
				t.Errorf("databases %v, want %v", dbs, tc.dbs)
			}
			for _, s := range steps {
				if s.Description == "" || len(s.Name) > 63 {
					t.Errorf("step %+v: no description, or a name too long for the API", s)
				}
			}
			if tc.check != nil {
				tc.check(t, steps)
			}
		})
	}
}

func TestShellJoin(t *testing.T) {
	for in, want := range map[string]string{
		"plain-word_1.2/x=y:z": "plain-word_1.2/x=y:z",
		"two words":            "'two words'",
		"it's":                 `'it'\''s'`,
		"$(reboot)":            "'$(reboot)'",
		"":                     "''",
		Password:               Password,
		"<galera image>":       "'<galera image>'",
	} {
		if got := shellJoin([]string{in}); got != want {
			t.Errorf("shellJoin(%q) = %q, want %q", in, got, want)
		}
	}
}
