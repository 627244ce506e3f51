package transport

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

// closeGrace is how long a closing connection may take to exchange close frames before the socket is cut.
const closeGrace = 2 * time.Second

// writeChunk is how many bytes of frames are gathered for one write. It bounds what a writer blocked on a slow
// client holds; a big backlog is written in several rounds.
const writeChunk = 4 << 10

// conn is one WebSocket client. It implements hub.Conn.
type conn struct {
	s      *Server
	nc     net.Conn
	ip     string
	host   string  // the Host the client used: ICE server URLs name it
	pj     *pjConn // a PeerJS client (peerjs.go); nil for the lobby's own protocol
	member *hub.Member
	iceDue atomic.Int64 // unix nanoseconds when the member's ICE servers need refreshing; 0: never

	// Writer state: 0 idle (no writer), 1 writing (a writer goroutine, or Flush in another goroutine),
	// 2 writing and woken again since the last drain, 3 idle and queued on the pump.
	state     atomic.Int32
	closeSent atomic.Bool
	graceOver atomic.Bool // the close grace has passed: whoever is last closes the socket
	readEnded atomic.Bool
	pingDue   atomic.Bool
	fixed     bool // the member's name came from its join token (hub.NameFixer)
	readDone  bool // reader state, as below
	msgOp     ws.OpCode
	closeReq  atomic.Pointer[closeRequest]
	pong      atomic.Pointer[[]byte] // payload of the last client ping, to answer
	wbuf      []byte                 // the writer's buffer while it writes
	emitFn    func([]byte) bool      // c.emit, bound once so draining allocates nothing

	// Reader state: touched by one reading goroutine at a time (readMu hands it from one burst to the next).
	readMu   sync.Mutex
	rd       io.Reader    // sock on sockets, else a bufio.Reader
	sock     *rawSocket   // nil when the connection is not a socket (or not on Unix)
	token    uint64       // the poller's key for this connection; 0 when not polled
	msg      []byte       // the message being read
	rate     bucket       // messages (Config.Rate, Burst); 16 bytes where a time.Time alone took 24
	dropped  int          // messages dropped since the token bucket was last full
	lastRead atomic.Int64 // unix nanoseconds when the last frame began; the keepalive cuts silent clients
}

type closeRequest struct {
	code   int
	reason string
	reply  bool   // answering the client's close: the socket can go as soon as it is written
	last   []byte // a text frame to send just before the close frame (hub.FinalCloser)
}

var (
	_ hub.Conn      = (*conn)(nil)
	_ hub.Flusher   = (*conn)(nil)
	_ hub.ICESource = (*conn)(nil)
)

// ICEServers implements hub.ICESource: the member's own servers, from Config.ICE.
// NameFixed tells the hub that the member's name came from its join token, so renames are refused.
func (c *conn) NameFixed() bool { return c.fixed }

func (c *conn) ICEServers(memberID string) json.RawMessage {
	ice := c.s.cfg.ICE
	if ice == nil {
		return nil
	}
	servers, refresh := ice.Join(memberID, c.host)
	c.setICEDue(refresh)
	return servers
}

func (c *conn) setICEDue(t time.Time) {
	if t.IsZero() {
		c.iceDue.Store(0)
	} else {
		c.iceDue.Store(t.UnixNano())
	}
}

// refreshICE sends the member fresh ICE servers if its current ones are due; the keepalive calls it.
func (c *conn) refreshICE(now int64) {
	if due := c.iceDue.Load(); due == 0 || now < due {
		return
	}
	servers, refresh := c.s.cfg.ICE.Refresh(c.member.ID(), c.host)
	c.setICEDue(refresh)
	if servers != nil {
		c.member.Send(protocol.ICEServersUpdate(servers))
	}
}

// leave takes the member out of the lobby and out of TURN.
func (c *conn) leave() {
	c.member.Leave()
	if ice := c.s.cfg.ICE; ice != nil && c.pj == nil { // a PeerJS id is chosen by its client: it names no TURN user
		ice.Leave(c.member.ID())
	}
}

