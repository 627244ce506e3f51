package e2e

// Interoperability of the Go peer (package peer) with the browser app in Chromium, both directions: consent,
// chat, verification code, files, declines and cancels. The Go side is driven directly through its API; the
// page is driven like a person would (buttons, file input) and read through the DOM and window.p2plobby.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

// goName is the Go peer's display name in every test of this file.
const goName = "gobot"

// goPeer is the Go member of a test: its lobby client, and its connection with the page once there is one.
type goPeer struct {
	t    testing.TB
	c    *peer.Client
	mu   sync.Mutex
	conn *peer.Conn
}

// dialGo joins room as goName, with options changed by with. It uses the default network (every interface except loopback), like the
// browser: Chromium offers no loopback candidates, so a loopback-only Go peer could not reach it. Its log goes
// to t.Log at warning level, or at debug level with P2PLOBBY_PEER_LOG=1.
func dialGo(t testing.TB, s *lobbytest.Server, room string, with ...func(*peer.Options)) *goPeer {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("P2PLOBBY_PEER_LOG") == "1" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(goLogWriter{t}, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := &peer.Options{Room: room, Name: goName, Logger: log}
	for _, f := range with {
		f(opts)
	}
	c, err := peer.Dial(ctx, s.WS, opts)
	if err != nil {
		t.Fatalf("Go peer: dial %s: %v", s.WS, err)
	}
	t.Cleanup(func() { c.Close() })
	return &goPeer{t: t, c: c}
}

// goLogWriter sends log lines to t.Log, and nowhere once the test is over (t.Log would panic).
type goLogWriter struct{ t testing.TB }

func (w goLogWriter) Write(b []byte) (int, error) {
	defer func() { recover() }()
	w.t.Log("go peer: " + strings.TrimSpace(string(b)))
	return len(b), nil
}

// setConn records the connection for failure messages; closing the client at cleanup hangs it up.
func (g *goPeer) setConn(c *peer.Conn) {
	g.mu.Lock()
	g.conn = c
	g.mu.Unlock()
}

// state describes the Go side for failure messages.
func (g *goPeer) state() string {
	g.mu.Lock()
	conn := g.conn
	g.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "Go peer %s: lobby err=%v, members=%v", g.c.ID(), g.c.Err(), g.c.Members())
	if conn != nil {
		fmt.Fprintf(&b, "; conn with %v: err=%v, agent=%q, code=%q", conn.Peer(), conn.Err(), conn.RemoteAgent(), conn.VerificationCode())
	} else {
		b.WriteString("; no connection")
	}
	return b.String()
}

// member waits until the Go peer sees the person named name in the room.
func (g *goPeer) member(name string) peer.Member {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := g.c.WaitMember(ctx, func(m peer.Member) bool { return m.Name == name })
	if err != nil {
		g.t.Fatalf("Go peer does not see %s: %v\n%s", name, err, g.state())
	}
	return m
}

// nextRequest waits for the next incoming request, skipping membership events.
func (g *goPeer) nextRequest(timeout time.Duration) *peer.Request {
	g.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-g.c.Events():
			if !ok {
				g.t.Fatalf("Go peer: lobby connection ended while waiting for a request: %v", g.c.Err())
			}
			if ev.Kind == peer.IncomingRequest {
				return ev.Request
			}
		case <-deadline:
			g.t.Fatalf("Go peer: no request within %v\n%s", timeout, g.state())
		}
	}
}

// nextChat waits for the next chat message on conn.
func (g *goPeer) nextChat(conn *peer.Conn, timeout time.Duration) peer.ChatMessage {
	g.t.Helper()
	select {
	case m, ok := <-conn.Chat():
		if !ok {
			g.t.Fatalf("Go peer: connection ended while waiting for chat: %v", conn.Err())
		}
		return m
	case <-time.After(timeout):
		g.t.Fatalf("Go peer: no chat message within %v\n%s", timeout, g.state())
	}
	return peer.ChatMessage{}
}

// nextTransfer waits for the next file proposal on conn.
func (g *goPeer) nextTransfer(conn *peer.Conn, timeout time.Duration) *peer.IncomingTransfer {
	g.t.Helper()
	select {
	case tr, ok := <-conn.Transfers():
		if !ok {
			g.t.Fatalf("Go peer: connection ended while waiting for a transfer: %v", conn.Err())
		}
		return tr
	case <-time.After(timeout):
		g.t.Fatalf("Go peer: no transfer proposal within %v\n%s", timeout, g.state())
	}
	return nil
}

