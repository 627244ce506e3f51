package natlab

import (
	"encoding/binary"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
)

// seqpacket returns two connected SOCK_SEQPACKET sockets: like a TUN device, each read returns one packet.
func seqpacket(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	files := make([]*os.File, 2)
	for i, fd := range fds {
		if err := syscall.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
		files[i] = os.NewFile(uintptr(fd), "seqpacket")
	}
	return files[0], files[1]
}

// testLink starts a Link impairing a → b with imp and returns the test's ends: in (writes into a) and out
// (reads what b delivered).
func testLink(t *testing.T, imp Impairment) (link *Link, in, out *os.File) {
	t.Helper()
	in, a := seqpacket(t)
	b, out := seqpacket(t)
	link = NewLink(a, b, imp, Impairment{})
	t.Cleanup(func() {
		link.Close()
		in.Close()
		out.Close()
	})
	return link, in, out
}

// stamped is a packet of size bytes carrying its sequence number and the time it was sent.
func stamped(seq int, size int) []byte {
	p := make([]byte, max(size, 16))
	binary.BigEndian.PutUint64(p, uint64(seq))
	binary.BigEndian.PutUint64(p[8:], uint64(time.Now().UnixNano()))
	return p
}

func unstamp(p []byte) (seq int, sent time.Time) {
	return int(binary.BigEndian.Uint64(p)), time.Unix(0, int64(binary.BigEndian.Uint64(p[8:])))
}

// receive reads n packets from out, returning each one's sequence number and how long it took.
func receive(t *testing.T, out *os.File, n int) (seqs []int, delays []time.Duration) {
	t.Helper()
	out.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, maxPacket)
	for range n {
		k, err := out.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", len(seqs), n, err)
		}
		seq, sent := unstamp(buf[:k])
		seqs = append(seqs, seq)
		delays = append(delays, time.Since(sent))
	}
	return seqs, delays
}

func TestLinkDelayAndOrder(t *testing.T) {
	for _, imp := range []Impairment{
		{Delay: 40 * time.Millisecond},
		{Delay: 40 * time.Millisecond, Jitter: 30 * time.Millisecond, Seed: 3},
	} {
		_, in, out := testLink(t, imp)
		const n = 50
		for i := range n {
			if _, err := in.Write(stamped(i, 200)); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond) // spread the sends, so jitter would reorder if it could
			}
		}
		seqs, delays := receive(t, out, n)
		for i, d := range delays {
			if d < imp.Delay {
				t.Errorf("%+v: packet %d arrived after %v, before the delay", imp, seqs[i], d)
			}
		}
		if !slices.IsSorted(seqs) {
			t.Errorf("%+v: packets reordered: %v", imp, seqs)
		}
	}
}

// lostSet sends n packets through a link with imp and returns which were lost.
func lostSet(t *testing.T, imp Impairment, n int) []int {
	t.Helper()
	link, in, out := testLink(t, imp)
	done := make(chan []int, 1)
	go func() {
		var got []int
		buf := make([]byte, maxPacket)
		out.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			k, err := out.Read(buf)
			if err != nil {
				done <- got
				return
			}
			seq, _ := unstamp(buf[:k])
			if got = append(got, seq); seq == n-1 {
				done <- got
				return
			}
		}
	}()
	for i := range n - 1 {
		if _, err := in.Write(stamped(i, 100)); err != nil {
			t.Fatal(err)
		}
		if i%64 == 63 {
			time.Sleep(time.Millisecond) // stay under the socket buffers
		}
	}
	// The last packet ends the reader; it may be lost, so keep sending it as a new packet until one arrives.
	var got []int
	for i := 0; got == nil; i++ {
		in.Write(stamped(n-1, 100))
		select {
		case got = <-done:
		case <-time.After(50 * time.Millisecond):
		}
	}
	ab, _ := link.Stats()
	if ab.Overflow != 0 {
		t.Fatalf("queue overflowed: %+v", ab)
	}
	arrived := map[int]bool{}
	for _, s := range got {
		arrived[s] = true
	}
	var lost []int
	for i := range n - 1 {
		if !arrived[i] {
			lost = append(lost, i)
		}
	}
	return lost
}

func TestLinkLossIsSeeded(t *testing.T) {
	const n = 3000
	imp := Impairment{Loss: 0.05, Seed: 42}
	first := lostSet(t, imp, n)
	if f := float64(len(first)) / (n - 1); f < 0.03 || f > 0.07 {
		t.Errorf("lost %d of %d packets (%.3f), want about %.2f", len(first), n-1, f, imp.Loss)
	}
	if again := lostSet(t, imp, n); !slices.Equal(first, again) {
		t.Errorf("the same seed lost other packets:\n%v\n%v", first, again)
	}
	imp.Seed = 43
	if other := lostSet(t, imp, n); slices.Equal(first, other) {
		t.Errorf("another seed lost the same packets: %v", other)
	}
	if none := lostSet(t, Impairment{Seed: 42}, 500); len(none) != 0 {
		t.Errorf("no loss configured, but lost %v", none)
	}
}

func TestLinkQueueIsBounded(t *testing.T) {
	// Without a rate, the limit bounds everything held: with a long delay, 10 packets of 1000 bytes fit.
	link, in, _ := testLink(t, Impairment{Delay: 3 * time.Second, Limit: 10_000})
	for i := range 100 {
		if _, err := in.Write(stamped(i, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	var ab LinkStats
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ab, _ = link.Stats(); ab.Packets == 100 {
			break
		}
	}
	if ab.Packets != 100 || ab.MaxQueued > 10_000 || ab.Overflow == 0 {
		t.Errorf("stats %+v: want 100 packets read, some dropped at the tail, at most 10000 bytes queued", ab)
	}

	// With a rate, the limit bounds the backlog, and the bottleneck spaces the packets it lets through.
	const rate, size = 200_000, 1000 // 5 ms per packet
	link, in, out := testLink(t, Impairment{Rate: rate, Limit: 10_000})
	start := time.Now()
	for i := range 100 {
		if _, err := in.Write(stamped(i, size)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ab, _ = link.Stats(); ab.Packets == 100 && ab.Delivered+ab.Overflow == 100 {
			break
		}
	}
	if ab.Delivered+ab.Overflow != 100 || ab.MaxQueued > 10_000 || ab.Overflow == 0 {
		t.Fatalf("stats %+v: want every packet delivered or dropped, some dropped, at most 10000 bytes queued", ab)
	}
	receive(t, out, int(ab.Delivered))
	if took, least := time.Since(start), time.Duration(ab.Delivered)*size*time.Second/rate; took < least {
		t.Errorf("%d packets of %d bytes went through a %d B/s bottleneck in %v, under %v", ab.Delivered, size, rate, took, least)
	}
}
