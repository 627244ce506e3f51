package peer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

// testServer returns the WebSocket URL of a lobby server for this test: a fresh p2plobby server, or the one
// named by P2PLOBBY_TEST_WS (e.g. the seed's reference server, to check compatibility).
func testServer(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("P2PLOBBY_TEST_WS"); u != "" {
		return u
	}
	return lobbytest.Start(t).WS
}

// room is a room name unique to the test, so parallel tests on one server never see each other.
func room(t testing.TB) string {
	r := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(r) > 50 {
		r = r[:50]
	}
	return r + "-" + time.Now().Format("150405.000")
}

func dial(t testing.TB, url, room, name string) *peer.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := peer.Dial(ctx, url, &peer.Options{Room: room, Name: name, Loopback: true})
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nextRequest waits for the next incoming request, skipping membership events.
func nextRequest(t testing.TB, c *peer.Client) *peer.Request {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed: %v", c.Err())
			}
			if ev.Kind == peer.IncomingRequest {
				return ev.Request
			}
		case <-timeout:
			t.Fatal("no request")
		}
	}
}

// pair connects two fresh clients in a fresh room: a requested, b accepted.
func pair(t testing.TB) (a, b *peer.Client, ca, cb *peer.Conn) {
	t.Helper()
	url, r := testServer(t), room(t)
	a = dial(t, url, r, "alice")
	b = dial(t, url, r, "bob")
	ca, cb = connect(t, a, b)
	return a, b, ca, cb
}

// connect has a request a connection from b, and b accept it.
func connect(t testing.TB, a, b *peer.Client) (ca, cb *peer.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.WaitMember(ctx, func(m peer.Member) bool { return m.ID == b.ID() }); err != nil {
		t.Fatalf("alice does not see bob: %v", err)
	}
	type result struct {
		c   *peer.Conn
		err error
	}
	res := make(chan result, 1)
	go func() {
		c, err := a.Request(ctx, b.ID())
		res <- result{c, err}
	}()
	req := nextRequest(t, b)
	if req.From.ID != a.ID() {
		t.Fatalf("request from %v, want %s", req.From, a.ID())
	}
	cb, err := req.Accept(ctx)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	r2 := <-res
	if r2.err != nil {
		t.Fatalf("request: %v", r2.err)
	}
	return r2.c, cb
}

