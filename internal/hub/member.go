package hub

import (
	"context"
	"log/slog"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// Member is one connection in a room. Its methods are safe for concurrent use, but Drain must be called
// by one writer at a time.
type Member struct {
	hub  *Hub
	room *room
	conn Conn // nil for a member of another node
	id   string
	node string // the node the member is connected to; "" for this one

	claim *idClaim // for a member of a realm (realm.go); guarded by room.mu

	// Guarded by room.mu.
	name      string   // cleaned and unique in the room (room.names)
	connected []byte   // this member's {"kind":"connected"} frame with its current name, for every snapshot
	renames   *rename  // earlier connected frames, kept while a snapshot in progress may still report them
	index     int      // position in room.list
	leaveSeq  uint64   // seq of this member's disconnected event, once left
	snapSeq   uint64   // room seq when the snapshot began: it reports the members present then
	snapPos   int32    // next index into room.order to report
	snapEnd   int32    // len(room.order) when the snapshot began
	cur       *chunk   // cursor: the next event is cur.frames[idx] (or the next chunk's first)
	idx       int      //
	consumed  int64    // room.bytes already taken
	private   []queued // direct messages (self-connected, relays, errors), in order
	privBytes int64
	lim       memberLimits // Config.Limits state: relays received, unanswered requests (limits.go)

	// The flags share one word: a Member is 256 bytes, one size class below what it was with them apart
	// (at 10,000 idle members that is 640 KB).
	nameFixed bool // the name came from a join token: renames are refused (set in Join, then read-only)
	fresh     bool // snapshot not begun yet; guarded by room.mu, as are the flags below
	snapping  bool // snapshot begun, not yet fully passed to the writer
	left      bool // removed from the room
	dropped   bool // closed for being too slow; output is discarded
	hidden    bool // a member of another node, not shown yet: its name clashes with a shown member's

	remote *remoteState // for a member of another node (remote.go); guarded by room.mu
}

// remoteState is what a member of another node has beyond a local one.
type remoteState struct {
	want string      // the name its node gave it
	held []heldRelay // its relays to local members while hidden, delivered once it is shown
}

// heldRelay is a relay from a hidden remote member, waiting for its sender to be shown.
type heldRelay struct {
	to    *Member
	frame []byte
}

// rename is a member's connected frame from before the rename whose renamed event has sequence number seq:
// the frame a snapshot that began at or before seq reports. prev is the rename before it (lower seq).
type rename struct {
	seq       uint64
	connected []byte
	prev      *rename
}

// connectedAt is m's connected frame as of room seq snapSeq: the name it had when a snapshot began that
// receives every later renamed event. Called with room.mu held.
func (m *Member) connectedAt(snapSeq uint64) []byte {
	f := m.connected
	for h := m.renames; h != nil && h.seq >= snapSeq; h = h.prev {
		f = h.connected
	}
	return f
}

// queued is a direct message; seq orders it after the room events that happened before it was sent.
type queued struct {
	frame []byte
	seq   uint64
}

// ID returns the member's id.
func (m *Member) ID() string { return m.id }

// Name returns the member's display name: cleaned, unique in its room, changed by a rename.
func (m *Member) Name() string {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.name
}

// Room returns the member's room name.
func (m *Member) Room() string { return m.room.name }

// Drain passes the frames pending for m to emit, in delivery order, until emit returns false or nothing is
// left; it reports how many it passed. Every frame passed counts as delivered. Frames are shared and must not
// be modified or kept after emit returns. Called by one writer at a time; the room is locked meanwhile, so
// emit must only copy the frame (no I/O).
//
// Drain pulls frame by frame instead of returning a slice so that a writer holds at most one write buffer of
// output, however far behind its member is: a join storm must not turn into members × pending pointers.
func (m *Member) Drain(emit func(frame []byte) bool) int {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.left || m.dropped {
		return 0
	}
	n := 0
	if m.fresh {
		// self-connected, then the members present now, then events from now on: an exact view. The
		// snapshot is walked in join order a piece at a time; it reports the membership at snapSeq even if
		// members come and go meanwhile, so it costs a few words per newcomer, not a frame per member.
		m.fresh = false
		q := m.popPrivate()
		n++
		emit(q.frame)
		m.snapping, m.snapSeq, m.snapPos, m.snapEnd = true, r.seq, 0, int32(len(r.order))
		r.snaps++
		m.cur, m.idx, m.consumed = r.tail, r.tail.n, r.bytes
	}
	if m.snapping {
		for m.snapPos < m.snapEnd {
			o := r.order[m.snapPos]
			m.snapPos++
			if o == m || o.left && o.leaveSeq < m.snapSeq {
				continue
			}
			n++
			if !emit(o.connectedAt(m.snapSeq)) {
				return n
			}
		}
		m.snapping = false
		r.snapshotDone()
	}
	for len(m.private) > 0 {
		k, more := m.emitEvents(m.private[0].seq, emit)
		if n += k; !more {
			return n
		}
		q := m.popPrivate()
		n++
		if !emit(q.frame) {
			return n
		}
	}
	k, _ := m.emitEvents(r.seq, emit)
	return n + k
}

// popPrivate removes the first direct message. Called with room.mu held.
func (m *Member) popPrivate() queued {
	q := m.private[0]
	m.private[0] = queued{}
	m.private = m.private[1:]
	m.privBytes -= int64(len(q.frame))
	if len(m.private) == 0 {
		m.private = nil // an idle member holds no queue
	}
	return q
}

// emitEvents passes room events up to (not including) upto, moving the cursor; more is false if emit
// asked to stop.
func (m *Member) emitEvents(upto uint64, emit func([]byte) bool) (n int, more bool) {
	for m.cur.seq+uint64(m.idx) < upto {
		if m.idx == chunkSize {
			m.cur, m.idx = m.cur.next, 0
		}
		f := m.cur.frames[m.idx]
		m.consumed = m.cur.end[m.idx]
		m.idx++
		n++
		if !emit(f) {
			return n, false
		}
	}
	return n, true
}

// Handle processes one text message from the member's client: a ping, a rename, or a relay to another
// member. Refusals are sent back to the client as error frames.
func (m *Member) Handle(data []byte) {
	req, perr := protocol.Decode(data)
	if perr != nil {
		m.Send(perr.Frame())
		return
	}
	if req.Ping {
		m.Send(protocol.PongFrame)
		return
	}
	if req.Rename {
		if m.nameFixed {
			m.Send(errNameFixed)
			return
		}
		m.Rename(req.Name)
		return
	}
	rel := &req.Relay
	if rel.ToID == m.id {
		m.Send((&protocol.Error{Code: protocol.CodeSelfTarget, Message: "toId is your own id", ToID: rel.ToID}).Frame())
		return
	}
	frame := protocol.AppendRelay(make([]byte, 0, protocol.RelaySize(rel, m.id)), rel, m.id)
	r := m.room
	r.mu.Lock()
	t := r.members[rel.ToID]
	if t != nil && t.hidden {
		t = nil // not in any view here: unknown, as on one node
	}
	var refusal []byte // a limit of Config.Limits refused the relay (limits.go)
	if t != nil && !m.left {
		refusal = m.checkRelay(t, rel)
	}
	remote := t != nil && t.node != "" && !m.left && refusal == nil
	queued := t != nil && t.node == "" && !m.left && refusal == nil && t.enqueue(frame)
	r.mu.Unlock()
	if queued {
		t.wake()
	}
	if refusal != nil {
		m.Send(refusal) // counted by the Observer as an error with the limit's code, not as a relay
		return
	}
	if t == nil {
		m.hub.obs.Relay(RouteUndeliverable)
		m.Send(unknownTarget(rel.ToID))
		return
	}
	if remote {
		m.hub.obs.Relay(RouteCluster)
		r.bus.Relay(t.node, r.key, m.id, t.id, frame)
	} else {
		m.hub.obs.Relay(RouteLocal)
	}
	if log := m.hub.log; log.Enabled(context.Background(), slog.LevelDebug) {
		what := rel.Kind
		if what == "" {
			what = rel.PayloadField
		}
		log.Debug("relay", "room", r.name, "member", m.id, "to", rel.ToID, "what", what, "bytes", len(frame))
	}
}

var errNameFixed = (&protocol.Error{Code: protocol.CodeNameFixed, Message: "your name comes from your join token"}).Frame()

// Rename changes the member's name without leaving: the name is cleaned and made unique in the room as at
// join, and everyone in the room, the member included, gets {"kind":"renamed"} in order with the room's
// other events. Snapshots begun later report the new name. A rename to the current name does nothing.
func (m *Member) Rename(name string) {
	name = protocol.CleanName(name)
	r := m.room
	r.mu.Lock()
	old := m.name
	final := r.uniqueName(name, m)
	if m.left || m.dropped || final == old {
		r.mu.Unlock()
		return
	}
	r.rename(m, final)
	r.settleWaiting() // the old name may be what a member of another node waits for
	r.mu.Unlock()
	m.hub.log.Info("member renamed", "room", r.name, "member", m.id, "from", old, "name", final)
}

// rename gives shown member m, local or remote, the name final (unique in the room) and announces it. The
// caller then settles the waiting members (settleWaiting), outside any settle. Called with r.mu held.
func (r *room) rename(m *Member, final string) {
	old := m.name
	if old != "" && r.names[old] == m {
		delete(r.names, old)
	}
	if final != "" {
		r.names[final] = m
	}
	if r.snaps > 0 {
		// A snapshot in progress reports the members as of its start and gets this rename as an event after
		// it: should it reach m only now, it must still report the old name.
		r.keepRename(m)
	}
	m.name, m.connected = final, protocol.Connected(m.id, final)
	frame := protocol.Renamed(m.id, final)
	r.publish(frame)
	if m.fresh {
		// m's snapshot and cursor begin after this event, and its self-connected has the old name.
		m.enqueue(frame)
	}
	if r.bus != nil && m.node == "" {
		r.bus.Publish(r.key, Event{Kind: Renamed, ID: m.id, Name: final})
	}
}

// unknownTarget is the error for a relay to no member of the room.
func unknownTarget(toID string) []byte {
	return (&protocol.Error{Code: protocol.CodeUnknownTarget, Message: "no member with this id in your room", ToID: toID}).Frame()
}

// Send queues a frame for this member only (errors, pongs).
func (m *Member) Send(frame []byte) {
	m.hub.observeSent(frame)
	m.room.mu.Lock()
	queued := m.enqueue(frame)
	m.room.mu.Unlock()
	if queued {
		m.wake()
	}
}

// Leave removes the member from its room and tells the others. It is idempotent; the transport calls it
// once the connection has ended, for whatever reason.
func (m *Member) Leave() {
	if m.room.leave(m) {
		m.hub.release(m.room)
		m.hub.log.Info("member left", "room", m.room.name, "member", m.id)
	}
}

// enqueue adds a direct message and reports whether it was queued; the caller wakes the member after
// unlocking. Called with room.mu held.
func (m *Member) enqueue(frame []byte) bool {
	if m.left || m.dropped {
		return false
	}
	m.private = append(m.private, queued{frame: frame, seq: m.room.seq})
	m.privBytes += int64(len(frame))
	m.checkQueue()
	return !m.dropped
}

// wake tells the transport about a direct message just queued. Called without room.mu held.
func (m *Member) wake() {
	if f, ok := m.conn.(Flusher); ok {
		f.Flush()
	} else {
		m.conn.Wake()
	}
}

// pending is the number of bytes waiting for this member. Called with room.mu held.
func (m *Member) pending() int64 {
	if m.fresh {
		return m.privBytes
	}
	return m.room.bytes - m.consumed + m.privBytes
}

// checkQueue drops the member if its backlog is over the limit, freeing what it held at once.
// Called with room.mu held.
func (m *Member) checkQueue() {
	if m.dropped || m.left || m.pending() <= m.hub.cfg.MaxQueue {
		return
	}
	m.dropped = true
	m.discard()
	m.hub.log.Info("member too slow", "room", m.room.name, "member", m.id, "limit", m.hub.cfg.MaxQueue)
	m.conn.Close(protocol.CloseSlow, "too slow: outgoing queue over limit")
}

// discard releases the member's queue and cursor. Called with room.mu held.
func (m *Member) discard() {
	m.private, m.privBytes = nil, 0
	m.cur = nil
}
