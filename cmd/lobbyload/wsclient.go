package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// wsConn is the lobby members' WebSocket client: frames are parsed in place from one read buffer and a message
// is handed out as a slice of it. In a join storm of 10,000 the tool, not the server, was the bottleneck, and
// gorilla/websocket's reader (a reader object and an io.Reader pass per message) took about a third of its CPU.
// Only what a lobby member needs: text messages, fragments, pings answered, close seen as the end.
type wsConn struct {
	c    net.Conn
	buf  []byte // buf[r:w] is read and not yet handed out
	r, w int
	msg  []byte // a fragmented message being put together

	wmu  sync.Mutex // one writer at a time: the reader answers pings
	wbuf []byte
}

const (
	wsReadBuffer = 4096    // grown for a frame that does not fit
	wsReadLimit  = 1 << 20 // the largest message accepted
)

var errWSClosed = errors.New("websocket: closed by the server")

// dialWS connects to u (ws://) through dial and makes the WebSocket handshake within timeout.
func dialWS(ctx context.Context, dial func(ctx context.Context, addr string) (net.Conn, error), u *url.URL, timeout time.Duration) (*wsConn, error) {
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("unsupported scheme %q (ws:// only)", u.Scheme)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := dial(ctx, u.Host)
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) }) // cancellation ends the handshake
	defer stop()
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, wsReadBuffer)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		nc.Close()
		return nil, errors.New("handshake: bad Sec-WebSocket-Accept or Upgrade")
	}
	if !stop() || nc.SetDeadline(time.Time{}) != nil {
		nc.Close()
		return nil, ctx.Err()
	}
	c := &wsConn{c: nc, buf: make([]byte, wsReadBuffer)}
	// The server may have sent frames right behind its answer: keep what bufio already read.
	n, _ := br.Read(c.buf[:br.Buffered()])
	c.w = n
	return c, nil
}

// next returns the next text or binary message; it is valid until the following call.
func (c *wsConn) next() ([]byte, error) {
	for {
		fin, op, payload, ok, err := c.frame()
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := c.fill(); err != nil {
				return nil, err
			}
			continue
		}
		switch op {
		case 0x8: // close
			return nil, errWSClosed
		case 0x9: // ping
			if err := c.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
		case 0xA: // pong
		case 0x1, 0x2, 0x0:
			if op != 0x0 && len(c.msg) > 0 {
				return nil, errors.New("websocket: new message inside a fragmented one")
			}
			if fin && len(c.msg) == 0 {
				if op == 0x0 {
					return nil, errors.New("websocket: continuation without a message")
				}
				return payload, nil
			}
			if len(c.msg)+len(payload) > wsReadLimit {
				return nil, errors.New("websocket: message over the read limit")
			}
			c.msg = append(c.msg, payload...)
			if fin {
				m := c.msg
				c.msg = c.msg[:0]
				return m, nil
			}
		default:
			return nil, fmt.Errorf("websocket: unknown opcode %d", op)
		}
	}
}

// frame takes one whole frame from the buffer; ok is false if it has not all arrived.
func (c *wsConn) frame() (fin bool, op byte, payload []byte, ok bool, err error) {
	b := c.buf[c.r:c.w]
	if len(b) < 2 {
		return false, 0, nil, false, nil
	}
	if b[1]&0x80 != 0 {
		return false, 0, nil, false, errors.New("websocket: masked frame from the server")
	}
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return false, 0, nil, false, nil
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return false, 0, nil, false, nil
		}
		n, h = binary.BigEndian.Uint64(b[2:]), 10
	}
	if n > wsReadLimit {
		return false, 0, nil, false, errors.New("websocket: frame over the read limit")
	}
	if uint64(len(b)-h) < n {
		if need := h + int(n); need > len(c.buf) {
			c.buf = append(c.buf[:cap(c.buf)], make([]byte, need-len(c.buf))...)
		}
		return false, 0, nil, false, nil
	}
	c.r += h + int(n)
	return b[0]&0x80 != 0, b[0] & 0x0f, b[h : h+int(n)], true, nil
}

// fill moves the unread bytes to the front of the buffer and reads more behind them.
func (c *wsConn) fill() error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	n, err := c.c.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

// writeText sends one text message.
func (c *wsConn) writeText(b []byte) error { return c.writeFrame(0x1, b) }

// writeFrame sends one whole frame, masked as a client must.
func (c *wsConn) writeFrame(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	f := append(c.wbuf[:0], 0x80|op)
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = binary.BigEndian.AppendUint64(append(f, 0x80|127), uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], mrand.Uint32()) // a load tool's mask need not be unpredictable
	f = append(f, mask[:]...)
	start := len(f)
	f = append(f, payload...)
	ws.Cipher(f[start:], mask, 0)
	c.wbuf = f
	_, err := c.c.Write(f)
	return err
}

// closeNow sends a close frame if it can within 50 ms, then closes the socket without waiting for the answer.
func (c *wsConn) closeNow() {
	c.c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_ = c.writeFrame(0x8, []byte{0x03, 0xe8}) // 1000, normal closure
	c.c.Close()
}
