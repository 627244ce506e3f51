package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"
)

// maxPendingCandidates bounds the candidates queued before the remote description; a real peer sends a few dozen.
const maxPendingCandidates = 256

var (
	errConnectTimeout = fmt.Errorf("%w: timed out", ErrConnectionFailed)
	errAdopted        = errors.New("peer: request replaced by the other side's")
)

// session is one request → PeerConnection lifecycle with one member, identified by (member, sid).
// The Client's read loop feeds it without ever blocking; Request and Request.Accept drive it.
type session struct {
	c       *Client
	peer    Member
	sid     string
	offerer bool // this side sent the request: it creates the PeerConnection, the control channel and the offer
	raw     bool // the request was the seed's bare offer: answer without an accept message

	accepted chan struct{}
	adopted  chan *session // their simultaneous request, which replaces ours
	offer    chan webrtc.SessionDescription
	answer   chan webrtc.SessionDescription
	ctrl     chan *channel // the control channel once open
	done     chan struct{}
	err      error // set before done is closed

	acceptOnce sync.Once
	endOnce    sync.Once

	mu        sync.Mutex
	pc        *webrtc.PeerConnection
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	conn      *Conn
	agreed    bool  // both sides agreed to connect (accept sent or received)
	answered  bool  // an incoming request was accepted or declined
	closing   error // set by hangup: the reason end will record
}

// channel is an open data channel: the pion handle (buffered amount, events) and the detached stream.
type channel struct {
	dc  *webrtc.DataChannel
	rwc datachannel.ReadWriteCloser
}

func newSession(c *Client, m Member, sid string, offerer bool) *session {
	return &session{
		c:        c,
		peer:     m,
		sid:      sid,
		offerer:  offerer,
		accepted: make(chan struct{}),
		adopted:  make(chan *session, 1),
		offer:    make(chan webrtc.SessionDescription, 1),
		answer:   make(chan webrtc.SessionDescription, 1),
		ctrl:     make(chan *channel, 1),
		done:     make(chan struct{}),
	}
}

func (s *session) established() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

func (s *session) gotAccept() {
	if !s.offerer {
		return
	}
	s.acceptOnce.Do(func() {
		s.mu.Lock()
		s.agreed = true
		s.mu.Unlock()
		close(s.accepted)
	})
}

func (s *session) isAgreed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.agreed
}

func (s *session) isAnswered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answered
}

// adoptedBy hands the other side's simultaneous request to our waiting Request call.
func (s *session) adoptedBy(theirs *session) {
	select {
	case s.adopted <- theirs:
	default:
		go theirs.end(ErrDeclined)
	}
}

func (s *session) gotOffer(d webrtc.SessionDescription) {
	if s.offerer {
		return
	}
	select {
	case s.offer <- d:
	default:
		s.c.log.Debug("ignoring a second offer (renegotiation is not supported)", "member", s.peer.ID)
	}
}

func (s *session) gotAnswer(d webrtc.SessionDescription) {
	if !s.offerer {
		return
	}
	select {
	case s.answer <- d:
	default:
	}
}

// addCandidate applies a remote candidate, or queues it until the remote description is set.
func (s *session) addCandidate(init webrtc.ICECandidateInit) {
	if init.Candidate == "" {
		return // end of candidates
	}
	s.mu.Lock()
	if s.pc == nil || !s.remoteSet {
		if len(s.pending) < maxPendingCandidates {
			s.pending = append(s.pending, init)
		}
		s.mu.Unlock()
		return
	}
	pc := s.pc
	s.mu.Unlock()
	if err := pc.AddICECandidate(init); err != nil {
		s.c.log.Debug("bad remote candidate", "member", s.peer.ID, "err", err)
	}
}

func (s *session) setRemote(pc *webrtc.PeerConnection, d webrtc.SessionDescription) error {
	if err := pc.SetRemoteDescription(d); err != nil {
		return fmt.Errorf("%w: remote description: %w", ErrConnectionFailed, err)
	}
	s.mu.Lock()
	s.remoteSet = true
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, init := range pending {
		if err := pc.AddICECandidate(init); err != nil {
			s.c.log.Debug("bad remote candidate", "member", s.peer.ID, "err", err)
		}
	}
	return nil
}

