package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// classMember is one of the people of TestDefaultLimitsLetAClassJoinAtOnce, over a real WebSocket.
type classMember struct {
	c    *websocket.Conn
	id   string
	view map[string]bool
}

// next reads the next message; the test's own bound (not a timing assertion) keeps a lost message from hanging.
func (m *classMember) next(t *testing.T) map[string]any {
	t.Helper()
	m.c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	var msg map[string]any
	if err := m.c.ReadJSON(&msg); err != nil {
		t.Errorf("member %s: %v", m.id, err)
		return nil
	}
	if msg["kind"] == "error" {
		t.Errorf("member %s refused: %v", m.id, msg)
		return nil
	}
	return msg
}

// A class of 200 behind one address (127.0.0.1, as behind a school's NAT) joins one room at once, with the
// server's default limits: everyone is admitted and sees exactly the other 199. Then everyone asks the
// teacher for a connection and sends an offer and ten candidates at once (2,388 relays to one member):
// every one arrives and nobody gets an error.
func TestDefaultLimitsLetAClassJoinAtOnce(t *testing.T) {
	const n = 200
	s := lobbytest.Start(t)
	members := make([]*classMember, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("%s/?room=class&name=P%d", s.WS, i), nil)
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			m := &classMember{c: c, view: map[string]bool{}}
			members[i] = m
			self := m.next(t)
			if self == nil || self["kind"] != "self-connected" {
				t.Errorf("member %d: first message %v", i, self)
				return
			}
			m.id = self["id"].(string)
			for len(m.view) < n-1 && !t.Failed() {
				msg := m.next(t)
				id, _ := msg["id"].(string)
				switch msg["kind"] {
				case "connected":
					m.view[id] = true
				case "disconnected":
					t.Errorf("member %d saw %s leave", i, id)
				}
			}
		})
	}
	wg.Wait()
	for _, m := range members {
		if m != nil {
			defer m.c.Close()
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for i, m := range members {
		for _, o := range members {
			if o != m && !m.view[o.id] {
				t.Fatalf("member %d does not see %s", i, o.id)
			}
		}
	}

	teacher := members[0]
	const perStudent = 12 // request, offer, ten candidates
	for _, m := range members[1:] {
		wg.Go(func() {
			send := func(v string) {
				if err := m.c.WriteMessage(websocket.TextMessage, []byte(v)); err != nil {
					t.Errorf("send: %v", err)
				}
			}
			send(fmt.Sprintf(`{"toId":%q,"kind":"request","sid":"s"}`, teacher.id))
			send(fmt.Sprintf(`{"toId":%q,"offer":{"type":"offer","sdp":"v=0 %s"},"sid":"s"}`, teacher.id, strings.Repeat("a", 2000)))
			for k := range perStudent - 2 {
				send(fmt.Sprintf(`{"toId":%q,"candidate":{"candidate":"candidate:%d 1 udp 1 192.0.2.1 %d typ host"},"sid":"s"}`, teacher.id, k, 40000+k))
			}
			// An error for any of them would arrive before this pong: the server answers in order.
			send(`{"kind":"ping"}`)
			if msg := m.next(t); msg != nil && msg["kind"] != "pong" {
				t.Errorf("student %s got %v", m.id, msg)
			}
		})
	}
	got := map[string]int{}
	for total := 0; total < (n-1)*perStudent && !t.Failed(); total++ {
		msg := teacher.next(t)
		from, _ := msg["fromId"].(string)
		got[from]++
	}
	wg.Wait()
	for _, m := range members[1:] {
		if got[m.id] != perStudent {
			t.Fatalf("teacher got %d relays from %s, want %d", got[m.id], m.id, perStudent)
		}
	}
}

// Slowloris over loopback, against the real server (TURN shares the port, as by default): a connection that
// sends nothing, one that sends its headers a byte at a time and one that sends its body a byte at a time are
// all closed by the server, while a member joins and /healthz answers meanwhile.
func TestSlowlorisClosed(t *testing.T) {
	s := lobbytest.Start(t, "--header-timeout", "1s", "--request-timeout", "2s")
	slow := map[string]string{
		"silent":    "",
		"slow head": "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 400),
		"slow body": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n" + strings.Repeat("b", 400),
	}
	var wg sync.WaitGroup
	for name, script := range slow {
		wg.Go(func() {
			c, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			defer c.Close()
			stop := make(chan struct{})
			defer close(stop)
			go func() { // a byte every 100 ms, until the server closes or the test ends
				for i := 0; i < len(script); i++ {
					if _, err := c.Write([]byte{script[i]}); err != nil {
						return
					}
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			}()
			// The bound of the test, far beyond the timeouts: without them the connection would stay open.
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err = io.Copy(io.Discard, c)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("%s: the server did not close the connection", name)
			}
		})
	}
	// Others are served meanwhile.
	ws, _, err := websocket.DefaultDialer.Dial(s.WS+"/?name=Ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var first map[string]any
	if err := ws.ReadJSON(&first); err != nil || first["kind"] != "self-connected" {
		t.Fatalf("first message %v %v", first, err)
	}
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(bufio.NewReader(resp.Body))
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
	wg.Wait()
}
