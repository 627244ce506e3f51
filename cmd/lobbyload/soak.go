package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The soak scenario keeps a population of about --members members in --rooms rooms and churns it for
// --duration: every tick some members leave and as many new ones join the same room, members relay to random
// others in their room and rename themselves. One driver goroutine makes every change, so the tool's ground
// truth (who is in which room) is exact; each member's reader keeps that member's own view of its room.
//
// Checks:
//   - at once, on the reader: a connected for someone already in the view or for oneself, a disconnected or
//     renamed for someone not in the view, a second self-connected (duplicated or stray events); a relay
//     delivered twice, to the wrong member or with the wrong fromId;
//   - at every --checkpoint the driver stops churning and waits (at most --quiesce) until every view equals
//     the ground truth and every relay has landed, then counts as lost: each view's missing members, and for
//     every member present through the whole interval each join, leave and rename of its room in that
//     interval that it did not see (so a connected and its disconnected both lost still count); relays
//     still outstanding count as undelivered. A view holding someone who left counts as stale.
//
// The run ends with a checkpoint, so the final views are checked exact.

// soakConfig holds the soak scenario's flags.
type soakConfig struct {
	rooms        int
	churn        float64 // % of --members leaving (and joining) per second
	relayRate    float64 // relays per second, all rooms together
	renameRate   float64 // renames per second, all rooms together
	sample       time.Duration
	checkpoint   time.Duration
	quiesce      time.Duration
	warmup       time.Duration
	leaveGrace   time.Duration
	metrics      *url.URL // Prometheus text exposition of the server, or nil
	metricsAddr  string   // the checked loopback ip:port of metrics
	failOnGrowth bool
}

// flags registers the soak flags; the returned string is --metrics, checked by check.
func (sc *soakConfig) flags(fs *flag.FlagSet) *string {
	fs.IntVar(&sc.rooms, "rooms", 4, "soak: rooms the members are spread over (room=soak-K in the URL; 1 = the URL's room as given, for servers without rooms)")
	fs.Float64Var(&sc.churn, "churn", 1, "soak: % of --members that leave, and as many that join, per second")
	fs.Float64Var(&sc.relayRate, "relay-rate", 100, "soak: relays per second (~1 KB offers to a random member of the same room)")
	fs.Float64Var(&sc.renameRate, "rename-rate", 1, "soak: renames per second (0 for servers without rename, such as the seed's)")
	fs.DurationVar(&sc.sample, "sample", 10*time.Second, "soak: interval between samples of the server's goroutines, heap and RSS")
	fs.DurationVar(&sc.checkpoint, "checkpoint", time.Minute, "soak: interval between checkpoints (churn pauses, views are compared with the ground truth)")
	fs.DurationVar(&sc.quiesce, "quiesce", 20*time.Second, "soak: longest wait at a checkpoint for the views to settle")
	fs.DurationVar(&sc.warmup, "warmup", 0, "soak: samples before this are left out of the growth verdict (default --duration/10)")
	fs.BoolVar(&sc.failOnGrowth, "fail-on-growth", false, "soak: exit 1 when the growth verdict finds growth (lost or duplicated events always do)")
	return fs.String("metrics", "", "soak: the server's Prometheus metrics URL (http://127.0.0.1:PORT/metrics; loopback only)")
}

func (sc *soakConfig) check(cfg *config, metrics string) error {
	switch {
	case sc.rooms < 1:
		return errors.New("--rooms must be at least 1")
	case cfg.members < 2*sc.rooms:
		return errors.New("soak needs at least 2 --members per room")
	case sc.churn < 0 || sc.churn > 50 || sc.relayRate < 0 || sc.relayRate > 1e5 || sc.renameRate < 0 || sc.renameRate > 1e4:
		return errors.New("--churn must be within 0–50, --relay-rate 0–100000, --rename-rate 0–10000")
	case cfg.duration <= 0 || sc.sample <= 0 || sc.checkpoint <= 0 || sc.quiesce <= 0 || sc.warmup < 0:
		return errors.New("--duration, --sample, --checkpoint and --quiesce must be positive")
	case cfg.timeout <= cfg.duration:
		return errors.New("--timeout must exceed --duration")
	}
	if sc.warmup == 0 {
		sc.warmup = cfg.duration / 10
	}
	sc.leaveGrace = time.Second
	if metrics != "" {
		u, addr, err := loopbackHTTP(metrics)
		if err != nil {
			return err
		}
		sc.metrics, sc.metricsAddr = u, addr
	}
	return nil
}

