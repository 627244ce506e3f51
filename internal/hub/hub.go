// Package hub keeps the lobby: rooms, their members, who is present, and routing between members.
//
// It knows nothing of HTTP or WebSockets. A transport joins a member with a Conn (two methods: Wake and
// Close) and afterwards pulls the member's outgoing frames with Member.Drain from one writer at a time.
//
// Fan-out is built for join storms. Each room keeps one shared event log (connected/disconnected frames,
// each encoded once) and every member only holds a cursor into it; a member's writer takes everything
// pending in one Drain and writes it in one go. So a broadcast costs one append plus a wake-up per idle
// member, and memory does not grow with members × events. A new member's snapshot is taken when its writer
// first drains, together with its cursor, so snapshot plus later events is always the exact membership.
//
// Names are unique within a room (a taken name is numbered, "Alice (2)") and can change without leaving
// (Member.Rename): the renamed event goes through the room's log like joins and leaves, and a snapshot
// reports names as of its start.
//
// A realm (realm.go) is a room for PeerJS clients: ids chosen by the clients, no presence events, and relays
// to ids not yet connected kept for a while.
package hub

import (
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// Conn is the transport side of a member.
type Conn interface {
	// Wake tells the transport that the member has output pending. It must not block and must not call
	// back into the hub; the transport later calls Member.Drain from a single writer until it is empty.
	Wake()
	// Close ends the connection with a WebSocket close code and reason. It must not block or call back
	// into the hub; the transport calls Member.Leave once the connection is gone.
	Close(code int, reason string)
}

// Flusher is implemented by Conns that can write a member's output at once, from the calling goroutine,
// without ever blocking. For a direct message (a relay, an error, a pong) the hub calls Flush instead of
// Wake, outside its locks, from the goroutine that handed it the message; Flush may call Member.Drain.
// It saves a relay the hand-off to a writer goroutine.
type Flusher interface {
	Flush()
}

// ICESource is implemented by Conns that give each member ICE servers of its own (TURN credentials that
// name it, URLs with the host it used). The hub asks once, in Join, for the member's self-connected; nil
// means the hub's Config.ICEServers.
type ICESource interface {
	ICEServers(memberID string) json.RawMessage
}

// NameFixer is implemented by Conns whose member's name was fixed by the transport, from a join token rather
// than from the client: when NameFixed reports true, the hub refuses the member's renames with error
// protocol.CodeNameFixed. Asked once, in Join.
type NameFixer interface {
	NameFixed() bool
}

// Config tunes a Hub. Zero fields take the documented defaults.
type Config struct {
	// MaxQueue is how many bytes may wait for a member (events it has not taken plus direct messages)
	// before it is dropped with close code 4000. Default 4 MiB. It bounds the memory one slow reader holds.
	MaxQueue int64
	// MaxRoomMembers caps a room; 0 means unlimited.
	MaxRoomMembers int
	// MaxMembers caps the whole hub; 0 means unlimited.
	MaxMembers int
	// ICEServers is a JSON array of RTCIceServer objects handed to every member in self-connected (unless its
	// Conn is an ICESource); nil omits it.
	ICEServers json.RawMessage
	// Logger receives connect/disconnect at info and relays at debug; nil discards.
	Logger *slog.Logger
	// Bus links this hub to the other nodes of a cluster; nil is one node on its own.
	Bus Bus
	// Limits bound joins per room, relays per receiver and unanswered requests (limits.go); zero: none.
	Limits Limits
	// Observer counts errors and relays for metrics; nil counts nothing.
	Observer Observer
	// Realm tunes PeerJS realms (realm.go).
	Realm RealmConfig
}

// DefaultMaxQueue is the default Config.MaxQueue.
const DefaultMaxQueue = 4 << 20

// Errors returned by Join; both are *protocol.Error so the transport can send them as they are.
var (
	ErrRoomFull   = &protocol.Error{Code: protocol.CodeRoomFull, Message: "this room is full"}
	ErrServerFull = &protocol.Error{Code: protocol.CodeServerFull, Message: "the server is full"}
	ErrBadRoom    = &protocol.Error{Code: protocol.CodeBadRoom, Message: "room must be 1-64 characters of A-Z a-z 0-9 - _ ."}
)

// Hub is the set of rooms of one server. It is safe for concurrent use.
type Hub struct {
	cfg Config
	log *slog.Logger
	obs Observer // Config.Observer, or one that counts nothing

	mu      sync.Mutex
	rooms   map[string]*room
	members int

	relayLimits bool // a relay limit of cfg.Limits is on
}

// New returns an empty hub.
func New(cfg Config) *Hub {
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{cfg: cfg, log: log, obs: cfg.Observer, rooms: make(map[string]*room)}
	h.relayLimits = h.cfg.Limits.set()
	if h.obs == nil {
		h.obs = noObserver{}
	}
	return h
}

// Join adds a member named name to roomName (protocol.DefaultRoom when empty) and announces it to the room.
// The name is cleaned (protocol.CleanName) and numbered if another member of the room has it ("Alice (2)").
// The member's first frames (self-connected, then the snapshot) are ready for its writer right away.
func (h *Hub) Join(roomName, name string, conn Conn) (*Member, error) {
	return h.join(roomName, false, name, conn)
}

// JoinNetwork is Join for a same-network group: the transport names the group (protocol.NetworkRoom); the
// room is kept apart from a named room of the same name, and self-connected says "network":true.
func (h *Hub) JoinNetwork(roomName, name string, conn Conn) (*Member, error) {
	return h.join(roomName, true, name, conn)
}

func (h *Hub) join(roomName string, network bool, name string, conn Conn) (*Member, error) {
	if roomName == "" {
		roomName = protocol.DefaultRoom
	}
	if !protocol.ValidRoom(roomName) {
		return nil, ErrBadRoom
	}
	name = protocol.CleanName(name)
	key := roomName
	if network {
		key = "@" + roomName
	}

	r, err := h.enter(roomName, key, network, false)
	if err != nil {
		return nil, err
	}

	id := protocol.NewID()
	m := &Member{
		hub:       h,
		room:      r,
		conn:      conn,
		id:        id,
		name:      name,
		connected: protocol.Connected(id, name),
		fresh:     true,
	}
	if f, ok := conn.(NameFixer); ok {
		m.nameFixed = f.NameFixed()
	}
	ice := h.cfg.ICEServers
	if src, ok := conn.(ICESource); ok {
		if own := src.ICEServers(id); own != nil {
			ice = own
		}
	}
	self := protocol.SelfConnected(id, name, roomName, network, ice)
	m.private, m.privBytes = append(m.private, queued{frame: self}), int64(len(self)) // counted: popPrivate subtracts it
	name = r.join(m, ice)
	h.log.Info("member joined", "room", roomName, "member", id, "name", name, "network", network)
	return m, nil
}

// enter counts a member joining the room (or realm) with key against the hub's limits, opening the room if
// needed, and waits until the room's members on other nodes are loaded, so that the snapshot holds them. The
// caller must release the room once the member leaves, or if it does not join after all.
func (h *Hub) enter(name, key string, network, realm bool) (*room, error) {
	h.mu.Lock()
	if h.cfg.MaxMembers > 0 && h.members >= h.cfg.MaxMembers {
		h.mu.Unlock()
		return nil, ErrServerFull
	}
	r := h.rooms[key]
	if r == nil {
		r = h.openRoom(name, key, network, realm)
	}
	if !realm && h.cfg.MaxRoomMembers > 0 && r.refs+int(r.remotes.Load()) >= h.cfg.MaxRoomMembers {
		h.mu.Unlock()
		return nil, ErrRoomFull
	}
	if !h.allowJoin(r) {
		h.mu.Unlock()
		return nil, ErrRoomBusy
	}
	r.refs++ // counted under h.mu so the room cannot be deleted while we join it
	h.members++
	h.mu.Unlock()
	if r.ready != nil {
		<-r.ready
	}
	return r, nil
}

// openRoom creates the room with key and, in a cluster, has the bus load its members on other nodes (joins
// wait for r.ready). Called with h.mu held.
func (h *Hub) openRoom(name, key string, network, realm bool) *room {
	r := newRoom(h, name, key, network)
	r.realm = realm
	h.rooms[key] = r
	if h.cfg.Bus != nil {
		ready := make(chan struct{})
		var once sync.Once
		r.ready = ready
		h.cfg.Bus.Open(key, func() { once.Do(func() { close(ready) }) })
	}
	return r
}

// Stats is a point-in-time summary of the hub.
type Stats struct {
	Rooms   int
	Members int
}

// Stats returns the number of rooms and members.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Rooms: len(h.rooms), Members: h.members}
}

// release drops a departed member's hold on its room and deletes the room once it is empty.
func (h *Hub) release(r *room) { h.releaseN(r, 1) }

// releaseN is release for n members.
func (h *Hub) releaseN(r *room, n int) {
	if n == 0 {
		return
	}
	h.mu.Lock()
	r.refs -= n
	h.members -= n
	if r.refs == 0 {
		delete(h.rooms, r.key)
		if h.cfg.Bus != nil {
			h.cfg.Bus.Close(r.key)
		}
	}
	h.mu.Unlock()
}

// room returns the room with key, or nil.
func (h *Hub) room(key string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[key]
}
