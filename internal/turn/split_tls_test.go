package turn

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/p2plobby/p2plobby/internal/certtest"
)

// httpsAndTURN serves HTTPS and, through SplitTLSListener, TURN over TCP and over TLS on one loopback port.
func httpsAndTURN(t *testing.T, s *Server) (addr string, ca *certtest.CA, conns chan net.Conn) {
	t.Helper()
	ca = certtest.New(t)
	certPEM, keyPEM, _ := ca.Issue(t, time.Time{})
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1", ALPNTURN}}
	conns = make(chan net.Conn, 16)
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "lobby") }),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns <- c
			}
		},
	}
	go hs.Serve(SplitTLSListener(ln, s.ServeConn, cfg, 2*time.Second, nil))
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), ca, conns
}

// allocateOver makes an allocation through a TURN client on conn and relays a datagram to an echo peer.
func allocateOver(t *testing.T, s *Server, addr string, conn net.Conn, member string) error {
	t.Helper()
	s.Admit(member)
	user, pass, _ := s.cfg.Credentials.Mint(member, time.Now())
	cl := newClient(t, addr, turn.NewSTUNConn(conn), user, pass)
	relay, err := cl.Allocate()
	if err != nil {
		return err
	}
	defer relay.Close()
	return roundTrip(relay, echoPeer(t).LocalAddr(), []byte("via "+member))
}

func TestTURNOverTLSOnTheHTTPSPort(t *testing.T) {
	s := startServer(t, Config{})
	addr, ca, conns := httpsAndTURN(t, s)

	// HTTPS, with the request's first byte replayed to the HTTP server.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientConfig()}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "lobby" || resp.ProtoMajor != 1 {
		t.Fatalf("HTTPS through the split listener: %s %q", resp.Proto, body)
	}
	c := <-conns
	if _, ok := c.(interface{ ConnectionState() tls.ConnectionState }); !ok {
		t.Errorf("the HTTP server got a %T, without the TLS connection's methods", c)
	}

	// turns: TURN over TLS, told apart by its first decrypted bytes.
	tc, err := tls.Dial("tcp4", addr, ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := allocateOver(t, s, addr, tc, "tls-member"); err != nil {
		t.Errorf("TURN over TLS on the HTTPS port: %v", err)
	}

	// A client that names TURN by ALPN (RFC 7443).
	alpn := ca.ClientConfig()
	alpn.NextProtos = []string{ALPNTURN}
	tc, err = tls.Dial("tcp4", addr, alpn)
	if err != nil {
		t.Fatal(err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != ALPNTURN {
		t.Errorf("ALPN %q, want %q", p, ALPNTURN)
	}
	if err := allocateOver(t, s, addr, tc, "alpn-member"); err != nil {
		t.Errorf("TURN over TLS with ALPN stun.turn: %v", err)
	}

	// Plain TURN over TCP still works on the same port.
	plain, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := allocateOver(t, s, addr, plain, "tcp-member"); err != nil {
		t.Errorf("TURN over plain TCP on the HTTPS port: %v", err)
	}

	select {
	case c := <-conns:
		t.Fatalf("a TURN connection reached the HTTP server: %v", c.RemoteAddr())
	default:
	}
}

func TestSplitTLSListenerRefusesPlainHTTP(t *testing.T) {
	s := startServer(t, Config{})
	addr, _, _ := httpsAndTURN(t, s)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Errorf("plain HTTP on the HTTPS port: %d %q", resp.StatusCode, body)
	}

	// A certificate the client does not trust fails the handshake; the port goes on serving.
	if _, err := tls.Dial("tcp4", addr, &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("a handshake succeeded without trusting the test CA")
	}
	// TLS 1.1 is refused.
	if _, err := tls.Dial("tcp4", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}
}
