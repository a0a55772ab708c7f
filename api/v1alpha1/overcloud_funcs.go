package v1alpha1

import "time"

// DefaultMonitoringInterval is how often an Overcloud is probed when
// spec.monitoring.interval is omitted.
const DefaultMonitoringInterval = 60 * time.Second

// MonitoringInterval is spec.monitoring.interval, or its default; 0 means the overcloud
// is probed only when a backup needs it.
func (s *OvercloudSpec) MonitoringInterval() time.Duration {
	if s == nil || s.Monitoring == nil || s.Monitoring.Interval == nil {
		return DefaultMonitoringInterval
	}
	return max(s.Monitoring.Interval.Duration, 0)
}