// pageStateJS describes the page's lobby, peers and transfers, for failure messages.
const pageStateJS = `(() => {
  const l = window.p2plobby?.lobby;
  if (!l) return { url: location.href, text: (document.body?.innerText ?? '').slice(0, 1000) };
  const tr = (t) => ({ tid: t.tid, dir: t.direction, state: t.state, bytes: t.bytes, total: t.total, error: String(t.error ?? ''),
    files: t.files.map((f) => f.name + ':' + f.size) });
  return {
    status: l.status, id: l.id,
    members: [...l.members.values()].map((m) => m.name + ' ' + m.id),
    peers: [...l.peers.values()].map((p) => ({
      name: p.name, id: p.id, state: p.state, reason: p.reason, agent: p.agent, code: p.verificationCode,
      pc: p.pc ? p.pc.connectionState + '/ice ' + p.pc.iceConnectionState : null,
      transfers: [...p.outgoing.values(), ...p.incoming.values()].map(tr),
    })),
    rows: [...document.querySelectorAll('li[data-testid=member]')].map((li) => li.dataset.name + ': ' + li.dataset.state),
  };
})()`

// dumpGoPeerOnFailure logs the state of the page and of the Go peer when the test fails. Register it after open
// (cleanups run last-in first-out), so the browser is still there when it runs.
func dumpGoPeerOnFailure(t testing.TB, p *page, g *goPeer) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer cancel()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](`JSON.stringify(`+pageStateJS+`, null, 1)`))
		var s string
		if err == nil {
			err = json.Unmarshal(raw, &s)
		}
		if err != nil {
			s = "unavailable: " + err.Error()
		}
		t.Logf("state at failure:\npage %s: %s\n%s", p.name, s, g.state())
	})
}

// goRequests makes the Go peer ask the page for a connection; the person clicks Accept in the member list, or
// in the request banner at the top of the page.
func goRequests(t testing.TB, p *page, g *goPeer, banner bool) *peer.Conn {
	t.Helper()
	m := g.member(p.name)
	type result struct {
		conn *peer.Conn
		err  error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := g.c.Request(ctx, m.ID)
		res <- result{conn, err}
	}()
	p.waitFor("the page shows the Go peer's request", rowState(goName)+` === 'incoming'`, 20*time.Second)
	if banner {
		// The banner's buttons have no data-testid; data-key ends with the action.
		p.click(fmt.Sprintf(`[data-testid=request-banner][data-name=%s] button[data-key$=":accept"]`, jsString(goName)))
	} else {
		p.click(member(goName) + ` [data-testid=accept]`)
	}
	var r result
	select {
	case r = <-res:
	case <-time.After(65 * time.Second):
		t.Fatalf("Go peer's Request did not return\n%s", g.state())
	}
	if r.err != nil {
		t.Fatalf("Go peer's Request after the page accepted: %v", r.err)
	}
	g.setConn(r.conn)
	p.waitFor("the page is connected to the Go peer", rowState(goName)+` === 'connected'`, 30*time.Second)
	return r.conn
}

