package main

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/turn/v5"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	turnpkg "github.com/p2plobby/p2plobby/internal/turn"
)

type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

type selfMsg struct {
	Kind       string      `json:"kind"`
	ID         string      `json:"id"`
	ICEServers []iceServer `json:"iceServers"`
}

// joinAs opens a lobby connection whose Host header is host, and returns the connection and self-connected.
func joinAs(t *testing.T, s *lobbytest.Server, host string) (*websocket.Conn, selfMsg) {
	t.Helper()
	h := http.Header{}
	if host != "" {
		h.Set("Host", host)
	}
	c, _, err := websocket.DefaultDialer.Dial(s.WS+"/", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var m selfMsg
	if err := c.ReadJSON(&m); err != nil || m.Kind != "self-connected" {
		t.Fatalf("self-connected: %+v %v", m, err)
	}
	return c, m
}

// turnURL finds the TURN server with a URL of this transport and returns its host:port and credentials.
func turnURL(t *testing.T, list []iceServer, suffix string) (addr, user, pass string) {
	t.Helper()
	for _, s := range list {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, suffix) {
				return strings.TrimSuffix(strings.TrimPrefix(u, "turn:"), suffix), s.Username, s.Credential
			}
		}
	}
	t.Fatalf("no turn: URL ending in %s in %+v", suffix, list)
	return
}

// allocate makes a TURN allocation over UDP or TCP, as a browser would with the lobby's credentials.
func allocate(t *testing.T, network, addr, user, pass string) (net.PacketConn, error) {
	t.Helper()
	var conn net.PacketConn
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	} else {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	cl, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr, STUNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); conn.Close() })
	return cl.Allocate()
}

