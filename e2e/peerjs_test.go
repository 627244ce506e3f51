package e2e

// Issue 12: the unmodified PeerJS browser client (testdata/peerjs, peerjs 1.5.5 from npm) against the server's
// PeerServer-compatible endpoint, in real Chromium. The test page comes from an origin of its own (an
// httptest server on another loopback port), as an app using PeerJS would, so the endpoint is reached
// cross-origin. The pages' clients use no STUN or TURN: loopback host candidates connect them. Each test's
// steps are a function of the endpoint (peerJSServer), so that they can also be pointed at the reference
// PeerServer (npm peer) to check the test itself.

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/cluster/natstest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

func TestPeerJSConnectAndExchange(t *testing.T) {
	skipWithoutBrowser(t)
	peerJSConnectAndExchange(t, peerJSOf(t, lobbytest.Start(t, "--peerjs-allow-discovery")))
}

func TestPeerJSIDTaken(t *testing.T) {
	skipWithoutBrowser(t)
	peerJSIDTaken(t, peerJSOf(t, lobbytest.Start(t)))
}

func TestPeerJSExpire(t *testing.T) {
	skipWithoutBrowser(t)
	peerJSExpire(t, peerJSOf(t, lobbytest.Start(t, "--peerjs-expire-timeout", "1s")))
}

func TestPeerJSQueuedUntilArrival(t *testing.T) {
	skipWithoutBrowser(t)
	// A long expiry, so that a slow machine cannot turn the late arrival into an expired offer.
	peerJSQueuedUntilArrival(t, peerJSOf(t, lobbytest.Start(t, "--peerjs-expire-timeout", "30s")))
}

func TestPeerJSHeartbeat(t *testing.T) {
	skipWithoutBrowser(t)
	peerJSHeartbeat(t, peerJSOf(t, lobbytest.Start(t, "--peerjs-alive-timeout", "2s", "--peerjs-allow-discovery")))
}

func TestPeerJSReconnect(t *testing.T) {
	skipWithoutBrowser(t)
	peerJSReconnect(t, peerJSOf(t, lobbytest.Start(t, "--peerjs-allow-discovery")))
}

func TestPeerJSRootPathKeysLimit(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--peerjs-path", "/", "--peerjs-key", "k1,k2", "--peerjs-concurrent-limit", "2", "--peerjs-expire-timeout", "1s",
		"--peerjs-allow-discovery")
	// PeerServer's default paths (the client's default path option, /) live beside the app, which stays at /.
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<title>p2plobby</title>") {
		t.Fatalf("GET / with --peerjs-path /: %s, %.200q; want the app", resp.Status, body)
	}
	k1 := peerJSOf(t, s)
	k1.path, k1.key = "/", "k1"
	k2, bad := k1, k1
	k2.key, bad.key = "k2", "nope"
	peerJSKeysAndLimit(t, k1, k2, bad)
}

func TestPeerJSCluster(t *testing.T) {
	skipWithoutBrowser(t)
	nc := natstest.Start(t, 1)
	a := lobbytest.Start(t, "--nats", nc.URLs(0), "--network-secret", "e2e")
	b := lobbytest.Start(t, "--nats", nc.URLs(0), "--network-secret", "e2e")
	node1, node2 := peerJSOf(t, a), peerJSOf(t, b)
	node1.waitReady(t)
	node2.waitReady(t)
	peerJSCluster(t, node1, node2)
}

func TestPeerJSNoID(t *testing.T) {
	skipWithoutBrowser(t)
	peerJSNoID(t, peerJSOf(t, lobbytest.Start(t, "--peerjs-allow-discovery")))
}