// freeBufs keeps a few write buffers for reuse. It is bounded on purpose: a join storm has thousands of writers
// blocked at once, and a sync.Pool would keep all their buffers alive long after the storm.
var freeBufs = make(chan []byte, 64)

// Wake implements hub.Conn. Output in the room log is not urgent, and a join storm wakes every member for each
// join: the connection is queued on its pump (pump.go), which writes it a little later together with whatever
// else arrived by then, so that a storm costs a write per member per round rather than per event.
func (c *conn) Wake() {
	for {
		switch c.state.Load() {
		case 0:
			// c.sock is set before the first writer starts, so state 0 (the first writer ended) orders it.
			if c.sock == nil {
				c.wake() // no non-blocking write without a raw socket: the pump could block on it
				return
			}
			if c.state.CompareAndSwap(0, 3) {
				c.s.pumpOf(c).add(c)
				return
			}
		case 1:
			if c.state.CompareAndSwap(1, 2) {
				return
			}
		default: // 2 or 3: someone will look
			return
		}
	}
}

// wake starts the writer if none is running, or tells the running one to look again.
func (c *conn) wake() {
	for {
		switch st := c.state.Load(); st {
		case 0, 3: // idle or queued on the pump: the pump skips a connection no longer in state 3
			if c.state.CompareAndSwap(st, 1) {
				go c.writeLoop()
				return
			}
		case 1:
			if c.state.CompareAndSwap(1, 2) {
				return
			}
		default:
			return
		}
	}
}

// Close implements hub.Conn: the writer sends a close frame after what it is writing now, and the socket is
// cut after closeGrace in any case (a client that stopped reading never lets the close frame through).
func (c *conn) Close(code int, reason string) {
	c.requestClose(&closeRequest{code: code, reason: reason})
}

// CloseWith implements hub.FinalCloser: Close, with frame sent just before the close frame.
func (c *conn) CloseWith(frame []byte, code int, reason string) {
	c.requestClose(&closeRequest{code: code, reason: reason, last: frame})
}

func (c *conn) requestClose(cr *closeRequest) {
	if !c.closeReq.CompareAndSwap(nil, cr) {
		return
	}
	if !cr.reply {
		c.s.cfg.Observer.Closed(cr.code)
	}
	c.wake()
	time.AfterFunc(closeGrace, func() {
		c.graceOver.Store(true)
		c.cut()
		if c.readEnded.Load() {
			c.nc.Close()
		}
	})
}

// cut ends the connection from the server's side without closing the descriptor under its reader:
// shutting the socket down wakes the reader (polled or blocked) with end-of-file, and it cleans up as for
// any other end. Closing a polled socket instead would silently drop it from the poller, and its member
// would stay in the lobby.
func (c *conn) cut() {
	if c.sock == nil {
		c.nc.Close()
		return
	}
	c.sock.shutdown()
}

func (c *conn) ping() {
	c.pingDue.Store(true)
	c.Wake()
}

// writeLoop runs while the connection has output: each round takes what is pending (control frames and the
// hub's frames, up to writeChunk bytes) and writes it at once, so a burst of events costs one syscall, not
// one per event. It holds one pooled buffer while it runs and nothing once it exits. It starts by writing
// what Flush left in c.wbuf, if anything.
func (c *conn) writeLoop() {
	c.s.writerStarted()
	defer c.s.writers.Add(-1)
	if len(c.wbuf) > 0 && !c.write(c.wbuf) {
		return
	}
	if c.wbuf == nil {
		c.wbuf = getBuf()
	}
	for {
		switch c.fill() {
		case roundClose:
			c.writeClose(c.closeReq.Load())
			return
		case roundNone:
			return
		}
		if !c.write(c.wbuf) {
			return // the socket is closed; the reader sees it and the member leaves
		}
	}
}

