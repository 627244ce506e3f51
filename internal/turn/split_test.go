package turn

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// httpAndTURN serves HTTP and, through SplitListener, TURN on one loopback TCP port.
func httpAndTURN(t *testing.T, s *Server, wait time.Duration) (addr string, conns chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = make(chan net.Conn, 16)
	split := SplitListener(ln, s.ServeConn, wait)
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "lobby") }),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns <- c
			}
		},
	}
	go hs.Serve(split)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), conns
}

func TestTURNOnTheHTTPPort(t *testing.T) {
	s := startServer(t, Config{})
	addr, conns := httpAndTURN(t, s, 2*time.Second)

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "lobby" {
		t.Fatalf("HTTP through the split listener: %q", body)
	}
	if c := <-conns; runtime.GOOS == "linux" {
		if _, ok := c.(*net.TCPConn); !ok {
			t.Errorf("the HTTP server got a %T, want the bare *net.TCPConn (the lobby's epoll reader needs it)", c)
		}
	}

	s.Admit("carol")
	user, pass, _ := s.cfg.Credentials.Mint("carol", time.Now())
	tcp, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, addr, turn.NewSTUNConn(tcp), user, pass)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("TURN allocation over TCP on the HTTP port: %v", err)
	}
	peer := echoPeer(t)
	if err := roundTrip(relay, peer.LocalAddr(), []byte("via the web port")); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-conns:
		t.Fatalf("the TURN connection reached the HTTP server too: %v", c.RemoteAddr())
	default:
	}
}

func TestSplitListenerSilentClientGoesToHTTP(t *testing.T) {
	s := startServer(t, Config{})
	addr, conns := httpAndTURN(t, s, 100*time.Millisecond)
	silent, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A silent client does not hold up the next one.
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-conns // the GET
	select {
	case <-conns: // the silent one, handed to HTTP once the wait is over
	case <-time.After(5 * time.Second):
		t.Fatal("a silent connection never reached the HTTP server")
	}
}
