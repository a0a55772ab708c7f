package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RestoreMode is what a restore brings back.
// +kubebuilder:validation:Enum=Databases;WholeCluster
type RestoreMode string

const (
	// RestoreDatabases restores chosen databases of a logical backup into the running
	// cluster through one idle node (Galera replicates them): the everyday restore of a
	// dropped or damaged database. The OpenStack services using them are stopped first.
	RestoreDatabases RestoreMode = "Databases"
	// RestoreWholeCluster replaces every node's data with the backup's, galera stopped and
	// started again through Pacemaker (the restored node bootstraps, the others join by SST).
	RestoreWholeCluster RestoreMode = "WholeCluster"
)

// OvercloudRestoreSpec is one restore of a backup into an overcloud. Everything but
// confirm is fixed at creation: the plan in status is computed from it, and the
// confirmation is given for that plan.
// +kubebuilder:validation:XValidation:rule="self.backupRef == oldSelf.backupRef && self.overcloudRef == oldSelf.overcloudRef && self.mode == oldSelf.mode && (has(self.databases) == has(oldSelf.databases)) && (!has(self.databases) || self.databases == oldSelf.databases) && (has(self.users) == has(oldSelf.users)) && (!has(self.users) || self.users == oldSelf.users) && (has(self.credentialsSecret) == has(oldSelf.credentialsSecret)) && (!has(self.credentialsSecret) || self.credentialsSecret == oldSelf.credentialsSecret) && (has(self.allowUnverified) == has(oldSelf.allowUnverified)) && (!has(self.allowUnverified) || self.allowUnverified == oldSelf.allowUnverified)",message="only spec.confirm can change once the restore is created: create a new OvercloudRestore for another plan"
// +kubebuilder:validation:XValidation:rule="(has(self.mode) && self.mode == 'WholeCluster') || has(self.credentialsSecret)",message="a Databases restore needs credentialsSecret: an account that may drop, create and fill databases"
type OvercloudRestoreSpec struct {
	// backupRef names the OvercloudBackup to restore, in the restore's namespace. It
	// must have Succeeded, and be Verified (its restore drill passed) unless
	// allowUnverified is set.
	// +required
	BackupRef BackupReference `json:"backupRef"`

	// overcloudRef names the Overcloud restored into, in the restore's namespace. The
	// backup must be of this overcloud's Galera cluster (its cluster state UUID).
	// +required
	OvercloudRef OvercloudReference `json:"overcloudRef"`

	// mode: Databases (the default) or WholeCluster.
	// +optional
	// +kubebuilder:default=Databases
	Mode RestoreMode `json:"mode,omitempty"`

	// databases restored by the Databases mode; when omitted, every database of the
	// backup. Each must be in the backup.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	Databases []string `json:"databases,omitempty"`

	// users: Include also restores the backup's users and grants (Databases mode);
	// Exclude (the default) leaves the accounts as they are.
	// +optional
	Users UsersPolicy `json:"users,omitempty"`

	// credentialsSecret names a Secret with the account the restore writes with: it
	// drops, creates and fills databases (and users, with Include), which the backup
	// account may not. Its keys are username and password unless renamed here. Required
	// by the Databases mode. A WholeCluster restore writes no SQL: it proves the nodes
	// with this account when given, else with the Overcloud's backup account; either
	// must be in the backup, whose grant tables the nodes hold after the restore.
	// +optional
	CredentialsSecret *CredentialsSecretReference `json:"credentialsSecret,omitempty"`

	// allowUnverified restores a backup whose restore drill did not pass (Verified not
	// True): a deliberate choice, for a backup that could not be drilled.
	// +optional
	AllowUnverified bool `json:"allowUnverified,omitempty"`

	// confirm, set to the Overcloud's name, lets the restore act. Until then the
	// controller only computes the plan and writes it to status, so that it can be read
	// (in a pull request's dry run, with kubectl) before anything is touched.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Confirm string `json:"confirm,omitempty"`
}

// RestorePhase is a one-word summary of a restore's state, derived from its conditions.
// +kubebuilder:validation:Enum=Pending;Planned;Running;Succeeded;Failed
type RestorePhase string

