package metrics

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/cluster"
	"github.com/p2plobby/p2plobby/internal/cluster/natstest"
	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/internal/protocol"
	"github.com/p2plobby/p2plobby/internal/transport"
)

// node is a real hub and transport on a loopback httptest server, with its metrics on another.
type node struct {
	ws, metrics string
	m           *Metrics
	hub         *hub.Hub
}

func startNode(t *testing.T, hcfg hub.Config, tcfg transport.Config) *node {
	t.Helper()
	m := New()
	hcfg.Observer, tcfg.Observer = m, m
	h := hub.New(hcfg)
	srv := transport.New(h, fstest.MapFS{"app/index.html": {Data: []byte("<title>p2plobby</title>")}}, tcfg)
	m.WatchHub(h)
	m.WatchTransport(srv)
	pub := httptest.NewServer(srv)
	met := httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		pub.Close()
		met.Close()
	})
	return &node{ws: "ws" + strings.TrimPrefix(pub.URL, "http"), metrics: met.URL, m: m, hub: h}
}

// client is a WebSocket member whose messages arrive on a channel.
type client struct {
	t     *testing.T
	c     *websocket.Conn
	id    string
	in    chan map[string]any
	close chan int // the close code the server sent (-1: none), once the connection is gone
}

func dial(t *testing.T, url string, header http.Header) (*client, *http.Response, error) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, in: make(chan map[string]any, 256), close: make(chan int, 1)}
	go func() {
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				code := -1
				if ce, ok := err.(*websocket.CloseError); ok {
					code = ce.Code
				}
				cl.close <- code
				return
			}
			var m map[string]any
			json.Unmarshal(data, &m)
			cl.in <- m
		}
	}()
	return cl, resp, nil
}

