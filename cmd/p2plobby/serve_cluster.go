package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/p2plobby/p2plobby/internal/cluster"
)

// clusterConfig is the settings of a node of a cluster over NATS (docs/cluster.md, docs/deploy.md).
type clusterConfig struct {
	urls          string
	creds         string
	nkey          string
	tlsCA         string
	tlsCert       string
	tlsKey        string
	prefix        string
	heartbeat     time.Duration
	networkSecret string
}

func (c *clusterConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.urls, "nats", "", "comma-separated NATS server `URLs`: run as one node of a cluster that serves one lobby (empty: a single server, nothing external)")
	fs.StringVar(&c.creds, "nats-creds", "", "NATS credentials `file` (JWT and NKey seed)")
	fs.StringVar(&c.nkey, "nats-nkey", "", "NATS NKey seed `file`")
	fs.StringVar(&c.tlsCA, "nats-tls-ca", "", "CA certificate `file` to verify the NATS servers")
	fs.StringVar(&c.tlsCert, "nats-tls-cert", "", "client certificate `file` for NATS (with --nats-tls-key)")
	fs.StringVar(&c.tlsKey, "nats-tls-key", "", "client key `file` for NATS")
	fs.StringVar(&c.prefix, "nats-subject-prefix", "p2pl", "first token of every NATS subject: lobbies sharing a NATS account need different ones")
	fs.DurationVar(&c.heartbeat, "cluster-heartbeat", cluster.DefaultHeartbeat, "how often a node says it is alive; one silent for 4 of these is gone and its members leave")
	fs.StringVar(&c.networkSecret, "network-secret", "", "`secret` that keys same-network groups; the nodes of a cluster must share it (default: derived from --turn-secret in a cluster, random otherwise)")
}

// validate checks the cluster settings and returns the secret of same-network groups (nil: random).
func (c *clusterConfig) validate(turnSecret string, networkRooms bool) ([]byte, error) {
	if c.urls == "" {
		for _, v := range []string{c.creds, c.nkey, c.tlsCA, c.tlsCert, c.tlsKey} {
			if v != "" {
				return nil, errors.New("the --nats-* options need --nats")
			}
		}
		if c.networkSecret != "" {
			return []byte(c.networkSecret), nil
		}
		return nil, nil
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, errors.New("--nats-tls-cert and --nats-tls-key go together")
	}
	if c.heartbeat < 10*time.Millisecond {
		return nil, errors.New("--cluster-heartbeat must be at least 10ms")
	}
	if strings.ContainsAny(c.prefix, ". *>") || c.prefix == "" {
		return nil, errors.New("--nats-subject-prefix must be one subject token (no '.', '*', '>' or spaces)")
	}
	switch {
	case c.networkSecret != "":
		return []byte(c.networkSecret), nil
	case turnSecret != "":
		// Not the TURN secret itself: a group name must not help anyone guess TURN credentials.
		m := hmac.New(sha256.New, []byte(turnSecret))
		m.Write([]byte("p2plobby same-network groups"))
		return m.Sum(nil), nil
	case !networkRooms:
		return nil, nil
	}
	return nil, errors.New("in a cluster the nodes must share --network-secret (or --turn-secret), or one network " +
		"would be a different group on each node; or turn the groups off with --network-rooms=false")
}

// bus returns the cluster bus for these settings.
func (c *clusterConfig) bus(log *slog.Logger) *cluster.Bus {
	var opts []nats.Option
	if c.creds != "" {
		opts = append(opts, nats.UserCredentials(c.creds))
	}
	if c.nkey != "" {
		if o, err := nats.NkeyOptionFromSeed(c.nkey); err == nil {
			opts = append(opts, o)
		} else {
			opts = append(opts, func(*nats.Options) error { return err })
		}
	}
	if c.tlsCA != "" {
		opts = append(opts, nats.RootCAs(c.tlsCA))
	}
	if c.tlsCert != "" {
		opts = append(opts, nats.ClientCert(c.tlsCert, c.tlsKey))
	}
	return cluster.New(cluster.Config{URLs: c.urls, Options: opts, Prefix: c.prefix, Heartbeat: c.heartbeat, Logger: log})
}
