package hub

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// memCluster links hubs in one process, as internal/cluster links nodes over NATS: each node has one
// inbound FIFO (the order NATS keeps per publisher), and a test delivers from it step by step, in a random
// order across nodes, so that every interleaving a network allows can be replayed from a seed.
type memCluster struct {
	mu    sync.Mutex
	nodes []*memNode
}

type memNode struct {
	c    *memCluster
	id   string
	hub  *Hub
	open map[string]bool // rooms with local members; guarded by c.mu
	in   []func()        // inbound work, in order; guarded by c.mu
	down bool            // cut off: nothing in or out
}

func (c *memCluster) add(cfg Config) *memNode {
	n := &memNode{c: c, id: fmt.Sprintf("n%d", len(c.nodes)), open: map[string]bool{}}
	cfg.Bus = n
	n.hub = New(cfg)
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n
}

// push queues work for n. Called with c.mu held.
func (n *memNode) push(f func()) {
	if !n.down {
		n.in = append(n.in, f)
	}
}

func (n *memNode) Open(room string, ready func()) {
	n.c.mu.Lock()
	n.open[room] = true
	others := slices.DeleteFunc(slices.Clone(n.c.nodes), func(o *memNode) bool { return o == n || o.down || n.down })
	n.c.mu.Unlock()
	// Asking the others is itself delivery: queued in their order, answered in n's inbound order. The
	// answers are not awaited (ready at once), so remote members may reach a newcomer as events after its
	// snapshot, which views must take as well as a snapshot.
	for _, o := range others {
		n.c.mu.Lock()
		o.push(func() { n.sync(o, room) })
		n.c.mu.Unlock()
	}
	ready()
}

// sync answers n's request for o's members of room.
func (n *memNode) sync(o *memNode, room string) {
	o.hub.LocalMembers(room, func(ms []Remote) {
		n.c.mu.Lock()
		n.push(func() { n.hub.SetRemote(room, o.id, ms) })
		n.c.mu.Unlock()
	})
}

// NodeID tells the hub its node's id, as cluster.Bus does.
func (n *memNode) NodeID() string { return n.id }

func (n *memNode) Close(room string) {
	n.c.mu.Lock()
	delete(n.open, room)
	n.c.mu.Unlock()
}

func (n *memNode) Publish(room string, ev Event) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.down {
		return
	}
	for _, o := range n.c.nodes {
		if o != n && o.open[room] {
			o.push(func() { o.hub.Apply(room, n.id, ev) })
		}
	}
}

func (n *memNode) Relay(node, room, fromID, toID string, frame []byte) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.down {
		return
	}
	for _, o := range n.c.nodes {
		if o.id == node {
			o.push(func() {
				if o.hub.Deliver(room, n.id, fromID, toID, frame) == NoTarget {
					n.c.mu.Lock()
					n.push(func() { n.hub.Bounce(room, fromID, toID) })
					n.c.mu.Unlock()
				}
			})
		}
	}
}

// step runs the first queued work of a random node with some; false if all queues are empty.
func (c *memCluster) step(rng *rand.Rand) bool {
	c.mu.Lock()
	var busy []*memNode
	for _, n := range c.nodes {
		if len(n.in) > 0 {
			busy = append(busy, n)
		}
	}
	if len(busy) == 0 {
		c.mu.Unlock()
		return false
	}
	n := busy[rng.IntN(len(busy))]
	f := n.in[0]
	n.in = n.in[1:]
	c.mu.Unlock()
	f()
	return true
}

// settle delivers everything, including what delivery itself queues.
func (c *memCluster) settle(rng *rand.Rand) {
	for c.step(rng) {
	}
}

// kill cuts n off and has every other node drop its members, as the NATS bus does on missed heartbeats.
func (c *memCluster) kill(n *memNode) {
	c.mu.Lock()
	n.down, n.in = true, nil
	c.mu.Unlock()
	for _, o := range c.nodes {
		if o != n {
			o.hub.DropNode(n.id)
		}
	}
}

