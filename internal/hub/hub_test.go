package hub

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// fakeConn is a member's transport for tests: it records wake-ups and closes, and the test drains by hand.
type fakeConn struct {
	mu     sync.Mutex
	wakes  int
	closed int // close code, 0 if open
}

func (f *fakeConn) Wake() { f.mu.Lock(); f.wakes++; f.mu.Unlock() }
func (f *fakeConn) Close(code int, _ string) {
	f.mu.Lock()
	if f.closed == 0 {
		f.closed = code
	}
	f.mu.Unlock()
}

// client is a fake member plus the lobby view it builds from what it drains.
type client struct {
	t     *testing.T
	m     *Member
	conn  *fakeConn
	self  string
	name  string            // its own name, as the lobby told it
	view  map[string]string // id → name
	names map[string]int    // name → members in view with it
	msgs  []map[string]any  // everything drained, decoded
}

func join(t *testing.T, h *Hub, room, name string) *client {
	t.Helper()
	fc := &fakeConn{}
	m, err := h.Join(room, name, fc)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, m: m, conn: fc, view: map[string]string{}}
}

// named counts the others' names in the view: every prefix of a view is the room at some instant, and
// names are unique in a room.
func (c *client) named(name string, d int) {
	c.t.Helper()
	if name == "" {
		return
	}
	if c.names == nil {
		c.names = map[string]int{}
	}
	if c.names[name] += d; c.names[name] > 1 {
		c.t.Fatalf("view has %q twice", name)
	}
}

// drain takes everything pending and applies it to the client's view, checking the protocol's promises.
func (c *client) drain() []map[string]any {
	c.t.Helper()
	return c.apply(drainAll(c.m))
}

// apply decodes frames into the client's view, checking the protocol's promises.
func (c *client) apply(frames [][]byte) []map[string]any {
	c.t.Helper()
	var got []map[string]any
	for _, f := range frames {
		var msg map[string]any
		if err := json.Unmarshal(f, &msg); err != nil {
			c.t.Fatalf("frame %s: %v", f, err)
		}
		got = append(got, msg)
		id, _ := msg["id"].(string)
		switch msg["kind"] {
		case "self-connected":
			if c.self != "" || len(c.msgs)+len(got) != 1 {
				c.t.Fatalf("self-connected not first or repeated")
			}
			c.self = id
			c.name, _ = msg["name"].(string)
		case "connected":
			if id == c.self {
				c.t.Fatalf("told about itself")
			}
			if _, dup := c.view[id]; dup {
				c.t.Fatalf("connected twice: %s", id)
			}
			name, _ := msg["name"].(string)
			c.view[id] = name
			c.named(name, 1)
		case "disconnected":
			if _, ok := c.view[id]; !ok {
				c.t.Fatalf("disconnected for unknown %s", id)
			}
			c.named(c.view[id], -1)
			delete(c.view, id)
		case "renamed":
			name, ok := msg["name"].(string)
			old, known := c.view[id]
			if id == c.self {
				old, known = c.name, true
				c.name = name
			} else if known {
				c.view[id] = name
				c.named(old, -1)
				c.named(name, 1)
			}
			switch {
			case !ok:
				c.t.Fatalf("renamed without a name: %v", msg)
			case !known:
				c.t.Fatalf("renamed for unknown %s", id)
			case old == name:
				c.t.Fatalf("stale rename of %s to %q: the view already had it", id, name)
			}
		}
	}
	c.msgs = append(c.msgs, got...)
	return got
}