// peerJSConnectAndExchange: Alice connects to Bob by id, data goes both ways with the default (binary) and the
// JSON serialization, Alice closes and Bob sees it; Bob leaves and the server forgets him.
func peerJSConnectAndExchange(t *testing.T, srv peerJSServer) {
	site := peerJSSite(t)
	aliceID, bobID := peerJSID("alice"), peerJSID("bob")
	alice := peerJSOpen(t, site, "Alice")
	bob := peerJSOpen(t, site, "Bob")
	alice.pjStart(srv, aliceID)
	alice.pjWaitOpen(aliceID)
	bob.pjStart(srv, bobID)
	bob.pjWaitOpen(bobID)

	// Both are listed, to a client (cross-origin, with the client's own listAllPeers) and over plain HTTP.
	var listed []string
	alice.eval(`pjt.listPeers()`, &listed)
	if !slices.Contains(listed, aliceID) || !slices.Contains(listed, bobID) {
		t.Fatalf("listAllPeers gave %q; want %s and %s in it", listed, aliceID, bobID)
	}
	if got := srv.peers(t); !slices.Contains(got, bobID) {
		t.Fatalf("GET /peers gave %q; want %s in it", got, bobID)
	}

	// The default serialization (binary): strings, an object and bytes.
	binA := alice.pjConnect(bobID, map[string]any{"reliable": true, "label": "bin", "metadata": map[string]any{"from": "alice"}})
	binB := bob.pjWaitConnection(aliceID, "bin")
	alice.pjWait("the binary connection opens", map[string]any{"ev": "conn-open", "cid": binA}, 30*time.Second)
	// The offer's payload reaches Bob as sent: label, serialization and metadata.
	if got := bob.pjFind(map[string]any{"ev": "connection", "cid": binB}); len(got) != 1 ||
		!reflect.DeepEqual(got[0]["metadata"], map[string]any{"from": "alice"}) || got[0]["serialization"] != "binary" {
		t.Fatalf("Bob's connection event: %v; want metadata {from: alice} and serialization binary (the default)", got)
	}
	obj := map[string]any{"n": 42, "s": "grüße ✓ 😀", "list": []any{1, "two", nil, true}, "nested": map[string]any{"ok": true}}
	alice.pjSend(binA, "hello Bob")
	alice.pjSend(binA, obj)
	alice.pjSendBytes(binA, []byte{0, 1, 2, 127, 128, 255})
	bob.pjWaitData(binB, "hello Bob", obj, peerJSBytes(0, 1, 2, 127, 128, 255))
	bob.pjSend(binB, "hello Alice")
	bob.pjSend(binB, map[string]any{"reply": []any{1.5, "x"}})
	alice.pjWaitData(binA, "hello Alice", map[string]any{"reply": []any{1.5, "x"}})

	// The JSON serialization, on a second connection between the same two.
	jsonA := alice.pjConnect(bobID, map[string]any{"reliable": true, "label": "json", "serialization": "json"})
	jsonB := bob.pjWaitConnection(aliceID, "json")
	if got := bob.pjFind(map[string]any{"ev": "connection", "cid": jsonB}); len(got) != 1 || got[0]["serialization"] != "json" {
		t.Fatalf("Bob's second connection event: %v; want serialization json", got)
	}
	alice.pjWait("the JSON connection opens", map[string]any{"ev": "conn-open", "cid": jsonA}, 30*time.Second)
	alice.pjSend(jsonA, "json hello")
	alice.pjSend(jsonA, obj)
	bob.pjWaitData(jsonB, "json hello", obj)
	bob.pjSend(jsonB, map[string]any{"back": "from Bob", "n": 7})
	alice.pjWaitData(jsonA, map[string]any{"back": "from Bob", "n": 7})

	// Alice closes the binary connection: Bob sees it close; the JSON one stays open.
	alice.eval(fmt.Sprintf(`pjt.closeConn(%s)`, jsString(binA)), nil)
	bob.pjWait("the binary connection closes", map[string]any{"ev": "conn-close", "cid": binB}, 30*time.Second)
	bob.pjSend(jsonB, "still here")
	alice.pjWaitData(jsonA, map[string]any{"back": "from Bob", "n": 7}, "still here")

	// Bob leaves: the server drops him.
	bob.eval(`pjt.destroy()`, nil)
	srv.waitPeers(t, "Bob is gone", func(ids []string) bool { return !slices.Contains(ids, bobID) && slices.Contains(ids, aliceID) })
	alice.pjNoTrouble()
}

