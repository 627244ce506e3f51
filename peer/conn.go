package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"
)

// MaxChatBytes is the longest chat text in bytes of UTF-8 (docs/datachannel.md).
const MaxChatBytes = 16 << 10

// Data-channel sizes (docs/datachannel.md, chunks and pacing).
const (
	defaultChunk   = 64 << 10
	maxChunk       = 256 << 10 // also the max-message-size this side announces
	ctrlBuffer     = 16 << 10  // control messages are read into this, or once into maxChunk when larger
	chatBuffer     = 1024
	transferBuffer = 64
	// byeAcked bounds how long a bye waits for SCTP to have the bye (and the verdicts before it) acknowledged by
	// the other side. Over 80 ms with 1% loss a lost packet takes a few round trips to resend: with one bound
	// of 300 ms for everything, a receiver that had the whole file sometimes left before its verdict arrived,
	// and the sender reported the transfer interrupted (1 run in 12). It returns as soon as all is acknowledged.
	byeAcked = 2 * time.Second
	// byeRead bounds the wait that follows, for the other side to read the bye and end the connection: its
	// SCTP has everything by then, and a peer that closes without telling would hold us for all of it.
	byeRead = 300 * time.Millisecond
)

// ChatMessage is a chat message from the other side.
type ChatMessage struct {
	ID   string    // unique per sender
	Text string    // at most MaxChatBytes
	Time time.Time // the sender's clock
}

// Conn is a direct WebRTC connection with one member: chat and file transfers, per docs/datachannel.md.
// It outlives the lobby connection. Its methods are safe for concurrent use; several transfers may run at once.
type Conn struct {
	s    *session
	pc   *webrtc.PeerConnection
	ctrl *channel
	code string
	log  *slog.Logger

	chat      chan ChatMessage
	transfers chan *IncomingTransfer
	ctrlDone  chan struct{} // closed when readControl stops: the control channel has ended

	wmu sync.Mutex // one control message at a time

	mu    sync.Mutex
	agent string
	sas   *sas
	out   map[string]*outgoing
	in    map[string]*IncomingTransfer
}

// newConn starts the control channel's conversation (hello, the verification code's exchange) and returns once
// the code is known, so that VerificationCode is set from the start.
func (s *session) newConn(ctx context.Context, pc *webrtc.PeerConnection, ch *channel) (*Conn, error) {
	c := &Conn{
		s:         s,
		pc:        pc,
		ctrl:      ch,
		log:       s.c.log.With("member", s.peer.ID),
		chat:      make(chan ChatMessage, chatBuffer),
		transfers: make(chan *IncomingTransfer, transferBuffer),
		ctrlDone:  make(chan struct{}),
		out:       make(map[string]*outgoing),
		in:        make(map[string]*IncomingTransfer),
	}
	local, remote, err := dtlsFingerprints(pc)
	if err != nil {
		ch.rwc.Close()
		return nil, s.fail(fmt.Errorf("%w: %w", ErrConnectionFailed, err))
	}
	c.sas = newSAS(s.offerer, local, remote)
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		ch.rwc.Close()
		return nil, s.err
	default:
	}
	s.conn = c
	s.mu.Unlock()
	go c.readControl()
	if err := c.sendCtrl(&ctrlMsg{T: tHello, V: protocolVersion, Agent: agent}); err != nil {
		return nil, s.fail(err)
	}
	if first := c.sas.start(); first != nil {
		if err := c.sendCtrl(first); err != nil {
			return nil, s.fail(err)
		}
	}
	select {
	case <-c.sas.done:
	case <-s.done:
		return nil, s.err
	case <-ctx.Done():
		return nil, s.fail(fmt.Errorf("%w: no verification code: %w", ErrConnectionFailed, context.Cause(ctx)))
	}
	c.mu.Lock()
	c.code, err = c.sas.code, c.sas.err
	c.mu.Unlock()
	if err != nil {
		return nil, s.fail(err)
	}
	c.log.Debug("connected", "sid", s.sid, "code", c.code)
	return c, nil
}

// Peer returns the member at the other end.
func (c *Conn) Peer() Member { return c.s.peer }

// VerificationCode returns the six-digit code ("123 456") that both people should see; read it aloud to rule
// out a man in the middle (docs/datachannel.md, verification code).
func (c *Conn) VerificationCode() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// RemoteAgent returns the agent the other side announced in its hello (e.g. "p2plobby-js/1"); empty until then.
func (c *Conn) RemoteAgent() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agent
}

// Chat delivers the other side's chat messages; it is closed when the Conn ends. It holds 1024 messages;
// when the reader falls further behind, new messages are dropped (and logged) so transfers never stall.
func (c *Conn) Chat() <-chan ChatMessage { return c.chat }

// Transfers delivers the other side's file-transfer proposals: Accept or Decline each. It is closed when the Conn
// ends. Proposals beyond 64 unread ones are declined.
func (c *Conn) Transfers() <-chan *IncomingTransfer { return c.transfers }

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.s.done }

// Err returns nil while connected, then [ErrClosed] (Close was called), [ErrHangup] (the other side hung up)
// or an error wrapping [ErrConnectionFailed].
func (c *Conn) Err() error {
	select {
	case <-c.s.done:
		return c.s.err
	default:
		return nil
	}
}

// Close hangs up: it says bye to the other side and closes the peer connection. Running transfers fail with
// [ErrInterrupted]. Close is idempotent.
func (c *Conn) Close() error {
	c.s.hangup(ErrClosed)
	return nil
}

