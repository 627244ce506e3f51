package e2e

// A hostile peer against the lobby page: "mallory" is a raw pion PeerConnection that speaks the lobby and
// data-channel protocols by hand (docs/protocol.md, docs/datachannel.md), so it can send what the Go peer's API
// never would: floods, out-of-range values, duplicate acknowledgements, hostile file names and types. Each test
// drives the page like a person (buttons) and checks what the page shows and keeps.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/internal/peertest"
)

const malName = "mallory"

// mallory is a hostile member: its lobby socket, its PeerConnection with the page, and what the page sent it.
type mallory struct {
	t   testing.TB
	ws  *websocket.Conn
	wmu sync.Mutex
	id  string
	sid string

	mu      sync.Mutex
	members map[string]string // name → id
	joined  chan struct{}     // pinged on every `connected`
	pc      *webrtc.PeerConnection
	queued  []webrtc.ICECandidateInit
	remote  bool

	accepted chan struct{}
	ctrl     *webrtc.DataChannel
	open     chan struct{}
	msgs     chan map[string]any // control messages from the page
	files    chan *fileChannel   // file:<tid> channels the page opened
	nonce    string              // for the verification code exchange, where the page has one

	// tamper, when set before connect, rewrites mallory's offer SDP; der is its DTLS certificate.
	tamper func(sdp string, der []byte) string
	der    []byte
}

// fileChannel is a file:<tid> channel the page opened, with what arrived on it.
type fileChannel struct {
	dc   *webrtc.DataChannel
	msgs chan webrtc.DataChannelMessage
}

// dialMallory joins room as malName.
func dialMallory(t testing.TB, s *lobbytest.Server, room string) *mallory {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, s.WS+"/ws?room="+room+"&name="+malName, nil)
	if err != nil {
		t.Fatalf("mallory: dial: %v", err)
	}
	var self struct{ Kind, ID string }
	if err := ws.ReadJSON(&self); err != nil || self.Kind != "self-connected" {
		t.Fatalf("mallory: self-connected: %v %+v", err, self)
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	m := &mallory{t: t, ws: ws, id: self.ID, sid: "m" + hex.EncodeToString(nonce[:6]), members: map[string]string{},
		joined: make(chan struct{}, 1), accepted: make(chan struct{}), open: make(chan struct{}),
		msgs: make(chan map[string]any, 4096), files: make(chan *fileChannel, 16), nonce: hex.EncodeToString(nonce)}
	t.Cleanup(func() {
		ws.Close()
		m.mu.Lock()
		pc := m.pc
		m.mu.Unlock()
		if pc != nil {
			pc.Close()
		}
	})
	go m.readSignaling()
	return m
}

func (m *mallory) signal(v map[string]any) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.ws.WriteJSON(v)
}

func (m *mallory) readSignaling() {
	var once sync.Once
	for {
		var msg struct {
			Kind, ID, Name, FromID, SID string
			Answer                      *webrtc.SessionDescription
			Candidate                   *webrtc.ICECandidateInit
		}
		if err := m.ws.ReadJSON(&msg); err != nil {
			return
		}
		m.mu.Lock()
		pc := m.pc
		switch {
		case msg.Kind == "connected":
			m.members[msg.Name] = msg.ID
			select {
			case m.joined <- struct{}{}:
			default:
			}
		case msg.Kind == "accept" && msg.SID == m.sid:
			once.Do(func() { close(m.accepted) })
		case msg.Answer != nil && pc != nil:
			if err := pc.SetRemoteDescription(*msg.Answer); err == nil {
				m.remote = true
				for _, c := range m.queued {
					pc.AddICECandidate(c)
				}
				m.queued = nil
			}
		case msg.Candidate != nil && pc != nil:
			if m.remote {
				pc.AddICECandidate(*msg.Candidate)
			} else {
				m.queued = append(m.queued, *msg.Candidate)
			}
		}
		m.mu.Unlock()
	}
}

