package sctpcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/sctp"

	"github.com/p2plobby/p2plobby/internal/pionlog"
)

// pipeEnd is one end of an in-memory packet pipe with a one-way delay: every Write is one packet, delivered
// in order to the other end's Read after the delay, unless drop says otherwise.
type pipeEnd struct {
	in   chan []byte
	out  chan timed
	drop func([]byte) bool // nil: deliver everything
	done chan struct{}     // closing either end closes both
	once *sync.Once
}

type timed struct {
	due time.Time
	pkt []byte
}

func pipe() (a, b *pipeEnd) {
	done, once := make(chan struct{}), &sync.Once{}
	a = &pipeEnd{in: make(chan []byte, 4096), out: make(chan timed, 4096), done: done, once: once}
	b = &pipeEnd{in: make(chan []byte, 4096), out: make(chan timed, 4096), done: done, once: once}
	for _, d := range [][2]*pipeEnd{{a, b}, {b, a}} {
		go func(from, to *pipeEnd) {
			for {
				select {
				case p := <-from.out:
					time.Sleep(time.Until(p.due))
					select {
					case to.in <- p.pkt:
					case <-done:
						return
					}
				case <-done:
					return
				}
			}
		}(d[0], d[1])
	}
	return a, b
}

func (p *pipeEnd) Read(b []byte) (int, error) {
	select {
	case pkt := <-p.in:
		return copy(b, pkt), nil
	case <-p.done:
		return 0, net.ErrClosed
	}
}

func (p *pipeEnd) Write(b []byte) (int, error) {
	if p.drop != nil && p.drop(b) {
		return len(b), nil
	}
	select {
	case p.out <- timed{time.Now().Add(oneWay), bytes.Clone(b)}:
		return len(b), nil
	case <-p.done:
		return 0, net.ErrClosed
	}
}

func (p *pipeEnd) Close() error                     { p.once.Do(func() { close(p.done) }); return nil }
func (p *pipeEnd) LocalAddr() net.Addr              { return &net.UDPAddr{} }
func (p *pipeEnd) RemoteAddr() net.Addr             { return &net.UDPAddr{} }
func (p *pipeEnd) SetDeadline(time.Time) error      { return nil }
func (p *pipeEnd) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeEnd) SetWriteDeadline(time.Time) error { return nil }

// dataTSNs returns the TSNs of the DATA and I-DATA chunks in an SCTP packet (RFC 9260: a 12-byte common
// header, then chunks of type, flags, length, each padded to 4 bytes; the TSN follows a data chunk's header;
// two pion ends negotiate I-DATA, RFC 8260).
func dataTSNs(pkt []byte) []uint32 {
	var tsns []uint32
	for off := 12; off+4 <= len(pkt); {
		typ, n := pkt[off], int(binary.BigEndian.Uint16(pkt[off+2:]))
		if n < 4 {
			break
		}
		if (typ == 0 || typ == 64) && off+8 <= len(pkt) {
			tsns = append(tsns, binary.BigEndian.Uint32(pkt[off+4:]))
		}
		off += (n + 3) &^ 3
	}
	return tsns
}

// oneWay is the pipe's delay: a 40 ms round trip makes the tail-loss probe (2 RTT without a SACK) wait far
// longer than the gap between SACKs of a steady stream, as on a real path.
const oneWay = 20 * time.Millisecond

// timeouts counts pion's "T3-rtx timed out" messages in what a slog handler writes.
type timeouts struct{ n atomic.Int64 }

func (t *timeouts) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("T3-rtx timed out")) {
		t.n.Add(1)
	}
	return len(p), nil
}

// A retransmission that is lost again is resent once chunks sent after it are acknowledged (RFC 8985, as
// third_party/pion-sctp does), not after the retransmission timeout: upstream pion resent a chunk by RACK or
// fast retransmission only once, and its T3-rtx (at least 1 s) then resent everything in flight.
func TestLostRetransmissionIsResentWithoutTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var t3 timeouts
	lf := pionlog.Factory{Log: slog.New(slog.NewTextHandler(&t3, &slog.HandlerOptions{Level: pionlog.LevelDebug}))}

	c, s := pipe()
	// Drop the first two sends of one DATA chunk well into the transfer: its first transmission and its
	// first retransmission.
	var mu sync.Mutex
	var first uint32
	seen := map[uint32]int{}
	const nth = 40
	c.drop = func(pkt []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		drop := false
		for _, tsn := range dataTSNs(pkt) {
			if len(seen) == 0 {
				first = tsn
			}
			seen[tsn]++
			if tsn == first+nth && seen[tsn] <= 2 {
				drop = true
			}
		}
		return drop
	}

	type result struct {
		a   *sctp.Association
		err error
	}
	srv := make(chan result, 1)
	go func() {
		a, err := sctp.ServerWithOptions(sctp.WithNetConn(s), sctp.WithLoggerFactory(lf))
		srv <- result{a, err}
	}()
	client, err := sctp.ClientWithOptions(sctp.WithNetConn(c), sctp.WithLoggerFactory(lf))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	r := <-srv
	if r.err != nil {
		t.Fatal(r.err)
	}
	server := r.a
	defer server.Close()

	out, err := client.OpenStream(1, sctp.PayloadTypeWebRTCBinary)
	if err != nil {
		t.Fatal(err)
	}
	// A steady stream for longer than the retransmission timeout (1 s), one DATA chunk per packet: SACKs keep
	// arriving, so no tail-loss probe fires, and only the chunks sent after the lost retransmission can show
	// it lost before T3-rtx does.
	const messages, size, gap = 800, 1000, 2 * time.Millisecond
	go func() {
		msg := make([]byte, size)
		for i := range messages {
			binary.BigEndian.PutUint32(msg, uint32(i))
			if _, err := out.Write(msg); err != nil {
				return
			}
			time.Sleep(gap)
		}
	}()
	in, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-ctx.Done(); server.Abort("test timed out") }()
	buf := make([]byte, 2*size)
	for i := range messages {
		n, err := in.Read(buf)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Fatalf("message %d not received in 30 s", i)
			}
			t.Fatalf("message %d: %v", i, err)
		}
		if n != size || binary.BigEndian.Uint32(buf) != uint32(i) {
			t.Fatalf("message %d: got %d bytes, number %d", i, n, binary.BigEndian.Uint32(buf))
		}
	}

	mu.Lock()
	sends := seen[first+nth]
	mu.Unlock()
	if sends < 3 {
		t.Fatalf("the chunk was sent %d times, want at least 3 (both drops happened, then a third send)", sends)
	}
	if n := t3.n.Load(); n > 0 {
		t.Errorf("%d retransmission timeout(s): the lost retransmission waited for T3-rtx", n)
	}
}
