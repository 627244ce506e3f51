package peer

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/p2plobby/p2plobby/internal/pionlog"
)

// Signaling timing. The server pings every 25 s and drops a member silent for 60 s; the client pings too, so
// that it notices a dead server (or one that never pings, like the seed's) within readTimeout.
const (
	pingInterval   = 25 * time.Second
	readTimeout    = 60 * time.Second
	writeTimeout   = 10 * time.Second
	snapshotWait   = 5 * time.Second        // the longest Dial waits for the pong that ends the room snapshot
	seedGrace      = 150 * time.Millisecond // servers without ping (the seed's) send the snapshot at once
	maxSignalBytes = 1 << 20
	eventBuffer    = 256
	defaultConnect = 30 * time.Second
)

// Member is someone in the room, as the lobby announced it.
type Member struct {
	ID   string // stable for the member's connection; unique in the server
	Name string // display name; may be empty and need not be unique
}

// String returns "Name (ID)", or the id alone when the member has no name.
func (m Member) String() string {
	if m.Name == "" {
		return m.ID
	}
	return m.Name + " (" + m.ID + ")"
}

// EventKind says what an [Event] is about.
type EventKind int

// Event kinds.
const (
	MemberJoined    EventKind = iota + 1 // Member joined the room
	MemberLeft                           // Member left the room
	IncomingRequest                      // Member asks for a connection: Request.Accept or Request.Decline it
	MemberRenamed                        // Member, still in the room with the same id, now has Member.Name
)

