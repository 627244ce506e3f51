// Package cluster links the hubs of several p2plobby nodes over NATS, so that they serve one lobby.
//
// Bus implements hub.Bus with core NATS (no JetStream): each node is the only source of truth for its own
// members, and tells the others through room events, resyncs on request, and heartbeats. docs/cluster.md
// explains the design: subjects, ordering, what each failure does, and the cost per join and relay.
//
// Order. Everything a node sends goes through one FIFO and one NATS connection, and everything it receives,
// on every subscription, goes through one channel read by one goroutine: NATS keeps the order of one
// publisher's messages for each subscriber, so a member's join reaches every node before its relays, and
// its relays arrive in the order it sent them.
package cluster

import (
	"cmp"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/p2plobby/p2plobby/internal/cluster/wire"
	"github.com/p2plobby/p2plobby/internal/hub"
)

// Local is the hub side the bus drives (implemented by *hub.Hub).
type Local interface {
	Apply(room, node string, ev hub.Event)
	SetRemote(room, node string, members []hub.Remote)
	DropNode(node string)
	Deliver(room, fromNode, fromID, toID string, frame []byte) hub.Delivery
	Bounce(room, fromID, toID string)
	LocalMembers(room string, fn func([]hub.Remote))
}

// Config configures a Bus. Zero fields take the documented defaults.
type Config struct {
	// URLs is a comma-separated list of NATS server URLs (credentials may be in them).
	URLs string
	// Options are extra nats.go options: credentials, TLS, and the like. They are applied after the bus's
	// own, so they may override those too.
	Options []nats.Option
	// Prefix starts every subject, so that several lobbies can share one NATS account. Default "p2pl".
	Prefix string
	// Heartbeat is how often the node says it is alive. A node silent for DeadAfter heartbeats is gone:
	// its members leave on every other node. Default 1 s.
	Heartbeat time.Duration
	// Logger receives cluster events; nil discards.
	Logger *slog.Logger
}

// DefaultHeartbeat is the default Config.Heartbeat.
const DefaultHeartbeat = time.Second

// DeadAfter is how many heartbeat periods of silence make a node gone.
const DeadAfter = 4

const (
	syncTimeout  = time.Second // a room opens (joins go on) without the answers of nodes slower than this
	syncPart     = 1000        // members per sync response message, far below NATS's 1 MB payload limit
	maxOutQueued = 64 << 20    // bytes waiting to be published before the node gives up on order and resyncs
	inboundQueue = 1 << 16     // messages received and not applied yet; beyond it NATS drops (slow consumer)
)

// Bus is a hub.Bus over NATS. Create it with New, give it to hub.New in hub.Config.Bus, then Start it with
// the hub.
type Bus struct {
	cfg  Config
	id   string
	log  *slog.Logger
	subj subjects

	out  outQueue
	in   chan *nats.Msg
	ops  chan func() // Open and Close, in order, run by one goroutine
	stop chan struct{}
	done sync.WaitGroup

	nc      *nats.Conn
	local   Local
	streams map[string]*inStream // relays from other nodes, by node; the receive goroutine's own

	mu        sync.Mutex
	rooms     map[string]*openRoom // rooms with local members
	nodes     map[string]*peer     // other nodes alive, by id
	gen       uint64               // bumped whenever this node may have missed or lost messages
	connected bool
	readyAt   time.Time // ready from then on while connected: other nodes have had time to answer hello
	resync    bool      // messages were lost: resync every open room with every node at the next heartbeat
	relaySeq  uint64
	streamID  uint64
	closing   bool
	losses    uint64 // times messages were lost (lost), for Stats
}

// openRoom is a room with local members.
type openRoom struct {
	sub     *nats.Subscription
	waiting map[string]bool // nodes whose first sync answer is awaited before ready
	ready   func()          // nil once called
	timer   *time.Timer
}

