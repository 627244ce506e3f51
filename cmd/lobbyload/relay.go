package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// pair is the relay state shared by the two members of a pair. The initiator's reader owns rtts and rounds.
type pair struct {
	initiator *member
	responder *member
	offer     []byte       // initiator → responder
	answer    []byte       // responder → initiator
	start     time.Time    // the relay phase's start, the origin of sentAt
	sentAt    atomic.Int64 // ns after start when the outstanding offer was sent
	rtts      []time.Duration
	stopped   func() bool
	count     int
	finish    func() // called once by the initiator's reader when the pair stops
}

// lastAnswerWait bounds the wait for the round trips still in flight when --duration ends.
const lastAnswerWait = 5 * time.Second

// runRelay connects 2×--pairs members one after another (so member 2i and 2i+1 form pair i, and each learns
// its own id from self-connected), waits until everyone has seen everyone, then lets every pair bounce an
// offer/answer of ~1 KB back and forth.
func runRelay(ctx context.Context, cfg *config, rep *report) {
	n := 2 * cfg.pairs
	rep.set("pairs", cfg.pairs)
	rep.printf("  %d pairs (%d members), %s, count %d per pair", cfg.pairs, n, cfg.duration, cfg.count)
	l := newLobby(ctx, cfg, n)
	l.onRelay = onRelay
	l.start = time.Now()
	members := make([]*member, 0, n)
	for i := range n {
		m, err := l.dial(l.ctx, i)
		if err != nil {
			l.fail(err)
			break
		}
		members = append(members, m)
		select {
		case <-m.selfCh: // the partner id is needed before the next member joins
		case <-l.ctx.Done():
		}
		if l.ctx.Err() != nil {
			break
		}
	}
	select {
	case <-l.done:
	case <-l.ctx.Done():
	}
	if l.ctx.Err() != nil {
		finishRelay(ctx, l, members, nil, 0, rep)
		return
	}
	rep.printf("  %d members joined and saw each other in %.2fs", n, time.Duration(l.doneAt.Load()).Seconds())

	var stop atomic.Bool
	var active atomic.Int64 // pairs still bouncing
	allDone := make(chan struct{})
	finish := func() {
		if active.Add(-1) == 0 {
			close(allDone)
		}
	}
	pairs := make([]*pair, cfg.pairs)
	start := time.Now()
	for i := range pairs {
		a, b := members[2*i], members[2*i+1]
		p := &pair{
			initiator: a, responder: b, start: start, count: cfg.count, stopped: stop.Load, finish: finish,
			// The ids were written by the readers before selfCh closed, which happened before this point.
			offer:  relayMessage(b.id, a.id, "offer"),
			answer: relayMessage(a.id, b.id, "answer"),
		}
		a.pair.Store(p)
		b.pair.Store(p)
		pairs[i] = p
	}
	active.Store(int64(len(pairs)))
	cpu := startCPU(cfg.pids)
	for _, p := range pairs {
		p.sentAt.Store(int64(time.Since(p.start)))
		if err := p.initiator.write(p.offer); err != nil {
			l.fail(fmt.Errorf("member %d: send offer: %w", p.initiator.n, err))
			finish()
		}
	}
	timer := time.NewTimer(cfg.duration)
	if cfg.duration <= 0 {
		timer.Stop()
	}
	select {
	case <-timer.C:
		stop.Store(true) // each pair finishes its outstanding round trip, then stops
		select {
		case <-allDone:
		case <-time.After(lastAnswerWait):
			l.errorf("%d pairs got no answer within %s after --duration ended (lost messages?)", active.Load(), lastAnswerWait)
		case <-l.ctx.Done():
		}
	case <-allDone:
	case <-l.ctx.Done():
	}
	timer.Stop()
	elapsed := time.Since(start)
	if l.ctx.Err() == nil {
		cpu.stop(rep)
	}
	finishRelay(ctx, l, members, pairs, elapsed, rep)
}

