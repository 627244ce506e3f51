package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

func TestSeedLobbyFlow(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	a := join(t, ts.ws, 0) // the seed's URL: the root path
	b := join(t, ts.ws+"/ws", 1)
	if m := a.next(); m["kind"] != "connected" || m["id"] != b.id {
		t.Fatalf("a got %v", m)
	}
	// the seed's offer/answer, with the seed's fromId
	offer := `{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`
	a.send(fmt.Sprintf(`{"toId":%q,"fromId":%q,"offer":%s}`, b.id, a.id, offer))
	m := b.next()
	if m["toId"] != b.id || m["fromId"] != a.id || m["offer"].(map[string]any)["sdp"] != "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" {
		t.Fatalf("b got %v", m)
	}
	b.send(fmt.Sprintf(`{"toId":%q,"fromId":%q,"answer":{"type":"answer","sdp":"x"}}`, a.id, b.id))
	if m := a.next(); m["fromId"] != b.id || m["answer"] == nil {
		t.Fatalf("a got %v", m)
	}
	b.c.Close()
	if m := a.next(); m["kind"] != "disconnected" || m["id"] != b.id {
		t.Fatalf("a got %v after b left", m)
	}
}

func TestNamesAndRooms(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{ICEServers: []byte(`[{"urls":"stun:127.0.0.1:3478"}]`)})
	a := dial(t, ts.ws+"/ws?room=red&name=%20Alice%00")
	m := a.next()
	if m["name"] != "Alice" || m["room"] != "red" || m["iceServers"] == nil {
		t.Fatalf("self-connected %v", m)
	}
	a.id = m["id"].(string)
	blue := join(t, ts.ws+"/ws?room=blue&name=Bob", 0)
	c := join(t, ts.ws+"/ws?room=red&name=Carol", 1)
	if m := a.next(); m["name"] != "Carol" {
		t.Fatalf("a got %v", m)
	}
	// different rooms never reach each other
	blue.send(fmt.Sprintf(`{"toId":%q,"kind":"request"}`, a.id))
	if m := blue.expectError(protocol.CodeUnknownTarget); m["toId"] != a.id {
		t.Fatalf("error without toId: %v", m)
	}
	a.quiet()
	c.quiet()
	blue.quiet()
}

func TestForgedFromIDIsReplaced(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	a := join(t, ts.ws, 0)
	b := join(t, ts.ws, 1)
	c := join(t, ts.ws, 2)
	a.next()
	a.next()
	b.next()
	a.send(fmt.Sprintf(`{"toId":%q,"fromId":%q,"candidate":{"candidate":"x"}}`, b.id, c.id))
	if m := b.next(); m["fromId"] != a.id {
		t.Fatalf("forged fromId passed on: %v", m)
	}
	c.quiet() // and c, whose id was forged, heard nothing
}

func TestBadInputGetsErrorsAndConnectionSurvives(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	a := join(t, ts.ws, 0)
	gone := join(t, ts.ws, 1)
	a.next()
	gone.c.Close()
	a.next() // disconnected
	for _, tc := range []struct{ msg, code string }{
		{`{"toId":"x",`, protocol.CodeBadJSON},
		{`hello`, protocol.CodeBadJSON},
		{`[]`, protocol.CodeBadJSON},
		{`{"toId":42,"offer":{}}`, protocol.CodeBadMessage},
		{`{"offer":{}}`, protocol.CodeBadMessage},
		{`{"toId":"x","offer":"not an object"}`, protocol.CodeBadMessage},
		{`{"toId":"nobody","offer":{}}`, protocol.CodeUnknownTarget},
		{fmt.Sprintf(`{"toId":%q,"offer":{}}`, gone.id), protocol.CodeUnknownTarget},
		{fmt.Sprintf(`{"toId":%q,"kind":"request"}`, a.id), protocol.CodeSelfTarget},
	} {
		a.send(tc.msg)
		a.expectError(tc.code)
	}
	if err := a.c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	a.expectError(protocol.CodeBinaryUnsupported)
	a.quiet()
}

