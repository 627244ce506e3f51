package transport

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/p2plobby/p2plobby/internal/hub"
)

// readerGoroutines counts goroutines currently inside a connection's read path.
func readerGoroutines(t *testing.T) int {
	t.Helper()
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "transport.(*conn).readBurst") || strings.Contains(g, "transport.(*conn).readLoop") {
			n++
		}
	}
	return n
}

// Idle connections are watched by the poller and keep no reader goroutine; a message wakes one, which
// answers and, once the connection is quiet again, goes away.
func TestIdleConnectionsHaveNoReader(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	if ts.srv.poller == nil {
		t.Fatal("no poller on Linux")
	}
	const n = 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = join(t, ts.ws+"/?room=idle", i)
	}
	for i, c := range clients {
		for range n - 1 - i {
			c.next() // the later joiners
		}
		c.quiet() // one message each: every reader has run at least once
	}
	waitFor(t, func() bool { return readerGoroutines(t) == 0 }, "reader goroutines of idle connections to exit")
	for _, c := range clients {
		c.quiet() // the poller wakes a reader for each
	}
	waitFor(t, func() bool { return readerGoroutines(t) == 0 }, "reader goroutines to exit again")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(readLinger + 5*time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A message that arrives in pieces, with pauses longer than the reader's linger between the pieces and
// between the fragments of a fragmented message, is still read whole.
func TestMessageInSlowPieces(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	a := join(t, ts.ws, 0)
	nc := rawHandshake(t, ts, "")
	a.next() // connected
	mask := [4]byte{9, 8, 7, 6}
	frame := func(op ws.OpCode, fin bool, payload string) []byte {
		var b bytes.Buffer
		p := []byte(payload)
		ws.Cipher(p, mask, 0)
		ws.WriteHeader(&b, ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: mask, Length: int64(len(p))})
		b.Write(p)
		return b.Bytes()
	}
	first := frame(ws.OpText, false, `{"toId":"`+a.id+`",`)
	second := frame(ws.OpContinuation, true, `"kind":"request","sid":"slow"}`)
	pause := readLinger + 300*time.Millisecond
	nc.Write(first[:5]) // a header cut in the middle
	time.Sleep(pause)
	nc.Write(first[5:])
	time.Sleep(pause) // between fragments
	nc.Write(second)
	m := a.next()
	if m["kind"] != "request" || m["sid"] != "slow" {
		t.Fatalf("got %v", m)
	}
}
