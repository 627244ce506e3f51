package hub

import (
	"sync"

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

// room is one isolated lobby. All fields but name and refs are guarded by mu.
type room struct {
	name string
	refs int // members joined or joining; guarded by Hub.mu

	mu      sync.Mutex
	members map[string]*Member
	list    []*Member // the same members, for iteration; Member.index is the position
	order   []*Member // members in join order, with departed ones kept while a snapshot may need them
	tombs   int       // departed members still in order
	compact int       // compact order once tombs reaches this
	snaps   int       // members with a snapshot in progress
	tail    *chunk
	seq     uint64 // sequence number of the next event
	bytes   int64  // cumulative bytes of all events so far
	check   int    // next member for the round-robin queue check
}

func newRoom(name string) *room {
	return &room{name: name, members: make(map[string]*Member), tail: &chunk{}}
}

// join adds m and announces it. m is fresh: it takes its snapshot and cursor when its writer first drains.
func (r *room) join(m *Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.index = len(r.list)
	r.list = append(r.list, m)
	r.order = append(r.order, m)
	r.members[m.id] = m
	r.publish(m.connected)
}

// leave removes m and announces its departure; it reports false if m had already left.
func (r *room) leave(m *Member) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.left {
		return false
	}
	m.left = true
	if m.snapping {
		m.snapping = false
		r.snaps--
	}
	m.leaveSeq = r.seq // the seq of the disconnected event published below
	m.discard()
	last := r.list[len(r.list)-1]
	r.list[m.index] = last
	last.index = m.index
	r.list[len(r.list)-1] = nil
	r.list = r.list[:len(r.list)-1]
	delete(r.members, m.id)
	r.publish(protocol.Disconnected(m.id))
	r.tombs++
	r.maybeCompact()
	return true
}

// maybeCompact drops departed members from order once they are many and no snapshot in progress still
// has to report them. Thresholds grow geometrically, so the O(len(order)) pass is O(1) per departure.
func (r *room) maybeCompact() {
	if r.tombs < max(r.compact, 64) || 2*r.tombs < len(r.order) {
		return
	}
	// A departed member is still owed to a snapshot begun before its departure.
	minSnap := r.seq
	for _, m := range r.list {
		if m.snapping && m.snapSeq < minSnap {
			minSnap = m.snapSeq
		}
	}
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
			m.snapPos, m.snapEnd = int(newPos[m.snapPos]), int(newPos[m.snapEnd])
		}
	}
	r.order, r.tombs = kept, tombs
	// Kept tombstones wait for the snapshots that owe them; pass again after as many new departures, or
	// as soon as no snapshot is in progress (see snapshotDone).
	r.compact = tombs + max(64, len(kept)/2)
}

// snapshotDone is called when a member's snapshot has been fully passed to its writer.
func (r *room) snapshotDone() {
	if r.snaps--; r.snaps == 0 && r.tombs > 0 {
		r.compact = 0 // nothing owed any more: the next check may free every tombstone
		r.maybeCompact()
	}
}

// publish appends an event for every member and wakes their writers. Called with r.mu held.
func (r *room) publish(frame []byte) {
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
