package transport

import (
	"encoding/binary"
	"io"
	"net"
	"slices"
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
	member *hub.Member

	// Writer state: 0 idle (no goroutine), 1 writing, 2 writing and woken again since the last drain.
	state     atomic.Int32
	closeReq  atomic.Pointer[closeRequest]
	closeSent atomic.Bool
	pingDue   atomic.Bool
	pong      atomic.Pointer[[]byte] // payload of the last client ping, to answer
	wbuf      []byte                 // the writer goroutine's buffer while it runs
	emitFn    func([]byte) bool      // c.emit, bound once so draining allocates nothing

	// Reader goroutine only.
	tokens  float64
	last    time.Time
	dropped int // messages dropped since the token bucket was last full
}

type closeRequest struct {
	code   int
	reason string
	reply  bool // answering the client's close: the socket can go as soon as it is written
}

var (
	_ hub.Conn = (*conn)(nil)
)

// freeBufs keeps a few write buffers for reuse. It is bounded on purpose: a join storm has thousands of writers
// blocked at once, and a sync.Pool would keep all their buffers alive long after the storm.
var freeBufs = make(chan []byte, 64)

// Wake implements hub.Conn: it starts the writer if none is running, or tells the running one to look again.
func (c *conn) Wake() {
	for {
		switch c.state.Load() {
		case 0:
			if c.state.CompareAndSwap(0, 1) {
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

func (c *conn) requestClose(cr *closeRequest) {
	if !c.closeReq.CompareAndSwap(nil, cr) {
		return
	}
	c.Wake()
	time.AfterFunc(closeGrace, func() { c.nc.Close() })
}

func (c *conn) ping() {
	c.pingDue.Store(true)
	c.Wake()
}

// writeLoop runs while the connection has output: each round takes what is pending (control frames and the
// hub's frames, up to writeChunk bytes) and writes it at once, so a burst of events costs one syscall, not
// one per event. It holds one pooled buffer while it runs and nothing once it exits.
func (c *conn) writeLoop() {
	c.s.writerStarted()
	defer c.s.writers.Add(-1)
	c.wbuf = getBuf()
	for {
		c.state.Store(1)
		if cr := c.closeReq.Load(); cr != nil {
			c.writeClose(cr)
			return
		}
		c.wbuf = c.wbuf[:0]
		if c.pingDue.Swap(false) {
			c.wbuf = appendFrame(c.wbuf, ws.OpPing, nil)
		}
		if p := c.pong.Swap(nil); p != nil {
			c.wbuf = appendFrame(c.wbuf, ws.OpPong, *p)
		}
		c.member.Drain(c.emitFn)
		if len(c.wbuf) == 0 {
			// Release the buffer before giving up the writer role: the next writer may start at once.
			putBuf(c.wbuf)
			c.wbuf = nil
			if c.state.CompareAndSwap(1, 0) {
				return
			}
			c.wbuf = getBuf() // woken since the drain
			continue
		}
		if !c.write(c.wbuf) {
			return // the socket is closed; the reader sees it and the member leaves
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
		c.nc.Close()
		return false
	}
	return true
}

func (c *conn) writeClose(cr *closeRequest) {
	c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	c.nc.Write(appendFrame(nil, ws.OpClose, closeBody(cr.code, cr.reason)))
	c.closeSent.Store(true)
	if cr.reply {
		c.nc.Close()
		return
	}
	closeWrite(c.nc) // the reader keeps going until the client answers the close
}

// readLoop reads frames until the connection ends, then removes the member.
func (c *conn) readLoop(br io.Reader) {
	defer c.s.admitted.Done()
	defer c.finish()
	if p, ok := br.(*pollReader); ok {
		defer p.release()
	}
	var hdr [ws.MaxHeaderSize - 2]byte
	var ctl [125]byte
	var msg []byte
	var msgOp ws.OpCode
	maxSize := c.s.cfg.MaxMessageSize
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		h, err := ws.ReadHeaderBuffer(br, hdr[:])
		if err != nil {
			return
		}
		if !h.Masked || h.Rsv != 0 || h.OpCode.IsReserved() {
			c.Close(protocol.CloseProtocolError, "bad frame: unmasked, reserved bits or reserved opcode")
			return
		}
		if h.OpCode.IsControl() {
			if !h.Fin || h.Length > int64(len(ctl)) {
				c.Close(protocol.CloseProtocolError, "bad control frame")
				return
			}
			p := ctl[:h.Length]
			if _, err := io.ReadFull(br, p); err != nil {
				return
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
				return
			}
			continue
		}
		if h.OpCode == ws.OpContinuation {
			if msgOp == 0 {
				c.Close(protocol.CloseProtocolError, "continuation frame without a message")
				return
			}
		} else {
			if msgOp != 0 {
				c.Close(protocol.CloseProtocolError, "new message inside a fragmented one")
				return
			}
			msgOp, msg = h.OpCode, msg[:0]
		}
		if int64(len(msg))+h.Length > maxSize {
			c.Close(protocol.CloseTooBig, "message too big")
			return
		}
		n := len(msg)
		msg = slices.Grow(msg, int(h.Length))[:n+int(h.Length)]
		if _, err := io.ReadFull(br, msg[n:]); err != nil {
			return
		}
		ws.Cipher(msg[n:], h.Mask, 0)
		if !h.Fin {
			continue
		}
		op := msgOp
		msgOp = 0
		if !c.handle(op, msg) {
			return
		}
		if cap(msg) > 4096 {
			msg = nil // an idle connection keeps no large buffer
		}
	}
}

// handle applies the rate limit and hands a complete message to the hub; false ends the connection.
func (c *conn) handle(op ws.OpCode, msg []byte) bool {
	if !c.allow() {
		return c.closeReq.Load() == nil
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
	now := time.Now()
	c.tokens += now.Sub(c.last).Seconds() * cfg.Rate
	c.last = now
	if c.tokens >= float64(cfg.Burst) {
		c.tokens = float64(cfg.Burst)
		c.dropped = 0
	}
	if c.tokens >= 1 {
		c.tokens--
		return true
	}
	c.dropped++
	switch {
	case c.dropped > cfg.Burst:
		c.Close(protocol.CloseFlood, "message rate over limit")
	case c.dropped == 1:
		c.member.Send(errRateLimited)
	}
	return false
}

// finish runs when the reader stops: the member leaves (everyone is told) and the socket is released.
func (c *conn) finish() {
	c.member.Leave()
	c.s.untrack(c)
	// A close frame still to be written keeps the socket until the writer or the grace timer closes it.
	if c.closeReq.Load() == nil || c.closeSent.Load() {
		c.nc.Close()
	}
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