// peer is another node, as known from its messages.
type peer struct {
	gen      uint64
	lastSeen time.Time
	parts    map[string][]hub.Remote // sync answers arriving in parts, by room
	sent     []sentRelay             // relays sent to it lately, oldest first (see Relay)
	sentSize int                     // bytes of the frames kept in sent
	held     []sentRelay             // relays waiting to be sent again, in order, while it reconnects
	stream   uint64                  // our stream of relays to it, and the last rseq used in it
	rseq     uint64
}

// sentRelay is a relay sent to another node, kept until that node is heard from well after it: should the
// node die before, the relay may have been lost with it, and its sender gets unknown-target. Its frame is
// kept too (within maxSentBytes), to send it again if the node was only reconnecting.
type sentRelay struct {
	seq            uint64    // the publish: a no-responders status names it
	stream, rseq   uint64    // its place in the stream to the node, kept when it is sent again
	first          time.Time // when the member sent it
	at             time.Time // when it was last published
	room, from, to string
	frame          []byte
	done           bool // bounced, or held to be sent again
}

const (
	maxSent       = 4096    // relays kept per node (a few seconds' worth at most: see Relay)
	maxSentBytes  = 8 << 20 // bytes of frames kept per node; beyond, a relay can be bounced but not resent
	retryInterval = 50 * time.Millisecond
	retryFor      = 2 * time.Second // a relay still undelivered after this is bounced
	gapWait       = time.Second     // a gap from a resend fills in one reconnect (ms); one from a relay lost with a NATS server never does
	maxReorder    = 4096            // relays a receiver holds behind a gap in one stream before giving up on it
)

// New returns a bus with a fresh node id. It does nothing on the network before Start.
func New(cfg Config) *Bus {
	if cfg.Prefix == "" {
		cfg.Prefix = "p2pl"
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [10]byte
	rand.Read(b[:])
	id := strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
	return &Bus{
		cfg:     cfg,
		id:      id,
		log:     log.With("node", id),
		subj:    subjects{prefix: cfg.Prefix},
		in:      make(chan *nats.Msg, inboundQueue),
		ops:     make(chan func(), 1<<12),
		stop:    make(chan struct{}),
		rooms:   make(map[string]*openRoom),
		nodes:   make(map[string]*peer),
		streams: make(map[string]*inStream),
	}
}

// NodeID returns this node's id: random at each start, so a restarted process is a new node.
func (b *Bus) NodeID() string { return b.id }

// Start connects to NATS and starts serving local. It returns once the connection is set up; if no server
// answers yet, the bus keeps trying in the background (Ready is false meanwhile).
func (b *Bus) Start(local Local) error {
	b.local = local
	opts := []nats.Option{
		nats.Name("p2plobby " + b.id),
		nats.NoEcho(), // a node never receives its own events
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2), // a silent cut is noticed in ~3 s
		nats.ReconnectBufSize(8 << 20),
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(nc *nats.Conn) { b.onConnect(nc, "connected") }),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.onConnect(nc, "reconnected") }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { b.onDisconnect(err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { b.onError(err) }),
	}
	nc, err := nats.Connect(b.cfg.URLs, append(opts, b.cfg.Options...)...)
	if err != nil {
		return err
	}
	b.nc = nc
	for _, s := range []string{b.subj.node(b.id), b.subj.heartbeat(), b.subj.noResponders(b.id) + ".>"} {
		if _, err := nc.ChanSubscribe(s, b.in); err != nil {
			nc.Close()
			return err
		}
	}
	b.done.Add(3)
	go b.send()
	go b.receive()
	go b.control()
	return nil
}

// Ready reports whether the node is connected to NATS and has heard from the other nodes, so that a new
// member would see the whole lobby: a load balancer should send new members only to ready nodes.
func (b *Bus) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connected && !b.closing && !time.Now().Before(b.readyAt)
}

