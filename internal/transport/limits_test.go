package transport

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

// refusedWith checks that c was refused with error code and then closed with close.
func refusedWith(t *testing.T, c *client, code string, close int) {
	t.Helper()
	c.expectError(code)
	if got := c.closed(); got != close {
		t.Fatalf("%s: closed with %d, want %d", code, got, close)
	}
}

// New connections per address: a burst is admitted, the next one is refused with connecting-too-fast and
// 4005, whether or not the earlier ones are still open (it is a rate, not a count); other addresses are not
// affected.
func TestNewConnectionRatePerAddress(t *testing.T) {
	singleNode(t) // counted per node
	ts := newTestServer(t, Config{TrustedProxies: loopbackProxy, IPConnRate: 1e-6, IPConnBurst: 2}, hub.Config{})
	a := dialAs(t, ts.ws, "127.0.0.1", "203.0.113.5")
	a.self()
	b := dialAs(t, ts.ws, "127.0.0.1", "203.0.113.5")
	b.self()
	a.c.Close()
	b.c.Close()
	refusedWith(t, dialAs(t, ts.ws, "127.0.0.1", "203.0.113.5"), protocol.CodeConnectingTooFast, protocol.CloseBusy)
	dialAs(t, ts.ws, "127.0.0.1", "203.0.113.6").self()
	// A refused connection took no token: the bucket is still empty, not in debt.
	refusedWith(t, dialAs(t, ts.ws, "127.0.0.1", "203.0.113.5"), protocol.CodeConnectingTooFast, protocol.CloseBusy)
}

// The limits per address count an IPv6 client by its /64: one host has the whole prefix to pick from.
func TestLimitsPerAddressCountIPv6ByPrefix(t *testing.T) {
	singleNode(t)
	ts := newTestServer(t, Config{TrustedProxies: loopbackProxy, MaxConnsPerIP: 1}, hub.Config{})
	dialAs(t, ts.ws, "127.0.0.1", "2001:db8:1:2::1").self()
	refusedWith(t, dialAs(t, ts.ws, "127.0.0.1", "2001:db8:1:2:ffff::9"), protocol.CodeTooManyConnections, protocol.CloseFull)
	dialAs(t, ts.ws, "127.0.0.1", "2001:db8:1:3::1").self()
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.5":          "203.0.113.5",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::":       "2001:db8:1:2::/64",
		"::1":                  "::/64",
	} {
		if got := limitKey(netip.MustParseAddr(in), ""); got != want {
			t.Errorf("limitKey(%s) = %s, want %s", in, got, want)
		}
	}
	if got := limitKey(netip.Addr{}, "pipe"); got != "pipe" {
		t.Errorf("limitKey of a non-IP peer = %q", got)
	}
}

// Joins per room over the hub's rate: room-busy, closed with 4005; another room is not affected.
func TestRoomBusyClose(t *testing.T) {
	singleNode(t) // counted per node
	ts := newTestServer(t, Config{}, hub.Config{Limits: hub.Limits{JoinRate: 1e-6, JoinBurst: 1}})
	join(t, ts.ws+"/?room=busy", 0)
	refusedWith(t, dial(t, ts.ws+"/?room=busy"), protocol.CodeRoomBusy, protocol.CloseBusy)
	join(t, ts.ws+"/?room=calm", 0)
}

// The buckets of addresses stay bounded whatever addresses connect, and refilled ones are swept.
func TestIPRatesBounded(t *testing.T) {
	s := &Server{cfg: Config{IPConnRate: 60, IPConnBurst: 2}} // one token per second
	now := int64(1)
	for i := range maxIPRates + 1000 {
		if !s.takeIPConn(fmt.Sprint("a", i), now) {
			t.Fatalf("first connection of address %d refused", i)
		}
		if len(s.ipRate) > maxIPRates {
			t.Fatalf("%d addresses remembered, limit %d", len(s.ipRate), maxIPRates)
		}
	}
	for i, want := range []bool{true, true, false} {
		if got := s.takeIPConn("x", now); got != want {
			t.Fatalf("connection %d of a burst of 2: admitted %v", i+1, got)
		}
	}
	s.sweepIPRates(now+int64(1e9), false) // one second: every bucket that gave one token is full again
	if _, ok := s.ipRate["x"]; !ok || len(s.ipRate) != 1 {
		t.Fatalf("after a sweep %d addresses remain (x kept: %v), want only x (still refilling)", len(s.ipRate), ok)
	}
	s.sweepIPRates(now+int64(2e9), false)
	if len(s.ipRate) != 0 {
		t.Fatalf("%d addresses remain once all refilled", len(s.ipRate))
	}
}
