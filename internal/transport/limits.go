package transport

import (
	"net/netip"
	"time"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// Defaults used by cmd/p2plobby for the limits per client address and for the HTTP server. They let a few
// hundred people behind one NAT (an office, a school) arrive at once (docs/protocol.md, "Limits").
const (
	DefaultMaxConnsPerIP = 1000 // concurrent WebSocket connections per client address
	DefaultIPConnRate    = 1200 // new WebSocket connections per minute per client address, sustained
	DefaultIPConnBurst   = 1000 // new WebSocket connections per client address at once
	// DefaultHeaderTimeout bounds how long a request's line and headers may take to arrive (http.Server's
	// ReadHeaderTimeout), and on the port shared with TURN, how long a new connection may stay silent.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultRequestTimeout bounds reading a whole request and writing its response (http.Server's
	// ReadTimeout and WriteTimeout): a WebSocket upgrade, a page or file of the app. An upgraded
	// connection has its own timeouts (Config.IdleTimeout, WriteTimeout).
	DefaultRequestTimeout = 30 * time.Second
)

// maxIPRates bounds the client addresses whose new-connection buckets are remembered. Past it, those whose
// buckets have refilled are forgotten at once, and if that is not enough, arbitrary ones (they start again
// with a full bucket): memory stays bounded whatever addresses connect.
const maxIPRates = 1 << 16

var (
	errTooManyConns = &protocol.Error{Code: protocol.CodeTooManyConnections,
		Message: "too many connections from your address"}
	errConnectingTooFast = &protocol.Error{Code: protocol.CodeConnectingTooFast,
		Message: "too many new connections from your address; try again in a moment"}
)

// limitKey is the client address that the limits per address count: the IPv4 address, or the /64 of an IPv6
// address (one home or office network; a single host can have any of its 2^64 addresses). For a connection
// that is not IP (tests over pipes), raw.
func limitKey(a netip.Addr, raw string) string {
	switch {
	case !a.IsValid():
		return hostOnly(raw)
	case a.Is6():
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// refusalClose is the close code that follows a refusal of a connection with error code code.
func refusalClose(code string) int {
	switch code {
	case protocol.CodeBadRoom:
		return protocol.CloseBadJoin
	case protocol.CodeConnectingTooFast, protocol.CodeRoomBusy:
		return protocol.CloseBusy
	}
	return protocol.CloseFull
}

var epoch = time.Now()

// monotonic is the time for buckets: nanoseconds on the monotonic clock.
func monotonic() int64 { return int64(time.Since(epoch)) }

// bucket is a token bucket. Its zero value is full: the first take fills it to the burst.
type bucket struct {
	tokens float64
	last   int64 // monotonic() of the last take; 0: never taken
}

// level is how many tokens b holds at now, refilling at rate per second up to burst.
func (b bucket) level(now int64, rate float64, burst int) float64 {
	if b.last == 0 {
		return float64(burst)
	}
	if now <= b.last {
		return b.tokens
	}
	return min(float64(burst), b.tokens+float64(now-b.last)*rate/1e9)
}

// take takes a token if there is one.
func (b *bucket) take(now int64, rate float64, burst int) bool {
	b.tokens, b.last = b.level(now, rate, burst), max(now, b.last)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// takeIPConn takes a new-connection token of client address ip (Config.IPConnRate). Called with s.mu held.
func (s *Server) takeIPConn(ip string, now int64) bool {
	if s.ipRate == nil {
		s.ipRate = make(map[string]bucket)
	}
	b, known := s.ipRate[ip]
	if !known && len(s.ipRate) >= maxIPRates {
		s.sweepIPRates(now, true)
	}
	ok := b.take(now, s.cfg.IPConnRate/60, s.cfg.IPConnBurst)
	s.ipRate[ip] = b
	return ok
}

// sweepIPRates forgets the addresses whose buckets have refilled: they are as good as new. With full, it also
// forgets arbitrary ones until a quarter of maxIPRates is free. Called with s.mu held; the keepalive sweeps
// every PingInterval, so an address is remembered for at most a refill plus that.
func (s *Server) sweepIPRates(now int64, full bool) {
	rate, burst := s.cfg.IPConnRate/60, s.cfg.IPConnBurst
	for ip, b := range s.ipRate {
		if b.level(now, rate, burst) >= float64(burst) {
			delete(s.ipRate, ip)
		}
	}
	if !full {
		return
	}
	for ip := range s.ipRate {
		if len(s.ipRate) <= maxIPRates*3/4 {
			break
		}
		delete(s.ipRate, ip)
	}
}
