package transport

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

// dialAs dials from the loopback address local (127.0.0.1, 127.0.0.2…: all loopback on Linux) with the
// given X-Forwarded-For header, if any.
func dialAs(t *testing.T, rawURL, local, xff string) *client {
	t.Helper()
	d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}).DialContext}
	h := http.Header{}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	c, _, err := d.Dial(rawURL, h)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", rawURL, local, err)
	}
	cl := &client{t: t, c: c, in: make(chan map[string]any, 256), done: make(chan struct{})}
	go cl.read()
	t.Cleanup(func() { c.Close() })
	return cl
}

// self reads self-connected and returns it, setting c.id.
func (c *client) self() map[string]any {
	c.t.Helper()
	m := c.next()
	if m["kind"] != "self-connected" {
		c.t.Fatalf("first message %v", m)
	}
	c.id = m["id"].(string)
	return m
}

var loopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// Clients asking for @network meet those from the same network, by the address a trusted proxy reports;
// others are in groups of their own, and the groups are not the named rooms of the same name.
func TestNetworkGroupsBehindTrustedProxy(t *testing.T) {
	ts := newTestServer(t, Config{TrustedProxies: loopbackProxy}, hub.Config{})
	netURL := ts.ws + "/ws?room=@network&name=x"
	a := dialAs(t, netURL, "127.0.0.1", "203.0.113.5")
	sa := a.self()
	room, _ := sa["room"].(string)
	if len(room) != 20 || room[:4] != "net-" || sa["network"] != true || sa["name"] != "x" {
		t.Fatalf("self-connected %v", sa)
	}
	// Same address (the client's own claim further left is ignored; a trusted hop on the right is skipped).
	b := dialAs(t, netURL, "127.0.0.1", "198.51.100.1, 203.0.113.5, 127.0.0.1")
	if sb := b.self(); sb["room"] != room || sb["network"] != true || sb["name"] != "x (2)" {
		t.Fatalf("same address, self-connected %v", sb)
	}
	if m := b.next(); m["kind"] != "connected" || m["id"] != a.id {
		t.Fatalf("b got %v", m)
	}
	if m := a.next(); m["kind"] != "connected" || m["id"] != b.id {
		t.Fatalf("a got %v", m)
	}
	// Another address: another group, and neither hears of the other.
	c := dialAs(t, netURL, "127.0.0.1", "203.0.113.6")
	if sc := c.self(); sc["room"] == room || sc["network"] != true {
		t.Fatalf("other address, self-connected %v", sc)
	}
	// IPv6: one /64 is one network.
	v6 := dialAs(t, netURL, "127.0.0.1", "2001:db8:1:2::1")
	v6room := v6.self()["room"]
	if got := dialAs(t, netURL, "127.0.0.1", "2001:db8:1:2:ffff::9").self()["room"]; got != v6room {
		t.Errorf("same /64: %v and %v", got, v6room)
	}
	v6.next() // the other one joined
	if got := dialAs(t, netURL, "127.0.0.1", "2001:db8:1:3::1").self()["room"]; got == v6room {
		t.Errorf("another /64 shares the group")
	}
	// The named room of the same name is another room.
	named := join(t, ts.ws+"/?room="+url.QueryEscape(room), 0)
	named.quiet()
	// And the seed's client, naming no room, is in the lobby as ever, with nobody from the groups.
	seed := dialAs(t, ts.ws, "127.0.0.1", "203.0.113.5")
	if s := seed.self(); s["room"] != protocol.DefaultRoom || s["network"] != nil {
		t.Fatalf("seed client: %v", s)
	}
	seed.quiet()
	a.quiet()
	b.quiet()
	c.quiet()
}

// A client that is not a trusted proxy cannot choose its group or escape the per-address limit by sending
// X-Forwarded-For: it is placed and counted by its real address.
func TestForwardedHeaderFromUntrustedPeerIgnored(t *testing.T) {
	singleNode(t) // its per-address limit is per node
	ts := newTestServer(t, Config{TrustedProxies: loopbackProxy, MaxConnsPerIP: 1}, hub.Config{})
	netURL := ts.ws + "/ws?room=@network"
	victim := dialAs(t, netURL, "127.0.0.1", "203.0.113.5") // through the trusted proxy
	victimRoom := victim.self()["room"]

	spoofer := dialAs(t, netURL, "127.0.0.2", "203.0.113.5") // direct, claiming the victim's address
	spoofRoom := spoofer.self()["room"]
	if spoofRoom == victimRoom {
		t.Fatalf("an untrusted client joined the group of the address it claimed")
	}
	// It is where its real address puts it: with the server's local clients (loopback is the local site).
	local := dialAs(t, netURL, "127.0.0.1", "127.0.0.3")
	if got := local.self()["room"]; got != spoofRoom {
		t.Errorf("spoofer in %v, its real address's group is %v", spoofRoom, got)
	}
	spoofer.next() // local joined
	victim.quiet()

	// Per-address limit: a second connection from 127.0.0.2 is refused whatever it claims.
	again := dialAs(t, ts.ws, "127.0.0.2", "203.0.113.77")
	again.expectError(protocol.CodeTooManyConnections)
	if code := again.closed(); code != protocol.CloseFull {
		t.Fatalf("close %d", code)
	}
	// Through the trusted proxy the limit applies to the forwarded address: another address is admitted,
	// the same one is refused.
	dialAs(t, ts.ws, "127.0.0.1", "203.0.113.6").self()
	dup := dialAs(t, ts.ws, "127.0.0.1", "198.51.100.9, 203.0.113.6")
	dup.expectError(protocol.CodeTooManyConnections)
}

