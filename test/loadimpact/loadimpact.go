// Package loadimpact measures what a backup costs the database clients of an overcloud.
// Run drives short read/write transactions, sysbench oltp_read_write-like (point SELECTs,
// an index and a non-index UPDATE, a DELETE and an INSERT of the same row, one
// transaction each), from N concurrent clients through the database VIP, so that they
// land on the node HAProxy serves, and summarises throughput and latency percentiles.
// The loadgen command runs it as its own process (so that it can be pinned to a CPU);
// the benchmark in this package runs it while the agent dumps (see docs/benchmarks.md).
package loadimpact

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Table is the table the load works on, in Config.Schema.
const Table = "sbtest"

// Config is one load run.
type Config struct {
	// Addr (host:port), User and Password reach the database (the VIP).
	Addr, User, Password string
	// Schema holds Table, with ids 1..Rows.
	Schema string
	Rows   int
	// Clients is the number of concurrent clients, one connection each.
	Clients int
	// Warmup runs before the measured window of Duration.
	Warmup, Duration time.Duration
	// MaxSamples bounds the latencies kept per client (memory).
	MaxSamples int
}

// Result is one load run, as the loadgen command prints it (JSON).
type Result struct {
	// Node is @@wsrep_node_name of the node the clients landed on.
	Node    string  `json:"node"`
	Clients int     `json:"clients"`
	Seconds float64 `json:"seconds"`
	// Tx counts the transactions committed in the window, Errors those that failed
	// (deadlocks, lock waits), rolled back and not retried.
	Tx     int64 `json:"tx"`
	Errors int64 `json:"errors"`
	// TPS is Tx per second of the window; the latencies (microseconds) are those of
	// the committed transactions, from BEGIN to the end of COMMIT.
	TPS   float64 `json:"tps"`
	P50us float64 `json:"p50us"`
	P95us float64 `json:"p95us"`
	P99us float64 `json:"p99us"`
	MaxUs float64 `json:"maxus"`
	// PerSecond is the number of transactions committed in each second of the window.
	PerSecond  []int64 `json:"perSecond"`
	FirstError string  `json:"firstError,omitempty"`
}

// Percentile is the p-th percentile (0 < p <= 100) of sorted samples by the
// nearest-rank method: the smallest sample with at least p% of the samples at or below
// it. It is 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Summarize fills the counts and percentiles of r from the latencies of the committed
// transactions (in any order; sorted in place) and their completion offsets in the
// window.
func Summarize(r *Result, window time.Duration, lat []time.Duration, done []time.Duration) {
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	r.Seconds = window.Seconds()
	r.Tx = int64(len(lat))
	if window > 0 {
		r.TPS = float64(r.Tx) / window.Seconds()
	}
	r.P50us, r.P95us, r.P99us = us(Percentile(lat, 50)), us(Percentile(lat, 95)), us(Percentile(lat, 99))
	if len(lat) > 0 {
		r.MaxUs = us(lat[len(lat)-1])
	}
	r.PerSecond = make([]int64, int(math.Ceil(window.Seconds())))
	for _, d := range done {
		if i := int(d / time.Second); i >= 0 && i < len(r.PerSecond) {
			r.PerSecond[i]++
		}
	}
}

// Open returns a pool for the load: text protocol with client-side interpolation (one
// round trip per statement), dial/read/write timeouts so that a stuck server never hangs
// a client.
func Open(cfg Config) (*sql.DB, error) {
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr, mc.DBName = cfg.User, cfg.Password, "tcp", cfg.Addr, cfg.Schema
	mc.InterpolateParams = true
	mc.Timeout, mc.ReadTimeout, mc.WriteTimeout = 5*time.Second, 30*time.Second, 30*time.Second
	mc.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(cfg.Clients + 1)
	db.SetMaxIdleConns(cfg.Clients + 1)
	return db, nil
}

type clientOut struct {
	lat, done  []time.Duration
	errors     int64
	firstError error
}

