package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DumpMethod is how the database is copied.
// +kubebuilder:validation:Enum=Logical;Mariabackup
type DumpMethod string

const (
	// DumpLogical runs mariadb-dump against the selected node: portable SQL, any
	// subset of databases.
	DumpLogical DumpMethod = "Logical"
	// DumpMariabackup runs mariadb-backup on the selected node over SSH and streams
	// the physical copy back: faster to take and restore, whole instance only.
	DumpMariabackup DumpMethod = "Mariabackup"
)

// Compression is the algorithm that compresses the backup files.
// +kubebuilder:validation:Enum=zstd;gzip;none
type Compression string

const (
	// CompressionZstd is multi-threaded zstd (.zst): the default.
	CompressionZstd Compression = "zstd"
	// CompressionGzip is parallel gzip (.gz), for tools that only read gzip.
	CompressionGzip Compression = "gzip"
	// CompressionNone writes the files uncompressed.
	CompressionNone Compression = "none"
)

// DesyncPolicy says whether the node is desynced from the cluster during the dump.
// +kubebuilder:validation:Enum=Enabled;Disabled
type DesyncPolicy string

const (
	// DesyncEnabled sets wsrep_desync=ON for the dump and always OFF after it: a slow
	// dump cannot stall the cluster through flow control, and clustercheck reports
	// the node unavailable so HAProxy cannot move clients onto it meanwhile.
	DesyncEnabled DesyncPolicy = "Enabled"
	// DesyncDisabled leaves the node in the cluster's flow control during the dump.
	DesyncDisabled DesyncPolicy = "Disabled"
)

// UsersPolicy says whether database users and grants are backed up.
// +kubebuilder:validation:Enum=Include;Exclude
type UsersPolicy string

const (
	// UsersInclude writes users and grants to a separate file of the backup.
	UsersInclude UsersPolicy = "Include"
	// UsersExclude leaves users and grants out.
	UsersExclude UsersPolicy = "Exclude"
)

// DeletionPolicy says what happens to the backup's data when the OvercloudBackup is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionRetain keeps the data on the volume.
	DeletionRetain DeletionPolicy = "Retain"
	// DeletionDelete removes the backup's directory from the volume.
	DeletionDelete DeletionPolicy = "Delete"
)

// BackupPhase is a one-word summary of a backup's state, derived from its conditions.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type BackupPhase string

const (
	// PhasePending means waiting for references, for an idle node, or for another backup of
	// the same overcloud or Galera cluster (the probe itself takes a pass: no phase of its own).
	PhasePending BackupPhase = "Pending"
	// PhaseRunning means a backup Job is running.
	PhaseRunning BackupPhase = "Running"
	// PhaseSucceeded means the backup is complete on the volume.
	PhaseSucceeded BackupPhase = "Succeeded"
	// PhaseFailed means the backup failed and will not be retried.
	PhaseFailed BackupPhase = "Failed"
)

// NodeRole is what a node is doing for the database's clients.
// +kubebuilder:validation:Enum=Active;Standby;Unavailable;Unknown
type NodeRole string

const (
	// RoleActive means the node HAProxy sends clients to.
	RoleActive NodeRole = "Active"
	// RoleStandby means a synced node clients are not sent to: a backup candidate.
	RoleStandby NodeRole = "Standby"
	// RoleUnavailable means the node is not a synced member of the primary component.
	RoleUnavailable NodeRole = "Unavailable"
	// RoleUnknown means the probes could not tell.
	RoleUnknown NodeRole = "Unknown"
)

// StorageSpec says where the backup is written.
type StorageSpec struct {
	// claimName names the PersistentVolumeClaim, in the backup's namespace, that
	// receives the backup under <subPath>/<namespace>/<backup name>/.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ClaimName string `json:"claimName"`

	// subPath is a directory inside the volume, relative, without "..".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '..' || s == '.')",message="subPath must not contain '.' or '..' segments"
	SubPath string `json:"subPath,omitempty"`
}

// NodeSelectionSpec steers which idle node the backup is taken from.
// +kubebuilder:validation:XValidation:rule="!has(self.preferredNodes) || !has(self.excludedNodes) || !self.preferredNodes.exists(p, p in self.excludedNodes)",message="a node cannot be both preferred and excluded",fieldPath=".excludedNodes"
// +kubebuilder:validation:XValidation:rule="!has(self.node) || !has(self.excludedNodes) || !(self.node in self.excludedNodes)",message="the pinned node cannot be excluded",fieldPath=".node"
type NodeSelectionSpec struct {
	// preferredNodes are tried first, in this order, when they are eligible and idle.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	PreferredNodes []string `json:"preferredNodes,omitempty"`

	// excludedNodes are never backed up from.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	ExcludedNodes []string `json:"excludedNodes,omitempty"`

	// node pins the backup to one node: it waits until that node is eligible and idle.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node,omitempty"`

	// allowActiveNode lets the backup run on the node serving clients when no idle
	// node is eligible. Off by default: a dump on the active node slows every client.
	// +optional
	AllowActiveNode bool `json:"allowActiveNode,omitempty"`
}