// What fill found for the next write round.
const (
	roundNone  = iota // nothing: the writer role is released
	roundData         // frames in c.wbuf
	roundClose        // a close frame is due
)

// fill gathers the next round of output into c.wbuf.
func (c *conn) fill() int {
	for {
		c.state.Store(1)
		c.wbuf = c.wbuf[:0]
		if c.closeReq.Load() != nil {
			return roundClose
		}
		if c.pingDue.Swap(false) {
			c.wbuf = appendFrame(c.wbuf, ws.OpPing, nil)
		}
		if p := c.pong.Swap(nil); p != nil {
			c.wbuf = appendFrame(c.wbuf, ws.OpPong, *p)
		}
		c.member.Drain(c.emitFn)
		if len(c.wbuf) > 0 {
			return roundData
		}
		// Release the buffer before giving up the writer role: the next writer may start at once.
		putBuf(c.wbuf)
		c.wbuf = nil
		if c.state.CompareAndSwap(1, 0) {
			return roundNone
		}
		c.wbuf = getBuf() // woken since the drain
	}
}

// Flush implements hub.Flusher. When no writer is running it takes the writer role in the calling goroutine
// and writes without blocking; a relay then costs no writer goroutine. Whatever the socket does not take at
// once is left to a writer goroutine, so the caller (another member's reader) never waits on this client.
func (c *conn) Flush() {
	if !c.state.CompareAndSwap(0, 1) && !c.state.CompareAndSwap(3, 1) {
		c.wake()
		return
	}
	// Taking the role from state 0 or 3 orders this after the first writer, hence after startConn set c.sock.
	if c.sock == nil {
		go c.writeLoop()
		return
	}
	c.flushOwned()
}

// flushOwned writes without blocking, once the caller has taken the writer role (state 1).
func (c *conn) flushOwned() {
	c.wbuf = getBuf()
	for {
		switch c.fill() {
		case roundClose:
			go c.writeLoop() // the close frame may have to wait for the client
			return
		case roundNone:
			return
		}
		n, err := c.sock.tryWrite(c.wbuf)
		if err != nil {
			c.cut()
			return // as in writeLoop: the writer role stays taken by a connection that is ending
		}
		if n < len(c.wbuf) {
			c.wbuf = c.wbuf[:copy(c.wbuf, c.wbuf[n:])]
			go c.writeLoop()
			return
		}
	}
}

func getBuf() []byte {
	select {
	case b := <-freeBufs:
		return b
	default:
		return nil // grows to what this round needs; most rounds are a few small frames
	}
}

func putBuf(b []byte) {
	if cap(b) < 1024 || cap(b) > 2*writeChunk { // tiny ones are cheap; huge ones (a snapshot) go to the GC
		return
	}
	select {
	case freeBufs <- b[:0]:
	default:
	}
}

// emit frames one hub frame into the write buffer; it asks for more until the buffer holds writeChunk bytes.
func (c *conn) emit(frame []byte) bool {
	c.wbuf = appendFrame(c.wbuf, ws.OpText, frame)
	return len(c.wbuf) < writeChunk
}

func (c *conn) write(b []byte) bool {
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.s.cfg.Logger.Debug("write failed", "member", c.member.ID(), "err", err)
		c.cut()
		return false
	}
	return true
}

func (c *conn) writeClose(cr *closeRequest) {
	c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	var b []byte
	if cr.last != nil {
		b = appendFrame(b, ws.OpText, cr.last)
	}
	c.nc.Write(appendFrame(b, ws.OpClose, closeBody(cr.code, cr.reason)))
	c.closeSent.Store(true)
	if cr.reply {
		c.nc.Close()
		return
	}
	closeWrite(c.nc) // the reader keeps going until the client answers the close
}

// readLoop reads frames until the connection ends, blocking between them. It serves connections the
// poller cannot watch; the others are read by readBurst.
func (c *conn) readLoop() {
	defer c.endRead()
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if !c.readFrame() {
			return
		}
	}
}