func TestOversizedMessageClosesWith1009(t *testing.T) {
	ts := newTestServer(t, Config{MaxMessageSize: 1024}, hub.Config{})
	a := join(t, ts.ws, 0)
	big := join(t, ts.ws, 1)
	a.next()
	big.send(fmt.Sprintf(`{"toId":%q,"offer":{"sdp":"%s"}}`, a.id, strings.Repeat("x", 2000)))
	if code := big.closed(); code != protocol.CloseTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
	if m := a.next(); m["kind"] != "disconnected" {
		t.Fatalf("a got %v, want only the disconnect (never the oversized relay)", m)
	}
	a.quiet()
}

// A message split into fragments by the client is reassembled; the limit counts all fragments.
func TestFragmentedMessages(t *testing.T) {
	ts := newTestServer(t, Config{MaxMessageSize: 4096}, hub.Config{})
	a := join(t, ts.ws, 0)
	d := websocket.Dialer{WriteBufferSize: 256} // gorilla fragments messages larger than its buffer
	c, _, err := d.Dial(ts.ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &client{t: t, c: c, in: make(chan map[string]any, 16), done: make(chan struct{})}
	go b.read()
	defer c.Close()
	b.id = b.next()["id"].(string)
	b.next()
	a.next()
	sdp := strings.Repeat("y", 2000)
	b.send(fmt.Sprintf(`{"toId":%q,"offer":{"sdp":%q}}`, a.id, sdp))
	if ce := b.closeErr(); ce != nil {
		t.Fatalf("closed: %v", ce)
	}
	if m := a.next(); m["offer"].(map[string]any)["sdp"] != sdp {
		t.Fatalf("fragmented relay corrupted")
	}
	// The server closes as soon as the fragments pass the limit, so the write may fail part-way.
	b.c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"toId":%q,"offer":{"sdp":%q}}`, a.id, strings.Repeat("z", 5000)))
	if code := b.closed(); code != protocol.CloseTooBig {
		t.Fatalf("close %d, want 1009", code)
	}
}

func TestInvalidUTF8Closes1007(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	a := join(t, ts.ws, 0)
	a.send("{\"kind\":\"ping\",\"x\":\"\xff\"}")
	if code := a.closed(); code != protocol.CloseInvalidData {
		t.Fatalf("close %d, want 1007", code)
	}
}

func TestBadRoomAndFull(t *testing.T) {
	singleNode(t)
	ts := newTestServer(t, Config{MaxConnsPerIP: 3}, hub.Config{MaxRoomMembers: 1})
	bad := dial(t, ts.ws+"/?room=no%20spaces")
	bad.expectError(protocol.CodeBadRoom)
	if code := bad.closed(); code != protocol.CloseBadJoin {
		t.Fatalf("bad room close %d", code)
	}
	join(t, ts.ws+"/?room=solo", 0)
	full := dial(t, ts.ws+"/?room=solo")
	full.expectError(protocol.CodeRoomFull)
	if code := full.closed(); code != protocol.CloseFull {
		t.Fatalf("room full close %d", code)
	}
	join(t, ts.ws+"/?room=a", 0)
	join(t, ts.ws+"/?room=b", 0)
	third := dial(t, ts.ws+"/?room=c") // fourth connection from this IP; the refused ones were released
	third.expectError(protocol.CodeTooManyConnections)
	if code := third.closed(); code != protocol.CloseFull {
		t.Fatalf("per-IP limit close %d", code)
	}
}

func TestRateLimitThenFloodClose(t *testing.T) {
	ts := newTestServer(t, Config{Rate: 5, Burst: 10}, hub.Config{})
	a := join(t, ts.ws, 0)
	for range 11 {
		a.send(`{"kind":"ping"}`)
	}
	for range 10 {
		if m := a.next(); m["kind"] != "pong" {
			t.Fatalf("got %v", m)
		}
	}
	a.expectError(protocol.CodeRateLimited)
	for range 50 {
		if a.c.WriteMessage(websocket.TextMessage, []byte(`{"kind":"ping"}`)) != nil {
			break
		}
	}
	if code := a.closed(); code != protocol.CloseFlood {
		t.Fatalf("close %d, want 4001", code)
	}
}

// rawHandshake opens a WebSocket by hand and then never reads: a client that stopped reading.
func rawHandshake(t *testing.T, ts *testServer, query string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096) // a small window so the server's writes back up quickly
	}
	fmt.Fprintf(nc, "GET /%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", query)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return nc
}

func TestSlowReaderDroppedOthersServed(t *testing.T) {
	singleNode(t)
	ts := newTestServer(t, Config{WriteTimeout: 30 * time.Second}, hub.Config{MaxQueue: 256 << 10})
	watcher := join(t, ts.ws, 0)
	rawHandshake(t, ts, "")
	slowID := watcher.next()["id"].(string)
	sender := join(t, ts.ws, 2)
	watcher.next()
	receiver := join(t, ts.ws, 3)
	watcher.next()
	sender.next()

	payload := fmt.Sprintf(`{"toId":%q,"offer":{"sdp":"%s"}}`, slowID, strings.Repeat("s", 60<<10))
	ping := fmt.Sprintf(`{"toId":%q,"kind":"request"}`, receiver.id)
	deadline := time.Now().Add(20 * time.Second)
	sent := 0
	for time.Now().Before(deadline) {
		sender.send(payload)
		sender.send(ping)
		sent++
		select {
		case m := <-watcher.in:
			if m["kind"] != "disconnected" || m["id"] != slowID {
				t.Fatalf("watcher got %v (slow %s, sender %s, receiver %s, watcher %s)", m, slowID, sender.id, receiver.id, watcher.id)
			}
			// The others were served throughout: every request reached the receiver, in order.
			for n := 0; n < sent; {
				switch m := receiver.next(); {
				case m["kind"] == "request":
					n++
				case m["kind"] != "disconnected" || m["id"] != slowID:
					t.Fatalf("receiver got %v", m)
				}
			}
			receiver.quiet()
			return
		default:
		}
	}
	t.Fatal("slow reader not dropped")
}

func TestWriteTimeoutDropsStuckReader(t *testing.T) {
	ts := newTestServer(t, Config{WriteTimeout: 300 * time.Millisecond}, hub.Config{MaxQueue: 1 << 30})
	watcher := join(t, ts.ws, 0)
	rawHandshake(t, ts, "")
	slowID := watcher.next()["id"].(string)
	sender := join(t, ts.ws, 2)
	watcher.next()
	payload := fmt.Sprintf(`{"toId":%q,"offer":{"sdp":"%s"}}`, slowID, strings.Repeat("s", 60<<10))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		sender.send(payload)
		select {
		case m := <-watcher.in:
			if m["kind"] != "disconnected" || m["id"] != slowID {
				t.Fatalf("watcher got %v", m)
			}
			return
		case <-time.After(time.Millisecond):
		}
	}
	t.Fatal("stuck reader not dropped")
}

func TestKeepaliveDropsSilentClient(t *testing.T) {
	ts := newTestServer(t, Config{PingInterval: 100 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}, hub.Config{})
	a := join(t, ts.ws, 0)
	// A client that answers pings (gorilla does while reading) stays, across several idle timeouts.
	silent, _, err := websocket.DefaultDialer.Dial(ts.ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close() // never read: never answers pings
	m := a.next()
	silentID, _ := m["id"].(string)
	if m["kind"] != "connected" || silentID == "" || silentID == a.id {
		t.Fatalf("want the silent client's connected, got %v", m)
	}
	start := time.Now()
	if m := a.next(); m["kind"] != "disconnected" || m["id"] != silentID {
		t.Fatalf("want disconnected %s (the silent client), got %v", silentID, m)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("silent client dropped after %v", d)
	}
	time.Sleep(time.Second)
	a.quiet() // a itself was kept alive by its pongs
}

func TestSilentRawClientDropped(t *testing.T) {
	ts := newTestServer(t, Config{PingInterval: 100 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}, hub.Config{})
	a := join(t, ts.ws, 0)
	nc := rawHandshake(t, ts, "")
	id := a.next()["id"]
	go io.Copy(io.Discard, nc) // reads but never answers pings: a half-open peer looks the same
	if m := a.next(); m["kind"] != "disconnected" || m["id"] != id {
		t.Fatalf("got %v", m)
	}
}

func TestShutdownSendsGoingAway(t *testing.T) {
	singleNode(t)
	ts := newTestServer(t, Config{}, hub.Config{})
	a := join(t, ts.ws, 0)
	b := join(t, ts.ws, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for _, c := range []*client{a, b} {
		if code := c.closed(); code != protocol.CloseGoingAway {
			t.Errorf("close %d, want 1001", code)
		}
	}
	if _, _, err := websocket.DefaultDialer.Dial(ts.ws, nil); err == nil {
		t.Error("new connection accepted after shutdown")
	}
}

// Joins racing with Shutdown: whichever side of it a join lands on, once Shutdown returns no member is left
// in the hub and every client that got in is closed with 1001.
func TestJoinsRacingShutdown(t *testing.T) {
	singleNode(t)
	for round := range 20 {
		ts := newTestServer(t, Config{}, hub.Config{})
		var wg sync.WaitGroup
		ends := make(chan error, 16) // how each admitted client's connection ended
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := websocket.DefaultDialer.Dial(ts.ws, nil)
				if err != nil {
					return // refused before the upgrade: fine
				}
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						ends <- err
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Fatalf("round %d: shutdown: %v", round, err)
		}
		cancel()
		if st := ts.hub.Stats(); st.Members != 0 {
			t.Errorf("round %d: %d members left in the hub after shutdown", round, st.Members)
		}
		wg.Wait()
		close(ends)
		for err := range ends {
			if !websocket.IsCloseError(err, protocol.CloseGoingAway) {
				t.Errorf("round %d: got %v, want close 1001", round, err)
			}
		}
	}
}

func TestHTTPEndpoints(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", 200, "<title>p2plobby"},
		{"/healthz", 200, "ok"},
		{"/readyz", 200, "ready"},
		{"/sdk/p2plobby.js", 200, "export"},
		{"/ws", 426, "WebSocket"},
		{"/app/", 404, ""},
		{"/nope", 404, ""},
	} {
		resp, err := http.Get(ts.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s = %d %q", tc.path, resp.StatusCode, body)
		}
	}
}

// /readyz follows Config.Ready (in a cluster: connected to the others) and is 503 once shutting down, while
// /healthz (liveness) stays 200.
func TestReadyz(t *testing.T) {
	singleNode(t)
	var ready atomic.Bool
	ts := newTestServer(t, Config{Ready: ready.Load}, hub.Config{})
	status := func(path string) int {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("/readyz"); s != http.StatusServiceUnavailable {
		t.Fatalf("not ready: /readyz %d", s)
	}
	ready.Store(true)
	if s := status("/readyz"); s != http.StatusOK {
		t.Fatalf("ready: /readyz %d", s)
	}
	ts.srv.Shutdown(t.Context())
	if s, h := status("/readyz"), status("/healthz"); s != http.StatusServiceUnavailable || h != http.StatusOK {
		t.Fatalf("shutting down: /readyz %d, /healthz %d", s, h)
	}
}

// The default origin policy admits what is not a browser, this server's own pages and loopback pages; other
// pages need --allowed-origins, and "*" admits all.
func TestOriginPolicy(t *testing.T) {
	dial := func(ts *testServer, origin string) int {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := websocket.DefaultDialer.Dial(ts.ws, h)
		if err == nil {
			c.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("origin %q: %v", origin, err)
		}
		return resp.StatusCode
	}
	def := newTestServer(t, Config{}, hub.Config{})
	listed := newTestServer(t, Config{AllowedOrigins: []string{"https://good.example"}}, hub.Config{})
	all := newTestServer(t, Config{AllowedOrigins: []string{"*"}}, hub.Config{})
	const ok, refused = http.StatusSwitchingProtocols, http.StatusForbidden
	for _, tc := range []struct {
		ts     *testServer
		origin string
		want   int
	}{
		{def, "", ok},                          // not a browser: the CLI, the Go peer, the seed's clients
		{def, def.URL, ok},                     // the lobby's own page
		{def, "http://localhost:8000", ok},     // a page served on this machine
		{def, "http://127.0.0.1:9", ok},        //
		{def, "http://[::1]:9", ok},            //
		{def, "https://evil.example", refused}, // another web site, in a visitor's browser
		{def, "null", refused},                 // a file:// page or a sandboxed frame
		{def, "http://localhost.evil.example", refused},
		{listed, "https://good.example", ok},
		{listed, "https://evil.example", refused},
		{listed, listed.URL, ok},
		{all, "https://evil.example", ok},
		{all, "null", ok},
	} {
		if got := dial(tc.ts, tc.origin); got != tc.want {
			t.Errorf("Origin %q (allowed %v): %d, want %d", tc.origin, tc.ts.srv.cfg.AllowedOrigins, got, tc.want)
		}
	}
}

// Hundreds of clients join and leave at the same moment; afterwards each remaining member's view of the
// lobby must be exactly the set of remaining members.
func TestJoinLeaveStormViewsExact(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	const n = 300
	type member struct {
		c    *websocket.Conn
		id   string
		mu   sync.Mutex
		view map[string]bool
		err  string
	}
	members := make([]*member, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := websocket.DefaultDialer.Dial(ts.ws+"/?room=storm", nil)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			m := &member{c: c, view: map[string]bool{}}
			var first struct{ Kind, ID string }
			if err := c.ReadJSON(&first); err != nil || first.Kind != "self-connected" {
				t.Errorf("first message %v %v", first, err)
				return
			}
			m.id = first.ID
			members[i] = m
			go func() {
				for {
					var ev struct{ Kind, ID string }
					if c.ReadJSON(&ev) != nil {
						return
					}
					m.mu.Lock()
					switch ev.Kind {
					case "connected":
						if m.view[ev.ID] || ev.ID == m.id {
							m.err = "bad connected " + ev.ID
						}
						m.view[ev.ID] = true
					case "disconnected":
						if !m.view[ev.ID] {
							m.err = "disconnected for unknown " + ev.ID
						}
						delete(m.view, ev.ID)
					}
					m.mu.Unlock()
				}
			}()
			if i%2 == 1 { // half leave right away, while others are still joining
				time.Sleep(time.Duration(i%7) * time.Millisecond)
				c.Close()
			}
		}()
	}
	wg.Wait()
	var want []string
	var stay []*member
	for i, m := range members {
		if m != nil && i%2 == 0 {
			want = append(want, m.id)
			stay = append(stay, m)
			defer m.c.Close()
		}
	}
	sort.Strings(want)
	deadline := time.Now().Add(15 * time.Second)
	for _, m := range stay {
		for {
			m.mu.Lock()
			got := []string{m.id}
			for id := range m.view {
				got = append(got, id)
			}
			errText := m.err
			m.mu.Unlock()
			if errText != "" {
				t.Fatal(errText)
			}
			sort.Strings(got)
			if slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %s sees %d members, want %d", m.id, len(got), len(want))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// A relay written straight from the sender's goroutine (Flush) must not trip over the write deadline a
// writer goroutine left on the socket long ago.
func TestRelayAfterWriteDeadlinePassed(t *testing.T) {
	ts := newTestServer(t, Config{WriteTimeout: 200 * time.Millisecond}, hub.Config{})
	a := join(t, ts.ws, 0)
	b := join(t, ts.ws, 1)
	a.next()          // b connected: written by a's writer goroutine, which sets a write deadline
	join(t, ts.ws, 2) // and a broadcast to both
	a.next()
	b.next()
	time.Sleep(400 * time.Millisecond) // both deadlines are now in the past
	for i := range 3 {
		b.send(`{"toId":"` + a.id + `","kind":"request","sid":"s` + string(rune('0'+i)) + `"}`)
		if m := a.next(); m["kind"] != "request" {
			t.Fatalf("relay %d: got %v", i, m)
		}
		a.send(`{"toId":"` + b.id + `","kind":"accept","sid":"s` + string(rune('0'+i)) + `"}`)
		if m := b.next(); m["kind"] != "accept" {
			t.Fatalf("relay %d back: got %v", i, m)
		}
	}
}
