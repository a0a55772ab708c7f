package agent

import (
	"context"
	"errors"
	"time"
)

// Dump methods, as in the API's dump.method.
const (
	Logical     = "Logical"
	Mariabackup = "Mariabackup"
)

// PhysicalConfig is what the Mariabackup method needs: SSH access to the selected node
// and the command that writes an xbstream to stdout there.
type PhysicalConfig struct {
	// SSHUser, SSHPort, KeyFile and KnownHostsFile reach the node's sshd.
	SSHUser        string
	SSHPort        int
	KeyFile        string
	KnownHostsFile string
	SSHTimeout     time.Duration
	// Command is the command template run on the node (see the API's mariabackupCommand).
	Command string
}

// check refuses a configuration the method cannot run with, before anything is touched.
func (p PhysicalConfig) check() error {
	return errors.New("not built yet; only Logical dumps are")
}

// physicalBackup streams mariadb-backup's xbstream from the node into the artifact and
// returns the exact Galera position it recorded and the tool's version.
func physicalBackup(_ context.Context, _ Config, _ *Artifact) (*Position, string, error) {
	return nil, "", errors.New("method Mariabackup: not built yet; only Logical dumps are")
}
