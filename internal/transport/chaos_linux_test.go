package transport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/hub"
)

// Clients that relay, ping, stop reading, send half a frame or vanish with a reset, all at once: once they
// are gone, so is every trace of them (connections, members, reader goroutines), and the server is still
// serving.
func TestChaosClientsLeaveNoTrace(t *testing.T) {
	ts := newTestServer(t, Config{WriteTimeout: time.Second}, hub.Config{MaxQueue: 64 << 10})
	const n = 40
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			c, _, err := websocket.DefaultDialer.Dial(ts.ws+"/?room=chaos", nil)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			var self struct{ ID string }
			if err := c.ReadJSON(&self); err != nil {
				t.Errorf("first message: %v", err)
				return
			}
			ids <- self.ID
			reading := rng.IntN(4) != 0 // a quarter never read again
			if reading {
				go func() {
					for {
						if _, _, err := c.ReadMessage(); err != nil {
							return
						}
					}
				}()
			}
			end := time.Now().Add(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
			for time.Now().Before(end) {
				var msg string
				switch rng.IntN(4) {
				case 0:
					msg = `{"kind":"ping"}`
				case 1:
					msg = `{"toId":"nobody","kind":"request"}`
				default:
					select {
					case to := <-ids:
						ids <- to
						msg = fmt.Sprintf(`{"toId":%q,"offer":{"sdp":"%0*d"}}`, to, rng.IntN(8000), 0)
					default:
						msg = `{"kind":"ping"}`
					}
				}
				if c.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
					return // dropped by the server (too slow, say): fine
				}
				time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
			}
			nc := c.UnderlyingConn()
			switch rng.IntN(4) {
			case 0: // vanish with a reset
				nc.(*net.TCPConn).SetLinger(0)
			case 1: // half a frame, then gone
				nc.Write([]byte{0x81, 0xfe, 0x10})
			case 2: // a proper goodbye
				c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			}
		}()
	}
	wg.Wait()
	waitFor(t, func() bool {
		return ts.srv.Conns() == 0 && ts.hub.Stats().Members == 0 && readerGoroutines(t) == 0
	}, "every trace of the chaos clients to go")
	a := join(t, ts.ws+"/?room=chaos", 0)
	b := join(t, ts.ws+"/?room=chaos", 1)
	a.next()
	b.send(`{"toId":"` + a.id + `","kind":"request"}`)
	if m := a.next(); m["kind"] != "request" || m["fromId"] != b.id {
		t.Fatalf("after the chaos: got %v", m)
	}
}
