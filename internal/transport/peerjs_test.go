package transport

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/auth"
	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

// The PeerServer-compatible endpoint (issue 12), spoken as the stock peerjs client speaks it. These tests run
// on one node and, in TestClusterConformance's run, on two nodes with connections alternating between them.

// pjRealm is the hub's PeerJS settings as cmd/p2plobby sets them, with a short expiry.
func pjRealm() hub.RealmConfig {
	return hub.RealmConfig{Park: 300 * time.Millisecond, Expired: protocol.PeerJSExpireFrame, Taken: protocol.PeerJSIDTakenFrame}
}

func newPeerJSServer(t *testing.T, pj PeerJS, cfg Config, hcfg hub.Config) *testServer {
	t.Helper()
	if pj.Path == "" {
		pj.Path = "/peerjs"
	}
	cfg.PeerJS = &pj
	if hcfg.Realm.Expired == nil {
		hcfg.Realm = pjRealm()
	}
	return newTestServer(t, cfg, hcfg)
}

// pjURL is the URL the stock client opens for id with token.
func pjURL(ts *testServer, id, token string) string {
	return ts.ws + "/peerjs/peerjs?key=peerjs&id=" + id + "&token=" + token + "&version=1.5.5"
}

// pjOpen connects id and expects OPEN.
func pjOpen(t *testing.T, ts *testServer, id, token string) *client {
	t.Helper()
	c := dial(t, pjURL(ts, id, token))
	if m := c.next(); m["type"] != "OPEN" || len(m) != 1 {
		t.Fatalf("%s: first message %v, want {type: OPEN}", id, m)
	}
	c.id = id
	return c
}

// pjProbe sends c a message through the server and waits for it: everything the server had for c before
// has arrived by then, so a test can check that nothing else came.
func (c *client) pjProbe() {
	c.t.Helper()
	c.send(`{"type":"CANDIDATE","dst":"` + c.id + `","payload":{"probe":true}}`)
	m := c.next()
	if m["type"] != "CANDIDATE" || m["src"] != c.id {
		c.t.Fatalf("%s: got %v before its own probe", c.id, m)
	}
}

func (c *client) pjExpect(want map[string]any) {
	c.t.Helper()
	got := c.next()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) { // json.Marshal sorts keys: this compares every field, and that there are no others
		c.t.Fatalf("%s: got %s, want %s", c.id, g, w)
	}
}

func (c *client) pjNotice(code string) {
	c.t.Helper()
	m := c.next()
	p, _ := m["payload"].(map[string]any)
	if m["type"] != "NOTICE" || p["code"] != code || p["msg"] == "" {
		c.t.Fatalf("%s: got %v, want a NOTICE %s", c.id, m, code)
	}
}

func TestPeerJSRelaysStampedAndStripped(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{}, Config{}, hub.Config{})
	a := pjOpen(t, ts, "alice", "t1")
	b := pjOpen(t, ts, "bob-2", "t2")
	a.send(`{"type":"OFFER","dst":"bob-2","src":"mallory","extra":5,"payload":{"sdp":{"type":"offer","sdp":"v=0"},"type":"data","connectionId":"dc_1"}}`)
	b.pjExpect(map[string]any{"type": "OFFER", "src": "alice", "dst": "bob-2",
		"payload": map[string]any{"sdp": map[string]any{"type": "offer", "sdp": "v=0"}, "type": "data", "connectionId": "dc_1"}})
	b.send(`{"type":"ANSWER","dst":"alice","payload":{"sdp":{},"connectionId":"dc_1"}}`)
	a.pjExpect(map[string]any{"type": "ANSWER", "src": "bob-2", "dst": "alice", "payload": map[string]any{"sdp": map[string]any{}, "connectionId": "dc_1"}})
	for _, typ := range []string{"CANDIDATE", "LEAVE", "EXPIRE"} {
		a.send(`{"type":"` + typ + `","dst":"bob-2","payload":[1,"two",null]}`)
		b.pjExpect(map[string]any{"type": typ, "src": "alice", "dst": "bob-2", "payload": []any{1.0, "two", nil}})
	}
	a.send(`{"type":"CANDIDATE","dst":"bob-2"}`) // no payload: none forwarded, as JSON.stringify drops undefined
	b.pjExpect(map[string]any{"type": "CANDIDATE", "src": "alice", "dst": "bob-2"})
	a.send(`{"type":"HEARTBEAT"}`) // never answered
	a.pjProbe()
	b.pjProbe()
}