// Bounds of the driver: ticks, dials in flight, and how long a leaver waits for relays still on their way.
const (
	soakTick        = 100 * time.Millisecond
	soakSettle      = 300 * time.Millisecond // after the views match, for stray late events to arrive
	maxLeaveWait    = 5 * time.Second
	maxStoredErrors = 5 // per kind of finding, on top of the counts
)

// soakRoom is the ground truth of one room; the driver goroutine owns it.
type soakRoom struct {
	k       int
	members []*soakMember // admitted (self-connected received) and not closed, leavers included
	truth   bitset        // their indices
	// This checkpoint interval's changes the tool caused.
	joins, leaves, renames []int32
}

// soakMember is one connection.
type soakMember struct {
	s      *soak
	room   *soakRoom
	n      int
	conn   *websocket.Conn
	wmu    sync.Mutex
	selfCh chan struct{}
	deadCh chan struct{} // closed when the reader stops
	id     string        // written by the reader before selfCh closes
	idx    int32

	mu       sync.Mutex // the reader changes the view, the driver compares it at checkpoints
	view     bitset     // the room as this member sees it, itself excluded
	connSeen bitset     // connected events received this interval
	discSeen bitset     // disconnected events received this interval
	renSeen  bitset     // renamed events received this interval (itself included)

	inflight atomic.Int32 // relays to or from it not delivered yet
	closing  atomic.Bool  // the tool closes it: a read error is expected
	lost     atomic.Bool  // the connection ended without the tool closing it

	// Driver-owned.
	epoch    int // the checkpoint interval in which it was admitted
	pos      int // its index in room.members
	leaving  bool
	leaveAt  time.Time
	renamed  bool // renamed this interval (once per interval, so a rename is never hidden by the next)
	lostSeen bool
	removed  bool
}

// relayRec is a relay sent and not delivered yet.
type relayRec struct{ from, to *soakMember }

// soakCounts are the findings, counted across readers and the driver.
type soakCounts struct {
	events, joins, leaves, renames                     atomic.Int64
	dupEvents, strayEvents, lostEvents, staleView      atomic.Int64
	relaysSent, relaysOK, relaysDup, relaysWrong       atomic.Int64
	relaysUndelivered, serverErrors, connsLost, checks atomic.Int64
	quiesceTimeouts                                    atomic.Int64
}

// soak is the state of one soak run.
type soak struct {
	cfg    *config
	sc     *soakConfig
	dialer *websocket.Dialer
	ctx    context.Context
	cancel context.CancelCauseFunc
	rng    *rand.Rand // driver only
	start  time.Time

	idMu sync.RWMutex
	ids  map[string]int32

	rooms   []*soakRoom
	nextN   int
	epoch   int
	pending int // dials in flight (driver-owned)
	debt    []*soakRoom
	joined  chan *soakMember // a dial's result: a member that got self-connected, or one with idx < 0
	leavers []*soakMember
	pop     atomic.Int64 // admitted members
	smp     *sampler     // nil until the initial checkpoint is done
	readWG  sync.WaitGroup
	dialWG  sync.WaitGroup

	relayMu     sync.Mutex
	outstanding map[uint64]relayRec
	seqsDone    bitset // relay sequence numbers delivered
	seq         uint64 // driver-owned: the last relay's number
	offerTail   []byte // the relay message after the sequence number

	c soakCounts

	errMu sync.Mutex
	errs  map[string][]string // kind of finding → first messages
	order []string
}

