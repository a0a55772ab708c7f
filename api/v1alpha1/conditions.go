package v1alpha1

// Condition types. Every object always publishes Ready, which dashboards and kubectl
// wait read; Reconciling and Stalled are what kstatus (Argo CD, Flux) reads; the other
// types say which step a backup or schedule is at.
const (
	// ConditionReady is True when the object is where it should be: a backup has
	// succeeded, a schedule is valid and running. A backup still in progress is
	// Ready=False with reason Progressing; a failed one Ready=False with its failure reason.
	ConditionReady = "Ready"

	// ConditionComplete is True once a backup has succeeded, so that
	// `kubectl wait --for=condition=Complete` works as it does for Jobs.
	ConditionComplete = "Complete"

	// ConditionFailed is True once a backup has failed for good; it is not retried.
	ConditionFailed = "Failed"

	// ConditionReferencesResolved is True when every Secret and the PVC a backup
	// names exist and hold what is needed.
	ConditionReferencesResolved = "ReferencesResolved"

	// ConditionNodeSelected is True when an idle, synced node has been chosen; the
	// node table in status.nodes says why.
	ConditionNodeSelected = "NodeSelected"

	// ConditionJobRunning is True while a backup Job is running.
	ConditionJobRunning = "JobRunning"

	// ConditionDesyncCleared is False when an attempt may have left wsrep_desync=ON
	// on a node (its agent was killed) and the controller has not yet turned it off.
	ConditionDesyncCleared = "DesyncCleared"

	// ConditionDataDeleted is set on a backup with deletionPolicy Delete once it is
	// being deleted: False while its cleanup Job removes the data (or after it failed),
	// True once the data is gone and the finalizer is removed.
	ConditionDataDeleted = "DataDeleted"

	// ConditionReconciling is True while a backup is in progress, and absent once it has
	// ended: with Stalled, what kstatus (Argo CD, Flux, kubectl wait) reads for a custom
	// resource. Ready alone reads Current to kstatus.
	ConditionReconciling = "Reconciling"

	// ConditionStalled is True once a backup has failed for good (kstatus: Failed).
	ConditionStalled = "Stalled"

	// ConditionScheduleValid is True when a schedule's cron expression and time
	// zone parse.
	ConditionScheduleValid = "ScheduleValid"

	// ConditionDegraded is True on an Overcloud whose last probe found something short
	// of a healthy cluster: a node not synced, no quorum, a split brain, Pacemaker or
	// HAProxy unreadable. It can be True while Ready is True (a backup can still run).
	ConditionDegraded = "Degraded"

	// ConditionVerified is a succeeded backup's restore drill: True once the backup was
	// restored into a scratch server with every table equal to what it recorded; False
	// when the drill found it does not restore as recorded (or could not run it); Unknown
	// while the drill runs. Absent when no drill was asked for. It never changes Complete.
	ConditionVerified = "Verified"
)

// Reasons of the Overcloud's conditions.
const (
	// ReasonBackupPossible: the last probe found a node a backup would be taken from.
	ReasonBackupPossible = "BackupPossible"
	// ReasonNotWatched: monitoring.interval is 0s; the overcloud is probed only by backups.
	ReasonNotWatched = "NotWatched"
	// ReasonAllSynced: every node is a synced member of the primary component.
	ReasonAllSynced = "AllSynced"
	// ReasonNodeNotSynced: a node is not a synced member of the primary component.
	ReasonNodeNotSynced = "NodeNotSynced"
	// ReasonNoQuorum: the Pacemaker partition that answered has no quorum.
	ReasonNoQuorum = "NoQuorum"
	// ReasonSplitBrain: several primary components claim the cluster.
	ReasonSplitBrain = "SplitBrain"
	// ReasonPacemakerUnreadable: no node answered crm_mon.
	ReasonPacemakerUnreadable = "PacemakerUnreadable"
	// ReasonHAProxyUnreadable: HAProxy's view of the database backend could not be read.
	ReasonHAProxyUnreadable = "HAProxyUnreadable"
	// ReasonOvercloudNotFound: the Overcloud a backup names does not exist (yet).
	ReasonOvercloudNotFound = "OvercloudNotFound"
)

// Event reasons of the Overcloud watch, each emitted once per change.
const (
	// EventActiveNodeChanged: the node serving clients changed (a failover seen from outside).
	EventActiveNodeChanged = "ActiveNodeChanged"
	// EventVIPMoved: the database VIP moved to another node.
	EventVIPMoved = "VIPMoved"
	// EventNodeNotSynced: a node left the synced members of the primary component.
	EventNodeNotSynced = "NodeNotSynced"
	// EventNodeSynced: a node is a synced member again.
	EventNodeSynced = "NodeSynced"
	// EventSplitBrain: several primary components claim the cluster.
	EventSplitBrain = "SplitBrain"
	// EventProbeFailed: the probe could not run, or no Galera node answered.
	EventProbeFailed = "ProbeFailed"
	// EventProbeRecovered: a probe works again after failing.
	EventProbeRecovered = "ProbeRecovered"
)