// peerLeft: before the connection exists it cannot happen any more; after, the direct link may outlive the
// lobby, unless ICE already lost it (then don't wait for ICE's failed timeout).
func (s *session) peerLeft() {
	s.mu.Lock()
	pc, conn := s.pc, s.conn
	s.mu.Unlock()
	if conn == nil {
		s.end(ErrPeerLeft)
		return
	}
	switch pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
		s.end(fmt.Errorf("%w: %w", ErrConnectionFailed, ErrPeerLeft))
	}
}

// end finishes the session once: it records err, closes the PeerConnection and wakes every waiter.
func (s *session) end(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		if s.closing != nil {
			err = s.closing // this side hung up; what the other side does meanwhile is a consequence
		}
		s.mu.Unlock()
		s.err = err
		close(s.done)
		s.c.removeSession(s)
		s.mu.Lock()
		pc, conn := s.pc, s.conn
		s.mu.Unlock()
		if conn != nil {
			conn.shutdown()
		}
		if pc != nil {
			if cerr := pc.Close(); cerr != nil {
				s.c.log.Debug("closing peer connection", "member", s.peer.ID, "err", cerr)
			}
		}
		s.c.log.Debug("session ended", "member", s.peer.ID, "sid", s.sid, "err", err)
	})
}

// hangup tells the other side (bye on the control channel, hangup or decline through the lobby) and ends.
func (s *session) hangup(err error) {
	select {
	case <-s.done:
		return
	default:
	}
	s.mu.Lock()
	conn, agreed := s.conn, s.agreed
	if s.closing == nil {
		s.closing = err
	}
	s.mu.Unlock()
	if conn != nil {
		conn.sendBye()
	}
	kind := kindDecline // withdraws our request, or refuses theirs
	if agreed {
		kind = kindHangup
	}
	s.c.relay(s, &sigMsg{Kind: kind})
	s.end(err)
}

// fail ends a connection attempt, telling the other side.
func (s *session) fail(err error) error {
	s.hangup(err)
	return err
}

func waitFor[T any](ctx context.Context, s *session, ch <-chan T) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-s.done:
		return zero, s.err
	case <-ctx.Done():
		return zero, context.Cause(ctx)
	}
}

func (s *session) newPC() (*webrtc.PeerConnection, error) {
	pc, err := s.c.api.NewPeerConnection(s.c.rtcConfig())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnectionFailed, err)
	}
	// Media is never used: a track the other side sends anyway (the offers' video section is only there for
	// Chromium's socket buffer, see addReceiveBufferHint) is stopped rather than buffered.
	pc.OnTrack(func(_ *webrtc.TrackRemote, r *webrtc.RTPReceiver) { _ = r.Stop() })
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		if err := s.c.relay(s, &sigMsg{Candidate: &init}); err != nil {
			s.c.log.Debug("sending candidate", "member", s.peer.ID, "err", err)
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.c.log.Debug("connection state", "member", s.peer.ID, "state", st.String())
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			go s.end(ErrConnectionFailed) // not from inside pion's callback
		}
	})
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if st == webrtc.ICEConnectionStateDisconnected {
			if _, ok := s.c.Member(s.peer.ID); !ok {
				go s.end(fmt.Errorf("%w: %w", ErrConnectionFailed, ErrPeerLeft))
			}
		}
	})
	pc.OnDataChannel(s.onDataChannel)
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		pc.Close()
		return nil, s.err
	default:
	}
	s.pc = pc
	s.mu.Unlock()
	return pc, nil
}

func (s *session) onDataChannel(dc *webrtc.DataChannel) {
	label := dc.Label()
	switch {
	case label == controlLabel && !s.offerer:
		s.watchControl(dc)
	case strings.HasPrefix(label, fileLabelPrefix):
		dc.OnOpen(func() {
			rwc, err := dc.Detach()
			if err != nil {
				return
			}
			s.mu.Lock()
			conn := s.conn
			s.mu.Unlock()
			if conn == nil || !conn.fileChannel(strings.TrimPrefix(label, fileLabelPrefix), &channel{dc, rwc}) {
				rwc.Close()
			}
		})
	default:
		dc.OnOpen(func() {
			if rwc, err := dc.Detach(); err == nil {
				rwc.Close()
			}
		})
	}
}

func (s *session) watchControl(dc *webrtc.DataChannel) {
	dc.OnOpen(func() {
		rwc, err := dc.Detach()
		if err != nil {
			go s.end(fmt.Errorf("%w: %w", ErrConnectionFailed, err))
			return
		}
		select {
		case s.ctrl <- &channel{dc, rwc}:
		default:
			rwc.Close()
		}
	})
}

