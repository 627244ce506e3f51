// p2plobby's tests of its changes to this copy (README.p2plobby.md). internal/sctpcheck runs them from the
// project's test command.

package sctp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/logging"
)

// newSackTestAssoc is an association with a fixed TSN base and no connection, for calling the SACK handlers
// directly (as pion's own newRackTestAssoc).
func newSackTestAssoc(t *testing.T) *Association {
	t.Helper()
	a := createAssociationFromConfigWithTsn(&Config{LoggerFactory: logging.NewDefaultLoggerFactory()}, 100)
	a.setState(established)
	a.myNextTSN = 100
	a.cumulativeTSNAckPoint = 99
	a.advancedPeerTSNAckPoint = 99
	a.srtt.Store(float64(100))

	return a
}

func testChunk(tsn uint32, since time.Time) *chunkPayloadData {
	return &chunkPayloadData{
		streamIdentifier: 1, beginningFragment: true, endingFragment: true,
		userData: make([]byte, 100), tsn: tsn, since: since, nSent: 1,
	}
}

func TestAppendToMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		d := &chunkPayloadData{
			tsn: rng.Uint32(), streamIdentifier: uint16(rng.Uint32()), streamSequenceNumber: uint16(rng.Uint32()),
			payloadType: PayloadProtocolIdentifier(rng.Uint32()), messageIdentifier: rng.Uint32(),
			fragmentSequenceNumber: rng.Uint32(),
			beginningFragment:      rng.IntN(2) == 0, endingFragment: rng.IntN(2) == 0, unordered: rng.IntN(2) == 0,
			immediateSack: rng.IntN(2) == 0,
			userData:      make([]byte, rng.IntN(1300)),
		}
		if rng.IntN(2) == 0 {
			d.iData = true
		}
		for j := range d.userData {
			d.userData[j] = byte(rng.Uint32())
		}
		want, err := d.marshal()
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte{1, 2, 3}
		got := d.appendTo(append([]byte(nil), prefix...))
		if !bytes.Equal(got[3:], want) || !bytes.Equal(got[:3], prefix) {
			t.Fatalf("case %d: appendTo differs from marshal", i)
		}
		// a whole packet: header, chunks, padding, checksum
		p := &packet{sourcePort: 5000, destinationPort: 5000, verificationTag: 7, chunks: []chunk{d, &chunkSelectiveAck{cumulativeTSNAck: 9}, d}}
		a, err := p.marshal(true)
		if err != nil {
			t.Fatal(err)
		}
		var ref []byte
		ref = append(ref, a[:12]...)
		for _, c := range p.chunks {
			r, _ := c.marshal()
			ref = append(ref, r...)
			if pad := getPadding(len(ref)); pad != 0 {
				ref = append(ref, make([]byte, pad)...)
			}
		}
		if !bytes.Equal(a[12:], ref[12:]) {
			t.Fatalf("case %d: packet differs", i)
		}
	}
}