// readLinger is how long a reader goroutine waits for more after its connection went quiet, before it
// hands the socket back to the poller and exits.
const readLinger = time.Second

// readBurst runs when the poller saw the socket readable: it reads every frame that is there, then re-arms
// the poller and exits, so an idle connection has no goroutine. A frame (or fragmented message) that has
// only partly arrived is waited for here; the keepalive cuts a client that stalls in the middle of one.
func (c *conn) readBurst() {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readDone {
		return // a late event for a connection that has ended
	}
	// A connection quiet for readLinger before this burst most likely sent one message (a keepalive, a
	// PeerJS HEARTBEAT every 5 s): it goes back to the epoll watch as soon as that is read. Lingering would hold
	// a goroutine for a second per message, and thousands of clients that beat in step would hold thousands of
	// stacks at once. A second message within readLinger marks a stream, which lingers.
	lone := time.Now().UnixNano()-c.lastRead.Load() >= int64(readLinger)
	waited, failed := false, false
	for {
		if c.sock.buffered() == 0 && c.msgOp == 0 {
			if lone && waited {
				c.msg = nil
				if err := c.s.poller.rearm(c); err != nil {
					c.endRead()
				}
				return
			}
			// Between messages, linger on Go's own poller: a busy connection keeps its goroutine and the
			// cheap wake-ups; one quiet for readLinger goes back to the epoll watch, holding no buffers.
			c.nc.SetReadDeadline(time.Now().Add(readLinger)) // sock.Read lifts it if it hits mid-message
			var err error
			if !waited {
				waited = true
				_, err = c.sock.read(nil, true) // the poller saw it readable
			} else {
				var stop bool
				stop, err = c.sock.serve(func() bool {
					if !c.readFrame() {
						failed = true
						return false
					}
					return c.msgOp == 0 // the rest of a fragmented message is read below
				})
				if failed {
					c.endRead()
					return
				}
				if err == nil && (stop || c.sock.buffered() == 0) {
					continue
				}
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if time.Now().UnixNano()-c.lastRead.Load() < int64(readLinger) {
					continue // a deadline set a while ago: the connection was busy until lately
				}
				c.msg = nil
				if err := c.s.poller.rearm(c); err != nil {
					c.endRead()
				}
				return
			}
			if err != nil {
				c.endRead()
				return
			}
		}
		if !c.readFrame() {
			c.endRead()
			return
		}
	}
}

// endRead runs once, when reading stops for good: the member leaves (everyone is told), the poller lets go
// and the socket is released.
func (c *conn) endRead() {
	c.readDone = true
	if c.token != 0 {
		c.s.poller.remove(c)
	}
	if c.sock != nil {
		c.sock.release()
	}
	c.msg = nil
	c.leave()
	by := EndedLost
	if cr := c.closeReq.Load(); cr != nil && cr.reply {
		by = EndedByClient
	} else if cr != nil {
		by = EndedByServer
	}
	c.s.cfg.Observer.Ended(by) // before untrack: once Conns() drops, the end is counted
	c.s.untrack(c)
	// A close frame still to be written keeps the socket until the writer or the grace timer closes it.
	c.readEnded.Store(true)
	if c.closeReq.Load() == nil || c.closeSent.Load() || c.graceOver.Load() {
		c.nc.Close()
	}
	c.s.admitted.Done()
}