// join connects a member and reads its self-connected and the snapshot of others members.
func join(t *testing.T, url string, others int) *client {
	t.Helper()
	c, _, err := dial(t, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	m := c.next()
	if m["kind"] != "self-connected" {
		t.Fatalf("first message %v", m)
	}
	c.id = m["id"].(string)
	for range others {
		c.expect("connected")
	}
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() map[string]any {
	c.t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-time.After(5 * time.Second):
		c.t.Fatal("no message within 5 s")
	}
	return nil
}

// expect reads the next message and checks its kind, or its error code for kind "error:CODE".
func (c *client) expect(kind string) map[string]any {
	c.t.Helper()
	m := c.next()
	if k, code, isErr := strings.Cut(kind, ":"); isErr && (m["kind"] != k || m["code"] != code) || !isErr && m["kind"] != kind {
		c.t.Fatalf("got %v, want %s", m, kind)
	}
	return m
}

// closed waits for the connection to end and returns the server's close code.
func (c *client) closed() int {
	c.t.Helper()
	select {
	case code := <-c.close:
		return code
	case <-time.After(10 * time.Second):
		c.t.Fatal("connection not closed within 10 s")
	}
	return 0
}

// Every choke point counts exactly once: upgrades (accepted, refused by origin and by a full room), a local
// relay, an undeliverable one, the errors sent, the closes by code and the limits behind them (message too
// big, too slow), and how each member's connection ended.
func TestCountsAtChokePoints(t *testing.T) {
	n := startNode(t, hub.Config{MaxQueue: 600, MaxRoomMembers: 3}, transport.Config{MaxMessageSize: 1024, Rate: 1e6, Burst: 1e6})
	before := lobbytest.SettleMetrics(t, n.metrics, map[string]float64{`p2plobby_members`: 0, `p2plobby_rooms`: 0, `p2plobby_connections`: 0, `p2plobby_ready`: 1})
	for k, v := range before {
		if strings.HasPrefix(k, "p2plobby_") && strings.Contains(k, "_total") && v != 0 {
			t.Errorf("%s = %v before anything happened", k, v)
		}
	}

	a := join(t, n.ws+"/?room=r&name=A", 0)
	b := join(t, n.ws+"/?room=r&name=B", 1)
	a.expect("connected")
	c := join(t, n.ws+"/?room=r&name=C", 2)
	a.expect("connected")
	b.expect("connected")
	lobbytest.SettleMetrics(t, n.metrics, map[string]float64{`p2plobby_members`: 3, `p2plobby_rooms`: 1, `p2plobby_connections`: 3})

	a.send(fmt.Sprintf(`{"toId":%q,"kind":"request"}`, b.id)) // local relay
	b.expect("request")
	a.send(`{"toId":"nobody","kind":"request"}`) // undeliverable
	a.expect("error:" + protocol.CodeUnknownTarget)
	a.send(`{"toId":`) // bad JSON
	a.expect("error:" + protocol.CodeBadJSON)
	if err := a.c.WriteMessage(websocket.BinaryMessage, []byte{1}); err != nil {
		t.Fatal(err)
	}
	a.expect("error:" + protocol.CodeBinaryUnsupported)

	// Refused: a fourth member of the room, and a page of another site.
	d, _, err := dial(t, n.ws+"/?room=r&name=D", nil)
	if err != nil {
		t.Fatal(err)
	}
	d.expect("error:" + protocol.CodeRoomFull)
	if code := d.closed(); code != protocol.CloseFull {
		t.Fatalf("refused with close %d, want %d", code, protocol.CloseFull)
	}
	if _, resp, err := dial(t, n.ws+"/?room=r", http.Header{"Origin": {"https://elsewhere.example"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another site's page: %v %v", resp, err)
	}

	// Limits that close: C's relay of more than B's 600-byte queue drops B as too slow; A's message over
	// 1024 bytes closes A with 1009. C leaves by itself.
	c.send(fmt.Sprintf(`{"toId":%q,"offer":{"sdp":%q}}`, b.id, strings.Repeat("x", 700)))
	if code := b.closed(); code != protocol.CloseSlow {
		t.Fatalf("slow member closed with %d, want %d", code, protocol.CloseSlow)
	}
	a.send(fmt.Sprintf(`{"toId":%q,"offer":{"sdp":%q}}`, c.id, strings.Repeat("x", 1100)))
	if code := a.closed(); code != protocol.CloseTooBig {
		t.Fatalf("too big: close %d, want %d", code, protocol.CloseTooBig)
	}
	c.c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	c.closed()

	got := lobbytest.SettleMetrics(t, n.metrics, map[string]float64{
		`p2plobby_connections`:                               0,
		`p2plobby_rooms`:                                     0,
		`p2plobby_upgrades_total{outcome="accepted"}`:        3,
		`p2plobby_upgrades_total{outcome="room-full"}`:       1,
		`p2plobby_upgrades_total{outcome="origin"}`:          1,
		`p2plobby_relays_total{route="local"}`:               2,
		`p2plobby_relays_total{route="undeliverable"}`:       1,
		`p2plobby_relays_total{route="cluster"}`:             0,
		`p2plobby_relays_total{route="bounced"}`:             0,
		`p2plobby_errors_total{code="unknown-target"}`:       1,
		`p2plobby_errors_total{code="bad-json"}`:             1,
		`p2plobby_errors_total{code="binary-unsupported"}`:   1,
		`p2plobby_errors_total{code="room-full"}`:            1,
		`p2plobby_closes_total{code="4003"}`:                 1,
		`p2plobby_closes_total{code="4000"}`:                 1,
		`p2plobby_closes_total{code="1009"}`:                 1,
		`p2plobby_limit_hits_total{limit="room-full"}`:       1,
		`p2plobby_limit_hits_total{limit="too-slow"}`:        1,
		`p2plobby_limit_hits_total{limit="message-too-big"}`: 1,
		`p2plobby_slow_consumers_total`:                      1,
		`p2plobby_disconnects_total{by="server"}`:            2,
		`p2plobby_disconnects_total{by="client"}`:            1,
		`p2plobby_disconnects_total{by="lost"}`:              0,
	})
	var errs, closes, limits float64
	for k, v := range got {
		switch {
		case strings.HasPrefix(k, "p2plobby_errors_total{"):
			errs += v
		case strings.HasPrefix(k, "p2plobby_closes_total{"):
			closes += v
		case strings.HasPrefix(k, "p2plobby_limit_hits_total{"):
			limits += v
		}
	}
	if errs != 4 || closes != 3 || limits != 3 {
		t.Errorf("%v errors, %v closes, %v limit hits; want 4, 3, 3 (nothing else counted)", errs, closes, limits)
	}
	families, err := n.m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", f.GetName())
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[name])
		}
	}
}