func ids(v map[string]string) []string {
	out := make([]string, 0, len(v))
	for id := range v {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func TestJoinSnapshotAndEvents(t *testing.T) {
	h := New(Config{})
	a := join(t, h, "", "Alice")
	got := a.drain()
	if len(got) != 1 || got[0]["kind"] != "self-connected" || got[0]["name"] != "Alice" || got[0]["room"] != "lobby" {
		t.Fatalf("first frames = %v", got)
	}
	b := join(t, h, "lobby", "Bob")
	got = b.drain()
	if len(got) != 2 || got[1]["kind"] != "connected" || got[1]["id"] != a.self || got[1]["name"] != "Alice" {
		t.Fatalf("Bob got %v", got)
	}
	got = a.drain()
	if len(got) != 1 || got[0]["id"] != b.self || got[0]["name"] != "Bob" {
		t.Fatalf("Alice got %v", got)
	}
	b.m.Leave()
	b.m.Leave() // idempotent
	got = a.drain()
	if len(got) != 1 || got[0]["kind"] != "disconnected" || got[0]["id"] != b.self {
		t.Fatalf("Alice got %v after Bob left", got)
	}
	if s := h.Stats(); s.Members != 1 || s.Rooms != 1 {
		t.Fatalf("stats %+v", s)
	}
	a.m.Leave()
	if s := h.Stats(); s.Members != 0 || s.Rooms != 0 {
		t.Fatalf("stats after all left %+v", s)
	}
}

// A newcomer whose writer drains late must not hear of members who left before, and must hear of those
// who joined before it drained exactly once.
func TestSnapshotTakenAtFirstDrain(t *testing.T) {
	h := New(Config{})
	a := join(t, h, "r", "a")
	b := join(t, h, "r", "b")
	n := join(t, h, "r", "new")
	a.drain()
	a.m.Leave()
	c := join(t, h, "r", "c")
	n.drain()
	if want := []string{b.m.ID(), c.m.ID()}; !slices.Equal(ids(n.view), sortStrings(want)) {
		t.Fatalf("view %v, want %v", ids(n.view), want)
	}
	c.m.Leave()
	n.drain()
	if len(n.view) != 1 {
		t.Fatalf("view %v after c left", n.view)
	}
}

func sortStrings(s []string) []string { sort.Strings(s); return s }

func TestRelayOnlyToTargetWithStampedSender(t *testing.T) {
	h := New(Config{})
	a, b, c := join(t, h, "r", "a"), join(t, h, "r", "b"), join(t, h, "r", "c")
	for _, x := range []*client{a, b, c} {
		x.drain()
	}
	a.m.Handle([]byte(fmt.Sprintf(`{"toId":%q,"fromId":%q,"offer":{"type":"offer","sdp":"S"}}`, b.m.ID(), c.m.ID())))
	got := b.drain()
	if len(got) != 1 || got[0]["fromId"] != a.m.ID() || got[0]["offer"].(map[string]any)["sdp"] != "S" {
		t.Fatalf("b got %v", got)
	}
	if got := c.drain(); len(got) != 0 {
		t.Fatalf("c got %v", got)
	}
	if got := a.drain(); len(got) != 0 {
		t.Fatalf("a got %v", got)
	}
}

func TestRelayErrors(t *testing.T) {
	h := New(Config{})
	a, b := join(t, h, "r", "a"), join(t, h, "r", "b")
	other := join(t, h, "other", "o")
	gone := join(t, h, "r", "gone")
	gone.m.Leave()
	a.drain()
	for _, tc := range []struct{ msg, code string }{
		{`{"toId":"nobody","kind":"request"}`, protocol.CodeUnknownTarget},
		{fmt.Sprintf(`{"toId":%q,"kind":"request"}`, other.m.ID()), protocol.CodeUnknownTarget},
		{fmt.Sprintf(`{"toId":%q,"kind":"request"}`, gone.m.ID()), protocol.CodeUnknownTarget},
		{fmt.Sprintf(`{"toId":%q,"kind":"request"}`, a.m.ID()), protocol.CodeSelfTarget},
		{`{"toId":`, protocol.CodeBadJSON},
		{`{"toId":1}`, protocol.CodeBadMessage},
	} {
		a.m.Handle([]byte(tc.msg))
		got := a.drain()
		if len(got) != 1 || got[0]["kind"] != "error" || got[0]["code"] != tc.code {
			t.Errorf("%s: got %v, want error %s", tc.msg, got, tc.code)
		}
	}
	if got := other.drain(); len(got) != 1 { // only its self-connected
		t.Errorf("other room got %v", got)
	}
	_ = b
}

// A relay sent after an event reaches the target after that event, even when both wait in the queue.
func TestRelayOrderedAfterEarlierEvents(t *testing.T) {
	h := New(Config{})
	a := join(t, h, "r", "a")
	a.drain()
	b := join(t, h, "r", "b") // a has "connected b" pending
	b.drain()
	b.m.Handle([]byte(fmt.Sprintf(`{"toId":%q,"kind":"request"}`, a.m.ID())))
	b.m.Leave()
	got := a.drain()
	if len(got) != 3 || got[0]["kind"] != "connected" || got[1]["kind"] != "request" || got[2]["kind"] != "disconnected" {
		t.Fatalf("order %v", got)
	}
}

func TestSlowMemberDropped(t *testing.T) {
	h := New(Config{MaxQueue: 4096})
	slow := join(t, h, "r", "slow")
	slow.drain()
	fast := join(t, h, "r", "fast")
	fast.drain()
	payload := fmt.Sprintf(`{"toId":%q,"offer":{"sdp":"%0500d"}}`, slow.m.ID(), 0)
	for i := 0; i < 20 && slow.conn.closed == 0; i++ {
		fast.m.Handle([]byte(payload))
		fast.drain()
	}
	if slow.conn.closed != protocol.CloseSlow {
		t.Fatalf("slow member not closed with 4000 (got %d)", slow.conn.closed)
	}
	if got := drainAll(slow.m); len(got) != 0 {
		t.Fatalf("dropped member still drains %d frames", len(got))
	}
	// Events alone (no direct messages) also count: many joins while it does not drain.
	h2 := New(Config{MaxQueue: 2048})
	s2 := join(t, h2, "r", "s")
	s2.drain()
	for i := 0; i < 100 && s2.conn.closed == 0; i++ {
		join(t, h2, "r", fmt.Sprint(i)).drain()
	}
	if s2.conn.closed != protocol.CloseSlow {
		t.Fatalf("member lagging on events not closed")
	}
}

func TestLimits(t *testing.T) {
	h := New(Config{MaxRoomMembers: 2, MaxMembers: 3})
	join(t, h, "r", "1")
	join(t, h, "r", "2")
	if _, err := h.Join("r", "3", &fakeConn{}); err != ErrRoomFull {
		t.Fatalf("third in room: %v", err)
	}
	join(t, h, "s", "3")
	if _, err := h.Join("t", "4", &fakeConn{}); err != ErrServerFull {
		t.Fatalf("fourth on server: %v", err)
	}
	if _, err := h.Join("bad room!", "x", &fakeConn{}); err != ErrBadRoom {
		t.Fatalf("bad room: %v", err)
	}
}

// Many members join, drain and leave in random interleavings from many goroutines; afterwards every
// remaining member's view must equal the room.
func TestConcurrentStormViewsExact(t *testing.T) {
	h := New(Config{})
	const n = 300
	var mu sync.Mutex
	var stay []*client
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := join(t, h, "storm", fmt.Sprint(i))
			for range rand.IntN(3) {
				c.drain()
			}
			if i%3 == 0 {
				c.m.Leave()
				return
			}
			mu.Lock()
			stay = append(stay, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	checkViewsExact(t, stay, "storm")
}

func BenchmarkBroadcastJoin(b *testing.B) {
	h := New(Config{})
	var members []*Member
	for i := 0; i < 1000; i++ {
		m, _ := h.Join("r", "", &fakeConn{})
		members = append(members, m)
	}
	var buf []byte
	emit := func(f []byte) bool { buf = append(buf, f...); return true }
	// Each member's first Drain walks the room's snapshot (self-connected plus 999 connected): a one-time
	// cost of ~10^6 frames that, inside the loop, would be spread over however many iterations ran and make
	// ns/op depend on b.N. Pay it here, outside the timed loop.
	for _, o := range members {
		buf = buf[:0]
		o.Drain(emit)
	}
	b.ReportAllocs()
	frames, ops := 0, 0
	for b.Loop() {
		m, _ := h.Join("r", "", &fakeConn{})
		m.Leave()
		for _, o := range members {
			buf = buf[:0]
			frames += o.Drain(emit)
		}
		ops++
	}
	// One op is one join and one leave broadcast to every member: exactly two frames each.
	if want := 2 * len(members) * ops; frames != want {
		b.Fatalf("%d ops delivered %d frames, want %d", ops, frames, want)
	}
	b.ReportMetric(float64(frames)/float64(ops), "frames/op")
}

func drainAll(m *Member) [][]byte {
	var out [][]byte
	m.Drain(func(f []byte) bool { out = append(out, f); return true })
	return out
}

// A writer that stops after each frame gets the same frames, in the same order, as one that takes all.
func TestDrainInPieces(t *testing.T) {
	h := New(Config{})
	a := join(t, h, "r", "a")
	b := join(t, h, "r", "b")
	a.drain()
	b.drain()
	for i := range 5 {
		join(t, h, "r", fmt.Sprint(i))
		b.m.Handle([]byte(fmt.Sprintf(`{"toId":%q,"kind":"request","sid":"%d"}`, a.m.ID(), i)))
	}
	var got []string
	for {
		n := a.m.Drain(func(f []byte) bool { got = append(got, string(f)); return false })
		if n == 0 {
			break
		}
	}
	// 5 × (connected, request)
	if len(got) != 10 {
		t.Fatalf("got %d frames: %q", len(got), got)
	}
	for i := 0; i < 10; i += 2 {
		if !strings.Contains(got[i], `"connected"`) || !strings.Contains(got[i+1], `"request"`) {
			t.Fatalf("order broken at %d: %q", i, got[i:i+2])
		}
	}
}

// drainSome drains at most k frames into the client's view (a writer whose buffer fills).
func (c *client) drainSome(k int) {
	c.t.Helper()
	var frames [][]byte
	c.m.Drain(func(f []byte) bool { frames = append(frames, f); return len(frames) < k })
	c.apply(frames)
}

// Random joins, leaves, renames and partial drains, single-threaded so a failure replays from its seed:
// every view must stay consistent (checked per frame: no unknown member, no stale rename, no name twice)
// and end exact, names included, across order compactions and the pruning of kept names.
func TestRandomChurnWithPartialDrains(t *testing.T) {
	pool := []string{"", "a", "b", "a (2)", "c"} // few names: most joins and renames clash
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 1))
		h := New(Config{})
		var live []*client
		renames := 0
		for step := 0; step < 2000; step++ {
			switch x := rng.IntN(12); {
			case x < 4 || len(live) < 2:
				live = append(live, join(t, h, "r", pool[rng.IntN(len(pool))]))
			case x < 7:
				i := rng.IntN(len(live))
				live[i].m.Leave()
				live = append(live[:i], live[i+1:]...)
			case x < 9:
				c := live[rng.IntN(len(live))]
				name := pool[rng.IntN(len(pool))]
				if rng.IntN(4) == 0 {
					name = fmt.Sprint("n", rng.IntN(1000))
				}
				c.m.Handle([]byte(fmt.Sprintf(`{"kind":"rename","name":%q}`, name)))
				renames++
			default:
				live[rng.IntN(len(live))].drainSome(1 + rng.IntN(5))
			}
		}
		checkViewsExact(t, live, fmt.Sprintf("seed %d", seed))
		if r := h.rooms["r"]; r.snaps == 0 && (len(r.renamed) > 0 || r.kept > 0) {
			t.Fatalf("seed %d: %d earlier names kept with no snapshot in progress", seed, r.kept)
		}
		// Once no snapshot is in progress, departures compact the join order.
		for len(live) > 100 {
			live[0].m.Leave()
			live = live[1:]
		}
		r := h.rooms["r"]
		if len(r.order) > 2*len(live)+64 {
			t.Fatalf("seed %d: order not compacted: %d entries for %d members", seed, len(r.order), len(live))
		}
	}
}

