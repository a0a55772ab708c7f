package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OvercloudSpec describes the OpenStack overcloud whose database is backed up, how the
// operator reaches its Galera nodes, Pacemaker and HAProxy, and how often it watches them.
// +kubebuilder:validation:XValidation:rule="self.nodes.all(n, self.nodes.exists_one(m, m.name == n.name))",message="node names must be unique",fieldPath=".nodes"
// +kubebuilder:validation:XValidation:rule="self.nodes.all(n, self.nodes.exists_one(m, m.address == n.address && (has(m.mysqlPort) ? m.mysqlPort : 3306) == (has(n.mysqlPort) ? n.mysqlPort : 3306)))",message="two nodes cannot share the same address and MySQL port",fieldPath=".nodes"
// +kubebuilder:validation:XValidation:rule="!has(self.pacemaker) || has(self.ssh)",message="pacemaker access needs ssh access: set ssh",fieldPath=".pacemaker"
// +kubebuilder:validation:XValidation:rule="!has(self.haproxy) || !has(self.haproxy.statsSocket) || has(self.ssh)",message="haproxy.statsSocket is read over SSH: set ssh",fieldPath=".haproxy.statsSocket"
type OvercloudSpec struct {
	// nodes lists the hosts running a Galera node of the database cluster: the
	// controllers, or dedicated database nodes. Between 1 and 16 nodes, unique names.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Nodes []NodeSpec `json:"nodes"`

	// databaseVIP is the virtual IP address clients use to reach the database
	// (the IPaddr2 resource Pacemaker moves between nodes). Recorded to find the VIP
	// holder; the backup never connects to it.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self) && !ip(self).isUnspecified()",message="databaseVIP must be an IP address"
	DatabaseVIP string `json:"databaseVIP,omitempty"`

	// database says how to log in to the MariaDB servers of the nodes.
	// +required
	Database DatabaseAccess `json:"database"`

	// ssh says how to reach the nodes over SSH. Needed to read the Pacemaker status
	// and for the mariabackup method.
	// +optional
	SSH *SSHAccess `json:"ssh,omitempty"`

	// pacemaker says how to read the Pacemaker cluster status (crm_mon XML over SSH).
	// When omitted, node selection uses Galera (and HAProxy, if given) alone.
	// +optional
	Pacemaker *PacemakerAccess `json:"pacemaker,omitempty"`

	// haproxy says how to read HAProxy's view of the database backend: which node
	// serves clients. When omitted, the node with clearly the most client connections
	// is taken as the active one.
	// +optional
	HAProxy *HAProxyAccess `json:"haproxy,omitempty"`

	// monitoring says how often the operator probes the overcloud between backups.
	// +optional
	Monitoring *MonitoringSpec `json:"monitoring,omitempty"`

	// restore says where galera keeps its data on the nodes, for a WholeCluster
	// OvercloudRestore (which reaches the nodes over spec.ssh, through sudo, and stops and
	// starts galera through Pacemaker: spec.pacemaker). When omitted, /var/lib/mysql.
	// +optional
	Restore *RestoreAccess `json:"restore,omitempty"`
}

// RestoreAccess is where galera keeps its data on the nodes, and the image its tools run
// in on a containerised overcloud.
type RestoreAccess struct {
	// datadir is galera's datadir on every node: the galera resource's datadir parameter
	// (TripleO's bundle bind-mounts the host's /var/lib/mysql there). A WholeCluster restore
	// keeps it aside as <datadir>.before-restore-<time> on every node; a Databases restore
	// checks its free space over spec.ssh. When omitted, /var/lib/mysql.
	// +optional
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$`
	Datadir string `json:"datadir,omitempty"`

	// galeraImage is the galera container image of a TripleO galera-bundle (as `podman
	// inspect` shows it on a controller): with galera stopped, mbstream and mariadb-backup
	// --prepare (a logical backup: mariadb-install-db, then the mariadb client) run in a
	// throwaway container of it, the same MariaDB as the cluster's.
	// Needed for a WholeCluster restore when the galera resource is a bundle.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_./:@-]*$`
	GaleraImage string `json:"galeraImage,omitempty"`
}

