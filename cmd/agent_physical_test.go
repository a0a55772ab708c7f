package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

func TestPhysicalFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want agent.PhysicalConfig
	}{
		{"defaults", nil, agent.PhysicalConfig{
			SSHPort: 22, SSHTimeout: 10 * time.Second, Command: agent.DefaultMariabackupCommand,
			KeyFile: "/etc/overcloud-backup/ssh/ssh-privatekey", KnownHostsFile: "/etc/overcloud-backup/ssh/known_hosts",
		}},
		{"set", []string{"--ssh-dir=/run/ssh", "--ssh-user=tripleo-admin", "--ssh-port=2222", "--ssh-timeout=3s",
			"--mariabackup-command=sudo -n podman exec galera mariadb-backup --defaults-extra-file={defaultsFile}"},
			agent.PhysicalConfig{
				SSHUser: "tripleo-admin", SSHPort: 2222, SSHTimeout: 3 * time.Second,
				Command: "sudo -n podman exec galera mariadb-backup --defaults-extra-file={defaultsFile}",
				KeyFile: "/run/ssh/ssh-privatekey", KnownHostsFile: "/run/ssh/known_hosts",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p agent.PhysicalConfig
			f := pflag.NewFlagSet("dump", pflag.ContinueOnError)
			addPhysicalFlags(f, &p)
			if err := f.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if p != tt.want {
				t.Errorf("got %+v\nwant %+v", p, tt.want)
			}
			if d := f.Lookup("ssh-dir"); d.DefValue != defaultSSHDir {
				t.Errorf("--ssh-dir default shown as %q", d.DefValue)
			}
		})
	}
}