func (k EventKind) String() string {
	switch k {
	case MemberJoined:
		return "joined"
	case MemberLeft:
		return "left"
	case IncomingRequest:
		return "request"
	case MemberRenamed:
		return "renamed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change in the room, delivered by [Client.Events].
type Event struct {
	Kind    EventKind
	Member  Member
	Request *Request // set for IncomingRequest only
}

// Client is a member of one lobby room: it sees the other members and connects to them.
// Create it with [Dial] and end it with [Client.Close]. Its methods are safe for concurrent use.
type Client struct {
	ws   *websocket.Conn
	wmu  sync.Mutex // gorilla allows one writer at a time
	id   string
	name string
	room string

	iceFixed       bool // Options.ICEServers was set: the lobby's are ignored
	relayOnly      bool
	api            *webrtc.API
	log            *slog.Logger
	connectTimeout time.Duration

	events chan Event
	pong   chan struct{}
	done   chan struct{} // closed when the signaling connection ends

	mu       sync.Mutex
	ice      []webrtc.ICEServer // refreshed by the lobby before its TURN credentials expire
	members  []Member           // join order
	changed  chan struct{}
	sessions map[string]*session
	ready    bool // the room snapshot is complete; joins are events from now on
	err      error
	closing  bool
}

// Dial connects to the lobby server at serverURL (ws://HOST:3333 or wss://…; http(s):// works too) and joins a
// room. It returns once the server has sent this client's id and the room's current members, so [Client.Members]
// is complete from the start. ctx bounds the dial only; the Client lives until Close or until the server goes away.
func Dial(ctx context.Context, serverURL string, opts *Options) (*Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	u, err := lobbyURL(serverURL, opts.Room, opts.Name)
	if err != nil {
		return nil, err
	}
	dialer := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 15 * time.Second}
	header := opts.Header
	if opts.Token != "" {
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set("Authorization", "Bearer "+opts.Token)
	}
	ws, resp, err := dialer.DialContext(ctx, u, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("peer: dial %s: %w (HTTP %s)", u, err, resp.Status)
		}
		return nil, fmt.Errorf("peer: dial %s: %w", u, err)
	}
	ws.SetReadLimit(maxSignalBytes)

	first, err := readFirst(ctx, ws)
	if err != nil {
		ws.Close()
		return nil, err
	}

	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		ws:             ws,
		id:             first.ID,
		name:           first.Name,
		room:           first.Room,
		log:            log,
		connectTimeout: defaultConnect,
		events:         make(chan Event, eventBuffer),
		pong:           make(chan struct{}, 1),
		done:           make(chan struct{}),
		changed:        make(chan struct{}),
		sessions:       make(map[string]*session),
	}
	if c.name == "" {
		c.name = opts.Name
	}
	c.relayOnly = opts.RelayOnly
	if opts.ICEServers != nil {
		c.ice, c.iceFixed = toPion(opts.ICEServers), true
	} else {
		c.setICEServers(first.ICEServers)
	}
	c.api = newAPI(opts, log)

	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(readTimeout)) })
	ws.SetPingHandler(func(data string) error {
		ws.SetReadDeadline(time.Now().Add(readTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			return err
		}
		return nil
	})
	go c.readLoop()
	go c.keepalive()

	// The snapshot (one "connected" per member) follows self-connected; a ping's pong comes after it.
	// The seed's server has no ping and no "room" field, and sends the snapshot at once.
	if first.Room != "" && c.sendMsg(&sigMsg{Kind: kindPing}) == nil {
		t := time.NewTimer(snapshotWait)
		select {
		case <-c.pong:
		case <-t.C:
		case <-c.done:
		case <-ctx.Done():
		}
		t.Stop()
	} else {
		t := time.NewTimer(seedGrace)
		select {
		case <-t.C:
		case <-c.done:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if err := ctx.Err(); err != nil {
		c.Close()
		return nil, err
	}
	c.mu.Lock()
	c.ready = true
	err = c.err
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	log.Debug("joined", "room", c.room, "member", c.id, "name", c.name, "relayOnly", c.relayOnly)
	return c, nil
}

// lobbyURL adds room and name to the server URL, keeping any query the caller put there.
func lobbyURL(raw, room, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("peer: bad server URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("peer: bad server URL %q: scheme must be ws, wss, http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("peer: bad server URL %q: no host", raw)
	}
	q := u.Query()
	if room != "" {
		q.Set("room", room)
	}
	if name != "" {
		q.Set("name", name)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// readFirst reads self-connected, turning an error message or a close into a *ServerError.
func readFirst(ctx context.Context, ws *websocket.Conn) (*sigMsg, error) {
	stop := context.AfterFunc(ctx, func() { ws.NetConn().Close() })
	defer stop()
	ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	defer ws.SetReadDeadline(time.Time{})
	var m sigMsg
	if err := ws.ReadJSON(&m); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if se := closeServerError(err); se != nil {
			return nil, se
		}
		return nil, fmt.Errorf("peer: reading self-connected: %w", err)
	}
	switch m.Kind {
	case kindSelfConnected:
		if m.ID == "" {
			return nil, fmt.Errorf("%w: self-connected without id", ErrProtocol)
		}
		return &m, nil
	case kindError:
		se := &ServerError{Code: m.Code, Message: m.Message}
		// A refusal is followed by a close; its code tells the caller whether to retry.
		ws.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				se.CloseCode = ce.Code
			}
		}
		return nil, se
	}
	return nil, fmt.Errorf("%w: first message is %q, not self-connected", ErrProtocol, m.Kind)
}

// closeServerError maps a p2plobby close (docs/protocol.md, close codes) to a *ServerError, else nil.
func closeServerError(err error) *ServerError {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code < 4000 || ce.Code > 4999 {
		return nil
	}
	codes := map[int]string{4000: "too-slow", 4001: "rate-limited", 4002: "bad-room", 4003: "full", 4004: "unauthorized", 4005: "busy"}
	code, ok := codes[ce.Code]
	if !ok {
		code = fmt.Sprintf("close-%d", ce.Code)
	}
	return &ServerError{Code: code, Message: ce.Text, CloseCode: ce.Code}
}

// newAPI builds the pion API: detached data channels (read straight into our buffers, so memory stays flat and
// a slow disk back-pressures the sender through SCTP) and a 256 KiB max message size (docs/datachannel.md).
func newAPI(opts *Options, log *slog.Logger) *webrtc.API {
	var se webrtc.SettingEngine
	if opts.SettingEngine != nil {
		se = *opts.SettingEngine
	} else if n, err := newBufferedNet(); err == nil {
		se.SetNet(n)
	} else {
		log.Debug("using the default network", "err", err)
	}
	// WAN tuning (issue 13, part 3): SCTP congestion control and windows for long, lossy paths, see sctpwan.go.
	// Only with pion's own settings: a caller's SettingEngine keeps its SCTP settings.
	if opts.SettingEngine == nil {
		tuneSCTPForWAN(&se)
	}
	se.DetachDataChannels()
	se.SetSCTPMaxMessageSize(maxChunk)
	if opts.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetInterfaceFilter(func(name string) bool {
			ifi, err := net.InterfaceByName(name)
			return err == nil && ifi.Flags&net.FlagLoopback != 0
		})
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	}
	if se.LoggerFactory == nil {
		se.LoggerFactory = pionlog.Factory{Log: log}
	}
	// VP8 only, so that an offer can carry the empty video section of addReceiveBufferHint (session.go).
	var me webrtc.MediaEngine
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		log.Debug("no video codec: offers stay data-only", "err", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&me))
}

