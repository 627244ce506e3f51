// Package transport serves p2plobby over HTTP: the WebSocket endpoint (at / and /ws), the embedded web app,
// /healthz and /readyz. It owns everything about sockets — upgrade, origin, keepalive, write batching, size and rate
// limits — and hands complete text messages to the hub.
//
// Each connection has one reader goroutine and, only while it has output, one writer goroutine that drains
// everything pending from the hub and writes it with a single syscall. Idle connections therefore cost a
// reader goroutine, a small read buffer and a few hundred bytes of state.
package transport

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/p2plobby/p2plobby/internal/auth"
)

// Config tunes a Server. Zero fields take the documented defaults.
type Config struct {
	// MaxMessageSize is the largest message (all fragments together) a client may send. Larger ones close
	// the connection with 1009 and are never read or relayed. Default 64 KiB.
	MaxMessageSize int64
	// WriteTimeout bounds each socket write; a client that stops reading is dropped after it. Default 10 s.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings each client. Default 25 s.
	PingInterval time.Duration
	// IdleTimeout drops a connection from which nothing (not even a pong) arrived for this long. It must
	// exceed PingInterval. Default 60 s.
	IdleTimeout time.Duration
	// Rate and Burst form each connection's token bucket for incoming messages. Defaults 50/s and 200.
	Rate  float64
	Burst int
	// MaxConns caps open WebSocket connections; default 50,000. MaxConnsPerIP caps them per client address
	// (an IPv4 address, or the /64 of an IPv6 one): over it a connection is refused with error
	// too-many-connections and close 4003. 0 means unlimited; cmd/p2plobby sets DefaultMaxConnsPerIP.
	MaxConns      int
	MaxConnsPerIP int
	// IPConnRate and IPConnBurst are each client address's token bucket for new WebSocket connections (per
	// minute, and how many at once): over it a connection is refused with error connecting-too-fast and
	// close 4005. Only admitted connections take a token. Rate 0 means unlimited; burst 0 then means one
	// minute's worth. cmd/p2plobby sets DefaultIPConnRate and DefaultIPConnBurst.
	IPConnRate  float64
	IPConnBurst int
	// TrustedProxies are the reverse proxies whose forwarding headers are believed: for a connection from one
	// of them, the client's address is the rightmost X-Forwarded-For address (or Forwarded for=, when there is
	// no X-Forwarded-For) that is not itself in TrustedProxies. Empty (the default) believes no header: the
	// client's address is the TCP peer's. The address sets MaxConnsPerIP and the same-network group.
	TrustedProxies []netip.Prefix
	// NoNetworkRooms turns same-network groups off: a client that asks for protocol.NetworkRoom joins the
	// default room instead (and self-connected says so). By default it joins the group of the clients whose
	// address is in the same network as its own (docs/protocol.md).
	NoNetworkRooms bool
	// AllowedOrigins lists the Origin header values accepted for WebSocket upgrades besides the default ones:
	// no Origin (a client that is not a browser), this server's own pages (same host) and pages on loopback.
	// "*" accepts any origin. Others get 403 (see originAllowed).
	AllowedOrigins []string
	// ICE, when set, gives each member its own ICE servers in self-connected, sends it fresh ones before
	// they expire ({"kind":"ice-servers"}), and hears when it leaves. Nil leaves them to the hub's config.
	ICE ICE
	// NetworkSecret keys the names of same-network groups. Nodes of one cluster must share it, or one network
	// would be a different group on each node. Empty: a random secret per server.
	NetworkSecret []byte
	// Ready reports whether the lobby can take new members (in a cluster: connected to the other nodes). It
	// answers /readyz, which is also false while the server shuts down. Nil: always ready.
	Ready func() bool
	// Auth, when set, admits only members with a valid join token for the room they ask for
	// (docs/protocol.md, "Join tokens"); their names come from their tokens. Nil (the default) admits everyone.
	Auth *auth.Verifier
	// PeerJS, when set, serves PeerServer's protocol under PeerJS.Path (peerjs.go). Nil: off.
	PeerJS *PeerJS
	// Logger receives connection events; nil discards.
	Logger *slog.Logger
	// Observer counts upgrades, refusals, closes and ends of connections for metrics; nil counts nothing.
	Observer Observer
}

// ICE hands out the ICE servers of members: STUN and TURN with credentials that name the member, at the host
// name the member reached the lobby by. turn.ICE implements it.
type ICE interface {
	// Join returns the servers for a new member and when to refresh them (zero: never).
	Join(memberID, host string) (servers json.RawMessage, refresh time.Time)
	// Refresh returns fresh servers for a member and when to refresh them next.
	Refresh(memberID, host string) (servers json.RawMessage, refresh time.Time)
	// Leave is called once a member has left.
	Leave(memberID string)
}

// Defaults for Config.
const (
	DefaultMaxMessageSize = 64 << 10
	DefaultWriteTimeout   = 10 * time.Second
	DefaultPingInterval   = 25 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultRate           = 50
	DefaultBurst          = 200
	DefaultMaxConns       = 50000
)

func (c *Config) setDefaults() {
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.IdleTimeout <= c.PingInterval {
		c.IdleTimeout = 2 * c.PingInterval
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.IPConnRate > 0 && c.IPConnBurst <= 0 {
		c.IPConnBurst = max(1, int(c.IPConnRate))
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	if c.PeerJS != nil {
		pj := *c.PeerJS
		pj.Path = strings.TrimRight(pj.Path, "/")
		if len(pj.Keys) == 0 {
			pj.Keys = []string{"peerjs"}
		}
		if pj.AliveTimeout <= 0 {
			pj.AliveTimeout = DefaultAliveTimeout
		}
		c.PeerJS = &pj
	}
}