// memberID waits until mallory sees the person named name.
func (m *mallory) memberID(name string) string {
	m.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		m.mu.Lock()
		id := m.members[name]
		m.mu.Unlock()
		if id != "" {
			return id
		}
		select {
		case <-m.joined:
		case <-deadline:
			m.t.Fatalf("mallory does not see %s", name)
		}
	}
}

// connect asks p for a connection, the person accepts it, and mallory offers the WebRTC connection.
func (m *mallory) connect(p *page) {
	m.t.Helper()
	to := m.memberID(p.name)
	p.waitFor("the page lists mallory", rowState(malName)+` === 'idle'`, 20*time.Second)
	m.signal(map[string]any{"toId": to, "kind": "request", "sid": m.sid})
	p.waitFor("the page shows mallory's request", rowState(malName)+` === 'incoming'`, 20*time.Second)
	p.click(member(malName) + ` [data-testid=accept]`)
	select {
	case <-m.accepted:
	case <-time.After(20 * time.Second):
		m.t.Fatal("mallory: no accept from the page")
	}

	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	cert, der := peertest.Certificate(m.t)
	m.der = der
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{*cert}})
	if err != nil {
		m.t.Fatal(err)
	}
	m.mu.Lock()
	m.pc = pc
	m.mu.Unlock()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			m.signal(map[string]any{"toId": to, "candidate": c.ToJSON(), "sid": m.sid})
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if !strings.HasPrefix(dc.Label(), "file:") {
			return
		}
		fc := &fileChannel{dc: dc, msgs: make(chan webrtc.DataChannelMessage, 4096)}
		dc.OnMessage(func(msg webrtc.DataChannelMessage) { fc.msgs <- msg })
		m.files <- fc
	})
	dc, err := pc.CreateDataChannel("p2plobby", nil)
	if err != nil {
		m.t.Fatal(err)
	}
	m.ctrl = dc
	dc.OnOpen(func() {
		m.send(map[string]any{"t": "hello", "v": 1, "agent": "mallory/1"})
		// The offerer's part of the verification code exchange, for pages that expect it.
		sum := sha256.Sum256([]byte("p2plobby-sas-commit-v2\n" + m.nonce))
		m.send(map[string]any{"t": "sas-commit", "h": hex.EncodeToString(sum[:])})
		close(m.open)
	})
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		var v map[string]any
		if !msg.IsString || json.Unmarshal(msg.Data, &v) != nil {
			return
		}
		if v["t"] == "sas-nonce" {
			m.send(map[string]any{"t": "sas-reveal", "n": m.nonce})
		}
		select {
		case m.msgs <- v:
		default:
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		m.t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		m.t.Fatal(err)
	}
	if m.tamper != nil {
		offer.SDP = m.tamper(offer.SDP, der)
	}
	m.signal(map[string]any{"toId": to, "offer": offer, "sid": m.sid})
	select {
	case <-m.open:
	case <-time.After(30 * time.Second):
		m.t.Fatalf("mallory: the control channel did not open (ICE %s)", pc.ICEConnectionState())
	}
	p.waitFor("the page is connected to mallory", rowState(malName)+` === 'connected'`, 20*time.Second)
}

// send writes one control message.
func (m *mallory) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	if err := m.ctrl.SendText(string(b)); err != nil {
		m.t.Errorf("mallory: send: %v", err)
	}
}

// next waits for the next control message from the page that matches.
func (m *mallory) next(what string, match func(map[string]any) bool, timeout time.Duration) map[string]any {
	m.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case v := <-m.msgs:
			if match(v) {
				return v
			}
		case <-deadline:
			m.t.Fatalf("mallory: no %s from the page within %v", what, timeout)
		}
	}
}

// about matches control messages of type typ for transfer tid.
func about(typ, tid string) func(map[string]any) bool {
	return func(v map[string]any) bool { return v["t"] == typ && v["tid"] == tid }
}

// fileInfo is one entry of a `files` proposal.
type fileInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

