package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// lobby is the shared state of one run: the table of member ids, the "everyone has seen everyone" tracking,
// and the first fatal error. Each member's view is owned by its reader goroutine; the main goroutine reads it
// only after the readers have stopped.
type lobby struct {
	cfg    *config
	dialer *websocket.Dialer
	want   int // how many others each member must see: members-1

	// ids maps every id seen to a small index, so a member's view is a bitset (5000 members × 5000 ids as
	// maps of strings would take gigabytes; as bitsets it is 3 MB).
	idMu sync.RWMutex
	ids  map[string]int32
	// byIdx is each index's id, for indexAfter's guess (read without the lock; written once, under it).
	byIdx []atomic.Pointer[string]

	start    time.Time     // first dial
	pending  atomic.Int64  // members whose view is not complete yet
	doneAt   atomic.Int64  // ns after start when pending first reached 0
	done     chan struct{} // closed when pending first reaches 0
	doneOnce sync.Once
	frozen   atomic.Bool // set before teardown: readers stop applying events

	ctx    context.Context
	cancel context.CancelCauseFunc
	readWG sync.WaitGroup

	errMu   sync.Mutex
	errs    []string
	nerrs   int
	onRelay func(m *member, k msgKind, from []byte) // relay scenario hook, called from the reader
}

func newLobby(ctx context.Context, cfg *config, members int) *lobby {
	l := &lobby{
		cfg:    cfg,
		want:   members - 1,
		ids:    make(map[string]int32, members),
		byIdx:  make([]atomic.Pointer[string], members),
		done:   make(chan struct{}),
		dialer: newDialer(cfg),
	}
	l.pending.Store(int64(members))
	l.ctx, l.cancel = context.WithCancelCause(ctx)
	return l
}

// handshakeTimeout bounds a dial and its WebSocket handshake: generous, as a loaded 2-core machine can stall a
// server for seconds.
const handshakeTimeout = 30 * time.Second

// dialLoopback dials the checked loopback address of a URL's host, whatever the host resolves to.
func (c *config) dialLoopback(ctx context.Context, host string) (net.Conn, error) {
	dial, ok := c.dialAddrs[host]
	if !ok {
		return nil, fmt.Errorf("no checked loopback address for %s", host)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", dial)
}

// newDialer returns the gorilla/websocket dialer of the PeerJS and soak scenarios.
func newDialer(cfg *config) *websocket.Dialer {
	return &websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return cfg.dialLoopback(ctx, addr)
		},
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  2048,         // a relay message (~1.2 KB) fits in one frame
		WriteBufferPool:  &sync.Pool{}, // idle members hold no write buffer
	}
}

// fail records a fatal error and stops the run.
func (l *lobby) fail(err error) {
	l.errorf("%v", err)
	l.cancel(err)
}

// errorf records a non-fatal error (a wrong event, an error message from the server).
func (l *lobby) errorf(format string, args ...any) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	l.nerrs++
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
}

// copyErrors moves the recorded errors into the report.
func (l *lobby) copyErrors(rep *report) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	for _, e := range l.errs {
		rep.errorf("%s", e)
	}
	rep.nerrs += l.nerrs - len(l.errs)
}

// index returns the index of an id, assigning the next one on first sight.
func (l *lobby) index(id []byte) int32 {
	l.idMu.RLock()
	i, ok := l.ids[string(id)] // no allocation: the compiler recognises map[string(bytes)]
	l.idMu.RUnlock()
	if ok {
		return i
	}
	l.idMu.Lock()
	defer l.idMu.Unlock()
	if i, ok := l.ids[string(id)]; ok {
		return i
	}
	i = int32(len(l.ids))
	key := string(id)
	l.ids[key] = i
	if int(i) < len(l.byIdx) {
		l.byIdx[i].Store(&key)
	}
	return i
}

// indexAfter is index, trying prev+1 first: a member hears of the others in about the order they got their
// indexes (the order they joined), and comparing one id is much cheaper than the map's lookup, which took a
// fifth of the tool's CPU in a join storm of 10,000 (the tool, not the server, limited that benchmark).
func (l *lobby) indexAfter(id []byte, prev int32) int32 {
	if g := int(prev) + 1; g < len(l.byIdx) {
		if p := l.byIdx[g].Load(); p != nil && *p == string(id) {
			return int32(g)
		}
	}
	return l.index(id)
}

// finished reports a member's view becoming complete (or incomplete again).
func (l *lobby) finished(complete bool) {
	if !complete {
		l.pending.Add(1)
		return
	}
	if l.pending.Add(-1) == 0 {
		l.doneOnce.Do(func() {
			l.doneAt.Store(int64(time.Since(l.start)))
			close(l.done)
		})
	}
}

