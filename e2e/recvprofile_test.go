package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// TestProfileFileReceive shows where the CPU goes while one browser receives a file from another (issue 13,
// part 4): the CPU time of every thread of both browsers, by process type and thread name, for the raw pair
// (ideal sender, nothing done with the bytes) and for the full path, and the receiving page's JavaScript
// profile (Profiler.start on its tab) during a second full-path transfer. A measurement, not a check:
//
//	P2PLOBBY_PROFILE=1 go test ./e2e -run TestProfileFileReceive -v   (100 MiB; P2PLOBBY_BENCH_MIB to change)
//
// The raw profile is written to $P2PLOBBY_PROFILE_DIR/receive.cpuprofile when that is set (DevTools opens it).
func TestProfileFileReceive(t *testing.T) {
	if os.Getenv("P2PLOBBY_PROFILE") == "" {
		t.Skip("set P2PLOBBY_PROFILE=1 to profile a browser receiving a file")
	}
	alice, bob, path, want, size := benchPages(t)
	browsers := map[string]int{"send": browserPid(t, alice), "recv": browserPid(t, bob)}

	phase := func(name string, run func() float64) {
		before := threadTimes(browsers)
		start := time.Now()
		mbps := run()
		wall := time.Since(start).Seconds()
		after := threadTimes(browsers)
		t.Logf("%s: %.1f MB/s, %.1f s; CPU seconds per 100 MB by browser/process/thread (≥ 0.05):", name, mbps, wall)
		type row struct {
			key string
			sec float64
		}
		var rows []row
		sums := map[string]float64{}
		for k, v := range after {
			d := (v - before[k]) * 100e6 / float64(size)
			sums[k[:strings.Index(k, "/")]] += d
			if d >= 0.05 {
				rows = append(rows, row{k, d})
			}
		}
		slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.sec, a.sec) })
		for _, r := range rows {
			t.Logf("  %-55s %6.2f", r.key, r.sec)
		}
		t.Logf("  total: send %.2f, recv %.2f", sums["send"], sums["recv"])
	}
	full := func() float64 {
		alice.sendFiles("Bob", path)
		bob.waitFor("offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
		bob.clickLastCard("Alice", "receive", "transfer-accept")
		bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 5*time.Minute)
		alice.waitFor("delivered", cardState("Bob", "send")+` === 'done'`, 20*time.Second)
		var rate float64
		alice.eval(`[...[...window.p2plobby.lobby.peers.values()][0].outgoing.values()].at(-1).rate`, &rate)
		if got, _, _ := bob.receivedHash("Alice"); got != want {
			t.Fatal("hash mismatch")
		}
		return rate / 1e6
	}
	phase("raw pair", func() float64 { return rawPair(t, alice, bob, size, 256<<10) })
	phase("full path", full)

	// The JavaScript profile of the receiving page, sampled every 200 µs, during one more full-path transfer.
	bob.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, profiler.Enable, cdp.Empty{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, tg, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, profiler.Start, cdp.Empty{})
		return err
	}))
	mbps := full()
	var prof *profiler.Profile
	bob.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, profiler.Stop, cdp.Empty{})
		if err == nil {
			prof = res.Profile
		}
		return err
	}))
	if dir := os.Getenv("P2PLOBBY_PROFILE_DIR"); dir != "" {
		b, _ := json.Marshal(prof)
		if err := os.WriteFile(filepath.Join(dir, "receive.cpuprofile"), b, 0o644); err != nil {
			t.Error(err)
		}
	}
	summarize(t, prof, mbps)
}