// The message rate: dropped messages are reported once per episode (a rate-limited hit), and more drops than
// the burst close the connection (flood, 4001).
func TestRateAndFloodHits(t *testing.T) {
	n := startNode(t, hub.Config{}, transport.Config{Rate: 0.001, Burst: 2})
	a := join(t, n.ws, 0)
	for range 5 { // 2 in the burst, then 3 dropped: the third drop is over the burst (sending more could race the close)
		a.send(`{"kind":"ping"}`)
	}
	a.expect("pong")
	a.expect("pong")
	a.expect("error:" + protocol.CodeRateLimited)
	if code := a.closed(); code != protocol.CloseFlood {
		t.Fatalf("flood closed with %d, want %d", code, protocol.CloseFlood)
	}
	lobbytest.SettleMetrics(t, n.metrics, map[string]float64{
		`p2plobby_connections`:                            0,
		`p2plobby_errors_total{code="rate-limited"}`:      1,
		`p2plobby_limit_hits_total{limit="rate-limited"}`: 1,
		`p2plobby_closes_total{code="4001"}`:              1,
		`p2plobby_limit_hits_total{limit="flood"}`:        1,
		`p2plobby_disconnects_total{by="server"}`:         1,
	})
}

// In a cluster a relay to a member of another node counts as cluster on the sender's node and nowhere else,
// and the cluster gauges show the link.
func TestClusterRelay(t *testing.T) {
	nats := natstest.Start(t, 1)
	var nodes []*node
	var buses []*cluster.Bus
	for range 2 {
		b := cluster.New(cluster.Config{URLs: nats.URLs(0), Heartbeat: 100 * time.Millisecond})
		n := startNode(t, hub.Config{Bus: b}, transport.Config{NetworkSecret: []byte("s"), Ready: b.Ready, Rate: 1e6, Burst: 1e6})
		if err := b.Start(n.hub); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Shutdown)
		n.m.WatchCluster(b)
		nodes, buses = append(nodes, n), append(buses, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !buses[0].Ready() || !buses[1].Ready() {
		if time.Now().After(deadline) {
			t.Fatal("cluster nodes not ready in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	a := join(t, nodes[0].ws+"/?room=r", 0)
	b := join(t, nodes[1].ws+"/?room=r", 1)
	a.expect("connected")
	a.send(fmt.Sprintf(`{"toId":%q,"kind":"request"}`, b.id))
	b.expect("request")

	got := lobbytest.SettleMetrics(t, nodes[0].metrics, map[string]float64{`p2plobby_relays_total{route="cluster"}`: 1, `p2plobby_relays_total{route="local"}`: 0,
		`p2plobby_members`: 1, `p2plobby_ready`: 1,
		`p2plobby_cluster_connected`: 1, `p2plobby_cluster_nodes`: 1, `p2plobby_cluster_resyncs_total`: 0})
	lobbytest.SettleMetrics(t, nodes[1].metrics, map[string]float64{`p2plobby_relays_total{route="cluster"}`: 0,
		`p2plobby_relays_total{route="local"}`: 0, `p2plobby_members`: 1})
	if got["p2plobby_cluster_messages_sent_total"] < 2 || got["p2plobby_cluster_messages_received_total"] < 1 {
		t.Errorf("NATS messages: %v sent, %v received", got["p2plobby_cluster_messages_sent_total"], got["p2plobby_cluster_messages_received_total"])
	}
}

// Every error code and close code of internal/protocol/errors.go is classified for p2plobby_limit_hits_total,
// so a new limit cannot go uncounted unnoticed.
func TestEveryCodeClassified(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../protocol/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Close codes that are no limit, or whose limit the error code sent with them names.
	notLimitCloses := map[int]bool{
		protocol.CloseNormal: true, protocol.CloseGoingAway: true, protocol.CloseProtocolError: true,
		protocol.CloseInvalidData: true, protocol.CloseInternal: true, protocol.CloseBadJoin: true,
		protocol.CloseFull: true, protocol.CloseUnauthorized: true, protocol.CloseBusy: true,
		protocol.CloseReplaced: true,
	}
	found := 0
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					continue
				}
				switch {
				case strings.HasPrefix(name.Name, "Code") && lit.Kind == token.STRING:
					found++
					v, _ := strconv.Unquote(lit.Value)
					if limitErrors[v] == notLimitErrors[v] {
						t.Errorf("%s (%q): put it in limitErrors or notLimitErrors", name.Name, v)
					}
				case strings.HasPrefix(name.Name, "Close") && lit.Kind == token.INT:
					found++
					v, _ := strconv.Atoi(lit.Value)
					if (limitCloses[v] != "") == notLimitCloses[v] {
						t.Errorf("%s (%d): put it in limitCloses or this test's notLimitCloses", name.Name, v)
					}
				}
			}
		}
	}
	if found < 20 {
		t.Fatalf("found only %d codes in errors.go; the parser missed them", found)
	}
}
