package galera

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Sessions shares MySQL connections among the probers of a long-running process (the
// Overcloud watch). A prober whose Config names it takes a connection from the pool of
// its (address, account, TLS, timeouts) and gives it back after the probe, instead of a
// TCP, TLS and MySQL handshake per node per probe. Two Overcloud objects that name the
// same nodes with the same account share the pool: a node holds a connection or two of
// ours, however many objects watch it, where one pool per object would leave one idle
// session per object on every node for every probe's processlist to read.
//
// Sharing needs the same password and the same TLS (Config.TLSKey): a connection is only
// handed to a prober that could have opened it itself. An idle connection is closed after
// the idle time its probers asked for; a pool no prober asked for in that time is closed
// and forgotten at the next Get.
//
// A connection carries nothing from one probe to the next: a probe only reads (SHOW
// statements; the one write a prober makes, SET GLOBAL wsrep_desync=OFF, changes no
// session state), and reads its own session's id each time.
type Sessions struct {
	mu    sync.Mutex
	pools map[sessionKey]*sessionPool
}

// sessionKey identifies who may share a connection. The password is kept as a digest.
type sessionKey struct {
	addr, user    string
	password      [sha256.Size]byte
	tls           string
	fallback      bool
	connect, read time.Duration
}

type sessionPool struct {
	db       *sql.DB
	idle     time.Duration
	lastUsed time.Time
}

// maxIdleSessions is how many idle connections a pool keeps: the watch's workers (4 by
// default) rarely probe one node at once.
const maxIdleSessions = 2

// NewSessions returns an empty pool of pools.
func NewSessions() *Sessions {
	return &Sessions{pools: map[sessionKey]*sessionPool{}}
}

// Len is how many pools (address and account pairs) are open.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pools)
}

// Close closes every pool; a prober using one afterwards gets an error.
func (s *Sessions) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.pools {
		_ = p.db.Close()
		delete(s.pools, k)
	}
}

// shareable says whether cfg may use a shared pool: TLS is shared only under a key that
// says what it verifies.
func shareable(cfg Config) bool {
	return cfg.Sessions != nil && (cfg.TLS == nil || cfg.TLSKey != "")
}

// get is the pool for cfg and addr, opened on first use, its idle time raised to cfg's
// if longer. Pools unused past their idle time are closed on the way.
func (s *Sessions) get(cfg Config, addr string, now time.Time) (*sql.DB, error) {
	key := sessionKey{
		addr: addr, user: cfg.User, password: sha256.Sum256([]byte(cfg.Password)),
		tls: cfg.TLSKey, fallback: cfg.TLSFallback, connect: cfg.ConnectTimeout, read: cfg.QueryTimeout,
	}
	idle := max(cfg.SessionIdle, time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.pools {
		if k != key && now.Sub(p.lastUsed) > p.idle {
			_ = p.db.Close()
			delete(s.pools, k)
		}
	}
	p := s.pools[key]
	if p == nil {
		connector, err := mysql.NewConnector(dsn(cfg, addr))
		if err != nil {
			return nil, fmt.Errorf("configuring the connection to %s: %w", addr, err)
		}
		p = &sessionPool{db: sql.OpenDB(connector)}
		p.db.SetMaxIdleConns(maxIdleSessions)
		s.pools[key] = p
	}
	if idle > p.idle {
		p.idle = idle
		p.db.SetConnMaxIdleTime(idle)
	}
	p.lastUsed = now
	return p.db, nil
}
