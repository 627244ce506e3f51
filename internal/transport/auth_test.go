package transport

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/auth"
	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

var authSecret = []byte("a join-token secret of 32+ bytes!")

func newAuthServer(t *testing.T, ice ICE, noNetworkRooms bool) *testServer {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Secret: authSecret})
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, Config{Auth: v, ICE: ice, NoNetworkRooms: noNetworkRooms}, hub.Config{})
}

func mint(t *testing.T, name string, rooms ...string) string {
	t.Helper()
	tok, err := auth.Mint(authSecret, auth.Grant{Name: name, Rooms: rooms, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dialToken dials with the token as a browser sends it (subprotocol) or as the Go peer does (bearer), and
// checks that the server selected the plain subprotocol, never echoing the token.
func dialToken(t *testing.T, url, token string, bearer bool) *client {
	t.Helper()
	d := websocket.Dialer{}
	var hdr http.Header
	if bearer {
		hdr = http.Header{"Authorization": {"Bearer " + token}}
	} else {
		d.Subprotocols = []string{protocol.Subprotocol, protocol.TokenSubprotocolPrefix + token}
	}
	c, resp, err := d.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if got := resp.Header.Values("Sec-WebSocket-Protocol"); !bearer && (len(got) != 1 || got[0] != protocol.Subprotocol) {
		t.Fatalf("selected subprotocol %q, want only %q", got, protocol.Subprotocol)
	}
	cl := &client{t: t, c: c, in: make(chan map[string]any, 64), done: make(chan struct{})}
	go cl.read()
	t.Cleanup(func() { c.Close() })
	return cl
}

// Every refusal is an error with its code, then close 4004, and nothing else: no id, no room view, no ICE
// servers; the ICE provider is never even asked.
func TestJoinTokenRefusals(t *testing.T) {
	ice := &fakeICE{hosts: map[string]string{}}
	ts := newAuthServer(t, ice, false)
	hs := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(authSecret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	expired := hs(jwt.MapClaims{"name": "Eve", "rooms": []string{"team"}, "exp": now.Add(-time.Hour).Unix()})
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"name": "Eve", "rooms": []string{"*"},
		"exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"name": "Eve", "rooms": []string{"*"},
		"exp": now.Add(time.Hour).Unix()}).SignedString([]byte("not the server's secret, 32 bytes"))
	good := mint(t, "Alice", "team")
	tests := []struct {
		name, url, token string
		bearer           bool
		code             string
		inMessage        string
	}{
		{"no token", "/ws?room=team&name=Eve", "", false, protocol.CodeTokenMissing, ""},
		{"token in the URL only", "/ws?room=team&token=" + good, "", false, protocol.CodeTokenMissing, "not in the URL"},
		{"forged", "/ws?room=team", forged, false, protocol.CodeTokenInvalid, "signature"},
		{"alg none", "/ws?room=team", none, true, protocol.CodeTokenInvalid, "algorithm"},
		{"garbage bearer", "/ws?room=team", "xyz", true, protocol.CodeTokenInvalid, ""},
		{"expired", "/ws?room=team", expired, false, protocol.CodeTokenExpired, ""},
		{"wrong room", "/ws?room=other", good, false, protocol.CodeTokenRoom, ""},
		{"default room not granted", "/ws", good, true, protocol.CodeTokenRoom, ""},
		{"network group not granted", "/ws?room=@network", good, false, protocol.CodeTokenRoom, ""},
		{"oversized", "/ws?room=team", good + strings.Repeat("A", auth.MaxTokenLen), false, protocol.CodeTokenInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *client
			if tt.token == "" {
				c = dial(t, ts.ws+tt.url)
			} else {
				c = dialToken(t, ts.ws+tt.url, tt.token, tt.bearer)
			}
			m := c.expectError(tt.code)
			if msg, _ := m["message"].(string); !strings.Contains(msg, tt.inMessage) || (len(good) > 0 && strings.Contains(msg, good[:40])) {
				t.Fatalf("message %q: want it to say %q and never repeat the token", msg, tt.inMessage)
			}
			if code := c.closed(); code != protocol.CloseUnauthorized {
				t.Fatalf("close code %d, want %d", code, protocol.CloseUnauthorized)
			}
			select {
			case m := <-c.in:
				t.Fatalf("after the refusal: %v", m)
			default:
			}
		})
	}
	ice.mu.Lock()
	defer ice.mu.Unlock()
	if ice.n != 0 || len(ice.hosts) != 0 {
		t.Fatalf("TURN credentials were made for refused connections: %d", ice.n)
	}
	if st := ts.hub.Stats(); st.Members != 0 {
		t.Fatalf("%d members after refusals only", st.Members)
	}
}

// An admitted member's name is its token's, whatever it asks for: at join and by rename. Two connections of one
// token (two tabs) are numbered like any equal names. ICE servers go to the admitted members.
func TestJoinTokenAdmits(t *testing.T) {
	ice := &fakeICE{hosts: map[string]string{}}
	ts := newAuthServer(t, ice, false)
	tok := mint(t, "Alice", "team", "lobby")

	a := dialToken(t, ts.ws+"/ws?room=team&name=Mallory", tok, false)
	self := a.next()
	if self["kind"] != "self-connected" || self["name"] != "Alice" || self["room"] != "team" {
		t.Fatalf("self-connected %v", self)
	}
	if servers, _ := self["iceServers"].([]any); len(servers) != 1 {
		t.Fatalf("admitted member got ICE servers %v", self["iceServers"])
	}
	a.id = self["id"].(string)

	b := dialToken(t, ts.ws+"/ws?room=team&name=Alice", tok, true) // the same person in a second tab
	if m := b.next(); m["name"] != "Alice (2)" {
		t.Fatalf("second connection of the token: %v", m)
	}
	if m := b.next(); m["kind"] != "connected" || m["name"] != "Alice" {
		t.Fatalf("snapshot %v", m)
	}
	if m := a.next(); m["kind"] != "connected" || m["name"] != "Alice (2)" {
		t.Fatalf("a got %v", m)
	}

	a.send(`{"kind":"rename","name":"Bob"}`)
	a.expectError(protocol.CodeNameFixed)
	a.quiet() // still open, and no renamed event
	b.quiet()

	// The default room is granted by its name.
	if m := dialToken(t, ts.ws, tok, true).next(); m["kind"] != "self-connected" || m["room"] != protocol.DefaultRoom {
		t.Fatalf("default room: %v", m)
	}
}

// With same-network groups off, @network is the default room, so a token for "lobby" admits it.
func TestJoinTokenNetworkRoomOff(t *testing.T) {
	ts := newAuthServer(t, nil, true)
	if m := dialToken(t, ts.ws+"/ws?room=@network", mint(t, "Al", "lobby"), false).next(); m["room"] != protocol.DefaultRoom {
		t.Fatalf("got %v", m)
	}
	ts2 := newAuthServer(t, nil, false)
	if m := dialToken(t, ts2.ws+"/ws?room=@network", mint(t, "Al", auth.NetworkRoom), false).next(); m["network"] != true {
		t.Fatalf("got %v", m)
	}
}

// Without --auth-secret a token changes nothing: the client's name counts and renames work.
func TestJoinTokenIgnoredWhenOff(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	c := dialToken(t, ts.ws+"/ws?name=Carol", mint(t, "Alice", "*"), false)
	if m := c.next(); m["name"] != "Carol" {
		t.Fatalf("got %v", m)
	}
	c.send(`{"kind":"rename","name":"Dan"}`)
	if m := c.next(); m["kind"] != "renamed" || m["name"] != "Dan" {
		t.Fatalf("got %v", m)
	}
}
