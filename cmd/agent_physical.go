package main

import (
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// defaultSSHDir is where the Job mounts the SSH Secret.
const defaultSSHDir = "/etc/overcloud-backup/ssh"

// addPhysicalFlags adds the flags of the Mariabackup method of `agent dump`. The SSH
// key and known_hosts come from a directory (the SSH Secret's volume, with its keys
// ssh-privatekey and known_hosts), never from the command line.
func addPhysicalFlags(f *pflag.FlagSet, p *agent.PhysicalConfig) {
	dir := &sshDirValue{p: p}
	_ = dir.Set(defaultSSHDir)
	f.Var(dir, "ssh-dir", "Method Mariabackup: directory with the SSH private key ("+backupv1alpha1.DefaultPrivateKeyKey+
		") and the nodes' host keys ("+backupv1alpha1.DefaultKnownHostsKey+"), a Secret volume. Host keys are always verified.")
	f.StringVar(&p.SSHUser, "ssh-user", "", "Method Mariabackup: login user on the node.")
	f.IntVar(&p.SSHPort, "ssh-port", int(backupv1alpha1.DefaultSSHPort), "Method Mariabackup: port of the node's sshd.")
	f.DurationVar(&p.SSHTimeout, "ssh-timeout", 10*time.Second,
		"Method Mariabackup: bound of connecting to the node's sshd (the backup itself is bounded by the Job's deadline).")
	f.StringVar(&p.Command, "mariabackup-command", agent.DefaultMariabackupCommand,
		"Method Mariabackup: command run on the node, writing an xbstream to stdout; "+agent.DefaultsFilePlaceholder+
			" is the client defaults file with the credentials (see the API's mariabackupCommand).")
}

// sshDirValue is --ssh-dir: setting it names the two files in it.
type sshDirValue struct {
	p   *agent.PhysicalConfig
	dir string
}

func (v *sshDirValue) String() string { return v.dir }

func (v *sshDirValue) Set(dir string) error {
	v.dir = dir
	v.p.KeyFile = filepath.Join(dir, backupv1alpha1.DefaultPrivateKeyKey)
	v.p.KnownHostsFile = filepath.Join(dir, backupv1alpha1.DefaultKnownHostsKey)
	return nil
}

func (v *sshDirValue) Type() string { return "dir" }