var tidCount atomic.Int64

// offer proposes files and returns the transfer id.
func (m *mallory) offer(files ...fileInfo) string {
	tid := fmt.Sprintf("mal%d-%d", time.Now().UnixNano()%1e6, tidCount.Add(1))
	m.send(map[string]any{"t": "files", "tid": tid, "files": files})
	return tid
}

// sendData opens file:<tid> and sends each file's bytes and eof, as an honest sender would.
func (m *mallory) sendData(tid string, contents ...[]byte) {
	m.t.Helper()
	dc, err := m.pc.CreateDataChannel("file:"+tid, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		m.t.Fatal("mallory: the file channel did not open")
	}
	for i, data := range contents {
		for p := 0; p < len(data); p += 16 << 10 {
			if err := dc.Send(data[p:min(p+16<<10, len(data))]); err != nil {
				m.t.Fatal(err)
			}
		}
		sum := sha256.Sum256(data)
		b, _ := json.Marshal(map[string]any{"t": "eof", "index": i, "sha256": hex.EncodeToString(sum[:])})
		dc.SendText(string(b))
	}
}

// pageChats is a JS expression: the texts of the chat messages from mallory the page shows.
const pageChats = `[...document.querySelectorAll(` + "`section[data-testid=conversation][data-peer-name=mallory] [data-testid=chat-message][data-from=peer] .text`" + `)].map(e => e.textContent)`

// malPeer is a JS expression for the page's Peer with mallory.
const malPeer = `[...window.p2plobby.lobby.peers.values()].find(p => p.name === 'mallory')`

// TestHostileChatTimestamps: a peer sends timestamps out of Date's range (Date throws on them) or of the wrong
// type. The page shows every message, stamped with the time it arrived.
func TestHostileChatTimestamps(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--turn=false")
	alice := open(t, s, "hostile-ts", "Alice")
	mal := dialMallory(t, s, "hostile-ts")
	mal.connect(alice)

	// Out-of-range and malformed timestamps: each message is shown, stamped with a valid time.
	for i, ts := range []any{1e300, -8.7e15, 8.64e15 + 1, "soon", nil, -1} {
		mal.send(map[string]any{"t": "chat", "id": fmt.Sprint("ts", i), "text": fmt.Sprint("stamp ", i), "ts": ts})
	}
	for i := range 6 {
		alice.waitChat(malName, fmt.Sprint("stamp ", i))
	}
	var times []string
	alice.eval(`[...document.querySelectorAll('[data-testid=chat-message][data-from=peer] time')].map(t => t.dateTime)`, &times)
	for _, s := range times {
		if ts, err := time.Parse(time.RFC3339, s); err != nil || time.Since(ts).Abs() > 48*time.Hour {
			t.Errorf("a message is stamped %q, want a time near now", s)
		}
	}

}