// Run runs the load: Clients connections through cfg.Addr, Warmup then Duration, and
// returns the summary of the window. It stops early, with what it has, when ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Clients < 1 || cfg.Rows < 10 || cfg.Duration <= 0 {
		return Result{}, fmt.Errorf("want at least 1 client, 10 rows and a duration (got %d, %d, %v)", cfg.Clients, cfg.Rows, cfg.Duration)
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = 1 << 20
	}
	db, err := Open(cfg)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = db.Close() }()
	res := Result{Clients: cfg.Clients}
	conns := make([]*sql.Conn, cfg.Clients)
	for i := range conns {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conns[i], err = db.Conn(cctx)
		cancel()
		if err != nil {
			return res, fmt.Errorf("connecting client %d to %s: %w", i, cfg.Addr, err)
		}
		defer func(c *sql.Conn) { _ = c.Close() }(conns[i])
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = conns[0].QueryRowContext(qctx, "SELECT @@wsrep_node_name").Scan(&res.Node)
	cancel()
	if err != nil {
		return res, fmt.Errorf("reading the node behind %s: %w", cfg.Addr, err)
	}

	start := time.Now()
	from, to := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	runCtx, stop := context.WithDeadline(ctx, to)
	defer stop()
	outs := make([]clientOut, cfg.Clients)
	var wg sync.WaitGroup
	var seed uint64
	for i := range conns {
		seed++
		s := seed
		wg.Go(func() { outs[i] = client(runCtx, conns[i], cfg, s, from, to) })
	}
	wg.Wait()
	window := min(time.Since(from), cfg.Duration)
	var lat, done []time.Duration
	for _, o := range outs {
		lat, done = append(lat, o.lat...), append(done, o.done...)
		res.Errors += o.errors
		if o.firstError != nil && res.FirstError == "" {
			res.FirstError = o.firstError.Error()
		}
	}
	Summarize(&res, window, lat, done)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// client runs transactions on one connection until ctx ends, keeping the latencies of
// those that started at or after from and committed before to.
func client(ctx context.Context, conn *sql.Conn, cfg Config, seed uint64, from, to time.Time) clientOut {
	rng := rand.New(rand.NewPCG(seed, 0x6f6362)) //nolint:gosec // G404: load, not security
	var out clientOut
	pad := strings.Repeat("x", 59)
	for ctx.Err() == nil {
		t0 := time.Now()
		err := transaction(ctx, conn, rng, cfg.Rows, pad)
		t1 := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				break // the window ended mid-transaction
			}
			out.errors++
			if out.firstError == nil {
				out.firstError = err
			}
			continue
		}
		if !t0.Before(from) && t1.Before(to) && len(out.lat) < cfg.MaxSamples {
			out.lat = append(out.lat, t1.Sub(t0))
			out.done = append(out.done, t1.Sub(from))
		}
	}
	return out
}

// transaction is one sysbench-like read/write transaction.
func transaction(ctx context.Context, conn *sql.Conn, rng *rand.Rand, rows int, pad string) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	id := func() int { return 1 + rng.IntN(rows) }
	var c string
	for range 4 {
		if err := tx.QueryRowContext(ctx, "SELECT c FROM "+Table+" WHERE id = ?", id()).Scan(&c); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+Table+" SET k = k + 1 WHERE id = ?", id()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+Table+" SET c = ? WHERE id = ?", text(rng), id()); err != nil {
		return err
	}
	del := id()
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+Table+" WHERE id = ?", del); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+Table+" (id, k, c, pad) VALUES (?, ?, ?, ?)",
		del, rng.IntN(rows), text(rng), pad); err != nil {
		return err
	}
	return tx.Commit()
}

// text is a random value for the CHAR(120) column c.
func text(rng *rand.Rand) string { return fmt.Sprintf("%020d-%099d", rng.Uint64(), rng.Uint64()) }

// SetupSQL creates the schema and its table with rows rows (run as root), and the load
// user with write access to that schema only.
func SetupSQL(schema, user, password string, rows int) string {
	return fmt.Sprintf(`DROP DATABASE IF EXISTS %[1]s; CREATE DATABASE %[1]s; USE %[1]s;
CREATE TABLE %[2]s (id INT NOT NULL, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '',
  PRIMARY KEY (id), KEY k_1 (k)) ENGINE=InnoDB;
INSERT INTO %[2]s SELECT seq, CRC32(seq) %% %[5]d, LPAD(MD5(seq), 120, '0'), LPAD(seq, 60, 'x') FROM seq_1_to_%[5]d;
CREATE OR REPLACE USER '%[3]s'@'%%' IDENTIFIED BY '%[4]s';
GRANT SELECT, INSERT, UPDATE, DELETE ON %[1]s.* TO '%[3]s'@'%%';`, schema, Table, user, password, rows)
}