// cut isolates n as a partition does: what was in flight is still delivered, then each side drops the
// other's members, as the NATS bus does when heartbeats stop.
func (c *memCluster) cut(n *memNode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n.down = true
	for _, o := range c.nodes {
		if o != n {
			o.push(func() { o.hub.DropNode(n.id) })
			n.in = append(n.in, func() { n.hub.DropNode(o.id) })
		}
	}
}

// heal reconnects n, and n and every other node resync the rooms they have open, as the NATS bus does on a
// reconnect.
func (c *memCluster) heal(n *memNode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n.down = false
	for _, o := range c.nodes {
		if o == n {
			continue
		}
		for room := range n.open {
			o.push(func() { n.sync(o, room) })
		}
		for room := range o.open {
			n.push(func() { o.sync(n, room) })
		}
	}
}

var fixedRNG = rand.New(rand.NewPCG(1, 2))

func TestClusterViewsAcrossNodes(t *testing.T) {
	var c memCluster
	n0, n1, n2 := c.add(Config{}), c.add(Config{}), c.add(Config{})
	a := join(t, n0.hub, "r", "Alice")
	c.settle(fixedRNG)
	b := join(t, n1.hub, "r", "Bob")
	c.settle(fixedRNG)
	// Bob's snapshot has Alice (the sync was answered before he drained); Alice hears of Bob.
	if got := b.drain(); len(got) != 2 || got[1]["id"] != a.m.ID() || got[1]["name"] != "Alice" {
		t.Fatalf("Bob got %v", got)
	}
	if got := a.drain(); len(got) != 2 || got[1]["kind"] != "connected" || got[1]["id"] != b.self {
		t.Fatalf("Alice got %v", got)
	}
	d := join(t, n2.hub, "r", "Dan")
	other := join(t, n2.hub, "elsewhere", "Eve") // rooms stay apart across nodes
	c.settle(fixedRNG)
	checkViewsExact(t, []*client{a, b, d}, "three nodes")
	if got := other.drain(); len(got) != 1 {
		t.Fatalf("a member of another room heard %v", got)
	}
	b.m.Leave()
	c.settle(fixedRNG)
	checkViewsExact(t, []*client{a, d}, "after Bob left")
	if s := n1.hub.Stats(); s.Rooms != 0 || s.Members != 0 {
		t.Fatalf("node 1 still holds %+v after its last member left", s)
	}
}

func TestClusterRelayStampedAndBounced(t *testing.T) {
	var c memCluster
	n0, n1 := c.add(Config{}), c.add(Config{})
	a := join(t, n0.hub, "r", "a")
	b := join(t, n1.hub, "r", "b")
	c.settle(fixedRNG)
	a.drain()
	b.drain()
	a.m.Handle(fmt.Appendf(nil, `{"kind":"request","toId":%q,"fromId":"forged"}`, b.self))
	a.m.Handle(fmt.Appendf(nil, `{"toId":%q,"answer":{"sdp":"y"}}`, b.self))
	c.settle(fixedRNG)
	got := b.drain()
	if len(got) != 2 || got[0]["kind"] != "request" || got[0]["fromId"] != a.self || got[1]["answer"] == nil {
		t.Fatalf("b got %v", got)
	}
	// b leaves; a's relay crosses before a hears of it and comes back as unknown-target.
	b.m.Leave()
	a.m.Handle(fmt.Appendf(nil, `{"kind":"request","toId":%q}`, b.self))
	c.settle(fixedRNG)
	got = a.drain()
	if len(got) != 2 || got[0]["kind"] != "disconnected" || got[1]["code"] != "unknown-target" || got[1]["toId"] != b.self {
		t.Fatalf("a got %v", got)
	}
}

func TestClusterRelayFromUnknownSender(t *testing.T) {
	var c memCluster
	n0, _ := c.add(Config{}), c.add(Config{})
	a := join(t, n0.hub, "r", "a")
	c.settle(fixedRNG)
	a.drain()
	if d := n0.hub.Deliver("r", "n1", "nobody", a.self, []byte(`{}`)); d != UnknownSender {
		t.Fatalf("relay from a member n0 never heard of: %v", d)
	}
	if d := n0.hub.Deliver("r", "n1", "x", "nobody", []byte(`{}`)); d != NoTarget {
		t.Fatalf("relay to no one: %v", d)
	}
	if got := a.drain(); len(got) != 0 {
		t.Fatalf("a got %v", got)
	}
}

