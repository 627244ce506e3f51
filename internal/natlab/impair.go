package natlab

import (
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Impairment is what one direction of a Link does to the IP packets it carries, like a WAN path: a bottleneck
// of Rate with a drop-tail queue of Limit bytes, then a fixed one-way Delay plus Jitter, and random Loss.
// The zero value forwards everything at once.
type Impairment struct {
	// Delay is the minimum one-way delay: no packet is delivered earlier (half the RTT of a symmetric path).
	Delay time.Duration
	// Jitter adds a uniformly random [0, Jitter) to each packet's delay. Packets are never reordered: a packet
	// that would overtake the one before it waits for it (like a single FIFO link), so jitter shows as delay
	// variation only; order changes only through loss and retransmission, as on most real paths.
	Jitter time.Duration
	// Loss is the fraction of packets dropped at random (0 to 1), drawn from a PRNG seeded with Seed: the
	// same seed drops the same packets of a direction (by their position in it), whatever the timing.
	Loss float64
	// Seed seeds the loss and jitter generators (each its own, so jitter never changes which packets are lost).
	Seed uint64
	// Rate is the bottleneck's rate in bytes per second; packets leave the queue one after another at this
	// rate before the delay starts. 0: no bottleneck (only Delay, Jitter and Loss).
	Rate int64
	// Limit bounds the queue in bytes; a packet that does not fit is dropped (drop-tail, like a router).
	// With a Rate it is the backlog waiting for the bottleneck (a router buffer: a bandwidth-delay product
	// Rate × RTT is the usual rule), and the link holds at most Limit + Rate × (Delay + Jitter) bytes;
	// without one it bounds everything held, including packets in flight (like netem's limit), which caps
	// throughput at about Limit ÷ Delay. 0: DefaultLimit.
	Limit int
}

// DefaultLimit is Impairment.Limit's default: 4 MiB, the bandwidth-delay product of 400 Mbit/s at 80 ms.
const DefaultLimit = 4 << 20

// maxPacket is the largest packet a Link reads (a TUN device hands over one IP packet per read).
const maxPacket = 65536

// LinkStats counts what one direction of a Link did with the packets it read.
type LinkStats struct {
	Packets   int64 // read from the source
	Delivered int64 // written to the destination
	Lost      int64 // dropped at random (Impairment.Loss)
	Overflow  int64 // dropped because the queue was full (drop-tail)
	MaxQueued int64 // the most bytes the queue held at once (checked against Limit before each packet)
}

// Link forwards packets in both directions between two packet devices (each Read returns one packet, each
// Write sends one, as with a TUN device or a SOCK_SEQPACKET socket) and impairs each direction. Close ends it.
type Link struct {
	ab, ba *pipe
	closer []io.Closer
	once   sync.Once
	wg     sync.WaitGroup
}

// NewLink starts forwarding a → b with ab and b → a with ba. Close closes a and b (when they are io.Closers).
func NewLink(a, b io.ReadWriter, ab, ba Impairment) *Link {
	l := &Link{ab: newPipe(ab), ba: newPipe(ba)}
	for _, x := range []io.ReadWriter{a, b} {
		if c, ok := x.(io.Closer); ok {
			l.closer = append(l.closer, c)
		}
	}
	l.wg.Add(4)
	for _, p := range []struct {
		p        *pipe
		src, dst io.ReadWriter
	}{{l.ab, a, b}, {l.ba, b, a}} {
		go func() { defer l.wg.Done(); p.p.read(p.src) }()
		go func() { defer l.wg.Done(); p.p.write(p.dst) }()
	}
	return l
}

// Stats returns the counters of a → b and of b → a.
func (l *Link) Stats() (ab, ba LinkStats) { return l.ab.stats(), l.ba.stats() }

// Close stops forwarding, drops what is queued, closes both devices and waits for the goroutines.
func (l *Link) Close() error {
	var err error
	l.once.Do(func() {
		for _, c := range l.closer {
			err = errors.Join(err, c.Close())
		}
		l.ab.stop()
		l.ba.stop()
		l.wg.Wait()
	})
	return err
}

type packet struct {
	data []byte
	at   time.Time // when to deliver it
}

// pipe is one direction: read stamps each packet with its delivery time and queues it, write delivers them
// in order. The queue is a FIFO whose byte size is bounded by the Limit (see Impairment).
type pipe struct {
	imp   Impairment
	loss  *rand.Rand
	jit   *rand.Rand
	wake  chan struct{} // a packet was queued, or the pipe stopped
	done  chan struct{}
	close sync.Once

	mu      sync.Mutex
	queue   []packet // FIFO: queue[head:]
	head    int
	held    int64     // bytes in queue
	busy    time.Time // when the bottleneck finishes sending what it has accepted (Rate > 0)
	last    time.Time // delivery time of the last packet queued (keeps order under jitter)
	counts  LinkStats
	counted atomic.Int64 // packets, read without the lock by stats
}

func newPipe(imp Impairment) *pipe {
	if imp.Limit <= 0 {
		imp.Limit = DefaultLimit
	}
	p := &pipe{
		imp:  imp,
		loss: rand.New(rand.NewPCG(imp.Seed, 1)),
		jit:  rand.New(rand.NewPCG(imp.Seed, 2)),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	return p
}

func (p *pipe) stop() { p.close.Do(func() { close(p.done) }) }

func (p *pipe) stats() LinkStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.counts
	s.Packets = p.counted.Load()
	return s
}

// read reads packets from src until it fails, and queues the ones neither lost nor over the limit.
func (p *pipe) read(src io.Reader) {
	defer p.stop()
	buf := make([]byte, maxPacket)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.counted.Add(1)
		if p.imp.Loss > 0 && p.loss.Float64() < p.imp.Loss {
			p.mu.Lock()
			p.counts.Lost++
			p.mu.Unlock()
			continue
		}
		// A copy of its own size: memory follows the bytes queued, which Limit bounds.
		p.enqueue(append([]byte(nil), buf[:n]...), time.Now())
	}
}

