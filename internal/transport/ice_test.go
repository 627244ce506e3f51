package transport

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/hub"
)

// fakeICE records what the transport asks of Config.ICE; every answer names the member, the host and a
// counter, and is due for a refresh at once when refreshNow is set.
type fakeICE struct {
	mu         sync.Mutex
	refreshNow bool
	n          int
	hosts      map[string]string // member → host it joined by
	left       []string
}

func (f *fakeICE) servers(id, host string) (json.RawMessage, time.Time) {
	f.n++
	raw := json.RawMessage(fmt.Sprintf(`[{"urls":"turn:%s","username":"%s","credential":"%d"}]`, host, id, f.n))
	if f.refreshNow {
		return raw, time.Now()
	}
	return raw, time.Time{}
}

func (f *fakeICE) Join(id, host string) (json.RawMessage, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[id] = host
	return f.servers(id, host)
}

func (f *fakeICE) Refresh(id, host string) (json.RawMessage, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.servers(id, host)
}

func (f *fakeICE) Leave(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = append(f.left, id)
}

func (f *fakeICE) leftList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.left...)
}

func TestICEPerMemberRefreshAndLeave(t *testing.T) {
	ice := &fakeICE{hosts: map[string]string{}, refreshNow: true}
	ts := newTestServer(t, Config{ICE: ice, PingInterval: 50 * time.Millisecond, IdleTimeout: 10 * time.Second},
		hub.Config{ICEServers: json.RawMessage(`[{"urls":"stun:hub-default"}]`)})
	c := dial(t, ts.ws)
	self := c.next()
	servers, _ := json.Marshal(self["iceServers"])
	want := fmt.Sprintf(`[{"credential":"1","urls":"turn:%s","username":"%s"}]`, ts.Listener.Addr(), self["id"])
	if string(servers) != want {
		t.Fatalf("self-connected iceServers %s, want %s (the member's own, by the Host it used)", servers, want)
	}
	// Due at once: the keepalive sends fresh ones at its next round.
	m := c.next()
	if m["kind"] != "ice-servers" {
		t.Fatalf("got %v, want an ice-servers refresh", m)
	}
	fresh, _ := json.Marshal(m["iceServers"])
	if string(fresh) == string(servers) {
		t.Fatalf("refresh repeated the old servers: %s", fresh)
	}
	c.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(ice.leftList()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Leave was not called after the client went away")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := ice.leftList(); len(got) != 1 || got[0] != self["id"] {
		t.Fatalf("Leave calls %v, want exactly [%v]", got, self["id"])
	}
}

func TestICEFallsBackToHubConfig(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{ICEServers: json.RawMessage(`[{"urls":"stun:hub-default"}]`)})
	self := dial(t, ts.ws).next()
	servers, _ := json.Marshal(self["iceServers"])
	if string(servers) != `[{"urls":"stun:hub-default"}]` {
		t.Fatalf("iceServers %s, want the hub's", servers)
	}
}
