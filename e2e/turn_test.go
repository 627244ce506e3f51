package e2e

// The lobby's own TURN server, used by real browsers: relay-only connections (the privacy option) between two
// Chromiums and between Chromium and the Go peer, with data flowing through the relay; the page's connection
// check; and TURN credentials refreshed while a page stays.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

// pathOf is a JS expression for the path the conversation with name shows, as an object.
func pathOf(name string) string {
	return fmt.Sprintf(`(() => { const el = document.querySelector(%s); return el && !el.hidden ?
		{text: el.textContent, relayed: el.dataset.relayed, local: el.dataset.local, remote: el.dataset.remote} : null })()`,
		jsString(conversation(name)+` [data-testid=path]`))
}

type shownPath struct{ Text, Relayed, Local, Remote string }

func (p *page) path(name string) shownPath {
	p.t.Helper()
	p.waitFor("the path to "+name, pathOf(name), 10*time.Second)
	var sp shownPath
	p.eval(pathOf(name), &sp)
	return sp
}

// TestBrowsersRelayOnly: both people tick "Hide my IP address"; the connection goes relay ↔ relay through
// the embedded TURN server over UDP, the selected pair says so, and chat and a file go through it.
func TestBrowsersRelayOnly(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "relay", "Alice")
	bob := open(t, s, "relay", "Bob")
	for _, p := range []*page{alice, bob} {
		p.click(`[data-testid=relay-only]`)
		p.waitFor("relay-only on", `window.p2plobby.lobby.relayOnly === true`, 5*time.Second)
	}
	connect(t, alice, bob)

	// Chat both ways before looking at the path: the side that answered (ICE-controlled) moves to the pair the
	// other side nominated last only when data arrives on it (Chromium), so until then it may still send
	// through a pair that was checked first, e.g. one with its TURN over TCP allocation when that one was
	// ready before its UDP one (docs/connectivity.md, "How a path is found").
	alice.chat("Bob", "through the relay")
	bob.waitChat("Alice", "through the relay")
	bob.chat("Alice", "and back")
	alice.waitChat("Bob", "and back")

	for _, p := range []*page{alice, bob} {
		other := map[*page]string{alice: "Bob", bob: "Alice"}[p]
		// The page follows the browser's switches of the selected pair: wait until it shows the pair in use.
		p.waitFor("the path shown to be the selected pair's", fmt.Sprintf(`(async () => {
			const st = await [...window.p2plobby.lobby.peers.values()][0].pc.getStats(); let proto = '';
			st.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId)
				proto = st.get(st.get(r.selectedCandidatePairId).localCandidateId).relayProtocol ?? '' });
			return proto !== '' && %s?.text === 'relayed · TURN over ' + proto.toUpperCase() })()`, pathOf(other)), 10*time.Second)
		sp := p.path(other)
		if sp.Relayed != "true" || sp.Local != "relay" || sp.Remote != "relay" || !strings.Contains(sp.Text, "TURN over UDP") {
			t.Errorf("%s shows path %+v, want relay ↔ relay over the lobby's TURN (UDP)", p.name, sp)
		}
		// The browser's own record: the selected candidate pair, and the relay it uses is the lobby's, over UDP.
		var pair struct{ Local, Remote, Address, RelayProtocol, URL string }
		p.eval(`(async () => { const pc = [...window.p2plobby.lobby.peers.values()][0].pc; const st = await pc.getStats();
			let pair; st.forEach(r => { if (r.type === 'transport') pair = st.get(r.selectedCandidatePairId) });
			const l = st.get(pair.localCandidateId), r = st.get(pair.remoteCandidateId);
			return {local: l.candidateType, remote: r.candidateType, address: l.address, relayProtocol: l.relayProtocol, url: l.url ?? ''} })()`, &pair)
		if pair.Local != "relay" || pair.Remote != "relay" || pair.Address != "127.0.0.1" || pair.RelayProtocol != "udp" {
			t.Errorf("%s: selected pair %+v, want relay ↔ relay on the lobby's TURN at 127.0.0.1 over UDP", p.name, pair)
		}
	}

	path, want := randomFile(t, "relayed.bin", 1<<20)
	alice.sendFiles("Bob", path)
	bob.waitFor("offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 60*time.Second)
	if got, _, size := bob.receivedHash("Alice"); got != want || size != 1<<20 {
		t.Errorf("through the relay: SHA-256 %s (%d bytes), want %s", got, size, want)
	}
}

