package peer

import "time"

// Bounds of a file transfer's send window (sendWindow).
const (
	// minSendWindow is the window before the path is measured, and its floor. Lower than SCTP's old floor
	// (1 MiB): behind a 10 Mbit/s bottleneck with a queue of one bandwidth-delay product (80 ms), a 1 MiB
	// floor had 4 of 5 packets dropped at the queue; 256 KiB had about 1 in 4 dropped and the transfer went
	// faster.
	minSendWindow = 256 << 10
	// maxSendWindow bounds the bytes a transfer keeps in flight (50 MB/s at 80 ms), as the old fixed limit
	// on buffered data did: memory on both sides.
	maxSendWindow = 4 << 20
	// sendWindowSamples is how many delivery-rate samples, one per round trip, the window's maximum covers.
	sendWindowSamples = 10
	// startupGain × the highest recent delivery rate is the fastest a transfer writes until the rate stops
	// growing, pacingGain × after: a window that opens at once (a burst of acknowledgements) is spread over
	// time instead of leaving as one burst that overflows a queue on the path (or the receiving browser's
	// socket), the rate can double every round trip while the path has room, and once it is full the sender
	// still probes a quarter above it, as BBR does.
	startupGain = 2
	pacingGain  = 1.25
	// fullRounds samples without the rate growing by fullGrowth mean the path is full (BBR's test).
	fullRounds = 3
	fullGrowth = 1.25
	// minRateSample is the shortest delivery-rate sample and the shortest RTT the window is sized for, for
	// paths (loopback, a LAN) whose round trip is shorter than the scheduler's noise.
	minRateSample = 10 * time.Millisecond
)

// sendWindow decides how many bytes a file transfer keeps unacknowledged in its data channel, the way BBR
// sizes TCP's congestion window: twice the path's bandwidth-delay product, measured as the highest delivery
// rate of the last sendWindowSamples round trips times the lowest smoothed RTT seen, within
// [minSendWindow, maxSendWindow]. Loss does not shrink it: on a long path with random loss, SCTP's own
// congestion control (halve on every loss) settles far below the path's capacity (docs/benchmarks.md, "Over a
// WAN-like path"), and its floor is set above this window (sctpwan.go), so this window is what limits. A
// bottleneck keeps the window near twice its bandwidth-delay product, so the queue we build there stays
// within one round trip (or minSendWindow), instead of a fixed floor's worth.
type sendWindow struct {
	win    int
	minRTT time.Duration // lowest smoothed RTT seen; 0 until SCTP has one

	t0    time.Time // start of the current rate sample
	d0    uint64    // bytes delivered at t0
	rates [sendWindowSamples]float64
	n     int     // samples taken
	best  float64 // highest of rates, bytes/s

	full     bool    // the rate stopped growing: pace at pacingGain, no longer startupGain
	fullRate float64 // the rate the growth test compares with
	flat     int     // samples since the rate last grew by fullGrowth

	next time.Time // pacing: when the next write may go
}

func newSendWindow() *sendWindow { return &sendWindow{win: minSendWindow} }

// update takes the bytes delivered (acknowledged) so far and SCTP's smoothed RTT (0 if none yet) at now,
// and returns the window.
func (w *sendWindow) update(now time.Time, delivered uint64, srtt time.Duration) int {
	if srtt > 0 && (w.minRTT == 0 || srtt < w.minRTT) {
		w.minRTT = srtt
	}
	if w.t0.IsZero() || delivered < w.d0 {
		w.t0, w.d0 = now, delivered
		return w.win
	}
	// Round trips under minRateSample count as minRateSample: on loopback or a LAN the receiver's scheduling
	// and collector pauses, not the path, decide how much must be in flight (a 256 KiB window on loopback
	// gave 55–58 MB/s, 1 MiB 66–71).
	rtt := max(w.minRTT, minRateSample)
	el := now.Sub(w.t0)
	if w.minRTT == 0 || el < rtt {
		return w.win
	}
	w.rates[w.n%len(w.rates)] = float64(delivered-w.d0) / el.Seconds()
	w.n++
	w.t0, w.d0 = now, delivered
	w.best = 0
	for _, r := range w.rates {
		w.best = max(w.best, r)
	}
	if !w.full {
		if w.best >= fullGrowth*w.fullRate {
			w.fullRate, w.flat = w.best, 0
		} else if w.flat++; w.flat >= fullRounds {
			w.full = true
		}
	}
	w.win = int(min(max(2*w.best*rtt.Seconds(), minSendWindow), maxSendWindow))
	return w.win
}

// wait returns how long to wait before writing k bytes at now to keep to the pacing rate (0: write now), and
// counts them as written when it returns 0.
func (w *sendWindow) wait(now time.Time, k int) time.Duration {
	if w.best <= 0 {
		return 0 // nothing measured yet: the window alone limits
	}
	if now.Before(w.next) {
		return w.next.Sub(now)
	}
	// Time not used (the writer waited for the window or the disk) is not saved up for a burst later.
	gain := float64(startupGain)
	if w.full {
		gain = pacingGain
	}
	w.next = now.Add(time.Duration(float64(k) / (gain * w.best) * float64(time.Second)))
	return 0
}
