package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file holds the Overcloud's defaults and the getters that apply them: the one place
// a default lives. The controllers, the probe and the commands call the getters; none of
// them re-derives a default. Every getter accepts a nil receiver (an omitted sub-struct).

// Defaults of the Overcloud's fields, applied by the getters below when a field is omitted.
const (
	// DefaultMySQLPort is the port of a node's MariaDB server when nodes[].mysqlPort is omitted.
	DefaultMySQLPort int32 = 3306
	// DefaultSSHPort is the port of a node's sshd when nodes[].sshPort is omitted.
	DefaultSSHPort int32 = 22
	// DefaultUsernameKey is the credentials Secret key holding the database user.
	DefaultUsernameKey = "username"
	// DefaultPasswordKey is the credentials Secret key holding the database password.
	DefaultPasswordKey = "password"
	// DefaultPrivateKeyKey is the SSH Secret key holding the private key (the key of
	// Secrets of type kubernetes.io/ssh-auth).
	DefaultPrivateKeyKey = "ssh-privatekey"
	// DefaultKnownHostsKey is the SSH Secret key holding the known_hosts lines.
	DefaultKnownHostsKey = "known_hosts"
	// DefaultCrmMonCommand is the command run over SSH to read the Pacemaker status.
	DefaultCrmMonCommand = "sudo -n crm_mon --one-shot --inactive --output-as=xml"
	// DefaultHAProxyBackend is the HAProxy proxy name TripleO gives the database.
	DefaultHAProxyBackend = "mysql"
	// DefaultStatsSocketCommand talks to HAProxy's stats socket over SSH.
	DefaultStatsSocketCommand = "sudo -n socat stdio UNIX-CONNECT:{socket}"
	// DefaultConnectTimeout bounds dialling a node's MariaDB and logging in when
	// database.connectTimeout is omitted.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultQueryTimeout bounds each status query of a probe when database.queryTimeout
	// is omitted.
	DefaultQueryTimeout = 5 * time.Second
	// DefaultSSHTimeout bounds connecting and running one command over SSH when
	// ssh.timeout is omitted.
	DefaultSSHTimeout = 10 * time.Second
	// DefaultHAProxyTimeout bounds one request to HAProxy (its stats page, or its stats
	// socket over SSH) when haproxy.timeout is omitted.
	DefaultHAProxyTimeout = 5 * time.Second
	// DefaultMonitoringInterval is how often an Overcloud is probed when
	// spec.monitoring.interval is omitted.
	DefaultMonitoringInterval = 60 * time.Second
)

// MonitoringInterval is spec.monitoring.interval, or its default; 0 means the overcloud
// is probed only when a backup needs it.
func (s *OvercloudSpec) MonitoringInterval() time.Duration {
	if s == nil || s.Monitoring == nil || s.Monitoring.Interval == nil {
		return DefaultMonitoringInterval
	}
	return max(s.Monitoring.Interval.Duration, 0)
}

// MySQLPortOrDefault is nodes[].mysqlPort, or DefaultMySQLPort.
func (n *NodeSpec) MySQLPortOrDefault() int32 {
	if n == nil || n.MySQLPort == nil {
		return DefaultMySQLPort
	}
	return *n.MySQLPort
}

// SSHPortOrDefault is nodes[].sshPort, or DefaultSSHPort.
func (n *NodeSpec) SSHPortOrDefault() int32 {
	if n == nil || n.SSHPort == nil {
		return DefaultSSHPort
	}
	return *n.SSHPort
}

// ConnectTimeoutOrDefault is database.connectTimeout, or DefaultConnectTimeout when it is
// omitted or not positive.
func (d *DatabaseAccess) ConnectTimeoutOrDefault() time.Duration {
	if d == nil {
		return DefaultConnectTimeout
	}
	return positiveOr(d.ConnectTimeout, DefaultConnectTimeout)
}

// QueryTimeoutOrDefault is database.queryTimeout, or DefaultQueryTimeout when it is
// omitted or not positive.
func (d *DatabaseAccess) QueryTimeoutOrDefault() time.Duration {
	if d == nil {
		return DefaultQueryTimeout
	}
	return positiveOr(d.QueryTimeout, DefaultQueryTimeout)
}

// UsernameKeyOrDefault is the Secret key holding the user name: usernameKey, or
// DefaultUsernameKey.
func (c *CredentialsSecretReference) UsernameKeyOrDefault() string {
	if c == nil || c.UsernameKey == "" {
		return DefaultUsernameKey
	}
	return c.UsernameKey
}

// PasswordKeyOrDefault is the Secret key holding the password: passwordKey, or
// DefaultPasswordKey.
func (c *CredentialsSecretReference) PasswordKeyOrDefault() string {
	if c == nil || c.PasswordKey == "" {
		return DefaultPasswordKey
	}
	return c.PasswordKey
}

// PrivateKeyKeyOrDefault is the SSH Secret key holding the private key: privateKeyKey, or
// DefaultPrivateKeyKey.
func (s *SSHAccess) PrivateKeyKeyOrDefault() string {
	if s == nil || s.PrivateKeyKey == "" {
		return DefaultPrivateKeyKey
	}
	return s.PrivateKeyKey
}

// KnownHostsKeyOrDefault is the SSH Secret key holding the known_hosts lines:
// knownHostsKey, or DefaultKnownHostsKey.
func (s *SSHAccess) KnownHostsKeyOrDefault() string {
	if s == nil || s.KnownHostsKey == "" {
		return DefaultKnownHostsKey
	}
	return s.KnownHostsKey
}

// TimeoutOrDefault is ssh.timeout, or DefaultSSHTimeout when it is omitted or not positive.
func (s *SSHAccess) TimeoutOrDefault() time.Duration {
	if s == nil {
		return DefaultSSHTimeout
	}
	return positiveOr(s.Timeout, DefaultSSHTimeout)
}

// CommandOrDefault is pacemaker.command, or DefaultCrmMonCommand.
func (p *PacemakerAccess) CommandOrDefault() string {
	if p == nil || p.Command == "" {
		return DefaultCrmMonCommand
	}
	return p.Command
}

// BackendOrDefault is haproxy.backend, or DefaultHAProxyBackend.
func (h *HAProxyAccess) BackendOrDefault() string {
	if h == nil || h.Backend == "" {
		return DefaultHAProxyBackend
	}
	return h.Backend
}

// TimeoutOrDefault is haproxy.timeout, or DefaultHAProxyTimeout when it is omitted or
// not positive.
func (h *HAProxyAccess) TimeoutOrDefault() time.Duration {
	if h == nil {
		return DefaultHAProxyTimeout
	}
	return positiveOr(h.Timeout, DefaultHAProxyTimeout)
}

// StatsSocketCommandOrDefault is haproxy.statsSocketCommand, or DefaultStatsSocketCommand
// (a template: {socket} stands for statsSocket).
func (h *HAProxyAccess) StatsSocketCommandOrDefault() string {
	if h == nil || h.StatsSocketCommand == "" {
		return DefaultStatsSocketCommand
	}
	return h.StatsSocketCommand
}

// positiveOr is d, or def when d is omitted or not positive.
func positiveOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}

// ProbeRequest is the backup.overcloud.io/probe annotation's value, as RequestKey
// records it, when no probe has answered it yet, else "".
func (o *Overcloud) ProbeRequest() string {
	if o == nil || o.Annotations[AnnotationProbe] == "" {
		return ""
	}
	v := RequestKey(o.Annotations[AnnotationProbe])
	if o.Status.LastProbeRequest == v {
		return ""
	}
	return v
}
