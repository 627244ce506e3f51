// Package netcheck tells whether peers can connect through a p2plobby server, and how: it joins the lobby,
// asks its STUN servers what this host's public address is from one socket (same public port towards two
// server ports means the NAT maps independently of the destination, so direct connections work), and makes a
// TURN allocation over every TURN URL the lobby hands out. Its verdict is the one the web app's check gives.
package netcheck

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Mapping is how the NAT in front of this host maps its UDP ports.
type Mapping string

// Mappings.
const (
	MappingNone        Mapping = "none"                 // no NAT: STUN sees the local address
	MappingIndependent Mapping = "endpoint-independent" // one public port for every destination (cone NAT)
	MappingDependent   Mapping = "endpoint-dependent"   // a public port per destination (symmetric NAT)
	MappingUnknown     Mapping = "unknown"              // fewer than two STUN answers
)

// Verdicts.
const (
	VerdictDirect = "direct connections likely"
	VerdictRelay  = "relay will be used"
	VerdictNone   = "cannot connect"
)

// Report is the outcome of Run. Durations are in milliseconds so the JSON reads well.
type Report struct {
	Lobby   LobbyResult  `json:"lobby"`
	Local   string       `json:"localAddr,omitempty"` // the UDP socket's address on the way to the server
	STUN    []STUNResult `json:"stun"`
	Mapping Mapping      `json:"mapping"`
	TURN    []TURNResult `json:"turn"`
	Verdict string       `json:"verdict"` // one of the Verdict constants
	Reason  string       `json:"reason"`  // why, in a few words
}

// OK reports whether peers of this host can connect to others through the server (directly or relayed).
func (r *Report) OK() bool { return r.Verdict != VerdictNone }

// LobbyResult is the lobby connection's check.
type LobbyResult struct {
	URL       string  `json:"url"`
	OK        bool    `json:"ok"`
	Error     string  `json:"error,omitempty"`
	ConnectMS float64 `json:"connectMs,omitempty"` // WebSocket handshake until self-connected
	RTTMS     float64 `json:"rttMs,omitempty"`     // median of ping/pong round trips
}

