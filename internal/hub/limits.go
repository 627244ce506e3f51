package hub

import (
	"math"
	"time"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// Limits bound what members can cost each other, beyond the transport's per-connection limits. Each is
// counted on one node: in a cluster every node counts its own joins and its own members' relays
// (docs/cluster.md). A zero field turns its limit off; cmd/p2plobby turns each on with the Default values.
type Limits struct {
	// JoinRate and JoinBurst are each room's token bucket for joins (per second, and how many at once). Every
	// join costs a broadcast to every member, so a crowd reconnecting at once, or a client joining in a loop,
	// costs a big room a bounded amount. A join over it is refused with ErrRoomBusy (the transport closes with
	// protocol.CloseBusy, and clients retry after a pause). Burst 0 with a rate: one second's worth.
	JoinRate  float64
	JoinBurst int
	// RecvRate and RecvBurst are each member's token bucket for the relays it receives from all senders
	// together. A relay over it is dropped and its sender gets protocol.CodeTargetBusy; the target is never
	// closed for it. It keeps a crowd of senders, each within its own message rate, from burying one member.
	RecvRate  float64
	RecvBurst int
	// MaxPendingRequests caps the unanswered {"kind":"request"} relays to one member, counted once per sender.
	// A request is answered when its target sends its sender anything, withdrawn when the sender sends the
	// target decline or hangup, and forgotten when either leaves. A request over the cap is dropped and its
	// sender gets protocol.CodeRequestLimit.
	MaxPendingRequests int

	now func() int64 // monotonic nanoseconds; tests replace it
}

// Defaults used by cmd/p2plobby. They let a group of a few hundred people arrive at once, each connecting to
// everyone (docs/protocol.md, "Limits").
const (
	DefaultJoinRate           = 100  // joins per second into one room
	DefaultJoinBurst          = 1000 // joins at once into one room
	DefaultRecvRate           = 500  // relays per second to one member, from all senders
	DefaultRecvBurst          = 5000 // relays at once to one member
	DefaultMaxPendingRequests = 256  // unanswered requests to one member
)

// Errors of the limits; *protocol.Error like Join's.
var (
	ErrRoomBusy = &protocol.Error{Code: protocol.CodeRoomBusy,
		Message: "too many people are joining this room right now; try again in a moment"}
)

var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// set fills in the bursts and the clock, and reports whether any relay limit is on.
func (l *Limits) set() bool {
	if l.JoinRate > 0 && l.JoinBurst <= 0 {
		l.JoinBurst = int(math.Ceil(l.JoinRate))
	}
	if l.RecvRate > 0 && l.RecvBurst <= 0 {
		l.RecvBurst = int(math.Ceil(l.RecvRate))
	}
	if l.now == nil {
		l.now = monotonic
	}
	return l.RecvRate > 0 || l.MaxPendingRequests > 0
}

// bucket is a token bucket. Its zero value is full: the first take fills it to the burst.
type bucket struct {
	tokens float64
	last   int64 // Limits.now of the last take; 0: never taken
}

// take takes a token if there is one, refilling at rate per second up to burst.
func (b *bucket) take(now int64, rate float64, burst int) bool {
	if b.last == 0 {
		b.tokens = float64(burst)
	} else if now > b.last {
		b.tokens = min(float64(burst), b.tokens+float64(now-b.last)*rate/1e9)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// memberLimits is a member's state for Limits. Guarded by room.mu.
type memberLimits struct {
	recv    bucket
	reqFrom map[*Member]struct{} // senders of unanswered requests to this member (on this node)
	reqTo   map[*Member]struct{} // members this one has unanswered requests to: reqFrom's other side
}

// allowJoin takes a join token from r. Called with h.mu held (r.joins is guarded by it).
func (h *Hub) allowJoin(r *room) bool {
	l := &h.cfg.Limits
	return l.JoinRate <= 0 || r.joins.take(l.now(), l.JoinRate, l.JoinBurst)
}

// checkRelay applies the relay limits to a relay from m to t (local or remote; both shown and in the room).
// It returns the error frame for m if the relay must be dropped; otherwise the relay counts as delivered and
// the consent requests between the two are updated. Called with room.mu held.
func (m *Member) checkRelay(t *Member, rel *protocol.Relay) []byte {
	h := m.hub
	if !h.relayLimits {
		return nil
	}
	l := &h.cfg.Limits
	pending := l.MaxPendingRequests > 0
	newRequest := false
	if pending && rel.Kind == protocol.KindRequest {
		if _, ok := t.lim.reqFrom[m]; !ok { // a repeated request counts once
			if len(t.lim.reqFrom) >= l.MaxPendingRequests {
				return (&protocol.Error{Code: protocol.CodeRequestLimit, ToID: t.id,
					Message: "this member has too many unanswered requests; try again later"}).Frame()
			}
			newRequest = true
		}
	}
	if l.RecvRate > 0 && !t.lim.recv.take(l.now(), l.RecvRate, l.RecvBurst) {
		return (&protocol.Error{Code: protocol.CodeTargetBusy, ToID: t.id,
			Message: "this member is receiving too many messages; yours was dropped, try again in a moment"}).Frame()
	}
	if !pending {
		return nil
	}
	switch {
	case newRequest:
		addRequest(m, t)
	case rel.Kind == protocol.KindDecline || rel.Kind == protocol.KindHangup:
		answered(t, m) // m withdraws its request
	}
	answered(m, t)
	return nil
}

// delivered updates the consent requests for a relay from remote member f to local member t. Called with
// room.mu held.
func (h *Hub) delivered(f, t *Member) {
	if h.relayLimits {
		answered(f, t)
	}
}

func addRequest(from, to *Member) {
	if to.lim.reqFrom == nil {
		to.lim.reqFrom = make(map[*Member]struct{})
	}
	if from.lim.reqTo == nil {
		from.lim.reqTo = make(map[*Member]struct{})
	}
	to.lim.reqFrom[from] = struct{}{}
	from.lim.reqTo[to] = struct{}{}
}

// answered forgets a request from from to target, if there is one: target has sent from something.
func answered(target, from *Member) {
	if len(target.lim.reqFrom) == 0 {
		return
	}
	if _, ok := target.lim.reqFrom[from]; ok {
		delete(target.lim.reqFrom, from)
		delete(from.lim.reqTo, target)
	}
}

// forgetRequests drops every request to and from m, which is leaving. Called with room.mu held.
func (m *Member) forgetRequests() {
	for t := range m.lim.reqTo {
		delete(t.lim.reqFrom, m)
	}
	for f := range m.lim.reqFrom {
		delete(f.lim.reqTo, m)
	}
	m.lim.reqTo, m.lim.reqFrom = nil, nil
}
