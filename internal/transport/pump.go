package transport

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// A pump lets output gather before it writes: pumpDelay, or as long as its last round took when that was longer
// (up to pumpMaxDelay), so that a busy server spends about half its time on writing rounds and half on what
// fills the next one (joins), and each write carries more. Room-log output (joins, leaves, renames) is not
// urgent; relays and replies never wait for a pump (Flush writes them at once).
const (
	pumpDelay    = 200 * time.Microsecond
	pumpMaxDelay = 20 * time.Millisecond
)

// A pump writes room-log output for many connections from one goroutine, without blocking: a connection
// woken by the hub (Wake) is queued on its pump, and the pump visits every queued connection after pumpDelay
// and writes what is pending with one non-blocking write each, as Flush does. Whatever a socket does not take
// goes to a writer goroutine of that connection, so a slow client never holds the pump up.
//
// Why: in a join storm every join wakes every member. Started at once, each member's writer writes the one new
// event, and the server spends its time on a write(2) per event and a goroutine per write (65% of the CPU in
// write(2) on one core, measured). A pump round comes later and carries every event of the joins handled in
// the meantime; the busier the server, the longer a round takes, and the more each write carries.
type pump struct {
	mu     sync.Mutex
	queued []*conn
	spare  []*conn
	signal chan struct{}
	s      *Server
}

func (s *Server) startPumps() {
	s.pumps = make([]*pump, runtime.GOMAXPROCS(0))
	for i := range s.pumps {
		p := &pump{signal: make(chan struct{}, 1), s: s}
		s.pumps[i] = p
		go p.run()
	}
}

// pumpOf spreads connections over the pumps by address (one pump per CPU).
func (s *Server) pumpOf(c *conn) *pump {
	if len(s.pumps) == 1 {
		return s.pumps[0]
	}
	return s.pumps[uintptr(unsafe.Pointer(c))/unsafe.Sizeof(*c)%uintptr(len(s.pumps))]
}

// add queues c, which the caller has moved to state 3.
func (p *pump) add(c *conn) {
	p.mu.Lock()
	p.queued = append(p.queued, c)
	first := len(p.queued) == 1
	p.mu.Unlock()
	if first {
		select {
		case p.signal <- struct{}{}:
		default:
		}
	}
}

func (p *pump) run() {
	delay := pumpDelay
	for {
		select {
		case <-p.s.stop:
			return
		case <-p.signal:
		}
		time.Sleep(delay)
		start := time.Now()
		p.mu.Lock()
		round := p.queued
		p.queued = p.spare[:0]
		p.mu.Unlock()
		for i, c := range round {
			round[i] = nil
			// A connection no longer in state 3 was taken over by Flush or a writer goroutine meanwhile.
			if c.state.CompareAndSwap(3, 1) {
				c.flushOwned()
			}
		}
		delay = min(max(time.Since(start), pumpDelay), pumpMaxDelay)
		if len(round) >= burstWriters {
			p.s.noteBurst(len(round))
		}
		if cap(round) > 4*burstWriters {
			round = nil // a storm's list is not kept for ever
		}
		p.spare = round[:0]
	}
}
