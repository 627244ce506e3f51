package hub

import (
	"encoding/json"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// chunkSize is the number of frames per log chunk. Chunks are linked, so the log needs no trimming: a chunk
// is garbage once no member's cursor points at or before it.
const chunkSize = 256

// chunk is one piece of a room's event log.
type chunk struct {
	seq    uint64 // sequence number of frames[0]
	n      int
	frames [chunkSize][]byte
	end    [chunkSize]int64 // the room's cumulative log bytes after each frame, for queue accounting
	next   *chunk
}

// room is one isolated lobby. All fields but name, key, network and refs are guarded by mu.
type room struct {
	hub     *Hub
	bus     Bus           // nil on a single node
	ready   chan struct{} // closed once the bus has loaded the remote members; nil without a bus
	remotes atomic.Int32  // members of other nodes, shown or not, for MaxRoomMembers
	name    string
	key     string // in Hub.rooms: the name, or "@" + name for a same-network group
	network bool   // a same-network group (Hub.JoinNetwork), kept apart from the named room of the same name
	realm   bool   // a PeerJS realm (realm.go): ids chosen by members, no presence events
	refs    int    // members joined or joining; guarded by Hub.mu
	joins   bucket // Limits.JoinRate; guarded by Hub.mu

	mu      sync.Mutex
	members map[string]*Member
	names   map[string]*Member // members by name, so names are unique; nameless members are not in it
	list    []*Member          // the same members, for iteration; Member.index is the position
	order   []*Member          // members in join order, with departed ones kept while a snapshot may need them
	tombs   int                // departed members still in order
	compact int                // compact order once tombs reaches this
	snaps   int                // members with a snapshot in progress
	tail    *chunk
	seq     uint64    // sequence number of the next event
	bytes   int64     // cumulative bytes of all events so far
	check   int       // next member for the round-robin queue check
	renamed []*Member // members with earlier names kept (Member.renames) for snapshots in progress
	kept    int       // renames kept in all
	pruneAt int       // prune kept renames once kept reaches this
	waiting []*Member // remote members whose claimed name clashes: hidden, or shown under an older name

	parked    map[string][]parkedRelay // a realm's relays waiting for ids that are not connected, by id
	rivals    map[string][]*Member     // a realm's claims of other nodes that lost to the holder of their id, by id
	parkTimer *time.Timer              // runs expireParked while relays are parked
}

func newRoom(h *Hub, name, key string, network bool) *room {
	return &room{hub: h, bus: h.cfg.Bus, name: name, key: key, network: network,
		members: make(map[string]*Member), names: make(map[string]*Member), tail: &chunk{}}
}

// join adds m and announces it. m is fresh: it takes its snapshot and cursor when its writer first drains.
// A name already taken in the room is numbered, and m's frames, encoded by Join with the name asked for, are
// encoded again with the new one (ice is for its self-connected). It returns m's final name.
func (r *room) join(m *Member, ice json.RawMessage) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name := r.uniqueName(m.name, nil); name != m.name {
		m.name, m.connected = name, protocol.Connected(m.id, name)
		self := protocol.SelfConnected(m.id, name, r.name, r.network, ice)
		m.privBytes += int64(len(self) - len(m.private[0].frame))
		m.private[0].frame = self
	}
	m.index = len(r.list)
	r.list = append(r.list, m)
	r.show(m)
	if r.bus != nil {
		r.bus.Publish(r.key, Event{Kind: Joined, ID: m.id, Name: m.name})
	}
	return m.name
}

// show adds m, local or remote, to what the room's views hold and announces it. Called with r.mu held.
func (r *room) show(m *Member) {
	if m.name != "" {
		r.names[m.name] = m
	}
	r.order = append(r.order, m)
	r.members[m.id] = m
	r.publish(m.connected)
}

// leave removes m and announces its departure; it reports false if m had already left. m is a local
// member or a shown remote one.
func (r *room) leave(m *Member) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.leaveLocked(m) {
		return false
	}
	if r.realm {
		r.promote(m.id) // a claim of another node that lost to m now holds the id
	}
	return true
}

func (r *room) leaveLocked(m *Member) bool {
	if m.left {
		return false
	}
	m.left = true
	if m.snapping {
		m.snapping = false
		if r.snaps--; r.snaps == 0 {
			r.dropRenames()
		}
	}
	if m.name != "" {
		delete(r.names, m.name)
	}
	m.leaveSeq = r.seq // the seq of the disconnected event published below
	if m.node == "" {
		m.discard()
		last := r.list[len(r.list)-1]
		r.list[m.index] = last
		last.index = m.index
		r.list[len(r.list)-1] = nil
		r.list = r.list[:len(r.list)-1]
	}
	delete(r.members, m.id)
	m.forgetRequests()
	if r.realm {
		r.dropParked(m)
	}
	r.publish(protocol.Disconnected(m.id))
	if r.bus != nil && m.node == "" {
		r.bus.Publish(r.key, Event{Kind: Left, ID: m.id})
	}
	r.tombs++
	r.maybeCompact()
	r.settleWaiting()
	return true
}