// enqueue queues pkt, read at now, unless the queue is full; it reports whether it did.
func (p *pipe) enqueue(pkt []byte, now time.Time) bool {
	n := int64(len(pkt))
	p.mu.Lock()
	defer p.mu.Unlock()
	at := now
	if p.imp.Rate > 0 {
		start := p.busy
		if start.Before(now) {
			start = now
		}
		// Backlog: bytes the bottleneck has accepted but not yet sent.
		backlog := int64(start.Sub(now).Seconds() * float64(p.imp.Rate))
		if backlog+n > int64(p.imp.Limit) {
			p.counts.Overflow++
			return false
		}
		if backlog+n > p.counts.MaxQueued {
			p.counts.MaxQueued = backlog + n
		}
		p.busy = start.Add(time.Duration(float64(n) / float64(p.imp.Rate) * float64(time.Second)))
		at = p.busy
	} else {
		if p.held+n > int64(p.imp.Limit) {
			p.counts.Overflow++
			return false
		}
		if p.held+n > p.counts.MaxQueued {
			p.counts.MaxQueued = p.held + n
		}
	}
	at = at.Add(p.imp.Delay)
	if p.imp.Jitter > 0 {
		at = at.Add(time.Duration(p.jit.Int64N(int64(p.imp.Jitter))))
	}
	if at.Before(p.last) {
		at = p.last // FIFO: never overtake the packet before
	}
	p.last = at
	if p.head > 0 && p.head == len(p.queue) { // empty: reuse the slice from its start
		p.queue, p.head = p.queue[:0], 0
	} else if p.head > 1024 && p.head*2 > len(p.queue) { // mostly consumed: compact
		p.queue = append(p.queue[:0], p.queue[p.head:]...)
		p.head = 0
	}
	p.queue = append(p.queue, packet{data: pkt, at: at})
	p.held += n
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// write delivers queued packets to dst at their time, until the pipe stops.
func (p *pipe) write(dst io.Writer) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if p.head == len(p.queue) {
			p.mu.Unlock()
			select {
			case <-p.wake:
				continue
			case <-p.done:
				return
			}
		}
		pkt := p.queue[p.head]
		p.mu.Unlock()
		if wait := time.Until(pkt.at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.done:
				return
			}
		}
		p.mu.Lock()
		p.queue[p.head] = packet{}
		p.head++
		p.held -= int64(len(pkt.data))
		p.mu.Unlock()
		// A write error (e.g. the device is down for a moment) loses the packet, as a link would.
		if _, err := dst.Write(pkt.data); err == nil {
			p.mu.Lock()
			p.counts.Delivered++
			p.mu.Unlock()
		}
	}
}
