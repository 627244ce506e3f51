package hub

import (
	"slices"
	"strings"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// This file is the side of the hub that a Bus drives: members of other nodes, and relays to and from them.
//
// A member of another node is a *Member without a Conn. It is in the room's members, names, order and log
// like a local one, but not in its list, so it costs nothing per event. The room's copy is the only gate for
// remote events: a join of a known id or a leave of an unknown one changes nothing, so a duplicate or stale
// event never reaches a view, and a resync (SetRemote) moves every view from the old membership to the new
// one in exact steps.
//
// Names. Each node numbers names against its own copy of the room, so members joining at the same moment on
// two nodes may claim one name. The rule, the same on every node: the smaller member id keeps the name, and
// the loser's own node renames it. Until then the other nodes do not show the later claim (a new member stays
// hidden, a renamed one keeps its earlier name), so no view ever holds two members with one name.

// maxHeld bounds the relays kept for one hidden member (a namesake on another node, shown within one
// round trip); beyond it they are dropped as a relay to a member that is too slow would be.
const maxHeld = 64

// Apply applies an event of a member of node to the room with key room. The bus calls it in the order the
// node published; events for rooms without local members are ignored.
func (h *Hub) Apply(room, node string, ev Event) {
	r := h.room(room)
	if r == nil {
		return
	}
	r.mu.Lock()
	released := 0
	switch ev.Kind {
	case Joined, Renamed:
		released = r.claim(node, ev.ID, ev.Name)
	case Left:
		if m := r.members[ev.ID]; m != nil && m.node == node {
			r.removeRemote(m)
			if r.realm {
				r.promote(ev.ID)
			}
		} else if r.realm {
			r.dropRival(ev.ID, node)
		}
	}
	r.settleWaiting()
	r.mu.Unlock()
	h.releaseN(r, released)
}

// SetRemote makes node's members in the room exactly members (a resync): members missing from it leave,
// new ones join, names change. Each change is announced as an event would be.
func (h *Hub) SetRemote(room, node string, members []Remote) {
	r := h.room(room)
	if r == nil {
		return
	}
	r.mu.Lock()
	released := r.setRemote(node, members)
	r.mu.Unlock()
	h.releaseN(r, released)
}

// setRemote reports how many local members of a realm it took out (see claim). Called with r.mu held.
func (r *room) setRemote(node string, members []Remote) (released int) {
	keep := make(map[string]bool, len(members))
	for _, rm := range members {
		keep[rm.ID] = true
	}
	var gone []*Member
	for _, m := range r.members {
		if m.node == node && !keep[m.id] {
			gone = append(gone, m)
		}
	}
	slices.SortFunc(gone, func(a, b *Member) int { return strings.Compare(a.id, b.id) }) // same steps everywhere
	if r.realm {
		for id := range r.rivals {
			if !keep[id] {
				r.dropRival(id, node) // deleting the current key while ranging over a map is safe
			}
		}
	}
	for _, m := range gone {
		r.removeRemote(m)
	}
	if r.realm {
		for _, m := range gone {
			r.promote(m.id)
		}
	}
	for _, rm := range members {
		released += r.claim(node, rm.ID, rm.Name)
	}
	r.settleWaiting()
	return released
}

// DropNode removes every member of node from every room: the node is gone or cut off.
func (h *Hub) DropNode(node string) {
	h.mu.Lock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		r.setRemote(node, nil)
		r.mu.Unlock()
	}
}

// Delivery is the result of Deliver.
type Delivery uint8

// Results of Deliver.
const (
	Delivered     Delivery = iota // queued for the target (or dropped with it, as a local relay would be)
	NoTarget                      // no such local member in the room: the sender must get unknown-target
	UnknownSender                 // the sender is no member of that node here: this node missed something
)

// Deliver passes a relay frame from fromID, a member of node fromNode, to local member toID.
func (h *Hub) Deliver(room, fromNode, fromID, toID string, frame []byte) Delivery {
	r := h.room(room)
	if r == nil {
		return NoTarget
	}
	r.mu.Lock()
	t := r.members[toID]
	if t == nil || t.node != "" || t.left {
		r.mu.Unlock()
		return NoTarget
	}
	f := r.members[fromID]
	if f == nil || f.node != fromNode {
		r.mu.Unlock()
		return UnknownSender
	}
	if f.hidden {
		if len(f.remote.held) < maxHeld {
			f.remote.held = append(f.remote.held, heldRelay{to: t, frame: frame})
		}
		r.mu.Unlock()
		return Delivered
	}
	queued := t.enqueue(frame)
	h.delivered(f, t)
	r.mu.Unlock()
	if queued {
		t.wake()
	}
	return Delivered
}

