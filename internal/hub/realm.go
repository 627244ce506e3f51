package hub

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// This file is the hub's side of PeerJS (docs/peerjs.md). A realm is a room of another kind: its members
// choose their own ids (unique in the realm, held with a secret: PeerServer's token), see no presence
// events, and are reached by id. A relay to an id nobody holds waits ("parks") for it to connect, and its
// sender is told when it expires. Everything else is the room's: the member list, queues, limits, and the
// cluster, where a realm is kept whole on each node like a room, its joins and leaves travel as room events
// (Event.Name carries the secret), and its relays as relays.

// RealmConfig tunes realms (PeerJS keys). Zero fields take the documented defaults.
type RealmConfig struct {
	// MaxMembers caps each realm, counted over all nodes (PeerServer's concurrent_limit); 0: no cap.
	MaxMembers int
	// Park is how long a relay to an id that is not connected waits for it (PeerServer's expire_timeout);
	// 0: 5 s.
	Park time.Duration
	// Expired encodes the message telling a sender that to did not connect in time (PeerJS EXPIRE). The hub
	// also sends it when the cluster bounces a relay: the target left meanwhile.
	Expired func(to, sender string) []byte
	// Taken is the message a member gets before it is closed for losing its id to a member of another node
	// that claimed it at the same moment with another secret (PeerJS ID-TAKEN).
	Taken []byte
}

// Bounds on what waits for ids that are not connected. PeerServer bounds nothing: one client could park
// messages to random ids at its full message rate.
const (
	maxParkedPerSender      = 256
	maxParkedBytesPerSender = 256 << 10
)

// Errors of JoinRealm.
var (
	ErrIDTaken = &protocol.Error{Code: "id-taken", Message: "ID is taken"}
	// ErrRealmFull is PeerServer's concurrent_limit.
	ErrRealmFull = &protocol.Error{Code: protocol.CodeRoomFull, Message: protocol.PeerJSMsgLimit}
)

// FinalCloser is implemented by Conns that can send one last frame before their close frame, after the hub
// has already let the member go (a PeerJS member that lost its id in a clash gets ID-TAKEN).
type FinalCloser interface {
	CloseWith(frame []byte, code int, reason string)
}

// realmKey is a realm's key in Hub.rooms: '~' cannot start a room name (protocol.ValidRoom) or a network
// group ('@'), so realms never meet rooms.
func realmKey(realm string) string { return "~" + realm }

// idClaim is a realm member's hold on its id, and what it has parked. Members of rooms have none, so they
// do not pay for it.
type idClaim struct {
	secret      string // what proves the id is this client's (a hash of its PeerJS token)
	gen         uint64 // one more than the claim to the id it took over, if any (claimRealm)
	parkedN     int    // relays this member has waiting for ids that are not connected
	parkedBytes int
}

// parkedRelay is a relay waiting for its target to connect.
type parkedRelay struct {
	from  *Member
	frame []byte
	at    int64 // Limits.now when parked
}