// peerJSIDTaken: a second client that asks for an id someone holds gets unavailable-id; the holder keeps it and
// keeps working.
func peerJSIDTaken(t *testing.T, srv peerJSServer) {
	site := peerJSSite(t)
	takenID, bobID := peerJSID("taken"), peerJSID("bob")
	alice := peerJSOpen(t, site, "Alice")
	alice.pjStart(srv, takenID)
	alice.pjWaitOpen(takenID)

	mallory := peerJSOpen(t, site, "Mallory")
	mallory.pjStart(srv, takenID) // the client's default token: a random one, not Alice's
	mallory.pjWait("unavailable-id", map[string]any{"ev": "error", "type": "unavailable-id"}, 30*time.Second)
	if got := mallory.pjFind(map[string]any{"ev": "open"}); len(got) != 0 {
		t.Fatalf("Mallory's peer opened with the taken id: %v", got)
	}

	// Alice still holds the id: a third person reaches her by it, and she reaches him.
	bob := peerJSOpen(t, site, "Bob")
	bob.pjStart(srv, bobID)
	bob.pjWaitOpen(bobID)
	toAlice := bob.pjConnect(takenID, nil)
	fromBob := alice.pjWaitConnection(bobID, "")
	bob.pjWait("connected to Alice", map[string]any{"ev": "conn-open", "cid": toAlice}, 30*time.Second)
	bob.pjSend(toAlice, "are you the real one?")
	alice.pjWaitData(fromBob, "are you the real one?")
	toBob := alice.pjConnect(bobID, nil)
	fromAlice := bob.pjWaitConnection(takenID, "")
	alice.pjWait("connected to Bob", map[string]any{"ev": "conn-open", "cid": toBob}, 30*time.Second)
	alice.pjSend(toBob, "yes")
	bob.pjWaitData(fromAlice, "yes")
	alice.pjNoTrouble()
}

// peerJSExpire: a connection to an id nobody holds ends in peer-unavailable once the server's expiry has passed;
// the caller stays connected to the server.
func peerJSExpire(t *testing.T, srv peerJSServer) {
	site := peerJSSite(t)
	aliceID, nobody := peerJSID("alice"), peerJSID("nobody")
	alice := peerJSOpen(t, site, "Alice")
	alice.pjStart(srv, aliceID)
	alice.pjWaitOpen(aliceID)
	cid := alice.pjConnect(nobody, nil)
	alice.pjWait("peer-unavailable", map[string]any{"ev": "error", "type": "peer-unavailable"}, 30*time.Second)
	if got := alice.pjFind(map[string]any{"ev": "conn-open", "cid": cid}); len(got) != 0 {
		t.Fatalf("a connection to nobody opened: %v", got)
	}
	var state struct{ Open, Disconnected, Destroyed bool }
	alice.eval(`({open: pjt.peer.open, disconnected: pjt.peer.disconnected, destroyed: pjt.peer.destroyed})`, &state)
	if !state.Open || state.Disconnected || state.Destroyed {
		t.Fatalf("after peer-unavailable Alice's peer is %+v; want open and connected", state)
	}
}

// peerJSQueuedUntilArrival: an offer to an id that nobody holds yet waits on the server; when its holder comes
// within the expiry, the connection is made and data flows.
func peerJSQueuedUntilArrival(t *testing.T, srv peerJSServer) {
	site := peerJSSite(t)
	aliceID, lateID := peerJSID("alice"), peerJSID("late")
	alice := peerJSOpen(t, site, "Alice")
	late := peerJSOpen(t, site, "Late") // the page is loaded, its peer not started
	alice.pjStart(srv, aliceID)
	alice.pjWaitOpen(aliceID)
	cid := alice.pjConnect(lateID, map[string]any{"label": "early"})
	// The offer has gone to the server before its addressee exists.
	alice.waitFor("the offer is sent", fmt.Sprintf(`pjt.frames.some(f => f.dir === 'out' && f.type === 'OFFER' && f.dst === %s)`, jsString(lateID)), 30*time.Second)

	late.pjStart(srv, lateID)
	late.pjWaitOpen(lateID)
	fromAlice := late.pjWaitConnection(aliceID, "early")
	alice.pjWait("connected to the late one", map[string]any{"ev": "conn-open", "cid": cid}, 30*time.Second)
	alice.pjSend(cid, "you made it")
	late.pjWaitData(fromAlice, "you made it")
	late.pjSend(fromAlice, "just in time")
	alice.pjWaitData(cid, "just in time")
	alice.pjNoTrouble()
	late.pjNoTrouble()
}