// checkViewsExact drains every client and checks that each one's view (plus itself) is exactly the clients,
// with their current names, and that names are unique.
func checkViewsExact(t *testing.T, clients []*client, label string) {
	t.Helper()
	var want []string
	names := map[string]string{}
	seen := map[string]bool{}
	for _, c := range clients {
		want = append(want, c.m.ID())
		name := c.m.Name()
		names[c.m.ID()] = name
		if name != "" && seen[name] {
			t.Fatalf("%s: name %q taken twice", label, name)
		}
		seen[name] = true
	}
	sort.Strings(want)
	for _, c := range clients {
		c.drain()
		got := append(ids(c.view), c.self)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: member %s sees %d members, want %d", label, c.self, len(got), len(want))
		}
		for id, name := range c.view {
			if names[id] != name {
				t.Fatalf("%s: member %s sees %s as %q, not %q", label, c.self, id, name, names[id])
			}
		}
		if c.name != names[c.self] {
			t.Fatalf("%s: member %s thinks it is %q, not %q", label, c.self, c.name, names[c.self])
		}
	}
}

// flushConn writes in Flush itself, as the transport does: draining there would deadlock if the hub
// called Flush with the room locked.
type flushConn struct {
	fakeConn
	m       *Member
	flushed [][]byte
}