// JoinRealm adds a member with id, held with secret, to realm. If a connected member holds id with the
// same secret (the same client, reconnected), that member is closed with protocol.CloseReplaced and the new
// one takes its place; with another secret the join fails with ErrIDTaken. first is the member's first
// frame (PeerJS OPEN); relays parked for id follow it.
func (h *Hub) JoinRealm(realm, id, secret string, first []byte, conn Conn) (*Member, error) {
	key := realmKey(realm)
	r, err := h.enter(realm, key, false, true)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	var replaced *Member
	var gen uint64
	if o := r.members[id]; o != nil {
		gen = o.claim.gen + 1 // a takeover: newer than the claim it replaces, on every node (claimRealm)
		if o.claim.secret != secret {
			r.mu.Unlock()
			h.release(r)
			return nil, ErrIDTaken
		}
		if o.node == "" {
			replaced = o
			r.leaveLocked(o)
			o.conn.Close(protocol.CloseReplaced, "replaced by a new connection with the same id and token")
		} else {
			// The same client, back through this node while its old connection lingers on another: that
			// node drops it when it hears of this join, whose higher generation wins (claimRealm).
			r.removeRemote(o)
		}
	}
	if max := h.cfg.Realm.MaxMembers; max > 0 && len(r.members) >= max {
		r.mu.Unlock()
		h.release(r)
		if replaced != nil {
			h.release(r)
		}
		return nil, ErrRealmFull
	}
	m := &Member{hub: h, room: r, conn: conn, id: id, claim: &idClaim{secret: secret, gen: gen}}
	m.cur, m.idx, m.consumed = r.tail, r.tail.n, r.bytes // a realm has no events: the cursor stays put
	m.private, m.privBytes = append(m.private, queued{frame: first}), int64(len(first))
	m.index = len(r.list)
	r.list = append(r.list, m)
	r.members[id] = m
	if r.bus != nil {
		r.bus.Publish(key, Event{Kind: Joined, ID: id, Name: m.realmClaim()})
	}
	r.unpark(m)
	r.mu.Unlock()
	if replaced != nil {
		h.release(r)
		h.log.Info("peer replaced", "realm", realm, "member", id)
	}
	h.log.Info("peer joined", "realm", realm, "member", id)
	return m, nil
}

// RelayResult is what became of a relay sent with Member.RelayTo.
type RelayResult uint8

// Results of RelayTo.
const (
	RelaySent     RelayResult = iota // queued for the target, or handed to the cluster for it
	RelayParked                      // the target is not connected: the relay waits for it
	RelayNoTarget                    // the target is not connected and the relay was not to wait
	RelayRefused                     // dropped by a limit: send the sender the error returned with it
	RelayFromGone                    // the sender has left: nothing was done
)

// RelayTo sends frame, already encoded with the sender stamped, from realm member m to the member with id
// to. If no one holds to and park is set, the relay waits up to RealmConfig.Park for it to connect, and m
// gets RealmConfig.Expired if it does not. A relay refused by a limit comes back with the error to tell m
// (sent with Refuse, in the encoding of m's protocol).
func (m *Member) RelayTo(to string, frame []byte, park bool) (RelayResult, *protocol.Error) {
	r := m.room
	r.mu.Lock()
	if m.left {
		r.mu.Unlock()
		return RelayFromGone, nil
	}
	t := r.members[to]
	if t == nil {
		if !park {
			r.mu.Unlock()
			m.hub.obs.Relay(RouteUndeliverable)
			return RelayNoTarget, nil
		}
		perr := r.park(m, to, frame)
		r.mu.Unlock()
		if perr != nil {
			return RelayRefused, perr
		}
		return RelayParked, nil
	}
	if l := &m.hub.cfg.Limits; l.RecvRate > 0 && !t.lim.recv.take(l.now(), l.RecvRate, l.RecvBurst) {
		r.mu.Unlock()
		return RelayRefused, &protocol.Error{Code: protocol.CodeTargetBusy, ToID: to,
			Message: "this peer is receiving too many messages; yours was dropped, try again in a moment"}
	}
	if t.node != "" {
		r.mu.Unlock()
		m.hub.obs.Relay(RouteCluster)
		r.bus.Relay(t.node, r.key, m.id, t.id, frame)
		return RelaySent, nil
	}
	queued := t.enqueue(frame)
	r.mu.Unlock()
	m.hub.obs.Relay(RouteLocal)
	if queued {
		t.wake()
	}
	return RelaySent, nil
}

// Refuse sends m a refusal it encoded itself (a PeerJS notice), counted as an error with code.
func (m *Member) Refuse(code string, frame []byte) {
	m.hub.obs.Error(code)
	m.Send(frame)
}

