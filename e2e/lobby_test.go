// Package e2e drives the real p2plobby binary and real headless Chromium browsers (one per person).
// Tests skip when Chromium is missing unless P2PLOBBY_REQUIRE_BROWSER=1.
package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// skipWithoutBrowser skips before the server is built when no browser can run the test anyway, and in
// -short mode (each test starts browsers: seconds, not milliseconds).
func skipWithoutBrowser(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end browser test: skipped with -short")
	}
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
	// The code is the one the documented algorithm gives for the certificates of the DTLS session (from the
	// browser's stats) and the nonces the two exchanged.
	var neg struct {
		Local, Remote, Mine, Theirs string
		Initiator                   bool
	}
	alice.eval(`(async () => { const p = [...window.p2plobby.lobby.peers.values()][0]; const st = await p.pc.getStats();
		let tr; st.forEach(r => { if (r.type === 'transport' && r.localCertificateId) tr = r });
		return {local: st.get(tr.localCertificateId).base64Certificate, remote: st.get(tr.remoteCertificateId).base64Certificate,
			mine: p.sas.mine, theirs: p.sas.theirs, initiator: p.initiator} })()`, &neg)
	offerer, answerer := neg.Mine, neg.Theirs
	if !neg.Initiator {
		offerer, answerer = answerer, offerer
	}
	if want := goVerificationCode(derFingerprint(t, neg.Local), derFingerprint(t, neg.Remote), offerer, answerer); codes[0] != want {
		t.Fatalf("page shows %q, the documented algorithm gives %q", codes[0], want)
	}

	// The connection uses exactly the ICE servers the lobby handed out (its own STUN and TURN, with this
	// member's credentials): nothing is hard-coded.
	var ice struct{ Conn, Lobby []map[string]any }
	alice.eval(`(() => { const pick = (l) => l.map(s => ({urls: s.urls, username: s.username || ''}));
		return {conn: pick([...window.p2plobby.lobby.peers.values()][0].pc.getConfiguration().iceServers),
			lobby: pick(window.p2plobby.lobby.iceServers)} })()`, &ice)
	if len(ice.Conn) != 2 || fmt.Sprint(ice.Conn) != fmt.Sprint(ice.Lobby) {
		t.Errorf("connection's ICE servers %v, want the lobby's %v", ice.Conn, ice.Lobby)
	}
	if u := fmt.Sprint(ice.Lobby); !strings.Contains(u, "turn:127.0.0.1:") || !strings.Contains(u, "username:1") {
		t.Errorf("lobby's ICE servers %s: want the server's own TURN with credentials", u)
	}

	alice.chat("Bob", "hello Bob")
	bob.waitChat("Alice", "hello Bob")
	bob.chat("Alice", "hi Alice 👋")
	alice.waitChat("Bob", "hi Alice 👋")

	// Without OPFS (older browsers, insecure origins) received files are kept in memory.
	bob.eval(`delete StorageManager.prototype.getDirectory`, nil)
	path, want := randomFile(t, "no-opfs.bin", 2<<20)
	alice.sendFiles("Bob", path)
	bob.waitFor("offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	if got, storage, _ := bob.receivedHash("Alice"); got != want || storage != "memory" {
		t.Errorf("without OPFS: stored in %q with SHA-256 %s, want memory and %s", storage, got, want)
	}
}

func TestRequestDecline(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "decline", "Alice")
	bob := open(t, s, "decline", "Bob")

	alice.waitFor("Alice sees Bob", rowState("Bob")+` === 'idle'`, 20*time.Second)
	alice.click(member("Bob") + ` [data-testid=request]`)
	alice.waitFor("Alice is requesting", rowState("Bob")+` === 'requesting'`, 10*time.Second)
	bob.waitFor("Bob sees the request", rowState("Alice")+` === 'incoming'`, 20*time.Second)
	bob.click(member("Alice") + ` [data-testid=decline]`)
	alice.waitFor("Alice sees the decline", rowState("Bob")+` === 'declined'`, 20*time.Second)
	bob.waitFor("Bob's row shows the decline", rowState("Alice")+` === 'declined'`, 10*time.Second)

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
	bob.waitFor("Bob sees the new request", rowState("Alice")+` === 'incoming'`, 20*time.Second)
}

// seedClientJS is a client written to the seed document only: it sends a bare offer (no request, no sid,
// no trickle) and expects an answer. It resolves to the chat text received over its data channel.
const seedClientJS = `(async (wsURL, target) => {
  const ws = new WebSocket(wsURL);
  let me, pc, dc;
  const members = new Map();
  const reply = new Promise((resolve, reject) => {
    ws.onmessage = async (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.kind === 'self-connected') me = msg.id;
      else if (msg.kind === 'connected') {
        members.set(msg.name, msg.id);
        if (msg.name !== target) return;
        pc = new RTCPeerConnection();
        dc = pc.createDataChannel('p2plobby');
        dc.onmessage = (m) => { const c = JSON.parse(m.data); if (c.t === 'chat') resolve(c.text); };
        dc.onopen = () => dc.send(JSON.stringify({ t: 'chat', id: 'seed-1', text: 'hello from the seed', ts: Date.now() }));
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
        ws.send(JSON.stringify({ toId: msg.id, fromId: me, offer: pc.localDescription }));
      } else if (msg.answer) {
        await pc.setRemoteDescription(msg.answer);
      }
    };
    setTimeout(() => reject(new Error('seed client: no chat within 30s')), 30000);
  });
  window.seedReply = reply;
  return true;
})`