func (f *flushConn) Flush() {
	f.m.Drain(func(b []byte) bool {
		f.flushed = append(f.flushed, append([]byte(nil), b...))
		return true
	})
}

func TestDirectMessagesFlushedOutsideTheLock(t *testing.T) {
	h := New(Config{})
	a := join(t, h, "r", "a")
	fc := &flushConn{}
	m, err := h.Join("r", "b", fc)
	if err != nil {
		t.Fatal(err)
	}
	fc.m = m
	m.Drain(func([]byte) bool { return true }) // self-connected and snapshot
	a.drain()
	fc.wakes = 0 // the join's wake-up
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.m.Handle([]byte(`{"toId":"` + m.ID() + `","kind":"request"}`)) // a relay: flushed by a's call
		m.Handle([]byte(`{"kind":"ping"}`))                              // a pong: flushed too
		m.Handle([]byte(`{"toId":"nobody","kind":"request"}`))           // an error: flushed too
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: Flush was called with the room locked")
	}
	if len(fc.flushed) != 3 {
		t.Fatalf("flushed %d frames, want 3: %q", len(fc.flushed), fc.flushed)
	}
	for i, want := range []string{`"kind":"request"`, `"kind":"pong"`, `"code":"unknown-target"`} {
		if !strings.Contains(string(fc.flushed[i]), want) {
			t.Errorf("frame %d = %s, want %s", i, fc.flushed[i], want)
		}
	}
	if fc.wakes != 0 {
		t.Errorf("Wake called %d times; a Flusher gets Flush for direct messages", fc.wakes)
	}
}

