package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/transport"
)

// limitsConfig is the limits of connections per client address, joins per room, relays per receiver and
// unanswered requests, and the HTTP timeouts (docs/protocol.md, "Limits"). 0 turns a limit off.
type limitsConfig struct {
	ipConnRate         float64
	ipConnBurst        int
	roomJoinRate       float64
	roomJoinBurst      int
	recvRate           float64
	recvBurst          int
	maxPendingRequests int
	headerTimeout      time.Duration
	requestTimeout     time.Duration
}

func (l *limitsConfig) flags(fs *flag.FlagSet) {
	fs.Float64Var(&l.ipConnRate, "ip-conn-rate", transport.DefaultIPConnRate, "new WebSocket connections per `minute` per client address (IPv6: per /64), sustained; 0 for no limit")
	fs.IntVar(&l.ipConnBurst, "ip-conn-burst", transport.DefaultIPConnBurst, "new WebSocket connections per client address at once")
	fs.Float64Var(&l.roomJoinRate, "room-join-rate", hub.DefaultJoinRate, "joins per `second` into one room, sustained; 0 for no limit")
	fs.IntVar(&l.roomJoinBurst, "room-join-burst", hub.DefaultJoinBurst, "joins into one room at once")
	fs.Float64Var(&l.recvRate, "recv-rate", hub.DefaultRecvRate, "relayed messages per `second` one member may receive from all senders together; 0 for no limit")
	fs.IntVar(&l.recvBurst, "recv-burst", hub.DefaultRecvBurst, "relayed messages one member may receive at once")
	fs.IntVar(&l.maxPendingRequests, "max-pending-requests", hub.DefaultMaxPendingRequests, "unanswered connection requests to one member (one per sender); 0 for no limit")
	fs.DurationVar(&l.headerTimeout, "header-timeout", transport.DefaultHeaderTimeout, "time a request's line and headers may take to arrive (and a new connection may stay silent)")
	fs.DurationVar(&l.requestTimeout, "request-timeout", transport.DefaultRequestTimeout, "time to read a whole request (a WebSocket upgrade, a page) and to write its response")
}

func (l *limitsConfig) validate() error {
	for name, v := range map[string]float64{
		"--ip-conn-rate": l.ipConnRate, "--ip-conn-burst": float64(l.ipConnBurst),
		"--room-join-rate": l.roomJoinRate, "--room-join-burst": float64(l.roomJoinBurst),
		"--recv-rate": l.recvRate, "--recv-burst": float64(l.recvBurst),
		"--max-pending-requests": float64(l.maxPendingRequests),
	} {
		if v < 0 {
			return fmt.Errorf("%s must not be negative (0 turns the limit off)", name)
		}
	}
	if l.headerTimeout <= 0 || l.requestTimeout <= 0 {
		return fmt.Errorf("--header-timeout and --request-timeout must be positive")
	}
	return nil
}

// hub returns the hub's share of the limits.
func (l *limitsConfig) hub() hub.Limits {
	return hub.Limits{
		JoinRate: l.roomJoinRate, JoinBurst: l.roomJoinBurst,
		RecvRate: l.recvRate, RecvBurst: l.recvBurst,
		MaxPendingRequests: l.maxPendingRequests,
	}
}