// TestSackSkipMatchesReference applies the same random SACK sequences to the optimized and the previous
// processSelectiveAck/processFastRetransmission and compares every result and every chunk's state.
func TestSackSkipMatchesReference(t *testing.T) {
	for seed := range 300 {
		rng := rand.New(rand.NewPCG(uint64(seed), 9))
		opt, ref := newSackTestAssoc(t), newSackTestAssoc(t)
		base := opt.cumulativeTSNAckPoint + 1
		n := 20 + rng.IntN(400)
		now := time.Now()
		for i := range n {
			for _, a := range []*Association{opt, ref} {
				c := testChunk(base+uint32(i), now.Add(time.Duration(i-n)*time.Microsecond))
				a.inflightQueue.pushNoCheck(c)
				a.rackInsert(c)
			}
		}
		received := make([]bool, n)
		for step := range 80 {
			for range rng.IntN(25) {
				received[rng.IntN(n)] = true
			}
			cum := base - 1
			for int(cum+1-base) < n && received[cum+1-base] {
				cum++
			}
			if rng.IntN(10) == 0 && sna32LT(opt.cumulativeTSNAckPoint, cum) { // a SACK that lags
				cum = opt.cumulativeTSNAckPoint + uint32(rng.IntN(int(cum-opt.cumulativeTSNAckPoint)+1))
			}
			var blocks []gapAckBlock
			for i := int(cum+1-base) + 1; i < n; i++ {
				if received[i] && !received[i-1] || received[i] && i == int(cum+1-base)+1 {
					j := i
					for j+1 < n && received[j+1] {
						j++
					}
					start := uint32(i) + base - cum
					end := uint32(j) + base - cum
					blocks = append(blocks, gapAckBlock{start: uint16(start), end: uint16(end)})
					i = j
				}
			}
			if len(blocks) > 0 && rng.IntN(8) == 0 { // a renege or a block limit: one block left out
				k := rng.IntN(len(blocks))
				blocks = append(blocks[:k:k], blocks[k+1:]...)
			}
			sack := &chunkSelectiveAck{cumulativeTSNAck: cum, gapAckBlocks: blocks}
			if sna32GT(opt.cumulativeTSNAckPoint, cum) {
				continue
			}
			type result struct {
				bytes    int
				htna     uint32
				sendTime time.Time
				origTSN  uint32
				found    bool
				err1     bool
				err2     bool
			}
			run := func(a *Association, useRef bool) result {
				a.lock.Lock()
				defer a.lock.Unlock()
				var r result
				var m map[*Stream]int
				var err error
				if useRef {
					m, r.htna, r.sendTime, r.origTSN, r.found, err = a.processSelectiveAckRef(sack)
				} else {
					m, r.htna, r.sendTime, r.origTSN, r.found, err = a.processSelectiveAck(sack)
				}
				for _, b := range m {
					r.bytes += b
				}
				r.err1 = err != nil
				if err != nil {
					return r
				}
				advanced := sna32LT(a.cumulativeTSNAckPoint, cum)
				if advanced {
					a.cumulativeTSNAckPoint = cum
				}
				if useRef {
					err = a.processFastRetransmissionRef(cum, blocks, r.htna, advanced)
				} else {
					err = a.processFastRetransmission(cum, blocks, r.htna, advanced)
				}
				r.err2 = err != nil
				return r
			}
			ro, rr := run(opt, false), run(ref, true)
			if ro != rr {
				t.Fatalf("seed %d step %d: %+v, reference %+v (sack %v)", seed, step, ro, rr, sack)
			}
			if opt.inflightQueue.size() != ref.inflightQueue.size() || opt.inFastRecovery != ref.inFastRecovery ||
				opt.CWND() != ref.CWND() || opt.ssthresh != ref.ssthresh || opt.fastRecoverExitPoint != ref.fastRecoverExitPoint {
				t.Fatalf("seed %d step %d: association state differs", seed, step)
			}
			for i := range opt.inflightQueue.size() {
				a, b := opt.inflightQueue.chunks.At(i), ref.inflightQueue.chunks.At(i)
				if a.tsn != b.tsn || a.acked != b.acked || a.retransmit != b.retransmit || a.missIndicator != b.missIndicator || a.rackInList != b.rackInList {
					t.Fatalf("seed %d step %d: chunk %d differs: %+v / %+v", seed, step, a.tsn, a, b)
				}
			}
		}
	}
}

// The two functions as they were before p2plobby's third change (v1.12.0 with the first two), the oracle of
// TestSackSkipMatchesReference.