func TestClusterNodeDropAnnouncedOnce(t *testing.T) {
	var c memCluster
	n0, n1 := c.add(Config{}), c.add(Config{})
	a := join(t, n0.hub, "r", "a")
	b1, b2 := join(t, n1.hub, "r", "b1"), join(t, n1.hub, "r", "b2")
	c.settle(fixedRNG)
	checkViewsExact(t, []*client{a, b1, b2}, "before")
	c.kill(n1)
	c.kill(n1) // a second drop finds nothing to announce
	got := a.drain()
	if len(got) != 2 || got[0]["kind"] != "disconnected" || got[1]["kind"] != "disconnected" {
		t.Fatalf("a got %v", got)
	}
	if len(a.view) != 0 {
		t.Fatalf("a still sees %v", a.view)
	}
}

// A resync moves a view from the old membership to the new one in exact steps, names included.
func TestClusterSetRemoteDiff(t *testing.T) {
	var c memCluster
	n0, _ := c.add(Config{}), c.add(Config{})
	a := join(t, n0.hub, "r", "a")
	c.settle(fixedRNG)
	a.drain()
	n0.hub.SetRemote("r", "n1", []Remote{{"x", "x"}, {"y", "y"}})
	n0.hub.SetRemote("r", "n1", []Remote{{"y", "why"}, {"z", "z"}})
	got := a.drain()
	if want := []string{"connected x", "connected y", "disconnected", "renamed why", "connected z"}; !slices.Equal(kinds(got), want) {
		t.Fatalf("got %v, want kinds %v", got, want)
	}
	if a.view["y"] != "why" || a.view["z"] != "z" || len(a.view) != 2 {
		t.Fatalf("view %v", a.view)
	}
	n0.hub.Apply("r", "n1", Event{Kind: Joined, ID: "y", Name: "why"}) // a duplicate changes nothing
	n0.hub.Apply("r", "n1", Event{Kind: Left, ID: "x"})                // nor a stale leave
	n0.hub.Apply("r", "n2", Event{Kind: Left, ID: "y"})                // nor another node's word on y
	if got := a.drain(); len(got) != 0 {
		t.Fatalf("stale events reached the view: %v", got)
	}
}

// Two members claim one name at once on two nodes: the smaller id keeps it everywhere, no view ever shows
// the name twice, and a relay from the member still hidden waits until it is shown.
func TestClusterNameClash(t *testing.T) {
	for _, order := range []string{"local wins", "remote wins"} {
		t.Run(order, func(t *testing.T) {
			var c memCluster
			n0, n1 := c.add(Config{}), c.add(Config{})
			keep := join(t, n0.hub, "r", "keep") // rooms open on both nodes
			other := join(t, n1.hub, "r", "other")
			c.settle(fixedRNG)
			x := join(t, n0.hub, "r", "Alice")
			y := join(t, n1.hub, "r", "Alice")
			if (x.self < y.self) != (order == "local wins") {
				x, y = y, x // x is on the node whose member has the smaller id in "local wins"
			}
			all := []*client{keep, other, x, y}
			for _, cl := range all {
				cl.drain()
			}
			c.settle(fixedRNG)
			for _, cl := range all {
				cl.drain() // per-frame checks: never two members with one name
			}
			c.settle(fixedRNG)
			checkViewsExact(t, all, order)
			winner, loser := x, y
			if y.self < x.self {
				winner, loser = y, x
			}
			if winner.m.Name() != "Alice" || loser.m.Name() != "Alice (2)" {
				t.Fatalf("winner %q, loser %q", winner.m.Name(), loser.m.Name())
			}
		})
	}
}

