package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		msg  string
		kind msgKind
		arg  string
	}{
		{`{"kind":"self-connected","id":"a1"}`, kindSelf, "a1"},
		{`{"kind":"self-connected","id":"a1","name":"x","room":"lobby","iceServers":[]}`, kindSelf, "a1"},
		{`{"kind":"connected","id":"b2"}`, kindConnected, "b2"},
		{`{"kind":"connected","id":"b2","name":"say \"id\":\"zz\""}`, kindConnected, "b2"},
		{`{"id":"b2","kind":"connected"}`, kindConnected, "b2"},      // other key order: slow path
		{`{"kind":"connected","id":"b\u0032"}`, kindConnected, "b2"}, // escapes: slow path
		{`{"kind":"disconnected","id":"c3"}`, kindDisconnected, "c3"},
		{`{"kind":"renamed","id":"d4","name":"say \"id\":\"zz\""}`, kindRenamed, "d4"},
		{`{"name":"x","kind":"renamed","id":"d4"}`, kindRenamed, "d4"}, // other key order: slow path
		{`{"kind":"error","code":"rate-limited","message":"slow down"}`, kindError, "rate-limited"},
		{`{"kind":"pong"}`, kindOther, ""},
		{`{"toId":"me","fromId":"f","offer":{"type":"offer","sdp":"v=0"}}`, kindOffer, "f"},
		{`{"toId":"me","fromId":"f","answer":{"type":"answer","sdp":"v=0"}}`, kindAnswer, "f"},
		{`{"fromId":"f","toId":"me","answer":{"type":"answer","sdp":"v=0"}}`, kindAnswer, "f"},
		{`{"toId":"me","fromId":"f","kind":"request"}`, kindOther, "f"},
		{`not json`, kindOther, ""},
	}
	for _, c := range cases {
		k, arg := classify([]byte(c.msg))
		if k != c.kind || string(arg) != c.arg {
			t.Errorf("classify(%s) = %d %q, want %d %q", c.msg, k, arg, c.kind, c.arg)
		}
	}
}

// TestIndexAfter: the guessed index is only taken when its id matches; otherwise the map decides, and every id
// keeps one index whatever the guesses were.
func TestIndexAfter(t *testing.T) {
	l := newLobby(context.Background(), &config{}, 3)
	a, b, c := l.index([]byte("a")), l.index([]byte("b")), l.index([]byte("c"))
	cases := []struct {
		id   string
		prev int32
		want int32
	}{
		{"a", -1, a}, {"b", a, b}, {"c", b, c}, // right guesses
		{"c", a, c}, {"a", b, a}, {"b", c, b}, // wrong guesses: prev+1 is another id, or past the end
	}
	for _, tc := range cases {
		if got := l.indexAfter([]byte(tc.id), tc.prev); got != tc.want {
			t.Errorf("indexAfter(%q, %d) = %d, want %d", tc.id, tc.prev, got, tc.want)
		}
	}
	if d := l.indexAfter([]byte("d"), c); d != 3 || l.index([]byte("d")) != 3 {
		t.Errorf("a new id beyond the expected members got %d, want 3 (and to keep it)", d)
	}
	if got := l.indexAfter([]byte("a"), 2); got != a {
		t.Errorf("indexAfter past the table = %d, want %d", got, a)
	}
}

