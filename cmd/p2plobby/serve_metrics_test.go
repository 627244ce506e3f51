package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// readJSON reads the next message of a lobby connection.
func readJSON(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m map[string]any
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// The real binary with --metrics-addr: members joining, a relay, a bad message, a refusal by a full room and
// a close by the message size limit each show in /metrics with exact values, next to the Go runtime and
// process metrics. The public port serves no /metrics.
func TestServeMetrics(t *testing.T) {
	s := lobbytest.Start(t, "--metrics-addr", "127.0.0.1:0", "--max-room-members", "2", "--max-message-size", "1KiB")
	if s.Metrics == "" {
		t.Fatal("no metrics listener logged")
	}
	if code := httpStatus(t, s.URL+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public port: GET /metrics %d, want 404", code)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 404, "/ws": 404} {
		if code := httpStatus(t, s.Metrics+path); code != want {
			t.Errorf("metrics port: GET %s %d, want %d", path, code, want)
		}
	}
	metrics := s.Metrics + "/metrics"
	lobbytest.SettleMetrics(t, metrics, map[string]float64{"p2plobby_members": 0, "p2plobby_ready": 1, `p2plobby_upgrades_total{outcome="accepted"}`: 0})

	dial := func(query string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial(s.WS+"/?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := dial("room=r&name=A")
	readJSON(t, a) // self-connected
	b := dial("room=r&name=B")
	bid := readJSON(t, b)["id"].(string)
	readJSON(t, b) // A
	readJSON(t, a) // B
	lobbytest.SettleMetrics(t, metrics, map[string]float64{"p2plobby_members": 2, "p2plobby_rooms": 1, "p2plobby_connections": 2})

	a.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"toId":%q,"kind":"request"}`, bid))
	if m := readJSON(t, b); m["kind"] != "request" {
		t.Fatalf("relay: %v", m)
	}
	a.WriteMessage(websocket.TextMessage, []byte(`{"kind":`))
	if m := readJSON(t, a); m["code"] != "bad-json" {
		t.Fatalf("bad JSON: %v", m)
	}
	c := dial("room=r&name=C")
	if m := readJSON(t, c); m["code"] != "room-full" {
		t.Fatalf("third member of a room of 2: %v", m)
	}
	a.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"toId":%q,"offer":{"sdp":%q}}`, bid, strings.Repeat("x", 1100)))
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := a.ReadMessage(); !websocket.IsCloseError(err, 1009) {
		t.Fatalf("message over --max-message-size: %v, want close 1009", err)
	}

	got := lobbytest.SettleMetrics(t, metrics, map[string]float64{
		"p2plobby_members":                                   1,
		"p2plobby_rooms":                                     1,
		"p2plobby_connections":                               1,
		`p2plobby_upgrades_total{outcome="accepted"}`:        2,
		`p2plobby_upgrades_total{outcome="room-full"}`:       1,
		`p2plobby_relays_total{route="local"}`:               1,
		`p2plobby_relays_total{route="undeliverable"}`:       0,
		`p2plobby_errors_total{code="bad-json"}`:             1,
		`p2plobby_errors_total{code="room-full"}`:            1,
		`p2plobby_closes_total{code="4003"}`:                 1,
		`p2plobby_closes_total{code="1009"}`:                 1,
		`p2plobby_limit_hits_total{limit="room-full"}`:       1,
		`p2plobby_limit_hits_total{limit="message-too-big"}`: 1,
		`p2plobby_disconnects_total{by="server"}`:            1,
		`p2plobby_slow_consumers_total`:                      0,
	})
	// The names the soak benchmark and dashboards read.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	if got["go_goroutines"] < 1 || got["process_resident_memory_bytes"] < 1<<20 {
		t.Errorf("go_goroutines %v, process_resident_memory_bytes %v", got["go_goroutines"], got["process_resident_memory_bytes"])
	}
}

