package turn

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// relayGen is the RelayAddressGenerator of one listening address: relays are opened on that address (so
// they are reachable the way the member reached the server) and announced as announce (the public address
// behind a 1:1 NAT). Every relay is counted against its member, and rate-limited.
type relayGen struct {
	s        *Server
	ip       net.IP
	announce net.IP
}

var _ turn.RelayAddressGenerator = (*relayGen)(nil)

func (g *relayGen) Validate() error { return nil }

func (g *relayGen) AllocatePacketConn(cfg turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if cfg.Network != udpNet(g.ip) {
		return nil, nil, ErrFamily
	}
	m, err := g.s.reserve(cfg.UserID)
	if err != nil {
		return nil, nil, err
	}
	pc, err := g.listen(cfg.Network)
	if err != nil {
		g.s.mu.Lock()
		g.s.allocs--
		g.s.mu.Unlock()
		return nil, nil, err
	}
	rc := &relayConn{PacketConn: pc, s: g.s, m: m}
	if !g.s.track(cfg.UserID, m, rc) {
		pc.Close()
		return nil, nil, ErrNotMember
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	return rc, &net.UDPAddr{IP: g.announce, Port: port}, nil
}

// listen opens the relay socket: on any free port, or on a random free one in the configured range.
func (g *relayGen) listen(network string) (net.PacketConn, error) {
	lo, hi := g.s.cfg.RelayPortMin, g.s.cfg.RelayPortMax
	if lo == 0 && hi == 0 {
		return net.ListenPacket(network, net.JoinHostPort(g.ip.String(), "0"))
	}
	if lo == 0 {
		lo = 1
	}
	var err error
	n := hi - lo + 1
	start := rand.IntN(n)
	for i := range min(n, 64) {
		port := lo + (start+i*7919)%n // a stride through the range, so a crowded range is not probed in order
		var pc net.PacketConn
		if pc, err = net.ListenPacket(network, net.JoinHostPort(g.ip.String(), strconv.Itoa(port))); err == nil {
			return pc, nil
		}
	}
	return nil, err
}

func (g *relayGen) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, ErrNoTCPRelay
}

func (g *relayGen) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, ErrNoTCPRelay
}

// relayConn is one relay socket. Every datagram it relays, either way, is charged to its member's and the
// server's rate; one over the rate is dropped.
type relayConn struct {
	net.PacketConn
	s    *Server
	m    *member
	once sync.Once
}

// allow charges n bytes to the rates and counts them as relayed or dropped (Stats).
func (c *relayConn) allow(n int) bool {
	if c.m.rate.take(n) && c.s.total.take(n) {
		c.s.relayed.Add(uint64(n))
		return true
	}
	c.s.dropped.Add(uint64(n))
	return false
}

// ReadFrom returns the next datagram from a peer that fits the rate.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.allow(n) {
			return n, addr, err
		}
	}
}

// WriteTo sends a datagram to a peer if it fits the rate; otherwise it is dropped.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.allow(len(p)) {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// Close closes the socket and uncounts the relay.
func (c *relayConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		c.s.release(c)
		err = c.PacketConn.Close()
	})
	return err
}

// bucket is a token bucket of bytes; a nil bucket allows everything.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

// newBucket returns a bucket for rate bytes/s with a burst of a quarter second (at least 64 KiB), or nil
// for rate <= 0.
func newBucket(rate int64) *bucket {
	if rate <= 0 {
		return nil
	}
	burst := max(float64(rate)/4, 64<<10)
	return &bucket{rate: float64(rate), burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) take(n int) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// connListener is a net.Listener fed with connections accepted elsewhere (the HTTP port), so pion's TCP
// server loop can serve them.
type connListener struct {
	addr     net.Addr
	loopback bool
	conns    chan net.Conn
	done     chan struct{}
	once     sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	l := &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
	if a, ok := addr.(*net.TCPAddr); ok {
		l.loopback = a.IP.IsLoopback()
	}
	return l
}

// push hands c to the listener's Accept; false once the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