func renameTo(c *client, name string) {
	c.m.Handle([]byte(fmt.Sprintf(`{"kind":"rename","name":%q}`, name)))
}

// kinds lists the kind and name of each message, for comparing sequences.
func kinds(msgs []map[string]any) []string {
	var out []string
	for _, m := range msgs {
		s, _ := m["kind"].(string)
		if n, ok := m["name"].(string); ok {
			s += " " + n
		}
		out = append(out, s)
	}
	return out
}

func TestUniqueNamesOnJoin(t *testing.T) {
	h := New(Config{})
	a := join(t, h, "r", "Alice")
	a.drain()
	a2 := join(t, h, "r", " Alice\x00")
	a3 := join(t, h, "r", "Alice")
	for i, c := range []*client{a2, a3} {
		want := []string{"Alice (2)", "Alice (3)"}[i]
		if got := c.drain()[0]["name"]; got != want || c.m.Name() != want {
			t.Errorf("namesake %d: self-connected name %v, Name() %q, want %q", i+1, got, c.m.Name(), want)
		}
	}
	if got := kinds(a.drain()); !slices.Equal(got, []string{"connected Alice (2)", "connected Alice (3)"}) {
		t.Errorf("Alice was told %v", got)
	}
	a2.m.Leave()
	if got := join(t, h, "r", "Alice").m.Name(); got != "Alice (2)" {
		t.Errorf("after Alice (2) left, a newcomer is %q, want the free Alice (2)", got)
	}
	if got := join(t, h, "r", "Alice (2)").m.Name(); got != "Alice (2) (2)" {
		t.Errorf("a newcomer asking for a taken numbered name is %q", got)
	}
	// Empty names are not numbered; other rooms and the same-network group of the same name are apart.
	e1, e2 := join(t, h, "r", ""), join(t, h, "r", "\x01")
	if e1.m.Name() != "" || e2.m.Name() != "" {
		t.Errorf("empty names became %q, %q", e1.m.Name(), e2.m.Name())
	}
	if got := join(t, h, "other", "Alice").m.Name(); got != "Alice" {
		t.Errorf("in another room: %q", got)
	}
	fc := &fakeConn{}
	nm, err := h.JoinNetwork("r", "Alice", fc)
	if err != nil {
		t.Fatal(err)
	}
	n := &client{t: t, m: nm, conn: fc, view: map[string]string{}}
	if got := n.drain(); len(got) != 1 || got[0]["name"] != "Alice" || got[0]["room"] != "r" || got[0]["network"] != true {
		t.Errorf("same-network group r shares the named room r: %v", got)
	}
	// Long names keep within the limit when numbered.
	long := strings.Repeat("x", protocol.MaxNameLen)
	join(t, h, "r", long)
	if got := join(t, h, "r", long).m.Name(); got != strings.Repeat("x", protocol.MaxNameLen-4)+" (2)" {
		t.Errorf("numbered long name %q", got)
	}
}

