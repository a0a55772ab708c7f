package schedule

import (
	"strconv"
	"time"
)

// Name lengths, both enforced by CEL rules of the CRDs.
const (
	// MaxScheduleNameLength is the longest BackupSchedule name.
	MaxScheduleNameLength = 42
	// MaxChildNameLength is the longest OvercloudBackup name, so that the names of its
	// Jobs (<backup>-<attempt>, <backup>-cleanup) fit in a 63-character label value.
	MaxChildNameLength = 52
)

// ChildName is the name of the OvercloudBackup a schedule creates for the run due at
// scheduled: "<schedule>-<unix minutes of scheduled>", the scheme of the CronJob
// controller's getJobName
// package. The name is deterministic, so it acts as a lock: a restarted controller,
// or a second one, finds the backup instead of creating another.
//
// A schedule name of at most MaxScheduleNameLength characters gives at most
// MaxChildNameLength: unix minutes have 8 digits until the year 2160 and 9 until 3871.
// Scheduled times are whole minutes (or, for @every, at least a minute apart), so
// distinct runs get distinct names.
func ChildName(scheduleName string, scheduled time.Time) string {
	return scheduleName + "-" + strconv.FormatInt(scheduled.Unix()/60, 10)
}