// member is one client connection and its view of the room.
type member struct {
	l      *lobby
	n      int // dial order
	conn   *wsConn
	selfCh chan struct{} // closed when self-connected arrives

	// Owned by the reader goroutine; read by main after readWG.Wait.
	id        string
	idx       int32
	ready     bool
	seen      bitset
	count     int
	connected int64 // connected events received
	last      int32 // index of the last connected event, for indexAfter
	pair      atomic.Pointer[pair]
}

// dial connects member n and starts its reader.
func (l *lobby) dial(ctx context.Context, n int) (*member, error) {
	conn, err := dialWS(ctx, l.cfg.dialLoopback, l.cfg.urls[n%len(l.cfg.urls)], handshakeTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial member %d: %w", n, err)
	}
	m := &member{l: l, n: n, conn: conn, idx: -1, last: -1, selfCh: make(chan struct{}), seen: newBitset(l.want + 1)}
	l.readWG.Add(1)
	go m.read()
	return m, nil
}

// dialAll connects n members with at most --dial-concurrency dials in flight, and returns them with each
// dial's latency (WebSocket handshake included); it stops at the first failure.
func (l *lobby) dialAll(n int) ([]*member, []time.Duration) {
	members := make([]*member, n)
	latency := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(l.cfg.concurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				m, err := l.dial(l.ctx, i)
				if err != nil {
					if l.ctx.Err() == nil {
						l.fail(err)
					}
					return
				}
				members[i], latency[i] = m, time.Since(t)
			}
		}()
	}
	wg.Wait()
	return members, latency
}

// read is the member's only reader: it applies lobby events to the view and hands relays to onRelay.
func (m *member) read() {
	defer m.l.readWG.Done()
	for {
		msg, err := m.conn.next()
		if m.l.frozen.Load() {
			return
		}
		if err != nil {
			if m.l.ctx.Err() == nil {
				m.l.fail(fmt.Errorf("member %d: connection lost: %w", m.n, err))
			}
			return
		}
		m.handle(msg)
	}
}

// readAll appends one message to buf, reusing its memory across messages.
func readAll(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (m *member) handle(msg []byte) {
	l := m.l
	k, arg := classify(msg)
	switch k {
	case kindSelf:
		if m.ready {
			l.errorf("member %d: second self-connected", m.n)
			return
		}
		m.id, m.idx, m.ready = string(arg), l.index(arg), true
		close(m.selfCh)
		if m.count == l.want {
			l.finished(true)
		}
	case kindConnected:
		m.connected++
		i := l.indexAfter(arg, m.last)
		m.last = i
		switch {
		case !m.ready:
			l.errorf("member %d: connected event before self-connected", m.n)
		case i == m.idx:
			l.errorf("member %d: told about itself joining", m.n)
		case m.seen.has(i):
			l.errorf("member %d: duplicate connected for %s", m.n, arg)
		default:
			m.seen.set(i)
			m.setCount(m.count + 1)
		}
	case kindDisconnected:
		i := l.index(arg)
		if !m.seen.has(i) {
			l.errorf("member %d: disconnected for %s, which it did not know", m.n, arg)
			return
		}
		m.seen.clear(i)
		m.setCount(m.count - 1)
	case kindOffer, kindAnswer:
		if l.onRelay != nil {
			l.onRelay(m, k, arg)
		} else {
			l.errorf("member %d: unexpected relay message", m.n)
		}
	case kindError:
		l.errorf("member %d: server error %q: %.200s", m.n, arg, msg)
	}
}

func (m *member) setCount(c int) {
	was := m.ready && m.count == m.l.want
	m.count = c
	now := m.ready && m.count == m.l.want
	if now != was {
		m.l.finished(now)
	}
}

// write sends one text message.
func (m *member) write(b []byte) error { return m.conn.writeText(b) }

// teardown stops the readers and closes every connection; afterwards the views may be read.
func (l *lobby) teardown(members []*member) {
	l.frozen.Store(true)
	for _, m := range members {
		if m != nil {
			m.conn.closeNow() // a polite close frame, but never a wait for the answer
		}
	}
	l.readWG.Wait()
	l.cancel(errTornDown)
}

// errTornDown is the lobby context's cause after a teardown that followed no failure.
var errTornDown = errors.New("torn down")

// bitset is a set of small integers.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) has(i int32) bool {
	w := int(i) / 64
	return w < len(b) && b[w]&(1<<(uint(i)%64)) != 0
}

func (b *bitset) set(i int32) {
	w := int(i) / 64
	for w >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint(i) % 64)
}

func (b bitset) clear(i int32) {
	if w := int(i) / 64; w < len(b) {
		b[w] &^= 1 << (uint(i) % 64)
	}
}