func TestSeedStyleOfferNeedsConsent(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "seed", "Alice")
	other := open(t, s, "elsewhere", "Other") // hosts the seed-style client's JS
	other.eval(fmt.Sprintf(`%s(%s, 'Alice')`, seedClientJS, jsString(s.WS+"/ws?room=seed&name=Seed")), nil)

	alice.waitFor("Alice is asked", rowState("Seed")+` === 'incoming'`, 15*time.Second)
	var pcs int
	alice.eval(`[...window.p2plobby.lobby.peers.values()].filter(p => p.pc).length`, &pcs)
	if pcs != 0 {
		t.Fatal("the offer was answered before consent")
	}
	alice.click(member("Seed") + ` [data-testid=accept]`)
	alice.waitFor("connected to the seed client", rowState("Seed")+` === 'connected'`, 15*time.Second)
	alice.waitChat("Seed", "hello from the seed")
	alice.chat("Seed", "hello seed")
	var got string
	other.eval(`window.seedReply`, &got)
	if got != "hello seed" {
		t.Fatalf("seed client got %q", got)
	}
}

func TestSimultaneousRequests(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "glare", "Alice")
	bob := open(t, s, "glare", "Bob")
	alice.waitFor("Alice sees Bob", rowState("Bob")+` === 'idle'`, 20*time.Second)
	bob.waitFor("Bob sees Alice", rowState("Alice")+` === 'idle'`, 20*time.Second)
	var ids [2]string
	alice.eval(`window.p2plobby.lobby.id`, &ids[0])
	bob.eval(`window.p2plobby.lobby.id`, &ids[1])
	// Both ask before either has heard the other's request, whatever the timing: each page holds its incoming
	// lobby messages (glare_test.go), then asks, and only then are the held messages delivered.
	alice.eval(holdLobbyJS, nil)
	bob.eval(holdLobbyJS, nil)
	requestJS := `(() => { const l = window.p2plobby.lobby; l.request([...l.members.keys()][0]); return true })()`
	alice.eval(requestJS, nil)
	bob.eval(requestJS, nil)
	alice.waitFor("Bob's request waits, unseen, for Alice", heldRequestJS, 10*time.Second)
	bob.waitFor("Alice's request waits, unseen, for Bob", heldRequestJS, 10*time.Second)
	// Now both are requesting at once, each with the other's request in flight.
	alice.waitFor("Alice requesting", rowState("Bob")+` === 'requesting'`, 5*time.Second)
	bob.waitFor("Bob requesting", rowState("Alice")+` === 'requesting'`, 5*time.Second)
	alice.eval(releaseLobbyJS, nil)
	bob.eval(releaseLobbyJS, nil)
	// Both have consented, so they end up connected once, not deadlocked.
	alice.waitFor("Alice connected", rowState("Bob")+` === 'connected'`, 20*time.Second)
	bob.waitFor("Bob connected", rowState("Alice")+` === 'connected'`, 20*time.Second)
	type session struct {
		N         int
		State     string
		Sid       string
		Initiator bool
		Convos    int
	}
	var got [2]session
	for i, side := range []struct {
		p     *page
		other string
	}{{alice, "Bob"}, {bob, "Alice"}} {
		// The collision really happened: the other's request reached this side while it was itself requesting,
		// and no second session (a Peer for an incoming request) was created for it.
		r := side.p.glare(t)
		if len(r.Requests) != 1 || r.Requests[0].From != ids[1-i] || r.Requests[0].State != "requesting" {
			t.Fatalf("%s: the requests did not cross: requests seen %+v (want one from %s, seen while 'requesting')", side.p.name, r.Requests, ids[1-i])
		}
		if r.Peers != 1 {
			t.Fatalf("%s: %d sessions created, want only its own request's", side.p.name, r.Peers)
		}
		side.p.eval(`(() => { const ps = [...window.p2plobby.lobby.peers.values()];
			return { n: ps.length, state: ps[0]?.state, sid: ps[0]?.sid, initiator: ps[0]?.initiator,
				convos: document.querySelectorAll(`+jsString(conversation(side.other))+`).length } })()`, &got[i])
	}
	// Exactly one connection, the same one on both sides: the lower id's request, which the other adopted.
	lower := 0
	if ids[1] < ids[0] {
		lower = 1
	}
	for i, g := range got {
		if g.N != 1 || g.State != "connected" || g.Convos != 1 || g.Initiator != (i == lower) {
			t.Fatalf("side %d (%s): %+v, want one connected session, one conversation, initiator=%v", i, ids[i], g, i == lower)
		}
	}
	if got[0].Sid == "" || got[0].Sid != got[1].Sid {
		t.Fatalf("the two sides are in different sessions: %q vs %q", got[0].Sid, got[1].Sid)
	}
	alice.chat("Bob", "we both asked")
	bob.waitChat("Alice", "we both asked")
}