// Bounce tells local member fromID that its relay to toID found no one (the target's node no longer has it,
// or is gone): the unknown-target error it would have had on one node.
func (h *Hub) Bounce(room, fromID, toID string) {
	r := h.room(room)
	if r == nil {
		return
	}
	r.mu.Lock()
	m := r.members[fromID]
	r.mu.Unlock()
	if m != nil && m.node == "" {
		h.obs.Relay(RouteBounced)
		if r.realm {
			m.Send(h.cfg.Realm.Expired(toID, fromID))
		} else {
			m.Send(unknownTarget(toID))
		}
	}
}

// LocalMembers calls fn with this node's members of the room (none if the room is not open here), with the
// room locked: what fn queues is ordered with the room's events (Bus.Publish), so a resync reply is never
// overtaken by an event it already includes, nor includes an event queued after it.
func (h *Hub) LocalMembers(room string, fn func([]Remote)) {
	h.mu.Lock()
	r := h.rooms[room]
	if r == nil {
		defer h.mu.Unlock() // a room opened now publishes its first join after fn
		fn(nil)
		return
	}
	r.mu.Lock()
	h.mu.Unlock()
	defer r.mu.Unlock()
	out := make([]Remote, 0, len(r.list))
	for _, m := range r.list {
		if !m.left && r.realm {
			out = append(out, Remote{ID: m.id, Name: m.realmClaim()})
		} else if !m.left {
			out = append(out, Remote{ID: m.id, Name: m.name})
		}
	}
	fn(out)
}

// claim records that node says its member id is in the room, named name, and shows that as far as names
// allow. In a realm name is the member's secret (claimRealm), and a local member can lose its id: claim
// reports how many did, for the caller to release once the room is unlocked. Called with r.mu held.
func (r *room) claim(node, id, name string) (released int) {
	if r.realm {
		return r.claimRealm(node, id, name)
	}
	name = protocol.CleanName(name) // another node is trusted, but its names are kept as clean as ours
	m := r.members[id]
	if m == nil {
		m = &Member{hub: r.hub, room: r, node: node, id: id, hidden: true, remote: &remoteState{}}
		r.members[id] = m
		r.remotes.Add(1)
	} else if m.node != node {
		return 0 // an id is one node's; a clash of random ids is not worth more than ignoring it
	}
	m.remote.want = name
	if !r.settle(m) {
		r.wait(m)
	}
	return 0
}

// settle shows remote member m under its claimed name, or renames it to that name, unless a shown member
// holds it and wins: a local loser is renamed here. It reports false if m must wait. Called with r.mu held.
func (r *room) settle(m *Member) bool {
	n := m.remote.want
	if !m.hidden && m.name == n {
		r.unwait(m)
		return true
	}
	if o := r.names[n]; n != "" && o != nil && o != m {
		if o.node != "" || o.id < m.id {
			return false
		}
		// A local member lost the name to an earlier claim of a smaller id: it is renamed here and its
		// rename goes to the other nodes, where m then shows.
		r.rename(o, r.uniqueName(n, nil))
	}
	r.unwait(m)
	if m.hidden {
		m.hidden = false
		m.name, m.connected = n, protocol.Connected(m.id, n)
		r.show(m)
		for _, h := range m.remote.held {
			if h.to.enqueue(h.frame) {
				h.to.conn.Wake()
			}
		}
		m.remote.held = nil
		return true
	}
	r.rename(m, n)
	return true
}

// settleWaiting retries the waiting members after a name was freed. Called with r.mu held.
func (r *room) settleWaiting() {
	for progress := true; progress && len(r.waiting) > 0; {
		progress = false
		for _, w := range slices.Clone(r.waiting) { // in id order: the same outcome on every node
			if r.settle(w) {
				progress = true
			}
		}
	}
}

// wait adds m to the waiting members, kept sorted by id. Called with r.mu held.
func (r *room) wait(m *Member) {
	i, found := slices.BinarySearchFunc(r.waiting, m.id, func(w *Member, id string) int { return strings.Compare(w.id, id) })
	if !found {
		r.waiting = slices.Insert(r.waiting, i, m)
	}
}

// unwait removes m from the waiting members. Called with r.mu held.
func (r *room) unwait(m *Member) {
	if i := slices.Index(r.waiting, m); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
	}
}

// removeRemote removes remote member m: a shown one leaves as a local one would, a hidden one is forgotten
// (no view ever had it). Called with r.mu held.
func (r *room) removeRemote(m *Member) {
	r.unwait(m)
	if m.remote != nil {
		m.remote.held = nil
	}
	r.remotes.Add(-1)
	if m.hidden {
		m.left = true
		delete(r.members, m.id)
		return
	}
	r.leaveLocked(m)
}