// maybeCompact drops departed members from order once they are many and no snapshot in progress still
// has to report them. Thresholds grow geometrically, so the O(len(order)) pass is O(1) per departure.
func (r *room) maybeCompact() {
	if r.tombs < max(r.compact, 64) || 2*r.tombs < len(r.order) {
		return
	}
	// A departed member is still owed to a snapshot begun before its departure.
	minSnap := r.minSnapSeq()
	newPos := make([]int32, len(r.order)+1) // old index → new index of the first kept member at or after it
	kept := r.order[:0]
	tombs := 0
	for i, o := range r.order {
		newPos[i] = int32(len(kept))
		if !o.left || o.leaveSeq >= minSnap {
			kept = append(kept, o)
			if o.left {
				tombs++
			}
		}
	}
	newPos[len(r.order)] = int32(len(kept))
	clear(r.order[len(kept):])
	for _, m := range r.list {
		if m.snapping {
			m.snapPos, m.snapEnd = newPos[m.snapPos], newPos[m.snapEnd]
		}
	}
	r.order, r.tombs = kept, tombs
	// Kept tombstones wait for the snapshots that owe them; pass again after as many new departures, or
	// as soon as no snapshot is in progress (see snapshotDone).
	r.compact = tombs + max(64, len(kept)/2)
}

// snapshotDone is called when a member's snapshot has been fully passed to its writer.
func (r *room) snapshotDone() {
	if r.snaps--; r.snaps == 0 {
		r.dropRenames()
		if r.tombs > 0 {
			r.compact = 0 // nothing owed any more: the next check may free every tombstone
			r.maybeCompact()
		}
	}
}

// minSnapSeq is the earliest start of a snapshot in progress (r.seq if none): departures and renames before
// it are owed to no snapshot. O(members): callers run it once per O(members) departures or renames.
func (r *room) minSnapSeq() uint64 {
	minSnap := r.seq
	for _, m := range r.list {
		if m.snapping && m.snapSeq < minSnap {
			minSnap = m.snapSeq
		}
	}
	return minSnap
}

// uniqueName returns name, or if another member than self has it, the first free of "name (2)" …
// "name (33)", then random numbers of three digits, four, and so on: a room full of one name costs a
// newcomer a bounded number of lookups, not one per namesake. The empty name is never numbered.
func (r *room) uniqueName(name string, self *Member) string {
	free := func(n string) bool {
		if o, taken := r.names[n]; taken && o != self {
			return false
		}
		for _, w := range r.waiting { // claimed by a member of another node: see remote.go
			if w.remote.want == n && w != self {
				return false
			}
		}
		return true
	}
	if name == "" || free(name) {
		return name
	}
	for n := 2; n <= 33; n++ {
		if c := protocol.NumberedName(name, n); free(c) {
			return c
		}
	}
	for lo := 100; ; {
		for range 4 {
			if c := protocol.NumberedName(name, lo+rand.IntN(9*lo)); free(c) {
				return c
			}
		}
		if lo < 1e8 {
			lo *= 10
		}
	}
}

// keepRename keeps m's current connected frame, about to be replaced by a rename whose event gets seq r.seq,
// for the snapshots in progress (Member.connectedAt). Kept frames are dropped as soon as no snapshot is in
// progress, or pruned once they are many, with thresholds that make the O(members) pass O(1) per rename.
func (r *room) keepRename(m *Member) {
	if m.renames == nil {
		r.renamed = append(r.renamed, m)
	}
	m.renames = &rename{seq: r.seq, connected: m.connected, prev: m.renames}
	if r.kept++; r.kept < max(r.pruneAt, 64) {
		return
	}
	minSnap := r.minSnapSeq()
	keep := r.renamed[:0]
	r.kept = 0
	for _, o := range r.renamed {
		// A frame from before minSnap is owed to no snapshot: cut the chain there.
		link := &o.renames
		for *link != nil && (*link).seq >= minSnap {
			link = &(*link).prev
			r.kept++
		}
		*link = nil
		if o.renames != nil {
			keep = append(keep, o)
		}
	}
	clear(r.renamed[len(keep):])
	r.renamed = keep
	r.pruneAt = r.kept + max(64, len(r.list)/2)
}

// dropRenames forgets every kept frame: no snapshot is in progress, and later ones report current names.
func (r *room) dropRenames() {
	for _, m := range r.renamed {
		m.renames = nil
	}
	r.renamed, r.kept, r.pruneAt = nil, 0, 0
}

// publish appends an event for every member and wakes their writers. Called with r.mu held.
func (r *room) publish(frame []byte) {
	if r.realm {
		return // nobody in a realm is told who comes and goes
	}
	t := r.tail
	if t.n == chunkSize {
		t.next = &chunk{seq: r.seq}
		t = t.next
		r.tail = t
	}
	r.bytes += int64(len(frame))
	t.frames[t.n] = frame
	t.end[t.n] = r.bytes
	t.n++
	r.seq++
	for _, m := range r.list {
		m.conn.Wake()
	}
	// Check two queues per event: every member is looked at within len(list)/2 events, so one that stopped
	// reading is found while its backlog is still near MaxQueue, at O(1) cost per event.
	for i := 0; i < 2 && len(r.list) > 0; i++ {
		if r.check >= len(r.list) {
			r.check = 0
		}
		r.list[r.check].checkQueue()
		r.check++
	}
}
