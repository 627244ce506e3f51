package hub

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// realmConn is a PeerJS member's transport for tests: a fakeConn that also keeps its last frame before close.
type realmConn struct {
	fakeConn
	last []byte
}

func (c *realmConn) CloseWith(frame []byte, code int, reason string) {
	c.mu.Lock()
	c.last = frame
	c.mu.Unlock()
	c.Close(code, reason)
}

func realmConfig() Config {
	return Config{Realm: RealmConfig{Park: time.Minute, Expired: protocol.PeerJSExpireFrame, Taken: protocol.PeerJSIDTakenFrame}}
}

func joinRealm(t *testing.T, h *Hub, id, secret string) (*Member, *realmConn) {
	t.Helper()
	c := &realmConn{}
	m, err := h.JoinRealm("peerjs", id, secret, protocol.PeerJSOpenFrame, c)
	if err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	return m, c
}

func pjFrame(from, to string, i int) []byte {
	return protocol.AppendPeerJS(nil, protocol.PeerJSOffer, from, to, []byte(fmt.Sprint(i)))
}

// holder returns the member that node's copy of the realm has for id, or nil.
func holder(n *memNode, id string) *Member {
	r := n.hub.room(realmKey("peerjs"))
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.members[id]
}

// Two clients claim one id at the same moment on two nodes, each node unaware of the other's: whatever order
// the cluster delivers in, the smaller secret keeps the id on every node, the other is told ID-TAKEN and
// closed, and a third node routes to the winner. A relay parked on the third node for an id that then joins
// on another node reaches it.
func TestRealmClashSettlesTheSameEverywhere(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		c := &memCluster{}
		n0, n1, n2 := c.add(realmConfig()), c.add(realmConfig()), c.add(realmConfig())
		w, _ := joinRealm(t, n2.hub, "watcher", "w")
		c.settle(rng)
		if res, _ := w.RelayTo("late", pjFrame("watcher", "late", 1), true); res != RelayParked {
			t.Fatalf("seed %d: a relay to an absent id: %v, want parked", seed, res)
		}
		win, winConn := joinRealm(t, n0.hub, "X", "secret-a")
		lose, loseConn := joinRealm(t, n1.hub, "X", "secret-b")
		late, _ := joinRealm(t, n1.hub, "late", "l")
		c.settle(rng)

		if winConn.closed != 0 {
			t.Fatalf("seed %d: the smaller secret was closed (%d)", seed, winConn.closed)
		}
		if loseConn.closed != protocol.CloseReplaced || string(loseConn.last) != string(protocol.PeerJSIDTakenFrame) {
			t.Fatalf("seed %d: the loser: close %d, last frame %q", seed, loseConn.closed, loseConn.last)
		}
		if holder(n0, "X") != win {
			t.Fatalf("seed %d: node 0 does not hold X locally", seed)
		}
		for _, n := range []*memNode{n1, n2} {
			if m := holder(n, "X"); m == nil || m.node != n0.id || m == lose {
				t.Fatalf("seed %d: %s routes X to %v", seed, n.id, m)
			}
		}
		if res, _ := w.RelayTo("X", pjFrame("watcher", "X", 2), true); res != RelaySent {
			t.Fatalf("seed %d: relay to X: %v", seed, res)
		}
		c.settle(rng)
		got := drainAll(win)
		if len(got) != 2 || string(got[1]) != string(pjFrame("watcher", "X", 2)) {
			t.Fatalf("seed %d: the winner got %q", seed, got)
		}
		got = drainAll(late)
		if len(got) != 2 || string(got[1]) != string(pjFrame("watcher", "late", 1)) {
			t.Fatalf("seed %d: the parked relay: %q", seed, got)
		}
		if st := n1.hub.Stats(); st.Members != 1 {
			t.Fatalf("seed %d: node 1 counts %d members after the loser left, want 1", seed, st.Members)
		}
		lose.Leave() // the transport's call once the socket is gone: changes nothing
		if m := holder(n1, "X"); m == nil || m.node != n0.id {
			t.Fatalf("seed %d: the loser's leave removed the winner on its node", seed)
		}
	}
}

