package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is the server's state at one moment of a soak. -1 means unknown.
type sample struct {
	T          float64 `json:"t"` // seconds since the churn started
	Members    int64   `json:"members"`
	Goroutines int64   `json:"goroutines"`
	HeapBytes  int64   `json:"heap_bytes"`     // go_memstats_heap_inuse_bytes (heap_alloc if absent)
	RSSBytes   int64   `json:"rss_bytes"`      // process_resident_memory_bytes
	PidRSS     int64   `json:"pid_rss_bytes"`  // VmRSS of --pid (summed)
	ToolRSS    int64   `json:"tool_rss_bytes"` // this tool's own VmRSS
	Events     int64   `json:"events"`         // lobby events received so far
	Relays     int64   `json:"relays"`         // relays delivered so far
	Quiesced   bool    `json:"quiesced"`       // taken at a checkpoint, once the churn had stopped and all settled
}

// Metric names read from the server's exposition (client_golang's Go and process collectors).
const (
	metricGoroutines = "go_goroutines"
	metricHeapInuse  = "go_memstats_heap_inuse_bytes"
	metricHeapAlloc  = "go_memstats_heap_alloc_bytes"
	metricRSS        = "process_resident_memory_bytes"
)

// maxSamples bounds the samples kept (a week at 1 s would still fit).
const maxSamples = 1 << 20

// sampler takes samples every interval on its own goroutine.
type sampler struct {
	s          *soak
	pids       []int
	metricsURL string
	client     *http.Client
	printMu    sync.Mutex
	rep        *report
	start      time.Time

	mu      sync.Mutex
	samples []sample
	fetchOK int
	fetchKO int
	lastErr string
}

func newSampler(s *soak, pids []int, metrics *url.URL, metricsAddr string, rep *report) *sampler {
	sm := &sampler{s: s, pids: pids, rep: rep, start: time.Now()}
	if metrics != nil {
		sm.metricsURL = metrics.String()
		sm.client = &http.Client{
			Timeout: 5 * time.Second,
			Transport: &http.Transport{
				// Only ever the checked loopback address.
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "tcp", metricsAddr)
				},
				Proxy:             nil,
				DisableKeepAlives: false,
				MaxIdleConns:      1,
			},
		}
	}
	return sm
}

// run starts sampling; the returned function takes a last sample, stops and returns the samples.
// The first sample follows the initial checkpoint, so it counts as quiesced.
func (sm *sampler) run(every time.Duration) func() []sample {
	stop := make(chan struct{})
	done := make(chan struct{})
	sm.printf("%s", sampleHeader)
	sm.take(true)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sm.take(false)
			case <-stop:
				return
			}
		}
	}()
	return func() []sample {
		close(stop)
		<-done
		sm.mu.Lock()
		defer sm.mu.Unlock()
		if sm.metricsURL != "" {
			sm.rep.set("metrics_fetches_ok", sm.fetchOK)
			sm.rep.set("metrics_fetches_failed", sm.fetchKO)
			if sm.fetchOK == 0 {
				sm.rep.errorf("--metrics %s never answered: %s", sm.metricsURL, sm.lastErr)
			} else if sm.fetchKO > 0 {
				sm.rep.printf("  WARNING: %d of %d metrics fetches failed (last: %s)", sm.fetchKO, sm.fetchOK+sm.fetchKO, sm.lastErr)
			}
		}
		return slices.Clone(sm.samples)
	}
}

func (sm *sampler) printf(format string, args ...any) {
	sm.printMu.Lock()
	defer sm.printMu.Unlock()
	sm.rep.printf(format, args...)
}

// sampleHeader heads the sample lines; a * after the time marks a quiesced sample.
var sampleHeader = fmt.Sprintf("  %8s %8s %10s %9s %9s %9s %9s %11s %9s", "t(s)", "members", "goroutines", "heap MiB", "RSS MiB", "/proc MiB", "tool MiB", "events", "relays")