// onRelay runs on a member's reader: the responder answers every offer, the initiator times every answer
// and sends the next offer until the pair is stopped.
func onRelay(m *member, k msgKind, from []byte) {
	p := m.pair.Load()
	if p == nil {
		m.l.errorf("member %d: relay message before the relay phase", m.n)
		return
	}
	switch {
	case k == kindOffer && m == p.responder:
		if string(from) != p.initiator.id {
			m.l.errorf("member %d: offer with fromId %q, want %q", m.n, from, p.initiator.id)
		}
		if err := m.write(p.answer); err != nil {
			m.l.fail(fmt.Errorf("member %d: send answer: %w", m.n, err))
		}
	case k == kindAnswer && m == p.initiator:
		rtt := time.Since(p.start) - time.Duration(p.sentAt.Load())
		if string(from) != p.responder.id {
			m.l.errorf("member %d: answer with fromId %q, want %q", m.n, from, p.responder.id)
		}
		p.rtts = append(p.rtts, rtt)
		if p.stopped() || (p.count > 0 && len(p.rtts) >= p.count) {
			p.finish()
			return
		}
		p.sentAt.Store(int64(time.Since(p.start)))
		if err := m.write(p.offer); err != nil {
			m.l.fail(fmt.Errorf("member %d: send offer: %w", m.n, err))
		}
	default:
		m.l.errorf("member %d: unexpected relay message (kind %d)", m.n, k)
	}
}

// finishRelay tears the members down and reports the round trips.
func finishRelay(ctx context.Context, l *lobby, members []*member, pairs []*pair, elapsed time.Duration, rep *report) {
	l.teardown(members)
	if ctx.Err() != nil {
		rep.errorf("%v", context.Cause(ctx)) // timeout or interrupt
	}
	l.copyErrors(rep)
	if pairs == nil {
		rep.printf("  NOT complete: the members did not all join")
		return
	}
	var rtts []time.Duration
	for _, p := range pairs {
		rtts = append(rtts, p.rtts...)
	}
	slices.Sort(rtts)
	msgs := 2 * len(rtts)
	rate := float64(msgs) / elapsed.Seconds()
	rep.set("round_trips", len(rtts))
	rep.set("relay_seconds", round(elapsed.Seconds(), 3))
	rep.set("messages_per_sec", round(rate, 0))
	rep.set("message_bytes", len(pairs[0].offer))
	if len(rtts) == 0 {
		rep.errorf("no round trip completed")
		return
	}
	p50, p99 := percentile(rtts, 50), percentile(rtts, 99)
	rep.set("rtt_p50_ms", round(ms(p50), 3))
	rep.set("rtt_p99_ms", round(ms(p99), 3))
	rep.set("rtt_max_ms", round(ms(rtts[len(rtts)-1]), 3))
	rep.printf("  %d round trips in %.2fs (%d-byte messages): %.0f relayed messages/s", len(rtts), elapsed.Seconds(), len(pairs[0].offer), rate)
	rep.printf("  round-trip time p50 %.3f ms, p99 %.3f ms, max %.3f ms", ms(p50), ms(p99), ms(rtts[len(rtts)-1]))
}

// percentile returns the q-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, q int) time.Duration {
	i := (len(sorted)*q + 99) / 100 // ceil(n·q/100), 1-based
	return sorted[max(i-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// relayMessage builds a seed-style relay message {"toId":T,"fromId":F,"offer":{"type":"offer","sdp":"…"}}
// (or "answer"), with the keys in the seed's order.
func relayMessage(to, from, typ string) []byte {
	type description struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	}
	msg := struct {
		ToID   string       `json:"toId"`
		FromID string       `json:"fromId"`
		Offer  *description `json:"offer,omitempty"`
		Answer *description `json:"answer,omitempty"`
	}{ToID: to, FromID: from}
	d := &description{Type: typ, SDP: fakeSDP(typ)}
	if typ == "offer" {
		msg.Offer = d
	} else {
		msg.Answer = d
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

// fakeSDP returns a realistic ~1 KB data-channel session description, like a browser's createOffer().
func fakeSDP(typ string) string {
	setup := "actpass"
	if typ == "answer" {
		setup = "active"
	}
	lines := []string{
		"v=0",
		"o=- 4611731400430051336 2 IN IP4 127.0.0.1",
		"s=-",
		"t=0 0",
		"a=group:BUNDLE 0",
		"a=extmap-allow-mixed",
		"a=msid-semantic: WMS",
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
		"c=IN IP4 0.0.0.0",
		"a=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 network-id 1",
		"a=candidate:435653019 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active generation 0 network-id 1",
		"a=candidate:3236419563 1 udp 1686052607 198.51.100.7 46243 typ srflx raddr 192.0.2.10 rport 46243 generation 0 network-id 1",
		"a=candidate:2891637214 1 udp 41885439 203.0.113.20 61234 typ relay raddr 198.51.100.7 rport 46243 generation 0 network-id 1",
		"a=ice-ufrag:Qz3h",
		"a=ice-pwd:kP8WmY0fZqJ3tLr2nX6vB1cD",
		"a=ice-options:trickle",
		"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
		"a=setup:" + setup,
		"a=mid:0",
		"a=sctp-port:5000",
		"a=max-message-size:262144",
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}
