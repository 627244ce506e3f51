package main

// The PeerJS scenarios: the same measurements as join, relay and idle, against a server that speaks PeerServer's
// protocol (npm peer 1.0; p2plobby's /peerjs endpoint, docs/peerjs.md), so both are measured with one tool.
//
//	peerjs-join   --members N clients connect (--dial-concurrency at a time); the time from the first dial until
//	              every client has its OPEN, and the server's RSS after.
//	peerjs-relay  --pairs P pairs: each sender streams CANDIDATE messages to its receiver with at most --window
//	              of them undelivered, for --duration (or --count per pair). Each payload carries a sequence
//	              number and the send time: every message is checked (type, src, dst, sequence: exactly once, in
//	              order) and its one-way latency taken.
//	peerjs-idle   --members N clients connect and send HEARTBEAT every --heartbeat (5 s, as the stock client);
//	              the server's RSS growth per connection --settle after the last OPEN.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// peerjsConfig holds the settings of the PeerJS scenarios.
type peerjsConfig struct {
	path      string        // where the endpoint is mounted: the client's path option
	key       string        // the API key
	window    int           // peerjs-relay: undelivered messages per sender
	heartbeat time.Duration // peerjs-idle: HEARTBEAT interval
}

func (p *peerjsConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&p.path, "peerjs-path", "/peerjs", "peerjs-*: the server's PeerJS path (the client's path option); the socket is {path}/peerjs")
	fs.StringVar(&p.key, "peerjs-key", "peerjs", "peerjs-*: the PeerJS key")
	fs.IntVar(&p.window, "window", 4, "peerjs-relay: messages each sender may have sent but not yet delivered")
	fs.DurationVar(&p.heartbeat, "heartbeat", 5*time.Second, "peerjs-idle: HEARTBEAT interval of every client")
}

// check validates the PeerJS settings and fills in the scenario's defaults.
func (p *peerjsConfig) check(cfg *config, set map[string]bool) error {
	switch cfg.scenario {
	case "peerjs-join":
		if cfg.members == 0 {
			cfg.members = 1000
		}
	case "peerjs-idle":
		if cfg.members == 0 {
			cfg.members = 5000
		}
		if !set["settle"] {
			cfg.settle = 6 * time.Second // past every client's first HEARTBEAT
		}
		if len(cfg.pids) == 0 {
			return errors.New("peerjs-idle needs --pid (the server's process id) to read its memory")
		}
		if p.heartbeat <= 0 {
			return errors.New("--heartbeat must be positive")
		}
	case "peerjs-relay":
		if cfg.pairs < 1 {
			return errors.New("--pairs must be at least 1")
		}
		if cfg.duration <= 0 && cfg.count <= 0 {
			return errors.New("peerjs-relay needs a positive --duration or --count")
		}
		if p.window < 1 {
			return errors.New("--window must be at least 1")
		}
		cfg.members = 2 * cfg.pairs
	}
	if p.path == "" || p.path[0] != '/' {
		return fmt.Errorf("--peerjs-path %q must start with /", p.path)
	}
	if p.key == "" {
		return errors.New("--peerjs-key must not be empty")
	}
	return nil
}

// pjDrainWait bounds the wait for the messages still in flight when a relay run stops (a variable for tests).
var pjDrainWait = 5 * time.Second

// pjRun is the state of one PeerJS run. It reuses lobby for the dialer, the error list, the "all are ready"
// countdown (OPEN here) and the teardown flags.
type pjRun struct {
	*lobby
	tag        string // random, so ids of one run never meet an earlier run's on a long-lived server
	heartbeats atomic.Int64
	stopBeats  atomic.Bool
}

// pjClient is one PeerJS connection.
type pjClient struct {
	r     *pjRun
	n     int
	id    string
	token string
	conn  *websocket.Conn
	wmu   sync.Mutex
	open  chan struct{} // closed at OPEN
	beat  *time.Timer   // peerjs-idle's HEARTBEAT timer

	// peerjs-relay: the pair, set before dialling.
	pair   *pjPair
	sender bool

	// Owned by the reader goroutine; read by main after the readers have stopped.
	opened bool
	next   int64           // receiver: the sequence number expected next
	lat    []time.Duration // receiver: one-way latencies
}