// TestGoPeerBrowserRelayOnly: the Go peer with RelayOnly (the CLI's --relay-only) and a page without: the
// pair is relay ↔ host through the lobby's TURN; chat flows both ways.
func TestGoPeerBrowserRelayOnly(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "gorelay", "Alice")
	g := dialGo(t, s, "gorelay", func(o *peer.Options) { o.RelayOnly = true })
	dumpGoPeerOnFailure(t, alice, g)
	conn := goRequests(t, alice, g, false)

	p, err := conn.Path()
	if err != nil {
		t.Fatal(err)
	}
	if p.LocalType != "relay" || p.RelayProtocol != "udp" || !strings.HasPrefix(p.LocalAddr, "127.0.0.1:") {
		t.Errorf("Go peer's path %+v (%s), want its relay on the lobby's TURN", p, p)
	}
	if sp := alice.path(goName); sp.Relayed != "true" || sp.Remote != "relay" {
		t.Errorf("page shows %+v, want the Go peer's relay candidate", sp)
	}
	if err := conn.SendChat("relayed hello"); err != nil {
		t.Fatal(err)
	}
	alice.waitChat(goName, "relayed hello")
	alice.chat(goName, "relayed answer")
	if m := g.nextChat(conn, 20*time.Second); m.Text != "relayed answer" {
		t.Errorf("Go peer got %q", m.Text)
	}
}

// TestPageDirectByDefault: without relay-only, two pages on one host connect directly although TURN is
// offered (ICE prefers direct pairs).
func TestPageDirectByDefault(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "direct", "Alice")
	bob := open(t, s, "direct", "Bob")
	connect(t, alice, bob)
	if sp := alice.path("Bob"); sp.Relayed != "false" || sp.Local != "host" || !strings.HasPrefix(sp.Text, "direct") {
		t.Errorf("path %+v, want direct host", sp)
	}
}

// TestPageConnectionCheck: the page's "Check connection" gives the verdict netcheck gives on this host.
func TestPageConnectionCheck(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "netcheck", "Alice")
	alice.click(`[data-testid=netcheck]`)
	alice.waitFor("the check's result", `document.querySelector('[data-testid=netcheck-result]').dataset.state === 'done'`, 30*time.Second)
	var r struct {
		Verdict string
		Lobby   struct{ OK bool }
		TURN    []struct{ URL, Transport, Error string }
	}
	alice.eval(`window.p2plobby.lobby.netcheck()`, &r)
	var shown string
	alice.eval(`document.querySelector('[data-testid=netcheck-verdict]').dataset.verdict`, &shown)
	if shown != "direct connections likely" || r.Verdict != shown || !r.Lobby.OK {
		t.Errorf("page shows %q, report %+v; want direct connections likely", shown, r)
	}
	transports := map[string]int{}
	for _, tr := range r.TURN {
		if tr.Error != "" {
			t.Errorf("TURN %s: %s", tr.URL, tr.Error)
		}
		transports[tr.Transport]++
	}
	if transports["udp"] != 1 || transports["tcp"] != 2 {
		t.Errorf("TURN checked %v, want UDP once and TCP twice", transports)
	}
}

// TestPageTURNCredentialsRefreshed: the SDK takes fresh credentials from {"kind":"ice-servers"} and applies them
// to live connections.
func TestPageTURNCredentialsRefreshed(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--turn-ttl", "4s", "--ping-interval", "1s", "--idle-timeout", "5s")
	alice := open(t, s, "refresh", "Alice")
	bob := open(t, s, "refresh", "Bob")
	connect(t, alice, bob)
	var first string
	alice.eval(`window.p2plobby.lobby.iceServers[1].username`, &first)
	alice.waitFor("fresh credentials", fmt.Sprintf(`window.p2plobby.lobby.iceServers[1].username !== %s`, jsString(first)), 10*time.Second)
	var applied bool
	alice.eval(`(() => { const l = window.p2plobby.lobby; const pc = [...l.peers.values()][0].pc;
		return pc.getConfiguration().iceServers[1].username === l.iceServers[1].username })()`, &applied)
	if !applied {
		t.Error("fresh credentials not applied to the live connection")
	}
}