// Condition reasons, CamelCase as metav1.Condition requires.
const (
	// ReasonProgressing: the backup is on its way (Ready=False while it runs).
	ReasonProgressing = "Progressing"
	// ReasonSucceeded: the backup is complete on its volume.
	ReasonSucceeded = "Succeeded"

	// ReasonResolved: every reference was found.
	ReasonResolved = "Resolved"
	// ReasonSecretNotFound: a Secret the spec names does not exist (yet).
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretKeyMissing: a Secret exists but lacks a key the spec needs.
	ReasonSecretKeyMissing = "SecretKeyMissing"
	// ReasonClaimNotFound: the PersistentVolumeClaim does not exist (yet).
	ReasonClaimNotFound = "ClaimNotFound"
	// ReasonClaimNotBound: the PersistentVolumeClaim is neither Bound nor waiting for
	// its first consumer.
	ReasonClaimNotBound = "ClaimNotBound"

	// ReasonProbeFailed: no probe answered usefully (every node unreachable).
	ReasonProbeFailed = "ProbeFailed"
	// ReasonNodeSelected: an idle, synced node was chosen.
	ReasonNodeSelected = "NodeSelected"
	// ReasonNoIdleNode: no node is eligible and idle; the backup re-probes with backoff
	// and fails with this reason at its deadline.
	ReasonNoIdleNode = "NoIdleNode"
	// ReasonQueued: another backup of the same overcloud is running; this one waits.
	ReasonQueued = "Queued"

	// ReasonJobCreated: the attempt's Job was created and has not started yet.
	ReasonJobCreated = "JobCreated"
	// ReasonJobRunning: the attempt's Job is running.
	ReasonJobRunning = "JobRunning"
	// ReasonJobSucceeded: the attempt's Job finished successfully.
	ReasonJobSucceeded = "JobSucceeded"
	// ReasonJobFailed: an attempt's Job failed; another attempt follows while
	// spec.job.maxAttempts allows.
	ReasonJobFailed = "JobFailed"
	// ReasonAttemptsExhausted: every allowed attempt failed.
	ReasonAttemptsExhausted = "AttemptsExhausted"
	// ReasonDeadlineExceeded: the backup did not finish within spec.deadline.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonJobNotOwned: a Job with the attempt's name exists but belongs to something
	// else; the backup waits until it is deleted, and never adopts it.
	ReasonJobNotOwned = "JobNotOwned"
	// ReasonCleanupRunning: the backup is being deleted and its cleanup Job removes
	// the backup's directory from the volume.
	ReasonCleanupRunning = "CleanupRunning"
	// ReasonCleanupFailed: the cleanup Job failed; the finalizer stays and the data is
	// kept. Deleting the cleanup Job retries; removing the finalizer gives up on it.
	ReasonCleanupFailed = "CleanupFailed"
	// ReasonDataDeleted: the cleanup Job removed the backup's data.
	ReasonDataDeleted = "DataDeleted"
	// ReasonInvalidSpec: the spec is valid for the API server but not usable (for
	// example a Secret of the wrong shape); fix the referenced object.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonNotAllowed: spec.job asks for what the cluster administrator does not allow
	// (an image, hostNetwork, control-plane tolerations, a ServiceAccount, a reserved pod
	// annotation: docs/security.md); the backup fails for good.
	ReasonNotAllowed = "NotAllowed"

	// ReasonDesyncLeftOn: an attempt may have left wsrep_desync=ON on a node.
	ReasonDesyncLeftOn = "DesyncLeftOn"
	// ReasonDesyncRepaired: the controller turned wsrep_desync OFF after an attempt
	// that could not.
	ReasonDesyncRepaired = "DesyncRepaired"
	// ReasonDesyncVerified: after an attempt that could not say, the controller found
	// wsrep_desync already OFF on the node.
	ReasonDesyncVerified = "DesyncVerified"
	// ReasonDesyncRepairFailed: the controller could not reach the node to check
	// wsrep_desync; it tries again with backoff.
	ReasonDesyncRepairFailed = "DesyncRepairFailed"

	// ReasonScheduleParsed: the schedule and time zone are valid.
	ReasonScheduleParsed = "ScheduleParsed"
	// ReasonInvalidSchedule: the cron expression does not parse.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonInvalidTimeZone: the time zone is not a known IANA name.
	ReasonInvalidTimeZone = "InvalidTimeZone"
	// ReasonSuspended: the schedule is suspended; no new runs start.
	ReasonSuspended = "Suspended"
	// ReasonScheduled: the schedule is valid and waiting for its next run.
	ReasonScheduled = "Scheduled"
)