func runSoak(ctx context.Context, cfg *config, rep *report) {
	sc := &cfg.soak
	n := cfg.members
	rep.set("members", n)
	rep.set("rooms", sc.rooms)
	rep.set("duration_seconds", cfg.duration.Seconds())
	rep.set("churn_pct_per_sec", sc.churn)
	rep.set("relay_rate", sc.relayRate)
	rep.set("rename_rate", sc.renameRate)
	rep.printf("  %d members in %d rooms for %s: churn %.2f%%/s (%.1f leave and %.1f join per second), %.0f relays/s, %.1f renames/s",
		n, sc.rooms, cfg.duration, sc.churn, sc.churn*float64(n)/100, sc.churn*float64(n)/100, sc.relayRate, sc.renameRate)
	rep.printf("  checkpoint every %s (quiesce at most %s), sample every %s, growth judged after %s warm-up", sc.checkpoint, sc.quiesce, sc.sample, sc.warmup)

	s := &soak{
		cfg: cfg, sc: sc, dialer: newDialer(cfg),
		rng:         rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x50a4)),
		ids:         make(map[string]int32, 2*n),
		joined:      make(chan *soakMember, cfg.concurrency),
		outstanding: map[uint64]relayRec{},
		errs:        map[string][]string{},
	}
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	// The relay payload: a realistic ~1 KB offer; the sequence number goes first in the offer object.
	s.offerTail = []byte(`,"type":"offer","sdp":` + strconv.Quote(fakeSDP("offer")) + `}}`)
	for k := range sc.rooms {
		s.rooms = append(s.rooms, &soakRoom{k: k})
	}

	s.start = time.Now()
	for i := range n {
		s.debt = append(s.debt, s.rooms[i%len(s.rooms)])
	}
	filled := s.fill()
	var samples []sample
	if filled {
		rep.printf("  %d members joined in %.1fs; views checked", s.pop.Load(), time.Since(s.start).Seconds())
		s.smp = newSampler(s, cfg.pids, sc.metrics, sc.metricsAddr, rep)
		stop := s.smp.run(sc.sample)
		cpu := startCPU(cfg.pids)
		s.drive()
		if s.ctx.Err() == nil {
			cpu.stop(rep)
		}
		samples = stop()
	}
	s.teardown()
	if ctx.Err() != nil {
		rep.errorf("%v", context.Cause(ctx))
	} else if cause := context.Cause(s.ctx); !errors.Is(cause, errTornDown) {
		rep.errorf("run stopped: %v", cause)
	}
	s.report(rep, samples, filled)
}

// fill dials the initial members and runs the first checkpoint.
func (s *soak) fill() bool {
	for s.ctx.Err() == nil && (len(s.debt) > 0 || s.pending > 0) {
		s.launchJoins()
		select {
		case m := <-s.joined:
			s.admit(m)
		case <-s.ctx.Done():
		}
	}
	return s.ctx.Err() == nil && s.checkpoint("initial")
}

// drive churns until --duration has passed, with a checkpoint every --checkpoint and one at the end.
func (s *soak) drive() {
	sc := s.sc
	n := float64(s.cfg.members)
	tick := time.NewTicker(soakTick)
	defer tick.Stop()
	end := time.Now().Add(s.cfg.duration)
	nextCheck := time.Now().Add(sc.checkpoint)
	last := time.Now()
	var churnAcc, relayAcc, renameAcc float64
	for s.ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			return
		}
		now := time.Now()
		if now.After(end) {
			break
		}
		s.housekeep(false)
		if now.After(nextCheck) {
			if !s.checkpoint(fmt.Sprintf("%.0fs", now.Sub(s.start).Seconds())) {
				return
			}
			nextCheck, last = time.Now().Add(sc.checkpoint), time.Now()
			continue
		}
		dt := now.Sub(last).Seconds()
		last = now
		// At most a second's worth per tick, so a stalled tick never turns into a burst.
		churnAcc = min(churnAcc+sc.churn/100*n*dt, sc.churn/100*n+1)
		relayAcc = min(relayAcc+sc.relayRate*dt, sc.relayRate+1)
		renameAcc = min(renameAcc+sc.renameRate*dt, sc.renameRate+1)
		for ; churnAcc >= 1; churnAcc-- {
			s.churnOne(now)
		}
		for ; relayAcc >= 1; relayAcc-- {
			s.relayOne()
		}
		for ; renameAcc >= 1; renameAcc-- {
			s.renameOne()
		}
	}
	if s.ctx.Err() == nil {
		s.checkpoint("final")
	}
}