func TestPeerJSIDTaken(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{}, Config{}, hub.Config{})
	a := pjOpen(t, ts, "X", "first")
	peer := pjOpen(t, ts, "peer", "p")

	// Another token: refused, and the holder keeps its id.
	thief := dial(t, pjURL(ts, "X", "other"))
	thief.pjExpect(map[string]any{"type": "ID-TAKEN", "payload": map[string]any{"msg": "ID is taken"}})
	if code := thief.closed(); code != protocol.CloseBadJoin {
		t.Fatalf("ID-TAKEN closed with %d, want %d", code, protocol.CloseBadJoin)
	}
	peer.send(`{"type":"OFFER","dst":"X","payload":{"n":1}}`)
	a.pjExpect(map[string]any{"type": "OFFER", "src": "peer", "dst": "X", "payload": map[string]any{"n": 1.0}})

	// The same token: the same client, reconnected. The new connection takes over; the old one is closed.
	again := pjOpen(t, ts, "X", "first")
	if code := a.closed(); code != protocol.CloseReplaced {
		t.Fatalf("the replaced connection closed with %d, want %d", code, protocol.CloseReplaced)
	}
	peer.send(`{"type":"OFFER","dst":"X","payload":{"n":2}}`)
	again.pjExpect(map[string]any{"type": "OFFER", "src": "peer", "dst": "X", "payload": map[string]any{"n": 2.0}})
	again.pjProbe()
}

func TestPeerJSParkedUntilArrival(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{}, Config{}, hub.Config{Realm: hub.RealmConfig{Park: 10 * time.Second,
		Expired: protocol.PeerJSExpireFrame, Taken: protocol.PeerJSIDTakenFrame}})
	a := pjOpen(t, ts, "early", "t")
	for i := range 3 {
		a.send(fmt.Sprintf(`{"type":"CANDIDATE","dst":"late","payload":{"i":%d}}`, i))
	}
	a.send(`{"type":"LEAVE","dst":"late"}`) // not kept: PeerServer drops LEAVE and EXPIRE for absent ids
	a.pjProbe()                             // the relays above have been handled
	late := pjOpen(t, ts, "late", "t")      // OPEN first, then what waited, in order
	for i := range 3 {
		late.pjExpect(map[string]any{"type": "CANDIDATE", "src": "early", "dst": "late", "payload": map[string]any{"i": float64(i)}})
	}
	late.pjProbe()
	a.pjProbe() // and no EXPIRE for the sender
}

func TestPeerJSExpire(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{}, Config{}, hub.Config{})
	a := pjOpen(t, ts, "a", "t")
	b := pjOpen(t, ts, "b", "t")
	for range 3 {
		a.send(`{"type":"OFFER","dst":"nobody","payload":{}}`)
	}
	b.send(`{"type":"OFFER","dst":"nobody","payload":{}}`)
	a.send(`{"type":"EXPIRE","dst":"ghost"}`) // dropped: never an EXPIRE back for these
	// One EXPIRE per sender and absent id, naming the absent id as src.
	a.pjExpect(map[string]any{"type": "EXPIRE", "src": "nobody", "dst": "a"})
	b.pjExpect(map[string]any{"type": "EXPIRE", "src": "nobody", "dst": "b"})
	a.pjProbe()
	b.pjProbe()
	// Expired relays are gone: a latecomer gets nothing but OPEN.
	late := pjOpen(t, ts, "nobody", "t")
	late.pjProbe()
}