// NodeSpec is one host running a Galera node.
type NodeSpec struct {
	// name is the node's name as Pacemaker knows it (for example "controller-0").
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	Name string `json:"name"`

	// address is the node's IP address or DNS name on the network the operator reaches
	// (usually the internal API network).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="isIP(self) ? !ip(self).isUnspecified() : self.matches('^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$')",message="address must be an IP address (not 0.0.0.0 or ::) or a DNS name"
	Address string `json:"address"`

	// mysqlPort is the port of the node's MariaDB server. When omitted, 3306.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	MySQLPort *int32 `json:"mysqlPort,omitempty"`

	// sshPort is the port of the node's sshd. When omitted, 22.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	SSHPort *int32 `json:"sshPort,omitempty"`
}

// DatabaseAccess says how to log in to MariaDB.
type DatabaseAccess struct {
	// credentialsSecret names the Secret, in the backup's namespace, holding the
	// database user and password. The user needs RELOAD, PROCESS, LOCK TABLES, SELECT,
	// SHOW VIEW, EVENT, TRIGGER and, for the desync guard, SUPER or BINLOG ADMIN.
	// +required
	CredentialsSecret CredentialsSecretReference `json:"credentialsSecret"`

	// tls configures TLS to MariaDB. When omitted, connections are not encrypted.
	// +optional
	TLS *DatabaseTLS `json:"tls,omitempty"`

	// connectTimeout bounds dialling a node and logging in. When omitted, 5s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5m')",message="connectTimeout must be more than 0s and at most 5m"
	ConnectTimeout *metav1.Duration `json:"connectTimeout,omitempty"`

	// queryTimeout bounds each status query of a probe. When omitted, 5s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5m')",message="queryTimeout must be more than 0s and at most 5m"
	QueryTimeout *metav1.Duration `json:"queryTimeout,omitempty"`
}

// CredentialsSecretReference names a Secret with a user name and a password.
type CredentialsSecretReference struct {
	// name of the Secret, in the same namespace as the object referring to it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// usernameKey is the key holding the user name. When omitted, "username".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	UsernameKey string `json:"usernameKey,omitempty"`

	// passwordKey is the key holding the password. When omitted, "password".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	PasswordKey string `json:"passwordKey,omitempty"`
}

// TLSMode is how strictly TLS to MariaDB is required and verified.
// +kubebuilder:validation:Enum=Preferred;Required;VerifyCA;VerifyFull
type TLSMode string

const (
	// TLSPreferred uses TLS when the server offers it, without verifying the certificate.
	TLSPreferred TLSMode = "Preferred"
	// TLSRequired requires TLS without verifying the certificate.
	TLSRequired TLSMode = "Required"
	// TLSVerifyCA requires TLS and a certificate signed by the given CA.
	TLSVerifyCA TLSMode = "VerifyCA"
	// TLSVerifyFull requires TLS, a certificate signed by the given CA, and a
	// certificate name that matches the node's address.
	TLSVerifyFull TLSMode = "VerifyFull"
)

// DatabaseTLS configures TLS to the MariaDB servers.
// +kubebuilder:validation:XValidation:rule="!(self.mode in ['VerifyCA', 'VerifyFull']) || has(self.caSecret)",message="caSecret is required when mode is VerifyCA or VerifyFull",fieldPath=".caSecret"
type DatabaseTLS struct {
	// mode says how strictly TLS is required and verified.
	// +required
	Mode TLSMode `json:"mode"`

	// caSecret selects the Secret key holding the PEM CA bundle that signs the
	// servers' certificates.
	// +optional
	CASecret *SecretKeyReference `json:"caSecret,omitempty"`
}