// housekeep admits dialled members, drops lost ones, closes leavers whose grace is over (all of them that have
// no relay in flight when force is set) and starts owed dials.
func (s *soak) housekeep(force bool) {
	for {
		select {
		case m := <-s.joined:
			s.admit(m)
			continue
		default:
		}
		break
	}
	for _, r := range s.rooms {
		for i := 0; i < len(r.members); i++ {
			if m := r.members[i]; m.lost.Load() && !m.lostSeen {
				m.lostSeen = true
				if !m.leaving { // the server dropped it: the others are told, as for a leave; replace it
					m.conn.Close()
					s.remove(m)
					s.debt = append(s.debt, r)
					i--
				}
			}
		}
	}
	now := time.Now()
	keep := s.leavers[:0]
	for _, m := range s.leavers {
		wait := now.Sub(m.leaveAt)
		if (force || wait >= s.sc.leaveGrace) && (m.inflight.Load() == 0 || wait >= maxLeaveWait) {
			s.close(m)
			continue
		}
		keep = append(keep, m)
	}
	clear(s.leavers[len(keep):])
	s.leavers = keep
	s.launchJoins()
}

// churnOne picks a member to leave (after a grace for relays on their way) and dials its replacement.
func (s *soak) churnOne(now time.Time) {
	r := s.rooms[s.rng.IntN(len(s.rooms))]
	m := s.pick(r, func(m *soakMember) bool { return !m.leaving && !m.renamed })
	if m == nil || len(r.members)-len(s.leavers) < 3 {
		return
	}
	m.leaving, m.leaveAt = true, now
	s.leavers = append(s.leavers, m)
	s.debt = append(s.debt, r)
}

// pick returns a random member of r that ok accepts, or nil after a few tries.
func (s *soak) pick(r *soakRoom, ok func(*soakMember) bool) *soakMember {
	for range 8 {
		if len(r.members) == 0 {
			return nil
		}
		if m := r.members[s.rng.IntN(len(r.members))]; ok(m) {
			return m
		}
	}
	return nil
}

// relayOne sends one numbered relay between two random members of a room who are staying.
func (s *soak) relayOne() {
	r := s.rooms[s.rng.IntN(len(s.rooms))]
	staying := func(m *soakMember) bool { return !m.leaving && !m.lost.Load() }
	from := s.pick(r, staying)
	to := s.pick(r, func(m *soakMember) bool { return staying(m) && m != from })
	if from == nil || to == nil {
		return
	}
	s.seq++
	seq := s.seq
	// fromId is the seed's: p2plobby ignores it and stamps the real one; Bun passes it on as it is.
	msg := fmt.Appendf(nil, `{"toId":%q,"fromId":%q,"offer":{"seq":%d`, to.id, from.id, seq)
	msg = append(msg, s.offerTail...)
	s.relayMu.Lock()
	s.outstanding[seq] = relayRec{from: from, to: to}
	s.relayMu.Unlock()
	from.inflight.Add(1)
	to.inflight.Add(1)
	s.c.relaysSent.Add(1)
	if err := from.write(msg); err != nil {
		s.finding("write", "member %d: send relay: %v", from.n, err)
	}
}