// ID returns this client's member id, as the server assigned it.
func (c *Client) ID() string { return c.id }

// Name returns this client's display name, as the server settled it (trimmed, shortened, numbered when
// another member of the room has it: "alice (2)"), and as later renames leave it.
func (c *Client) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// Room returns the room joined; empty with servers that do not report it (the seed's).
func (c *Client) Room() string { return c.room }

// Members returns the other members of the room, in the order they joined. It never includes this client.
func (c *Client) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Member(nil), c.members...)
}

// Member returns the member with this id.
func (c *Client) Member(id string) (Member, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// WaitMember returns the first member (in join order) for which match is true, waiting for joins until ctx
// ends. It returns ctx's error, or [ErrDisconnected] when the lobby connection ends first.
func (c *Client) WaitMember(ctx context.Context, match func(Member) bool) (Member, error) {
	for {
		c.mu.Lock()
		for _, m := range c.members {
			if match(m) {
				c.mu.Unlock()
				return m, nil
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-c.done:
			return Member{}, c.Err()
		case <-ctx.Done():
			return Member{}, ctx.Err()
		}
	}
}

// Events delivers room changes and incoming requests. It is closed when the lobby connection ends.
// Members present when Dial returned are not announced (see Members). The channel holds 256 events; when the
// reader falls further behind, join/leave events are dropped (Members stays exact) and requests are declined.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the lobby connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the lobby connection is up, [ErrClosed] after Close, or why it was lost (wrapping
// [ErrDisconnected] or a *[ServerError]).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close hangs up every connection of this client and leaves the lobby.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closing = true
	sessions := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()
	for _, s := range sessions {
		s.hangup(ErrClosed)
	}
	c.wmu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	c.wmu.Unlock()
	// The server answers the close; don't wait long for it.
	t := time.AfterFunc(time.Second, func() { c.ws.NetConn().Close() })
	<-c.done
	t.Stop()
	return nil
}

func (c *Client) keepalive() {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
		case <-c.done:
			return
		}
	}
}

// Rename asks a p2plobby server to change this member's display name in place ("" clears it). The server
// settles the final name (cleaned, numbered on a clash) and announces it to the room, this client included:
// [Client.Name] reports it once it arrives. The seed's server does not know rename and answers an error.
func (c *Client) Rename(name string) error {
	b, err := json.Marshal(struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	}{"rename", name})
	if err != nil {
		return err
	}
	return c.write(b)
}

// send writes one signaling message; safe for concurrent use.
func (c *Client) sendMsg(m *sigMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.write(b)
}

func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return nil
}

// relay sends a message of session s to its peer; fromId is set too, which the seed's server needs.
func (c *Client) relay(s *session, m *sigMsg) error {
	m.ToID, m.FromID, m.SID = s.peer.ID, c.id, s.sid
	return c.sendMsg(m)
}