// DumpSpec says what is backed up and how.
// +kubebuilder:validation:XValidation:rule="!has(self.method) || self.method != 'Mariabackup' || !has(self.databases)",message="the Mariabackup method copies the whole instance: databases must be empty",fieldPath=".databases"
// +kubebuilder:validation:XValidation:rule="!has(self.compressionLevel) || (has(self.compression) && self.compression == 'gzip' ? self.compressionLevel <= 9 : true)",message="gzip compressionLevel must be between 1 and 9",fieldPath=".compressionLevel"
// +kubebuilder:validation:XValidation:rule="!has(self.compressionLevel) || !has(self.compression) || self.compression != 'none'",message="compressionLevel cannot be set when compression is none",fieldPath=".compressionLevel"
type DumpSpec struct {
	// method is how the database is copied: Logical (mariadb-dump, default) or
	// Mariabackup (mariadb-backup over SSH; needs overcloud.ssh).
	// +optional
	// +kubebuilder:default=Logical
	Method DumpMethod `json:"method,omitempty"`

	// databases to back up. When empty, every database but the system ones
	// (mysql, information_schema, performance_schema, sys). A name may not start with
	// "-" nor hold "/", "\\", "." or a control character.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[^-/\\.\x00-\x1f\x7f][^/\\.\x00-\x1f\x7f]*$`
	Databases []string `json:"databases,omitempty"`

	// users says whether users and grants are written to their own file.
	// +optional
	// +kubebuilder:default=Include
	Users UsersPolicy `json:"users,omitempty"`

	// compression of the backup files.
	// +optional
	// +kubebuilder:default=zstd
	Compression Compression `json:"compression,omitempty"`

	// compressionLevel is the algorithm's level: 1-22 for zstd, 1-9 for gzip (default
	// 6). When omitted with zstd, the encoder's fastest level (about zstd's 1-2): on two
	// cores it keeps up with mariadb-dump, with files about 3% larger than zstd -3.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=22
	CompressionLevel *int32 `json:"compressionLevel,omitempty"`

	// desync says whether the node is desynced from the cluster during the dump.
	// +optional
	// +kubebuilder:default=Enabled
	Desync DesyncPolicy `json:"desync,omitempty"`

	// maxRateMiB caps, in MiB per second, how fast the agent reads the dump from the
	// node, so that the dump loads the node, and through Galera's ordering the whole
	// cluster, no more than that (docs/benchmarks.md). When omitted, no cap.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxRateMiB *int32 `json:"maxRateMiB,omitempty"`

	// mariabackupCommand is the command run on the node over SSH for the Mariabackup
	// method; it must write an xbstream to stdout and read the credentials from the
	// defaults file given as {defaultsFile}. When omitted, "sudo -n mariadb-backup
	// --defaults-extra-file={defaultsFile} --backup --galera-info --no-lock --stream=xbstream".
	// The agent sends a [client] section (user, password, and the node's address and
	// mysqlPort as host and port) on the SSH session's stdin, never on a command line;
	// /bin/sh turns it into a private file that has no name any more and makes it the
	// command's stdin, then runs the command with exec, {defaultsFile} being /dev/stdin.
	// So it must be one simple command, and sudo is fine. A container's exec relays stdin
	// through a pipe, which mariadb-backup cannot use (it reads its defaults twice): copy
	// it to a file first, for example "sudo -n podman exec -i galera-bundle-podman-0 sh -c
	// 'f=$(mktemp -p /dev/shm) && exec 3>$f 4<$f && rm $f && cat >&3 && exec 0<&4
	// mariadb-backup --defaults-extra-file={defaultsFile} --backup --galera-info --no-lock
	// --stream=xbstream'". A backup that logs in as another user fails at once.
	// With --no-lock, the agent holds the desynced node still (FLUSH TABLES WITH READ
	// LOCK) while mariadb-backup copies it and records the digest of every table at the
	// copy's position, which the restore drill compares; without it, mariadb-backup's own
	// locks would wait for the agent's, so the backup records no digests and its drill
	// ends NotCompared.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	MariabackupCommand string `json:"mariabackupCommand,omitempty"`
}

