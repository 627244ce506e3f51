package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/cluster/natstest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// Issue 10: the browser app works unchanged across the nodes of a cluster. Alice's page is served by one
// node and Bob's by another, with NATS between them: they see each other, connect, chat both ways and send
// a file, verified end to end.
func TestClusterTwoNodesChatAndFile(t *testing.T) {
	skipWithoutBrowser(t)
	nc := natstest.Start(t, 1)
	a := lobbytest.Start(t, "--nats", nc.URLs(0), "--network-secret", "e2e")
	b := lobbytest.Start(t, "--nats", nc.URLs(0), "--network-secret", "e2e")
	for _, s := range []*lobbytest.Server{a, b} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(s.URL + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready", s.URL)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	alice := open(t, a, "cluster", "Alice")
	bob := open(t, b, "cluster", "Bob")
	connect(t, alice, bob)
	alice.chat("Bob", "hello from node A")
	bob.waitChat("Alice", "hello from node A")
	bob.chat("Alice", "and back from node B")
	alice.waitChat("Bob", "and back from node B")

	file, sum := randomFile(t, "across.bin", 3<<20)
	alice.sendFiles("Bob", file)
	bob.waitFor("offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 30*time.Second)
	alice.waitFor("delivered", cardState("Bob", "send")+` === 'done'`, 10*time.Second)
	if got, _, n := bob.receivedHash("Alice"); got != sum || n != 3<<20 {
		t.Fatalf("the file arrived with %d bytes, SHA-256 %s; want %s", n, got, sum)
	}
}
