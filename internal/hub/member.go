package hub

import (
	"context"
	"log/slog"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// Member is one connection in a room. Its methods are safe for concurrent use, but Drain must be called
// by one writer at a time.
type Member struct {
	hub       *Hub
	room      *room
	conn      Conn
	id        string
	name      string
	connected []byte // this member's {"kind":"connected"} frame, encoded once for every snapshot

	// Guarded by room.mu.
	index     int
	fresh     bool     // snapshot not taken yet
	left      bool     // removed from the room
	dropped   bool     // closed for being too slow; output is discarded
	cur       *chunk   // cursor: the next event is cur.frames[idx] (or the next chunk's first)
	idx       int      //
	consumed  int64    // room.bytes already taken
	private   []queued // direct messages (self-connected, relays, errors), in order
	privBytes int64
}

// queued is a direct message; seq orders it after the room events that happened before it was sent.
type queued struct {
	frame []byte
	seq   uint64
}

// ID returns the member's id.
func (m *Member) ID() string { return m.id }

// Name returns the member's cleaned display name.
func (m *Member) Name() string { return m.name }

// Room returns the member's room name.
func (m *Member) Room() string { return m.room.name }

// Drain appends every frame pending for m to dst, in delivery order, and returns it. The frames are shared
// and must not be modified. An empty result means there is nothing to write until the next Wake.
func (m *Member) Drain(dst [][]byte) [][]byte {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.left || m.dropped {
		return dst
	}
	if m.fresh {
		// self-connected, then everyone present now, then events from now on: an exact view.
		m.fresh = false
		dst = append(dst, m.private[0].frame)
		m.privBytes -= int64(len(m.private[0].frame))
		m.private = m.private[1:]
		for _, o := range r.list {
			if o != m {
				dst = append(dst, o.connected)
			}
		}
		m.cur, m.idx, m.consumed = r.tail, r.tail.n, r.bytes
	}
	for _, q := range m.private {
		dst = m.appendEvents(dst, q.seq)
		dst = append(dst, q.frame)
	}
	if cap(m.private) > 16 {
		m.private = nil
	} else {
		clear(m.private)
		m.private = m.private[:0]
	}
	m.privBytes = 0
	return m.appendEvents(dst, r.seq)
}

// appendEvents moves the cursor up to (not including) event upto, appending the frames passed.
func (m *Member) appendEvents(dst [][]byte, upto uint64) [][]byte {
	for m.cur.seq+uint64(m.idx) < upto {
		if m.idx == chunkSize {
			m.cur, m.idx = m.cur.next, 0
		}
		dst = append(dst, m.cur.frames[m.idx])
		m.consumed = m.cur.end[m.idx]
		m.idx++
	}
	return dst
}

// Handle processes one text message from the member's client: a ping, or a relay to another member.
// Refusals are sent back to the client as error frames.
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
	rel := &req.Relay
	if rel.ToID == m.id {
		m.Send((&protocol.Error{Code: protocol.CodeSelfTarget, Message: "toId is your own id", ToID: rel.ToID}).Frame())
		return
	}
	frame := protocol.AppendRelay(make([]byte, 0, 64+len(rel.Payload)), rel, m.id)
	r := m.room
	r.mu.Lock()
	t := r.members[rel.ToID]
	if t != nil && !m.left {
		t.enqueue(frame)
	}
	r.mu.Unlock()
	if t == nil {
		m.Send((&protocol.Error{Code: protocol.CodeUnknownTarget, Message: "no member with this id in your room", ToID: rel.ToID}).Frame())
		return
	}
	if log := m.hub.log; log.Enabled(context.Background(), slog.LevelDebug) {
		what := rel.Kind
		if what == "" {
			what = rel.PayloadField
		}
		log.Debug("relay", "room", r.name, "member", m.id, "to", rel.ToID, "what", what, "bytes", len(frame))
	}
}

// Send queues a frame for this member only (errors, pongs).
func (m *Member) Send(frame []byte) {
	m.room.mu.Lock()
	m.enqueue(frame)
	m.room.mu.Unlock()
}

// Leave removes the member from its room and tells the others. It is idempotent; the transport calls it
// once the connection has ended, for whatever reason.
func (m *Member) Leave() {
	if m.room.leave(m) {
		m.hub.release(m.room)
		m.hub.log.Info("member left", "room", m.room.name, "member", m.id)
	}
}

// enqueue adds a direct message. Called with room.mu held.
func (m *Member) enqueue(frame []byte) {
	if m.left || m.dropped {
		return
	}
	m.private = append(m.private, queued{frame: frame, seq: m.room.seq})
	m.privBytes += int64(len(frame))
	m.checkQueue()
	m.conn.Wake()
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