// connect runs the requester's side after the accept: PeerConnection, control channel, offer, answer.
func (s *session) connect(ctx context.Context) (*Conn, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, s.c.connectTimeout, errConnectTimeout)
	defer cancel()
	pc, err := s.newPC()
	if err != nil {
		return nil, s.fail(err)
	}
	dc, err := pc.CreateDataChannel(controlLabel, nil) // ordered, reliable
	if err != nil {
		return nil, s.fail(fmt.Errorf("%w: %w", ErrConnectionFailed, err))
	}
	s.watchControl(dc)
	addReceiveBufferHint(pc, s.c.log)
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		return nil, s.fail(fmt.Errorf("%w: offer: %w", ErrConnectionFailed, err))
	}
	if err := s.c.relay(s, &sigMsg{Offer: &offer}); err != nil {
		return nil, s.fail(err)
	}
	answer, err := waitFor(ctx, s, s.answer)
	if err != nil {
		return nil, s.fail(err)
	}
	if err := s.setRemote(pc, answer); err != nil {
		return nil, s.fail(err)
	}
	ch, err := waitFor(ctx, s, s.ctrl)
	if err != nil {
		return nil, s.fail(err)
	}
	return s.newConn(ctx, pc, ch)
}

// accept runs the accepter's side: accept, then answer the requester's offer.
func (s *session) accept(ctx context.Context) (*Conn, error) {
	s.mu.Lock()
	if s.answered {
		s.mu.Unlock()
		return nil, errors.New("peer: request already answered")
	}
	s.answered, s.agreed = true, true
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil, s.err
	default:
	}

	ctx, cancel := context.WithTimeoutCause(ctx, s.c.connectTimeout, errConnectTimeout)
	defer cancel()
	if !s.raw {
		if err := s.c.relay(s, &sigMsg{Kind: kindAccept}); err != nil {
			return nil, s.fail(err)
		}
	}
	offer, err := waitFor(ctx, s, s.offer)
	if err != nil {
		return nil, s.fail(err)
	}
	pc, err := s.newPC()
	if err != nil {
		return nil, s.fail(err)
	}
	if err := s.setRemote(pc, offer); err != nil {
		return nil, s.fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(answer)
	}
	if err != nil {
		return nil, s.fail(fmt.Errorf("%w: answer: %w", ErrConnectionFailed, err))
	}
	if err := s.c.relay(s, &sigMsg{Answer: &answer}); err != nil {
		return nil, s.fail(err)
	}
	ch, err := waitFor(ctx, s, s.ctrl)
	if err != nil {
		return nil, s.fail(err)
	}
	return s.newConn(ctx, pc, ch)
}

func (s *session) decline() error {
	s.mu.Lock()
	if s.answered {
		s.mu.Unlock()
		return errors.New("peer: request already answered")
	}
	s.answered = true
	s.mu.Unlock()
	err := s.c.relay(s, &sigMsg{Kind: kindDecline})
	s.end(ErrDeclined)
	return err
}

// Request is a connection request from another member, delivered as an [IncomingRequest] event.
// Answer it with Accept or Decline, once.
type Request struct {
	From Member // who asks
	s    *session
}

// Accept agrees to the request and connects. It returns when the data channels are open, or fails with
// [ErrConnectionFailed] after 30 s, or [ErrDeclined] if the requester withdrew, or ctx's error.
func (r *Request) Accept(ctx context.Context) (*Conn, error) { return r.s.accept(ctx) }

// Decline refuses the request.
func (r *Request) Decline() error { return r.s.decline() }

// addReceiveBufferHint adds a video section that carries nothing to an offer: a Chromium on the other side gives the
// connection's UDP socket a 1 MiB receive buffer only when the connection has video, and otherwise 64 KiB, which
// overflows (and loses most of a transfer's packets) as soon as more than ~55 datagrams are in flight
// (docs/datachannel.md, "A video section that carries nothing"). pion leaves an inactive section out of its
// offers, so it is recvonly; nothing is sent on it, and a track the other side sends anyway is stopped (newPC).
func addReceiveBufferHint(pc *webrtc.PeerConnection, log *slog.Logger) {
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		log.Debug("offer stays data-only", "err", err)
	}
}