func TestClusterHeldRelayFromHiddenMember(t *testing.T) {
	var c memCluster
	n0, n1 := c.add(Config{}), c.add(Config{})
	keep := join(t, n0.hub, "r", "keep")
	join(t, n1.hub, "r", "other")
	c.settle(fixedRNG)
	keep.drain()
	// A member of n1 is hidden on n0: its claim to "keep" loses to the local keep only if its id is larger.
	n0.hub.Apply("r", "n1", Event{Kind: Joined, ID: "~hidden", Name: "keep"}) // '~' sorts after every id
	if d := n0.hub.Deliver("r", "n1", "~hidden", keep.self, []byte(`{"kind":"request","fromId":"~hidden"}`)); d != Delivered {
		t.Fatalf("deliver from hidden: %v", d)
	}
	if got := keep.drain(); len(got) != 0 {
		t.Fatalf("keep heard of a hidden member: %v", got)
	}
	n0.hub.Apply("r", "n1", Event{Kind: Renamed, ID: "~hidden", Name: "keep (2)"}) // its node renamed it
	got := keep.drain()
	if len(got) != 2 || got[0]["kind"] != "connected" || got[0]["name"] != "keep (2)" || got[1]["kind"] != "request" {
		t.Fatalf("keep got %v", got)
	}
}

// Random joins, leaves, renames, relays, partial drains, deliveries, partitions and heals on three nodes,
// single-threaded so a failure replays from its seed: every view stays consistent frame by frame (no unknown member, no name
// twice) and, once everything is delivered, every view is exactly the members of all nodes.
func TestClusterRandomChurn(t *testing.T) {
	pool := []string{"", "a", "b", "a (2)", "c"}
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var c memCluster
		nodes := []*memNode{c.add(Config{}), c.add(Config{}), c.add(Config{})}
		var live []*client
		var cut *memNode
		for step := 0; step < 1500; step++ {
			switch x := rng.IntN(18); {
			case x == 17:
				if cut == nil {
					cut = nodes[rng.IntN(3)]
					c.cut(cut)
				} else {
					c.heal(cut)
					cut = nil
				}
			case x < 4 || len(live) < 2:
				live = append(live, join(t, nodes[rng.IntN(3)].hub, "r", pool[rng.IntN(len(pool))]))
			case x < 7:
				i := rng.IntN(len(live))
				live[i].m.Leave()
				live = append(live[:i], live[i+1:]...)
			case x < 8:
				cl := live[rng.IntN(len(live))]
				cl.m.Handle(fmt.Appendf(nil, `{"kind":"rename","name":%q}`, pool[rng.IntN(len(pool))]))
			case x < 9:
				from, to := live[rng.IntN(len(live))], live[rng.IntN(len(live))]
				from.m.Handle(fmt.Appendf(nil, `{"kind":"request","toId":%q}`, to.m.ID()))
			case x < 11:
				live[rng.IntN(len(live))].drainSome(1 + rng.IntN(5))
			default:
				for range 1 + rng.IntN(4) {
					c.step(rng)
				}
			}
		}
		if cut != nil {
			c.heal(cut)
		}
		c.settle(rng)
		checkViewsExact(t, live, fmt.Sprintf("seed %d", seed))
	}
}

// Goroutines join, rename and leave on three nodes while the inbound queues are delivered concurrently:
// the race detector watches the locks, and the views end exact.
func TestClusterConcurrentChurn(t *testing.T) {
	var c memCluster
	nodes := []*memNode{c.add(Config{}), c.add(Config{}), c.add(Config{})}
	stop := make(chan struct{})
	var pump sync.WaitGroup
	pump.Go(func() {
		rng := rand.New(rand.NewPCG(3, 3))
		for {
			select {
			case <-stop:
				return
			default:
				c.step(rng)
			}
		}
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var live []*client
	for g := range 6 {
		wg.Go(func() {
			n := nodes[g%3]
			for i := range 40 {
				cl := join(t, n.hub, "r", fmt.Sprint("p", i%5))
				cl.m.Rename(fmt.Sprint("q", i%3))
				if i%3 == 0 {
					cl.m.Leave()
					continue
				}
				mu.Lock()
				live = append(live, cl)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	pump.Wait()
	c.settle(fixedRNG)
	checkViewsExact(t, live, "concurrent")
}