// Without trusted proxies, headers count for nothing, even from loopback.
func TestNoTrustedProxiesByDefault(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	a := dialAs(t, ts.ws+"/?room=@network", "127.0.0.1", "203.0.113.5")
	b := dialAs(t, ts.ws+"/?room=@network", "127.0.0.2", "198.51.100.7")
	if ra, rb := a.self()["room"], b.self()["room"]; ra != rb {
		t.Fatalf("two loopback clients with made-up headers are in %v and %v", ra, rb)
	}
}

// With same-network groups off, @network is the shared lobby, and self-connected says so.
func TestNetworkRoomsOff(t *testing.T) {
	ts := newTestServer(t, Config{NoNetworkRooms: true}, hub.Config{})
	seed := join(t, ts.ws, 0)
	c := dialAs(t, ts.ws+"/ws?room=@network&name=Ann", "127.0.0.1", "")
	if s := c.self(); s["room"] != protocol.DefaultRoom || s["network"] != nil {
		t.Fatalf("self-connected %v", s)
	}
	if m := c.next(); m["kind"] != "connected" || m["id"] != seed.id {
		t.Fatalf("got %v, want the seed client", m)
	}
	if m := seed.next(); m["id"] != c.id || m["name"] != "Ann" {
		t.Fatalf("seed client got %v", m)
	}
}

// Names are unique in a room; a rename reaches everyone, the renamer included, and newcomers see the new name.
func TestUniqueNamesAndRenames(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	a := dial(t, ts.ws+"/?room=team&name=Alice")
	if s := a.self(); s["name"] != "Alice" {
		t.Fatalf("self-connected %v", s)
	}
	b := dial(t, ts.ws+"/?room=team&name=Alice")
	if s := b.self(); s["name"] != "Alice (2)" {
		t.Fatalf("namesake's self-connected %v", s)
	}
	b.next()
	if m := a.next(); m["kind"] != "connected" || m["name"] != "Alice (2)" {
		t.Fatalf("a got %v", m)
	}
	b.send(`{"kind":"rename","name":"Bob"}`)
	for _, c := range []*client{a, b} {
		if m := c.next(); m["kind"] != "renamed" || m["id"] != b.id || m["name"] != "Bob" {
			t.Fatalf("got %v, want renamed Bob", m)
		}
	}
	a.send(`{"kind":"rename","name":"Bob"}`) // taken
	for _, c := range []*client{a, b} {
		if m := c.next(); m["kind"] != "renamed" || m["id"] != a.id || m["name"] != "Bob (2)" {
			t.Fatalf("got %v, want renamed Bob (2)", m)
		}
	}
	a.send(`{"kind":"rename","name":"Bob"}`) // what it has already: nothing happens
	a.send(`{"kind":"rename","name":["Carol"]}`)
	a.expectError(protocol.CodeBadMessage)
	a.quiet()
	b.quiet()
	n := dial(t, ts.ws+"/?room=team")
	n.self()
	got := map[string]any{}
	for range 2 {
		m := n.next()
		got[m["id"].(string)] = m["name"]
	}
	if got[a.id] != "Bob (2)" || got[b.id] != "Bob" {
		t.Fatalf("newcomer's snapshot %v", got)
	}
}

// Renames count against the message rate like anything else a client sends.
func TestRenamesRateLimited(t *testing.T) {
	ts := newTestServer(t, Config{Rate: 1, Burst: 3}, hub.Config{})
	a := join(t, ts.ws, 0)
	for i := range 4 {
		a.send(fmt.Sprintf(`{"kind":"rename","name":"n%d"}`, i))
	}
	for i := range 3 {
		if m := a.next(); m["kind"] != "renamed" || m["name"] != fmt.Sprintf("n%d", i) {
			t.Fatalf("got %v", m)
		}
	}
	a.expectError(protocol.CodeRateLimited)
}
