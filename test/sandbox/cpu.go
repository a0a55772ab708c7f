package sandbox

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPU is this process's CPU time so far, user and system: what a benchmark reports
// as the manager's (or the prober's) CPU cost, a difference of two readings.
func ProcessCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
