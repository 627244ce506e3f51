package cluster

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/p2plobby/p2plobby/internal/cluster/natstest"
	"github.com/p2plobby/p2plobby/internal/cluster/wire"
	"github.com/p2plobby/p2plobby/internal/hub"
)

// testBeat is the heartbeat in these tests: a node is gone after 4 × 100 ms of silence.
const testBeat = 100 * time.Millisecond

var _ Local = (*hub.Hub)(nil)

// node is a hub on a NATS bus.
type node struct {
	hub *hub.Hub
	bus *Bus
}

func startNode(t *testing.T, urls string, opts ...nats.Option) *node {
	t.Helper()
	b := New(Config{URLs: urls, Heartbeat: testBeat, Options: opts})
	h := hub.New(hub.Config{Bus: b})
	if err := b.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	return &node{hub: h, bus: b}
}

// waitReady waits until every node is ready (connected and has heard from the others).
func waitReady(t *testing.T, nodes ...*node) {
	t.Helper()
	eventually(t, 10*time.Second, "nodes ready", func() bool {
		for _, n := range nodes {
			if !n.bus.Ready() {
				return false
			}
		}
		return true
	})
}

// kill stops a node as SIGKILL would: its NATS connection closes with no goodbye.
func (n *node) kill() {
	n.bus.mu.Lock()
	n.bus.closing = true
	n.bus.mu.Unlock()
	n.bus.nc.Close()
	n.bus.out.close()
	close(n.bus.stop)
	n.bus.done.Wait()
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// viewer is a member whose test drains its frames into a view, checking each one: no unknown member, no
// member twice, no name twice.
type viewer struct {
	t      *testing.T
	m      *hub.Member
	mu     sync.Mutex
	self   string
	view   map[string]string
	frames []map[string]any
}

type nopConn struct{}

func (nopConn) Wake()             {}
func (nopConn) Close(int, string) {}

func join(t *testing.T, n *node, room, name string) *viewer {
	t.Helper()
	m, err := n.hub.Join(room, name, nopConn{})
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{t: t, m: m, view: map[string]string{}}
	v.drain()
	return v
}

func (v *viewer) drain() {
	v.mu.Lock()
	defer v.mu.Unlock()
	var raw [][]byte
	v.m.Drain(func(f []byte) bool { raw = append(raw, slices.Clone(f)); return true })
	for _, f := range raw {
		var msg map[string]any
		if err := json.Unmarshal(f, &msg); err != nil {
			v.t.Errorf("frame %s: %v", f, err)
			continue
		}
		v.frames = append(v.frames, msg)
		id, _ := msg["id"].(string)
		name, _ := msg["name"].(string)
		switch msg["kind"] {
		case "self-connected":
			v.self = id
		case "connected":
			if _, dup := v.view[id]; dup || id == v.self {
				v.t.Errorf("%s: connected twice or about itself: %s", v.self, id)
			}
			v.view[id] = name
		case "disconnected":
			if _, ok := v.view[id]; !ok {
				v.t.Errorf("%s: disconnected for unknown %s", v.self, id)
			}
			delete(v.view, id)
		case "renamed":
			if _, ok := v.view[id]; ok {
				v.view[id] = name
			}
		}
		seen := map[string]bool{}
		for _, n := range v.view {
			if n != "" && seen[n] {
				v.t.Errorf("%s: view has %q twice", v.self, n)
			}
			seen[n] = true
		}
	}
}

// sees reports whether v's view is exactly the others, with their current names.
func (v *viewer) sees(others ...*viewer) bool {
	v.drain()
	want := map[string]string{}
	for _, o := range others {
		if o != v {
			want[o.m.ID()] = o.m.Name()
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Equal(v.view, want)
}

// count is how many frames of kind about id v has had.
func (v *viewer) count(kind, id string) int {
	v.drain()
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, f := range v.frames {
		if (kind == "" || f["kind"] == kind) && (id == "" || f["id"] == id || f["toId"] == id || f["fromId"] == id) {
			n++
		}
	}
	return n
}

func allSee(t *testing.T, d time.Duration, what string, vs []*viewer) {
	t.Helper()
	eventually(t, d, what, func() bool {
		for _, v := range vs {
			if !v.sees(vs...) {
				return false
			}
		}
		return true
	})
}

func TestViewsAndRelaysAcrossNodes(t *testing.T) {
	nc := natstest.Start(t, 1)
	a, b, c := startNode(t, nc.URLs(0)), startNode(t, nc.URLs(0)), startNode(t, nc.URLs(0))
	waitReady(t, a, b, c)
	alice := join(t, a, "r", "Alice")
	bob := join(t, b, "r", "Bob")
	// Bob's node opened the room with a sync: his snapshot already holds Alice.
	if !bob.sees(alice) {
		t.Fatalf("Bob's first view %v lacks Alice", bob.view)
	}
	carol := join(t, c, "r", "Carol")
	eve := join(t, c, "other", "Eve")
	vs := []*viewer{alice, bob, carol}
	allSee(t, 5*time.Second, "three nodes see each other", vs)
	if len(eve.view) != 0 {
		t.Fatalf("a member of another room sees %v", eve.view)
	}

	// Relays cross nodes in order, with fromId stamped by the sender's node.
	for i := range 20 {
		alice.m.Handle(fmt.Appendf(nil, `{"toId":%q,"candidate":{"n":%d},"fromId":"forged"}`, bob.m.ID(), i))
	}
	eventually(t, 5*time.Second, "20 relays", func() bool { return bob.count("", alice.m.ID()) >= 21 }) // and the join
	n := 0
	for _, f := range bob.frames {
		if f["candidate"] != nil {
			if f["fromId"] != alice.m.ID() || f["candidate"].(map[string]any)["n"] != float64(n) {
				t.Fatalf("relay %d: %v", n, f)
			}
			n++
		}
	}
	if n != 20 {
		t.Fatalf("%d of 20 relays arrived", n)
	}

	// A relay to a member who just left comes back as unknown-target.
	carol.m.Leave()
	alice.m.Handle(fmt.Appendf(nil, `{"toId":%q,"kind":"request"}`, carol.m.ID()))
	eventually(t, 5*time.Second, "unknown-target", func() bool { return alice.count("error", carol.m.ID()) == 1 })
	allSee(t, 5*time.Second, "after Carol left", []*viewer{alice, bob})
}

// Concurrent joins, renames and leaves spread over three nodes end with exact views, names unique.
func TestConcurrentChurnAcrossNodes(t *testing.T) {
	nc := natstest.Start(t, 3)
	nodes := []*node{startNode(t, nc.URLs(0)), startNode(t, nc.URLs(1)), startNode(t, nc.URLs(2))}
	waitReady(t, nodes...)
	var mu sync.Mutex
	var live []*viewer
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 25 {
				v := join(t, nodes[(g+i)%3], "r", fmt.Sprint("p", i%4))
				v.m.Rename(fmt.Sprint("q", (g+i)%3))
				if i%4 == 0 {
					v.m.Leave()
					continue
				}
				mu.Lock()
				live = append(live, v)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	allSee(t, 10*time.Second, "exact views after churn", live)
	names := map[string]bool{}
	for _, v := range live {
		if n := v.m.Name(); names[n] {
			t.Fatalf("name %q twice in the room", n)
		} else {
			names[n] = true
		}
	}
}

// A node that dies without a goodbye: relays to its members bounce at once (no responders), and its
// members are announced as gone on every other node, once, within DeadAfter heartbeats and a check.
func TestNodeKilled(t *testing.T) {
	nc := natstest.Start(t, 1)
	a, b, c := startNode(t, nc.URLs(0)), startNode(t, nc.URLs(0)), startNode(t, nc.URLs(0))
	waitReady(t, a, b, c)
	alice, bob, carol := join(t, a, "r", "Alice"), join(t, b, "r", "Bob"), join(t, c, "r", "Carol")
	bob2 := join(t, b, "r", "Bob 2")
	allSee(t, 5*time.Second, "all", []*viewer{alice, bob, carol, bob2})

	killed := time.Now()
	b.kill()
	alice.m.Handle(fmt.Appendf(nil, `{"toId":%q,"kind":"request"}`, bob.m.ID()))
	eventually(t, 2*time.Second, "unknown-target for a relay to a dead node", func() bool { return alice.count("error", bob.m.ID()) == 1 })
	allSee(t, 5*time.Second, "dead node's members gone", []*viewer{alice, carol})
	took := time.Since(killed)
	if max := (DeadAfter+2)*testBeat + time.Second; took > max { // bound: DeadAfter beats, a check, scheduling
		t.Errorf("members of a killed node announced after %v, bound %v", took, max)
	}
	time.Sleep(3 * testBeat)
	for _, v := range []*viewer{alice, carol} {
		for _, gone := range []*viewer{bob, bob2} {
			if n := v.count("disconnected", gone.m.ID()); n != 1 {
				t.Errorf("%s heard %d disconnected for %s", v.m.Name(), n, gone.m.Name())
			}
		}
	}
}

// One NATS server of three goes down: its nodes fail over, no member is lost, relays go on. Relays sent to a
// node while it reconnects are held and sent again in order, never turned into unknown-target.
func TestNATSServerDown(t *testing.T) {
	nc := natstest.Start(t, 3)
	a, b := startNode(t, nc.URLs(1)), startNode(t, nc.URLs(0))
	waitReady(t, a, b)
	alice, bob := join(t, a, "r", "Alice"), join(t, b, "r", "Bob")
	allSee(t, 5*time.Second, "both", []*viewer{alice, bob})

	const n = 400
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			alice.m.Handle(fmt.Appendf(nil, `{"toId":%q,"candidate":{"n":%d}}`, bob.m.ID(), i))
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	nc.Servers[0].Shutdown() // bob's node's server, in the middle of the stream
	<-sent
	eventually(t, 5*time.Second, "node b reconnected", func() bool { return b.bus.Ready() })
	eventually(t, 5*time.Second, "the stream arrived", func() bool {
		bob.drain()
		bob.mu.Lock()
		defer bob.mu.Unlock()
		last := bob.frames[len(bob.frames)-1]
		c, _ := last["candidate"].(map[string]any)
		return c != nil && c["n"] == float64(n-1)
	})
	got, prev := 0, -1.0
	for _, f := range bob.frames {
		if c, ok := f["candidate"].(map[string]any); ok {
			if c["n"].(float64) <= prev {
				t.Fatalf("relay %v after %v: order lost", c["n"], prev)
			}
			prev = c["n"].(float64)
			got++
		}
	}
	if e := alice.count("error", ""); e != 0 {
		t.Errorf("alice got %d errors for relays to a member whose node was only reconnecting", e)
	}
	t.Logf("%d of %d relays arrived across the failover, in order", got, n)

	carol := join(t, b, "r", "Carol")
	allSee(t, 5*time.Second, "after failover", []*viewer{alice, bob, carol})
	for _, v := range []*viewer{alice, bob} {
		if n := v.count("disconnected", ""); n != 0 {
			t.Errorf("%s heard %d disconnected across a NATS server loss", v.m.Name(), n)
		}
	}
}

// A node cut off silently (a pulled cable) and healed: each side drops the other's members, members come
// and go on both sides meanwhile, and after the heal every view is exact again with nothing doubled.
func TestPartitionAndHeal(t *testing.T) {
	nc := natstest.Start(t, 1)
	proxy := natstest.NewProxy(t, nc.Servers[0].Addr().String())
	a := startNode(t, nc.URLs(0))
	b := startNode(t, proxy.URL(), nats.IgnoreDiscoveredServers(), nats.PingInterval(200*time.Millisecond))
	waitReady(t, a, b)
	alice, bob := join(t, a, "r", "Alice"), join(t, b, "r", "Bob")
	stay := join(t, b, "r", "Stays")
	allSee(t, 5*time.Second, "before the cut", []*viewer{alice, bob, stay})

	proxy.Cut()
	allSee(t, 5*time.Second, "a drops b's members", []*viewer{alice})
	eventually(t, 5*time.Second, "b drops a's members", func() bool { return bob.sees(stay) && stay.sees(bob) })
	bob.m.Leave()                     // gone while cut
	carol := join(t, a, "r", "Carol") // new on a's side
	dave := join(t, b, "r", "Dave")   // new on b's side
	proxy.Heal()
	vs := []*viewer{alice, carol, stay, dave}
	allSee(t, 10*time.Second, "views exact after the heal", vs)
	if n := alice.count("connected", bob.m.ID()); n != 1 {
		t.Errorf("alice heard of bob %d times", n)
	}
}

// Ready (and so /readyz) is false while the node has lost NATS, and true again once it is back and has
// heard from the others; members stay meanwhile.
func TestReadyFollowsNATS(t *testing.T) {
	nc := natstest.Start(t, 1)
	a := startNode(t, nc.URLs(0))
	waitReady(t, a)
	alice := join(t, a, "r", "Alice")
	nc.Servers[0].Shutdown()
	eventually(t, 5*time.Second, "not ready without NATS", func() bool { return !a.bus.Ready() })
	nc.Restart(t, 0)
	eventually(t, 10*time.Second, "ready again", func() bool { return a.bus.Ready() })
	b := startNode(t, nc.URLs(0))
	waitReady(t, b)
	bob := join(t, b, "r", "Bob")
	allSee(t, 5*time.Second, "a member from before the outage and one after", []*viewer{alice, bob})
}

// A node that shuts down says goodbye: the others drop its members at once, not after missed heartbeats.
func TestGoodbyeDropsMembersAtOnce(t *testing.T) {
	nc := natstest.Start(t, 1)
	slow := func() *node { // a long heartbeat: a drop well before 4 s can only come from the goodbye
		b := New(Config{URLs: nc.URLs(0), Heartbeat: time.Second})
		h := hub.New(hub.Config{Bus: b})
		if err := b.Start(h); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Shutdown)
		return &node{hub: h, bus: b}
	}
	a, b := slow(), slow()
	waitReady(t, a, b)
	alice, bob := join(t, a, "r", "Alice"), join(t, b, "r", "Bob")
	allSee(t, 5*time.Second, "both", []*viewer{alice, bob})
	b.bus.Shutdown()
	allSee(t, 3*time.Second, "Bob dropped on goodbye, before 4 missed heartbeats", []*viewer{alice})
}

// recorder is a Local that records the relays delivered to it.
type recorder struct {
	hub.Hub
	got []string
}

func (r *recorder) Deliver(_, _, _, _ string, frame []byte) hub.Delivery {
	r.got = append(r.got, string(frame))
	return hub.Delivered
}

// A stream's relays are delivered in order however they arrive; a gap that never fills is given up after
// gapWait, and what arrives late is still delivered; a new stream (a node forgot and met the other again)
// starts afresh.
func TestRelaysReordered(t *testing.T) {
	rec := &recorder{}
	b := New(Config{})
	b.local = rec
	relay := func(stream, rseq uint64) {
		b.inOrder(&wire.Message{Kind: wire.KindRelay, Node: "x", Stream: stream, Seq: rseq, Frame: fmt.Append(nil, stream, ".", rseq)})
	}
	for _, n := range []uint64{1, 3, 4, 2, 5} {
		relay(1, n)
	}
	if want := []string{"1.1", "1.2", "1.3", "1.4", "1.5"}; !slices.Equal(rec.got, want) {
		t.Fatalf("delivered %v, want %v", rec.got, want)
	}
	relay(1, 7) // 6 is lost
	relay(1, 8)
	if len(rec.got) != 5 {
		t.Fatalf("delivered across a gap: %v", rec.got)
	}
	b.streams["x"].since = time.Now().Add(-gapWait - time.Millisecond)
	b.skipStaleGaps()
	relay(1, 6) // too late to be in order, but not lost
	relay(1, 9)
	relay(2, 1) // a new stream
	if want := []string{"1.7", "1.8", "1.6", "1.9", "2.1"}; !slices.Equal(rec.got[5:], want) {
		t.Fatalf("delivered %v, want %v", rec.got[5:], want)
	}
}