func TestLoopbackURL(t *testing.T) {
	for _, ok := range []string{"ws://127.0.0.1:3333/", "ws://127.9.8.7/", "ws://[::1]:80/x", "ws://LOCALHOST:1/"} {
		if _, _, err := loopbackURL(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"ws://10.0.0.1:3333/", "ws://192.168.1.2/", "ws://example.com/", "ws://0.0.0.0/", "http://127.0.0.1/", "wss://127.0.0.1/"} {
		if _, _, err := loopbackURL(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, addr, _ := loopbackURL("ws://localhost:9/"); addr != "127.0.0.1:9" {
		t.Errorf("localhost dials %s, want 127.0.0.1:9", addr)
	}
}

func TestRelayMessageSize(t *testing.T) {
	b := relayMessage("to", "from", "offer")
	if len(b) < 900 || len(b) > 1300 || !bytes.HasPrefix(b, []byte(`{"toId":"to","fromId":"from","offer":{"type":"offer","sdp":"v=0\r\n`)) {
		t.Errorf("offer message is %d bytes: %.80s", len(b), b)
	}
}

// seedServer is the seed's lobby (shared/seed/p2p-lobby.md) in a few lines: it relays verbatim, like Bun.
// A fault makes it break a promise, for the soak's detectors: dup-connected (every join announced twice),
// drop-connected / drop-disconnected (one member is not told), dup-relay, drop-relay (every fifth).
type seedServer struct {
	mu     sync.Mutex
	next   int
	conns  map[string]*seedConn
	fault  string
	relays int
}

type seedConn struct {
	mu sync.Mutex
	ws *websocket.Conn
}

func (c *seedConn) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.WriteMessage(websocket.TextMessage, b)
}

func (s *seedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &seedConn{ws: ws}
	s.mu.Lock()
	s.next++
	id := "member-" + strconv.Itoa(s.next)
	c.send(fmt.Appendf(nil, `{"kind":"self-connected","id":%q}`, id))
	skip := s.fault == "drop-connected"
	for other, oc := range s.conns {
		c.send(fmt.Appendf(nil, `{"kind":"connected","id":%q}`, other))
		if skip {
			skip = false
			continue
		}
		oc.send(fmt.Appendf(nil, `{"kind":"connected","id":%q}`, id))
		if s.fault == "dup-connected" {
			oc.send(fmt.Appendf(nil, `{"kind":"connected","id":%q}`, id))
		}
	}
	s.conns[id] = c
	s.mu.Unlock()
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			break
		}
		var m struct {
			ToID string `json:"toId"`
		}
		if json.Unmarshal(msg, &m) == nil {
			s.mu.Lock()
			to := s.conns[m.ToID]
			s.relays++
			drop := s.fault == "drop-relay" && s.relays%5 == 0
			s.mu.Unlock()
			if to != nil && !drop {
				to.send(msg)
				if s.fault == "dup-relay" {
					to.send(msg)
				}
			}
		}
	}
	ws.Close()
	s.mu.Lock()
	delete(s.conns, id)
	skip = s.fault == "drop-disconnected"
	for _, oc := range s.conns {
		if skip {
			skip = false
			continue
		}
		oc.send(fmt.Appendf(nil, `{"kind":"disconnected","id":%q}`, id))
	}
	s.mu.Unlock()
}

// runTool runs lobbyload against a fresh seed server and returns its exit code and decoded JSON line.
func runTool(t *testing.T, args ...string) (int, map[string]any, string) {
	t.Helper()
	srv := httptest.NewServer(&seedServer{conns: map[string]*seedConn{}})
	defer srv.Close()
	args = append(args, "--url", "ws"+strings.TrimPrefix(srv.URL, "http")+"/", "--timeout", "20s")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	return code, res, stdout.String() + stderr.String()
}

func TestJoinAgainstSeedServer(t *testing.T) {
	code, res, out := runTool(t, "join", "--members", "40", "--dial-concurrency", "8")
	if code != 0 || res["ok"] != true || res["views_ok"] != true || res["connected_events"] != float64(40*39) {
		t.Fatalf("exit %d, result %v\n%s", code, res, out)
	}
}

func TestRelayAgainstSeedServer(t *testing.T) {
	code, res, out := runTool(t, "relay", "--pairs", "3", "--count", "50", "--duration", "10s")
	if code != 0 || res["ok"] != true || res["round_trips"] != float64(150) {
		t.Fatalf("exit %d, result %v\n%s", code, res, out)
	}
}

func TestIdleAgainstSeedServer(t *testing.T) {
	// The test process is the server here, so its own pid gives the RSS to read.
	code, res, out := runTool(t, "idle", "--members", "30", "--settle", "10ms", "--pid", strconv.Itoa(os.Getpid()))
	if _, ok := res["bytes_per_conn"]; code != 0 || !ok {
		t.Fatalf("exit %d, result %v\n%s", code, res, out)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"join", "--url", "ws://192.0.2.1:3333/"}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2; %s", code, stderr.String())
	}
}