func TestPeerJSLeaveWithoutDstLeaves(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{}, Config{}, hub.Config{})
	a := pjOpen(t, ts, "goer", "t1")
	a.send(`{"type":"LEAVE"}`)
	if code := a.closed(); code != protocol.CloseNormal {
		t.Fatalf("LEAVE without dst closed with %d, want %d", code, protocol.CloseNormal)
	}
	// The id is free at once for anyone: nothing of the old socket stays behind.
	b := pjOpen(t, ts, "goer", "t2")
	b.pjProbe()
}

func TestPeerJSMalformedMessagesKeepTheConnection(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{}, Config{MaxMessageSize: 4 << 10}, hub.Config{})
	a := pjOpen(t, ts, "a", "t")
	for _, tc := range []struct{ msg, code string }{
		{`not json`, protocol.CodeBadJSON},
		{`[1,2]`, protocol.CodeBadJSON},
		{`null`, protocol.CodeBadJSON},
		{`"OFFER"`, protocol.CodeBadJSON},
		{`{"type":5}`, protocol.CodeBadMessage},
		{`{"TYPE":"OFFER","dst":"a"}`, protocol.CodeBadMessage}, // names match exactly, as in JavaScript
		{`{"type":"OPEN"}`, protocol.CodeBadMessage},
		{`{"type":"ID-TAKEN","dst":"a"}`, protocol.CodeBadMessage},
		{`{"type":"OFFER"}`, protocol.CodeBadMessage},
		{`{"type":"OFFER","dst":5}`, protocol.CodeBadMessage},
		{`{"type":"OFFER","dst":"no/slash"}`, protocol.CodeBadMessage},
		{`{"type":"OFFER","dst":"` + strings.Repeat("x", protocol.MaxPeerJSIDLen+1) + `"}`, protocol.CodeBadMessage},
		{`{"type":"OFFER","dst":"a","payload":{"x":}}`, protocol.CodeBadJSON},
		{strings.Repeat("[", 300) + strings.Repeat("]", 300), protocol.CodeBadJSON},
	} {
		a.send(tc.msg)
		a.pjNotice(tc.code)
	}
	if err := a.c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	a.pjNotice(protocol.CodeBinaryUnsupported)
	a.pjProbe()
	a.send(`{"type":"OFFER","dst":"a","payload":"` + strings.Repeat("x", 5<<10) + `"}`)
	if code := a.closed(); code != protocol.CloseTooBig {
		t.Fatalf("an oversized message closed with %d, want %d", code, protocol.CloseTooBig)
	}
}

func TestPeerJSJoinRefusals(t *testing.T) {
	singleNode(t) // the concurrent limit is counted over nodes, but a join at the same moment may overshoot it
	ts := newPeerJSServer(t, PeerJS{Keys: []string{"peerjs", "other"}}, Config{}, hub.Config{Realm: hub.RealmConfig{MaxMembers: 2,
		Park: time.Second, Expired: protocol.PeerJSExpireFrame, Taken: protocol.PeerJSIDTakenFrame}})
	for _, tc := range []struct {
		query, msg string
		code       int
	}{
		{"key=peerjs&token=t", protocol.PeerJSMsgInvalidParams, protocol.CloseBadJoin},
		{"key=peerjs&id=a", protocol.PeerJSMsgInvalidParams, protocol.CloseBadJoin},
		{"id=a&token=t", protocol.PeerJSMsgInvalidParams, protocol.CloseBadJoin},
		{"key=nope&id=a&token=t", protocol.PeerJSMsgInvalidKey, protocol.CloseBadJoin},
		{"key=peerjs&id=-a&token=t", "ID is invalid", protocol.CloseBadJoin},
		{"key=peerjs&id=a&token=" + strings.Repeat("t", protocol.MaxPeerJSTokenLen+1), protocol.PeerJSMsgInvalidToken, protocol.CloseBadJoin},
	} {
		c := dial(t, ts.ws+"/peerjs/peerjs?"+tc.query)
		c.pjExpect(map[string]any{"type": "ERROR", "payload": map[string]any{"msg": tc.msg}})
		if code := c.closed(); code != tc.code {
			t.Fatalf("%s: closed with %d, want %d", tc.query, code, tc.code)
		}
	}
	pjOpen(t, ts, "one", "t")
	pjOpen(t, ts, "two", "t")
	full := dial(t, pjURL(ts, "three", "t"))
	full.pjExpect(map[string]any{"type": "ERROR", "payload": map[string]any{"msg": protocol.PeerJSMsgLimit}})
	if code := full.closed(); code != protocol.CloseFull {
		t.Fatalf("over the concurrent limit: closed with %d, want %d", code, protocol.CloseFull)
	}
	// Keys are realms of their own: the same id, and room under the limit, in another key.
	c := dial(t, ts.ws+"/peerjs/peerjs?key=other&id=one&token=x")
	if m := c.next(); m["type"] != "OPEN" {
		t.Fatalf("another key: %v", m)
	}
}