// pageRequests makes the person ask the Go peer for a connection; the Go peer accepts it.
func pageRequests(t testing.TB, p *page, g *goPeer) *peer.Conn {
	t.Helper()
	g.member(p.name)
	p.waitFor("the page lists the Go peer", rowState(goName)+` === 'idle' || `+rowState(goName)+` === 'declined'`, 20*time.Second)
	p.click(member(goName) + ` [data-testid=request]`)
	req := g.nextRequest(20 * time.Second)
	if req.From.Name != p.name {
		t.Fatalf("request from %v, want %s", req.From, p.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := req.Accept(ctx)
	if err != nil {
		t.Fatalf("Go peer: accepting the page's request: %v", err)
	}
	g.setConn(conn)
	p.waitFor("the page is connected to the Go peer", rowState(goName)+` === 'connected'`, 30*time.Second)
	return conn
}

// pageCode is the verification code the page shows in its conversation with name.
func (p *page) pageCode(name string) string {
	p.t.Helper()
	sel := jsString(conversation(name) + ` [data-testid=verify-code]`)
	p.waitFor("the verification code", fmt.Sprintf(`document.querySelector(%s)?.textContent`, sel), 10*time.Second)
	var code string
	p.eval(fmt.Sprintf(`document.querySelector(%s).textContent`, sel), &code)
	return code
}

// diskSHA256 returns the hex SHA-256 and the size of a file on disk.
func diskSHA256(t testing.TB, path string) (string, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// diskNames lists the names in dir, hidden ones (partial files) included.
func diskNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestGoPeerRequestsBrowser: the Go peer asks, the person accepts in the page; chat goes both ways, both
// show the same verification code, and the Go peer's hang-up closes the page's connection.
func TestGoPeerRequestsBrowser(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "gopeer", "Alice")
	g := dialGo(t, s, "gopeer")
	dumpGoPeerOnFailure(t, alice, g)

	conn := goRequests(t, alice, g, false)
	if conn.Peer().Name != "Alice" {
		t.Errorf("Go peer connected to %v, want Alice", conn.Peer())
	}

	// Chat, both ways, non-ASCII included.
	if err := conn.SendChat("hello from Go — ünïcode ✓"); err != nil {
		t.Fatal(err)
	}
	alice.waitChat(goName, "hello from Go — ünïcode ✓")
	alice.chat(goName, "hello from Chromium 👋")
	if m := g.nextChat(conn, 20*time.Second); m.Text != "hello from Chromium 👋" || m.ID == "" {
		t.Errorf("Go peer got chat %+v, want the page's message", m)
	} else if d := time.Since(m.Time); d < -time.Minute || d > time.Minute {
		t.Errorf("chat timestamp %v is %v off", m.Time, d)
	}

	// Same verification code on both sides, and the hellos were exchanged.
	want := conn.VerificationCode()
	if got := alice.pageCode(goName); got != want || len(want) != 7 {
		t.Fatalf("verification codes differ: page shows %q, Go peer %q", got, want)
	}
	if a := conn.RemoteAgent(); !strings.HasPrefix(a, "p2plobby-js/") {
		t.Errorf("Go peer sees agent %q, want p2plobby-js/…", a)
	}
	alice.waitFor("the page got the Go peer's hello", `[...window.p2plobby.lobby.peers.values()].some(p => p.agent === 'p2plobby-go/1')`, 5*time.Second)
	wantLargeReceiveBuffer(t, conn) // the Go peer's offer carried the video section

	// The Go peer hangs up: the page shows the connection closed, and Conn reports it.
	conn.Close()
	alice.waitFor("the page sees the hang-up", rowState(goName)+` === 'closed'`, 10*time.Second)
	if err := conn.Err(); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("Conn.Err after Close: %v, want ErrClosed", err)
	}
}

// TestGoPeerSendsFileToBrowser: the person asks, the Go peer accepts the request, then sends a 20 MiB file
// that the page accepts; the stored file hashes (WebCrypto, in the page) to the source's SHA-256.
func TestGoPeerSendsFileToBrowser(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "gofile", "Alice")
	g := dialGo(t, s, "gofile")
	dumpGoPeerOnFailure(t, alice, g)
	conn := pageRequests(t, alice, g)

	// Chat works on a connection the browser offered too.
	alice.chat(goName, "send me the file")
	if m := g.nextChat(conn, 20*time.Second); m.Text != "send me the file" {
		t.Errorf("Go peer got %q", m.Text)
	}
	if got, want := alice.pageCode(goName), conn.VerificationCode(); got != want {
		t.Errorf("verification codes differ: page %q, Go peer %q", got, want)
	}
	wantLargeReceiveBuffer(t, conn) // the page's offer carried the video section

	const size = 20 << 20
	path, want := randomFile(t, "from-go.bin", size)
	src, err := peer.FileFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	var confirmed bool
	sent := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sent <- conn.SendFiles(ctx, []peer.FileSource{src}, func(p peer.Progress) {
			if p.Done {
				confirmed = true // read after sent delivers: ordered by the channel
			}
		})
	}()

	alice.waitFor("the page shows the offer", cardState(goName, "receive")+` === 'offered'`, 20*time.Second)
	var offer string
	alice.eval(fmt.Sprintf(`document.querySelector(%s).textContent`, jsString(conversation(goName)+` [data-testid=transfer] .tfiles`)), &offer)
	if !strings.Contains(offer, "from-go.bin") || !strings.Contains(offer, "21.0 MB") {
		t.Errorf("offer card lists %q, want the name and size", offer)
	}
	start := time.Now()
	alice.clickLastCard(goName, "receive", "transfer-accept")
	alice.waitFor("the page received the file", cardState(goName, "receive")+` === 'done'`, 90*time.Second)
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("Go peer's SendFiles: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Go peer's SendFiles did not return after the page received everything\n%s", g.state())
	}
	elapsed := time.Since(start)
	t.Logf("Go → Chromium: 20 MiB in %v (%.1f MB/s, accept to confirmation)", elapsed.Round(time.Millisecond), size/elapsed.Seconds()/1e6)
	if !confirmed {
		t.Error("SendFiles returned without reporting the file as confirmed")
	}
	got, storage, n := alice.receivedHash(goName)
	if got != want || n != size {
		t.Fatalf("page stored %d bytes with SHA-256 %s; Go sent %d bytes with %s", n, got, size, want)
	}
	if storage != "opfs" {
		t.Errorf("page stored the file in %q, want opfs", storage)
	}
}

