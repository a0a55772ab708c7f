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
	addSSHFlags(f, p, "Method Mariabackup: ")
	f.StringVar(&p.Command, "mariabackup-command", agent.DefaultMariabackupCommand,
		"Method Mariabackup: command run on the node, writing an xbstream to stdout; "+agent.DefaultsFilePlaceholder+
			" is the client defaults file with the credentials (see the API's mariabackupCommand).")
}

// addSSHFlags adds the flags that reach the nodes over SSH (`agent dump
// --method=Mariabackup`, `agent restore-cluster`), each usage headed by what.
func addSSHFlags(f *pflag.FlagSet, p *agent.PhysicalConfig, what string) {
	dir := &sshDirValue{p: p}
	_ = dir.Set(defaultSSHDir)
	f.Var(dir, "ssh-dir", what+"directory with the SSH private key ("+backupv1alpha1.DefaultPrivateKeyKey+
		") and the nodes' host keys ("+backupv1alpha1.DefaultKnownHostsKey+"), a Secret volume. Host keys are always verified.")
	f.StringVar(&p.SSHUser, "ssh-user", "", what+"login user on the node.")
	f.IntVar(&p.SSHPort, "ssh-port", int(backupv1alpha1.DefaultSSHPort), what+"port of the node's sshd.")
	f.DurationVar(&p.SSHTimeout, "ssh-timeout", 10*time.Second,
		what+"bound of connecting to the node's sshd (what runs there is bounded by the Job's deadline).")
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