const (
	// RestorePending means the plan cannot be made yet (a reference missing, a backup
	// running), or it is refused (see the Planned condition).
	RestorePending RestorePhase = "Pending"
	// RestorePlanned means the plan is in status, waiting for spec.confirm.
	RestorePlanned RestorePhase = "Planned"
	// RestoreRunning means the steps are running.
	RestoreRunning RestorePhase = "Running"
	// RestoreSucceeded means every step ran and the restored data was proven.
	RestoreSucceeded RestorePhase = "Succeeded"
	// RestoreFailed means a step failed; status says which, and what to do.
	RestoreFailed RestorePhase = "Failed"
)

// RestoreStep is one step of a restore's plan.
type RestoreStep struct {
	// name of the step, unique in the plan.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// node the step runs on or through; empty for a step of the operator's own.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node,omitempty"`

	// description of the step, for a person.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description"`

	// command the step runs, expanded, secrets elided ("<password>").
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Command string `json:"command,omitempty"`

	// before is what is checked before the step runs.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Before string `json:"before,omitempty"`

	// after is what is checked once it has run.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	After string `json:"after,omitempty"`
}

// RestoreResult is what a restore Job reported.
type RestoreResult struct {
	// tables and rows restored, as the backup's manifest records them.
	// +optional
	Tables int64 `json:"tables,omitempty"`
	// +optional
	Rows int64 `json:"rows,omitempty"`

	// bytes streamed into the node: SQL (Databases), the backup's stream (WholeCluster).
	// +optional
	Bytes int64 `json:"bytes,omitempty"`

	// seconds the restore took, proofs included.
	// +optional
	Seconds string `json:"seconds,omitempty"`

	// throughputMiB is MiB restored per second: of SQL into the node (Databases), of the
	// backup's stream copied onto the node (WholeCluster, over the copy step).
	// +optional
	ThroughputMiB string `json:"throughputMiB,omitempty"`

	// proofs: for each node, whether its restored databases equal the backup's.
	// +optional
	// +listType=map
	// +listMapKey=node
	// +kubebuilder:validation:MaxItems=16
	Proofs []RestoreProof `json:"proofs,omitempty"`

	// steps: a WholeCluster restore's steps as they ran, in order: node, times, outcome.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=48
	Steps []RestoreStepRun `json:"steps,omitempty"`

	// error is why the restore stopped, naming its step, each node's state, and the
	// commands that finish or roll back by hand.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Error string `json:"error,omitempty"`
}

// RestoreStepRun is one step of a restore as it ran.
type RestoreStepRun struct {
	// name of the step, as in status.plan.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// node it ran on; empty for a step of the restore Job's own.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node,omitempty"`

	// startTime and completionTime of the step.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// succeeded says the step did what it checks for.
	// +optional
	Succeeded bool `json:"succeeded,omitempty"`

	// error is why the step failed (bounded; a node's words, control characters replaced).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Error string `json:"error,omitempty"`
}

// RestoreProof is one node's proof of a restore.
type RestoreProof struct {
	// node proved.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node"`

	// equal is true when every restored table on the node equals the backup's.
	// +optional
	Equal bool `json:"equal,omitempty"`

	// message says what differs, or why the node could not be proved.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// OvercloudRestoreStatus is the observed state of an OvercloudRestore.
type OvercloudRestoreStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the conditions in one word.
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`

	// conditions: Ready, Planned, Confirmed, Complete, Failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// node is the node the restore goes through (Databases mode).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node,omitempty"`

	// databases the plan restores.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=64
	Databases []string `json:"databases,omitempty"`

	// plan is what the restore does, step by step, computed before anything runs.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Plan []RestoreStep `json:"plan,omitempty"`

	// jobName is the restore Job, once the confirmed plan runs.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	JobName string `json:"jobName,omitempty"`

	// startTime is when the restore Job was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the restore succeeded or failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// result is what the restore Job reported.
	// +optional
	Result *RestoreResult `json:"result,omitempty"`

	// message is the latest human-readable news about the restore.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Message string `json:"message,omitempty"`
}

// OvercloudRestore brings a backup back into an overcloud: its plan first, in status,
// then, once spec.confirm names the overcloud, the steps.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ocr,categories=overcloud-backup
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.backupRef.name`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OvercloudRestore struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what to restore, and the confirmation.
	// +required
	Spec OvercloudRestoreSpec `json:"spec"`

	// status is the plan and its progress.
	// +optional
	Status OvercloudRestoreStatus `json:"status,omitempty"`
}

// OvercloudRestoreList is a list of OvercloudRestore.
//
// +kubebuilder:object:root=true
type OvercloudRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OvercloudRestore `json:"items"`
}