// Stats is a snapshot of a Bus, for metrics.
type Stats struct {
	Connected  bool   // connected to a NATS server
	Nodes      int    // other nodes alive, as heard from
	Sent       uint64 // NATS messages published
	Received   uint64 // NATS messages received
	Reconnects uint64 // reconnections to NATS
	Losses     uint64 // times this node found it had lost messages (a slow consumer, a full queue) and resynced
}

// Stats returns the bus's state and counters (NATS's own for messages), zero before Start.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	st := Stats{Connected: b.connected && !b.closing, Nodes: len(b.nodes), Losses: b.losses}
	b.mu.Unlock()
	if b.nc != nil {
		ns := b.nc.Stats()
		st.Sent, st.Received, st.Reconnects = ns.OutMsgs, ns.InMsgs, ns.Reconnects
	}
	return st
}

// Shutdown says goodbye to the other nodes (they drop this node's members at once) and disconnects.
func (b *Bus) Shutdown() {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return
	}
	b.closing = true
	b.mu.Unlock()
	b.publish(b.subj.heartbeat(), "", &wire.Message{Kind: wire.KindBye, Node: b.id})
	b.out.close() // the sender publishes what is queued, the goodbye last, and stops
	close(b.stop)
	b.done.Wait()
	if b.nc != nil {
		b.nc.FlushTimeout(time.Second)
		b.nc.Close()
	}
}

// Open implements hub.Bus.
func (b *Bus) Open(room string, ready func()) {
	b.queueOp(func() { b.open(room, ready) })
}

// Close implements hub.Bus: the room's last local member has left.
func (b *Bus) Close(room string) {
	b.queueOp(func() {
		b.mu.Lock()
		r := b.rooms[room]
		delete(b.rooms, room)
		b.mu.Unlock()
		if r != nil {
			r.sub.Unsubscribe()
			r.finish()
		}
	})
}

// queueOp hands an Open or Close to the control goroutine. The hub calls with its lock held, so this must
// not block: ops is large, and a full one means the node is far behind (the op then runs on its own).
func (b *Bus) queueOp(f func()) {
	select {
	case b.ops <- f:
	default:
		b.log.Warn("cluster control queue full")
		go func() { b.ops <- f }()
	}
}

// Publish implements hub.Bus.
func (b *Bus) Publish(room string, ev hub.Event) {
	b.publish(b.subj.room(room), "", &wire.Message{Kind: wire.KindEvent, Node: b.id, Room: room, Event: ev})
}

// Relay implements hub.Bus. A relay must never vanish silently, so it is bounced (unknown-target for its
// sender) in two ways. If no node subscribes to the target's node subject, the NATS server answers on the
// relay's reply subject with a no-responders status: if the node is gone the relay bounces; if it is alive
// (reconnecting to another NATS server) the relay is held and sent again, with the later relays to that node
// behind it, for up to 2 s. And a node that dies without its server noticing at once (a crash, a cut cable)
// may swallow relays: those sent since it was last heard from are kept and bounced when it is declared dead.
func (b *Bus) Relay(node, room, fromID, toID string, frame []byte) {
	now := time.Now()
	r := sentRelay{first: now, room: room, from: fromID, to: toID, frame: frame}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.nodes[node]; p != nil {
		p.rseq++
		r.stream, r.rseq = p.stream, p.rseq
		if len(p.held) > 0 {
			b.relaySeq++ // held relays are kept in seq order, which is the order members sent them
			r.seq = b.relaySeq
			p.held = append(p.held, r) // behind the relays waiting for the node: order is kept
			return
		}
	}
	b.sendRelay(node, r)
}