// The same client back through another node (same secret) while its old connection lingers: the new one
// takes the id everywhere and the old one is closed, without ID-TAKEN. If the two connections claim the id at
// the same moment, each node unaware of the other, exactly one keeps it and every node agrees.
func TestRealmTakeoverAcrossNodes(t *testing.T) {
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 9))
		c := &memCluster{}
		n0, n1, n2 := c.add(realmConfig()), c.add(realmConfig()), c.add(realmConfig())
		w, _ := joinRealm(t, n2.hub, "watcher", "w")
		joinRealm(t, n1.hub, "someone", "s") // n1 follows the realm, so it knows X when X comes back there
		_, oldConn := joinRealm(t, n0.hub, "X", "same")
		c.settle(rng)
		now, nowConn := joinRealm(t, n1.hub, "X", "same")
		c.settle(rng)
		if oldConn.closed != protocol.CloseReplaced || oldConn.last != nil || nowConn.closed != 0 {
			t.Fatalf("seed %d: old close %d (last %q), new close %d", seed, oldConn.closed, oldConn.last, nowConn.closed)
		}
		if m := holder(n2, "X"); m == nil || m.node != n1.id { // n0 has no member left: it no longer follows the realm
			t.Fatalf("seed %d: n2 routes X to %v", seed, m)
		}
		w.RelayTo("X", pjFrame("watcher", "X", 3), false)
		c.settle(rng)
		if got := drainAll(now); len(got) != 2 {
			t.Fatalf("seed %d: the new connection got %q", seed, got)
		}
		if st := n0.hub.Stats(); st.Members != 0 {
			t.Fatalf("seed %d: node 0 still counts %d members", seed, st.Members)
		}

		// Both at once: Y on n0 and on n2, one secret.
		y0, y0c := joinRealm(t, n0.hub, "Y", "same")
		y2, y2c := joinRealm(t, n2.hub, "Y", "same")
		c.settle(rng)
		if (y0c.closed == 0) == (y2c.closed == 0) {
			t.Fatalf("seed %d: both or neither kept Y (closes %d, %d)", seed, y0c.closed, y2c.closed)
		}
		winner, winNode := y0, n0.id
		if y0c.closed != 0 {
			winner, winNode = y2, n2.id
		}
		for _, n := range []*memNode{n0, n1, n2} {
			m := holder(n, "Y")
			if m != winner && (m == nil || m.node != winNode) {
				t.Fatalf("seed %d: %s routes Y to %v, the winner is on %s", seed, n.id, m, winNode)
			}
		}
	}
}

// On one node: another secret is refused, the same one replaces, and the replaced member's own leave later
// changes nothing.
func TestRealmJoinRules(t *testing.T) {
	h := New(realmConfig())
	a, ac := joinRealm(t, h, "X", "s")
	if _, err := h.JoinRealm("peerjs", "X", "other", protocol.PeerJSOpenFrame, &realmConn{}); err != ErrIDTaken {
		t.Fatalf("another secret: %v, want ErrIDTaken", err)
	}
	b, _ := joinRealm(t, h, "X", "s")
	if ac.closed != protocol.CloseReplaced {
		t.Fatalf("replaced member: close %d", ac.closed)
	}
	a.Leave()
	if st := h.Stats(); st.Members != 1 || st.Rooms != 1 {
		t.Fatalf("after the replaced member left: %+v", st)
	}
	if got := drainAll(b); len(got) != 1 || string(got[0]) != string(protocol.PeerJSOpenFrame) {
		t.Fatalf("the new member's first frames: %q", got)
	}
	// Realms and rooms never meet, whatever the names.
	if _, err := h.Join("peerjs", "someone", &fakeConn{}); err != nil {
		t.Fatal(err)
	}
	if ids := h.RealmIDs("peerjs"); len(ids) != 1 || ids[0] != "X" {
		t.Fatalf("realm ids %v", ids)
	}
	b.Leave()
	if st := h.Stats(); st.Members != 1 || st.Rooms != 1 {
		t.Fatalf("after the realm emptied: %+v", st)
	}
}

// A sender's parked relays are bounded, dropped when it leaves, and expire with one EXPIRE per absent id.
func TestRealmParking(t *testing.T) {
	cfg := realmConfig()
	cfg.Realm.Park = 50 * time.Millisecond
	h := New(cfg)
	a, _ := joinRealm(t, h, "a", "s")
	drainAll(a)
	for i := range maxParkedPerSender {
		if res, _ := a.RelayTo(fmt.Sprint("absent-", i%2), pjFrame("a", "absent", i), true); res != RelayParked {
			t.Fatalf("relay %d: %v", i, res)
		}
	}
	if res, perr := a.RelayTo("absent-0", pjFrame("a", "absent", -1), true); res != RelayRefused || perr.Code != protocol.CodeWaitingLimit {
		t.Fatalf("over the bound: %v %v", res, perr)
	}
	if res, _ := a.RelayTo("absent-0", nil, false); res != RelayNoTarget {
		t.Fatalf("not parked: %v", res)
	}
	deadline := time.Now().Add(5 * time.Second)
	var got [][]byte
	for len(got) < 2 && time.Now().Before(deadline) {
		got = append(got, drainAll(a)...)
		time.Sleep(10 * time.Millisecond)
	}
	want := map[string]bool{string(protocol.PeerJSExpireFrame("absent-0", "a")): true, string(protocol.PeerJSExpireFrame("absent-1", "a")): true}
	if len(got) != 2 || !want[string(got[0])] || !want[string(got[1])] || string(got[0]) == string(got[1]) {
		t.Fatalf("expired: %q", got)
	}
	r := h.room(realmKey("peerjs"))
	r.mu.Lock()
	n, parked := a.claim.parkedN, len(r.parked)
	r.mu.Unlock()
	if n != 0 || parked != 0 {
		t.Fatalf("after expiry: %d parked by a, %d ids waiting", n, parked)
	}
	// A leaving sender's relays go with it: the id that then connects gets nothing of them.
	b, _ := joinRealm(t, h, "b", "s")
	b.RelayTo("c", pjFrame("b", "c", 1), true)
	b.Leave()
	c, _ := joinRealm(t, h, "c", "s")
	if got := drainAll(c); len(got) != 1 {
		t.Fatalf("c got %q from a sender that left", got)
	}
}