func (c *Client) readLoop() {
	var err error
	c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	for {
		var data []byte
		_, data, err = c.ws.ReadMessage()
		if err != nil {
			break
		}
		c.ws.SetReadDeadline(time.Now().Add(readTimeout))
		var m sigMsg
		if err := json.Unmarshal(data, &m); err != nil {
			c.log.Debug("ignoring a malformed signaling message", "err", err)
			continue
		}
		c.handle(&m)
	}
	c.shutdown(err)
}

// shutdown runs once, when the read loop ends. Sessions still negotiating fail; established Conns stay up.
func (c *Client) shutdown(readErr error) {
	c.ws.Close()
	c.mu.Lock()
	switch {
	case c.closing:
		c.err = ErrClosed
	case closeServerError(readErr) != nil:
		c.err = fmt.Errorf("%w: %w", ErrDisconnected, closeServerError(readErr))
	default:
		c.err = fmt.Errorf("%w: %w", ErrDisconnected, readErr)
	}
	err := c.err
	var pending []*session
	for _, s := range c.sessions {
		if !s.established() {
			pending = append(pending, s)
		}
	}
	c.mu.Unlock()
	for _, s := range pending {
		s.end(err)
	}
	if !errors.Is(err, ErrClosed) {
		c.log.Warn("lobby connection lost", "err", err)
	}
	close(c.events)
	close(c.done)
}

func (c *Client) handle(m *sigMsg) {
	switch m.Kind {
	case kindSelfConnected:
		return
	case kindConnected:
		if m.ID != "" && m.ID != c.id {
			c.memberJoined(Member{ID: m.ID, Name: m.Name})
		}
		return
	case kindDisconnected:
		c.memberLeft(m.ID)
		return
	case kindRenamed:
		c.memberRenamed(m.ID, m.Name)
		return
	case kindICEServers:
		if !c.iceFixed {
			c.setICEServers(m.ICEServers)
		}
		return
	case kindPong:
		select {
		case c.pong <- struct{}{}:
		default:
		}
		return
	case kindError:
		c.serverError(m)
		return
	}
	if m.FromID == "" || (m.ToID != "" && m.ToID != c.id) {
		return // not a relay for us (the seed's server relays without checking)
	}
	c.handleRelay(m)
}

func (c *Client) memberJoined(m Member) {
	c.mu.Lock()
	for i, old := range c.members {
		if old.ID == m.ID {
			c.members[i] = m
			c.mu.Unlock()
			return
		}
	}
	c.members = append(c.members, m)
	c.notifyChangeLocked()
	ready := c.ready
	c.mu.Unlock()
	if ready {
		c.emit(Event{Kind: MemberJoined, Member: m})
	}
}

// memberRenamed applies a p2plobby server's renamed event: same member, new name (this client's own, too).
func (c *Client) memberRenamed(id, name string) {
	c.mu.Lock()
	if id == c.id {
		c.name = name
		c.mu.Unlock()
		return
	}
	var renamed Member
	found := false
	for i := range c.members {
		if c.members[i].ID == id {
			c.members[i].Name = name
			renamed, found = c.members[i], true
			break
		}
	}
	if found {
		c.notifyChangeLocked()
	}
	ready := c.ready
	c.mu.Unlock()
	if found && ready {
		c.emit(Event{Kind: MemberRenamed, Member: renamed})
	}
}

func (c *Client) memberLeft(id string) {
	c.mu.Lock()
	var left Member
	found := false
	for i, m := range c.members {
		if m.ID == id {
			left, found = m, true
			c.members = append(c.members[:i], c.members[i+1:]...)
			break
		}
	}
	var affected []*session
	for _, s := range c.sessions {
		if s.peer.ID == id {
			affected = append(affected, s)
		}
	}
	if found {
		c.notifyChangeLocked()
	}
	ready := c.ready
	c.mu.Unlock()
	if !found {
		return
	}
	for _, s := range affected {
		go s.peerLeft()
	}
	if ready {
		c.emit(Event{Kind: MemberLeft, Member: left})
	}
}

