// Package controllers holds the operator's reconcilers, the only packages with a
// client.Client: the Overcloud controller (the watch: probe every interval, status,
// events, metrics), the OvercloudBackup controller (the Overcloud it names, the queue per
// Galera cluster, probe, choose a node, run and follow the backup Job, desync repair,
// cleanup), the BackupSchedule controller (cron runs, run-now, retention) and the
// OvercloudRestore controller (refusals, the plan in status, the confirmation).
//
// The RBAC markers below are what the manager needs beyond each controller's own (above
// its Reconcile): the schedules, and the core Events the leader election and older
// recorders write.
//
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=backupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=backupschedules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
package controllers