// TestHostileChatFlood: a peer floods chat. The page takes a burst, then ~20 messages a second, says once that
// messages were dropped, and keeps only the newest items of the conversation in the DOM.
func TestHostileChatFlood(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--turn=false")
	alice := open(t, s, "hostile-flood", "Alice")
	mal := dialMallory(t, s, "hostile-flood")
	mal.connect(alice)

	// 3000 messages as fast as the channel takes them.
	alice.eval(`(() => { window.__chats = 0; `+malPeer+`.on('chat', () => window.__chats++); (window.p2plobby.limits ??= {}).logItems = 30; })()`, nil)
	start := time.Now()
	for i := range 3000 {
		mal.send(map[string]any{"t": "chat", "id": fmt.Sprint("f", i), "text": fmt.Sprint("flood ", i), "ts": time.Now().UnixMilli()})
	}
	// A loaded machine's page may still be working through the flood, each refilled token letting one more
	// through (one per 50 ms): wait until it is through (no new chat for 500 ms), then let the bucket refill, so
	// that the next message must get through.
	for last, since, deadline := -1, time.Now(), time.Now().Add(60*time.Second); time.Since(since) < 500*time.Millisecond; time.Sleep(50 * time.Millisecond) {
		var n int
		alice.eval(`window.__chats`, &n)
		if n != last {
			last, since = n, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page was still taking flood messages after 60 s (%d so far)", n)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	mal.send(map[string]any{"t": "chat", "id": "last", "text": "after the flood", "ts": time.Now().UnixMilli()})
	alice.waitChat(malName, "after the flood")
	elapsed := time.Since(start).Seconds()
	var got struct {
		Chats int    `json:"chats"`
		Items int    `json:"items"`
		Note  string `json:"note"`
		Last  string `json:"last"`
	}
	alice.eval(fmt.Sprintf(`({ chats: window.__chats, items: document.querySelectorAll(%s).length,
		note: [...document.querySelectorAll(%s)].map(e => e.textContent).join('|'), last: %s.at(-1) })`,
		jsString(conversation(malName)+` [data-testid=chat-log] > li`), jsString(conversation(malName)+` .item.note`), pageChats), &got)
	t.Logf("flood: %d of 3001 messages taken in %.1f s; %d items in the log", got.Chats, elapsed, got.Items)
	if limit := 50 + int(20*elapsed) + 5; got.Chats > limit || got.Chats < 50 {
		t.Errorf("the page took %d flood messages in %.1f s, want between 50 and %d (burst 50, then 20/s)", got.Chats, elapsed, limit)
	}
	if !strings.Contains(got.Note, "too fast") {
		t.Errorf("no note about dropped messages; notes: %q", got.Note)
	}
	if got.Items > 31 { // the cap, plus the "older items" note
		t.Errorf("the log holds %d items, want at most the 30 newest", got.Items)
	}
	if got.Last != "after the flood" {
		t.Errorf("the newest message shown is %q", got.Last)
	}
}

// TestHostileOffers: a peer floods file offers (each unanswered), and proposes too many files at once. The page
// keeps a few pending offers and declines the rest automatically, with a reason the sender is told.
func TestHostileOffers(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--turn=false")
	alice := open(t, s, "hostile-offers", "Alice")
	mal := dialMallory(t, s, "hostile-offers")
	mal.connect(alice)

	var tids []string
	for i := range 30 {
		tids = append(tids, mal.offer(fileInfo{Name: fmt.Sprintf("spam-%d.bin", i), Size: 1000}))
	}
	declined := 0
	for _, tid := range tids[4:] {
		v := mal.next("a decline of "+tid, about("decline", tid), 10*time.Second)
		if r, _ := v["reason"].(string); r == "" {
			t.Errorf("decline of %s without a reason: %v", tid, v)
		}
		declined++
	}
	var pending int
	alice.eval(`[...`+malPeer+`.incoming.values()].filter(t => t.state === 'offered').length`, &pending)
	if pending != 4 {
		t.Errorf("%d offers pending in the page, want 4 (%d declined)", pending, declined)
	}
	var cards int
	alice.eval(fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(conversation(malName)+` [data-testid=transfer]`)), &cards)
	if cards > 4 {
		t.Errorf("the page shows %d transfer cards for 4 pending offers", cards)
	}

	// Answering a pending offer frees a place.
	alice.clickLastCard(malName, "receive", "transfer-decline")
	mal.next("the person's decline", about("decline", tids[3]), 10*time.Second)
	time.Sleep(3 * time.Second) // the offer rate limit refills
	// One offer listing more files than allowed is refused as a whole.
	many := make([]fileInfo, 1001)
	for i := range many {
		many[i] = fileInfo{Name: fmt.Sprint("f", i), Size: 1}
	}
	tid := mal.offer(many...)
	v := mal.next("a decline of the 1001-file offer", about("decline", tid), 10*time.Second)
	if r, _ := v["reason"].(string); !strings.Contains(r, "1000") {
		t.Errorf("1001-file offer declined with reason %q, want the limit named", r)
	}
	ok := mal.offer(fileInfo{Name: "fine.txt", Size: 5})
	alice.waitFor("the page shows a new offer", fmt.Sprintf(`[...document.querySelectorAll('[data-testid=transfer]')].some(c => c.dataset.tid === %s && c.dataset.state === 'offered')`, jsString(ok)), 10*time.Second)
}

// lanAddress is this machine's first non-loopback IPv4 address: a page served there is not a secure context.
func lanAddress(t *testing.T) string {
	ifaces, _ := net.Interfaces()
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil {
				return ip.IP.String()
			}
		}
	}
	t.Skip("no non-loopback IPv4 address to serve an insecure page from")
	return ""
}