// FuzzRealmCluster runs programs of PeerJS joins (a few ids, a few secrets, on three nodes), leaves, relays
// (parked or not) and deliveries in any order, and checks after everything is delivered: each id is held by at
// most one connected member in the whole cluster, every node that follows the realm routes each id to that
// member, closed members are out of every room, the hubs' member counts match, and every relay a member
// received was sent to it by a member of the realm.
func FuzzRealmCluster(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 1, 9, 2, 0, 1, 3})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 9, 0, 2, 0, 1, 9})
	f.Add([]byte{0, 2, 1, 1, 2, 0, 0, 2, 0, 0, 1, 2, 9, 1, 0, 9})
	f.Fuzz(runRealmProgram)
}

func runRealmProgram(t *testing.T, program []byte) {
	{
		p := &fuzzProgram{b: program}
		var c memCluster
		nodes := []*memNode{c.add(realmConfig()), c.add(realmConfig()), c.add(realmConfig())}
		ids := []string{"a", "b", "c"}
		secrets := []string{"s1", "s2"}
		type peer struct {
			m    *Member
			conn *realmConn
			node *memNode
		}
		var peers []*peer
		rng := rand.New(rand.NewPCG(3, 3))
		for op := 0; p.more() && op < fuzzMaxOps; op++ {
			switch p.byte() % 5 {
			case 0:
				if len(peers) >= 24 {
					break
				}
				n := nodes[int(p.byte())%len(nodes)]
				conn := &realmConn{}
				m, err := n.hub.JoinRealm("peerjs", ids[int(p.byte())%len(ids)], secrets[int(p.byte())%len(secrets)], protocol.PeerJSOpenFrame, conn)
				if err == ErrIDTaken {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				peers = append(peers, &peer{m, conn, n})
			case 1:
				if len(peers) > 0 {
					i := int(p.byte()) % len(peers)
					peers[i].m.Leave()
					peers = slices.Delete(peers, i, i+1)
				}
			case 2:
				if len(peers) > 0 {
					from := peers[int(p.byte())%len(peers)]
					to := ids[int(p.byte())%len(ids)]
					from.m.RelayTo(to, pjFrame(from.m.ID(), to, op), p.byte()%2 == 0)
				}
			case 3:
				c.step(rng)
			default:
				c.settle(rng)
			}
			// A closed member's transport would call Leave: do it as the transport does, at once.
			for i := 0; i < len(peers); {
				if peers[i].conn.closed != 0 {
					peers[i].m.Leave()
					peers = slices.Delete(peers, i, i+1)
					continue
				}
				i++
			}
		}
		c.settle(rng)
		for _, pr := range peers {
			if pr.conn.closed != 0 {
				pr.m.Leave()
			}
		}
		holders := map[string]*peer{}
		count := map[*memNode]int{}
		for _, pr := range peers {
			if pr.conn.closed != 0 {
				continue
			}
			count[pr.node]++
			if o := holders[pr.m.ID()]; o != nil {
				t.Fatalf("id %s held twice: on %s and %s", pr.m.ID(), o.node.id, pr.node.id)
			}
			holders[pr.m.ID()] = pr
			for _, f := range drainAll(pr.m) {
				var msg struct{ Type, Src, Dst string }
				if err := json.Unmarshal(f, &msg); err != nil {
					t.Fatalf("frame %q: %v", f, err)
				}
				if msg.Type == protocol.PeerJSOffer && msg.Dst != pr.m.ID() {
					t.Fatalf("%s got a relay for %s: %s", pr.m.ID(), msg.Dst, f)
				}
			}
		}
		for _, n := range nodes {
			if st := n.hub.Stats(); st.Members != count[n] {
				t.Fatalf("%s counts %d members, %d are connected", n.id, st.Members, count[n])
			}
			r := n.hub.room(realmKey("peerjs"))
			if r == nil {
				continue
			}
			for _, id := range ids {
				r.mu.Lock()
				m := r.members[id]
				r.mu.Unlock()
				h := holders[id]
				switch {
				case h == nil && m != nil:
					t.Fatalf("%s routes %s to a member of %q, but nobody holds it", n.id, id, m.node)
				case h != nil && m == nil:
					t.Fatalf("%s does not know %s, held on %s", n.id, id, h.node.id)
				case h != nil && h.node == n && m != h.m:
					t.Fatalf("%s routes its own %s elsewhere", n.id, id)
				case h != nil && h.node != n && m.node != h.node.id:
					t.Fatalf("%s routes %s to node %q, held on %s", n.id, id, m.node, h.node.id)
				}
			}
		}
	}
}