// peerJSHeartbeat: the server keeps a client that sends the client's HEARTBEAT frames, and drops one that
// sends none once the alive timeout has passed (the server runs with a short one). The dropped one is the
// clock: by then the other has outlived the timeout on heartbeats alone.
func peerJSHeartbeat(t *testing.T, srv peerJSServer) {
	site := peerJSSite(t)
	aliceID, bobID := peerJSID("alice"), peerJSID("bob")
	alice := peerJSOpen(t, site, "Alice")
	bob := peerJSOpen(t, site, "Bob")
	alice.pjStartWith(srv, aliceID, map[string]any{"pingInterval": 250})
	alice.pjWaitOpen(aliceID)
	bob.pjStartWith(srv, bobID, map[string]any{"pingInterval": 3_600_000}) // no heartbeat within the test
	bob.pjWaitOpen(bobID)
	bob.pjWait("the server drops Bob", map[string]any{"ev": "disconnected"}, 60*time.Second)
	srv.waitPeers(t, "Bob is gone", func(ids []string) bool { return !slices.Contains(ids, bobID) })
	if got := srv.peers(t); !slices.Contains(got, aliceID) {
		t.Fatalf("GET /peers gave %q; Alice, who sent heartbeats, is missing", got)
	}
	alice.waitFor("Alice has sent heartbeats", `pjt.frames.filter(f => f.dir === 'out' && f.type === 'HEARTBEAT').length >= 2`, 30*time.Second)
	alice.pjNoTrouble()
}

// peerJSReconnect: a client that left the server (peer.disconnect) takes its id back with peer.reconnect (the
// same id and token) and is reachable again.
func peerJSReconnect(t *testing.T, srv peerJSServer) {
	site := peerJSSite(t)
	aliceID, bobID := peerJSID("alice"), peerJSID("bob")
	alice := peerJSOpen(t, site, "Alice")
	alice.pjStart(srv, aliceID)
	alice.pjWaitOpen(aliceID)
	alice.eval(`pjt.peer.disconnect()`, nil)
	alice.pjWait("Alice has left the server", map[string]any{"ev": "disconnected"}, 30*time.Second)
	srv.waitPeers(t, "the server has let Alice go", func(ids []string) bool { return !slices.Contains(ids, aliceID) })
	alice.eval(`pjt.peer.reconnect()`, nil)
	alice.waitFor("Alice is back", `pjt.find({ev: 'open'}).length === 2`, 30*time.Second)
	var ids []string
	alice.eval(`pjt.find({ev: 'open'}).map(e => e.id)`, &ids)
	if !slices.Equal(ids, []string{aliceID, aliceID}) {
		t.Fatalf("Alice opened as %q; want %s twice", ids, aliceID)
	}
	bob := peerJSOpen(t, site, "Bob")
	bob.pjStart(srv, bobID)
	bob.pjWaitOpen(bobID)
	cid := bob.pjConnect(aliceID, nil)
	fromBob := alice.pjWaitConnection(bobID, "")
	bob.pjWait("connected to Alice", map[string]any{"ev": "conn-open", "cid": cid}, 30*time.Second)
	bob.pjSend(cid, "welcome back")
	alice.pjWaitData(fromBob, "welcome back")
	if got := alice.pjFind(map[string]any{"ev": "error"}); len(got) != 0 {
		t.Fatalf("Alice had errors: %v", got)
	}
}

