package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWSConn runs the load tool's WebSocket client against gorilla/websocket's server: messages of every
// length encoding (one of them bigger than the read buffer), a fragmented message, a ping that must be
// answered, an echo of what the client writes, and the server's close.
func TestWSConn(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 70_000/16) // 127-length form, larger than wsReadBuffer
	mid := bytes.Repeat([]byte("x"), 300)                      // 126-length form
	pong := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetPongHandler(func(s string) error { pong <- s; return nil })
		c.WriteMessage(websocket.TextMessage, []byte("hello")) // may share a segment with the handshake
		c.WriteMessage(websocket.TextMessage, mid)
		c.WriteMessage(websocket.BinaryMessage, big)
		wr, _ := c.NextWriter(websocket.TextMessage) // fragments: gorilla flushes a frame per Write past its buffer
		wr.Write(bytes.Repeat([]byte("a"), 5000))
		wr.Write(bytes.Repeat([]byte("b"), 5000))
		wr.Close()
		c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second))
		_, m, err := c.ReadMessage() // the client's echo request; the pong is handled inside
		if err != nil {
			return
		}
		c.WriteMessage(websocket.TextMessage, append([]byte("echo:"), m...))
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.ReadMessage()
	}))
	defer srv.Close()
	u, _ := url.Parse("ws" + srv.URL[len("http"):] + "/?room=x")
	dial := func(ctx context.Context, host string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", host)
	}
	c, err := dialWS(context.Background(), dial, u, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.c.Close()
	want := [][]byte{[]byte("hello"), mid, big, append(bytes.Repeat([]byte("a"), 5000), bytes.Repeat([]byte("b"), 5000)...)}
	for i, w := range want {
		m, err := c.next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(m, w) {
			t.Fatalf("message %d: %d bytes %.20q, want %d bytes %.20q", i, len(m), m, len(w), w)
		}
	}
	if err := c.writeText([]byte("a relay of sorts, longer than eight bytes")); err != nil {
		t.Fatal(err)
	}
	m, err := c.next() // answers the ping on the way
	if err != nil || string(m) != "echo:a relay of sorts, longer than eight bytes" {
		t.Fatalf("echo: %q, %v", m, err)
	}
	select {
	case p := <-pong:
		if p != "p1" {
			t.Fatalf("pong %q, want p1", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ping was not answered")
	}
	if _, err := c.next(); !errors.Is(err, errWSClosed) {
		t.Fatalf("after the server's close: %v, want errWSClosed", err)
	}
}

// TestWSConnRejects checks the frames a server must not send end the connection with an error.
func TestWSConnRejects(t *testing.T) {
	cases := map[string][]byte{
		"masked":              {0x81, 0x81, 1, 2, 3, 4, 'x'},
		"over the limit":      {0x82, 127, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff},
		"orphan continuation": {0x80, 1, 'x'},
		"unknown opcode":      {0x83, 0},
	}
	for name, frame := range cases {
		a, b := net.Pipe()
		go func() { b.Write(frame); b.Close() }()
		c := &wsConn{c: a, buf: make([]byte, wsReadBuffer)}
		if _, err := c.next(); err == nil || errors.Is(err, errWSClosed) {
			t.Errorf("%s: err %v, want a protocol error", name, err)
		}
		a.Close()
	}
}
