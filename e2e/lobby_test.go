// Package e2e drives the real p2plobby binary and real headless Chromium browsers (one per person).
// Tests skip when Chromium is missing unless P2PLOBBY_REQUIRE_BROWSER=1.
package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// skipWithoutBrowser skips before the server is built when no browser can run the test anyway.
func skipWithoutBrowser(t *testing.T) {
	t.Helper()
	if browsertest.Path() == "" {
		browsertest.New(t) // skips, or fails with P2PLOBBY_REQUIRE_BROWSER=1
	}
}

func TestRequestAcceptChat(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "chat", "Alice")
	bob := open(t, s, "chat", "Bob")

	connect(t, alice, bob)

	var codes [2]string
	for i, p := range []*page{alice, bob} {
		other := map[*page]string{alice: "Bob", bob: "Alice"}[p]
		p.waitFor("verification code", fmt.Sprintf(`document.querySelector(%s)?.textContent`,
			jsString(conversation(other)+` [data-testid=verify-code]`)), 5*time.Second)
		p.eval(fmt.Sprintf(`document.querySelector(%s).textContent`, jsString(conversation(other)+` [data-testid=verify-code]`)), &codes[i])
	}
	if codes[0] != codes[1] || len(codes[0]) != 7 {
		t.Fatalf("verification codes differ or malformed: Alice sees %q, Bob sees %q", codes[0], codes[1])
	}

	alice.chat("Bob", "hello Bob")
	bob.waitChat("Alice", "hello Bob")
	bob.chat("Alice", "hi Alice 👋")
	alice.waitChat("Bob", "hi Alice 👋")
}

func TestRequestDecline(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "decline", "Alice")
	bob := open(t, s, "decline", "Bob")

	alice.waitFor("Alice sees Bob", rowState("Bob")+` === 'idle'`, 10*time.Second)
	alice.click(member("Bob") + ` [data-testid=request]`)
	alice.waitFor("Alice is requesting", rowState("Bob")+` === 'requesting'`, 5*time.Second)
	bob.waitFor("Bob sees the request", rowState("Alice")+` === 'incoming'`, 10*time.Second)
	bob.click(member("Alice") + ` [data-testid=decline]`)
	alice.waitFor("Alice sees the decline", rowState("Bob")+` === 'declined'`, 10*time.Second)
	bob.waitFor("Bob's row shows the decline", rowState("Alice")+` === 'declined'`, 5*time.Second)

	// Nothing was connected: neither side ever made an RTCPeerConnection.
	var pcs int
	for _, p := range []*page{alice, bob} {
		p.eval(`[...window.p2plobby.lobby.peers.values()].filter(p => p.pc).length`, &pcs)
		if pcs != 0 {
			t.Fatalf("%s created %d peer connections without consent", p.name, pcs)
		}
	}
	// Asking again works after a decline.
	alice.click(member("Bob") + ` [data-testid=request]`)
	bob.waitFor("Bob sees the new request", rowState("Alice")+` === 'incoming'`, 10*time.Second)
}