// sendRelay publishes r to node and keeps it in the node's sent relays. Called with b.mu held (publishing
// only queues).
func (b *Bus) sendRelay(node string, r sentRelay) {
	b.relaySeq++
	r.seq, r.at, r.done = b.relaySeq, time.Now(), false
	if p := b.nodes[node]; p != nil {
		if len(p.sent) == maxSent {
			p.forget(maxSent / 4)
		}
		if p.sentSize+len(r.frame) > maxSentBytes {
			r.frame = nil
		}
		p.sentSize += len(r.frame)
		p.sent = append(p.sent, r)
	}
	b.publish(b.subj.node(node), b.subj.bounceReply(b.id, node, r.seq),
		&wire.Message{Kind: wire.KindRelay, Node: b.id, Room: r.room, From: r.from, To: r.to, Stream: r.stream, Seq: r.rseq, Frame: r.frame})
}

// forget drops the n oldest sent relays.
func (p *peer) forget(n int) {
	for _, r := range p.sent[:n] {
		p.sentSize -= len(r.frame)
	}
	p.sent = slices.Delete(p.sent, 0, n)
}

// retryHeld sends the held relays again, in order; those held too long bounce.
func (b *Bus) retryHeld() {
	var bounce []sentRelay
	b.mu.Lock()
	for id, p := range b.nodes {
		held := p.held
		p.held = nil
		for _, r := range held {
			if time.Since(r.first) > retryFor || r.frame == nil {
				bounce = append(bounce, r)
				continue
			}
			b.sendRelay(id, r)
		}
	}
	b.mu.Unlock()
	for _, r := range bounce {
		b.local.Bounce(r.room, r.from, r.to)
	}
}

func (b *Bus) publish(subject, reply string, m *wire.Message) {
	if !b.out.push(outMsg{subject: subject, reply: reply, data: m.Encode()}) {
		b.lost("outbound queue over its limit")
	}
}

// open subscribes to the room and asks every live node for its members of it. Run by the control goroutine.
func (b *Bus) open(room string, ready func()) {
	sub, err := b.nc.ChanSubscribe(b.subj.room(room), b.in)
	if err != nil { // only on a closed connection: the node is shutting down
		b.log.Error("cluster subscribe", "room", room, "err", err)
		ready()
		return
	}
	r := &openRoom{sub: sub, waiting: map[string]bool{}, ready: ready}
	b.mu.Lock()
	if old := b.rooms[room]; old != nil { // closed and opened again while the close was queued
		old.sub.Unsubscribe()
		old.finish()
	}
	b.rooms[room] = r
	for id := range b.nodes {
		r.waiting[id] = true
	}
	if len(r.waiting) == 0 {
		r.finish()
	} else {
		r.timer = time.AfterFunc(syncTimeout, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			r.finish()
		})
	}
	nodes := b.liveNodes()
	b.mu.Unlock()
	// The subscription was written to the connection before these requests, so the other nodes answer after
	// their NATS servers know of it: every event after an answer reaches this node.
	for _, id := range nodes {
		b.publish(b.subj.node(id), "", &wire.Message{Kind: wire.KindSyncReq, Node: b.id, Rooms: []string{room}})
	}
}

// finish lets the joins waiting on the room go on. Called with b.mu held, or before r is shared.
func (r *openRoom) finish() {
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.ready != nil {
		r.ready()
		r.ready = nil
	}
}

func (b *Bus) control() {
	defer b.done.Done()
	for {
		select {
		case f := <-b.ops:
			f()
		case <-b.stop:
			return
		}
	}
}

// receive applies every message received, in order, and checks the other nodes' heartbeats.
func (b *Bus) receive() {
	defer b.done.Done()
	beat := time.NewTicker(b.cfg.Heartbeat)
	defer beat.Stop()
	check := time.NewTicker(b.cfg.Heartbeat / 2)
	defer check.Stop()
	retry := time.NewTicker(retryInterval)
	defer retry.Stop()
	for {
		select {
		case msg := <-b.in:
			b.handle(msg)
		case <-beat.C:
			b.mu.Lock()
			gen, resync := b.gen, b.resync
			b.resync = false
			var rooms, nodes []string
			if resync {
				rooms, nodes = b.openRooms(), b.liveNodes()
			}
			b.mu.Unlock()
			b.publish(b.subj.heartbeat(), "", &wire.Message{Kind: wire.KindHeartbeat, Node: b.id, Gen: gen})
			if len(rooms) > 0 {
				for _, id := range nodes {
					b.publish(b.subj.node(id), "", &wire.Message{Kind: wire.KindSyncReq, Node: b.id, Rooms: rooms})
				}
			}
		case <-check.C:
			b.checkPeers()
		case <-retry.C:
			b.retryHeld()
			b.skipStaleGaps()
		case <-b.stop:
			return
		}
	}
}