// peerJSKeysAndLimit: each key is a realm of its own, with its own limit of 2 clients (the server runs with
// --peerjs-concurrent-limit 2): the same id can be held in both, an id is reached only within its realm, a third
// client of a full realm is refused, and so is a key the server does not have.
func peerJSKeysAndLimit(t *testing.T, k1, k2, bad peerJSServer) {
	site := peerJSSite(t)
	sameID, zedID := peerJSID("same"), peerJSID("zed")
	a := peerJSOpen(t, site, "A")
	a.pjStart(k1, sameID)
	a.pjWaitOpen(sameID)
	z := peerJSOpen(t, site, "Z")
	z.pjStart(k1, zedID)
	z.pjWaitOpen(zedID)
	b := peerJSOpen(t, site, "B")
	b.pjStart(k2, sameID) // the id A holds in k1; and k1 is full, k2 not
	b.pjWaitOpen(sameID)
	if got := k1.peers(t); !slices.Contains(got, sameID) || !slices.Contains(got, zedID) {
		t.Fatalf("GET …/k1/peers gave %q; want %s and %s", got, sameID, zedID)
	}
	if got := k2.peers(t); !slices.Equal(got, []string{sameID}) {
		t.Fatalf("GET …/k2/peers gave %q; want only %s", got, sameID)
	}

	// B, in k2, cannot reach Z, who is in k1; A, in k1, can.
	b.pjConnect(zedID, nil)
	b.pjWait("peer-unavailable across realms", map[string]any{"ev": "error", "type": "peer-unavailable"}, 30*time.Second)
	cid := a.pjConnect(zedID, nil)
	fromA := z.pjWaitConnection(sameID, "")
	a.pjWait("connected within k1", map[string]any{"ev": "conn-open", "cid": cid}, 30*time.Second)
	a.pjSend(cid, "same realm")
	z.pjWaitData(fromA, "same realm")
	if got := z.pjFind(map[string]any{"ev": "connection"}); len(got) != 1 {
		t.Fatalf("Z got %d connections, want only A's: %v", len(got), got)
	}

	// A third client in k1 is over the limit.
	full := peerJSOpen(t, site, "Full")
	full.pjStart(k1, peerJSID("third"))
	full.pjWait("refused: k1 is full", map[string]any{"ev": "error", "type": "server-error"}, 30*time.Second)
	if got := full.pjFind(map[string]any{"ev": "open"}); len(got) != 0 {
		t.Fatalf("a third client opened in a realm limited to 2: %v", got)
	}
	// An unknown key: PeerServer answers ERROR "Invalid key provided" (server-error to the client); the
	// client also knows INVALID-KEY (invalid-key).
	stranger := peerJSOpen(t, site, "Stranger")
	stranger.pjStart(bad, peerJSID("stranger"))
	stranger.waitFor("refused: unknown key", `pjt.events.some(e => e.ev === 'error' && (e.type === 'server-error' || e.type === 'invalid-key'))`, 30*time.Second)
	if got := stranger.pjFind(map[string]any{"ev": "open"}); len(got) != 0 {
		t.Fatalf("a client with an unknown key opened: %v", got)
	}
	a.pjNoTrouble()
	z.pjNoTrouble()
}