// The real binary serves STUN and TURN by default: a member's ICE servers name the host it used, carry
// credentials that allocate over UDP, TCP and the HTTP port, and stop working once it leaves.
func TestServeTURNEndToEnd(t *testing.T) {
	s := lobbytest.Start(t)
	_, port, _ := net.SplitHostPort(s.Addr)

	_, viaName := joinAs(t, s, "localhost:"+port)
	if u := viaName.ICEServers[0].URLs[0]; !strings.HasPrefix(u, "stun:localhost:") {
		t.Errorf("a member that came by localhost gets %q, want a stun:localhost: URL", u)
	}
	ws, m := joinAs(t, s, "")
	if len(m.ICEServers) != 2 {
		t.Fatalf("iceServers %+v, want STUN and TURN", m.ICEServers)
	}
	if _, id, ok := turnpkg.ParseUsername(m.ICEServers[1].Username); !ok || id != m.ID {
		t.Fatalf("TURN username %q does not name member %s", m.ICEServers[1].Username, m.ID)
	}
	turnSrv := m.ICEServers[1]
	var viaHTTPPort bool
	for _, u := range turnSrv.URLs {
		addr, transport, _ := strings.Cut(strings.TrimPrefix(u, "turn:"), "?transport=")
		viaHTTPPort = viaHTTPPort || strings.HasSuffix(addr, ":"+port)
		if _, err := allocate(t, transport, addr, turnSrv.Username, turnSrv.Credential); err != nil {
			t.Errorf("TURN %s at %s: %v", transport, addr, err)
		}
	}
	if len(turnSrv.URLs) != 3 || !viaHTTPPort {
		t.Errorf("TURN URLs %v: want UDP, TCP and TCP on the HTTP port %s", turnSrv.URLs, port)
	}

	addr, user, pass := turnURL(t, m.ICEServers, "?transport=udp")
	ws.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := allocate(t, "udp", addr, user, pass)
		if err != nil {
			break // the member left: its credentials are refused
		}
		if time.Now().After(deadline) {
			t.Fatal("credentials still allocate after their member left")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Credentials are refreshed before they expire with {"kind":"ice-servers"}.
func TestServeTURNRefresh(t *testing.T) {
	s := lobbytest.Start(t, "--turn-ttl", "4s", "--ping-interval", "1s", "--idle-timeout", "5s")
	ws, m := joinAs(t, s, "")
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var msg struct {
			Kind       string      `json:"kind"`
			ICEServers []iceServer `json:"iceServers"`
		}
		if err := ws.ReadJSON(&msg); err != nil {
			t.Fatalf("no ice-servers refresh: %v", err)
		}
		if msg.Kind != "ice-servers" {
			continue
		}
		old, _, _ := turnpkg.ParseUsername(m.ICEServers[1].Username)
		fresh, id, ok := turnpkg.ParseUsername(msg.ICEServers[1].Username)
		if !ok || id != m.ID || !fresh.After(old) {
			t.Fatalf("refresh %q after %q: want a later expiry for the same member", msg.ICEServers[1].Username, m.ICEServers[1].Username)
		}
		if time.Now().After(old) {
			t.Fatalf("refresh arrived after the old credentials expired (%v)", old)
		}
		return
	}
}

func TestServeTURNOffAndExternal(t *testing.T) {
	s := lobbytest.Start(t, "--turn=false")
	if _, m := joinAs(t, s, ""); m.ICEServers != nil {
		t.Errorf("--turn=false: iceServers %+v, want none", m.ICEServers)
	}
	s = lobbytest.Start(t, "--turn-url", "turn:coturn.example:3478?transport=udp,stun:coturn.example:3478", "--turn-secret", "shh")
	_, m := joinAs(t, s, "")
	if len(m.ICEServers) != 2 || m.ICEServers[1].URLs[0] != "turn:coturn.example:3478?transport=udp" {
		t.Fatalf("--turn-url: iceServers %+v", m.ICEServers)
	}
	if want := turnpkg.NewCredentials([]byte("shh"), time.Hour).Password(m.ICEServers[1].Username); m.ICEServers[1].Credential != want {
		t.Errorf("credential %q, want HMAC-SHA1 of the username under --turn-secret (%q)", m.ICEServers[1].Credential, want)
	}
}

func TestServeTURNPortTaken(t *testing.T) {
	// The default port taken: loud warning, lobby served without TURN.
	if pc, err := net.ListenPacket("udp4", "127.0.0.1:3478"); err == nil {
		defer pc.Close()
	} // else something already holds it, which is the case under test too
	code, out := runCLI(t, nil, "serve", "--addr", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "TURN IS OFF") || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "msg=listening") {
		t.Fatalf("default TURN port taken: exit %d\n%s", code, out)
	}

	// An explicit --turn-addr taken: a clear error, exit 1.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	taken := "127.0.0.1:" + strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	code, out = runCLI(t, nil, "serve", "--addr", "127.0.0.1:0", "--turn-addr", taken)
	if code != 1 || !strings.Contains(out, "STUN/TURN cannot listen on --turn-addr "+taken) {
		t.Fatalf("explicit --turn-addr taken: exit %d\n%s", code, out)
	}
}

func TestServeTURNStartLog(t *testing.T) {
	code, out := runCLI(t, nil, "serve", "--addr", "127.0.0.1:0", "--turn-addr", "127.0.0.1:0", "--turn-public-ip", "203.0.113.9")
	if code != 0 || !strings.Contains(out, `msg="STUN and TURN" udp+tcp=127.0.0.1:`) || !strings.Contains(out, "relay-address=203.0.113.9") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestServeTURNBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"--turn-url", "turn:x:3478"},                    // no secret
		{"--turn-url", "http://x", "--turn-secret", "s"}, // not a TURN URL
		{"--turn-public-ip", "not-an-ip"},                //
		{"--turn-relay-ports", "5000"},                   //
		{"--turn-relay-ports", "6000-5000"},              //
		{"--turn-ttl", "10s"},                            // shorter than 3 pings
		{"--turn-member-allocations", "0"},               //
		{"--turn-member-rate", "fast"},                   //
	} {
		if code, out := runCLI(t, nil, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, out)
		}
	}
}

func TestServeTURNWarnsOnOneAddress(t *testing.T) {
	code, out := runCLI(t, nil, "serve", "--addr", ":0", "--turn-addr", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "STUN/TURN listen on one address while the lobby listens on all") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	code, out = runCLI(t, nil, "serve", "--addr", "127.0.0.1:0", "--turn-addr", "127.0.0.1:0")
	if code != 0 || strings.Contains(out, "listen on one address") {
		t.Fatalf("both on loopback: exit %d\n%s", code, out)
	}
}