func TestPeerJSWaitingIsBounded(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{}, Config{}, hub.Config{Realm: hub.RealmConfig{Park: time.Minute,
		Expired: protocol.PeerJSExpireFrame, Taken: protocol.PeerJSIDTakenFrame}})
	a := pjOpen(t, ts, "a", "t")
	for i := range 256 {
		a.send(fmt.Sprintf(`{"type":"OFFER","dst":"absent-%d","payload":{}}`, i))
	}
	a.send(`{"type":"OFFER","dst":"absent-x","payload":{}}`)
	a.pjNotice(protocol.CodeWaitingLimit)
	a.pjProbe()
}

func TestPeerJSHeartbeatKeepsAlive(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{AliveTimeout: 2 * time.Second}, Config{}, hub.Config{})
	beating := pjOpen(t, ts, "beating", "t")
	silent := pjOpen(t, ts, "silent", "t")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				beating.c.WriteMessage(websocket.TextMessage, []byte(`{"type":"HEARTBEAT"}`))
			}
		}
	}()
	code := silent.closed()
	close(stop)
	<-done
	if code != protocol.CloseNoHeartbeat {
		t.Fatalf("the silent client closed with %d, want %d", code, protocol.CloseNoHeartbeat)
	}
	beating.pjProbe() // still here, through the other one's timeout
}