// renameOne renames a random member that stays until the next checkpoint.
func (s *soak) renameOne() {
	r := s.rooms[s.rng.IntN(len(s.rooms))]
	m := s.pick(r, func(m *soakMember) bool { return !m.leaving && !m.renamed && !m.lost.Load() })
	if m == nil {
		return
	}
	m.renamed = true
	r.renames = append(r.renames, m.idx)
	s.c.renames.Add(1)
	if err := m.write(fmt.Appendf(nil, `{"kind":"rename","name":"soak-%d-%d"}`, m.n, s.epoch)); err != nil {
		s.finding("write", "member %d: send rename: %v", m.n, err)
	}
}

// launchJoins starts the owed dials, at most --dial-concurrency at a time.
func (s *soak) launchJoins() {
	for len(s.debt) > 0 && s.pending < s.cfg.concurrency && s.ctx.Err() == nil {
		r := s.debt[0]
		s.debt = s.debt[1:]
		s.pending++
		n := s.nextN
		s.nextN++
		s.dialWG.Add(1)
		go func() {
			defer s.dialWG.Done()
			s.joined <- s.dial(r, n)
		}()
	}
}

// dial connects member n to room r and waits for its self-connected; on failure the member has idx -1.
func (s *soak) dial(r *soakRoom, n int) *soakMember {
	m := &soakMember{s: s, room: r, n: n, idx: -1, selfCh: make(chan struct{}), deadCh: make(chan struct{})}
	u := *s.cfg.urls[n%len(s.cfg.urls)]
	if s.sc.rooms > 1 {
		q := u.Query()
		q.Set("room", "soak-"+strconv.Itoa(r.k))
		u.RawQuery = q.Encode()
	}
	conn, resp, err := s.dialer.DialContext(s.ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if s.ctx.Err() == nil {
			s.finding("dial", "dial member %d: %v", n, err)
			s.cancel(fmt.Errorf("dial member %d: %w", n, err)) // fatal: the population could not be kept
		}
		return m
	}
	conn.SetReadLimit(1 << 20)
	m.conn = conn
	s.readWG.Add(1)
	go m.read()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-m.selfCh:
	case <-m.deadCh:
		select {
		case <-m.selfCh: // joined, then dropped: the driver handles it as a lost member
		default:
			s.cancel(fmt.Errorf("member %d: connection ended before self-connected", n))
			m.closing.Store(true)
		}
	case <-t.C:
		s.finding("dial", "member %d: no self-connected within 30s", n)
		s.cancel(fmt.Errorf("member %d: no self-connected within 30s", n))
		m.closing.Store(true)
		conn.Close()
	case <-s.ctx.Done():
		m.closing.Store(true)
		conn.Close()
	}
	return m
}

// admit adds a dialled member to its room's ground truth.
func (s *soak) admit(m *soakMember) {
	s.pending--
	if m.conn == nil || m.closing.Load() || m.idx < 0 {
		return // failed, and the run is cancelled (the failure is recorded)
	}
	r := m.room
	m.epoch, m.pos = s.epoch, len(r.members)
	r.members = append(r.members, m)
	r.truth.set(m.idx)
	r.joins = append(r.joins, m.idx)
	s.pop.Add(1)
	s.c.joins.Add(1)
}

// remove takes m out of its room's ground truth (once).
func (s *soak) remove(m *soakMember) {
	if m.removed {
		return
	}
	m.removed = true
	r := m.room
	last := r.members[len(r.members)-1]
	r.members[m.pos], last.pos = last, m.pos
	r.members[len(r.members)-1] = nil
	r.members = r.members[:len(r.members)-1]
	r.truth.clear(m.idx)
	r.leaves = append(r.leaves, m.idx)
	s.pop.Add(-1)
}

// close makes m leave: a polite close frame, then the socket is closed.
func (s *soak) close(m *soakMember) {
	m.closing.Store(true)
	bye := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = m.conn.WriteControl(websocket.CloseMessage, bye, time.Now().Add(50*time.Millisecond))
	m.conn.Close()
	s.remove(m)
	s.c.leaves.Add(1)
}