// TestHostileFilesInMemory: a page over plain HTTP on a LAN address has no OPFS and keeps received files in
// memory. An offer larger than the in-memory budget is declined automatically (both sides are told why); a
// small file is received, and it is stored and linked as a download, never with the sender's MIME type.
func TestHostileFilesInMemory(t *testing.T) {
	skipWithoutBrowser(t)
	ip := lanAddress(t)
	s := lobbytest.Start(t, "--turn=false", "--addr", ip+":0")
	alice := open(t, s, "hostile-mem", "Alice")
	var secure bool
	alice.eval(`window.isSecureContext`, &secure)
	if secure {
		t.Skipf("%s is a secure context here", s.URL)
	}
	mal := dialMallory(t, s, "hostile-mem")
	mal.connect(alice)

	huge := mal.offer(fileInfo{Name: "huge.bin", Size: 600 << 20, Type: "application/octet-stream"})
	v := mal.next("a decline of the 600 MiB offer", about("decline", huge), 10*time.Second)
	if r, _ := v["reason"].(string); !strings.Contains(r, "512 MiB") {
		t.Errorf("600 MiB offer declined with reason %q, want the budget named", r)
	}
	alice.waitFor("the card says why", fmt.Sprintf(`(document.querySelector('[data-tid=%s] [data-testid=transfer-error]')?.textContent ?? '').includes('512 MiB')`, huge), 10*time.Second)

	checkHTMLFileIsADownload(t, alice, mal, "memory")
}

// checkHTMLFileIsADownload has mallory send an HTML file labelled text/html; the page stores it as
// application/octet-stream and links it as a download.
func checkHTMLFileIsADownload(t *testing.T, alice *page, mal *mallory, storage string) {
	t.Helper()
	body := []byte(`<!doctype html><form action="https://evil.example/"><script>parent.document.title = 'owned'</script>`)
	tid := mal.offer(fileInfo{Name: "invoice.html", Size: int64(len(body)), Type: "text/html"})
	alice.waitFor("the HTML offer", cardState(malName, "receive")+` === 'offered'`, 10*time.Second)
	alice.clickLastCard(malName, "receive", "transfer-accept")
	mal.next("accept", about("accept", tid), 10*time.Second)
	mal.sendData(tid, body)
	alice.waitFor("the page received the HTML file", cardState(malName, "receive")+` === 'done'`, 20*time.Second)
	var got struct {
		Storage  string `json:"storage"`
		Type     string `json:"type"`
		Download string `json:"download"`
		URL      string `json:"url"`
	}
	alice.eval(`(async () => {
		const res = [...`+malPeer+`.incoming.values()].at(-1).results[0];
		const a = [...document.querySelectorAll('[data-testid=transfer-download]')].at(-1);
		return { storage: res.storage, type: res.file.type, download: a.getAttribute('download'), url: location.href };
	})()`, &got)
	if got.Storage != storage || got.Type != "application/octet-stream" || got.Download != "invoice.html" {
		t.Errorf("received HTML file: %+v; want %s storage, type application/octet-stream, a download named invoice.html", got, storage)
	}

	// Clicking the link saves the file (the browser downloads it) and the page stays where it is.
	dir := alice.allowDownloads()
	ctx, cancel := context.WithTimeout(alice.ctx, 20*time.Second)
	defer cancel()
	begun := chromedp.Events(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	alice.eval(`[...document.querySelectorAll('[data-testid=transfer-download]')].at(-1).click()`, nil)
	for ev, err := range begun {
		if err != nil {
			t.Fatalf("no download began: %v", err)
		}
		if ev.SuggestedFilename != "invoice.html" {
			t.Errorf("download suggested as %q", ev.SuggestedFilename)
		}
		break
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("the download did not complete: %v", err)
		}
		if ev.State != cdpbrowser.DownloadProgressStateCompleted {
			continue
		}
		if saved, err := os.ReadFile(filepath.Join(dir, ev.GUID)); err != nil || string(saved) != string(body) {
			t.Errorf("saved %q (%v), want the file's bytes", saved, err)
		}
		break
	}
	var after struct {
		URL   string `json:"url"`
		Title string `json:"title"`
	}
	alice.eval(`({ url: location.href, title: document.title })`, &after)
	if after.URL != got.URL || after.Title == "owned" {
		t.Errorf("after clicking the link the page is at %q titled %q", after.URL, after.Title)
	}
}

