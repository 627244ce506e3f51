package hub

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// fakeClock is Limits.now for tests: time moves only when the test says so.
type fakeClock struct{ t int64 }

func (c *fakeClock) now() int64              { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t += int64(d) }

func limitedHub(l Limits) (*Hub, *fakeClock) {
	clock := &fakeClock{t: 1}
	l.now = clock.now
	return New(Config{Limits: l}), clock
}

// send has c relay msg (with toId to) and returns what c got back.
func (c *client) send(to *client, msg string) []map[string]any {
	c.t.Helper()
	c.m.Handle(fmt.Appendf(nil, `{"toId":%q,%s}`, to.m.ID(), msg))
	return c.drain()
}

// refused checks that got is exactly one error with code about target to.
func refused(t *testing.T, got []map[string]any, code string, to *client) {
	t.Helper()
	if len(got) != 1 || got[0]["kind"] != "error" || got[0]["code"] != code || got[0]["toId"] != to.m.ID() {
		t.Fatalf("got %v, want one %s error about %s", got, code, to.m.ID())
	}
}

// relaysFrom lists the senders of the relays in what c drains now.
func relaysFrom(c *client) []string {
	var out []string
	for _, m := range c.drain() {
		if from, ok := m["fromId"].(string); ok {
			out = append(out, from)
		}
	}
	return out
}

func TestJoinRateLimit(t *testing.T) {
	h, clock := limitedHub(Limits{JoinRate: 1, JoinBurst: 3})
	a := join(t, h, "r", "a")
	b := join(t, h, "r", "b")
	c := join(t, h, "r", "c")
	if _, err := h.Join("r", "d", &fakeConn{}); err != ErrRoomBusy {
		t.Fatalf("fourth join at once: %v, want ErrRoomBusy", err)
	}
	if ErrRoomBusy.Code != protocol.CodeRoomBusy {
		t.Fatalf("code %q", ErrRoomBusy.Code)
	}
	other := join(t, h, "s", "x") // each room has its own bucket
	clock.advance(time.Second)
	e := join(t, h, "r", "e")
	if _, err := h.Join("r", "f", &fakeConn{}); err != ErrRoomBusy {
		t.Fatalf("join after one token: %v", err)
	}
	// A refused join left no trace: the members see exactly each other.
	a.drain()
	if want := sortStrings([]string{b.m.ID(), c.m.ID(), e.m.ID()}); !slices.Equal(ids(a.view), want) {
		t.Fatalf("view %v, want %v", ids(a.view), want)
	}
	if s := h.Stats(); s.Members != 5 || s.Rooms != 2 {
		t.Fatalf("stats %+v", s)
	}
	other.m.Leave()
	if s := h.Stats(); s.Rooms != 1 {
		t.Fatalf("stats %+v after the other room emptied", s)
	}
}

func TestRecvRateLimit(t *testing.T) {
	h, clock := limitedHub(Limits{RecvRate: 1, RecvBurst: 4})
	target := join(t, h, "r", "target")
	s1, s2, s3 := join(t, h, "r", "s1"), join(t, h, "r", "s2"), join(t, h, "r", "s3")
	other := join(t, h, "r", "other")
	for _, c := range []*client{target, s1, s2, s3, other} {
		c.drain()
	}
	const cand = `"candidate":{"candidate":"x"}`
	for _, s := range []*client{s1, s1, s2, s2} {
		if got := s.send(target, cand); len(got) != 0 {
			t.Fatalf("relay within the burst got %v", got)
		}
	}
	// All senders together: the fifth relay at once is over the target's bucket, whoever sends it.
	refused(t, s3.send(target, cand), protocol.CodeTargetBusy, target)
	refused(t, s1.send(target, `"kind":"request"`), protocol.CodeTargetBusy, target)
	if got := s3.send(other, cand); len(got) != 0 { // another target has its own bucket
		t.Fatalf("relay to another member got %v", got)
	}
	if want := []string{s1.m.ID(), s1.m.ID(), s2.m.ID(), s2.m.ID()}; !slices.Equal(relaysFrom(target), want) {
		t.Fatal("target did not get exactly the four relays within its bucket")
	}
	if target.conn.closed != 0 {
		t.Fatalf("target closed with %d: a busy target must never be dropped for it", target.conn.closed)
	}
	clock.advance(time.Second)
	if got := s3.send(target, cand); len(got) != 0 {
		t.Fatalf("relay after a refill got %v", got)
	}
	if got := relaysFrom(target); len(got) != 1 || got[0] != s3.m.ID() {
		t.Fatalf("target got relays from %v after the refill", got)
	}
}