// take records one sample; quiesced ones are taken by the driver at checkpoints. A nil sampler does nothing.
func (sm *sampler) take(quiesced bool) {
	if sm == nil {
		return
	}
	smp := sample{
		T: round(time.Since(sm.start).Seconds(), 1), Members: sm.s.pop.Load(), Quiesced: quiesced,
		Goroutines: -1, HeapBytes: -1, RSSBytes: -1, PidRSS: -1, ToolRSS: -1,
		Events: sm.s.c.events.Load(), Relays: sm.s.c.relaysOK.Load(),
	}
	if sm.client != nil {
		m, err := sm.fetch()
		sm.mu.Lock()
		if err != nil {
			sm.fetchKO++
			sm.lastErr = err.Error()
		} else {
			sm.fetchOK++
		}
		sm.mu.Unlock()
		if v, ok := m[metricGoroutines]; ok {
			smp.Goroutines = int64(v)
		}
		if v, ok := m[metricHeapInuse]; ok {
			smp.HeapBytes = int64(v)
		} else if v, ok := m[metricHeapAlloc]; ok {
			smp.HeapBytes = int64(v)
		}
		if v, ok := m[metricRSS]; ok {
			smp.RSSBytes = int64(v)
		}
	}
	if len(sm.pids) > 0 {
		if v, err := pidsRSS(sm.pids); err == nil {
			smp.PidRSS = v
		}
	}
	if v, err := procRSS("self"); err == nil {
		smp.ToolRSS = v
	}
	sm.mu.Lock()
	if len(sm.samples) < maxSamples {
		sm.samples = append(sm.samples, smp)
	}
	sm.mu.Unlock()
	sm.printf("%s", formatSample(smp))
}

func formatSample(smp sample) string {
	num := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatInt(v, 10)
	}
	mb := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatFloat(mib(v), 'f', 1, 64)
	}
	mark := " "
	if smp.Quiesced {
		mark = "*"
	}
	return fmt.Sprintf("  %7.1f%s %8d %10s %9s %9s %9s %9s %11d %9d", smp.T, mark, smp.Members, num(smp.Goroutines),
		mb(smp.HeapBytes), mb(smp.RSSBytes), mb(smp.PidRSS), mb(smp.ToolRSS), smp.Events, smp.Relays)
}

// maxExposition bounds the bytes read from --metrics.
const maxExposition = 8 << 20

// fetch reads the wanted metrics from the server's exposition.
func (sm *sampler) fetch() (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(sm.s.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sm.metricsURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := sm.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", sm.metricsURL, resp.Status)
	}
	return parseExposition(io.LimitReader(resp.Body, maxExposition), metricGoroutines, metricHeapInuse, metricHeapAlloc, metricRSS)
}

// errExposition is wrapped by every parse error of the Prometheus text format.
var errExposition = errors.New("bad Prometheus text exposition")

// parseExposition reads the Prometheus text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/) and returns the values of the wanted metric
// names. A name with labels keeps its first series. Comments (# HELP, # TYPE) and blank lines are skipped; any
// other line that is not `name[{labels}] value [timestamp]` is an error, which is how an HTML page or a wrong
// port shows up.
func parseExposition(r io.Reader, want ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, err := splitSeries(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", errExposition, n, err)
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 || len(fields) > 2 {
			return nil, fmt.Errorf("%w: line %d: want a value and an optional timestamp: %.80q", errExposition, n, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64) // also NaN, +Inf, -Inf
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: bad value %.40q", errExposition, n, fields[0])
		}
		if _, seen := out[name]; !seen && slices.Contains(want, name) {
			out[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", errExposition, err)
	}
	return out, nil
}

// splitSeries splits a sample line into the metric name and what follows the name and its labels.
func splitSeries(line string) (name, rest string, err error) {
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return "", "", errors.New("no value")
	}
	name = line[:i]
	for j, c := range name {
		ok := c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (j > 0 && c >= '0' && c <= '9')
		if !ok {
			return "", "", fmt.Errorf("bad metric name %.40q", name)
		}
	}
	if line[i] != '{' {
		return name, line[i:], nil
	}
	// Labels: name="value" pairs; values may hold escaped quotes, braces and spaces.
	inQuote := false
	for j := i + 1; j < len(line); j++ {
		switch c := line[j]; {
		case inQuote && c == '\\':
			j++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '}':
			return name, line[j+1:], nil
		}
	}
	return "", "", errors.New("unterminated labels")
}

// loopbackHTTP parses an http:// URL and returns it with the loopback address to dial (see loopbackURL).
func loopbackHTTP(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("bad --metrics: %w", err)
	}
	if u.Scheme != "http" {
		return nil, "", fmt.Errorf("--metrics %q: only http:// is supported", raw)
	}
	ws := *u
	ws.Scheme = "ws"
	_, addr, err := loopbackURL(ws.String())
	if err != nil {
		return nil, "", fmt.Errorf("--metrics: %w", err)
	}
	return u, addr, nil
}