// summarize logs the profile's self and total time per function, the heaviest first.
func summarize(t *testing.T, p *profiler.Profile, mbps float64) {
	byID := map[int64]*profiler.ProfileNode{}
	parent := map[int64]int64{}
	for _, n := range p.Nodes {
		byID[n.ID] = n
		for _, c := range n.Children {
			parent[c] = n.ID
		}
	}
	name := func(n *profiler.ProfileNode) string {
		f := n.CallFrame
		fn := f.FunctionName
		if fn == "" {
			fn = "(anonymous)"
		}
		if f.URL == "" {
			return fn
		}
		return fmt.Sprintf("%s %s:%d", fn, filepath.Base(f.URL), f.LineNumber+1)
	}
	self, total := map[string]float64{}, map[string]float64{}
	var all float64
	for i, id := range p.Samples {
		dt := float64(p.TimeDeltas[i]) / 1e6
		if i+1 < len(p.TimeDeltas) {
			dt = float64(p.TimeDeltas[i+1]) / 1e6 // the time until the next sample is this sample's
		}
		all += dt
		self[name(byID[id])] += dt
		seen := map[string]bool{}
		for n := id; ; {
			k := name(byID[n])
			if !seen[k] {
				total[k] += dt
				seen[k] = true
			}
			pid, ok := parent[n]
			if !ok {
				break
			}
			n = pid
		}
	}
	t.Logf("receiving page's JS profile: %.1f s sampled, transfer at %.1f MB/s (profiler on)", all, mbps)
	for _, m := range []struct {
		title string
		v     map[string]float64
	}{{"self", self}, {"total", total}} {
		keys := make([]string, 0, len(m.v))
		for k := range m.v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(m.v[b], m.v[a]) })
		t.Logf("  by %s time:", m.title)
		for _, k := range keys[:min(25, len(keys))] {
			t.Logf("    %7.3f s %5.1f%%  %s", m.v[k], 100*m.v[k]/all, k)
		}
	}
}

// browserPid is the process id of p's own browser (see openOwn).
func browserPid(t *testing.T, p *page) int {
	b := chromedp.FromContext(p.ctx).Browser
	if b == nil || b.Process() == nil {
		t.Fatal("no browser process")
	}
	return b.Process().Pid
}

// threadTimes returns the CPU seconds (user + system) of every thread of each browser's process tree, keyed
// "browser/process type/thread name" (threads of one name added up).
func threadTimes(browsers map[string]int) map[string]float64 {
	ppid := map[int]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range procs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		if f := statFields(filepath.Join(d, "stat")); len(f) > 2 {
			ppid[pid], _ = strconv.Atoi(f[2])
		}
	}
	out := map[string]float64{}
	for label, root := range browsers {
		for pid := range ppid {
			if !descends(pid, root, ppid) {
				continue
			}
			typ := "browser"
			if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
				for _, a := range strings.FieldsFunc(string(cmdline), func(r rune) bool { return r == 0 || r == ' ' }) { // Chromium rewrites its argv
					if v, ok := strings.CutPrefix(a, "--type="); ok {
						typ = v
					}
					if v, ok := strings.CutPrefix(a, "--utility-sub-type="); ok {
						typ = strings.TrimSuffix(strings.TrimPrefix(v, "network.mojom."), "Service") // e.g. "Network"
					}
				}
			}
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
			for _, ts := range tasks {
				f := statFields(ts)
				if len(f) < 15 {
					continue
				}
				ut, _ := strconv.ParseFloat(f[12], 64)
				st, _ := strconv.ParseFloat(f[13], 64)
				out[label+"/"+typ+"/"+f[0]] += (ut + st) / 100 // clock ticks of 10 ms
			}
		}
	}
	return out
}

// statFields splits /proc/…/stat: the name (without parentheses, digits as #), then the fields after it
// (state first, so field n of proc(5) is at n-2).
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil
	}
	name := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, s[open+1:end])
	return append([]string{name}, strings.Fields(s[end+1:])...)
}

func descends(pid, root int, ppid map[int]int) bool {
	for i := 0; i < 10 && pid > 1; i++ {
		if pid == root {
			return true
		}
		pid = ppid[pid]
	}
	return pid == root
}
