// Package controllers holds the operator's reconcilers, the only packages with a
// client.Client: the OvercloudBackup controller (probe, choose a node, run and follow the
// backup Job) and the BackupSchedule controller (cron runs and retention).
//
// Neither is built yet; each arrives with its own issue, and cmd/ manager says so at
// start. The RBAC markers below are the least the manager needs to watch its own kinds
// and report on them; each controller adds its own markers above its Reconcile.
//
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups;backupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=backup.overcloud.io,resources=overcloudbackups/status;backupschedules/status,verbs=get;update;patch
package controllers
