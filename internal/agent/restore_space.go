package agent

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/restoreplan"
)

// SpaceCheck is a Databases restore's check of every node's free space, over SSH, before
// anything is dropped: Galera writes the restored databases on every node.
type SpaceCheck struct {
	// Nodes are every node of the cluster with the host its sshd listens on.
	Nodes []ClusterNode
	// SSH reaches them (as `agent dump --method=Mariabackup`; Command is not used).
	SSH PhysicalConfig
	// Datadir is MariaDB's datadir on every node (restoreplan.DefaultDatadir when empty).
	Datadir string
	// Headroom multiplies the room the restored databases take (default DefaultHeadroom);
	// MinFree must remain free besides.
	Headroom float64
	MinFree  int64
	// CommandTimeout bounds df on each node (default 1 min).
	CommandTimeout time.Duration
}

// DatabasesSpaceNeed is the free space a node needs to take in a Databases restore: the
// room the restored databases' SQL takes loaded into InnoDB (restoreFactor, as the drill
// reckons it), less what the databases it replaces take now (dropped first, their files
// freed), times headroom, plus minFree. Pure.
func DatabasesSpaceNeed(sqlBytes, existing int64, headroom float64, minFree int64) int64 {
	grow := max(min(sqlBytes, 1<<52)*restoreFactor-max(existing, 0), 0)
	return int64(float64(grow)*max(headroom, 1)) + max(minFree, 0)
}

// databaseBytes is what the databases take on the node now (InnoDB's data and indexes, as
// information_schema reckons them).
func databaseBytes(ctx context.Context, db *sql.DB, dbs []string, timeout time.Duration) (int64, error) {
	if len(dbs) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := make([]any, len(dbs))
	for i, d := range dbs {
		args[i] = d
	}
	var n sql.NullInt64
	q := "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema IN (?" +
		strings.Repeat(", ?", len(dbs)-1) + ")"
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, err
	}
	return n.Int64, nil
}

// checkSpaceFirst is the Databases restore's space check, when asked for.
func checkSpaceFirst(ctx context.Context, cfg RestoreConfig, db *sql.DB, dbs []string, sqlBytes int64) error {
	if cfg.Space == nil {
		return nil
	}
	existing, err := databaseBytes(ctx, db, dbs, cfg.QueryTimeout)
	if err != nil {
		return fmt.Errorf("reading the size of the databases to restore: %s", sqlError(err))
	}
	if err := checkDatabasesSpace(ctx, *cfg.Space, sqlBytes, existing, cfg.Log); err != nil {
		return fmt.Errorf("checking free space before anything is dropped: %w", err)
	}
	return nil
}

// checkDatabasesSpace reads `df -Pk -- DATADIR` on every node and refuses, naming the
// node, when one has less free than DatabasesSpaceNeed.
func checkDatabasesSpace(ctx context.Context, sc SpaceCheck, sqlBytes, existing int64, log io.Writer) error {
	if len(sc.Nodes) == 0 {
		return errors.New("no node to check")
	}
	for i, n := range sc.Nodes {
		if n.Name == "" || n.SSHHost == "" || strings.HasPrefix(n.SSHHost, "-") {
			return fmt.Errorf("node #%d of %d needs a name and an SSH host", i+1, len(sc.Nodes))
		}
	}
	c := restoreplan.Cluster{Datadir: sc.Datadir}.WithDefaults()
	if err := restoreplan.CheckDatadir(c.Datadir); err != nil {
		return err
	}
	argv := c.DatadirSpace()
	runner, err := sc.SSH.runner()
	if err != nil {
		return err
	}
	defer runner.Close()
	need := DatabasesSpaceNeed(sqlBytes, existing, cmp.Or(sc.Headroom, DefaultHeadroom), sc.MinFree)
	timeout := cmp.Or(sc.CommandTimeout, time.Minute)
	for _, n := range sc.Nodes {
		name := clipBytes(n.Name, 64)
		out := &tailWriter{n: 4 << 10}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := runner.StreamFrom(cctx, n.SSHHost, sc.SSH.SSHPort, restoreplan.Shell(argv), bytes.NewReader(nil), out, out)
		cancel()
		if err != nil {
			return fmt.Errorf("df on %s: %w", name, err)
		}
		avail, _, err := parseDF(out.String(), 1)
		if err != nil {
			return fmt.Errorf("df on %s: %w", name, err)
		}
		if avail[0] < need {
			return fmt.Errorf("%s has %d MiB free on %s, and the restore needs %d MiB (%d MiB of SQL × %d in InnoDB, less the "+
				"%d MiB the databases take now, × %.2f headroom, + %d MiB to keep free): nothing was dropped", name, avail[0]>>20,
				c.Datadir, need>>20, sqlBytes>>20, restoreFactor, existing>>20, cmp.Or(sc.Headroom, DefaultHeadroom), sc.MinFree>>20)
		}
		_, _ = fmt.Fprintf(log, "Free space on %s: %d MiB, the restore needs %d MiB\n", name, avail[0]>>20, need>>20)
	}
	return nil
}

// parseDF reads `df -Pk -- OPERAND...` (POSIX: a header, then one line per operand:
// filesystem, 1024-blocks, used, available, capacity, mount point): each operand's
// available bytes and mount point. Pure.
func parseDF(out string, operands int) ([]int64, []string, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != operands+1 {
		return nil, nil, fmt.Errorf("df printed %d lines, want a header and %d", len(lines), operands)
	}
	avail, mount := make([]int64, operands), make([]string, operands)
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 6 {
			return nil, nil, fmt.Errorf("df line %d is not filesystem, blocks, used, available, capacity, mount point", i+2)
		}
		kib, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || kib < 0 || kib > 1<<52 {
			return nil, nil, fmt.Errorf("df line %d: the available KiB are not a number", i+2)
		}
		avail[i], mount[i] = kib*1024, strings.Join(f[5:], " ")
	}
	return avail, mount, nil
}
