// Package turn is p2plobby's embedded STUN/TURN server (pion/turn) and the credentials that tie TURN to the
// lobby: a member gets short-lived credentials that name it, the server honours them only while that member
// is in the lobby, and its allocations end when it leaves.
//
// The server listens on UDP and TCP (3478 by default) on every local address separately, so a relay is
// always opened on the address the member reached, which the member can reach on a multi-homed host.
// [SplitListener] hands it TURN connections that arrive on the HTTP port, for networks that let nothing
// else out.
package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/p2plobby/p2plobby/internal/pionlog"
)

// Config tunes a Server. Zero fields take the documented defaults.
type Config struct {
	// Addr is where STUN and TURN listen, on UDP and TCP: "host:port". An empty or unspecified host means
	// every local address, each bound on its own. Port 0 picks one free port for all. Default ":3478".
	Addr string
	// AltPort, when not zero, also serves STUN and TURN on UDP at this port (p2plobby uses the HTTP port),
	// giving clients a second server port from which to tell how their NAT maps. Failing to bind it is
	// logged, not fatal.
	AltPort int
	// PublicIP is the relay address announced to clients when the server sits behind a 1:1 NAT (cloud VMs):
	// relays are bound on the local address and announced with this one. Nil announces the local address.
	PublicIP net.IP
	// RelayPortMin and RelayPortMax bound the UDP ports relays are opened on (for firewall rules); zero
	// lets the system pick any free port.
	RelayPortMin, RelayPortMax int
	// Credentials checks the credentials members present. Required.
	Credentials *Credentials
	// Realm is the TURN realm. Default "p2plobby".
	Realm string
	// MaxAllocations caps allocations in total; MaxMemberAllocations caps them per member. Beyond either,
	// an Allocate is answered 486 (Allocation Quota Reached). Defaults 2000 and 30. MaxAllocations also caps
	// the TURN-over-TCP connections open at once (each idle one is closed after 5 minutes).
	MaxAllocations       int
	MaxMemberAllocations int
	// MemberRate caps the bytes per second relayed for one member (both directions, all its allocations
	// together); TotalRate caps the whole server. Packets over the rate are dropped, as a congested link
	// would. Zero means unlimited. Defaults: MemberRate 8 MiB/s, TotalRate unlimited.
	MemberRate int64
	TotalRate  int64
	// Logger receives allocation events at debug and refusals at info; nil discards.
	Logger *slog.Logger
}

// Defaults for Config.
const (
	DefaultPort                 = 3478
	DefaultRealm                = "p2plobby"
	DefaultMaxAllocations       = 2000
	DefaultMaxMemberAllocations = 30
	DefaultMemberRate           = 8 << 20
)

// Errors of the relay allocator; pion answers them to the client as a failed Allocate.
var (
	ErrQuota      = errors.New("turn: allocation quota reached")
	ErrNotMember  = errors.New("turn: not a lobby member")
	ErrNoTCPRelay = errors.New("turn: TCP relays (RFC 6062) are not offered")
	ErrFamily     = errors.New("turn: address family not served on this address")
)

// Server is the embedded STUN/TURN server. Create it with Listen; stop it with Close. It is safe for
// concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	pion    *turn.Server
	port    int
	altPort int
	addrs   []string // what is served where, for the start-up log

	byIP     map[string]*connListener // TCP connections handed over from the HTTP port, by local IP
	fallback *connListener

	mu       sync.Mutex
	members  map[string]*member // members holding credentials; a member's state is made when it allocates
	allocs   int
	tcpConns int // TURN-over-TCP connections open
	total    *bucket
	closed   bool

	// Counters for Stats.
	created atomic.Uint64 // relays opened
	refused atomic.Uint64 // allocations refused for a quota
	relayed atomic.Uint64 // bytes relayed, both ways
	dropped atomic.Uint64 // bytes over a rate, dropped
}

// member is what the server keeps for one member that has allocated.
type member struct {
	relays map[*relayConn]struct{}
	rate   *bucket
}