// STUNResult is one STUN server's answer.
type STUNResult struct {
	URL    string  `json:"url"`
	Mapped string  `json:"mapped,omitempty"` // this host's address as the server saw it
	RTTMS  float64 `json:"rttMs,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// TURNResult is one TURN allocation attempt.
type TURNResult struct {
	URL       string  `json:"url"`
	Transport string  `json:"transport"` // udp, tcp, or tls (turns:)
	Relay     string  `json:"relay,omitempty"`
	TimeMS    float64 `json:"timeMs,omitempty"` // from dialing to the allocation
	Error     string  `json:"error,omitempty"`
}

// Options tunes Run. The zero value is fine.
type Options struct {
	// Header is sent with the WebSocket handshake (e.g. an Origin).
	Header http.Header
	// Timeout bounds each step (lobby, STUN, every TURN URL). Default 5 s.
	Timeout time.Duration
	// RootCAs verifies the certificates of a wss:// lobby and of turns: servers. Nil: the system's roots
	// (SSL_CERT_FILE adds a private CA on Linux).
	RootCAs *x509.CertPool
	// Room is the room the check joins. Empty: a random one of its own ("netcheck-…"), so nobody sees it; a
	// lobby with join tokens then needs a token for any room ("*"), or give the token's room here.
	Room string
}

// Run checks serverURL (ws://, wss://, http:// or https://). It never fails as such: what does not work is
// in the report, with the verdict.
func Run(ctx context.Context, serverURL string, opts *Options) *Report {
	if opts == nil {
		opts = &Options{}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	r := &Report{Lobby: LobbyResult{URL: serverURL}, Mapping: MappingUnknown}
	servers, ws, err := r.lobby(ctx, serverURL, opts.Header, opts.Room, opts.RootCAs, timeout)
	if ws != nil {
		// Stay a member while TURN is tried: its credentials are honoured only as long as the member is there.
		defer func() {
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			ws.Close()
		}()
	}
	if err != nil {
		r.Lobby.Error = err.Error()
		r.Verdict, r.Reason = VerdictNone, "the lobby is unreachable: "+err.Error()
		return r
	}
	var stunURLs []string
	type turnURL struct{ url, user, pass string }
	var turnURLs []turnURL
	for _, s := range servers {
		for _, u := range s.URLs {
			switch {
			case strings.HasPrefix(u, "stun:"):
				stunURLs = append(stunURLs, u)
			case strings.HasPrefix(u, "turn:"), strings.HasPrefix(u, "turns:"):
				turnURLs = append(turnURLs, turnURL{u, s.Username, s.Credential})
			}
		}
	}
	r.TURN = make([]TURNResult, len(turnURLs))
	var wg sync.WaitGroup
	wg.Go(func() { r.stun(ctx, stunURLs, timeout) }) // writes STUN, Local and Mapping; the others TURN[i]
	for i, t := range turnURLs {
		wg.Go(func() { r.TURN[i] = allocate(ctx, t.url, t.user, t.pass, opts.RootCAs, timeout) })
	}
	wg.Wait()
	r.decide()
	return r
}

// decide sets the verdict from the results.
func (r *Report) decide() {
	var udpRelay, tcpRelay bool
	for _, t := range r.TURN {
		if t.Error == "" {
			udpRelay = udpRelay || t.Transport == "udp"
			tcpRelay = tcpRelay || t.Transport == "tcp" || t.Transport == "tls"
		}
	}
	stunOK := false
	for _, s := range r.STUN {
		stunOK = stunOK || s.Error == ""
	}
	relay := udpRelay || tcpRelay
	switch {
	case stunOK && (r.Mapping == MappingNone || r.Mapping == MappingIndependent):
		r.Verdict, r.Reason = VerdictDirect, "your NAT keeps one public port for every destination"
		if r.Mapping == MappingNone {
			r.Reason = "this host has a public address"
		}
		if !relay {
			r.Reason += "; but no TURN relay allocates, so peers behind strict NATs cannot reach you"
		}
	case stunOK && relay:
		r.Verdict, r.Reason = VerdictRelay, "your NAT gives each destination its own port (symmetric), so most peers connect through TURN"
		if r.Mapping == MappingUnknown {
			r.Reason = "how your NAT maps ports is unknown (one STUN answer); TURN works"
		}
	case relay:
		r.Verdict, r.Reason = VerdictRelay, "no STUN answer: UDP seems blocked; TURN over TCP works"
		if udpRelay {
			r.Reason = "no STUN answer, but TURN allocates"
		}
	case stunOK:
		r.Verdict, r.Reason = VerdictDirect, "STUN answers but no TURN relay allocates: peers behind strict NATs cannot reach you"
		if r.Mapping == MappingDependent {
			r.Verdict, r.Reason = VerdictNone, "your NAT is symmetric and no TURN relay allocates: most peers cannot reach you"
		}
	default:
		r.Verdict, r.Reason = VerdictNone, "neither STUN nor TURN answers: only peers on your own network can connect"
	}
}

type iceServer struct {
	URLs       urls   `json:"urls"`
	Username   string `json:"username"`
	Credential string `json:"credential"`
}

// urls is RTCIceServer.urls: a string or an array.
type urls []string

func (u *urls) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*u = urls{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(u))
}

// lobby joins a throwaway room, measures the join and the ping round trip, and returns the ICE servers and
// the connection, which the caller closes.
func (r *Report) lobby(ctx context.Context, serverURL string, header http.Header, room string, roots *x509.CertPool, timeout time.Duration) (_ []iceServer, _ *websocket.Conn, err error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("bad server URL %q", serverURL)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return nil, nil, fmt.Errorf("bad server URL %q: scheme must be ws, wss, http or https", serverURL)
	}
	var tag [4]byte
	rand.Read(tag[:])
	q := u.Query()
	if room == "" {
		room = "netcheck-" + hex.EncodeToString(tag[:]) // a room of its own: nobody sees the check
	}
	q.Set("room", room)
	q.Set("name", "netcheck")
	u.RawQuery = q.Encode()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	d := &websocket.Dialer{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	ws, _, err := d.DialContext(ctx, u.String(), header)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			ws.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		ws.SetReadDeadline(dl)
		defer ws.SetReadDeadline(time.Time{})
	}
	var self struct {
		Kind       string      `json:"kind"`
		Code       string      `json:"code"`
		Message    string      `json:"message"`
		ICEServers []iceServer `json:"iceServers"`
	}
	if err := ws.ReadJSON(&self); err != nil {
		return nil, nil, err
	}
	if self.Kind != "self-connected" {
		return nil, nil, fmt.Errorf("refused: %s %s", self.Code, self.Message)
	}
	r.Lobby.ConnectMS = ms(time.Since(start))
	var rtts []time.Duration
	for range 3 {
		sent := time.Now()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"kind":"ping"}`)); err != nil {
			return nil, nil, err
		}
		for {
			var m struct {
				Kind string `json:"kind"`
			}
			if err := ws.ReadJSON(&m); err != nil {
				return nil, nil, err
			}
			if m.Kind == "pong" {
				break
			}
		}
		rtts = append(rtts, time.Since(sent))
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	r.Lobby.OK, r.Lobby.RTTMS = true, ms(rtts[len(rtts)/2])
	// Keep reading, so pings are answered and the server's frames do not pile up, until the caller closes.
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return self.ICEServers, ws, nil
}

