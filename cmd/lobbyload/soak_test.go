package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// runSoak runs the soak scenario against url and returns the exit code and the decoded JSON line.
func runSoakTool(t *testing.T, url string, args ...string) (int, map[string]any, string) {
	t.Helper()
	args = append([]string{"soak", "--url", url}, args...)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	return code, res, stdout.String() + stderr.String()
}

// promServer serves a real client_golang registry with the Go and process collectors, as p2plobby's
// --metrics-addr does, on loopback.
func promServer(t *testing.T) string {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func TestSoakAgainstP2PLobby(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	// A free loopback port for the metrics listener (released just before the server binds it).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	srv := lobbytest.Start(t, "--metrics-addr", metricsAddr)
	code, res, out := runSoakTool(t, srv.WS+"/", "--members", "50", "--rooms", "3", "--duration", "5s",
		"--sample", "500ms", "--checkpoint", "2s", "--churn", "10", "--relay-rate", "50", "--rename-rate", "5",
		"--pid", strconv.Itoa(srv.PID()), "--metrics", "http://"+metricsAddr+"/metrics", "--timeout", "60s")
	if code != 0 || res["ok"] != true {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, k := range []string{"lost_events", "duplicate_events", "stray_events", "stale_view_entries", "relays_undelivered", "relays_duplicated", "relays_wrong"} {
		if res[k] != float64(0) {
			t.Errorf("%s = %v, want 0", k, res[k])
		}
	}
	// The churn and the checks really ran: joins beyond the first 50, leaves, renames, relays, checkpoints.
	if res["joins"].(float64) <= 50 || res["leaves"].(float64) == 0 || res["renames"].(float64) == 0 ||
		res["relays_delivered"].(float64) == 0 || res["checkpoints"].(float64) < 3 {
		t.Errorf("too little happened: %v", res)
	}
	samples, _ := res["samples"].([]any)
	if len(samples) < 5 {
		t.Fatalf("%d samples, want at least 5\n%s", len(samples), out)
	}
	last := samples[len(samples)-1].(map[string]any)
	for _, k := range []string{"pid_rss_bytes", "goroutines", "heap_bytes", "rss_bytes"} {
		if last[k].(float64) <= 0 {
			t.Errorf("no server %s sampled: %v", k, last)
		}
	}
}

func TestSoakAgainstSeedServerWithMetrics(t *testing.T) {
	srv := httptest.NewServer(&seedServer{conns: map[string]*seedConn{}})
	defer srv.Close()
	metrics := promServer(t)
	code, res, out := runSoakTool(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/", "--members", "30", "--rooms", "1",
		"--rename-rate", "0", "--duration", "3s", "--sample", "300ms", "--checkpoint", "1s", "--churn", "10",
		"--relay-rate", "40", "--metrics", metrics, "--warmup", "300ms", "--timeout", "60s")
	if code != 0 || res["ok"] != true {
		t.Fatalf("exit %d\n%s", code, out)
	}
	samples, _ := res["samples"].([]any)
	if len(samples) < 5 {
		t.Fatalf("%d samples\n%s", len(samples), out)
	}
	last := samples[len(samples)-1].(map[string]any)
	for _, k := range []string{"goroutines", "heap_bytes", "rss_bytes"} {
		if last[k].(float64) <= 0 {
			t.Errorf("sample %s = %v, want a value from the exposition", k, last[k])
		}
	}
	growth, _ := res["growth"].([]any)
	if len(growth) != 3 { // goroutines, heap and RSS: no --pid here
		t.Errorf("growth verdicts: %v", growth)
	}
}

// TestSoakDetectsFaultyServer runs the soak against seed servers that break the lobby's promises; the
// tool must notice and exit 1.
func TestSoakDetectsFaultyServer(t *testing.T) {
	for _, c := range []struct {
		fault string
		count string // a finding that must be non-zero
	}{
		{"dup-connected", "duplicate_events"},
		{"drop-disconnected", "stale_view_entries"},
		{"drop-connected", "lost_events"},
		{"dup-relay", "relays_duplicated"},
		{"drop-relay", "relays_undelivered"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			srv := httptest.NewServer(&seedServer{conns: map[string]*seedConn{}, fault: c.fault})
			defer srv.Close()
			code, res, out := runSoakTool(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/", "--members", "20", "--rooms", "1",
				"--rename-rate", "0", "--duration", "2s", "--sample", "1s", "--checkpoint", "1s", "--churn", "20",
				"--relay-rate", "50", "--quiesce", "1s", "--timeout", "60s")
			if code != 1 || res["ok"] != false {
				t.Fatalf("exit %d, want 1\n%s", code, out)
			}
			if v, _ := res[c.count].(float64); v == 0 {
				t.Errorf("%s = %v, want > 0\n%s", c.count, res[c.count], out)
			}
		})
	}
}

// TestViewChecker feeds synthetic events straight to a member's view checker and audits against a ground
// truth: a duplicated connected, a disconnected for a stranger, a renamed for a stranger, a lost connected
// (never in the view) and a lost connected+disconnected pair (the view looks right, the interval does not).
func TestViewChecker(t *testing.T) {
	s := &soak{ids: map[string]int32{}, errs: map[string][]string{}, outstanding: map[uint64]relayRec{}}
	r := &soakRoom{}
	s.rooms = []*soakRoom{r}
	newMember := func(id string) *soakMember {
		m := &soakMember{s: s, room: r, idx: -1, selfCh: make(chan struct{})}
		m.handle(fmt.Appendf(nil, `{"kind":"self-connected","id":%q}`, id))
		m.pos = len(r.members)
		r.members = append(r.members, m)
		r.truth.set(m.idx)
		return m
	}
	a, b := newMember("a"), newMember("b")
	a.handle([]byte(`{"kind":"connected","id":"b"}`))
	b.handle([]byte(`{"kind":"connected","id":"a"}`))
	s.epoch = 1 // a and b are present through interval 1
	if s.audit("t", false) != 0 {
		t.Fatal("a correct view was reported bad")
	}

	a.handle([]byte(`{"kind":"connected","id":"b"}`))           // duplicate
	a.handle([]byte(`{"kind":"disconnected","id":"zz"}`))       // stray
	a.handle([]byte(`{"kind":"renamed","id":"zz","name":""}`))  // stray
	a.handle([]byte(`{"kind":"renamed","id":"a","name":"me"}`)) // about itself: fine
	if got := s.c.dupEvents.Load(); got != 1 {
		t.Errorf("duplicates = %d, want 1", got)
	}
	if got := s.c.strayEvents.Load(); got != 2 {
		t.Errorf("stray events = %d, want 2", got)
	}

	// c joins (the tool admits it) but b never hears of it; d joins and leaves, and a hears neither.
	c := newMember("c")
	c.epoch = s.epoch // joined in this interval
	r.joins = append(r.joins, c.idx)
	c.handle([]byte(`{"kind":"connected","id":"a"}`))
	c.handle([]byte(`{"kind":"connected","id":"b"}`))
	a.handle([]byte(`{"kind":"connected","id":"c"}`))
	d := s.index([]byte("d"))
	r.joins = append(r.joins, d)
	r.leaves = append(r.leaves, d)
	b.handle([]byte(`{"kind":"connected","id":"d"}`))
	b.handle([]byte(`{"kind":"disconnected","id":"d"}`))
	// b: misses c in its view (1) and the connected for c (1); a: no connected and no disconnected for d (2).
	if got := s.audit("t", false); got == 0 {
		t.Fatal("lost events not noticed")
	}
	s.verify("t")
	if got := s.c.lostEvents.Load(); got != 4 {
		t.Errorf("lost events = %d, want 4; findings %v", got, s.errs)
	}
	// After the checkpoint the interval starts afresh: once b catches up, nothing is reported.
	b.handle([]byte(`{"kind":"connected","id":"c"}`))
	if got := s.audit("t", false); got != 0 {
		t.Errorf("clean interval reported %d", got)
	}

	// A relay delivered twice, and one never sent.
	s.outstanding[7] = relayRec{from: a, to: b}
	msg := []byte(`{"toId":"b","fromId":"a","offer":{"seq":7,"type":"offer","sdp":"x"}}`)
	b.handle(msg)
	b.handle(msg)
	b.handle([]byte(`{"toId":"b","fromId":"a","offer":{"seq":8,"type":"offer","sdp":"x"}}`))
	if s.c.relaysOK.Load() != 1 || s.c.relaysDup.Load() != 1 || s.c.relaysWrong.Load() != 1 {
		t.Errorf("relays ok %d dup %d wrong %d, want 1 1 1", s.c.relaysOK.Load(), s.c.relaysDup.Load(), s.c.relaysWrong.Load())
	}
	// The right seq from the wrong sender.
	s.outstanding[9] = relayRec{from: a, to: b}
	b.handle([]byte(`{"toId":"b","fromId":"c","offer":{"seq":9,"type":"offer","sdp":"x"}}`))
	if s.c.relaysWrong.Load() != 2 {
		t.Errorf("a relay with the wrong fromId was accepted")
	}
}

func TestParseExposition(t *testing.T) {
	const text = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 4123
# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 2.5165824e+07
go_gc_duration_seconds{quantile="0.5"} 0.000123
weird_labels{path="/a b}",q="say \"hi\" {x}"} 7 1700000000000
process_resident_memory_bytes 5.1e+07
lobby_relays_total{result="ok"} 12
lobby_relays_total{result="unknown"} 3
nan_metric NaN

`
	got, err := parseExposition(strings.NewReader(text), "go_goroutines", "go_memstats_heap_inuse_bytes",
		"process_resident_memory_bytes", "weird_labels", "lobby_relays_total", "absent")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"go_goroutines": 4123, "go_memstats_heap_inuse_bytes": 25165824,
		"process_resident_memory_bytes": 51e6, "weird_labels": 7, "lobby_relays_total": 12}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, bad := range []string{
		"<html><body>404</body></html>",
		"go_goroutines",
		"go_goroutines abc",
		`x{a="b"`,
		"1abc 3",
		"go_goroutines 1 2 3",
	} {
		if _, err := parseExposition(strings.NewReader(bad), "go_goroutines"); !errors.Is(err, errExposition) {
			t.Errorf("%q: err %v, want errExposition", bad, err)
		}
	}
}

func TestParseExpositionFromPromhttp(t *testing.T) {
	resp, err := http.Get(promServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := parseExposition(resp.Body, metricGoroutines, metricHeapInuse, metricRSS)
	if err != nil {
		t.Fatal(err)
	}
	if got[metricGoroutines] < 1 || got[metricHeapInuse] <= 0 || got[metricRSS] <= 0 {
		t.Errorf("metrics %v", got)
	}
	// The process collector's RSS is /proc's VmRSS of the same process.
	if rss, err := procRSS(strconv.Itoa(os.Getpid())); err != nil || got[metricRSS] < float64(rss)/2 || got[metricRSS] > float64(rss)*2 {
		t.Errorf("exposition RSS %v vs /proc %d (%v)", got[metricRSS], rss, err)
	}
}

func TestJudgeGrowth(t *testing.T) {
	flat := []float64{100, 103, 98, 101, 99, 102, 100, 97, 104}
	climb := []float64{100, 110, 120, 130, 140, 150, 160, 170, 180}
	spike := []float64{100, 101, 99, 100, 500, 100, 99, 101, 100} // one odd sample: medians ignore it
	for _, c := range []struct {
		name   string
		vals   []float64
		judged bool
		grew   bool
	}{
		{"flat", flat, true, false},
		{"climb", climb, true, true},
		{"spike", spike, true, false},
		{"few", flat[:5], false, false},
	} {
		g := judgeGrowth("x", c.vals, 0.10, 0)
		if g.Judged != c.judged || g.Grew != c.grew {
			t.Errorf("%s: %+v, want judged %v grew %v", c.name, g, c.judged, c.grew)
		}
	}
	if g := judgeGrowth("x", climb, 0.10, 0); g.First != 110 || g.Last != 170 || math.Abs(g.Limit-121) > 1e-9 {
		t.Errorf("climb: %+v, want first 110, last 170, limit 121", g)
	}
	// The warm-up leaves out early samples: a climb that stops before the warm-up ends is no growth.
	var samples []sample
	for i := range 20 {
		v := int64(200)
		if i < 5 {
			v = int64(50 * i)
		}
		samples = append(samples, sample{T: float64(i), Goroutines: v, HeapBytes: -1, RSSBytes: -1, PidRSS: -1, Quiesced: true},
			sample{T: float64(i) + 0.5, Goroutines: 5000, HeapBytes: -1, RSSBytes: -1, PidRSS: -1}) // busy: ignored
	}
	v := judgeSamples(samples, 5*time.Second)
	if len(v) != 1 || v[0].Metric != "goroutines" || !v[0].Judged || v[0].Grew || v[0].N != 15 {
		t.Errorf("verdicts %+v", v)
	}
	// Without the warm-up, the start-up rise lands in the first third and counts: that is what warm-up is for.
	if v := judgeSamples(samples, 0); !v[0].Grew {
		t.Errorf("without warm-up the rise should count: %+v", v)
	}
}

func TestRelaySeq(t *testing.T) {
	for msg, want := range map[string]uint64{
		`{"toId":"b","fromId":"a","offer":{"seq":42,"type":"offer"}}`: 42,
		`{"toId":"b","fromId":"a","offer":{"type":"offer"}}`:          0,
		`{"toId":"b","fromId":"a","offer":{"seq":0}}`:                 0,
		`{"toId":"b","fromId":"a","offer":{"seq":99999999999}}`:       0,
	} {
		got, ok := relaySeq([]byte(msg))
		if ok != (want > 0) || got != want && want > 0 {
			t.Errorf("%s: %d %v, want %d", msg, got, ok, want)
		}
	}
}

func TestSoakFlags(t *testing.T) {
	for _, args := range [][]string{
		{"soak", "--metrics", "http://192.0.2.1:9090/metrics"},
		{"soak", "--metrics", "https://127.0.0.1:9090/metrics"},
		{"soak", "--rooms", "0"},
		{"soak", "--members", "3", "--rooms", "2"},
		{"soak", "--churn", "-1"},
		{"soak", "--duration", "1m", "--timeout", "30s"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2; %s", args, code, stderr.String())
		}
	}
	cfg, err := parseFlags([]string{"soak"}, &bytes.Buffer{})
	if err != nil || cfg.duration != 10*time.Minute || cfg.timeout != 15*time.Minute || cfg.members != 2000 || cfg.soak.warmup != time.Minute {
		t.Errorf("defaults: %+v %v", cfg, err)
	}
}