// JobSpec shapes the Job that runs the backup agent.
type JobSpec struct {
	// image of the backup agent. When omitted, the operator's own image.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.endsWith(':latest')",message="pin the image to a tag or digest other than :latest"
	Image string `json:"image,omitempty"`

	// imagePullPolicy of the agent container. When omitted, IfNotPresent.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// resources of the agent container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// activeDeadlineSeconds bounds one attempt; its Job is stopped after it (and the
	// node's desync undone). When omitted, 3600.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=604800
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// maxAttempts is how many Jobs the backup may run. Each attempt probes again, as
	// the chosen node may have become the active one. When omitted, 3.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	MaxAttempts *int32 `json:"maxAttempts,omitempty"`

	// serviceAccountName runs the agent pod as this ServiceAccount. Its token is not
	// mounted either way.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// nodeSelector constrains the agent pod to Kubernetes nodes with these labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the agent pod.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity of the agent pod.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// priorityClassName of the agent pod.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// podAnnotations are added to the agent pod, for example
	// k8s.v1.cni.cncf.io/networks to attach it through Multus to a secondary network
	// that reaches an isolated overcloud.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// hostNetwork runs the agent pod in its node's network namespace: an explicit
	// opt-in for clusters whose pod network cannot reach the overcloud. Namespaces
	// that enforce the restricted Pod Security Standard refuse such pods.
	// +optional
	HostNetwork bool `json:"hostNetwork,omitempty"`
}

// OvercloudReference names an Overcloud in the backup's namespace.
type OvercloudReference struct {
	// name of the Overcloud.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
}

// OvercloudBackupSpec is one backup of an overcloud's database. It cannot be changed
// once created: a backup is a record of what was asked for. What needs the Overcloud
// itself (nodeSelection naming its nodes, Mariabackup needing its ssh) is checked by the
// controller, which says so in the ReferencesResolved condition.
type OvercloudBackupSpec struct {
	// overcloudRef names the Overcloud to back up, in the backup's namespace. A backup
	// whose Overcloud does not exist waits (reason OvercloudNotFound) and starts when it
	// appears.
	// +required
	OvercloudRef OvercloudReference `json:"overcloudRef"`

	// storage says where the backup is written.
	// +required
	Storage StorageSpec `json:"storage"`

	// nodeSelection steers which idle node is used.
	// +optional
	NodeSelection *NodeSelectionSpec `json:"nodeSelection,omitempty"`

	// dump says what is backed up and how.
	// +optional
	Dump *DumpSpec `json:"dump,omitempty"`

	// job shapes the Job that runs the backup agent.
	// +optional
	Job *JobSpec `json:"job,omitempty"`

	// deadline bounds the whole backup from its creation: waiting for references, for
	// an idle node, for other backups of the overcloud, and every attempt. Past it the
	// backup fails. When omitted, 6h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="deadline must be positive"
	Deadline *metav1.Duration `json:"deadline,omitempty"`

	// deletionPolicy says what happens to the data when this object is deleted:
	// Retain (default) keeps it, Delete removes the backup's directory.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// verification is the restore drill that proves the backup restores. When omitted, a
	// drill with the defaults runs once the backup has succeeded.
	// +optional
	Verification *VerificationSpec `json:"verification,omitempty"`
}

// GaleraNodeStatus is what one node's wsrep status said.
type GaleraNodeStatus struct {
	// reachable is true when the node answered the probe in time.
	// +optional
	Reachable bool `json:"reachable,omitempty"`

	// localState is wsrep_local_state (4 = Synced).
	// +optional
	LocalState int32 `json:"localState,omitempty"`

	// localStateComment is wsrep_local_state_comment (Synced, Donor/Desynced, Joining...).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	LocalStateComment string `json:"localStateComment,omitempty"`

	// clusterStatus is wsrep_cluster_status (Primary, non-Primary, Disconnected).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ClusterStatus string `json:"clusterStatus,omitempty"`

	// clusterSize is wsrep_cluster_size.
	// +optional
	ClusterSize int32 `json:"clusterSize,omitempty"`

	// ready is wsrep_ready.
	// +optional
	Ready bool `json:"ready,omitempty"`

	// connected is wsrep_connected.
	// +optional
	Connected bool `json:"connected,omitempty"`

	// desynced is true when wsrep_desync is ON.
	// +optional
	Desynced bool `json:"desynced,omitempty"`

	// clientConnections counts client sessions, leaving out system threads and the
	// probe itself.
	// +optional
	ClientConnections int32 `json:"clientConnections,omitempty"`

	// recvQueue is wsrep_local_recv_queue.
	// +optional
	RecvQueue int64 `json:"recvQueue,omitempty"`

	// synced is true when the node is a synced member of the primary component, ready
	// for clients: the one definition the agent's re-check uses too.
	// +optional
	Synced bool `json:"synced,omitempty"`

	// flowControlPausedNs is the time the node has paused replication for flow control
	// since it started (wsrep_flow_control_paused_ns).
	// +optional
	FlowControlPausedNs int64 `json:"flowControlPausedNs,omitempty"`

	// lastCommitted is wsrep_last_committed.
	// +optional
	LastCommitted int64 `json:"lastCommitted,omitempty"`

	// error says why the probe failed, when it did.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Error string `json:"error,omitempty"`
}

