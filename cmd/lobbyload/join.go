package main

import (
	"context"
	"math/bits"
	"slices"
	"time"
)

// runJoin runs the join scenario, or with idle the idle scenario: the same join, then a pause, and the
// server's memory growth per connection.
func runJoin(ctx context.Context, cfg *config, rep *report, idle bool) {
	n := cfg.members
	rep.set("members", n)
	rep.printf("  %d members, %d dials in flight", n, cfg.concurrency)
	var rssBefore, rssAfter int64
	if idle {
		var err error
		if rssBefore, err = pidsRSS(cfg.pids); err != nil {
			rep.errorf("reading server memory: %v", err)
			return
		}
	}

	l := newLobby(ctx, cfg, n)
	cpu := startCPU(cfg.pids)
	l.start = time.Now()
	members, latency := l.dialAll(n)
	dialed := time.Since(l.start)
	// Wait before reading the views: for idle so the server settles, for join to catch stray late events.
	complete, _ := afterStorm(l.ctx, l.done, cpu, rep, idle, cfg.settle)
	if complete && idle {
		var err error
		if rssAfter, err = pidsRSS(cfg.pids); err != nil {
			rep.errorf("reading server memory: %v", err)
		}
	}
	selfRSS, _ := procRSS("self")

	l.teardown(members)
	if ctx.Err() != nil {
		rep.errorf("%v", context.Cause(ctx)) // timeout or interrupt; failures inside the run are already recorded
	}
	l.copyErrors(rep)

	dialedN, completeN := 0, 0
	var events int64
	for _, m := range members {
		if m == nil {
			continue
		}
		dialedN++
		events += m.connected
		if m.ready && m.count == l.want {
			completeN++
		}
	}
	rep.printf("  dialled %d/%d members in %.2fs", dialedN, n, dialed.Seconds())
	rep.set("dial_seconds", round(dialed.Seconds(), 3))
	rep.set("connected_events", events)
	if dialedN == n {
		slices.Sort(latency)
		p50, p99, top := percentile(latency, 50), percentile(latency, 99), latency[n-1]
		rep.printf("  dial latency (WebSocket handshake): p50 %.2f ms, p99 %.2f ms, max %.2f ms", ms(p50), ms(p99), ms(top))
		rep.set("dial_p50_ms", round(ms(p50), 3))
		rep.set("dial_p99_ms", round(ms(p99), 3))
	}
	if !complete {
		rep.printf("  NOT complete: %d/%d members saw everyone", completeN, n)
		rep.set("complete_members", completeN)
		return
	}

	d := time.Duration(l.doneAt.Load())
	rate := float64(events) / d.Seconds()
	expected := int64(n) * int64(n-1)
	rep.printf("  every member saw every other member after %.3fs", d.Seconds())
	rep.printf("  connected events: %d (expected %d) → %.0f lobby events delivered per second", events, expected, rate)
	rep.set("join_seconds", round(d.Seconds(), 3))
	rep.set("events_per_sec", round(rate, 0))
	if events != expected {
		rep.errorf("received %d connected events, expected n(n-1) = %d", events, expected)
	}
	checkViews(members, rep)

	if idle && rssAfter > 0 {
		per := float64(rssAfter-rssBefore) / float64(n)
		rep.printf("  server VmRSS %.1f MiB before, %.1f MiB after %s settling → %.0f bytes per connection",
			mib(rssBefore), mib(rssAfter), cfg.settle, per)
		rep.set("server_rss_before_bytes", rssBefore)
		rep.set("server_rss_after_bytes", rssAfter)
		rep.set("bytes_per_conn", round(per, 0))
	}
	rep.printf("  (this tool's own VmRSS: %.1f MiB for %d client sockets)", mib(selfRSS), n)
}

// checkViews verifies that every member's final view is exactly the set of all the other members.
func checkViews(members []*member, rep *report) {
	all := newBitset(len(members))
	for _, m := range members {
		all.set(m.idx)
	}
	bad := 0
	for _, m := range members {
		missing, extra := 0, 0
		for w := range max(len(all), len(m.seen)) {
			var want, got uint64
			if w < len(all) {
				want = all[w]
			}
			if w < len(m.seen) {
				got = m.seen[w]
			}
			if int(m.idx)/64 == w {
				want &^= 1 << (uint(m.idx) % 64)
			}
			missing += bits.OnesCount64(want &^ got)
			extra += bits.OnesCount64(got &^ want)
		}
		if missing+extra > 0 {
			bad++
			rep.errorf("member %d (%s): view has %d missing and %d extra members", m.n, m.id, missing, extra)
		}
	}
	if bad == 0 {
		rep.printf("  views checked: all %d members see exactly the other %d", len(members), len(members)-1)
	}
	rep.set("views_ok", bad == 0)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// afterStorm waits until every client is in (done) or ctx ends, takes the servers' CPU over the storm, then
// waits a little more before the caller looks: settle for an idle run, 250 ms for a join storm (stray late
// messages). complete is false if ctx ended first; wait is how long it waited after the storm.
func afterStorm(ctx context.Context, done <-chan struct{}, cpu *cpuMeter, rep *report, idle bool, settle time.Duration) (complete bool, wait time.Duration) {
	wait = 250 * time.Millisecond
	if idle {
		wait = settle
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	if ctx.Err() != nil {
		return false, wait
	}
	cpu.stop(rep)
	select {
	case <-time.After(wait):
		return true, wait
	case <-ctx.Done():
		return false, wait
	}
}
