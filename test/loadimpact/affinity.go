package loadimpact

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Pinned is a process whose threads were pinned to CPUs, and what to put back.
type Pinned struct {
	PID  int
	What string
	// original is the affinity of each thread before pinning; fallback is for threads
	// started since (they inherit the pinned mask from their creator).
	original map[int]unix.CPUSet
	fallback unix.CPUSet
}

// threads lists the thread IDs of a process.
func threads(pid int) ([]int, error) {
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Pin sets the affinity of every thread of pid to cpus (taskset -a -p -c), remembering
// each thread's affinity for Restore. A thread whose mask is narrower than all (the mask
// the caller runs with) looks left pinned by an interrupted run: all is restored then.
func Pin(pid int, what string, all unix.CPUSet, cpus ...int) (*Pinned, error) {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	p := &Pinned{PID: pid, What: what, original: map[int]unix.CPUSet{}, fallback: all}
	// Twice: a thread started by a not yet pinned thread during the first pass.
	for range 2 {
		tids, err := threads(pid)
		if err != nil {
			return p, err
		}
		for _, tid := range tids {
			if _, seen := p.original[tid]; seen {
				continue
			}
			var orig unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &orig); err != nil {
				continue // the thread ended
			}
			if orig.Count() < all.Count() {
				orig = all
			}
			p.original[tid] = orig
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return p, fmt.Errorf("pinning thread %d of %s (PID %d): %w", tid, what, pid, err)
			}
		}
	}
	return p, nil
}

// Restore puts back each thread's affinity, and the caller's full mask on threads started
// since the pinning.
func (p *Pinned) Restore() error {
	tids, err := threads(p.PID)
	if err != nil {
		return fmt.Errorf("restoring the affinity of %s (PID %d): %w", p.What, p.PID, err)
	}
	var errs []error
	for _, tid := range tids {
		set, ok := p.original[tid]
		if !ok {
			set = p.fallback
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("thread %d of %s: %w", tid, p.What, err))
		}
	}
	return errors.Join(errs...)
}

// Mask is the affinity of pid's main thread as a list (e.g. "0" or "0-1"), for logs and
// checks.
func Mask(pid int) string {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil {
		return "?"
	}
	var cpus []string
	for c := range 1024 {
		if set.IsSet(c) {
			cpus = append(cpus, strconv.Itoa(c))
		}
	}
	return strings.Join(cpus, ",")
}