func (b *Bus) handle(msg *nats.Msg) {
	if strings.HasPrefix(msg.Subject, b.subj.noResponders(b.id)+".") {
		b.noResponders(msg)
		return
	}
	m, err := wire.Decode(msg.Data)
	if err != nil || m.Node == b.id {
		b.log.Warn("cluster message dropped", "subject", msg.Subject, "err", err)
		return
	}
	if m.Kind == wire.KindBye {
		b.mu.Lock()
		_, known := b.nodes[m.Node]
		delete(b.nodes, m.Node)
		b.mu.Unlock()
		if known {
			b.log.Info("node left the cluster", "peer", m.Node)
		}
		delete(b.streams, m.Node)
		b.local.DropNode(m.Node)
		return
	}
	b.seen(m.Node, m.Kind, m.Gen)
	switch m.Kind {
	case wire.KindEvent:
		b.local.Apply(m.Room, m.Node, m.Event)
	case wire.KindRelay:
		b.inOrder(m)
	case wire.KindBounce:
		b.local.Bounce(m.Room, m.From, m.To)
	case wire.KindSyncReq:
		for _, room := range m.Rooms {
			b.answerSync(m.Node, room)
		}
	case wire.KindSyncResp:
		b.syncAnswer(m)
	case wire.KindHello:
		b.mu.Lock()
		gen := b.gen
		b.mu.Unlock()
		b.publish(b.subj.heartbeat(), "", &wire.Message{Kind: wire.KindHeartbeat, Node: b.id, Gen: gen})
	}
}

// deliver passes a relay to the hub.
func (b *Bus) deliver(m *wire.Message) {
	d := b.local.Deliver(m.Room, m.Node, m.From, m.To, m.Frame)
	if d == hub.Delivered {
		return
	}
	b.publish(b.subj.node(m.Node), "", &wire.Message{Kind: wire.KindBounce, Node: b.id, Room: m.Room, From: m.From, To: m.To})
	if d == hub.UnknownSender {
		// This node missed the sender's join: the relay bounced rather than come from someone its member
		// cannot see, and the room is resynced with that node.
		b.publish(b.subj.node(m.Node), "", &wire.Message{Kind: wire.KindSyncReq, Node: b.id, Rooms: []string{m.Room}})
	}
}

// inStream is the receiving end of another node's stream of relays to this one. Relays arrive in order,
// except around a NATS failover: relays that found this node reconnecting are sent again after later ones
// got through. The receiver puts them back in order, waiting for a gap at most gapWait (a relay lost in
// a NATS server that died never comes).
type inStream struct {
	stream uint64
	next   uint64                   // the rseq to deliver next
	held   map[uint64]*wire.Message // relays behind a gap
	since  time.Time                // when the gap was found
}

// inOrder delivers relay m in its stream's order. Called by the receive goroutine only.
func (b *Bus) inOrder(m *wire.Message) {
	if m.Seq == 0 {
		b.deliver(m)
		return
	}
	s := b.streams[m.Node]
	if s == nil || s.stream != m.Stream {
		s = &inStream{stream: m.Stream, next: m.Seq}
		b.streams[m.Node] = s
	}
	switch {
	case m.Seq < s.next: // late: its gap was given up
		b.deliver(m)
	case m.Seq == s.next:
		b.deliver(m)
		s.next++
		for len(s.held) > 0 {
			h := s.held[s.next]
			if h == nil {
				break
			}
			delete(s.held, s.next)
			b.deliver(h)
			s.next++
		}
		if len(s.held) == 0 {
			s.since = time.Time{}
		}
	default:
		if s.held == nil {
			s.held = map[uint64]*wire.Message{}
		}
		if len(s.held) == 0 {
			s.since = time.Now()
		}
		s.held[m.Seq] = m
		if len(s.held) > maxReorder {
			b.skipGap(s)
		}
	}
}

