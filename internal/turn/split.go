package turn

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// SplitListener serves TURN over TCP on the HTTP port. It accepts from ln and looks at each connection's
// first byte: a STUN message starts with 0x00 or 0x01 (two zero bits, then the method's high bits) and goes
// to turn; anything else (an HTTP method is an ASCII letter, TLS starts with 0x16) is returned by the
// returned listener's Accept, untouched. The byte is only peeked, never read, on Unix, so the HTTP server
// still gets the bare *net.TCPConn and the lobby's epoll reader keeps working.
//
// A connection that sends nothing within wait goes to HTTP, which applies its own timeouts. Each connection
// is classified on its own goroutine, so a silent client delays no one. Closing the returned listener
// closes ln.
func SplitListener(ln net.Listener, turn func(net.Conn), wait time.Duration) net.Listener {
	s := &split{ln: ln, turn: turn, wait: wait, http: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

type split struct {
	ln   net.Listener
	turn func(net.Conn)
	wait time.Duration
	tls  *tls.Config  // nil: plain HTTP (SplitListener); else TLS first (SplitTLSListener)
	log  *slog.Logger // TLS handshake failures; only with tls
	http chan net.Conn
	done chan struct{}
	once sync.Once

	mu  sync.Mutex
	err error // why the accept loop ended
}

func (s *split) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) { // e.g. out of file descriptors: back off, as net/http does
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-s.done:
				}
			}
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			s.Close()
			return
		}
		delay = 0
		go s.classify(c)
	}
}

func (s *split) classify(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(s.wait))
	b, c, err := peekByte(c)
	c.SetReadDeadline(time.Time{})
	if err == nil && b <= 0x01 {
		s.turn(c)
		return
	}
	if s.tls != nil {
		if c = s.overTLS(c, err); c == nil {
			return
		}
	}
	select {
	case s.http <- c:
	case <-s.done:
		c.Close()
	}
}

// Accept returns the next connection that is not TURN.
func (s *split) Accept() (net.Conn, error) {
	select {
	case c := <-s.http:
		return c, nil
	case <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil {
			return nil, s.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the underlying listener.
func (s *split) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ln.Close()
	})
	return err
}

// Addr is the underlying listener's address.
func (s *split) Addr() net.Addr { return s.ln.Addr() }

// prefixConn replays bytes already read from a connection that could not be peeked.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// readByte reads the first byte where it cannot be peeked, and returns a connection that replays it.
func readByte(c net.Conn) (byte, net.Conn, error) {
	var b [1]byte
	n, err := c.Read(b[:])
	if n == 0 {
		return 0, c, err
	}
	return b[0], &prefixConn{Conn: c, prefix: b[:1]}, nil
}
