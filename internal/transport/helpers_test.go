package transport

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

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

func newTestServer(t *testing.T, cfg Config, hcfg hub.Config) *testServer {
	t.Helper()
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = 1e6, 1e6
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
