package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// names is a JS expression for the sorted names in the member list of the page.
const names = `[...document.querySelectorAll('li[data-testid=member]')].map(li => li.dataset.name).sort().join(',')`

func TestThreePeersAndLeaving(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "three", "Alice")
	bob := open(t, s, "three", "Bob")
	carol := open(t, s, "three", "Carol")
	alice.waitFor("Alice sees both", names+` === 'Bob,Carol'`, 20*time.Second)
	bob.waitFor("Bob sees both", names+` === 'Alice,Carol'`, 20*time.Second)
	carol.waitFor("Carol sees both", names+` === 'Alice,Bob'`, 20*time.Second)

	// Alice talks to two people at once.
	connect(t, alice, bob)
	connect(t, alice, carol)
	alice.chat("Bob", "for Bob")
	alice.chat("Carol", "for Carol")
	bob.waitChat("Alice", "for Bob")
	carol.waitChat("Alice", "for Carol")
	carol.chat("Alice", "from Carol")
	bob.chat("Alice", "from Bob")
	alice.waitChat("Carol", "from Carol")
	alice.waitChat("Bob", "from Bob")
	var misrouted bool
	bob.eval(`document.body.textContent.includes('for Carol')`, &misrouted)
	if misrouted {
		t.Fatal("Bob got Carol's message")
	}

	// Carol closes the tab: Bob's list drops her; Alice, who was connected, sees her leave.
	carol.do(chromedp.Navigate("about:blank"))
	bob.waitFor("Bob's list drops Carol", names+` === 'Alice'`, 20*time.Second)
	alice.waitFor("Alice sees Carol left", rowState("Carol")+` === 'left'`, 15*time.Second)
	var count string
	alice.eval(`document.querySelector('[data-testid=member-count]').textContent`, &count)
	if count != "1" {
		t.Errorf("Alice's member count is %q, want 1", count)
	}
	// Alice and Bob are unaffected.
	alice.chat("Bob", "still here")
	bob.waitChat("Alice", "still here")
}

func TestRoomsAreSeparate(t *testing.T) {
	skipWithoutBrowser(t)
	// Also checks that ICE servers come from the server's configuration: --ice-servers (a loopback STUN
	// address that nothing answers: harmless) follows the server's own STUN and TURN.
	s := lobbytest.Start(t, "--ice-servers", "stun:127.0.0.1:9")
	alice := open(t, s, "room-one", "Alice")
	bob := open(t, s, "room-two", "Bob")
	carol := open(t, s, "room-one", "Carol")
	alice.waitFor("Alice sees Carol", names+` === 'Carol'`, 20*time.Second)
	carol.waitFor("Carol sees Alice", names+` === 'Alice'`, 20*time.Second)
	time.Sleep(300 * time.Millisecond) // give a leak a chance to show
	bob.waitFor("Bob sees nobody", names+` === ''`, time.Second)
	var room string
	bob.eval(`document.querySelector('[data-testid=room-input]').value + ' ' + location.search`, &room)
	if room != "room-two ?room=room-two" {
		t.Errorf("Bob's room field and link: %q", room)
	}
	var ice []struct {
		URLs     any    `json:"urls"`
		Username string `json:"username"`
	}
	bob.eval(`window.p2plobby.lobby.iceServers`, &ice)
	if len(ice) != 3 || fmt.Sprint(ice[2].URLs) != "stun:127.0.0.1:9" || ice[1].Username == "" {
		t.Errorf("ICE servers from the server: %+v, want its STUN, its TURN with credentials, then --ice-servers", ice)
	}
}

func TestChatSurvivesServerStop(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "stop", "Alice")
	bob := open(t, s, "stop", "Bob")
	connect(t, alice, bob)

	s.Stop()
	for _, p := range []*page{alice, bob} {
		p.waitFor("signaling lost", `document.querySelector('[data-testid=status]').dataset.status === 'reconnecting'`, 20*time.Second)
	}
	alice.chat("Bob", "server is gone")
	bob.waitChat("Alice", "server is gone")
	bob.chat("Alice", "we don't need it")
	alice.waitChat("Bob", "we don't need it")
	for _, p := range []*page{alice, bob} {
		other := map[*page]string{alice: "Bob", bob: "Alice"}[p]
		p.waitFor("still connected", rowState(other)+` === 'connected'`, time.Second)
	}
}

func TestNameIsRemembered(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "names", "Alice")
	bob := open(t, s, "names", "Bob")
	bob.waitFor("Bob sees Alice", rowState("Alice")+` === 'idle'`, 20*time.Second)

	alice.eval(`document.querySelector('[data-testid=name-input]').value = ''`, nil)
	alice.do(chromedp.SendKeys(chromedp.CSS(`[data-testid=name-input]`), "Alicia\r"))
	bob.waitFor("Bob sees the new name", names+` === 'Alicia'`, 20*time.Second)
	alice.waitFor("rejoined", `window.p2plobby.lobby.status === 'open'`, 20*time.Second)
	alice.do(chromedp.Reload())
	alice.waitFor("name kept after reload", fmt.Sprintf(`document.querySelector('[data-testid=name-input]').value === %s`, jsString("Alicia")), 20*time.Second)
}

func TestReconnectRestoresLobby(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "again", "Alice")
	bob := open(t, s, "again", "Bob")
	carol := open(t, s, "again", "Carol")
	connect(t, alice, bob)
	var oldID string
	alice.eval(`window.p2plobby.lobby.id`, &oldID)

	s.Stop()
	alice.waitFor("signaling lost", `window.p2plobby.lobby.status === 'reconnecting'`, 20*time.Second)
	lobbytest.Start(t, "--addr", s.Addr) // the same address: the pages reconnect by themselves

	for _, p := range []*page{alice, bob, carol} {
		p.waitFor("back in the lobby", `window.p2plobby.lobby.status === 'open'`, 20*time.Second)
	}
	alice.waitFor("Alice sees both again", names+` === 'Bob,Carol'`, 20*time.Second)
	carol.waitFor("Carol sees both again", names+` === 'Alice,Bob'`, 20*time.Second)
	var newID string
	alice.eval(`window.p2plobby.lobby.id`, &newID)
	if newID == oldID {
		t.Errorf("member id %q unchanged after reconnecting", newID)
	}
	// The connection survived and is filed under Bob's new member id, not shown twice.
	alice.waitFor("Bob's row shows the connection", rowState("Bob")+` === 'connected'`, 20*time.Second)
	bob.waitFor("Alice's row shows the connection", rowState("Alice")+` === 'connected'`, 20*time.Second)
	var rows int
	alice.eval(`document.querySelectorAll('li[data-testid=member][data-name=Bob]').length`, &rows)
	if rows != 1 {
		t.Errorf("Alice lists Bob %d times", rows)
	}
	alice.chat("Bob", "after the restart")
	bob.waitChat("Alice", "after the restart")
	// New requests work with the new ids.
	connect(t, carol, bob)
}