// TestHostileFileTypeAndCSP: in a secure context (OPFS) too, a received HTML file is a download of type
// application/octet-stream; the page's CSP forbids form submissions.
func TestHostileFileTypeAndCSP(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--turn=false")
	res, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'none'") {
		t.Errorf("CSP %q lacks form-action 'none'", csp)
	}
	alice := open(t, s, "hostile-type", "Alice")
	mal := dialMallory(t, s, "hostile-type")
	mal.connect(alice)
	checkHTMLFileIsADownload(t, alice, mal, "opfs")

	// The link's object URL is revoked once its card leaves the log.
	var url string
	alice.eval(`[...document.querySelectorAll('[data-testid=transfer-download]')].at(-1).href`, &url)
	alice.eval(`(() => { window.__revoked = []; const revoke = URL.revokeObjectURL;
		URL.revokeObjectURL = (u) => { window.__revoked.push(u); revoke.call(URL, u); };
		(window.p2plobby.limits ??= {}).logItems = 5; })()`, nil)
	for i := range 8 {
		mal.send(map[string]any{"t": "chat", "id": fmt.Sprint("c", i), "text": fmt.Sprint("push ", i), "ts": time.Now().UnixMilli()})
	}
	alice.waitChat(malName, "push 7")
	var cards int
	alice.eval(`document.querySelectorAll('[data-testid=transfer]').length`, &cards)
	if cards != 0 {
		t.Fatalf("%d transfer cards left after the log was trimmed", cards)
	}
	var revoked bool
	alice.eval(fmt.Sprintf(`window.__revoked.includes(%s)`, jsString(url)), &revoked)
	if !revoked {
		t.Errorf("the object URL of a removed card was not revoked")
	}
}

