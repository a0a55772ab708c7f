// Package controllers holds the operator's reconcilers, the only packages with a
// client.Client: the OvercloudBackup controller (probe, choose a node, run and follow the
// backup Job) and, with its own issue, the BackupSchedule controller (cron runs and
// retention, not built yet).
//
// The RBAC markers below are what the manager needs beyond each controller's own (above
// its Reconcile): to watch the schedules and report on them once their controller exists,
// and the core Events the leader election and older recorders write.
//
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=backupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=backupschedules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
package controllers