// Many members asking for one name all get distinct names, each at a bounded cost.
func TestManyNamesakes(t *testing.T) {
	h := New(Config{})
	seen := map[string]bool{}
	for range 3000 {
		fc := &fakeConn{}
		m, err := h.Join("r", "Alice", fc)
		if err != nil {
			t.Fatal(err)
		}
		name := m.Name()
		if seen[name] || len([]rune(name)) > protocol.MaxNameLen || !strings.HasPrefix(name, "Alice") {
			t.Fatalf("name %q repeated or malformed", name)
		}
		seen[name] = true
	}
	if !seen["Alice (33)"] || seen["Alice (34)"] {
		t.Errorf("the first namesakes are numbered 2-33 in order, then at random")
	}
	// Each try at a name allocates it: a newcomer tries a bounded number, not one per namesake.
	r := h.rooms["r"]
	r.mu.Lock()
	allocs := testing.AllocsPerRun(50, func() { r.uniqueName("Alice", nil) })
	r.mu.Unlock()
	if allocs > 300 {
		t.Errorf("numbering the 3001st Alice took %v allocations", allocs)
	}
}

func TestRename(t *testing.T) {
	h := New(Config{})
	a, b := join(t, h, "r", "Alice"), join(t, h, "r", "Bob")
	a.drain()
	b.drain()
	renameTo(a, "  Carol\n")
	if got := kinds(a.drain()); !slices.Equal(got, []string{"renamed Carol"}) {
		t.Fatalf("the renamer got %v", got)
	}
	if got := kinds(b.drain()); !slices.Equal(got, []string{"renamed Carol"}) {
		t.Fatalf("the other got %v", got)
	}
	// No-ops: the same name, a name cleaned to the same, and asking for the base of one's numbered name
	// while the base is taken.
	renameTo(a, "Carol")
	renameTo(a, "Carol\u200f")
	renameTo(b, "Carol") // Bob becomes Carol (2)
	renameTo(b, "Carol")
	if got := kinds(b.drain()); !slices.Equal(got, []string{"renamed Carol (2)"}) {
		t.Fatalf("got %v", got)
	}
	// The old name is free again; renames are ordered with joins and leaves; a later snapshot has the new name.
	c := join(t, h, "r", "Alice")
	renameTo(a, "")
	c.m.Leave()
	if got := kinds(b.drain()); !slices.Equal(got, []string{"connected Alice", "renamed ", "disconnected"}) {
		t.Fatalf("got %v", got)
	}
	d := join(t, h, "r", "Dave")
	if got := kinds(d.drain()); !slices.Equal(got, []string{"self-connected Dave", "connected", "connected Carol (2)"}) {
		t.Fatalf("newcomer got %v", got)
	}
	// Errors, and nothing after leaving.
	a.drain()
	a.m.Handle([]byte(`{"kind":"rename","name":5}`))
	if got := a.drain(); len(got) != 1 || got[0]["code"] != protocol.CodeBadMessage {
		t.Fatalf("got %v", got)
	}
	d.m.Leave()
	d.m.Rename("Zed")
	if got := kinds(b.drain()); !slices.Equal(got, []string{"connected Dave", "disconnected"}) {
		t.Fatalf("rename after leaving: %v", got)
	}
}