func (c *Client) notifyChangeLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// emit delivers an event without ever blocking the read loop (see Events).
func (c *Client) emit(ev Event) {
	select {
	case c.events <- ev:
	default:
		c.log.Warn("events not read; dropping", "event", ev.Kind.String(), "member", ev.Member.ID)
		if ev.Request != nil {
			ev.Request.Decline()
		}
	}
}

func (c *Client) serverError(m *sigMsg) {
	c.log.Debug("server error", "code", m.Code, "message", m.Message, "toId", m.ToID)
	if m.ToID == "" || m.Code == "rate-limited" {
		return // a dropped candidate or two need not end a negotiation; the connect timeout still applies
	}
	// A relay to that member failed: whatever we were negotiating with it cannot go on.
	c.mu.Lock()
	var affected []*session
	for _, s := range c.sessions {
		if s.peer.ID == m.ToID && !s.established() {
			affected = append(affected, s)
		}
	}
	c.mu.Unlock()
	err := &ServerError{Code: m.Code, Message: m.Message}
	for _, s := range affected {
		if m.Code == "unknown-target" {
			go s.end(fmt.Errorf("%w: %w", ErrUnknownPeer, err))
		} else {
			go s.end(err)
		}
	}
}

func (c *Client) handleRelay(m *sigMsg) {
	from, ok := c.Member(m.FromID)
	if !ok {
		return // from someone who has left: protocol.md says to ignore it
	}
	s := c.findSession(from.ID, m.SID)
	switch {
	case m.Kind == kindRequest:
		if s != nil && s.sid == m.SID {
			return // duplicate
		}
		if mine := c.pendingRequestTo(from.ID); mine != nil {
			// Both asked at once: the lower id's request stands and the other side accepts it (as the browser
			// SDK does). Both have consented, so ours turns into accepting theirs, without an event.
			if c.id < from.ID {
				return
			}
			if in, err := c.newSession(from, m.SID, false); err == nil {
				mine.adoptedBy(in)
			}
			return
		}
		c.incoming(from, m.SID, nil)
	case m.Offer != nil:
		if s == nil {
			// The seed's flow: an offer without a request. It still needs consent.
			c.incoming(from, m.SID, m.Offer)
			return
		}
		s.gotOffer(*m.Offer)
	case s == nil:
		c.log.Debug("relay for no session", "member", from.ID, "sid", m.SID)
	case m.Answer != nil:
		s.gotAnswer(*m.Answer)
	case m.Candidate != nil:
		s.addCandidate(*m.Candidate)
	case m.Kind == kindAccept:
		s.gotAccept()
	case m.Kind == kindDecline:
		go s.end(ErrDeclined) // closing a PeerConnection may take a moment: not in the read loop
	case m.Kind == kindHangup:
		go s.end(ErrHangup)
	}
}

func (c *Client) incoming(from Member, sid string, offer *webrtc.SessionDescription) {
	s, err := c.newSession(from, sid, false)
	if err != nil {
		return
	}
	if offer != nil {
		s.raw = true
		s.gotOffer(*offer)
	}
	c.emit(Event{Kind: IncomingRequest, Member: from, Request: &Request{From: from, s: s}})
}

// pendingRequestTo returns our request to member id that awaits its answer, if any.
func (c *Client) pendingRequestTo(id string) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sessions {
		if s.peer.ID == id && s.offerer && !s.isAgreed() {
			return s
		}
	}
	return nil
}

func sessionKey(peerID, sid string) string { return peerID + "\x00" + sid }

// findSession matches a relay to its session by sender and sid. A message without sid (the seed's clients
// never send one) goes to the only session with that member, if there is exactly one.
func (c *Client) findSession(peerID, sid string) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sessions[sessionKey(peerID, sid)]; ok {
		return s
	}
	if sid != "" {
		return nil
	}
	var found *session
	for _, s := range c.sessions {
		if s.peer.ID == peerID {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}

func (c *Client) newSession(m Member, sid string, offerer bool) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil, ErrClosed
	}
	if c.err != nil {
		return nil, c.err
	}
	s := newSession(c, m, sid, offerer)
	c.sessions[sessionKey(m.ID, sid)] = s
	return s, nil
}

