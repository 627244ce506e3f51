package peer

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// SCTP settings for long and lossy paths (issue 13, part 3), measured with scripts/bench-wan.sh
// (internal/natlab.NewWAN). pion's defaults follow RFC 4960's congestion control closely: every loss halves
// cwnd, which then grows by one MTU per RTT, so at 80 ms and 1% loss a transfer settles at about
// 1.22 × MTU ÷ (RTT × √p) ≈ 0.2 MB/s, whatever the path's capacity.
const (
	// wanMinCwnd is the floor of the congestion window: a loss never takes the sender below this many bytes
	// in flight (13 MB/s at 80 ms), so random loss costs little. At 80 ms / 1% loss (64 MiB, one run each):
	// 256 KiB gave 2.7 MB/s, 512 KiB 3.9–5.4, 1 MiB 5.4–8.8 (croc: 7.8). The price: on a bottleneck slower
	// than 1 MiB per RTT we keep up to 1 MiB in flight regardless of loss, i.e. a standing queue (or drops)
	// at that bottleneck, up to ~0.8 s at 10 Mbit/s. The throughput stays the bottleneck's.
	wanMinCwnd = 1 << 20
	// wanCwndCAStep is how much cwnd grows per RTT in congestion avoidance (pion: one MTU), so that the window
	// regrows after a loss in a few RTTs rather than hundreds.
	wanCwndCAStep = 16 << 10
	// wanFastRtxWnd is how many bytes fast retransmission may resend at once (pion: one MTU): several chunks
	// lost in one window are resent in one round trip, not one per SACK.
	wanFastRtxWnd = 64 << 10
	// wanRTOMax caps the retransmission timeout's exponential backoff (pion: 60 s), so a lost retransmission
	// stalls the transfer for seconds, not a minute. pion's RTO floor is 1 s.
	wanRTOMax = 4 * time.Second
	// wanReceiveBuffer is the receive window (pion: 1 MiB, which caps a transfer at 1 MiB per RTT, 13 MB/s at
	// 80 ms, much less while a lost chunk holds back everything after it). 8 MiB gave 5.4–6.3 MB/s at
	// 80 ms / 1%, 16 MiB 8.8. Memory: at most this much per connection waits for reassembly (it is only
	// used while data waits behind a loss or a slow reader).
	wanReceiveBuffer = 16 << 20
)

// tuneSCTPForWAN applies the settings above.
func tuneSCTPForWAN(se *webrtc.SettingEngine) {
	se.SetSCTPMinCwnd(wanMinCwnd)
	se.SetSCTPCwndCAStep(wanCwndCAStep)
	se.SetSCTPFastRtxWnd(wanFastRtxWnd)
	se.SetSCTPRTOMax(wanRTOMax)
	se.SetSCTPMaxReceiveBufferSize(wanReceiveBuffer)
}