// TestBrowserSendsFileToGoPeer: the page sends three files (a few MiB, an empty one, an awkward name) picked
// with its file input; the Go peer accepts them into a directory, where they arrive complete, with their
// names, and with no partial file left behind.
func TestBrowserSendsFileToGoPeer(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "gorecv", "Alice")
	g := dialGo(t, s, "gorecv")
	dumpGoPeerOnFailure(t, alice, g)
	conn := goRequests(t, alice, g, true)

	big, bigSum := randomFile(t, "from-chromium.bin", 6<<20)
	empty, emptySum := randomFile(t, "empty.txt", 0)
	odd, oddSum := randomFile(t, "résumé (final) ✓.txt", 100_003)
	alice.sendFiles(goName, big, empty, odd)

	tr := g.nextTransfer(conn, 20*time.Second)
	wantInfo := []struct {
		name string
		size int64
	}{{"from-chromium.bin", 6 << 20}, {"empty.txt", 0}, {"résumé (final) ✓.txt", 100_003}}
	if len(tr.Files) != len(wantInfo) {
		t.Fatalf("Go peer was offered %+v", tr.Files)
	}
	for i, w := range wantInfo {
		if tr.Files[i].Name != w.name || tr.Files[i].Size != w.size {
			t.Errorf("offered file %d: %+v, want %s of %d bytes", i, tr.Files[i], w.name, w.size)
		}
	}
	alice.waitFor("the page shows its offer", cardState(goName, "send")+` === 'offered'`, 5*time.Second)

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var calls int
	paths, err := tr.Accept(ctx, dir, func(peer.Progress) { calls++ })
	if err != nil {
		t.Fatalf("Go peer's Accept: %v (stored %v)", err, paths)
	}
	if calls == 0 {
		t.Error("no progress reported")
	}
	alice.waitFor("the page sees the delivery", cardState(goName, "send")+` === 'done'`, 20*time.Second)

	for i, want := range []string{bigSum, emptySum, oddSum} {
		if i >= len(paths) {
			t.Fatalf("Accept returned %d paths: %v", len(paths), paths)
		}
		if wantPath := filepath.Join(dir, wantInfo[i].name); paths[i] != wantPath {
			t.Errorf("file %d stored at %s, want %s", i, paths[i], wantPath)
		}
		if got, n := diskSHA256(t, paths[i]); got != want || n != wantInfo[i].size {
			t.Errorf("%s: %d bytes with SHA-256 %s, want %d bytes with %s", paths[i], n, got, wantInfo[i].size, want)
		}
	}
	if names := diskNames(t, dir); len(names) != 3 {
		t.Errorf("directory holds %q, want exactly the three files (no partial file)", names)
	}
}