// Reasons of the Verified condition.
const (
	// ReasonDrillPending: the drill's Job was created and has not started yet.
	ReasonDrillPending = "DrillPending"
	// ReasonDrillRunning: the drill's Job is running.
	ReasonDrillRunning = "DrillRunning"
	// ReasonRestored: restored with every table equal to what the backup recorded.
	ReasonRestored = "Restored"
	// ReasonRestoreFailed: the scratch server refused the backup (the server's error
	// code and the dump's line are in the message).
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonTableMismatch: tables restored with other rows or content than the backup
	// recorded; status.verification.mismatches names them.
	ReasonTableMismatch = "TableMismatch"
	// ReasonCorruptTable: the engine's CHECK TABLE found restored tables damaged.
	ReasonCorruptTable = "CorruptTable"
	// ReasonTooLarge: the restored copy would not fit the drill's scratch space
	// (spec.verification.scratchSize).
	ReasonTooLarge = "TooLarge"
	// ReasonVersionMismatch: the scratch server is older than the backup's source.
	ReasonVersionMismatch = "VersionMismatch"
	// ReasonNotCompared: Verified=Unknown for good: a physical backup restored (extracted,
	// prepared, started) with every table OK by CHECK TABLE, but it records no table
	// digests to compare the copy with.
	ReasonNotCompared = "NotCompared"
	// ReasonDrillFailed: the drill could not be run (its Job failed without a result,
	// reached its deadline, or was deleted): the backup is neither proven nor disproven.
	ReasonDrillFailed = "DrillFailed"
)

// Conditions of an OvercloudRestore (with Ready, Complete and Failed).
const (
	// ConditionPlanned is True once the plan is in status: every reference resolved and
	// nothing refuses the restore; False with the reason it cannot be planned (a backup
	// of the overcloud running, an unverified backup, another Galera cluster's backup...).
	ConditionPlanned = "Planned"
	// ConditionConfirmed is True once spec.confirm names the overcloud.
	ConditionConfirmed = "Confirmed"
)

// Reasons of an OvercloudRestore's conditions.
const (
	// ReasonPlanned: the plan is in status.
	ReasonPlanned = "Planned"
	// ReasonRestoreBackupNotFound: spec.backupRef names no OvercloudBackup.
	ReasonRestoreBackupNotFound = "BackupNotFound"
	// ReasonBackupNotSucceeded: the backup has not succeeded (yet, or ever).
	ReasonBackupNotSucceeded = "BackupNotSucceeded"
	// ReasonBackupUnverified: the backup's Verified condition is not True, and
	// spec.allowUnverified is not set.
	ReasonBackupUnverified = "BackupUnverified"
	// ReasonOtherCluster: the backup is of another Galera cluster than the overcloud's.
	ReasonOtherCluster = "OtherCluster"
	// ReasonClusterUnknown: the overcloud's Galera cluster identity is not known yet (its
	// watch has not probed it).
	ReasonClusterUnknown = "ClusterUnknown"
	// ReasonBackupInProgress: a backup of the overcloud is running; the restore waits.
	ReasonBackupInProgress = "BackupInProgress"
	// ReasonPlanRefused: the plan cannot be made from the spec and the backup (the
	// message says why: a database not in the backup, a physical backup for Databases).
	ReasonPlanRefused = "PlanRefused"
	// ReasonAwaitingConfirmation: the plan waits for spec.confirm.
	ReasonAwaitingConfirmation = "AwaitingConfirmation"
	// ReasonConfirmed: spec.confirm names the overcloud.
	ReasonConfirmed = "Confirmed"
	// ReasonConfirmMismatch: spec.confirm is set, to another name than the overcloud's.
	ReasonConfirmMismatch = "ConfirmMismatch"
	// ReasonRestoreRunning: the restore Job runs (a restore's Ready); a restore of the
	// backup's Galera cluster runs, so the backup waits for its end (a backup's NodeSelected).
	ReasonRestoreRunning = "RestoreRunning"
	// ReasonRestoreSucceeded: every database restored and every node proved equal to the
	// backup.
	ReasonRestoreSucceeded = "RestoreSucceeded"
	// ReasonRestoreStepFailed: the restore stopped at a step (named in the message), or a
	// node did not prove equal.
	ReasonRestoreStepFailed = "RestoreStepFailed"
	// ReasonRestoreJobFailed: the restore Job ended without a result, or vanished.
	ReasonRestoreJobFailed = "RestoreJobFailed"
	// ReasonRestoreJobNotAllowed: the restore Job cannot be made (the manager's Job
	// policy, no agent image, a Job of another owner with its name).
	ReasonRestoreJobNotAllowed = "RestoreJobNotAllowed"
)
