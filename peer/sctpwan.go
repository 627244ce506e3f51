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
	// wanMinCwnd is the floor of SCTP's congestion window, set to the send window's ceiling so that SCTP's
	// window never limits a file transfer: the transfer's own window and pacing (sendwindow.go), sized from
	// the path's measured delivery rate and RTT, do. SCTP's window halves on every loss, and at 80 ms / 1% loss
	// every round trip has several: with a floor of 1 MiB it sat on the floor (13 MB/s at 80 ms at most; 256
	// KiB gave 2.7 MB/s, 512 KiB 3.9–5.4), and any higher fixed floor overruns a slow bottleneck.
	wanMinCwnd = maxSendWindow
	// wanFastRtxWnd is how many bytes fast retransmission may resend at once (pion: one MTU): several chunks
	// lost in one window are resent in one round trip, not one per SACK.
	wanFastRtxWnd = 64 << 10
	// wanRTOMax caps the retransmission timeout's exponential backoff (pion: 60 s), so a lost retransmission
	// stalls the transfer for seconds, not a minute. pion's RTO floor is 1 s.
	wanRTOMax = 4 * time.Second
	// wanReceiveBuffer is the receive window (pion: 1 MiB, which caps a transfer at 1 MiB per RTT, 13 MB/s at
	// 80 ms). What waits behind a lost chunk counts against it. With 16 MiB, at 80 ms / 1% loss and the send
	// window's rates (15–17 MB/s), it closed now and then behind a hole; the sender, stalled, then hit the
	// retransmission timeout, after which pion resends all in flight and throttles itself for seconds: 2 runs
	// in 22 fell to 1–2 MB/s. With 64 MiB, 0 in 12 (the slowest 11.7 MB/s). Memory: at most this much per
	// connection, and only while data waits behind a loss or a slow reader.
	wanReceiveBuffer = 64 << 20
)

// tuneSCTPForWAN applies the settings above.
func tuneSCTPForWAN(se *webrtc.SettingEngine) {
	se.SetSCTPMinCwnd(wanMinCwnd)
	se.SetSCTPFastRtxWnd(wanFastRtxWnd)
	se.SetSCTPRTOMax(wanRTOMax)
	se.SetSCTPMaxReceiveBufferSize(wanReceiveBuffer)
}