// A TURN allocation and the bytes relayed through it, both ways, show in the TURN metrics; the allocation
// ends with its member.
func TestServeMetricsTURN(t *testing.T) {
	s := lobbytest.Start(t, "--metrics-addr", "127.0.0.1:0")
	metrics := s.Metrics + "/metrics"
	ws, m := joinAs(t, s, "")
	addr, user, pass := turnURL(t, m.ICEServers, "?transport=udp")
	relay, err := allocate(t, "udp", addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relay.WriteTo(make([]byte, 100), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || n != 100 {
		t.Fatalf("peer got %d bytes, %v", n, err)
	}
	if _, err := peer.WriteTo(make([]byte, 50), from); err != nil {
		t.Fatal(err)
	}
	relay.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := relay.ReadFrom(buf); err != nil || n != 50 {
		t.Fatalf("member got %d bytes, %v", n, err)
	}
	lobbytest.SettleMetrics(t, metrics, map[string]float64{
		"p2plobby_turn_allocations":               1,
		"p2plobby_turn_allocations_created_total": 1,
		"p2plobby_turn_relayed_bytes_total":       150,
		"p2plobby_turn_dropped_bytes_total":       0,
		"p2plobby_turn_quota_refusals_total":      0,
	})
	ws.Close()
	lobbytest.SettleMetrics(t, metrics, map[string]float64{"p2plobby_turn_allocations": 0, "p2plobby_turn_allocations_created_total": 1, "p2plobby_members": 0})
}

// While a stopping server drains its members, /readyz on the metrics listener answers 503 (the public
// listener is closed by then) and /healthz 200; the listener goes last.
func TestServeReadyzWhileDraining(t *testing.T) {
	s := lobbytest.Start(t, "--metrics-addr", "127.0.0.1:0", "--shutdown-timeout", "10s")
	c, _, err := websocket.DefaultDialer.Dial(s.WS+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readJSON(t, c)
	c.SetCloseHandler(func(int, string) error { return nil }) // do not answer the close: the drain waits
	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("got %v, want close 1001", err)
	}
	// Draining now: the member has not answered (the server cuts it after a 2 s grace).
	if code := httpStatus(t, s.Metrics+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("draining: /readyz %d, want 503", code)
	}
	if code := httpStatus(t, s.Metrics+"/healthz"); code != http.StatusOK {
		t.Errorf("draining: /healthz %d, want 200", code)
	}
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Errorf("draining: the public port still accepts connections")
	}
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
	<-stopped
	if _, err := http.Get(s.Metrics + "/healthz"); err == nil {
		t.Errorf("the metrics listener outlived the process")
	}
}

// --metrics-addr must not be the public --addr, however it is spelled; the environment sets it too.
func TestServeMetricsAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	for _, tc := range [][]string{
		{"--addr", "127.0.0.1:" + port, "--metrics-addr", "127.0.0.1:" + port},
		{"--addr", ":" + port, "--metrics-addr", "127.0.0.1:" + port},
		{"--addr", "127.0.0.1:" + port, "--metrics-addr", "0.0.0.0:" + port},
		{"--metrics-addr", "nonsense"},
	} {
		code, out := runCLI(t, nil, append([]string{"serve", "--turn=false"}, tc...)...)
		if code != 2 || !strings.Contains(out, "--metrics-addr") {
			t.Errorf("%v: exit %d, want 2 and a word on --metrics-addr:\n%s", tc, code, out)
		}
	}
	code, out := runCLI(t, map[string]string{"P2PLOBBY_METRICS_ADDR": "127.0.0.1:0"}, "serve", "--addr", "127.0.0.1:0", "--turn=false")
	if code != 0 || !strings.Contains(out, `msg="metrics listening" addr=127.0.0.1:`) {
		t.Errorf("P2PLOBBY_METRICS_ADDR: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, nil, "serve", "--addr", "127.0.0.1:0", "--turn=false")
	if code != 0 || strings.Contains(out, "metrics") {
		t.Errorf("metrics are off by default: exit %d\n%s", code, out)
	}
}