// skipGap gives up waiting for a stream's gap: the relays behind it are delivered in order.
func (b *Bus) skipGap(s *inStream) {
	keys := slices.Sorted(maps.Keys(s.held))
	for _, k := range keys {
		b.deliver(s.held[k])
	}
	s.next = keys[len(keys)-1] + 1
	s.held, s.since = nil, time.Time{}
}

// skipStaleGaps gives up the gaps older than gapWait. Called by the receive goroutine only.
func (b *Bus) skipStaleGaps() {
	for _, s := range b.streams {
		if len(s.held) > 0 && time.Since(s.since) > gapWait {
			b.skipGap(s)
		}
	}
}

// answerSync sends node this node's members of room, with the room locked, so the answer takes its place
// among the room's events in the outbound order.
func (b *Bus) answerSync(node, room string) {
	b.local.LocalMembers(room, func(ms []hub.Remote) {
		for {
			part := ms[:min(len(ms), syncPart)]
			ms = ms[len(part):]
			b.publish(b.subj.node(node), "", &wire.Message{Kind: wire.KindSyncResp, Node: b.id, Room: room, Members: part, More: len(ms) > 0})
			if len(ms) == 0 {
				return
			}
		}
	})
}

// syncAnswer applies (the last part of) another node's members of a room.
func (b *Bus) syncAnswer(m *wire.Message) {
	b.mu.Lock()
	p := b.nodes[m.Node]
	var members []hub.Remote
	if p != nil {
		if p.parts == nil {
			p.parts = map[string][]hub.Remote{}
		}
		members = append(p.parts[m.Room], m.Members...)
		if m.More {
			p.parts[m.Room] = members
			b.mu.Unlock()
			return
		}
		delete(p.parts, m.Room)
	}
	b.mu.Unlock()
	b.local.SetRemote(m.Room, m.Node, members)
	b.mu.Lock()
	if r := b.rooms[m.Room]; r != nil && r.waiting[m.Node] {
		delete(r.waiting, m.Node)
		if len(r.waiting) == 0 {
			r.finish()
		}
	}
	b.mu.Unlock()
}

// seen records a message from node: a node not known, or known in an earlier generation, may have missed
// this node's messages or sent some this node missed, so every open room is resynced with it.
func (b *Bus) seen(node string, k wire.Kind, gen uint64) {
	b.mu.Lock()
	p := b.nodes[node]
	resync := false
	switch {
	case p == nil:
		b.streamID++
		p = &peer{gen: gen, stream: b.streamID}
		b.nodes[node] = p
		resync = true
		b.log.Info("node joined the cluster", "peer", node)
	case (k == wire.KindHeartbeat || k == wire.KindHello) && gen != p.gen:
		p.gen = gen
		resync = true
	}
	p.lastSeen = time.Now()
	if k == wire.KindHeartbeat {
		// Relays sent a heartbeat period before the node was last heard from reached it (or bounced).
		cut := p.lastSeen.Add(-b.cfg.Heartbeat)
		i := 0
		for i < len(p.sent) && p.sent[i].at.Before(cut) {
			i++
		}
		p.forget(i)
	}
	var rooms []string
	if resync {
		rooms = b.openRooms()
	}
	b.mu.Unlock()
	if len(rooms) > 0 {
		b.publish(b.subj.node(node), "", &wire.Message{Kind: wire.KindSyncReq, Node: b.id, Rooms: rooms})
	}
}