// newRequest registers our request to m, unless m's own request to us awaits an answer, which is returned instead.
// Checking and registering under one lock means a crossing request always meets one of the two: this, or the
// simultaneous-request rule in handleRelay.
func (c *Client) newRequest(m Member) (mine, theirs *session, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil, nil, ErrClosed
	}
	if c.err != nil {
		return nil, nil, c.err
	}
	for _, s := range c.sessions {
		if s.peer.ID == m.ID && !s.offerer && !s.isAnswered() {
			return nil, s, nil
		}
	}
	s := newSession(c, m, newID(16), true)
	c.sessions[sessionKey(m.ID, s.sid)] = s
	return s, nil, nil
}

func (c *Client) removeSession(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[sessionKey(s.peer.ID, s.sid)] == s {
		delete(c.sessions, sessionKey(s.peer.ID, s.sid))
	}
}

// Request asks member id for a connection and, once it accepts, connects to it. It returns [ErrDeclined] if the
// member declines, [ErrPeerLeft] if it leaves, [ErrConnectionFailed] if WebRTC cannot connect within 30 s of the
// accept. Canceling ctx before the answer withdraws the request.
//
// If that member's own request to us is waiting for an answer, or arrives while ours is (both asked at once),
// both have consented: the request of the member with the lower id is accepted, as the browser SDK does, and
// Request returns that connection. The member's pending request is then answered; its event may still be read.
func (c *Client) Request(ctx context.Context, id string) (*Conn, error) {
	m, ok := c.Member(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, id)
	}
	s, theirs, err := c.newRequest(m)
	if err != nil {
		return nil, err
	}
	if theirs != nil {
		return theirs.accept(ctx) // they asked first and await our answer: both have consented
	}
	if err := c.relay(s, &sigMsg{Kind: kindRequest}); err != nil {
		s.end(err)
		return nil, err
	}
	c.log.Debug("request sent", "member", m.ID, "sid", s.sid)
	select {
	case <-s.accepted:
	case theirs := <-s.adopted:
		s.end(errAdopted) // quietly: the other side ignores our request
		return theirs.accept(ctx)
	case <-s.done:
		return nil, s.err
	case <-ctx.Done():
		c.relay(s, &sigMsg{Kind: kindDecline})
		s.end(ctx.Err())
		return nil, ctx.Err()
	}
	return s.connect(ctx)
}

// newID returns n random characters of [A-Za-z0-9_-] (a valid tid and sid).
func newID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&63]
	}
	return string(b)
}

// setICEServers takes the lobby's iceServers (from self-connected, or a refresh) for connections made from now on.
func (c *Client) setICEServers(raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	servers, err := parseICEServers(raw)
	if err != nil {
		c.log.Warn("ignoring the server's iceServers", "err", err)
		return
	}
	c.mu.Lock()
	c.ice = servers
	c.mu.Unlock()
}

// rtcConfig is the configuration of a new peer connection.
func (c *Client) rtcConfig() webrtc.Configuration {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := webrtc.Configuration{ICEServers: c.ice}
	if c.relayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}

// parseICEServers reads the lobby's iceServers: urls may be a string or an array, as in RTCIceServer.
func parseICEServers(raw json.RawMessage) ([]webrtc.ICEServer, error) {
	var in []struct {
		URLs       json.RawMessage `json:"urls"`
		Username   string          `json:"username"`
		Credential string          `json:"credential"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	var out []ICEServer
	for _, s := range in {
		var urls []string
		if err := json.Unmarshal(s.URLs, &urls); err != nil {
			var one string
			if err := json.Unmarshal(s.URLs, &one); err != nil {
				return nil, fmt.Errorf("iceServers: bad urls %s", s.URLs)
			}
			urls = []string{one}
		}
		out = append(out, ICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
	}
	return toPion(out), nil
}

func toPion(servers []ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		ps := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			ps.Credential = s.Credential
		}
		out = append(out, ps)
	}
	return out
}