// pjPair is a sender streaming CANDIDATE messages to a receiver.
type pjPair struct {
	from, to  *pjClient
	slots     chan struct{} // a token per message that may be in flight
	sent      atomic.Int64
	delivered atomic.Int64 // in order and exactly once
	start     time.Time    // the origin of the payload's send times
}

func newPJRun(ctx context.Context, cfg *config, n int) *pjRun {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &pjRun{lobby: newLobby(ctx, cfg, n), tag: hex.EncodeToString(b[:])}
}

// client makes client n with its id and token (not yet connected).
func (r *pjRun) client(n int) *pjClient {
	var t [8]byte
	_, _ = rand.Read(t[:])
	return &pjClient{r: r, n: n, id: "lb" + r.tag + "-" + strconv.Itoa(n), token: hex.EncodeToString(t[:]), open: make(chan struct{})}
}

// socketURL is client c's WebSocket URL: {url}{path}/peerjs?key=…&id=…&token=…
func (r *pjRun) socketURL(c *pjClient) string {
	u := *r.cfg.urls[c.n%len(r.cfg.urls)]
	u.Path = r.cfg.peerjs.path
	if u.Path[len(u.Path)-1] != '/' {
		u.Path += "/"
	}
	u.Path += "peerjs"
	u.RawPath = ""
	u.RawQuery = url.Values{"key": {r.cfg.peerjs.key}, "id": {c.id}, "token": {c.token}}.Encode()
	return u.String()
}

// dial connects c and starts its reader.
func (r *pjRun) dial(ctx context.Context, c *pjClient) error {
	conn, resp, err := r.dialer.DialContext(ctx, r.socketURL(c), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("dial client %d: %w", c.n, err)
	}
	conn.SetReadLimit(1 << 20)
	c.conn = conn
	r.readWG.Add(1)
	go c.read()
	return nil
}