// checkPeers drops the nodes that have been silent too long.
func (b *Bus) checkPeers() {
	limit := time.Now().Add(-DeadAfter * b.cfg.Heartbeat)
	var dead []string
	var lost []sentRelay
	b.mu.Lock()
	for id, p := range b.nodes {
		if p.lastSeen.Before(limit) {
			dead = append(dead, id)
			for _, r := range p.sent {
				if !r.done {
					lost = append(lost, r)
				}
			}
			lost = append(lost, p.held...)
			delete(b.nodes, id)
			for _, r := range b.rooms {
				if r.waiting[id] {
					delete(r.waiting, id)
					if len(r.waiting) == 0 {
						r.finish()
					}
				}
			}
		}
	}
	b.mu.Unlock()
	for _, id := range dead {
		b.log.Warn("node gone: no heartbeat", "peer", id, "after", DeadAfter*b.cfg.Heartbeat)
		delete(b.streams, id)
		b.local.DropNode(id)
	}
	for _, r := range lost { // after the drop: the sender hears its target left, then that the relay failed
		b.local.Bounce(r.room, r.from, r.to)
	}
}

// noResponders handles a relay that found no subscriber: its node is gone (the relay bounces) or
// reconnecting to another NATS server (the relay is held and sent again; see Relay).
func (b *Bus) noResponders(msg *nats.Msg) {
	if msg.Header.Get("Status") != "503" {
		return
	}
	node, seq, ok := b.subj.parseBounceReply(msg.Subject, b.id)
	if !ok {
		return
	}
	b.mu.Lock()
	var bounce sentRelay
	if p := b.nodes[node]; p != nil {
		i, found := slices.BinarySearchFunc(p.sent, seq, func(s sentRelay, seq uint64) int { return cmp.Compare(s.seq, seq) })
		if found && !p.sent[i].done {
			p.sent[i].done = true
			r := p.sent[i]
			if r.frame != nil && time.Since(r.first) < retryFor {
				j, _ := slices.BinarySearchFunc(p.held, r.seq, func(h sentRelay, seq uint64) int { return cmp.Compare(h.seq, seq) })
				p.held = slices.Insert(p.held, j, r) // in the order they were sent
			} else {
				bounce = r
			}
		}
	}
	b.mu.Unlock()
	if bounce.seq != 0 {
		b.log.Debug("relay to a node with no subscriber", "peer", node, "room", bounce.room, "member", bounce.from, "to", bounce.to)
		b.local.Bounce(bounce.room, bounce.from, bounce.to)
	}
}

// liveNodes lists the other nodes alive. Called with b.mu held.
func (b *Bus) liveNodes() []string {
	nodes := make([]string, 0, len(b.nodes))
	for id := range b.nodes {
		nodes = append(nodes, id)
	}
	return nodes
}

// openRooms lists the open rooms. Called with b.mu held.
func (b *Bus) openRooms() []string {
	rooms := make([]string, 0, len(b.rooms))
	for r := range b.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

func (b *Bus) onConnect(nc *nats.Conn, what string) {
	b.mu.Lock()
	b.connected = true
	b.gen++
	b.readyAt = time.Now().Add(b.cfg.Heartbeat)
	gen := b.gen
	rooms, nodes := b.openRooms(), b.liveNodes()
	b.mu.Unlock()
	b.log.Info("cluster "+what, "url", nc.ConnectedUrlRedacted())
	// Say hello (every node answers with a heartbeat) and, as messages may have been lost both ways while
	// disconnected, resync with every node known; the new generation makes the others resync with this one.
	b.publish(b.subj.heartbeat(), "", &wire.Message{Kind: wire.KindHello, Node: b.id, Gen: gen})
	if len(rooms) > 0 {
		for _, id := range nodes {
			b.publish(b.subj.node(id), "", &wire.Message{Kind: wire.KindSyncReq, Node: b.id, Rooms: rooms})
		}
	}
}

func (b *Bus) onDisconnect(err error) {
	b.mu.Lock()
	b.connected = false
	closing := b.closing
	b.mu.Unlock()
	if !closing {
		b.log.Warn("cluster disconnected", "err", err)
	}
}

func (b *Bus) onError(err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		b.lost("slow consumer: messages dropped")
		return
	}
	b.log.Warn("cluster error", "err", err)
}