// hostileNames is the shared table of file names and how both implementations must clean them.
func hostileNames(t *testing.T) []struct{ In, Want string } {
	t.Helper()
	raw, err := os.ReadFile("../peer/testdata/hostile-names.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ In, Want string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestHostileFileNames: the SDK's safeName gives exactly the outputs of the shared table that the Go peer's
// sanitizeName is tested with (peer/testdata/hostile-names.json); a peer proposing those names sees the page
// show and save them cleaned.
func TestHostileFileNames(t *testing.T) {
	skipWithoutBrowser(t)
	cases := hostileNames(t)
	raw, _ := os.ReadFile("../peer/testdata/hostile-names.json")
	s := lobbytest.Start(t, "--turn=false")
	alice := open(t, s, "hostile-names", "Alice")

	// The table, evaluated by the SDK in the page (compared there, so no JSON round trip hides a difference).
	var bad []string
	alice.eval(fmt.Sprintf(`(async () => {
		const { safeName } = await import('/sdk/sink.js');
		return JSON.parse(%s).filter(c => safeName(c.in) !== c.want).map(c => JSON.stringify(c.in) + ' → ' + JSON.stringify(safeName(c.in)) + ', want ' + JSON.stringify(c.want));
	})()`, jsString(string(raw))), &bad)
	for _, b := range bad {
		t.Errorf("safeName %s", b)
	}

	// The same names from a peer: the offer shows them cleaned, and the downloads are named so.
	mal := dialMallory(t, s, "hostile-names")
	mal.connect(alice)
	files := make([]fileInfo, len(cases))
	empty := make([][]byte, len(cases)) // every file is empty: the names are what matters
	for i, c := range cases {
		files[i] = fileInfo{Name: c.In, Size: 0, Type: "text/plain"}
	}
	tid := mal.offer(files...)
	alice.waitFor("the offer", cardState(malName, "receive")+` === 'offered'`, 10*time.Second)
	var shown []string
	alice.eval(`[...`+malPeer+`.incoming.values()].at(-1).files.map(f => f.name)`, &shown)
	alice.clickLastCard(malName, "receive", "transfer-accept")
	mal.next("accept", about("accept", tid), 10*time.Second)
	mal.sendData(tid, empty...)
	alice.waitFor("the page received them", cardState(malName, "receive")+` === 'done'`, 20*time.Second)
	var saved []string
	alice.eval(`[...document.querySelectorAll('[data-testid=transfer-download]')].map(a => a.getAttribute('download'))`, &saved)
	if len(shown) != len(cases) || len(saved) != len(cases) {
		t.Fatalf("offer shows %d names, %d downloads; want %d", len(shown), len(saved), len(cases))
	}
	for i, c := range cases {
		if shown[i] != c.Want || saved[i] != c.Want {
			t.Errorf("name %q: shown as %q, saved as %q, want %q", c.In, shown[i], saved[i], c.Want)
		}
	}

	// The other way: the page sends files whose names (as they are on disk) are in the table; the Go peer stores
	// them under the same cleaned names. Only names a Linux file can have, and one per cleaned name.
	var paths, want []string
	seen := map[string]bool{}
	for _, c := range cases {
		if c.In == "" || c.In == "." || c.In == ".." || strings.ContainsAny(c.In, "/\x00") || len(c.In) > 255 ||
			!utf8.ValidString(c.In) || strings.ContainsRune(c.In, utf8.RuneError) || seen[c.Want] {
			continue
		}
		seen[c.Want] = true
		path := filepath.Join(t.TempDir(), c.In)
		if err := os.WriteFile(path, []byte(c.Want), 0o600); err != nil {
			t.Fatal(err)
		}
		paths, want = append(paths, path), append(want, c.Want)
	}
	g := dialGo(t, s, "hostile-names")
	dumpGoPeerOnFailure(t, alice, g)
	conn := pageRequests(t, alice, g)
	alice.sendFiles(goName, paths...)
	tr := g.nextTransfer(conn, 20*time.Second)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, err := tr.Accept(ctx, dir, nil)
	if err != nil || len(stored) != len(want) {
		t.Fatalf("Go peer stored %d of %d files: %v", len(stored), len(want), err)
	}
	for i, p := range stored {
		if got := filepath.Base(p); got != want[i] || filepath.Dir(p) != dir {
			t.Errorf("Go peer stored %q (offered as %q) at %q, want %s", tr.Files[i].Name, got, p, want[i])
		}
	}
}

// TestHostileReceiver: a receiver acknowledges files before it got them, and twice. The page counts each
// file once, in order, and only once it was sent: it reports "delivered" only after the real
// acknowledgements.
func TestHostileReceiver(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--turn=false")
	alice := open(t, s, "hostile-recv", "Alice")
	mal := dialMallory(t, s, "hostile-recv")
	mal.connect(alice)

	a, _ := randomFile(t, "a.bin", 200_000)
	b, _ := randomFile(t, "b.bin", 300_000)
	alice.sendFiles(malName, a, b)
	offer := mal.next("an offer", func(v map[string]any) bool { return v["t"] == "files" }, 10*time.Second)
	tid := offer["tid"].(string)
	mal.send(map[string]any{"t": "accept", "tid": tid})
	for _, i := range []int{0, 0, 1} { // nothing was sent yet
		mal.send(map[string]any{"t": "received", "tid": tid, "index": i})
	}
	mal.send(map[string]any{"t": "chat", "id": "x", "text": "acknowledged", "ts": time.Now().UnixMilli()})
	alice.waitChat(malName, "acknowledged") // the control channel is ordered: the page has read the lies
	var st string
	alice.eval(cardState(malName, "send"), &st)
	if st == "done" {
		t.Fatalf("the page reports delivery of files it has not sent yet")
	}

	// Now receive for real, acknowledging each file twice.
	var fc *fileChannel
	select {
	case fc = <-mal.files:
	case <-time.After(10 * time.Second):
		t.Fatal("the page did not open the file channel")
	}
	for index := 0; index < 2; {
		select {
		case msg := <-fc.msgs:
			if !msg.IsString {
				continue
			}
			mal.send(map[string]any{"t": "received", "tid": tid, "index": index})
			mal.send(map[string]any{"t": "received", "tid": tid, "index": index})
			if index == 0 {
				mal.send(map[string]any{"t": "chat", "id": "y", "text": "first file acknowledged twice", "ts": time.Now().UnixMilli()})
				alice.waitChat(malName, "first file acknowledged twice")
				alice.eval(cardState(malName, "send"), &st)
				if st == "done" {
					t.Fatalf("the page reports both files delivered after two acknowledgements of the first")
				}
			}
			index++
		case <-time.After(10 * time.Second):
			t.Fatal("no eof from the page")
		}
	}
	alice.waitFor("delivered", cardState(malName, "send")+` === 'done'`, 10*time.Second)
	var results int
	alice.eval(`[...`+malPeer+`.outgoing.values()].at(-1).results.filter(Boolean).length`, &results)
	if results != 2 {
		t.Errorf("%d files confirmed, want 2", results)
	}
}

// TestHostileSDPFingerprint: mallory's offer carries a made-up sha-256 fingerprint at session level and its real
// certificate as sha-384 at media level, which is the one the browser checks. The page's code must come from the
// certificates of the DTLS session and the exchanged nonces, not from the made-up line.
func TestHostileSDPFingerprint(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "hostile-sdp", "Alice")
	mal := dialMallory(t, s, "hostile-sdp")
	fake := strings.Repeat("AB:", 31) + "AB"
	fpLine := regexp.MustCompile(`(?m)^a=fingerprint:[^\r\n]*\r?\n`)
	mal.tamper = func(sdp string, der []byte) string {
		sum := sha512.Sum384(der)
		sdp = fpLine.ReplaceAllString(sdp, "")
		sdp = strings.Replace(sdp, "\r\nm=", "\r\na=fingerprint:sha-256 "+fake+"\r\nm=", 1)
		return strings.Replace(sdp, "a=setup:", "a=fingerprint:sha-384 "+peertest.ColonHex(sum[:])+"\r\na=setup:", 1)
	}
	mal.connect(alice)
	nonce := mal.next("the page's nonce", func(v map[string]any) bool { return v["t"] == "sas-nonce" }, 10*time.Second)["n"].(string)
	pageCert := mal.pc.SCTP().Transport().GetRemoteCertificate()
	want := goVerificationCode(peertest.Fingerprint(mal.der), peertest.Fingerprint(pageCert), mal.nonce, nonce)
	made := goVerificationCode(fake, peertest.Fingerprint(pageCert), mal.nonce, nonce)
	got := alice.pageCode(malName)
	if got != want {
		t.Fatalf("the page shows %q; the session's certificates give %q (the made-up fingerprint %q)", got, want, made)
	}
}