// SendChat sends a chat message. It does not wait for delivery.
func (c *Conn) SendChat(text string) error {
	if len(text) > MaxChatBytes {
		return ErrChatTooLong
	}
	if !utf8.ValidString(text) {
		return fmt.Errorf("peer: chat text is not valid UTF-8")
	}
	return c.sendCtrl(&ctrlMsg{T: tChat, ID: newID(16), Text: text, TS: time.Now().UnixMilli()})
}

func (c *Conn) sendCtrl(m *ctrlMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.ctrl.rwc.WriteDataChannel(b, true); err != nil {
		if err := c.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%w: %w", ErrConnectionFailed, err)
	}
	return nil
}

// sendBye says bye and gives it a moment to leave before the peer connection closes.
func (c *Conn) sendBye() {
	if c.sendCtrl(&ctrlMsg{T: tBye}) != nil {
		return
	}
	deadline := time.Now().Add(byeAcked)
	for c.ctrl.dc.BufferedAmount() > 0 && time.Now().Before(deadline) {
		select {
		case <-c.ctrlDone: // the other side has read the bye and ended the connection
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Acknowledged is not yet read: closing now could lose the last chat before the bye on a busy machine. The
	// other side ends the connection once it has read the bye (and so everything before it), which stops our
	// reader; wait for that, briefly.
	t := time.NewTimer(byeRead)
	defer t.Stop()
	select {
	case <-c.ctrlDone:
	case <-t.C:
	}
}

// shutdown runs when the session ends: closing the control stream stops readControl.
func (c *Conn) shutdown() { c.ctrl.rwc.Close() }

func (c *Conn) readControl() {
	defer func() {
		close(c.chat)
		close(c.transfers)
		if c.ctrlDone != nil { // nil in tests that build a Conn by hand
			close(c.ctrlDone)
		}
	}()
	buf := make([]byte, ctrlBuffer)
	for {
		n, isString, err := c.ctrl.rwc.ReadDataChannel(buf)
		if errors.Is(err, io.ErrShortBuffer) {
			// pion does not say how large the message is (n is 0) and keeps it queued: read it again into a
			// buffer of the largest message this side accepts.
			if len(buf) < maxChunk {
				buf = make([]byte, maxChunk)
				continue
			}
			c.s.end(fmt.Errorf("%w: control message over %d bytes", ErrProtocol, maxChunk))
			return
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				c.s.end(ErrHangup)
			} else {
				c.s.end(fmt.Errorf("%w: control channel: %w", ErrConnectionFailed, err))
			}
			return
		}
		if !isString {
			continue
		}
		var m ctrlMsg
		err = json.Unmarshal(buf[:n], &m)
		if len(buf) > ctrlBuffer {
			buf = make([]byte, ctrlBuffer) // an idle connection keeps 16 KiB, not 256
		}
		if err != nil {
			// An offer whose fields have the wrong types is still an offer: decline it, or its sender waits for
			// an answer forever. (Unmarshal fills in what fits, so t and tid are known.)
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) && m.T == tFiles {
				m.Files = nil
				c.proposed(&m)
			}
			c.log.Debug("ignoring a malformed control message", "err", err)
			continue
		}
		if m.T == tBye {
			c.s.end(ErrHangup)
			return
		}
		c.handle(&m)
	}
}

func (c *Conn) handle(m *ctrlMsg) {
	switch m.T {
	case tHello:
		c.mu.Lock()
		c.agent = m.Agent
		c.mu.Unlock()
	case tChat:
		if len(m.Text) > MaxChatBytes {
			c.log.Debug("dropping an oversized chat message", "bytes", len(m.Text))
			return
		}
		msg := ChatMessage{ID: m.ID, Text: m.Text, Time: time.UnixMilli(m.TS)}
		select {
		case c.chat <- msg:
		default:
			c.log.Warn("chat not read; dropping a message")
		}
	case tSASCommit, tSASNonce, tSASReveal:
		c.mu.Lock()
		reply, err := c.sas.receive(m)
		c.mu.Unlock()
		if err != nil {
			c.s.end(err)
			return
		}
		if reply != nil {
			if err := c.sendCtrl(reply); err != nil {
				c.s.end(err)
			}
		}
	case tFiles:
		c.proposed(m)
	case tAccept, tDecline, tCancel, tReceived, tFailed:
		c.mu.Lock()
		out, in := c.out[m.TID], c.in[m.TID]
		c.mu.Unlock()
		if out != nil {
			out.deliver(m)
		}
		if in != nil && m.T == tCancel {
			in.canceledBySender(m.Reason)
		}
	default:
		// unknown types are ignored (forward compatibility)
	}
}

// fileChannel hands an incoming file:<tid> channel to its accepted transfer.
func (c *Conn) fileChannel(tid string, ch *channel) bool {
	c.mu.Lock()
	t := c.in[tid]
	c.mu.Unlock()
	return t != nil && t.gotChannel(ch)
}

// chunkSize is 64 KiB unless the remote's max-message-size is smaller (docs/datachannel.md).
func (c *Conn) chunkSize() int {
	size := defaultChunk
	if sctp := c.pc.SCTP(); sctp != nil {
		if m := int(sctp.GetCapabilities().MaxMessageSize); m > 0 && m < size {
			size = m
		}
	}
	return size
}
