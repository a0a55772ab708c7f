// Command clustercheck is the Galera health check that TripleO runs on every
// controller (its clustercheck script behind xinetd/socat on port 9200), for the
// local overcloud sandbox (hack/overcloud.sh).
//
// It answers every HTTP request with 200 "Galera cluster node is synced." when the
// local node's wsrep_local_state is 4 (Synced) and with 503 otherwise, like
// TripleO's clustercheck with AVAILABLE_WHEN_DONOR=0: a desynced node (state 2,
// Donor/Desynced) is reported as unavailable, so HAProxy's "option httpchk"
// takes it out of the mysql backend. Every query has a deadline, so a node whose
// mariadbd is stopped (SIGSTOP) yields 503, never a hanging check.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	// stateSynced is wsrep_local_state for a node that is Synced.
	stateSynced = 4
	// stateDonor is wsrep_local_state for a donor or a desynced node.
	stateDonor = 2

	bodySynced    = "Galera cluster node is synced.\r\n"
	bodyNotSynced = "Galera cluster node is not synced.\r\n"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9200", "address:port to serve the check on")
	socket := flag.String("socket", "", "mariadbd unix socket (preferred over -tcp)")
	tcp := flag.String("tcp", "", "mariadbd host:port, used when -socket is empty")
	credentials := flag.String("credentials", "/etc/sysconfig/clustercheck",
		"file with MYSQL_USERNAME= and MYSQL_PASSWORD= lines (TripleO's format)")
	timeout := flag.Duration("timeout", 1500*time.Millisecond, "deadline for one check, connect included")
	availableWhenDonor := flag.Bool("available-when-donor", false,
		"answer 200 for a donor/desynced node too (TripleO's AVAILABLE_WHEN_DONOR=1)")
	flag.Parse()

	if err := run(*listen, *socket, *tcp, *credentials, *timeout, *availableWhenDonor); err != nil {
		log.Fatalf("clustercheck: %v", err)
	}
}

func run(listen, socket, tcp, credentials string, timeout time.Duration, availableWhenDonor bool) error {
	user, password, err := readCredentials(credentials)
	if err != nil {
		return err
	}
	// The driver logs every broken connection; while mariadbd is stopped that is one line per
	// check. The verdict log below says what matters.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	cfg := mysql.NewConfig()
	cfg.User = user
	cfg.Passwd = password
	switch {
	case socket != "":
		cfg.Net, cfg.Addr = "unix", socket
	case tcp != "":
		cfg.Net, cfg.Addr = "tcp", tcp
	default:
		return errors.New("one of -socket or -tcp is required")
	}
	// The driver's own timeouts bound the dial, the handshake and every read and
	// write; the context deadline in check bounds the whole exchange.
	cfg.Timeout = timeout
	cfg.ReadTimeout = timeout
	cfg.WriteTimeout = timeout
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("building connector: %w", err)
	}
	db := sql.OpenDB(connector)
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(time.Minute)

	c := &checker{db: db, timeout: timeout, availableWhenDonor: availableWhenDonor}
	srv := &http.Server{
		Addr:              listen,
		Handler:           c,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("Serving Galera clustercheck on %s for %s %s", listen, cfg.Net, cfg.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serving %s: %w", listen, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// checker answers HTTP requests with the node's Galera state.
type checker struct {
	db                 *sql.DB
	timeout            time.Duration
	availableWhenDonor bool

	mu     sync.Mutex
	logged bool // whether a verdict was logged yet
	last   bool // the last logged availability, so only changes are logged
}

func (c *checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	state, err := c.localState(r.Context())
	ok := err == nil && (state == stateSynced || (c.availableWhenDonor && state == stateDonor))
	verdict := fmt.Sprintf("state=%d", state)
	if err != nil {
		verdict = "error: " + err.Error()
	}
	c.logChange(ok, verdict)

	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Connection", "close")
	if ok {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(bodySynced))
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(bodyNotSynced))
}

// localState returns wsrep_local_state, bounded by the check timeout.
func (c *checker) localState(parent context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	var name, value string
	err := c.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_local_state'").Scan(&name, &value)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errors.New("wsrep_local_state missing (wsrep not enabled?)")
	}
	if err != nil {
		return 0, fmt.Errorf("querying wsrep_local_state: %w", err)
	}
	state, err := strconv.Atoi(value)
	if err != nil {
		return 0, fmt.Errorf("parsing wsrep_local_state %q: %w", value, err)
	}
	return state, nil
}

func (c *checker) logChange(ok bool, verdict string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.logged || ok != c.last {
		log.Printf("Availability changed: available=%t %s", ok, verdict)
		c.logged, c.last = true, ok
	}
}

// readCredentials reads TripleO's /etc/sysconfig/clustercheck format:
// MYSQL_USERNAME=... and MYSQL_PASSWORD=..., values optionally quoted.
func readCredentials(path string) (user, password string, err error) {
	f, err := os.Open(path) //nolint:gosec // the path is an operator-supplied flag
	if err != nil {
		return "", "", fmt.Errorf("opening credentials: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, found := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !found || strings.HasPrefix(key, "#") {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"'`)
		switch strings.TrimSpace(key) {
		case "MYSQL_USERNAME":
			user = value
		case "MYSQL_PASSWORD":
			password = value
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("reading credentials %s: %w", path, err)
	}
	if user == "" {
		return "", "", fmt.Errorf("credentials %s: MYSQL_USERNAME is empty", path)
	}
	return user, password, nil
}
