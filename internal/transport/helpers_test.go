package transport

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/cluster"
	"github.com/p2plobby/p2plobby/internal/cluster/natstest"
	"github.com/p2plobby/p2plobby/internal/hub"
)

// testServer is the real handler on a loopback httptest server.
type testServer struct {
	*httptest.Server
	srv *Server
	hub *hub.Hub
	ws  string
}

var testFS = fstest.MapFS{
	"app/index.html":  {Data: []byte("<!doctype html><title>p2plobby</title>")},
	"sdk/p2plobby.js": {Data: []byte("export {}")},
}

// clusterMode is set in the run of this package that TestClusterConformance starts: newTestServer then
// serves each test from a two-node cluster over an embedded NATS server, its connections alternating
// between the nodes as behind a round-robin load balancer, so that every protocol test here holds in a
// cluster too.
var clusterMode = os.Getenv("P2PLOBBY_TEST_NODES") == "2"

// singleNode marks a test of one node's own behaviour: its limits (per address, per room: best effort across
// nodes, see docs/cluster.md), its shutdown, and a flood whose timing is one node's. It runs on one node only.
func singleNode(t *testing.T) {
	if clusterMode {
		t.Skip("per-node behaviour: tested on one node")
	}
}

func newTestServer(t *testing.T, cfg Config, hcfg hub.Config) *testServer {
	t.Helper()
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = 1e6, 1e6
	}
	if clusterMode {
		return newTestCluster(t, cfg, hcfg)
	}
	h := hub.New(hcfg)
	srv := New(h, testFS, cfg)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		ts.Close()
	})
	return &testServer{Server: ts, srv: srv, hub: h, ws: "ws" + strings.TrimPrefix(ts.URL, "http")}
}

// newTestCluster is newTestServer for the cluster run: two nodes, one NATS server, connections round robin.
func newTestCluster(t *testing.T, cfg Config, hcfg hub.Config) *testServer {
	t.Helper()
	nats := natstest.Start(t, 1)
	cfg.NetworkSecret = []byte("shared by the nodes of a cluster")
	var nodes []*Server
	var buses []*cluster.Bus
	for range 2 {
		b := cluster.New(cluster.Config{URLs: nats.URLs(0), Heartbeat: 100 * time.Millisecond})
		hc := hcfg
		hc.Bus = b
		h := hub.New(hc)
		if err := b.Start(h); err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Ready = b.Ready
		nodes = append(nodes, New(h, testFS, c))
		buses = append(buses, b)
	}
	var next atomic.Uint32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nodes[next.Add(1)%2].ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		for i, srv := range nodes {
			srv.Shutdown(t.Context())
			buses[i].Shutdown()
		}
		ts.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for !buses[0].Ready() || !buses[1].Ready() {
		if time.Now().After(deadline) {
			t.Fatal("cluster nodes not ready in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &testServer{Server: ts, srv: nodes[0], hub: nodes[0].hub, ws: "ws" + strings.TrimPrefix(ts.URL, "http")}
}

// client is a real WebSocket client whose reader goroutine decodes every message into a channel.
type client struct {
	t     *testing.T
	c     *websocket.Conn
	in    chan map[string]any
	done  chan struct{}
	close *websocket.CloseError // set when the server closed the connection
	mu    sync.Mutex
	id    string
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	cl := &client{t: t, c: c, in: make(chan map[string]any, 4096), done: make(chan struct{})}
	go cl.read()
	t.Cleanup(func() { c.Close() })
	return cl
}

// join dials and consumes self-connected plus the snapshot of n members.
func join(t *testing.T, url string, others int) *client {
	t.Helper()
	c := dial(t, url)
	m := c.next()
	if m["kind"] != "self-connected" {
		t.Fatalf("first message %v", m)
	}
	c.id = m["id"].(string)
	for range others {
		if m := c.next(); m["kind"] != "connected" {
			t.Fatalf("snapshot message %v", m)
		}
	}
	return c
}

func (c *client) read() {
	defer close(c.done)
	for {
		_, data, err := c.c.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				c.mu.Lock()
				c.close = ce
				c.mu.Unlock()
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			c.t.Errorf("server sent non-JSON %q", data)
			return
		}
		c.in <- m
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next message or fails after 5 s.
func (c *client) next() map[string]any {
	c.t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-c.done:
		select {
		case m := <-c.in:
			return m
		default:
		}
		c.t.Fatalf("connection ended while waiting for a message (close %v)", c.closeErr())
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no message within 5s")
	}
	return nil
}

// expectKind reads the next message and checks its kind (and error code, for errors).
func (c *client) expectError(code string) map[string]any {
	c.t.Helper()
	m := c.next()
	if m["kind"] != "error" || m["code"] != code {
		c.t.Fatalf("got %v, want error %s", m, code)
	}
	return m
}

// quiet checks that nothing but a pong arrives after a ping: everything sent before was delivered in order.
func (c *client) quiet() {
	c.t.Helper()
	c.send(`{"kind":"ping"}`)
	if m := c.next(); m["kind"] != "pong" {
		c.t.Fatalf("expected nothing before pong, got %v", m)
	}
}

// closed waits for the server to close the connection and returns the close code (-1 if none was sent).
func (c *client) closed() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("connection not closed within 10s")
	}
	if ce := c.closeErr(); ce != nil {
		return ce.Code
	}
	return -1
}

func (c *client) closeErr() *websocket.CloseError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.close
}