// growth is the verdict on one sampled quantity.
type growth struct {
	Metric string  `json:"metric"`
	Judged bool    `json:"judged"` // false: too few samples after the warm-up
	N      int     `json:"samples"`
	First  float64 `json:"first_third_median"`
	Last   float64 `json:"last_third_median"`
	Limit  float64 `json:"limit"` // Last above this is growth
	Grew   bool    `json:"grew"`
}

// minJudged is the fewest samples after the warm-up that a verdict is given on (two per third).
const minJudged = 6

// judgeGrowth is the soak's growth rule: leave out the samples of the warm-up (done by the caller), split the
// rest into thirds and compare the medians of the first and the last third. The quantity grew if
// last > first × (1 + tol) + slack: the relative tolerance absorbs the GC's breathing and the few members in
// flight at any moment, the absolute slack small values. Medians make one odd sample (a GC cycle, a busy
// neighbour) harmless; a leak shows as a steady climb, which moves the last third's median.
func judgeGrowth(metric string, vals []float64, tol, slack float64) growth {
	g := growth{Metric: metric, N: len(vals)}
	if len(vals) < minJudged {
		return g
	}
	third := len(vals) / 3
	g.Judged = true
	g.First = median(vals[:third])
	g.Last = median(vals[len(vals)-third:])
	g.Limit = g.First*(1+tol) + slack
	g.Grew = g.Last > g.Limit
	return g
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Tolerances of the growth rule, per quantity: relative, absolute. Goroutines and heap are judged on the
// quiesced samples only: under churn they swing with the work in flight (a server's goroutine count can go
// from 30 to 1,700 and back between two samples), while at a checkpoint they show what stays behind, which
// is what a leak adds to. RSS moves slowly and is judged on every sample.
var growthRules = []struct {
	metric       string
	get          func(sample) int64
	tol, slack   float64
	quiescedOnly bool
}{
	{"goroutines", func(s sample) int64 { return s.Goroutines }, 0.10, 20, true},
	{"heap_bytes", func(s sample) int64 { return s.HeapBytes }, 0.25, 4 << 20, true},
	{"rss_bytes", func(s sample) int64 { return s.RSSBytes }, 0.25, 8 << 20, false},
	{"pid_rss_bytes", func(s sample) int64 { return s.PidRSS }, 0.25, 8 << 20, false},
}

// judgeSamples gives the growth verdict of every quantity that was sampled.
func judgeSamples(samples []sample, warmup time.Duration) []growth {
	var out []growth
	for _, r := range growthRules {
		var vals []float64
		for _, s := range samples {
			if r.quiescedOnly && !s.Quiesced {
				continue
			}
			if v := r.get(s); v >= 0 && s.T >= warmup.Seconds() {
				vals = append(vals, float64(v))
			}
		}
		if len(vals) == 0 {
			continue
		}
		out = append(out, judgeGrowth(r.metric, vals, r.tol, r.slack))
	}
	return out
}

// report prints the samples, the counts and the verdicts, and records errors for every finding.
func (s *soak) report(rep *report, samples []sample, filled bool) {
	c := &s.c
	if !filled {
		rep.errorf("the initial %d members did not all join", s.cfg.members)
	}
	rep.set("samples", samples)
	var quiet, busy []sample
	for _, smp := range samples {
		if smp.Quiesced {
			quiet = append(quiet, smp)
		} else {
			busy = append(busy, smp)
		}
	}
	for _, set := range []struct {
		name string
		s    []sample
	}{{"samples under churn (every --sample)", busy}, {"quiesced samples (at checkpoints)", quiet}} {
		if len(set.s) > 0 {
			rep.printf("  %s, start, middle, end:", set.name)
			rep.printf("%s", sampleHeader)
			for _, i := range []int{0, len(set.s) / 2, len(set.s) - 1} {
				rep.printf("%s", formatSample(set.s[i]))
			}
		}
	}
	counts := map[string]int64{
		"lobby_events": c.events.Load(), "joins": c.joins.Load(), "leaves": c.leaves.Load(), "renames": c.renames.Load(),
		"checkpoints": c.checks.Load(), "lost_events": c.lostEvents.Load(), "duplicate_events": c.dupEvents.Load(),
		"stray_events": c.strayEvents.Load(), "stale_view_entries": c.staleView.Load(),
		"relays_sent": c.relaysSent.Load(), "relays_delivered": c.relaysOK.Load(), "relays_duplicated": c.relaysDup.Load(),
		"relays_wrong": c.relaysWrong.Load(), "relays_undelivered": c.relaysUndelivered.Load(),
		"server_errors": c.serverErrors.Load(), "connections_lost": c.connsLost.Load(), "quiesce_timeouts": c.quiesceTimeouts.Load(),
	}
	for k, v := range counts {
		rep.set(k, v)
	}
	rep.printf("  %d joins, %d leaves, %d renames caused; %d lobby events received; %d checkpoints",
		counts["joins"], counts["leaves"], counts["renames"], counts["lobby_events"], counts["checkpoints"])
	rep.printf("  lobby events: %d lost, %d duplicated, %d stray (about someone not in the view), %d stale view entries",
		counts["lost_events"], counts["duplicate_events"], counts["stray_events"], counts["stale_view_entries"])
	rep.printf("  relays: %d sent, %d delivered exactly once to the right member with the right fromId, %d undelivered, %d duplicated, %d wrong",
		counts["relays_sent"], counts["relays_delivered"], counts["relays_undelivered"], counts["relays_duplicated"], counts["relays_wrong"])

	verdicts := judgeSamples(samples, s.sc.warmup)
	rep.set("growth", verdicts)
	grew := false
	rep.printf("  growth rule: after %s warm-up, median of the last third of the samples vs. the first third; growth if last > first × (1 + tol) + slack;", s.sc.warmup)
	rep.printf("  goroutines (tol 10%%, slack 20) and heap (25%%, 4 MiB) on the quiesced samples, RSS (25%%, 8 MiB) on all")
	for _, g := range verdicts {
		switch {
		case !g.Judged:
			rep.printf("    %-14s not judged: %d samples after the warm-up (need %d)", g.Metric, g.N, minJudged)
		default:
			word := "no growth"
			if g.Grew {
				word, grew = "GROWTH", true
			}
			rep.printf("    %-14s first third %.0f, last third %.0f (limit %.0f, %+.1f%%): %s", g.Metric, g.First, g.Last, g.Limit, 100*(g.Last/g.First-1), word)
		}
	}
	if len(verdicts) == 0 {
		rep.printf("    nothing sampled: give --metrics and/or --pid")
	}
	rep.set("grew", grew)
	if grew && s.sc.failOnGrowth {
		rep.errorf("the server grew during the soak (see the growth verdict)")
	}

	bad := counts["lost_events"] + counts["duplicate_events"] + counts["stray_events"] + counts["stale_view_entries"] +
		counts["relays_undelivered"] + counts["relays_duplicated"] + counts["relays_wrong"] + counts["server_errors"] +
		counts["connections_lost"] + counts["quiesce_timeouts"]
	s.errMu.Lock()
	for _, kind := range s.order {
		for _, e := range s.errs[kind] {
			rep.errorf("%s", e)
		}
	}
	s.errMu.Unlock()
	if bad > 0 && rep.nerrs == 0 {
		rep.errorf("%d findings", bad)
	}
	if bad == 0 && rep.nerrs == 0 {
		rep.printf("  verdict: no lost or duplicated lobby event, every relay delivered exactly once")
	}
}