// Listen binds every socket and starts serving. It fails if any socket of Addr cannot be bound.
func Listen(cfg Config) (*Server, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("turn: Config.Credentials is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = ":" + strconv.Itoa(DefaultPort)
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.MaxAllocations <= 0 {
		cfg.MaxAllocations = DefaultMaxAllocations
	}
	if cfg.MaxMemberAllocations <= 0 {
		cfg.MaxMemberAllocations = DefaultMaxMemberAllocations
	}
	if cfg.RelayPortMin < 0 || cfg.RelayPortMax > 65535 || cfg.RelayPortMin > cfg.RelayPortMax {
		return nil, fmt.Errorf("turn: bad relay port range %d-%d", cfg.RelayPortMin, cfg.RelayPortMax)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		byIP:    make(map[string]*connListener),
		members: make(map[string]*member),
		total:   newBucket(cfg.TotalRate),
	}
	ips, port, err := listenIPs(cfg.Addr)
	if err != nil {
		return nil, err
	}
	socks, err := bindAll(ips, port)
	if err != nil {
		return nil, err
	}
	s.port = socks.port

	var pcs []turn.PacketConnConfig
	var lcs []turn.ListenerConfig
	for i, ip := range ips {
		gen := &relayGen{s: s, ip: ip, announce: announced(ip, cfg.PublicIP)}
		permit := permission(ip)
		pcs = append(pcs, turn.PacketConnConfig{PacketConn: socks.udp[i], RelayAddressGenerator: gen, PermissionHandler: permit})
		lcs = append(lcs, turn.ListenerConfig{Listener: guardedListener{socks.tcp[i], s}, RelayAddressGenerator: gen, PermissionHandler: permit})
		hand := newConnListener(socks.tcp[i].Addr())
		s.byIP[ip.String()] = hand
		if s.fallback == nil || s.fallback.loopback && !ip.IsLoopback() {
			s.fallback = hand // for addresses added after start: a relay others can reach, if there is one
		}
		lcs = append(lcs, turn.ListenerConfig{Listener: guardedListener{hand, s}, RelayAddressGenerator: gen, PermissionHandler: permit})
		s.addrs = append(s.addrs, net.JoinHostPort(ip.String(), strconv.Itoa(s.port)))
		if cfg.AltPort > 0 && cfg.AltPort != s.port {
			alt, err := net.ListenPacket(udpNet(ip), net.JoinHostPort(ip.String(), strconv.Itoa(cfg.AltPort)))
			if err != nil {
				s.log.Warn("STUN/TURN not served on the alternate UDP port", "addr", ip, "port", cfg.AltPort, "err", err)
				continue
			}
			s.altPort = cfg.AltPort
			pcs = append(pcs, turn.PacketConnConfig{PacketConn: alt, RelayAddressGenerator: gen, PermissionHandler: permit})
		}
	}
	s.pion, err = turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: pcs,
		ListenerConfigs:   lcs,
		Realm:             cfg.Realm,
		AuthHandler:       s.auth,
		QuotaHandler:      s.quota,
		LoggerFactory:     pionlog.Factory{Log: s.log},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, proto, user, _ string, relay net.Addr, _ int) {
				s.log.Debug("turn allocation", "member", user, "client", src, "transport", proto, "relay", relay)
			},
			OnAllocationDeleted: func(src, _ net.Addr, proto, user, _ string) {
				s.log.Debug("turn allocation ended", "member", user, "client", src, "transport", proto)
			},
		},
	})
	if err != nil {
		for _, p := range pcs {
			p.PacketConn.Close()
		}
		for _, l := range lcs {
			l.Listener.Close()
		}
		return nil, fmt.Errorf("turn: %w", err)
	}
	return s, nil
}

// Port is the UDP and TCP port STUN and TURN listen on.
func (s *Server) Port() int { return s.port }

// AltPort is the second UDP port STUN and TURN answer on, or 0.
func (s *Server) AltPort() int { return s.altPort }

// Addrs lists the host:port pairs served, for logs.
func (s *Server) Addrs() []string { return s.addrs }

// Realm is the TURN realm.
func (s *Server) Realm() string { return s.cfg.Realm }

// Admit lets member id use TURN: its credentials are honoured from now on until Leave.
func (s *Server) Admit(id string) {
	s.mu.Lock()
	if !s.closed {
		if _, ok := s.members[id]; !ok {
			s.members[id] = nil
		}
	}
	s.mu.Unlock()
}

// Leave ends member id's use of TURN: its credentials are refused from now on and its allocations end.
func (s *Server) Leave(id string) {
	s.mu.Lock()
	var relays []*relayConn
	if m := s.members[id]; m != nil {
		relays = m.list() // under s.mu: release deletes from the same map when a relay closes
	}
	delete(s.members, id)
	s.mu.Unlock()
	for _, rc := range relays {
		rc.Close() // pion's relay loop sees the socket closed and deletes the allocation
	}
}

// Members is the number of members admitted now.
func (s *Server) Members() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.members)
}

// Allocations is the number of relays open now.
func (s *Server) Allocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allocs
}

// Stats is a snapshot of a Server's counters, for metrics. The totals count from Listen on.
type Stats struct {
	Allocations        int    // relays open now
	AllocationsCreated uint64 // relays opened
	QuotaRefusals      uint64 // allocations refused by MaxAllocations or MaxMemberAllocations (486)
	RelayedBytes       uint64 // payload bytes relayed between members and their peers, both ways
	DroppedBytes       uint64 // payload bytes dropped for going over MemberRate or TotalRate
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Allocations:        s.Allocations(),
		AllocationsCreated: s.created.Load(),
		QuotaRefusals:      s.refused.Load(),
		RelayedBytes:       s.relayed.Load(),
		DroppedBytes:       s.dropped.Load(),
	}
}