// stun sends a Binding request to every STUN URL at once from one UDP socket, and compares the mapped
// addresses. Unanswered requests are sent again after 0.5 s, 1 s, 2 s…, until timeout.
func (r *Report) stun(ctx context.Context, list []string, timeout time.Duration) {
	r.STUN = make([]STUNResult, len(list))
	for i, u := range list {
		r.STUN[i].URL = u
	}
	conn, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		for i := range r.STUN {
			r.STUN[i].Error = err.Error()
		}
		return
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	type probe struct {
		res  *STUNResult
		addr *net.UDPAddr
		req  *stun.Message
		sent time.Time
	}
	var pending []*probe
	for i, u := range list {
		addr, err := resolve(u, "udp4")
		if err != nil {
			r.STUN[i].Error = err.Error()
			continue
		}
		if r.Local == "" {
			r.Local = localAddr(addr, port)
		}
		pending = append(pending, &probe{res: &r.STUN[i], addr: addr, req: stun.MustBuild(stun.TransactionID, stun.BindingRequest)})
	}
	send := func() {
		for _, p := range pending {
			p.sent = time.Now()
			conn.WriteTo(p.req.Raw, p.addr) // a failed send is an unanswered request
		}
	}
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	rto := 500 * time.Millisecond
	next := time.Now().Add(rto)
	send()
	buf := make([]byte, 1500)
	for len(pending) > 0 && time.Now().Before(deadline) {
		wait := next
		if wait.After(deadline) {
			wait = deadline
		}
		conn.SetReadDeadline(wait)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if time.Now().After(next) {
				rto *= 2
				next = time.Now().Add(rto)
				send()
			}
			continue
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() != nil {
			continue
		}
		for i, p := range pending {
			if res.TransactionID != p.req.TransactionID || from.String() != p.addr.String() {
				continue
			}
			var xor stun.XORMappedAddress
			if err := xor.GetFrom(res); err != nil {
				p.res.Error = "no mapped address in the answer: " + err.Error()
			} else {
				p.res.Mapped = (&net.UDPAddr{IP: xor.IP, Port: xor.Port}).String()
				p.res.RTTMS = ms(time.Since(p.sent))
			}
			pending = append(pending[:i], pending[i+1:]...)
			break
		}
	}
	for _, p := range pending {
		p.res.Error = "no answer"
	}
	var mapped []string
	for _, res := range r.STUN {
		if res.Mapped != "" {
			mapped = append(mapped, res.Mapped)
		}
	}
	switch {
	case len(mapped) == 0:
	case mapped[0] == r.Local:
		r.Mapping = MappingNone
	case len(mapped) < 2:
	default:
		r.Mapping = MappingIndependent
		for _, m := range mapped[1:] {
			if m != mapped[0] {
				r.Mapping = MappingDependent
			}
		}
	}
}

// localAddr is the address a socket on port has towards to (the route's source address).
func localAddr(to *net.UDPAddr, port int) string {
	c, err := net.DialUDP("udp4", nil, to) // sends nothing: only asks the routing table
	if err != nil {
		return ""
	}
	defer c.Close()
	return net.JoinHostPort(c.LocalAddr().(*net.UDPAddr).IP.String(), fmt.Sprint(port))
}

// resolve turns stun:host:port or turn(s):host:port?transport=… into an address.
func resolve(u, network string) (*net.UDPAddr, error) {
	return net.ResolveUDPAddr(network, hostPort(u))
}

// hostPort is the host:port of a stun:, turn: or turns: URL; without a port, the standard one (3478, or 5349
// for turns:).
func hostPort(u string) string {
	hostport := u[strings.IndexByte(u, ':')+1:]
	hostport, _, _ = strings.Cut(hostport, "?")
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		port := "3478"
		if strings.HasPrefix(u, "turns:") {
			port = "5349"
		}
		hostport = net.JoinHostPort(hostport, port)
	}
	return hostport
}

// allocate makes one TURN allocation over the URL's transport and releases it. turns: is TURN over TLS over
// TCP, its certificate verified against roots for the URL's host.
func allocate(ctx context.Context, u, user, pass string, roots *x509.CertPool, timeout time.Duration) TURNResult {
	res := TURNResult{URL: u, Transport: "udp"}
	switch {
	case strings.HasPrefix(u, "turns:"):
		res.Transport = "tls"
	case strings.Contains(u, "transport=tcp"):
		res.Transport = "tcp"
	}
	addr, err := resolve(u, "udp4")
	if err != nil {
		res.Error = err.Error()
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var conn net.PacketConn
	if res.Transport != "udp" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp4", addr.String())
		if err != nil {
			res.Error = err.Error()
			return res
		}
		if res.Transport == "tls" {
			host, _, _ := net.SplitHostPort(hostPort(u))
			tc := tls.Client(c, &tls.Config{ServerName: strings.Trim(host, "[]"), RootCAs: roots, MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				res.Error = err.Error()
				return res
			}
			c = tc
		}
		conn = turn.NewSTUNConn(c)
	} else if conn, err = net.ListenPacket("udp4", ":0"); err != nil {
		res.Error = err.Error()
		return res
	}
	defer conn.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr.String(), STUNServerAddr: addr.String(),
		Conn: conn, Username: user, Password: pass})
	if err == nil {
		err = cl.Listen()
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer cl.Close()
	relay, err := cl.AllocateWithContext(ctx)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.TimeMS, res.Relay = ms(time.Since(start)), relay.LocalAddr().String()
	relay.Close()
	return res
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