// PacemakerNodeStatus is what crm_mon said of one node.
type PacemakerNodeStatus struct {
	// online is true when Pacemaker sees the node online.
	// +optional
	Online bool `json:"online,omitempty"`

	// standby is true when the node is in standby.
	// +optional
	Standby bool `json:"standby,omitempty"`

	// maintenance is true when the node is in maintenance.
	// +optional
	Maintenance bool `json:"maintenance,omitempty"`

	// unclean is true when Pacemaker considers the node unclean (to be fenced).
	// +optional
	Unclean bool `json:"unclean,omitempty"`

	// galeraRole is the role of the galera resource on the node (Promoted, Unpromoted,
	// Stopped...).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	GaleraRole string `json:"galeraRole,omitempty"`

	// holdsVIP is true when the database VIP runs on the node.
	// +optional
	HoldsVIP bool `json:"holdsVIP,omitempty"`
}

// HAProxyNodeStatus is what HAProxy said of one node's server in the database backend.
type HAProxyNodeStatus struct {
	// status is the server's check status (UP, DOWN, MAINT, NOLB...).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Status string `json:"status,omitempty"`

	// currentSessions is the server's current session count.
	// +optional
	CurrentSessions int64 `json:"currentSessions,omitempty"`

	// stickTarget is true when the stick table sends clients to this server.
	// +optional
	StickTarget bool `json:"stickTarget,omitempty"`
}

// NodeStatus is one row of the node table: what each probe said of a node, and why it
// was or was not chosen.
type NodeStatus struct {
	// name of the node, as in spec.overcloud.nodes.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// role is what the node is doing for clients.
	// +optional
	Role NodeRole `json:"role,omitempty"`

	// eligible is true when the node may be backed up from.
	// +optional
	Eligible bool `json:"eligible,omitempty"`

	// selected is true for the node the backup is taken from.
	// +optional
	Selected bool `json:"selected,omitempty"`

	// reason explains, in words, the node's role and eligibility.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`

	// galera is the node's wsrep status.
	// +optional
	Galera *GaleraNodeStatus `json:"galera,omitempty"`

	// pacemaker is the node's Pacemaker status, when Pacemaker was probed.
	// +optional
	Pacemaker *PacemakerNodeStatus `json:"pacemaker,omitempty"`

	// haproxy is the node's HAProxy status, when HAProxy was probed.
	// +optional
	HAProxy *HAProxyNodeStatus `json:"haproxy,omitempty"`
}

// BackupSource is where a backup's data came from, as it was when the Job was created.
type BackupSource struct {
	// overcloud is the name of the Overcloud the backup named.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Overcloud string `json:"overcloud,omitempty"`

	// clusterStateUUID is the Galera cluster's identity (wsrep_cluster_state_uuid).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ClusterStateUUID string `json:"clusterStateUUID,omitempty"`

	// node is the node dumped from, as the Overcloud named it.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node,omitempty"`

	// address and mysqlPort are where the agent reached the node.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Address string `json:"address,omitempty"`

	// mysqlPort is the node's MySQL port the agent used.
	// +optional
	MySQLPort int32 `json:"mysqlPort,omitempty"`
}

// ArtifactFile is one file of a finished backup.
type ArtifactFile struct {
	// name of the file, relative to the backup's directory.
	// +required
	// +kubebuilder:validation:MaxLength=255
	Name string `json:"name"`

	// sizeBytes is the file's size on the volume.
	// +required
	// +kubebuilder:validation:Minimum=0
	SizeBytes int64 `json:"sizeBytes"`

	// sha256 is the hex SHA-256 of the file as written.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	SHA256 string `json:"sha256"`
}