// SecretKeyReference selects one key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key in the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// SSHAccess says how to reach the nodes over SSH.
type SSHAccess struct {
	// secretName names the Secret holding the private key and the known_hosts lines
	// that pin the nodes' host keys. Host keys are always verified.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	SecretName string `json:"secretName"`

	// privateKeyKey is the Secret key holding the private key. When omitted,
	// "ssh-privatekey".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	PrivateKeyKey string `json:"privateKeyKey,omitempty"`

	// knownHostsKey is the Secret key holding the known_hosts lines. When omitted,
	// "known_hosts".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	KnownHostsKey string `json:"knownHostsKey,omitempty"`

	// user is the login user on the nodes (TripleO: "tripleo-admin" or "heat-admin").
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_-]*$`
	User string `json:"user"`

	// timeout bounds connecting and running one command. When omitted, 10s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('10m')",message="timeout must be more than 0s and at most 10m"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// PacemakerAccess says how to read the Pacemaker cluster status.
type PacemakerAccess struct {
	// command is run on a node over SSH and must print crm_mon's XML status. When
	// omitted, "sudo -n crm_mon --one-shot --inactive --output-as=xml".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Command string `json:"command,omitempty"`

	// galeraResource is the id of the promotable galera resource or bundle. When
	// omitted, "galera-bundle" and then "galera" are looked for.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	GaleraResource string `json:"galeraResource,omitempty"`

	// vipResource is the id of the IPaddr2 resource holding the database VIP. When
	// omitted, "ip-<databaseVIP>" as TripleO names it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	VIPResource string `json:"vipResource,omitempty"`
}

// HAProxyAccess says how to read HAProxy's view of the database backend.
// +kubebuilder:validation:XValidation:rule="has(self.statsURL) || has(self.statsSocket)",message="set statsURL, statsSocket or both"
type HAProxyAccess struct {
	// statsURL is HAProxy's stats page (TripleO: http://<vip>:1993/). Its CSV export
	// gives each server's state and current sessions.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="statsURL must be an http or https URL with a host"
	StatsURL string `json:"statsURL,omitempty"`

	// statsSocket is the path of HAProxy's stats socket on the node holding the
	// database VIP (TripleO: /var/lib/haproxy/stats), read over SSH. Its "show table"
	// gives the stick table that pins clients to the active node: the strongest signal
	// of which node serves clients. Needs overcloud.ssh.
	// +optional
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._/-]+$`
	StatsSocket string `json:"statsSocket,omitempty"`

	// statsSocketCommand is run over SSH to talk to the stats socket: it reads HAProxy
	// runtime commands on stdin and prints the answers. {socket} is replaced by
	// statsSocket. When omitted, "sudo -n socat stdio UNIX-CONNECT:{socket}".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	StatsSocketCommand string `json:"statsSocketCommand,omitempty"`

	// credentialsSecret names a Secret with the stats page's basic-auth user and
	// password (TripleO protects it so).
	// +optional
	CredentialsSecret *CredentialsSecretReference `json:"credentialsSecret,omitempty"`

	// backend is the name of HAProxy's proxy for the database. When omitted, "mysql".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.:-]+$`
	Backend string `json:"backend,omitempty"`

	// timeout bounds one request. When omitted, 5s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5m')",message="timeout must be more than 0s and at most 5m"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// MonitoringSpec says how often the overcloud is watched.