func TestPeerJSHTTPAPI(t *testing.T) {
	ts := newPeerJSServer(t, PeerJS{AllowDiscovery: true}, Config{}, hub.Config{})
	get := func(path, origin string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	resp, body := get("/peerjs/", "")
	if resp.StatusCode != 200 || body != peerInfo || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /peerjs/: %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	resp, id := get("/peerjs/peerjs/id?ts=17000000000000.123&version=1.5.5", "https://app.example")
	if resp.StatusCode != 200 || !uuid.MatchString(id) || !protocol.ValidPeerJSID(id) {
		t.Fatalf("GET id: %d %q", resp.StatusCode, id)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Fatalf("GET id from another origin: Access-Control-Allow-Origin %q", got)
	}
	if resp, _ := get("/peerjs/wrong/id", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET id with a wrong key: %d, want 401", resp.StatusCode)
	}
	pjOpen(t, ts, id, "t")
	pjOpen(t, ts, "zed", "t")
	var ids []string
	deadline := time.Now().Add(5 * time.Second)
	for len(ids) != 2 && time.Now().Before(deadline) { // in a cluster a node hears of the other's peers shortly
		_, body = get("/peerjs/peerjs/peers", "")
		ids = nil
		if err := json.Unmarshal([]byte(body), &ids); err != nil {
			t.Fatalf("peers: %q: %v", body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if want := []string{id, "zed"}; fmt.Sprint(ids) != fmt.Sprint(want) && fmt.Sprint(ids) != fmt.Sprint([]string{"zed", id}) {
		t.Fatalf("peers %v, want %v", ids, want)
	}
	req, _ := http.NewRequest(http.MethodOptions, ts.URL+"/peerjs/peerjs/id", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "x-thing")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "x-thing" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	off := newPeerJSServer(t, PeerJS{}, Config{}, hub.Config{})
	resp, err = http.Get(off.URL + "/peerjs/peerjs/peers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("peers without discovery: %d, want 401", resp.StatusCode)
	}
}

func TestPeerJSOrigins(t *testing.T) {
	// Any origin by default, as PeerServer: PeerJS apps usually live elsewhere than their server.
	ts := newPeerJSServer(t, PeerJS{}, Config{}, hub.Config{})
	h := http.Header{"Origin": {"https://elsewhere.example"}}
	c, _, err := websocket.DefaultDialer.Dial(pjURL(ts, "o", "t"), h)
	if err != nil {
		t.Fatalf("another origin: %v", err)
	}
	c.Close()
	// With --allowed-origins, the same policy as the lobby's.
	strict := newPeerJSServer(t, PeerJS{}, Config{AllowedOrigins: []string{"https://app.example"}}, hub.Config{})
	if _, resp, err := websocket.DefaultDialer.Dial(pjURL(strict, "o", "t"), h); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an origin not allowed: err %v", err)
	}
	c, _, err = websocket.DefaultDialer.Dial(pjURL(strict, "o", "t"), http.Header{"Origin": {"https://app.example"}})
	if err != nil {
		t.Fatalf("an allowed origin: %v", err)
	}
	c.Close()
}

func TestPeerJSAtRoot(t *testing.T) {
	// --peerjs-path /: a PeerServer's default paths, beside the web app.
	ts := newPeerJSServer(t, PeerJS{Path: "/"}, Config{}, hub.Config{})
	c := dial(t, ts.ws+"/peerjs?key=peerjs&id=rooted&token=t")
	if m := c.next(); m["type"] != "OPEN" {
		t.Fatalf("root WebSocket: %v", m)
	}
	for path, want := range map[string]int{"/peerjs/id": 200, "/": 200, "/nope/id": 404} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if path == "/" && !strings.Contains(string(body), "<title>p2plobby") {
			t.Fatalf("GET / is no longer the app: %q", body)
		}
	}
	// The lobby is still there.
	join(t, ts.ws+"/ws", 0)
}

func TestPeerJSJoinTokens(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{Secret: authSecret})
	if err != nil {
		t.Fatal(err)
	}
	ts := newPeerJSServer(t, PeerJS{}, Config{Auth: v}, hub.Config{})
	for _, tc := range []struct{ name, id, token string }{
		{"no token", "x", "random-client-token"},
		{"another key", "x", mint(t, "x", "lobby")},
		{"the id is the token's name", "mallory", mint(t, "alice", "peerjs")},
		{"expired", "x", func() string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"name": "x", "rooms": []string{"*"},
				"exp": time.Now().Add(-time.Hour).Unix()}).SignedString(authSecret)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}()},
	} {
		c := dial(t, pjURL(ts, tc.id, tc.token))
		m := c.next()
		p, _ := m["payload"].(map[string]any)
		msg, _ := p["msg"].(string)
		if m["type"] != "ERROR" || !strings.HasPrefix(msg, protocol.PeerJSMsgInvalidToken) {
			t.Fatalf("%s: %v", tc.name, m)
		}
		if code := c.closed(); code != protocol.CloseUnauthorized {
			t.Fatalf("%s: closed with %d", tc.name, code)
		}
	}
	c := dial(t, pjURL(ts, "alice", mint(t, "alice", "peerjs")))
	if m := c.next(); m["type"] != "OPEN" {
		t.Fatalf("alice with her token: %v", m)
	}
}
