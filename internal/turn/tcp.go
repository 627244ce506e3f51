package turn

import (
	"net"
	"sync"
	"time"
)

// tcpIdle is how long a TURN-over-TCP connection may stay silent. A used one never is: ICE checks consent
// every few seconds through its relay, and clients refresh permissions every 4 minutes even when idle.
var tcpIdle = 5 * time.Minute

// guardedListener wraps a listener served by pion's TCP TURN loop, which gives each connection a goroutine
// and no deadline: here every connection gets an idle deadline, and at most the server's allocation quota of
// them are open at once, so silent or surplus connections cannot pile up.
type guardedListener struct {
	net.Listener
	s *Server
}

func (l guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.s.mu.Lock()
		ok := l.s.tcpConns < l.s.cfg.MaxAllocations
		if ok {
			l.s.tcpConns++
		}
		l.s.mu.Unlock()
		if !ok {
			l.s.log.Info("turn: TCP connection refused: too many", "client", c.RemoteAddr())
			c.Close()
			continue
		}
		return &idleConn{Conn: c, s: l.s}, nil
	}
}

// idleConn is a TCP TURN connection with an idle deadline that counts itself out when closed.
type idleConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(tcpIdle))
	return c.Conn.Read(p)
}

func (c *idleConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		c.s.tcpConns--
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}