// lost is called when this node has lost messages (and may be called from publish itself): the generation is
// bumped at once, so the next heartbeat makes every node resync with this one, and the heartbeat tick
// resyncs this one with every node.
func (b *Bus) lost(why string) {
	b.mu.Lock()
	b.losses++
	b.gen++
	first := !b.resync
	b.resync = true
	b.mu.Unlock()
	if first {
		b.log.Error("cluster messages lost; resyncing", "why", why)
	}
}

// send publishes the outbound queue in order.
func (b *Bus) send() {
	defer b.done.Done()
	var batch []outMsg
	for {
		batch = b.out.take(batch[:0])
		if batch == nil {
			return
		}
		for i, m := range batch {
			err := b.nc.PublishMsg(&nats.Msg{Subject: m.subject, Reply: m.reply, Data: m.data})
			if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				b.lost("publish: " + err.Error())
			}
			batch[i] = outMsg{}
		}
	}
}

// outMsg is a message waiting to be published.
type outMsg struct {
	subject, reply string
	data           []byte
}

// outQueue is the node's single outbound FIFO. push never blocks: the hub calls it with locks held.
type outQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	q      []outMsg
	bytes  int
	closed bool
}

// push queues m; false if the queue is over maxOutQueued (m is dropped).
func (o *outQueue) push(m outMsg) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cond == nil {
		o.cond = sync.NewCond(&o.mu)
	}
	if o.closed {
		return true
	}
	if o.bytes+len(m.data) > maxOutQueued {
		return false
	}
	o.q = append(o.q, m)
	o.bytes += len(m.data)
	o.cond.Signal()
	return true
}

// take waits for messages and moves them all to buf; nil once the queue is closed and empty.
func (o *outQueue) take(buf []outMsg) []outMsg {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cond == nil {
		o.cond = sync.NewCond(&o.mu)
	}
	for len(o.q) == 0 {
		if o.closed {
			return nil
		}
		o.cond.Wait()
	}
	buf = append(buf, o.q...)
	clear(o.q)
	o.q, o.bytes = o.q[:0], 0
	return buf
}

// close lets take return nil once what is queued has been taken; later pushes are dropped.
func (o *outQueue) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cond == nil {
		o.cond = sync.NewCond(&o.mu)
	}
	o.closed = true
	o.cond.Broadcast()
}

// subjects names the NATS subjects of a lobby.
type subjects struct{ prefix string }

// room is a room's event subject. Room keys go through base64url: '.' separates subject tokens, and '@'
// keeps same-network groups apart from named rooms.
func (s subjects) room(key string) string {
	return s.prefix + ".room." + base64.RawURLEncoding.EncodeToString([]byte(key))
}
func (s subjects) node(id string) string         { return s.prefix + ".node." + id }
func (s subjects) heartbeat() string             { return s.prefix + ".hb" }
func (s subjects) noResponders(id string) string { return s.prefix + ".nr." + id }

// bounceReply is the reply subject of a relay: where a no-responders status for it arrives.
func (s subjects) bounceReply(self, node string, seq uint64) string {
	return s.noResponders(self) + "." + node + "." + strconv.FormatUint(seq, 10)
}

func (s subjects) parseBounceReply(subject, self string) (node string, seq uint64, ok bool) {
	rest, found := strings.CutPrefix(subject, s.noResponders(self)+".")
	if !found {
		return "", 0, false
	}
	node, num, found := strings.Cut(rest, ".")
	seq, err := strconv.ParseUint(num, 10, 64)
	return node, seq, found && err == nil
}