// peerJSCluster: Alice on one node, Bob on another, connect by id and exchange data; an id held on one node is
// taken on the other too.
func peerJSCluster(t *testing.T, node1, node2 peerJSServer) {
	site := peerJSSite(t)
	aliceID, bobID := peerJSID("alice"), peerJSID("bob")
	alice := peerJSOpen(t, site, "Alice")
	bob := peerJSOpen(t, site, "Bob")
	alice.pjStart(node1, aliceID)
	alice.pjWaitOpen(aliceID)
	bob.pjStart(node2, bobID)
	bob.pjWaitOpen(bobID)

	cid := alice.pjConnect(bobID, map[string]any{"reliable": true})
	fromAlice := bob.pjWaitConnection(aliceID, "")
	alice.pjWait("connected across nodes", map[string]any{"ev": "conn-open", "cid": cid}, 30*time.Second)
	obj := map[string]any{"node": 1, "text": "über NATS signalisiert"}
	alice.pjSend(cid, "hello from node 1")
	alice.pjSend(cid, obj)
	bob.pjWaitData(fromAlice, "hello from node 1", obj)
	bob.pjSend(fromAlice, "hello from node 2")
	alice.pjWaitData(cid, "hello from node 2")
	alice.eval(fmt.Sprintf(`pjt.closeConn(%s)`, jsString(cid)), nil)
	bob.pjWait("the connection closes", map[string]any{"ev": "conn-close", "cid": fromAlice}, 30*time.Second)

	// Alice's id, held on node 1, is taken on node 2.
	mallory := peerJSOpen(t, site, "Mallory")
	mallory.pjStart(node2, aliceID)
	mallory.pjWait("unavailable-id across nodes", map[string]any{"ev": "error", "type": "unavailable-id"}, 30*time.Second)
	if got := mallory.pjFind(map[string]any{"ev": "open"}); len(got) != 0 {
		t.Fatalf("Mallory's peer on node 2 opened with Alice's id, held on node 1: %v", got)
	}
	// And Alice still has it: Bob reaches her through node 2 again.
	again := bob.pjConnect(aliceID, map[string]any{"label": "again"})
	fromBob := alice.pjWaitConnection(bobID, "again")
	bob.pjWait("connected to Alice again", map[string]any{"ev": "conn-open", "cid": again}, 30*time.Second)
	bob.pjSend(again, "still you?")
	alice.pjWaitData(fromBob, "still you?")
	alice.pjNoTrouble()
	bob.pjNoTrouble()
}

// peerJSNoID: a client without an id of its own gets one from the server (GET …/id) and is reachable by it.
func peerJSNoID(t *testing.T, srv peerJSServer) {
	site := peerJSSite(t)
	anon := peerJSOpen(t, site, "Anonymous")
	anon.pjStart(srv, "")
	id := anon.pjWaitOpen("")
	if id == "" {
		t.Fatal("the peer opened with an empty id")
	}
	if got := srv.peers(t); !slices.Contains(got, id) {
		t.Fatalf("GET /peers gave %q; want the given id %q in it", got, id)
	}
	bob := peerJSOpen(t, site, "Bob")
	bobID := peerJSID("bob")
	bob.pjStart(srv, bobID)
	bob.pjWaitOpen(bobID)
	cid := bob.pjConnect(id, nil)
	fromBob := anon.pjWaitConnection(bobID, "")
	bob.pjWait("connected to the anonymous peer", map[string]any{"ev": "conn-open", "cid": cid}, 30*time.Second)
	bob.pjSend(cid, "hi, whoever you are")
	anon.pjWaitData(fromBob, "hi, whoever you are")
	anon.pjNoTrouble()
}

// peerJSServer is a PeerJS endpoint as its clients see it.
type peerJSServer struct {
	host string // 127.0.0.1
	port int
	path string // "/peerjs"
	key  string // "peerjs"
}

// peerJSOf is the PeerJS endpoint of a server started with the default --peerjs-path and --peerjs-key.
func peerJSOf(t testing.TB, s *lobbytest.Server) peerJSServer {
	t.Helper()
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return peerJSServer{host: host, port: n, path: "/peerjs", key: "peerjs"}
}

// options are the Peer constructor's options for this server.
func (s peerJSServer) options() map[string]any {
	return map[string]any{"host": s.host, "port": s.port, "path": s.path, "key": s.key, "secure": false}
}

// api is the base of the HTTP API: …/{key}.
func (s peerJSServer) api() string {
	return fmt.Sprintf("http://%s%s/%s", net.JoinHostPort(s.host, strconv.Itoa(s.port)), strings.TrimSuffix(s.path, "/"), s.key)
}