// checkpoint quiesces (no new churn, relays or renames; dials and leaves finish; views settle), then checks
// every view against the ground truth and the interval's events, and starts a new interval. It reports false
// if the run was cancelled.
func (s *soak) checkpoint(name string) bool {
	deadline := time.Now().Add(s.sc.quiesce)
	settled := false
	for s.ctx.Err() == nil {
		s.housekeep(true)
		if s.pending == 0 && len(s.debt) == 0 && len(s.leavers) == 0 && s.relaysInFlight() == 0 && s.audit("", false) == 0 {
			settled = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case m := <-s.joined:
			s.admit(m)
		case <-time.After(50 * time.Millisecond):
		case <-s.ctx.Done():
		}
	}
	if s.ctx.Err() != nil {
		return false
	}
	if !settled {
		s.c.quiesceTimeouts.Add(1)
		s.finding("quiesce", "checkpoint %s: views or relays had not settled after %s (%d dials, %d leavers, %d relays in flight)",
			name, s.sc.quiesce, s.pending, len(s.leavers), s.relaysInFlight())
	} else {
		time.Sleep(soakSettle) // a duplicate arriving late is still caught by the reader
	}
	s.verify(name)
	if settled {
		s.smp.take(true)
	}
	return true
}

func (s *soak) relaysInFlight() int {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	return len(s.outstanding)
}

// diffView counts the members of truth (self excluded) missing from view, and those in view but not in truth.
func diffView(view, truth bitset, self int32) (missing, extra int) {
	for w := range max(len(view), len(truth)) {
		var want, got uint64
		if w < len(truth) {
			want = truth[w]
		}
		if w < len(view) {
			got = view[w]
		}
		if self >= 0 && int(self)/64 == w {
			want &^= 1 << (uint(self) % 64)
		}
		missing += bits.OnesCount64(want &^ got)
		extra += bits.OnesCount64(got &^ want)
	}
	return missing, extra
}

// audit counts what the views lack or hold wrongly against the ground truth: members missing or stale, and
// for every member present through the whole interval, the interval's joins, leaves and renames of its room
// that it has not seen. With record, it records the findings.
func (s *soak) audit(name string, record bool) (bad int64) {
	for _, r := range s.rooms {
		for _, m := range r.members {
			m.mu.Lock()
			missing, extra := diffView(m.view, r.truth, m.idx)
			var unseen int64
			if m.epoch < s.epoch { // present through the whole interval: it must have seen every change
				unseen += s.unseen(name, m, r.joins, m.connSeen, "connected", record)
				unseen += s.unseen(name, m, r.leaves, m.discSeen, "disconnected", record)
				unseen += s.unseen(name, m, r.renames, m.renSeen, "renamed", record)
			}
			m.mu.Unlock()
			bad += int64(missing+extra) + unseen
			if !record {
				if bad > 0 {
					return bad
				}
				continue
			}
			if missing > 0 {
				s.finding("lost", "checkpoint %s: member %d (%s) misses %d members of its room", name, m.n, m.id, missing)
			}
			if extra > 0 {
				s.finding("stale", "checkpoint %s: member %d (%s) still sees %d members who left", name, m.n, m.id, extra)
			}
			s.c.lostEvents.Add(int64(missing) + unseen)
			s.c.staleView.Add(int64(extra))
		}
	}
	return bad
}

