// Command loadgen runs the load of package loadimpact once and prints its Result as JSON
// on stdout. It is its own process so that the benchmark can pin it to a CPU (taskset).
// The password is read from a file, never from the command line.
//
//	loadgen -addr 10.77.0.10:3306 -user ocbload -password-file F -schema ocb_load \
//	        -rows 10000 -clients 8 -warmup 3s -duration 20s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/test/loadimpact"
)

func main() {
	var cfg loadimpact.Config
	var passwordFile string
	flag.StringVar(&cfg.Addr, "addr", "", "Database address, host:port (the VIP).")
	flag.StringVar(&cfg.User, "user", "", "Database user.")
	flag.StringVar(&passwordFile, "password-file", "", "File holding the database password.")
	flag.StringVar(&cfg.Schema, "schema", "ocb_load", "Schema holding the table "+loadimpact.Table+".")
	flag.IntVar(&cfg.Rows, "rows", 10000, "Rows of the table (ids 1..rows).")
	flag.IntVar(&cfg.Clients, "clients", 8, "Concurrent clients.")
	flag.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "Unmeasured warm-up.")
	flag.DurationVar(&cfg.Duration, "duration", 20*time.Second, "Measured window (at most 10m).")
	flag.Parse()
	if err := run(cfg, passwordFile); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

func run(cfg loadimpact.Config, passwordFile string) error {
	if cfg.Addr == "" || cfg.User == "" || passwordFile == "" {
		return fmt.Errorf("-addr, -user and -password-file are required")
	}
	if cfg.Duration > 10*time.Minute || cfg.Warmup > time.Minute || cfg.Clients > 256 {
		return fmt.Errorf("bounded: at most 256 clients, 1m of warm-up and a 10m window")
	}
	pw, err := os.ReadFile(passwordFile) //nolint:gosec // G304: the caller's password file
	if err != nil {
		return err
	}
	cfg.Password = strings.TrimRight(string(pw), "\r\n")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := loadimpact.Run(ctx, cfg)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