// A snapshot reports the names as of its start and every later rename as an event: a member it reaches
// after a rename is still reported by its old name, then renamed; a rename before it began is in it.
func TestRenameDuringSnapshot(t *testing.T) {
	h := New(Config{})
	x, y := join(t, h, "r", "x"), join(t, h, "r", "y")
	renameTo(x, "x1") // before any snapshot: nothing kept
	n := join(t, h, "r", "n")
	n.drainSome(2)    // self-connected, connected x1: the snapshot is in progress
	renameTo(x, "x2") // already reported
	renameTo(y, "y2") // not yet reported
	renameTo(y, "y3")
	x.m.Leave()
	if r := h.rooms["r"]; r.kept != 3 {
		t.Fatalf("%d earlier names kept, want 3", r.kept)
	}
	n.drain()
	want := []string{"self-connected n", "connected x1", "connected y", "renamed x2", "renamed y2", "renamed y3", "disconnected"}
	if got := kinds(n.msgs); !slices.Equal(got, want) {
		t.Fatalf("newcomer got %v, want %v", got, want)
	}
	if r := h.rooms["r"]; r.kept != 0 || r.renamed != nil || y.m.renames != nil {
		t.Fatalf("earlier names still kept after the snapshot: %d", r.kept)
	}
	// A newcomer that leaves mid-snapshot releases what was kept for it too.
	n2 := join(t, h, "r", "n2")
	n2.drainSome(1)
	renameTo(y, "y4")
	n2.m.Leave()
	if r := h.rooms["r"]; r.kept != 0 || r.renamed != nil {
		t.Fatalf("earlier names kept after the only snapshot ended by a departure")
	}
}

// A member that renames before its writer first drains gets its self-connected (old name), then the
// snapshot, then its own renamed event; the others get the join and the rename.
func TestRenameBeforeFirstDrain(t *testing.T) {
	h := New(Config{})
	a := join(t, h, "r", "a")
	a.drain()
	b := join(t, h, "r", "b")
	renameTo(b, "a")
	want := []string{"self-connected b", "connected a", "renamed a (2)"}
	if got := kinds(b.drain()); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := kinds(a.drain()); !slices.Equal(got, []string{"connected b", "renamed a (2)"}) {
		t.Fatalf("got %v", got)
	}
}

// Renames from many goroutines racing joins, leaves and drains end in exact views with unique names.
func TestConcurrentRenamesViewsExact(t *testing.T) {
	h := New(Config{})
	var mu sync.Mutex
	var stay []*client
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := join(t, h, "storm", fmt.Sprint(i%7))
			for range 3 {
				renameTo(c, fmt.Sprint(rand.IntN(7)))
				c.drainSome(1 + rand.IntN(20))
			}
			if i%4 == 0 {
				c.m.Leave()
				return
			}
			mu.Lock()
			stay = append(stay, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	checkViewsExact(t, stay, "after the storm")
}