// verify records the findings of the interval that ends now and starts the next one.
func (s *soak) verify(name string) {
	s.c.checks.Add(1)
	s.audit(name, true)
	for _, r := range s.rooms {
		for _, m := range r.members {
			m.mu.Lock()
			clear(m.connSeen)
			clear(m.discSeen)
			clear(m.renSeen)
			m.mu.Unlock()
			m.renamed = false
		}
		r.joins, r.leaves, r.renames = r.joins[:0], r.leaves[:0], r.renames[:0]
	}

	var msgs []string
	s.relayMu.Lock()
	undelivered := len(s.outstanding)
	for seq, rec := range s.outstanding {
		rec.from.inflight.Add(-1)
		rec.to.inflight.Add(-1)
		if len(msgs) < maxStoredErrors {
			msgs = append(msgs, fmt.Sprintf("checkpoint %s: relay %d from member %d to member %d never arrived", name, seq, rec.from.n, rec.to.n))
		}
		delete(s.outstanding, seq)
	}
	s.relayMu.Unlock()
	for _, msg := range msgs {
		s.finding("undelivered", "%s", msg)
	}
	s.c.relaysUndelivered.Add(int64(undelivered))
	s.epoch++
}

// unseen counts the changes (member indices) that m did not see.
func (s *soak) unseen(name string, m *soakMember, changes []int32, seen bitset, kind string, record bool) int64 {
	var n int64
	for _, i := range changes {
		if (i != m.idx || kind == "renamed") && !seen.has(i) {
			n++
			if record {
				s.finding("lost", "checkpoint %s: member %d (%s) got no %s event for index %d", name, m.n, m.id, kind, i)
			}
		}
	}
	return n
}

// teardown closes every connection and waits (boundedly) for the readers and dials.
func (s *soak) teardown() {
	s.cancel(errTornDown)
	done := make(chan struct{})
	go func() {
		s.dialWG.Wait()
		close(done)
	}()
	for waiting := true; waiting; {
		select {
		case m := <-s.joined:
			if m.conn != nil {
				m.closing.Store(true)
				m.conn.Close()
			}
		case <-done:
			waiting = false
		}
	}
	for {
		select {
		case m := <-s.joined:
			if m.conn != nil {
				m.closing.Store(true)
				m.conn.Close()
			}
			continue
		default:
		}
		break
	}
	for _, r := range s.rooms {
		for _, m := range r.members {
			m.closing.Store(true)
			_ = m.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(50*time.Millisecond))
			m.conn.Close()
		}
	}
	for _, m := range s.leavers {
		m.closing.Store(true)
		m.conn.Close()
	}
	s.readWG.Wait()
}

// index returns the index of an id, assigning the next one on first sight.
func (s *soak) index(id []byte) int32 {
	s.idMu.RLock()
	i, ok := s.ids[string(id)]
	s.idMu.RUnlock()
	if ok {
		return i
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if i, ok := s.ids[string(id)]; ok {
		return i
	}
	i = int32(len(s.ids))
	s.ids[string(id)] = i
	return i
}

// finding records a message under a kind of finding; the counts are kept separately.
func (s *soak) finding(kind, format string, args ...any) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if _, ok := s.errs[kind]; !ok {
		s.order = append(s.order, kind)
		s.errs[kind] = nil
	}
	if len(s.errs[kind]) < maxStoredErrors {
		s.errs[kind] = append(s.errs[kind], fmt.Sprintf(format, args...))
	}
}

// read is the member's only reader.
func (m *soakMember) read() {
	s := m.s
	defer s.readWG.Done()
	defer close(m.deadCh)
	buf := make([]byte, 0, 512)
	for {
		_, r, err := m.conn.NextReader()
		if err == nil {
			buf, err = readAll(buf[:0], r)
		}
		if err != nil {
			if !m.closing.Load() && s.ctx.Err() == nil {
				m.lost.Store(true)
				s.c.connsLost.Add(1)
				s.finding("conn", "member %d (%s): connection lost: %v", m.n, m.id, err)
			}
			return
		}
		m.handle(buf)
	}
}