func TestPendingRequestsLimit(t *testing.T) {
	h, _ := limitedHub(Limits{MaxPendingRequests: 2})
	target := join(t, h, "r", "target")
	a, b, c := join(t, h, "r", "a"), join(t, h, "r", "b"), join(t, h, "r", "c")
	for _, m := range []*client{target, a, b, c} {
		m.drain()
	}
	ok := func(from *client, msg string) {
		t.Helper()
		if got := from.send(target, msg); len(got) != 0 {
			t.Fatalf("%s: %s got %v", from.name, msg, got)
		}
	}
	const req = `"kind":"request"`
	ok(a, req)
	ok(a, req) // a repeated request counts once
	ok(b, req)
	refused(t, c.send(target, req), protocol.CodeRequestLimit, target)
	ok(c, `"kind":"hangup"`) // other kinds are not limited
	if got := relaysFrom(target); len(got) != 4 {
		t.Fatalf("target got %d relays, want 4 (the refused request never reached it)", len(got))
	}

	// The target answering a (accept: anything it sends a counts) frees a place.
	if got := target.send(a, `"kind":"accept"`); len(got) != 0 {
		t.Fatal(got)
	}
	a.drain()
	ok(c, req) // pending: b, c
	refused(t, a.send(target, req), protocol.CodeRequestLimit, target)
	// b withdraws its request (decline); c leaves: both places are free again.
	ok(b, `"kind":"decline"`)
	ok(a, req) // pending: c, a
	c.m.Leave()
	b.drain()  // c's disconnected
	ok(b, req) // pending: a, b
	d := join(t, h, "r", "d")
	d.drain()
	refused(t, d.send(target, req), protocol.CodeRequestLimit, target)

	// The target leaving forgets every request to it on both sides: nothing is held for it.
	target.m.Leave()
	r := target.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range []*Member{target.m, a.m, b.m, d.m} {
		if len(m.lim.reqFrom) != 0 || len(m.lim.reqTo) != 0 {
			t.Errorf("%s still holds requests: from %d, to %d", m.id, len(m.lim.reqFrom), len(m.lim.reqTo))
		}
	}
}

// With the limits off (the zero Config), no request state is kept at all.
func TestLimitsOffKeepNoState(t *testing.T) {
	h := New(Config{})
	a, b := join(t, h, "r", "a"), join(t, h, "r", "b")
	a.drain()
	b.drain()
	for range 100 {
		if got := a.send(b, `"kind":"request"`); len(got) != 0 {
			t.Fatal(got)
		}
	}
	if b.m.lim.reqFrom != nil || a.m.lim.reqTo != nil {
		t.Fatal("request state kept with the limit off")
	}
}

// benchRelay measures one candidate relay from a member to another, queued and drained, with cfg.
func benchRelay(b *testing.B, cfg Config) {
	h := New(cfg)
	from, _ := h.Join("r", "a", &fakeConn{})
	to, _ := h.Join("r", "b", &fakeConn{})
	var buf []byte
	emit := func(f []byte) bool { buf = append(buf[:0], f...); return true }
	from.Drain(emit)
	to.Drain(emit)
	msg := fmt.Appendf(nil, `{"toId":%q,"candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host","sdpMid":"0"}}`, to.ID())
	b.ReportAllocs()
	for b.Loop() {
		from.Handle(msg)
		if to.Drain(emit) != 1 || buf[2] != 't' { // {"toId":…: the relay, not an error
			b.Fatalf("not relayed: %s", buf)
		}
	}
}

// BenchmarkRelayCandidate is the relay fast path with the limits off (the zero Config).
func BenchmarkRelayCandidate(b *testing.B) { benchRelay(b, Config{}) }

// BenchmarkRelayWithLimits is the same with every limit on (the receive bucket large enough never to
// refuse): what the limits add to the relay fast path.
func BenchmarkRelayWithLimits(b *testing.B) {
	benchRelay(b, Config{Limits: Limits{RecvRate: 1e12, RecvBurst: 1 << 30, MaxPendingRequests: DefaultMaxPendingRequests,
		JoinRate: DefaultJoinRate, JoinBurst: DefaultJoinBurst}})
}

// In a cluster, pending requests are counted on the sender's node, and an answer from another node (through
// Deliver) frees the place there.
func TestPendingRequestsAcrossNodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := &memCluster{}
	n0 := c.add(Config{Limits: Limits{MaxPendingRequests: 1}})
	n1 := c.add(Config{Limits: Limits{MaxPendingRequests: 1}})
	a, b := join(t, n0.hub, "r", "a"), join(t, n0.hub, "r", "b")
	target, other := join(t, n1.hub, "r", "target"), join(t, n1.hub, "r", "other")
	all := []*client{a, b, target, other}
	c.settle(rng)
	for _, m := range all {
		m.drain()
	}
	checkViewsExact(t, all, "before")
	const req = `"kind":"request"`
	if got := a.send(target, req); len(got) != 0 {
		t.Fatal(got)
	}
	refused(t, b.send(target, req), protocol.CodeRequestLimit, target)
	if got := other.send(target, req); len(got) != 0 { // n1 counts its own members' requests
		t.Fatal(got)
	}
	c.settle(rng)
	if from := relaysFrom(target); len(from) != 2 {
		t.Fatalf("target got requests from %v, want a's and other's", from)
	}
	target.send(a, `"kind":"accept"`)
	c.settle(rng)
	if from := relaysFrom(a); len(from) != 1 || from[0] != target.m.ID() {
		t.Fatalf("a got %v", from)
	}
	if got := b.send(target, req); len(got) != 0 {
		t.Fatalf("request after the answer reached a's node: %v", got)
	}
}