// park keeps a relay from m for id, which is not connected; it returns the error for m if a bound drops it
// instead. Called with r.mu held.
func (r *room) park(m *Member, id string, frame []byte) *protocol.Error {
	if m.claim.parkedN >= maxParkedPerSender || m.claim.parkedBytes+len(frame) > maxParkedBytesPerSender {
		return &protocol.Error{Code: protocol.CodeWaitingLimit, ToID: id,
			Message: "too many of your messages are waiting for peers that are not connected; this one was dropped"}
	}
	if r.parked == nil {
		r.parked = make(map[string][]parkedRelay)
	}
	r.parked[id] = append(r.parked[id], parkedRelay{from: m, frame: frame, at: r.hub.cfg.Limits.now()})
	m.claim.parkedN++
	m.claim.parkedBytes += len(frame)
	if r.parkTimer == nil {
		r.parkTimer = time.AfterFunc(r.hub.parkTimeout(), r.expireParked)
	}
	return nil
}

func (h *Hub) parkTimeout() time.Duration {
	if h.cfg.Realm.Park > 0 {
		return h.cfg.Realm.Park
	}
	return 5 * time.Second
}

// unpark hands t, which just connected (here or on another node), the relays waiting for its id, in the
// order they were sent. Called with r.mu held.
func (r *room) unpark(t *Member) {
	waiting := r.parked[t.id]
	if waiting == nil {
		return
	}
	delete(r.parked, t.id)
	for _, p := range waiting {
		p.from.claim.parkedN--
		p.from.claim.parkedBytes -= len(p.frame)
		if p.from.left {
			continue
		}
		if t.node != "" {
			r.bus.Relay(t.node, r.key, p.from.id, t.id, p.frame)
		} else {
			t.enqueue(p.frame) // t is joining: its writer starts once JoinRealm returns
		}
	}
}

// expireParked drops the relays that waited the full timeout and tells each sender once per id it sent to,
// as PeerServer does; it runs again for the next deadline while relays still wait.
func (r *room) expireParked() {
	h := r.hub
	timeout := int64(h.parkTimeout())
	now := h.cfg.Limits.now()
	type pair struct {
		from *Member
		to   string
	}
	var notify []pair
	r.mu.Lock()
	next := int64(-1)
	for id, waiting := range r.parked {
		if waiting[0].at+timeout > now {
			if d := waiting[0].at + timeout - now; next < 0 || d < next {
				next = d
			}
			continue
		}
		delete(r.parked, id)
		seen := make(map[*Member]bool, 1)
		for _, p := range waiting {
			p.from.claim.parkedN--
			p.from.claim.parkedBytes -= len(p.frame)
			if !p.from.left && !seen[p.from] {
				seen[p.from] = true
				notify = append(notify, pair{p.from, id})
			}
		}
	}
	if next >= 0 {
		r.parkTimer = time.AfterFunc(time.Duration(next), r.expireParked)
	} else {
		r.parkTimer = nil
	}
	r.mu.Unlock()
	for _, n := range notify {
		n.from.Send(h.cfg.Realm.Expired(n.to, n.from.id))
	}
}

// dropParked forgets the relays m parked: it is leaving. Called with r.mu held.
func (r *room) dropParked(m *Member) {
	if m.claim.parkedN == 0 {
		return
	}
	for id, waiting := range r.parked {
		kept := waiting[:0]
		for _, p := range waiting {
			if p.from != m {
				kept = append(kept, p)
			}
		}
		clear(waiting[len(kept):])
		if len(kept) == 0 {
			delete(r.parked, id)
		} else {
			r.parked[id] = kept
		}
	}
	m.claim.parkedN, m.claim.parkedBytes = 0, 0
}

// realmClaim is how a realm member's claim to its id travels between nodes, in Event.Name and Remote.Name:
// its generation, then its secret.
func (m *Member) realmClaim() string {
	return strconv.FormatUint(m.claim.gen, 10) + ":" + m.claim.secret
}

func parseClaim(s string) (gen uint64, secret string) {
	g, secret, ok := strings.Cut(s, ":")
	if !ok {
		return 0, s
	}
	gen, _ = strconv.ParseUint(g, 10, 64)
	return gen, secret
}

