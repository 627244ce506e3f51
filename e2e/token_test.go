package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/p2plobby/p2plobby/internal/auth"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

const e2eAuthSecret = "the e2e join-token secret, 32+ bytes"

func joinToken(t *testing.T, name string, now time.Time, rooms ...string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(e2eAuthSecret), auth.Grant{Name: name, Rooms: rooms, TTL: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A join link (/#token=…): the page joins the token's room under the token's name, whatever name it remembers,
// and the token leaves the address at once; a reload in the tab joins again.
func TestJoinTokenFromLink(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--auth-secret", e2eAuthSecret)
	tessa := openPath(t, s, "/#token="+joinToken(t, "Tessa", time.Now(), "tokens"), visit{name: "Remembered"})
	tessa.waitJoined()
	var got struct {
		Self, Room, Href, Input, Protocol string
		ReadOnly                          bool
		ICE                               int
	}
	read := `({self: window.p2plobby.lobby.selfName, room: window.p2plobby.lobby.room, href: location.href,
		input: document.querySelector('[data-testid=name-input]').value,
		readOnly: document.querySelector('[data-testid=name-input]').readOnly,
		protocol: window.p2plobby.lobby.signaling.ws.protocol, ice: window.p2plobby.lobby.iceServers.length})`
	tessa.eval(read, &got)
	if got.Self != "Tessa" || got.Room != "tokens" || got.Input != "Tessa" || !got.ReadOnly || got.ICE == 0 {
		t.Fatalf("page state %+v: want the token's name (read-only) and room, and ICE servers", got)
	}
	if got.Href != s.URL+"/?room=tokens" {
		t.Fatalf("address %q: the token must be gone from it (and the token's room shown)", got.Href)
	}
	if got.Protocol != "p2plobby" {
		t.Fatalf("negotiated subprotocol %q", got.Protocol)
	}

	// Another member, a Go peer with its own token, sees Tessa by the token's name.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	bob, err := peer.Dial(ctx, s.WS, &peer.Options{Room: "tokens", Token: joinToken(t, "Bob", time.Now(), "tokens"), Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.WaitMember(ctx, func(m peer.Member) bool { return m.Name == "Tessa" }); err != nil {
		t.Fatalf("Bob does not see Tessa: %v (members %v)", err, bob.Members())
	}
	tessa.waitFor("Tessa sees Bob", names+` === 'Bob'`, 15*time.Second)

	tessa.do(chromedp.Reload())
	tessa.waitJoined()
	tessa.eval(read, &got)
	if got.Self != "Tessa" || got.Room != "tokens" {
		t.Fatalf("after a reload: %+v", got)
	}
}

// An expired token: the page says it needs a valid join link, does not retry, and got nothing from the lobby.
func TestJoinTokenRefusedInPage(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--auth-secret", e2eAuthSecret)
	p := openPath(t, s, "/?room=tokens#token="+joinToken(t, "Old", time.Now().Add(-2*time.Hour), "tokens"), visit{name: "Old"})
	p.waitFor("refusal shown", `document.querySelector('[data-testid=status]').dataset.status === 'closed' &&
		document.getElementById('offline-text').textContent.includes('needs a valid join link')`, 15*time.Second)
	p.waitFor("why, in a toast", `document.getElementById('toasts').textContent.includes('the join link has expired')`, 5*time.Second)
	var got struct {
		ID   any
		ICE  int
		Hash string
	}
	p.eval(`({id: window.p2plobby.lobby.id, ice: window.p2plobby.lobby.iceServers.length, hash: location.hash})`, &got)
	if got.ID != nil || got.ICE != 0 || got.Hash != "" {
		t.Fatalf("refused page state %+v: want no id, no ICE servers, no token in the address", got)
	}
}