// readFrame reads and acts on one frame; false ends the connection.
func (c *conn) readFrame() bool {
	var hdr [ws.MaxHeaderSize - 2]byte
	h, err := ws.ReadHeaderBuffer(c.rd, hdr[:])
	if err != nil {
		return false
	}
	c.lastRead.Store(time.Now().UnixNano())
	if !h.Masked || h.Rsv != 0 || h.OpCode.IsReserved() {
		c.Close(protocol.CloseProtocolError, "bad frame: unmasked, reserved bits or reserved opcode")
		return false
	}
	if h.OpCode.IsControl() {
		var ctl [125]byte
		if !h.Fin || h.Length > int64(len(ctl)) {
			c.Close(protocol.CloseProtocolError, "bad control frame")
			return false
		}
		p := ctl[:h.Length]
		if _, err := io.ReadFull(c.rd, p); err != nil {
			return false
		}
		ws.Cipher(p, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing:
			pong := append([]byte(nil), p...)
			c.pong.Store(&pong)
			c.Wake()
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(p)
			if code == 0 || !validCloseCode(int(code)) {
				code = ws.StatusNormalClosure
			}
			c.requestClose(&closeRequest{code: int(code), reply: true})
			return false
		}
		return true
	}
	if h.OpCode == ws.OpContinuation {
		if c.msgOp == 0 {
			c.Close(protocol.CloseProtocolError, "continuation frame without a message")
			return false
		}
	} else {
		if c.msgOp != 0 {
			c.Close(protocol.CloseProtocolError, "new message inside a fragmented one")
			return false
		}
		c.msgOp, c.msg = h.OpCode, c.msg[:0]
	}
	if int64(len(c.msg))+h.Length > c.s.cfg.MaxMessageSize {
		c.Close(protocol.CloseTooBig, "message too big")
		return false
	}
	n := len(c.msg)
	c.msg = slices.Grow(c.msg, int(h.Length))[:n+int(h.Length)]
	if _, err := io.ReadFull(c.rd, c.msg[n:]); err != nil {
		return false
	}
	ws.Cipher(c.msg[n:], h.Mask, 0)
	if !h.Fin {
		return true
	}
	op := c.msgOp
	c.msgOp = 0
	ok := c.handle(op, c.msg)
	if cap(c.msg) > 4096 {
		c.msg = nil // a large message's buffer is not kept for the next one
	}
	return ok
}

// handle applies the rate limit and hands a complete message to the hub; false ends the connection.
func (c *conn) handle(op ws.OpCode, msg []byte) bool {
	if !c.allow() {
		return c.closeReq.Load() == nil
	}
	if c.pj != nil {
		return c.handlePeerJS(op, msg)
	}
	if op == ws.OpBinary {
		c.member.Send(errBinary)
		return true
	}
	if !utf8.Valid(msg) {
		c.Close(protocol.CloseInvalidData, "text frame is not valid UTF-8")
		return false
	}
	c.member.Handle(msg)
	return true
}

var (
	errBinary      = (&protocol.Error{Code: protocol.CodeBinaryUnsupported, Message: "binary frames are not supported; send JSON text"}).Frame()
	errRateLimited = (&protocol.Error{Code: protocol.CodeRateLimited, Message: "too many messages; some were dropped"}).Frame()
)

// allow is a token bucket (Rate per second, Burst deep). Dropped messages are reported once per episode;
// more than Burst drops before the bucket refills completely is a flood, and closes the connection.
func (c *conn) allow() bool {
	cfg := &c.s.cfg
	now := monotonic()
	if c.rate.level(now, cfg.Rate, cfg.Burst) >= float64(cfg.Burst) {
		c.dropped = 0
	}
	if c.rate.take(now, cfg.Rate, cfg.Burst) {
		return true
	}
	c.dropped++
	switch {
	case c.dropped > cfg.Burst:
		c.Close(protocol.CloseFlood, "message rate over limit")
	case c.dropped == 1 && c.pj != nil:
		c.notice(&protocol.Error{Code: protocol.CodeRateLimited, Message: "too many messages; some were dropped"})
	case c.dropped == 1:
		c.member.Send(errRateLimited)
	}
	return false
}

// appendFrame appends one unmasked, unfragmented server frame.
func appendFrame(b []byte, op ws.OpCode, payload []byte) []byte {
	n := len(payload)
	b = append(b, 0x80|byte(op))
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

func closeBody(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(b, reason...)
}

// validCloseCode reports whether a client may send code (RFC 6455 section 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011, code >= 3000 && code <= 4999:
		return true
	}
	return false
}

func closeWrite(nc net.Conn) {
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
}