// ServeConn hands the server a TCP connection that opened with a STUN message on another listener (the HTTP
// port; see SplitListener). The server owns it from now on.
func (s *Server) ServeConn(c net.Conn) {
	l := s.fallback
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		if byIP := s.byIP[a.IP.String()]; byIP != nil {
			l = byIP
		}
	}
	if !l.push(c) {
		c.Close()
	}
}

// Close stops the server and ends every allocation.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var all []*relayConn
	for _, m := range s.members {
		if m != nil {
			all = append(all, m.list()...)
		}
	}
	clear(s.members)
	s.mu.Unlock()
	for _, l := range s.byIP {
		l.Close()
	}
	err := s.pion.Close()
	for _, rc := range all {
		rc.Close()
	}
	return err
}

// auth is pion's AuthHandler. A credential is good if it names a member in the lobby and, for a new
// allocation, has not expired; requests on an existing allocation (refresh, permissions, channels) need only
// the member to still be there, so an allocation lives as long as its member, as with coturn, which checks
// the expiry only when an allocation is made. pion then checks MESSAGE-INTEGRITY with the returned key, which
// refuses forged passwords and credentials of another secret.
func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	expires, id, ok := ParseUsername(ra.Username)
	if !ok {
		s.log.Info("turn credential refused", "reason", "malformed username", "client", ra.SrcAddr)
		return "", nil, false
	}
	s.mu.Lock()
	_, present := s.members[id]
	s.mu.Unlock()
	if !present {
		s.log.Debug("turn credential refused", "reason", "not a member", "member", id, "client", ra.SrcAddr) // routine: a leaving client deallocates
		return "", nil, false
	}
	if ra.Method == stun.MethodAllocate && time.Now().After(expires) {
		s.log.Info("turn credential refused", "reason", "expired", "member", id, "client", ra.SrcAddr)
		return "", nil, false
	}
	return id, turn.GenerateAuthKey(ra.Username, ra.Realm, s.cfg.Credentials.Password(ra.Username)), true
}

// quota is pion's QuotaHandler, asked before an allocation is made, so a member over its quota gets a
// proper 486. reserve checks again when the relay is opened.
func (s *Server) quota(id, _ string, _ net.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, present := s.members[id]
	ok := present && s.allocs < s.cfg.MaxAllocations && (m == nil || len(m.relays) < s.cfg.MaxMemberAllocations)
	if present && !ok {
		s.refused.Add(1)
	}
	return ok
}

// reserve counts a new relay for member id.
func (s *Server) reserve(id string) (*member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, present := s.members[id]
	switch {
	case !present:
		return nil, ErrNotMember
	case s.allocs >= s.cfg.MaxAllocations, m != nil && len(m.relays) >= s.cfg.MaxMemberAllocations:
		s.refused.Add(1)
		return nil, ErrQuota
	}
	if m == nil {
		m = &member{relays: make(map[*relayConn]struct{}), rate: newBucket(s.cfg.MemberRate)}
		s.members[id] = m
	}
	s.allocs++
	return m, nil
}

// track records an open relay; false if its member left meanwhile (the caller closes it).
func (s *Server) track(id string, m *member, rc *relayConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.members[id] != m {
		s.allocs--
		return false
	}
	m.relays[rc] = struct{}{}
	s.created.Add(1)
	return true
}

// release forgets a closed relay.
func (s *Server) release(rc *relayConn) {
	s.mu.Lock()
	if _, ok := rc.m.relays[rc]; ok {
		delete(rc.m.relays, rc)
		s.allocs--
	}
	s.mu.Unlock()
}

// list returns m's relays. Called with Server.mu held.
func (m *member) list() []*relayConn {
	out := make([]*relayConn, 0, len(m.relays))
	for rc := range m.relays {
		out = append(out, rc)
	}
	return out
}

// announced is the relay address announced for relays bound on ip: the public address of a 1:1 NAT, for
// addresses of its family; loopback relays serve this host only and stay as they are.
func announced(ip, public net.IP) net.IP {
	if public == nil || ip.IsLoopback() || (ip.To4() == nil) != (public.To4() == nil) {
		return ip
	}
	return public
}

// permission is the PermissionHandler for relays on address ip: it refuses peers that would turn the relay
// into a way into the server's own host or links (loopback, unless the relay is on loopback itself, as in
// development; link-local, which includes cloud metadata services) and addresses that are no single host.
func permission(ip net.IP) turn.PermissionHandler {
	return func(_ net.Addr, peer net.IP) bool {
		switch {
		case peer.IsUnspecified(), peer.IsMulticast(), peer.Equal(net.IPv4bcast):
			return false
		case peer.IsLoopback():
			return ip.IsLoopback()
		case peer.IsLinkLocalUnicast():
			return ip.IsLinkLocalUnicast()
		}
		return true
	}
}