// GaleraPosition is the cluster's position at the backup's snapshot: restoring the
// backup brings a node to this point.
type GaleraPosition struct {
	// clusterUUID is wsrep_cluster_state_uuid.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ClusterUUID string `json:"clusterUUID,omitempty"`

	// seqno is wsrep_last_committed at the snapshot.
	// +optional
	Seqno int64 `json:"seqno,omitempty"`

	// gtid is the MariaDB GTID position at the snapshot, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	GTID string `json:"gtid,omitempty"`
}

// BackupArtifact describes a finished backup on its volume.
type BackupArtifact struct {
	// claimName is the PersistentVolumeClaim holding the backup.
	// +required
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`

	// path is the backup's directory inside the volume.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Path string `json:"path"`

	// files of the backup, with sizes and checksums (also in its manifest.json).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Files []ArtifactFile `json:"files,omitempty"`

	// totalBytes is the sum of the files' sizes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TotalBytes int64 `json:"totalBytes,omitempty"`

	// uncompressedBytes is the sum of the files' sizes once decompressed: what a restore
	// writes (the restore drill sizes its scratch space from it).
	// +optional
	// +kubebuilder:validation:Minimum=0
	UncompressedBytes int64 `json:"uncompressedBytes,omitempty"`

	// size is totalBytes for people (for example "1.4 GiB").
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Size string `json:"size,omitempty"`

	// method that made the backup.
	// +optional
	Method DumpMethod `json:"method,omitempty"`

	// compression of the files.
	// +optional
	Compression Compression `json:"compression,omitempty"`

	// position is the Galera position at the snapshot.
	// +optional
	Position *GaleraPosition `json:"position,omitempty"`
}

// OvercloudBackupStatus is the observed state of an OvercloudBackup.
type OvercloudBackupStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the conditions in one word.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`

	// conditions: Ready, Complete, Failed and the steps leading there.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// nodes is the node table of the last probe: one row per node with the reason it
	// was or was not chosen.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Nodes []NodeStatus `json:"nodes,omitempty"`

	// activeNode is the node serving clients, by the strongest signal available.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	ActiveNode string `json:"activeNode,omitempty"`

	// vipNode is the node holding the database VIP, per Pacemaker.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	VIPNode string `json:"vipNode,omitempty"`

	// selectedNode is the node the backup is taken from.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	SelectedNode string `json:"selectedNode,omitempty"`

	// jobName is the Job of the current or last attempt.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	JobName string `json:"jobName,omitempty"`

	// attempts is how many Jobs this backup has started.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempts int32 `json:"attempts,omitempty"`

	// desyncLeftOn is the node an attempt may have left with wsrep_desync=ON (its
	// agent was killed, or its pod vanished). Once no agent runs on that node, the
	// controller checks it, turns wsrep_desync OFF if needed, and clears this field
	// (condition DesyncCleared).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	DesyncLeftOn string `json:"desyncLeftOn,omitempty"`

	// nextProbeTime is when a waiting backup probes the overcloud again.
	// +optional
	NextProbeTime *metav1.Time `json:"nextProbeTime,omitempty"`

	// startTime is when the first attempt's Job started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the backup succeeded or failed for good.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// duration is completionTime minus startTime.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`

	// source records the overcloud as this backup used it: a backup is a record that
	// must make sense after its Overcloud changed or went.
	// +optional
	Source *BackupSource `json:"source,omitempty"`

	// artifact describes the finished backup.
	// +optional
	Artifact *BackupArtifact `json:"artifact,omitempty"`

	// verification is what the restore drill found (the Verified condition says the
	// outcome).
	// +optional
	Verification *VerificationStatus `json:"verification,omitempty"`

	// message is the latest human-readable news about the backup.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Message string `json:"message,omitempty"`
}

// OvercloudBackup is one backup of an OpenStack overcloud's MariaDB/Galera database,
// taken from an idle, synced node, never from the node serving clients.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ocb,categories=overcloud-backup
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.selectedNode`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.status.artifact.size`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.duration`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.conditions[?(@.type=="Verified")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeNode`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 52",message="metadata.name must be at most 52 characters: the backup's Jobs are named after it"
type OvercloudBackup struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the backup asked for. It is immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new OvercloudBackup instead"
	Spec OvercloudBackupSpec `json:"spec"`

	// status is what happened.
	// +optional
	Status OvercloudBackupStatus `json:"status,omitempty"`
}

// OvercloudBackupList is a list of OvercloudBackups.
//
// +kubebuilder:object:root=true
type OvercloudBackupList struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// items are the backups.
	Items []OvercloudBackup `json:"items"`
}