// TestGoPeerDeclines: requests and transfers declined in both directions are reported on the other side.
func TestGoPeerDeclines(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "godecline", "Alice")
	g := dialGo(t, s, "godecline")
	dumpGoPeerOnFailure(t, alice, g)

	// The Go peer declines the person's request.
	g.member("Alice")
	alice.waitFor("the page lists the Go peer", rowState(goName)+` === 'idle'`, 20*time.Second)
	alice.click(member(goName) + ` [data-testid=request]`)
	if err := g.nextRequest(20 * time.Second).Decline(); err != nil {
		t.Fatalf("Decline: %v", err)
	}
	alice.waitFor("the page shows the decline", rowState(goName)+` === 'declined'`, 20*time.Second)
	var pcs int
	alice.eval(`[...window.p2plobby.lobby.peers.values()].filter(p => p.pc).length`, &pcs)
	if pcs != 0 {
		t.Errorf("the page created %d peer connections for a declined request", pcs)
	}

	// The person declines the Go peer's request.
	m := g.member("Alice")
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := g.c.Request(ctx, m.ID)
		if conn != nil {
			conn.Close()
		}
		res <- err
	}()
	alice.waitFor("the page shows the Go peer's request", rowState(goName)+` === 'incoming'`, 20*time.Second)
	alice.click(member(goName) + ` [data-testid=decline]`)
	select {
	case err := <-res:
		if !errors.Is(err, peer.ErrDeclined) {
			t.Fatalf("Go peer's Request after the page declined: %v, want ErrDeclined", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Go peer's Request did not return after the page declined")
	}

	// Asking again works; then transfers are declined both ways.
	conn := pageRequests(t, alice, g)
	path, _ := randomFile(t, "unwanted.bin", 1<<20)
	src, err := peer.FileFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		sent <- conn.SendFiles(ctx, []peer.FileSource{src}, nil)
	}()
	alice.waitFor("the page shows the Go peer's offer", cardState(goName, "receive")+` === 'offered'`, 20*time.Second)
	alice.clickLastCard(goName, "receive", "transfer-decline")
	select {
	case err := <-sent:
		if !errors.Is(err, peer.ErrDeclined) {
			t.Errorf("Go peer's SendFiles after the page declined: %v, want ErrDeclined", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Go peer's SendFiles did not return after the page declined")
	}

	alice.sendFiles(goName, path)
	if err := g.nextTransfer(conn, 20*time.Second).Decline(); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("the page shows the Go peer's decline", cardState(goName, "send")+` === 'declined'`, 20*time.Second)

	// Still connected: chat goes through after all that.
	if err := conn.SendChat("no hard feelings"); err != nil {
		t.Fatal(err)
	}
	alice.waitChat(goName, "no hard feelings")
}

// blockingSource is a file of size bytes that, once after bytes, waits until release is closed: it holds a
// transfer in flight, so a cancel lands mid-way whatever the speed of the machine.
func blockingSource(name string, size, after int64, reached chan<- struct{}, release <-chan struct{}) peer.FileSource {
	return peer.FileSource{
		FileInfo: peer.FileInfo{Name: name, Size: size},
		Open: func() (io.ReadCloser, error) {
			return &gatedReader{left: size, gate: after, reached: reached, release: release}, nil
		},
	}
}

type gatedReader struct {
	left, gate int64
	reached    chan<- struct{}
	release    <-chan struct{}
	read       int64
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.reached != nil && r.read >= r.gate {
		close(r.reached)
		r.reached = nil
		<-r.release
	}
	n := int(min(int64(len(p)), r.left))
	for i := range p[:n] {
		p[i] = 0x5a
	}
	r.left -= int64(n)
	r.read += int64(n)
	return n, nil
}

func (r *gatedReader) Close() error { return nil }

// TestGoPeerTransferCancel: cancels in the middle of a transfer reach the other side in both directions,
// and neither keeps a partial file.
func TestGoPeerTransferCancel(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "gocancel", "Alice")
	g := dialGo(t, s, "gocancel")
	dumpGoPeerOnFailure(t, alice, g)
	conn := pageRequests(t, alice, g)

	// The page cancels a file it is sending to the Go peer. The Go peer holds the transfer mid-way by not
	// returning from its progress callback until the page has cancelled.
	big, _ := randomFile(t, "to-cancel.bin", 24<<20)
	alice.sendFiles(goName, big)
	tr := g.nextTransfer(conn, 20*time.Second)
	dir := t.TempDir()
	midway, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	type result struct {
		paths []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		paths, err := tr.Accept(ctx, dir, func(p peer.Progress) {
			if p.TotalBytes >= 2<<20 {
				once.Do(func() {
					close(midway)
					select {
					case <-resume:
					case <-time.After(30 * time.Second):
					}
				})
			}
		})
		done <- result{paths, err}
	}()
	select {
	case <-midway:
	case <-time.After(30 * time.Second):
		t.Fatalf("the Go peer did not receive 2 MiB within 30 s\n%s", g.state())
	}
	if names := diskNames(t, dir); len(names) != 1 || !strings.HasSuffix(names[0], ".p2plobby-partial") {
		t.Errorf("mid-way, the directory holds %q, want one partial file", names)
	}
	alice.clickLastCard(goName, "send", "transfer-cancel")
	alice.waitFor("the page cancelled", cardState(goName, "send")+` === 'cancelled'`, 10*time.Second)
	close(resume)
	select {
	case r := <-done:
		if !errors.Is(r.err, peer.ErrCanceled) || len(r.paths) != 0 {
			t.Errorf("Go peer's Accept after the page cancelled: %v %v, want ErrCanceled and no file", r.paths, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Go peer's Accept did not return after the page cancelled")
	}
	if names := diskNames(t, dir); len(names) != 0 {
		t.Errorf("after the cancel, the directory holds %q", names)
	}

	// The Go peer cancels a file it is sending to the page (its context ends) while the page receives it.
	reached, gate := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release() // never leave the sender blocked in Read, even when the test fails early
	src := blockingSource("go-cancels.bin", 24<<20, 2<<20, reached, gate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sentBytes atomic.Int64
	sent := make(chan error, 1)
	go func() {
		sent <- conn.SendFiles(ctx, []peer.FileSource{src}, func(p peer.Progress) { sentBytes.Store(p.TotalBytes) })
	}()
	alice.waitFor("the page shows the offer", cardState(goName, "receive")+` === 'offered'`, 20*time.Second)
	alice.clickLastCard(goName, "receive", "transfer-accept")
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("the Go peer did not send 2 MiB within 30 s\n%s", g.state())
	}
	alice.waitFor("the page is receiving", cardState(goName, "receive")+` === 'receiving'`, 10*time.Second)
	atCancel := sentBytes.Load()
	cancel()
	release()
	select {
	case err := <-sent:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Go peer's SendFiles after its context ended: %v, want context.Canceled", err)
		}
		if after := sentBytes.Load() - atCancel; after > 256<<10 {
			t.Errorf("the Go peer went on sending %d bytes after its context ended", after)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Go peer's SendFiles did not return after its context ended")
	}
	alice.waitFor("the page sees the cancel", cardState(goName, "receive")+` === 'cancelled'`, 10*time.Second)
	alice.waitFor("the page removed the partial file", `(async () => (await `+opfsFiles+`).length === 0)()`, 10*time.Second)

	// The connection is still usable: a small file goes through afterwards.
	path, want := randomFile(t, "after.bin", 300_000)
	alice.sendFiles(goName, path)
	actx, acancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer acancel()
	paths, err := g.nextTransfer(conn, 20*time.Second).Accept(actx, dir, nil)
	if err != nil || len(paths) != 1 {
		t.Fatalf("transfer after the cancels: %v %v", paths, err)
	}
	if got, _ := diskSHA256(t, paths[0]); got != want {
		t.Errorf("after.bin arrived with SHA-256 %s, want %s", got, want)
	}
}

// chromiumDataOnlyRcvbuf is the receive buffer the kernel reports (ss's rb: twice what was asked) for Chromium's
// UDP socket of a connection without video: 64 KiB asked.
const chromiumDataOnlyRcvbuf = 2 * 64 << 10

// wantLargeReceiveBuffer checks that the browser's UDP socket at the other end of conn has a larger receive
// buffer than Chromium gives a data-only connection: the empty video section of every offer (SDK and Go
// peer) is there for this (docs/datachannel.md, "A video section that carries nothing").
func wantLargeReceiveBuffer(t *testing.T, conn *peer.Conn) {
	t.Helper()
	p, err := conn.Path()
	if err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(p.RemoteAddr)
	if err != nil {
		t.Fatalf("path %+v: %v", p, err)
	}
	out, err := exec.Command("ss", "-uamnH", "sport = :"+port).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	found := regexp.MustCompile(`rb(\d+)`).FindAllStringSubmatch(string(out), -1)
	if len(found) == 0 {
		t.Fatalf("no UDP socket with port %s (the page's end of %s): %q", port, p, out)
	}
	for _, m := range found {
		if rb, _ := strconv.Atoi(m[1]); rb <= chromiumDataOnlyRcvbuf {
			t.Errorf("the page's UDP socket (port %s) has a receive buffer of %d bytes, want more than a data-only connection's %d:\n%s",
				port, rb, chromiumDataOnlyRcvbuf, out)
		}
	}
}
