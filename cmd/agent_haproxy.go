package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/haproxy"
)

// haproxyFlags give the agent access to HAProxy's stats page, for the re-check that the
// selected node is not the one serving the clients.
type haproxyFlags struct {
	statsURL, credentialsDir, backend string
}

func (h *haproxyFlags) add(f *pflag.FlagSet) {
	f.StringVar(&h.statsURL, "haproxy-stats-url", "", "HAProxy's stats page; when set, a node HAProxy serves the clients through is refused.")
	f.StringVar(&h.credentialsDir, "haproxy-credentials-dir", "",
		"Directory with the stats page's files username and password (a Secret volume).")
	f.StringVar(&h.backend, "haproxy-backend", "mysql", "The database proxy's name in HAProxy.")
}

// reader is the agent's HAProxyReader, nil when no stats page is given.
func (h *haproxyFlags) reader() (agent.HAProxyReader, error) {
	if h.statsURL == "" {
		if h.credentialsDir != "" {
			return nil, fmt.Errorf("--haproxy-credentials-dir needs --haproxy-stats-url")
		}
		return nil, nil
	}
	if _, err := haproxy.CSVURL(h.statsURL); err != nil {
		return nil, fmt.Errorf("--haproxy-stats-url: %w", err)
	}
	var user, password string
	if h.credentialsDir != "" {
		var err error
		if user, err = readSecretFile(h.credentialsDir, "username"); err != nil {
			return nil, fmt.Errorf("reading HAProxy's stats credentials: %w", err)
		}
		if password, err = readSecretFile(h.credentialsDir, "password"); err != nil {
			return nil, fmt.Errorf("reading HAProxy's stats credentials: %w", err)
		}
	}
	return func(ctx context.Context) (*haproxy.Backend, *haproxy.Table, error) {
		b, err := haproxy.FetchHTTP(ctx, nil, h.statsURL, user, password, h.backend)
		return b, nil, err
	}, nil
}