func (a *Association) processSelectiveAckRef(selectiveAckChunk *chunkSelectiveAck) (
	bytesAckedPerStream map[*Stream]int,
	htna uint32,
	newestDeliveredSendTime time.Time,
	newestDeliveredOrigTSN uint32,
	deliveredFound bool,
	err error,
) {
	bytesAckedPerStream = map[*Stream]int{}
	now := time.Now() // capture the time for this SACK

	// Validate that full range exists in the inflight queue to prevent partial pops
	// left over from an invalid SACK that causes the cumulativeTSNAckPoint to be updated
	// incorrectly and causes weird state and race conditions.
	if sna32LT(a.cumulativeTSNAckPoint, selectiveAckChunk.cumulativeTSNAck) {
		firstTSN := a.cumulativeTSNAckPoint + 1
		if _, ok := a.inflightQueue.get(firstTSN); !ok {
			return nil, 0, time.Time{}, 0, false, fmt.Errorf("%w: %v", ErrInflightQueueTSNPop, firstTSN)
		}
		if _, ok := a.inflightQueue.get(selectiveAckChunk.cumulativeTSNAck); !ok {
			return nil, 0, time.Time{}, 0, false,
				fmt.Errorf("%w: %v", ErrInflightQueueTSNPop, selectiveAckChunk.cumulativeTSNAck)
		}
	}
	for _, gap := range selectiveAckChunk.gapAckBlocks {
		if gap.start == 0 {
			return nil, 0, time.Time{}, 0, false,
				fmt.Errorf("%w: %v", ErrTSNRequestNotExist, selectiveAckChunk.cumulativeTSNAck)
		}
		if gap.start > gap.end {
			return nil, 0, time.Time{}, 0, false,
				fmt.Errorf("%w: invalid Gap Ack Block %d-%d", ErrTSNRequestNotExist, gap.start, gap.end)
		}

		firstTSN := selectiveAckChunk.cumulativeTSNAck + uint32(gap.start)
		if _, ok := a.inflightQueue.get(firstTSN); !ok {
			return nil, 0, time.Time{}, 0, false, fmt.Errorf("%w: %v", ErrTSNRequestNotExist, firstTSN)
		}
		lastTSN := selectiveAckChunk.cumulativeTSNAck + uint32(gap.end)
		if lastTSN != firstTSN {
			if _, ok := a.inflightQueue.get(lastTSN); !ok {
				return nil, 0, time.Time{}, 0, false,
					fmt.Errorf("%w: %v", ErrTSNRequestNotExist, lastTSN)
			}
		}
	}

	// New ack point, so pop all ACKed packets from inflightQueue
	// We add 1 because the "currentAckPoint" has already been popped from the inflight queue
	// For the first SACK we take care of this by setting the ackpoint to cumAck - 1
	for idx := a.cumulativeTSNAckPoint + 1; sna32LTE(idx, selectiveAckChunk.cumulativeTSNAck); idx++ {
		chunkPayload, ok := a.inflightQueue.pop(idx)
		if !ok {
			return nil, 0, time.Time{}, 0, false, fmt.Errorf("%w: %v", ErrInflightQueueTSNPop, idx)
		}

		// RACK: remove from xmit-time list since it's delivered
		a.rackRemove(chunkPayload)

		if !chunkPayload.acked { //nolint:nestif
			// RFC 4960 sec 6.3.2.  Retransmission Timer Rules
			//   R3)  Whenever a SACK is received that acknowledges the DATA chunk
			//        with the earliest outstanding TSN for that address, restart the
			//        T3-rtx timer for that address with its current RTO (if there is
			//        still outstanding data on that address).
			if idx == a.cumulativeTSNAckPoint+1 {
				// T3 timer needs to be reset. Stop it for now.
				a.t3RTX.stop()
			}

			nBytesAcked := len(chunkPayload.userData)

			// Sum acknowledged bytes against the stream generation that sent
			// the chunk. A reset can remove that stream and allow the same ID to
			// name a new stream before a delayed SACK arrives.
			if stream := a.streamForAcknowledgedChunk(chunkPayload); stream != nil {
				bytesAckedPerStream[stream] += nBytesAcked
			}

			// RFC 4960 sec 6.3.1.  RTO Calculation
			//   C4)  When data is in flight and when allowed by rule C5 below, a new
			//        RTT measurement MUST be made each round trip.  Furthermore, new
			//        RTT measurements SHOULD be made no more than once per round trip
			//        for a given destination transport address.
			//   C5)  Karn's algorithm: RTT measurements MUST NOT be made using
			//        packets that were retransmitted (and thus for which it is
			//        ambiguous whether the reply was for the first instance of the
			//        chunk or for a later instance)
			if sna32GTE(chunkPayload.tsn, a.minTSN2MeasureRTT) {
				// Only original transmissions for classic RTT measurement (Karn's rule)
				if chunkPayload.nSent == 1 {
					a.minTSN2MeasureRTT = a.myNextTSN
					rtt := now.Sub(chunkPayload.since).Seconds() * 1000.0
					srtt := a.rtoMgr.setNewRTT(rtt)
					a.srtt.Store(srtt)

					// use a window to determine minRtt instead of a global min
					// as the RTT can fluctuate, which can cause problems if going from a
					// high RTT to a low RTT.
					a.rack.rackMinRTTWnd.Push(now, now.Sub(chunkPayload.since))

					a.log.Tracef("[%s] SACK: measured-rtt=%f srtt=%f new-rto=%f",
						a.name, rtt, srtt, a.rtoMgr.getRTO())
				}
			}

			// RFC 8985 (RACK) sec 5.2: RACK.segment is the most recently sent
			// segment that has been delivered, including retransmissions.
			if chunkPayload.since.After(newestDeliveredSendTime) && a.rackDeliveryUnambiguous(chunkPayload, now) {
				newestDeliveredSendTime = chunkPayload.since
				newestDeliveredOrigTSN = chunkPayload.tsn
				deliveredFound = true
			}
		}

		if a.inFastRecovery && chunkPayload.tsn == a.fastRecoverExitPoint {
			a.log.Debugf("[%s] exit fast-recovery", a.name)
			a.inFastRecovery = false
		}
	}

	htna = selectiveAckChunk.cumulativeTSNAck

	// Mark selectively acknowledged chunks as "acked"
	for _, g := range selectiveAckChunk.gapAckBlocks {
		for i := uint32(g.start); i <= uint32(g.end); i++ {
			tsn := selectiveAckChunk.cumulativeTSNAck + i
			chunkPayload, ok := a.inflightQueue.get(tsn)
			if !ok {
				return nil, 0, time.Time{}, 0, false, fmt.Errorf("%w: %v", ErrTSNRequestNotExist, tsn)
			}

			// RACK: remove from xmit-time list since it's delivered
			a.rackRemove(chunkPayload)

			if !chunkPayload.acked { //nolint:nestif
				nBytesAcked := a.inflightQueue.markAsAcked(tsn)

				// Sum acknowledged bytes against the stream generation that sent
				// the chunk, not a later stream that reused its identifier.
				if stream := a.streamForAcknowledgedChunk(chunkPayload); stream != nil {
					bytesAckedPerStream[stream] += nBytesAcked
				}

				a.log.Tracef("[%s] tsn=%d has been sacked", a.name, chunkPayload.tsn)

				// RTT / RTO and RACK updates
				if sna32GTE(chunkPayload.tsn, a.minTSN2MeasureRTT) {
					// Only original transmissions for classic RTT measurement
					if chunkPayload.nSent == 1 {
						a.minTSN2MeasureRTT = a.myNextTSN
						rtt := now.Sub(chunkPayload.since).Seconds() * 1000.0
						srtt := a.rtoMgr.setNewRTT(rtt)
						a.srtt.Store(srtt)

						a.rack.rackMinRTTWnd.Push(now, now.Sub(chunkPayload.since))

						a.log.Tracef("[%s] SACK: measured-rtt=%f srtt=%f new-rto=%f",
							a.name, rtt, srtt, a.rtoMgr.getRTO())
					}
				}

				if chunkPayload.since.After(newestDeliveredSendTime) && a.rackDeliveryUnambiguous(chunkPayload, now) {
					newestDeliveredSendTime = chunkPayload.since
					newestDeliveredOrigTSN = chunkPayload.tsn
					deliveredFound = true
				}
			}

			if sna32LT(htna, tsn) {
				htna = tsn
			}
		}
	}

	return bytesAckedPerStream, htna, newestDeliveredSendTime, newestDeliveredOrigTSN, deliveredFound, nil
}

