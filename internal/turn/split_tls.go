package turn

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"time"
)

// ALPNTURN is the ALPN protocol of TURN over TLS (RFC 7443). Put it in the tls.Config's NextProtos beside
// "http/1.1" so that a TURN client that offers only it is not refused; clients that offer nothing are told
// apart by their first bytes anyway.
const ALPNTURN = "stun.turn"

// SplitTLSListener is SplitListener for a port that serves HTTPS: TURN over TCP (a STUN message first)
// still goes to turn, and every other connection must start a TLS handshake under config. After the
// handshake the first decrypted byte decides again: a STUN message, or ALPN "stun.turn", means TURN over
// TLS (turns:), handed to turn; anything else is returned by Accept for the HTTP server, already handshaken,
// as a *tls.Conn or (when a byte had to be read to decide) a conn that replays it and still has the
// *tls.Conn methods (ConnectionState, CloseWrite). The config should offer "http/1.1" only, besides
// ALPNTURN: the HTTP server does not get a *tls.Conn and so cannot speak HTTP/2.
//
// A plain HTTP request gets net/http's "400 Client sent an HTTP request to an HTTPS server". The handshake
// and the first byte each have wait to arrive; a client silent before its handshake is closed, one silent
// after it goes to HTTP. Certificates come from config, so GetCertificate can change them for new
// connections while the others keep theirs. Failed handshakes are logged to log at debug (as net/http does:
// a client that refuses the certificate says so there); nil discards.
func SplitTLSListener(ln net.Listener, turn func(net.Conn), config *tls.Config, wait time.Duration, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &split{ln: ln, turn: turn, wait: wait, tls: config, log: log, http: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

// overTLS handshakes a connection that did not start with STUN (peekErr: why its first byte could not be
// seen) and either hands it to turn (nil) or returns it for HTTP. It closes the connections that are neither.
func (s *split) overTLS(c net.Conn, peekErr error) net.Conn {
	if peekErr != nil {
		c.Close() // silent or gone before any handshake
		return nil
	}
	tc := tls.Server(c, s.tls)
	c.SetDeadline(time.Now().Add(s.wait))
	if err := tc.Handshake(); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		s.log.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return nil
	}
	c.SetWriteDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == ALPNTURN {
		c.SetReadDeadline(time.Time{})
		s.turn(tc)
		return nil
	}
	c.SetReadDeadline(time.Now().Add(s.wait))
	var b [1]byte
	n, err := tc.Read(b[:])
	c.SetReadDeadline(time.Time{})
	switch {
	case n == 1 && b[0] <= 0x01:
		s.turn(&tlsConn{Conn: tc, first: b[0], replay: true})
		return nil
	case n == 1:
		return &tlsConn{Conn: tc, first: b[0], replay: true}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return tc // a preconnection: HTTP applies its own timeouts (a timeout leaves a *tls.Conn usable)
	}
	c.Close()
	return nil
}

// looksLikeHTTP reports whether a would-be TLS record header is the start of an HTTP request (as net/http
// checks).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "CONNE", "PATCH", "TRACE":
		return true
	}
	return false
}

// tlsConn is a TLS connection whose first decrypted byte was read to classify it, and is replayed. It keeps
// the *tls.Conn's methods, among them CloseWrite (a close_notify), which the lobby uses at close.
type tlsConn struct {
	*tls.Conn
	first  byte
	replay bool
}

func (c *tlsConn) Read(p []byte) (int, error) {
	if c.replay && len(p) > 0 {
		p[0], c.replay = c.first, false
		return 1, nil
	}
	return c.Conn.Read(p)
}