// claimRealm records that node says its member holds id with claim (realmClaim), and settles a clash with
// the member this node has for id by one rule that every node applies the same way, whatever order the
// claims arrive in: the higher generation wins (a node that took over an id it knew of counts one more);
// then the smaller secret (two clients that claimed one id at the same moment on two nodes, each unaware of
// the other); then the smaller node id (one client connected twice at once). A local loser is closed, with
// RealmConfig.Taken if its secret differs. It reports how many local members it took out of the room, for
// the caller to release once the room is unlocked. Called with r.mu held.
func (r *room) claimRealm(node, id, claim string) (released int) {
	gen, secret := parseClaim(claim)
	c := &Member{hub: r.hub, room: r, node: node, id: id, claim: &idClaim{secret: secret, gen: gen}}
	m := r.members[id]
	switch {
	case m == nil:
		r.dropRival(id, node)
		r.hold(c)
		return 0
	case m.node == node:
		m.claim.gen, m.claim.secret = gen, secret
		return 0
	case r.hub.beats(m, gen, secret, node):
		// The member we have keeps the id, and the claimant's node drops its own when it hears of ours. Should
		// ours go first, the claim holds the id then.
		r.addRival(c)
		return 0
	}
	r.addRival(c)
	if m.node == "" {
		r.leaveLocked(m)
		if f, ok := m.conn.(FinalCloser); ok && secret != m.claim.secret {
			f.CloseWith(r.hub.cfg.Realm.Taken, protocol.CloseReplaced, "this id is held through another server")
		} else {
			m.conn.Close(protocol.CloseReplaced, "this id was taken over through another server")
		}
		released = 1
	} else {
		// The loser's node closes it when it hears of the claim; until then it is a rival here too.
		r.removeRemote(m)
		r.addRival(&Member{hub: r.hub, room: r, node: m.node, id: id, claim: &idClaim{secret: m.claim.secret, gen: m.claim.gen}})
	}
	r.promote(id)
	return released
}

// hold makes remote claim c the holder of its id. Called with r.mu held.
func (r *room) hold(c *Member) {
	r.members[c.id] = c
	r.remotes.Add(1)
	r.unpark(c)
}

// addRival keeps remote claim c, which does not hold its id now, replacing an earlier one of its node.
// Called with r.mu held.
func (r *room) addRival(c *Member) {
	r.dropRival(c.id, c.node)
	if r.rivals == nil {
		r.rivals = make(map[string][]*Member)
	}
	r.rivals[c.id] = append(r.rivals[c.id], c)
}

// dropRival forgets node's claim to id, if it is a rival. Called with r.mu held.
func (r *room) dropRival(id, node string) {
	rs := r.rivals[id]
	for i, c := range rs {
		if c.node == node {
			rs = slices.Delete(rs, i, i+1)
			break
		}
	}
	if len(rs) == 0 {
		delete(r.rivals, id)
	} else {
		r.rivals[id] = rs
	}
}

// promote gives id, if no one holds it, to its best rival claim. Called with r.mu held.
func (r *room) promote(id string) {
	rs := r.rivals[id]
	if r.members[id] != nil || len(rs) == 0 {
		return
	}
	best := rs[0]
	for _, c := range rs[1:] {
		if !r.hub.beats(best, c.claim.gen, c.claim.secret, c.node) {
			best = c
		}
	}
	r.dropRival(id, best.node)
	r.hold(best)
}

// beats reports whether m's claim to its id wins over a claim (gen, secret) from node (see claimRealm).
func (h *Hub) beats(m *Member, gen uint64, secret, node string) bool {
	if m.claim.gen != gen {
		return m.claim.gen > gen
	}
	if m.claim.secret != secret {
		return m.claim.secret < secret
	}
	own := m.node
	if own == "" {
		own = h.nodeID()
	}
	return own < node
}

// nodeID is this node's id in the cluster, if the Bus tells it.
func (h *Hub) nodeID() string {
	if n, ok := h.cfg.Bus.(interface{ NodeID() string }); ok {
		return n.NodeID()
	}
	return ""
}

// RealmIDs returns the ids connected to realm, on every node, as this node knows them: nil when the realm
// has no member on this node (a node follows a realm only while it has members in it).
func (h *Hub) RealmIDs(realm string) []string {
	r := h.room(realmKey(realm))
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.members))
	for id := range r.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