// peers is GET {path}/{key}/peers (the server must run with --peerjs-allow-discovery).
func (s peerJSServer) peers(t testing.TB) []string {
	t.Helper()
	ids, err := s.tryPeers()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func (s peerJSServer) tryPeers() ([]string, error) {
	resp, err := http.Get(s.api() + "/peers")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/peers: %s", s.api(), resp.Status)
	}
	var ids []string
	if err := json.NewDecoder(resp.Body).Decode(&ids); err != nil {
		return nil, fmt.Errorf("GET %s/peers: %v", s.api(), err)
	}
	return ids, nil
}

// waitPeers polls GET …/peers until ok holds.
func (s peerJSServer) waitPeers(t testing.TB, what string, ok func([]string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ids, err := s.tryPeers()
		if err == nil && ok(ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s: GET /peers gave %q, error %v", what, ids, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady waits until the server's /readyz answers 200 (a cluster node: once it is on NATS).
func (s peerJSServer) waitReady(t testing.TB) {
	t.Helper()
	url := fmt.Sprintf("http://%s/readyz", net.JoinHostPort(s.host, strconv.Itoa(s.port)))
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready", url)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peerJSSite serves testdata/peerjs (the client and the test page) from an origin of its own on loopback.
func peerJSSite(t testing.TB) string {
	t.Helper()
	site := httptest.NewServer(http.FileServer(http.Dir("testdata/peerjs")))
	t.Cleanup(site.Close)
	return site.URL
}

// peerJSID is a fresh id with a readable prefix.
func peerJSID(prefix string) string {
	return fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
}

// peerJSBytes is how the page reports received bytes.
func peerJSBytes(b ...byte) map[string]any {
	n := make([]any, len(b))
	for i, v := range b {
		n[i] = int(v)
	}
	return map[string]any{"bytes": n}
}

// peerJSOpen opens the test page in a new person's tab. If the test fails, the page's events and signalling
// frames go to the test log.
func peerJSOpen(t testing.TB, site, name string) *page {
	t.Helper()
	p := &page{t: t, ctx: browsertest.NewShared(t), name: name}
	p.do(chromedp.Navigate(site + "/index.html"))
	p.waitFor("the PeerJS client is loaded", `typeof Peer === 'function' && typeof pjt?.start === 'function'`, 15*time.Second)
	t.Cleanup(func() { // before the tab closes (cleanups run last first)
		if !t.Failed() {
			return
		}
		var log struct {
			Events, Frames []json.RawMessage
			Dropped        int
		}
		if err := p.tryEval(`({events: pjt.events, frames: pjt.frames, dropped: pjt.dropped})`, &log); err != nil {
			t.Logf("%s: no PeerJS log: %v", name, err)
			return
		}
		t.Logf("%s: PeerJS events (%d dropped):", name, log.Dropped)
		for _, e := range log.Events {
			t.Logf("  %s", e)
		}
		t.Logf("%s: signalling frames:", name)
		for _, f := range log.Frames {
			t.Logf("  %s", f)
		}
	})
	return p
}

// pjStart creates the page's peer on srv with id ("" to ask the server for one). It does not wait.
func (p *page) pjStart(srv peerJSServer, id string) {
	p.t.Helper()
	p.pjStartWith(srv, id, nil)
}

// pjStartWith is pjStart with more options for the Peer constructor (e.g. pingInterval).
func (p *page) pjStartWith(srv peerJSServer, id string, more map[string]any) {
	p.t.Helper()
	idArg := "null"
	if id != "" {
		idArg = jsString(id)
	}
	o := srv.options()
	maps.Copy(o, more)
	opts, _ := json.Marshal(o)
	p.eval(fmt.Sprintf(`pjt.start(%s, %s)`, idArg, opts), nil)
}

// pjWaitOpen waits until the peer is open and returns its id, which must be want unless want is "".
func (p *page) pjWaitOpen(want string) string {
	p.t.Helper()
	p.pjWait("the peer opens", map[string]any{"ev": "open"}, 30*time.Second)
	var id string
	p.eval(`pjt.find({ev: 'open'})[0].id`, &id)
	if want != "" && id != want {
		p.t.Fatalf("%s: the peer opened as %q; want %q", p.name, id, want)
	}
	return id
}

// pjConnect connects to the peer dst (opts: peer.connect's options, nil for none) and returns the
// connection's id.
func (p *page) pjConnect(dst string, opts map[string]any) string {
	p.t.Helper()
	if opts == nil {
		opts = map[string]any{}
	}
	o, _ := json.Marshal(opts)
	var cid string
	p.eval(fmt.Sprintf(`pjt.connect(%s, %s)`, jsString(dst), o), &cid)
	return cid
}

// pjWaitConnection waits for a connection from the peer from with that label ("" for any) and returns its id.
func (p *page) pjWaitConnection(from, label string) string {
	p.t.Helper()
	match := map[string]any{"ev": "connection", "peer": from}
	if label != "" {
		match["label"] = label
	}
	p.pjWait("a connection from "+from, match, 30*time.Second)
	var cid string
	m, _ := json.Marshal(match)
	p.eval(fmt.Sprintf(`pjt.find(%s).at(-1).cid`, m), &cid)
	p.pjWait("the connection from "+from+" opens", map[string]any{"ev": "conn-open", "cid": cid}, 30*time.Second)
	return cid
}

// pjWait waits until the page has logged an event with every field of match.
func (p *page) pjWait(what string, match map[string]any, timeout time.Duration) {
	p.t.Helper()
	m, _ := json.Marshal(match)
	p.waitFor(what, fmt.Sprintf(`pjt.find(%s).length > 0`, m), timeout)
}

// pjFind returns the logged events with every field of match.
func (p *page) pjFind(match map[string]any) []map[string]any {
	p.t.Helper()
	m, _ := json.Marshal(match)
	var out []map[string]any
	p.eval(fmt.Sprintf(`pjt.find(%s)`, m), &out)
	return out
}

// pjSend sends v (any JSON value) on the connection cid.
func (p *page) pjSend(cid string, v any) {
	p.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	p.eval(fmt.Sprintf(`pjt.send(%s, %s)`, jsString(cid), b), nil)
}

// pjSendBytes sends b as a Uint8Array on the connection cid.
func (p *page) pjSendBytes(cid string, b []byte) {
	p.t.Helper()
	n := make([]int, len(b))
	for i, v := range b {
		n[i] = int(v)
	}
	a, _ := json.Marshal(n)
	p.eval(fmt.Sprintf(`pjt.sendBytes(%s, %s)`, jsString(cid), a), nil)
}

// pjWaitData waits until the connection cid has received len(want) messages and checks they are want, in order.
func (p *page) pjWaitData(cid string, want ...any) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%d messages on %s", len(want), cid),
		fmt.Sprintf(`pjt.find({ev: 'data', cid: %s}).length >= %d`, jsString(cid), len(want)), 30*time.Second)
	var got []any
	p.eval(fmt.Sprintf(`pjt.find({ev: 'data', cid: %s}).map(e => e.data)`, jsString(cid)), &got)
	// Compare as JSON values (numbers as float64).
	w, _ := json.Marshal(want)
	var norm []any
	if err := json.Unmarshal(w, &norm); err != nil {
		p.t.Fatal(err)
	}
	if !reflect.DeepEqual(got, norm) {
		gj, _ := json.Marshal(got)
		p.t.Fatalf("%s: received on %s\n  %s\nwant\n  %s", p.name, cid, gj, w)
	}
}

// pjNoTrouble checks that the page's peer had no error and never lost the server.
func (p *page) pjNoTrouble() {
	p.t.Helper()
	var bad []map[string]any
	p.eval(`pjt.events.filter(e => e.ev === 'error' || e.ev === 'disconnected' || e.ev === 'close' || e.ev === 'conn-error')`, &bad)
	if len(bad) > 0 {
		p.t.Fatalf("%s: the peer had trouble: %v", p.name, bad)
	}
}