func (m *soakMember) handle(msg []byte) {
	s := m.s
	k, arg := classify(msg)
	switch k {
	case kindSelf:
		if m.idx >= 0 {
			s.c.dupEvents.Add(1)
			s.finding("dup", "member %d: second self-connected", m.n)
			return
		}
		m.id, m.idx = string(arg), s.index(arg)
		close(m.selfCh)
	case kindConnected, kindDisconnected, kindRenamed:
		s.c.events.Add(1)
		if m.idx < 0 {
			s.c.strayEvents.Add(1)
			s.finding("stray", "member %d: lobby event before self-connected: %.100s", m.n, msg)
			return
		}
		m.mu.Lock()
		kind, dup, stray := m.apply(k, s.index(arg))
		m.mu.Unlock()
		if dup {
			s.c.dupEvents.Add(1)
			s.finding("dup", "member %d (%s): duplicate %s for %s", m.n, m.id, kind, arg)
		}
		if stray {
			s.c.strayEvents.Add(1)
			s.finding("stray", "member %d (%s): %s for %s, who is not in its view", m.n, m.id, kind, arg)
		}
	case kindOffer:
		s.delivered(m, arg, msg)
	case kindAnswer:
		s.finding("unexpected", "member %d: unexpected answer", m.n)
	case kindError:
		s.c.serverErrors.Add(1)
		s.finding("server-error", "member %d: server error %q: %.200s", m.n, arg, msg)
	}
}

// apply changes the view by one lobby event about member i; m.mu is held. It reports a duplicate (a connected
// for someone in the view, or for oneself) or a stray event (a disconnected or renamed for someone not in it).
func (m *soakMember) apply(k msgKind, i int32) (kind string, dup, stray bool) {
	switch k {
	case kindConnected:
		if i == m.idx || m.view.has(i) {
			return "connected", true, false
		}
		m.view.set(i)
		m.connSeen.set(i)
		return "connected", false, false
	case kindDisconnected:
		if !m.view.has(i) {
			return "disconnected", false, true
		}
		m.view.clear(i)
		m.discSeen.set(i)
		return "disconnected", false, false
	default: // renamed: about a member of the view, or oneself
		if i != m.idx && !m.view.has(i) {
			return "renamed", false, true
		}
		m.renSeen.set(i)
		return "renamed", false, false
	}
}

// delivered checks one relay arriving at m: known, first time, to m, from the right member.
func (s *soak) delivered(m *soakMember, from, msg []byte) {
	seq, ok := relaySeq(msg)
	if !ok {
		s.c.relaysWrong.Add(1)
		s.finding("relay", "member %d: relay without a sequence number: %.100s", m.n, msg)
		return
	}
	s.relayMu.Lock()
	rec, known := s.outstanding[seq]
	if known {
		delete(s.outstanding, seq)
		s.seqsDone.set(int32(seq))
	}
	dup := !known && s.seqsDone.has(int32(seq))
	s.relayMu.Unlock()
	switch {
	case dup:
		s.c.relaysDup.Add(1)
		s.finding("relay", "member %d: relay %d delivered twice", m.n, seq)
		return
	case !known:
		s.c.relaysWrong.Add(1)
		s.finding("relay", "member %d: relay %d was never sent (or arrived after its checkpoint)", m.n, seq)
		return
	}
	rec.from.inflight.Add(-1)
	rec.to.inflight.Add(-1)
	to, _ := field(msg, []byte(`"toId":"`))
	if rec.to != m || string(from) != rec.from.id || string(to) != m.id {
		s.c.relaysWrong.Add(1)
		s.finding("relay", "relay %d: delivered to member %d with fromId %q toId %q, sent by member %d (%s) to member %d (%s)",
			seq, m.n, from, to, rec.from.n, rec.from.id, rec.to.n, rec.to.id)
		return
	}
	s.c.relaysOK.Add(1)
}

// relaySeq reads the sequence number of a soak relay: the offer object starts with "seq":N.
func relaySeq(msg []byte) (uint64, bool) {
	key := []byte(`"offer":{"seq":`)
	i := bytes.Index(msg, key)
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(key):]
	j := 0
	for j < len(rest) && j < 20 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	return n, err == nil && n > 0 && n < 1<<31
}

// write sends one text message.
func (m *soakMember) write(b []byte) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	return m.conn.WriteMessage(websocket.TextMessage, b)
}