type MonitoringSpec struct {
	// interval between two probes of the overcloud, each jittered by up to a tenth of it.
	// "0s" probes only when a backup needs it. Default 60s; at least 1s otherwise.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || duration(self) >= duration('1s')",message="monitoring.interval must be 0s (no watch) or at least 1s"
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// BackupRecord names one backup of the overcloud and when it ended.
type BackupRecord struct {
	// name of the OvercloudBackup, in the overcloud's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// phase of the backup when it was recorded.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`

	// time the backup ended (or was created, while it runs).
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// OvercloudStatus is what the last probe of the overcloud found, and its last backups.
type OvercloudStatus struct {
	// observedGeneration is the generation the last probe used.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (probed, and a backup could run now), Degraded (a node not
	// synced, no quorum, a split brain, Pacemaker or HAProxy unreadable) and
	// ReferencesResolved (the Secrets it names).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// nodes is the node table of the last probe, with the same rows and reasons a
	// backup records.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Nodes []NodeStatus `json:"nodes,omitempty"`

	// activeNode is the node serving clients, by the strongest signal available.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	ActiveNode string `json:"activeNode,omitempty"`

	// activeSource says which signal named the active node.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ActiveSource string `json:"activeSource,omitempty"`

	// vipNode is the node holding the database VIP, per Pacemaker.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	VIPNode string `json:"vipNode,omitempty"`

	// backupFrom is the node a backup would be taken from now, "" when none may be.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	BackupFrom string `json:"backupFrom,omitempty"`

	// reason explains backupFrom, or why no node may be used.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`

	// pacemaker and haproxy say how reading them went ("" when not configured).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Pacemaker string `json:"pacemaker,omitempty"`

	// haproxy says how reading HAProxy went ("" when not configured).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	HAProxy string `json:"haproxy,omitempty"`

	// clusterStateUUID is the Galera cluster's identity (wsrep_cluster_state_uuid) as
	// its primary component reports it. Backups are queued by it: one backup at a time
	// per Galera cluster, whatever objects name it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ClusterStateUUID string `json:"clusterStateUUID,omitempty"`

	// clusterSize is the primary component's size (wsrep_cluster_size).
	// +optional
	// +kubebuilder:validation:Minimum=0
	ClusterSize int32 `json:"clusterSize,omitempty"`

	// synced counts the nodes that are synced members of the primary component, out of
	// the nodes listed (for example "3/3").
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Synced string `json:"synced,omitempty"`

	// lastProbeTime is when the last probe written started. A probe that changed only
	// traffic counters (lastCommitted, flow control, receive queue, client connections,
	// HAProxy sessions) is written once this is 5 minutes old; any other change at once.
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`

	// lastProbeDuration is how long the last probe took.
	// +optional
	LastProbeDuration *metav1.Duration `json:"lastProbeDuration,omitempty"`

	// lastProbeRequest is the last value of the backup.overcloud.io/probe annotation
	// answered (a value over 200 bytes as "sha256:<hex>" of it): the probe in status
	// started after that value was seen, or, when no probe could run, the Ready
	// condition says why.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LastProbeRequest string `json:"lastProbeRequest,omitempty"`

	// lastBackup is the newest backup that names this overcloud.
	// +optional
	LastBackup *BackupRecord `json:"lastBackup,omitempty"`

	// lastSuccessfulBackup is the newest backup of this overcloud that succeeded.
	// +optional
	LastSuccessfulBackup *BackupRecord `json:"lastSuccessfulBackup,omitempty"`

	// lastVerifiedBackup is the newest backup of this overcloud a restore drill proved
	// (its time is the drill's completion).
	// +optional
	LastVerifiedBackup *BackupRecord `json:"lastVerifiedBackup,omitempty"`
}

// Overcloud is an OpenStack overcloud whose MariaDB/Galera database is backed up: how to
// reach its Galera nodes, Pacemaker and HAProxy, described once and watched continuously.
// OvercloudBackups and BackupSchedules name it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ovc,categories=overcloud-backup
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeNode`
// +kubebuilder:printcolumn:name="Backup-From",type=string,JSONPath=`.status.backupFrom`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.synced`
// +kubebuilder:printcolumn:name="Last-Success",type=date,JSONPath=`.status.lastSuccessfulBackup.time`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.status.clusterStateUUID`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`,priority=1
type Overcloud struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says how to reach the overcloud and how often to watch it.
	// +required
	Spec OvercloudSpec `json:"spec"`

	// status is what the last probe found.
	// +optional
	Status OvercloudStatus `json:"status,omitempty"`
}

// OvercloudList is a list of Overclouds.
//
// +kubebuilder:object:root=true
type OvercloudList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Overclouds.
	Items []Overcloud `json:"items"`
}
