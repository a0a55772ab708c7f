package agent

import (
	"fmt"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/units"

	"golang.org/x/sys/unix"
)

// estimateBytes is what the dump tool will produce, roughly, from information_schema's
// sizes: a logical dump is about the size of the table data (indexes are rebuilt on
// restore, not dumped); a physical copy holds data and indexes.
func estimateBytes(dbs []Database, method string) int64 {
	var n int64
	for _, d := range dbs {
		n += d.DataBytes
		if method == Mariabackup {
			n += d.IndexBytes
		}
	}
	return n
}

// minRatio is the smallest fraction of the estimate that a backup is assumed to need on
// the volume: generous on purpose, so only a volume clearly too small is refused (SQL
// text compresses 3-10x; InnoDB pages hold free space, so a dump can be half their size).
var minRatio = map[string]float64{Zstd: 0.1, Gzip: 0.1, None: 0.5}

// spaceNeeded is the least free space a backup of estimate bytes can fit in. It is pure.
func spaceNeeded(estimate int64, compression string) int64 {
	r, ok := minRatio[compression]
	if !ok {
		r = minRatio[None]
	}
	return int64(float64(estimate) * r)
}

// checkSpace refuses to start when the volume at root clearly cannot hold the backup.
// The check is a floor, not a promise: a full volume mid-dump still fails cleanly.
func checkSpace(root string, estimate int64, compression string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return fmt.Errorf("reading the free space of %s: %w", root, err)
	}
	free := int64(st.Bavail) * st.Bsize //nolint:gosec // G115: block counts fit in int64
	if need := spaceNeeded(estimate, compression); free < need {
		return fmt.Errorf("not enough space on the backup volume: %s free at %s, the backup needs at least about %s "+
			"(%s of table data in information_schema, compression %s); use a bigger volume or free some space; no data written",
			units.HumanBytes(free), root, units.HumanBytes(need), units.HumanBytes(estimate), compression)
	}
	return nil
}