// dialAll connects the clients with at most --dial-concurrency dials in flight and returns each dial's latency
// (WebSocket handshake); it stops at the first failure.
func (r *pjRun) dialAll(clients []*pjClient) []time.Duration {
	latency := make([]time.Duration, len(clients))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(r.cfg.concurrency, len(clients)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r.ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(clients) {
					return
				}
				t := time.Now()
				if err := r.dial(r.ctx, clients[i]); err != nil {
					if r.ctx.Err() == nil {
						r.fail(err)
					}
					return
				}
				latency[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return latency
}

func (c *pjClient) read() {
	defer c.r.readWG.Done()
	buf := make([]byte, 0, 512)
	for {
		_, rd, err := c.conn.NextReader()
		if err == nil {
			buf, err = readAll(buf[:0], rd)
		}
		if c.r.frozen.Load() {
			return
		}
		if err != nil {
			if c.r.ctx.Err() == nil {
				c.r.fail(fmt.Errorf("client %d (%s): connection lost: %w", c.n, c.id, err))
			}
			return
		}
		c.handle(buf)
	}
}

// handle checks one server message: OPEN first and only once, then (receivers only) the pair's CANDIDATEs.
func (c *pjClient) handle(b []byte) {
	r := c.r
	m, ok := parsePJ(b)
	switch {
	case !ok:
		r.errorf("client %d: not a PeerJS message: %.200s", c.n, b)
	case !c.opened:
		if m.typ != "OPEN" || m.hasSrc || m.hasDst {
			r.errorf("client %d: first message is not OPEN: %.200s", c.n, b)
			return
		}
		c.opened = true
		close(c.open)
		if r.cfg.scenario == "peerjs-idle" {
			c.wmu.Lock() // heartbeat reads c.beat under the lock
			c.beat = time.AfterFunc(r.cfg.peerjs.heartbeat, c.heartbeat)
			c.wmu.Unlock()
		}
		r.finished(true)
	case m.typ == "CANDIDATE" && c.pair != nil && !c.sender:
		c.receive(m, b)
	default:
		r.errorf("client %d: unexpected message: %.200s", c.n, b)
	}
}

// receive checks a CANDIDATE from the partner: stamped with the sender's id, for this id, and the next in
// sequence. A duplicate or a gap is an error; the message's window slot is returned either way.
func (c *pjClient) receive(m pjMsg, b []byte) {
	p, r := c.pair, c.r
	switch {
	case m.src != p.from.id || !m.hasSrc:
		r.errorf("client %d: CANDIDATE with src %q, want %q: %.200s", c.n, m.src, p.from.id, b)
	case m.dst != c.id || !m.hasDst:
		r.errorf("client %d: CANDIDATE with dst %q, want %q: %.200s", c.n, m.dst, c.id, b)
	case m.seq < c.next:
		r.errorf("client %d: CANDIDATE %d again (duplicate or reordered; expected %d)", c.n, m.seq, c.next)
	case m.seq > c.next:
		r.errorf("client %d: CANDIDATEs %d..%d missing (got %d)", c.n, c.next, m.seq-1, m.seq)
		c.next = m.seq + 1
	default:
		c.next++
		c.lat = append(c.lat, time.Since(p.start)-time.Duration(m.t))
		p.delivered.Add(1)
	}
	select {
	case p.slots <- struct{}{}:
	default: // a duplicate has no slot to return
	}
}

// heartbeat sends HEARTBEAT and re-arms the timer, as the stock client's setInterval.
func (c *pjClient) heartbeat() {
	if c.r.stopBeats.Load() {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeLocked([]byte(`{"type":"HEARTBEAT"}`)); err != nil {
		if c.r.ctx.Err() == nil && !c.r.stopBeats.Load() {
			c.r.fail(fmt.Errorf("client %d: send HEARTBEAT: %w", c.n, err))
		}
		return
	}
	c.r.heartbeats.Add(1)
	c.beat.Reset(c.r.cfg.peerjs.heartbeat)
}

func (c *pjClient) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

// writeLocked sends one text message; c.wmu is held (gorilla allows one concurrent writer).
func (c *pjClient) writeLocked(b []byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

// teardown stops the heartbeats and readers and closes every connection.
func (r *pjRun) teardown(clients []*pjClient) {
	r.stopBeats.Store(true)
	r.frozen.Store(true)
	bye := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	for _, c := range clients {
		if c.conn == nil {
			continue
		}
		_ = c.conn.WriteControl(websocket.CloseMessage, bye, time.Now().Add(50*time.Millisecond))
		c.conn.Close()
	}
	r.readWG.Wait()
	for _, c := range clients {
		if c.beat != nil {
			c.beat.Stop()
		}
	}
	r.cancel(errTornDown)
}

// runPeerJSJoin runs peerjs-join and, with idle, peerjs-idle.
func runPeerJSJoin(ctx context.Context, cfg *config, rep *report, idle bool) {
	n := cfg.members
	rep.set("members", n)
	rep.printf("  %d PeerJS clients, %d dials in flight", n, cfg.concurrency)
	rssBefore, rssErr := pidsRSS(cfg.pids)
	if idle && rssErr != nil {
		rep.errorf("reading server memory: %v", rssErr)
		return
	}
	r := newPJRun(ctx, cfg, n)
	clients := make([]*pjClient, n)
	for i := range clients {
		clients[i] = r.client(i)
	}
	cpu := startCPU(cfg.pids)
	r.start = time.Now()
	latency := r.dialAll(clients)
	dialed := time.Since(r.start)
	// join: catch stray late messages; idle: let the server settle and every client send a HEARTBEAT.
	complete, wait := afterStorm(r.ctx, r.done, cpu, rep, idle, cfg.settle)
	var rssAfter int64
	if complete && rssErr == nil {
		var err error
		if rssAfter, err = pidsRSS(cfg.pids); err != nil {
			rep.errorf("reading server memory: %v", err)
		}
	}
	beats := r.heartbeats.Load()
	r.teardown(clients)
	if ctx.Err() != nil {
		rep.errorf("%v", context.Cause(ctx))
	}
	r.copyErrors(rep)

	opened := 0
	for _, c := range clients {
		if c.opened {
			opened++
		}
	}
	rep.set("opened", opened)
	rep.set("dial_seconds", round(dialed.Seconds(), 3))
	if !slices.Contains(latency, 0) {
		slices.Sort(latency)
		rep.set("dial_p50_ms", round(ms(percentile(latency, 50)), 3))
		rep.set("dial_p99_ms", round(ms(percentile(latency, 99)), 3))
		rep.printf("  dial latency (WebSocket handshake): p50 %.2f ms, p99 %.2f ms", ms(percentile(latency, 50)), ms(percentile(latency, 99)))
	}
	if !complete {
		rep.printf("  NOT complete: %d/%d clients got OPEN", opened, n)
		return
	}
	d := time.Duration(r.doneAt.Load())
	rep.printf("  every client had its OPEN %.3fs after the first dial (%.0f opens/s)", d.Seconds(), float64(n)/d.Seconds())
	rep.set("open_seconds", round(d.Seconds(), 3))
	rep.set("opens_per_sec", round(float64(n)/d.Seconds(), 0))
	if rssAfter > 0 {
		per := float64(rssAfter-rssBefore) / float64(n)
		rep.set("server_rss_before_bytes", rssBefore)
		rep.set("server_rss_after_bytes", rssAfter)
		rep.set("server_rss_after_mib", round(mib(rssAfter), 1))
		rep.set("bytes_per_conn", round(per, 0))
		rep.printf("  server VmRSS %.1f MiB before, %.1f MiB %s after the last OPEN → %.0f bytes per connection",
			mib(rssBefore), mib(rssAfter), wait, per)
	}
	if idle {
		rep.set("heartbeats", beats)
		rep.printf("  %d HEARTBEATs sent (every %s per client)", beats, cfg.peerjs.heartbeat)
		if beats < int64(n) && cfg.settle > cfg.peerjs.heartbeat {
			rep.errorf("only %d HEARTBEATs for %d clients", beats, n)
		}
	}
}

// runPeerJSRelay runs peerjs-relay.
func runPeerJSRelay(ctx context.Context, cfg *config, rep *report) {
	np := cfg.pairs
	rep.set("pairs", np)
	rep.set("window", cfg.peerjs.window)
	rep.printf("  %d pairs, window %d, %s, count %d per pair", np, cfg.peerjs.window, cfg.duration, cfg.count)
	r := newPJRun(ctx, cfg, 2*np)
	clients := make([]*pjClient, 2*np)
	pairs := make([]*pjPair, np)
	for i := range pairs {
		from, to := r.client(2*i), r.client(2*i+1)
		p := &pjPair{from: from, to: to, slots: make(chan struct{}, cfg.peerjs.window)}
		for range cfg.peerjs.window {
			p.slots <- struct{}{}
		}
		from.pair, from.sender, to.pair = p, true, p
		clients[2*i], clients[2*i+1], pairs[i] = from, to, p
	}
	r.start = time.Now()
	r.dialAll(clients)
	select {
	case <-r.done:
	case <-r.ctx.Done():
	}
	if r.ctx.Err() != nil {
		finishPJRelay(ctx, r, clients, nil, 0, rep)
		return
	}
	rep.printf("  %d clients had their OPEN in %.2fs", len(clients), time.Duration(r.doneAt.Load()).Seconds())

	var stop atomic.Bool
	var senders sync.WaitGroup
	cpu := startCPU(cfg.pids)
	start := time.Now()
	for _, p := range pairs {
		p.start = start
		senders.Add(1)
		go func() {
			defer senders.Done()
			p.send(r, cfg.count, stop.Load)
		}()
	}
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()
	timer := time.NewTimer(cfg.duration)
	if cfg.duration <= 0 {
		timer.Stop()
	}
	select {
	case <-timer.C:
	case <-sendersDone: // --count reached
	case <-r.ctx.Done():
	}
	timer.Stop()
	stop.Store(true)
	<-sendersDone // each sender returns within one write (or its context)
	// Wait for the messages in flight, then check that every sent message arrived.
	drained := func() bool {
		for _, p := range pairs {
			if p.delivered.Load() < p.sent.Load() {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(pjDrainWait)
	for !drained() && time.Now().Before(deadline) && r.ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	if r.ctx.Err() == nil {
		cpu.stop(rep)
	}
	finishPJRelay(ctx, r, clients, pairs, elapsed, rep)
}

// send streams CANDIDATEs to the partner, each when a slot is free, until stopped or count is reached.
func (p *pjPair) send(r *pjRun, count int, stopped func() bool) {
	buf := make([]byte, 0, 512)
	for seq := int64(0); count <= 0 || seq < int64(count); seq++ {
		select {
		case <-p.slots:
		case <-r.ctx.Done():
			return
		}
		if stopped() {
			return
		}
		buf = candidateMessage(buf[:0], p.to.id, seq, int64(time.Since(p.start)))
		if err := p.from.write(buf); err != nil {
			if r.ctx.Err() == nil {
				r.fail(fmt.Errorf("client %d: send CANDIDATE: %w", p.from.n, err))
			}
			return
		}
		p.sent.Add(1)
	}
}

// finishPJRelay tears the clients down, checks every pair's delivery and reports the rate and latencies.
func finishPJRelay(ctx context.Context, r *pjRun, clients []*pjClient, pairs []*pjPair, elapsed time.Duration, rep *report) {
	r.teardown(clients)
	if ctx.Err() != nil {
		rep.errorf("%v", context.Cause(ctx))
	}
	r.copyErrors(rep)
	if pairs == nil {
		rep.printf("  NOT complete: the clients did not all get OPEN")
		return
	}
	var sent, delivered int64
	var lat []time.Duration
	for _, p := range pairs {
		s, d := p.sent.Load(), p.delivered.Load()
		sent += s
		delivered += d
		if d != s {
			rep.errorf("pair %d: %d CANDIDATEs sent, %d delivered in order within %s of the end", p.from.n/2, s, d, pjDrainWait)
		}
		lat = append(lat, p.to.lat...)
	}
	rate := float64(delivered) / elapsed.Seconds()
	rep.set("sent", sent)
	rep.set("delivered", delivered)
	rep.set("relay_seconds", round(elapsed.Seconds(), 3))
	rep.set("messages_per_sec", round(rate, 0))
	rep.set("message_bytes", len(candidateMessage(nil, pairs[0].to.id, 0, 0)))
	rep.printf("  %d CANDIDATEs sent, %d delivered (each checked) in %.2fs: %.0f messages/s", sent, delivered, elapsed.Seconds(), rate)
	if len(lat) == 0 {
		rep.errorf("no message delivered")
		return
	}
	slices.Sort(lat)
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	rep.set("latency_p50_ms", round(ms(p50), 3))
	rep.set("latency_p99_ms", round(ms(p99), 3))
	rep.set("latency_max_ms", round(ms(lat[len(lat)-1]), 3))
	rep.printf("  one-way latency p50 %.3f ms, p99 %.3f ms, max %.3f ms", ms(p50), ms(p99), ms(lat[len(lat)-1]))
}

// candidateMessage appends a CANDIDATE as the stock client sends it ({type, payload: {candidate, type,
// connectionId}, dst}), with the sequence number and send time (ns after the relay phase began) first in the
// payload, where the receiver finds them quickly.
func candidateMessage(b []byte, dst string, seq, t int64) []byte {
	b = append(b, `{"type":"CANDIDATE","payload":{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"candidate":{"candidate":"candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 ufrag Qz3h network-id 1","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"Qz3h"},"type":"data","connectionId":"dc_lobbyload0123"},"dst":"`...)
	b = append(b, dst...) // ids are letters, digits and '-': no escaping
	return append(b, `"}`...)
}

// pjMsg is what the tool checks of a server message.
type pjMsg struct {
	typ, src, dst  string
	hasSrc, hasDst bool
	seq, t         int64 // from the payload, for CANDIDATEs
}

var (
	pjTypeKey   = []byte(`{"type":"`)
	pjSrcKey    = []byte(`,"src":"`)
	pjDstKey    = []byte(`,"dst":"`)
	pjSeqKey    = []byte(`,"payload":{"seq":`)
	pjTKey      = []byte(`,"t":`)
	pjCandidate = []byte("CANDIDATE")
)

// parsePJ decodes a server message. Both servers write relays as {"type","src","dst","payload"}, in that
// order, so the common CANDIDATE is read by a strict byte scan; anything else falls back to encoding/json.
func parsePJ(b []byte) (pjMsg, bool) {
	if m, ok := parsePJFast(b); ok {
		return m, true
	}
	return parsePJSlow(b)
}

func parsePJFast(b []byte) (pjMsg, bool) {
	var m pjMsg
	rest, ok := bytes.CutPrefix(b, pjTypeKey)
	if !ok {
		return m, false
	}
	typ, rest, ok := cutString(rest)
	if !ok || !bytes.Equal(typ, pjCandidate) {
		return m, false
	}
	if rest, ok = bytes.CutPrefix(rest, pjSrcKey); !ok {
		return m, false
	}
	src, rest, ok := cutString(rest)
	if !ok {
		return m, false
	}
	if rest, ok = bytes.CutPrefix(rest, pjDstKey); !ok {
		return m, false
	}
	dst, rest, ok := cutString(rest)
	if !ok {
		return m, false
	}
	if rest, ok = bytes.CutPrefix(rest, pjSeqKey); !ok {
		return m, false
	}
	seq, rest, ok := cutInt(rest)
	if !ok {
		return m, false
	}
	if rest, ok = bytes.CutPrefix(rest, pjTKey); !ok {
		return m, false
	}
	t, _, ok := cutInt(rest)
	if !ok || !json.Valid(b) { // the rest of the payload is not looked at, but the whole must be JSON
		return m, false
	}
	return pjMsg{typ: "CANDIDATE", src: string(src), dst: string(dst), hasSrc: true, hasDst: true, seq: seq, t: t}, true
}

// cutString reads the body of a JSON string whose opening quote was already consumed; false on escapes.
func cutString(b []byte) (s, rest []byte, ok bool) {
	j := bytes.IndexByte(b, '"')
	if j < 0 || bytes.IndexByte(b[:j], '\\') >= 0 {
		return nil, nil, false
	}
	return b[:j], b[j+1:], true
}

// cutInt reads a non-negative JSON integer.
func cutInt(b []byte) (int64, []byte, bool) {
	i := 0
	for i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || (i > 1 && b[0] == '0') || (i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E')) {
		return 0, nil, false
	}
	v, err := strconv.ParseInt(string(b[:i]), 10, 64)
	return v, b[i:], err == nil
}

func parsePJSlow(b []byte) (pjMsg, bool) {
	var w struct {
		Type    string  `json:"type"`
		Src     *string `json:"src"`
		Dst     *string `json:"dst"`
		Payload *struct {
			Seq *int64 `json:"seq"`
			T   *int64 `json:"t"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &w); err != nil || w.Type == "" {
		return pjMsg{}, false
	}
	m := pjMsg{typ: w.Type, hasSrc: w.Src != nil, hasDst: w.Dst != nil, seq: -1}
	if w.Src != nil {
		m.src = *w.Src
	}
	if w.Dst != nil {
		m.dst = *w.Dst
	}
	if w.Payload != nil && w.Payload.Seq != nil && w.Payload.T != nil {
		m.seq, m.t = *w.Payload.Seq, *w.Payload.T
	} else if m.typ == "CANDIDATE" {
		return m, false // not one of this tool's: reported as unparsable
	}
	return m, true
}