func TestChat(t *testing.T) {
	t.Parallel()
	_, _, ca, cb := pair(t)
	if ca.VerificationCode() == "" || ca.VerificationCode() != cb.VerificationCode() {
		t.Errorf("verification codes %q and %q", ca.VerificationCode(), cb.VerificationCode())
	}
	if err := ca.SendChat("hello bob"); err != nil {
		t.Fatal(err)
	}
	if err := cb.SendChat("hi alice ✓"); err != nil {
		t.Fatal(err)
	}
	expectChat(t, cb, "hello bob")
	expectChat(t, ca, "hi alice ✓")
	if got := cb.RemoteAgent(); got != "p2plobby-go/1" {
		t.Errorf("remote agent %q", got)
	}
	if err := ca.SendChat(strings.Repeat("x", peer.MaxChatBytes+1)); !errors.Is(err, peer.ErrChatTooLong) {
		t.Errorf("long chat: %v", err)
	}
	ca.Close()
	select {
	case <-cb.Done():
		if !errors.Is(cb.Err(), peer.ErrHangup) {
			t.Errorf("bob's conn ended with %v, want ErrHangup", cb.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hang-up not seen")
	}
	if !errors.Is(ca.Err(), peer.ErrClosed) {
		t.Errorf("alice's conn: %v", ca.Err())
	}
}

func expectChat(t *testing.T, c *peer.Conn, want string) {
	t.Helper()
	select {
	case m := <-c.Chat():
		if m.Text != want {
			t.Errorf("chat %q, want %q", m.Text, want)
		}
		if m.ID == "" || time.Since(m.Time) > time.Minute {
			t.Errorf("chat message id %q time %v", m.ID, m.Time)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no chat %q", want)
	}
}

// memFile is a FileSource over bytes in memory.
func memFile(name string, data []byte) peer.FileSource {
	return peer.FileSource{
		FileInfo: peer.FileInfo{Name: name, Size: int64(len(data))},
		Open:     func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	r.Read(b)
	return b
}

// acceptNext accepts the next transfer offered on c into dir.
func acceptNext(ctx context.Context, c *peer.Conn, dir string, progress func(peer.Progress)) (*peer.IncomingTransfer, []string, error) {
	select {
	case tr, ok := <-c.Transfers():
		if !ok {
			return nil, nil, c.Err()
		}
		paths, err := tr.Accept(ctx, dir, progress)
		return tr, paths, err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func TestSendFiles(t *testing.T) {
	t.Parallel()
	_, _, ca, cb := pair(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "taken.txt"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{
		"empty.bin":    {},
		"one.txt":      []byte("1"),
		"chunk.bin":    randBytes(64 << 10),
		"big.bin":      randBytes(9<<20 + 3),
		"../evil.txt":  []byte("no traversal"),
		"taken.txt":    []byte("new content"),
		"dir\\win.txt": []byte("backslash"),
	}
	order := []string{"empty.bin", "one.txt", "chunk.bin", "big.bin", "../evil.txt", "taken.txt", "dir\\win.txt"}
	want := map[string]string{ // stored name → announced name
		"empty.bin": "empty.bin", "one.txt": "one.txt", "chunk.bin": "chunk.bin", "big.bin": "big.bin",
		"evil.txt": "../evil.txt", "taken (1).txt": "taken.txt", "win.txt": "dir\\win.txt",
	}
	var files []peer.FileSource
	for _, name := range order {
		files = append(files, memFile(name, contents[name]))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var paths []string
	var recvErr error
	var recvDone int
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, paths, recvErr = acceptNext(ctx, cb, dir, func(p peer.Progress) {
			if p.Done {
				recvDone++
			}
		})
	}()
	var sentDone int
	var lastTotal int64
	err := ca.SendFiles(ctx, files, func(p peer.Progress) {
		if p.Done {
			sentDone++
		}
		if p.TotalBytes < lastTotal {
			t.Errorf("progress went back: %d after %d", p.TotalBytes, lastTotal)
		}
		lastTotal = p.TotalBytes
	})
	wg.Wait()
	if err != nil || recvErr != nil {
		t.Fatalf("send: %v; receive: %v", err, recvErr)
	}
	if sentDone != len(files) || recvDone != len(files) {
		t.Errorf("done callbacks: sender %d, receiver %d, want %d", sentDone, recvDone, len(files))
	}
	if len(paths) != len(files) {
		t.Fatalf("paths %v", paths)
	}
	for _, p := range paths {
		stored := filepath.Base(p)
		announced, ok := want[stored]
		if !ok || filepath.Dir(p) != dir {
			t.Errorf("unexpected path %s", p)
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != sha256.Sum256(contents[announced]) {
			t.Errorf("%s: content differs from %s", stored, announced)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "taken.txt")); string(got) != "keep me" {
		t.Errorf("an existing file was overwritten: %q", got)
	}
	assertNoPartials(t, dir)
}

func assertNoPartials(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".p2plobby-partial") {
			t.Errorf("partial file left: %s", e.Name())
		}
	}
}

func TestDeclineRequest(t *testing.T) {
	t.Parallel()
	url, r := testServer(t), room(t)
	a := dial(t, url, r, "alice")
	b := dial(t, url, r, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.WaitMember(ctx, func(m peer.Member) bool { return m.ID == b.ID() }); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := a.Request(ctx, b.ID())
		errc <- err
	}()
	if err := nextRequest(t, b).Decline(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, peer.ErrDeclined) {
		t.Fatalf("request: %v, want ErrDeclined", err)
	}
	if _, err := a.Request(ctx, "no-such-member"); !errors.Is(err, peer.ErrUnknownPeer) {
		t.Fatalf("request to nobody: %v, want ErrUnknownPeer", err)
	}
}

func TestWithdrawRequest(t *testing.T) {
	t.Parallel()
	url, r := testServer(t), room(t)
	a := dial(t, url, r, "alice")
	b := dial(t, url, r, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.WaitMember(ctx, func(m peer.Member) bool { return m.ID == b.ID() }); err != nil {
		t.Fatal(err)
	}
	reqCtx, withdraw := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := a.Request(reqCtx, b.ID())
		errc <- err
	}()
	req := nextRequest(t, b)
	withdraw()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("request: %v, want context.Canceled", err)
	}
	time.Sleep(200 * time.Millisecond) // let the withdrawal arrive
	if _, err := req.Accept(ctx); !errors.Is(err, peer.ErrDeclined) {
		t.Fatalf("accepting a withdrawn request: %v, want ErrDeclined", err)
	}
}

func TestDeclineTransfer(t *testing.T) {
	t.Parallel()
	_, _, ca, cb := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		if tr, ok := <-cb.Transfers(); ok {
			tr.Decline()
		}
	}()
	err := ca.SendFiles(ctx, []peer.FileSource{memFile("a.txt", []byte("a"))}, nil)
	if !errors.Is(err, peer.ErrDeclined) {
		t.Fatalf("send: %v, want ErrDeclined", err)
	}
	// The connection is still usable.
	if err := ca.SendChat("still there?"); err != nil {
		t.Fatal(err)
	}
	expectChat(t, cb, "still there?")
}

// bigFile is a huge file of zeros that closes started once 2 MiB were read, so a test can act while the
// transfer is surely running.
func bigFile(name string, size int64, started chan<- struct{}) peer.FileSource {
	return peer.FileSource{
		FileInfo: peer.FileInfo{Name: name, Size: size},
		Open: func() (io.ReadCloser, error) {
			return &signalReader{zeroReader: zeroReader{size}, started: started}, nil
		},
	}
}

type signalReader struct {
	zeroReader
	started chan<- struct{}
	once    sync.Once
	n       int64
}

func (r *signalReader) Read(p []byte) (int, error) {
	r.n += int64(len(p))
	if r.n > 2<<20 {
		r.once.Do(func() { close(r.started) })
	}
	return r.zeroReader.Read(p)
}

// TestSenderLeaves: the sender's client goes away mid-transfer; the receiver reports an interruption and leaves
// no file, complete-looking or partial.
func TestSenderLeaves(t *testing.T) {
	t.Parallel()
	a, _, ca, cb := pair(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	started := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() { sendErr <- ca.SendFiles(ctx, []peer.FileSource{bigFile("huge.bin", 1<<40, started)}, nil) }()
	recvErr := make(chan error, 1)
	go func() {
		_, _, err := acceptNext(ctx, cb, dir, nil)
		recvErr <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("transfer did not start")
	}
	a.Close()
	if err := <-recvErr; !errors.Is(err, peer.ErrInterrupted) {
		t.Errorf("receiver: %v, want ErrInterrupted", err)
	}
	if err := <-sendErr; !errors.Is(err, peer.ErrInterrupted) {
		t.Errorf("sender: %v, want ErrInterrupted", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
}

// TestReceiverLeaves: the receiving side goes away mid-transfer; the sender reports an interruption.
func TestReceiverLeaves(t *testing.T) {
	t.Parallel()
	_, b, ca, cb := pair(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	started := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() { sendErr <- ca.SendFiles(ctx, []peer.FileSource{bigFile("huge.bin", 1<<40, started)}, nil) }()
	recvErr := make(chan error, 1)
	go func() {
		_, _, err := acceptNext(ctx, cb, dir, nil)
		recvErr <- err
	}()
	<-started
	b.Close()
	if err := <-sendErr; !errors.Is(err, peer.ErrInterrupted) {
		t.Errorf("sender: %v, want ErrInterrupted", err)
	}
	if err := <-recvErr; !errors.Is(err, peer.ErrInterrupted) {
		t.Errorf("receiver: %v, want ErrInterrupted", err)
	}
	assertNoPartials(t, dir)
}

// TestCancelTransfer: canceling the sender's context cancels the transfer on both sides; the connection stays.
func TestCancelTransfer(t *testing.T) {
	t.Parallel()
	_, _, ca, cb := pair(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sendCtx, cancelSend := context.WithCancel(ctx)
	started := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() { sendErr <- ca.SendFiles(sendCtx, []peer.FileSource{bigFile("huge.bin", 1<<40, started)}, nil) }()
	recvErr := make(chan error, 1)
	go func() {
		_, _, err := acceptNext(ctx, cb, dir, nil)
		recvErr <- err
	}()
	<-started
	cancelSend()
	if err := <-sendErr; !errors.Is(err, context.Canceled) {
		t.Errorf("sender: %v, want context.Canceled", err)
	}
	if err := <-recvErr; !errors.Is(err, peer.ErrCanceled) {
		t.Errorf("receiver: %v, want ErrCanceled", err)
	}
	assertNoPartials(t, dir)
	if err := cb.SendChat("after cancel"); err != nil {
		t.Fatal(err)
	}
	expectChat(t, ca, "after cancel")
}

// TestCancelStopsSending: once the sender's context ends, at most one more chunk goes out, even towards a
// receiver that keeps up (the channel's buffer then never fills, so pacing alone would not notice).
func TestCancelStopsSending(t *testing.T) {
	t.Parallel()
	_, _, ca, cb := pair(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sendCtx, cancelSend := context.WithCancel(ctx)
	const size = 64 << 20
	held, release := make(chan struct{}), make(chan struct{})
	src := peer.FileSource{
		FileInfo: peer.FileInfo{Name: "held.bin", Size: size},
		Open: func() (io.ReadCloser, error) {
			return &heldReader{zeroReader: zeroReader{size}, at: 2 << 20, held: held, release: release}, nil
		},
	}
	var sent atomic.Int64
	sendErr := make(chan error, 1)
	go func() {
		sendErr <- ca.SendFiles(sendCtx, []peer.FileSource{src}, func(p peer.Progress) { sent.Store(p.TotalBytes) })
	}()
	recvErr := make(chan error, 1)
	go func() {
		_, _, err := acceptNext(ctx, cb, dir, nil)
		recvErr <- err
	}()
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("transfer did not start")
	}
	cancelSend()
	before := sent.Load()
	close(release)
	if err := <-sendErr; !errors.Is(err, context.Canceled) {
		t.Errorf("sender: %v, want context.Canceled", err)
	}
	if after := sent.Load() - before; after > 256<<10 {
		t.Errorf("%d bytes sent after the context ended", after)
	}
	if err := <-recvErr; !errors.Is(err, peer.ErrCanceled) {
		t.Errorf("receiver: %v, want ErrCanceled", err)
	}
	assertNoPartials(t, dir)
}

// heldReader reads zeros and, once at bytes were read, closes held and waits for release.
type heldReader struct {
	zeroReader
	at            int64
	n             int64
	held, release chan struct{}
}

func (r *heldReader) Read(p []byte) (int, error) {
	if r.held != nil && r.n >= r.at {
		close(r.held)
		r.held = nil
		<-r.release
	}
	n, err := r.zeroReader.Read(p)
	r.n += int64(n)
	return n, err
}

func TestMembersAndEvents(t *testing.T) {
	t.Parallel()
	url, r := testServer(t), room(t)
	a := dial(t, url, r, "alice")
	b := dial(t, url, r, "bob")
	rooms := a.Room() != "" // the seed's server has one lobby for everyone
	if got := b.Members(); len(got) == 0 || got[len(got)-1].ID != a.ID() || rooms && len(got) != 1 {
		t.Fatalf("bob's snapshot %v, want alice %s", got, a.ID())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wantEvent := func(c *peer.Client, kind peer.EventKind, id string) {
		t.Helper()
		for {
			select {
			case ev := <-c.Events():
				if ev.Kind == kind && ev.Member.ID == id {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %v event for %s", kind, id)
			}
		}
	}
	wantEvent(a, peer.MemberJoined, b.ID())
	b.Close()
	wantEvent(a, peer.MemberLeft, b.ID())
	if _, ok := a.Member(b.ID()); ok || rooms && len(a.Members()) != 0 {
		t.Errorf("members after bob left: %v", a.Members())
	}
	if !errors.Is(b.Err(), peer.ErrClosed) {
		t.Errorf("bob's client: %v", b.Err())
	}
	if _, ok := <-b.Events(); ok {
		t.Error("events of a closed client still open")
	}
}

// TestUniqueNamesAndRename: a p2plobby server numbers a taken name, and a rename reaches the others as the
// same member with a new name, never as a leave and a join.
func TestUniqueNamesAndRename(t *testing.T) {
	t.Parallel()
	url, r := testServer(t), room(t)
	a := dial(t, url, r, "alice")
	if a.Room() == "" {
		t.Skip("the seed's server neither numbers names nor renames")
	}
	a2 := dial(t, url, r, "alice")
	if a2.Name() != "alice (2)" {
		t.Errorf("second alice is called %q, want %q", a2.Name(), "alice (2)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.WaitMember(ctx, func(m peer.Member) bool { return m.ID == a2.ID() && m.Name == "alice (2)" }); err != nil {
		t.Fatal(err)
	}
	if err := a2.Rename("alice"); err != nil { // taken: stays numbered
		t.Fatal(err)
	}
	if err := a2.Rename("carol"); err != nil {
		t.Fatal(err)
	}
	for ev := range a.Events() {
		if ev.Member.ID != a2.ID() || ev.Kind == peer.MemberJoined { // the join, seen before the renames
			continue
		}
		if ev.Kind != peer.MemberRenamed {
			t.Fatalf("a rename seen as %v", ev.Kind)
		}
		if ev.Member.Name == "carol" {
			break
		}
		if ev.Member.Name != "alice (2)" {
			t.Errorf("a rename to a taken name gave %q", ev.Member.Name)
		}
	}
	if m, _ := a.Member(a2.ID()); m.Name != "carol" {
		t.Errorf("members list after the rename: %v", m)
	}
	if len(a.Members()) != 1 {
		t.Errorf("members after the rename: %v", a.Members())
	}
	for deadline := time.Now().Add(5 * time.Second); a2.Name() != "carol"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("own name after the rename: %q", a2.Name())
		}
	}
}

// TestCrossingRequests: both members ask each other, at once or one after the other without answering; both
// calls end up with the same connection.
func TestCrossingRequests(t *testing.T) {
	t.Parallel()
	url := testServer(t)
	for i := range 4 {
		r := room(t) + fmt.Sprint(i)
		a := dial(t, url, r, "alice")
		b := dial(t, url, r, "bob")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if _, err := a.WaitMember(ctx, func(m peer.Member) bool { return m.ID == b.ID() }); err != nil {
			t.Fatal(err)
		}
		type result struct {
			c   *peer.Conn
			err error
		}
		ra, rb := make(chan result, 1), make(chan result, 1)
		go func() { c, err := a.Request(ctx, b.ID()); ra <- result{c, err} }()
		if i%2 == 1 {
			// b has a's request pending (nobody answers it) when it asks a.
			for ev := range b.Events() {
				if ev.Kind == peer.IncomingRequest {
					break
				}
			}
		}
		go func() { c, err := b.Request(ctx, a.ID()); rb <- result{c, err} }()
		x, y := <-ra, <-rb
		if x.err != nil || y.err != nil {
			t.Fatalf("round %d: alice %v, bob %v", i, x.err, y.err)
		}
		if x.c.VerificationCode() != y.c.VerificationCode() {
			t.Errorf("round %d: two different connections", i)
		}
		x.c.SendChat("same connection?")
		expectChat(t, y.c, "same connection?")
		cancel()
	}
}