func (a *Association) processFastRetransmissionRef( //nolint:gocognit
	cumTSNAckPoint uint32,
	gapAckBlocks []gapAckBlock,
	htna uint32,
	cumTSNAckPointAdvanced bool,
) error {
	// HTNA algorithm - RFC 4960 Sec 7.2.4
	// Increment missIndicator of each chunks that the SACK reported missing
	// when either of the following is met:
	// a)  Not in fast-recovery
	//     miss indications are incremented only for missing TSNs prior to the
	//     highest TSN newly acknowledged in the SACK.
	// b)  In fast-recovery AND the Cumulative TSN Ack Point advanced
	//     the miss indications are incremented for all TSNs reported missing
	//     in the SACK.
	//nolint:nestif
	if !a.inFastRecovery ||
		(a.inFastRecovery && cumTSNAckPointAdvanced) {
		var maxTSN uint32
		if !a.inFastRecovery {
			// a) increment only for missing TSNs prior to the HTNA
			maxTSN = htna
		} else {
			// b) increment for all TSNs reported missing
			maxTSN = cumTSNAckPoint
			if len(gapAckBlocks) > 0 {
				maxTSN += uint32(gapAckBlocks[len(gapAckBlocks)-1].end)
			}
		}

		for tsn := cumTSNAckPoint + 1; sna32LT(tsn, maxTSN); tsn++ {
			c, ok := a.inflightQueue.get(tsn)
			if !ok {
				return fmt.Errorf("%w: %v", ErrTSNRequestNotExist, tsn)
			}
			if !c.acked && !c.abandoned() && c.missIndicator < 3 {
				c.missIndicator++
				if c.missIndicator == 3 {
					if a.tlrActive {
						a.tlrApplyAdditionalLossLocked(time.Now())
					}

					if !a.inFastRecovery {
						// 2)  If not in Fast Recovery, adjust the ssthresh and cwnd of the
						//     destination address(es) to which the missing DATA chunks were
						//     last sent, according to the formula described in Section 7.2.3.
						a.inFastRecovery = true
						a.fastRecoverExitPoint = htna
						a.ssthresh = max32(a.CWND()/2, 4*a.MTU())
						a.setCWND(a.ssthresh)
						a.partialBytesAcked = 0
						a.willRetransmitFast = true

						a.log.Tracef("[%s] updated cwnd=%d ssthresh=%d inflight=%d (FR)",
							a.name, a.CWND(), a.ssthresh, a.inflightQueue.getNumBytes())
					}
				}
			}
		}
	}

	if a.inFastRecovery && cumTSNAckPointAdvanced {
		a.willRetransmitFast = true
	}

	return nil
}
