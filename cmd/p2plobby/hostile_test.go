package main

// A hostile or broken peer (a Go peer driven by the test) against the real receive, send and chat commands:
// names that are not identities, the verification question, transfer limits, a sender that stalls, and text
// meant for the terminal rather than for the reader.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

// liveRun is the real CLI running in-process, its output readable while it runs.
type liveRun struct {
	stdout, stderr *lockedBuffer
	done           chan int
}

func startPeerCLI(ctx context.Context, server string, stdin io.Reader, args ...string) *liveRun {
	env := map[string]string{"P2PLOBBY_SERVER": server, "P2PLOBBY_LOOPBACK": "true"}
	r := &liveRun{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan int, 1)}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	go func() { r.done <- run(ctx, args, func(k string) string { return env[k] }, stdin, r.stdout, r.stderr) }()
	return r
}

// waitStderr waits until stderr contains s.
func (r *liveRun) waitStderr(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(r.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never showed %q:\n%s", s, r.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exit waits at most d for the command to end.
func (r *liveRun) exit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(d):
		t.Fatalf("still running after %s:\nstdout:\n%s\nstderr:\n%s", d, r.stdout, r.stderr)
		return -1
	}
}

func (r *liveRun) String() string { return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr) }

// connectTo has the Go peer c find the member named name and connect to it.
func connectTo(t *testing.T, ctx context.Context, c *peer.Client, name string) (*peer.Conn, error) {
	t.Helper()
	m, err := c.WaitMember(ctx, func(m peer.Member) bool { return m.Name == name })
	if err != nil {
		t.Fatal(err)
	}
	return c.Request(ctx, m.ID)
}

func textFile(name, content string) peer.FileSource {
	return peer.FileSource{
		FileInfo: peer.FileInfo{Name: name, Size: int64(len(content))},
		Open:     func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil },
	}
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left in --dir: %v", entries)
	}
}

// Item 5 (and issue 9, item 3): a member that asks for a name already taken gets it numbered by the server,
// so --accept-from NAME does not accept it; the id works too.
func TestAcceptFromNameOfANamesake(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := peerClient(t, s.WS, "r", "alice")
	mallory := peerClient(t, s.WS, "r", "alice") // asks for the same name
	if mallory.Name() != "alice (2)" {
		t.Fatalf("the second alice is called %q", mallory.Name())
	}
	dir := t.TempDir()

	rctx, stop := context.WithCancel(ctx)
	recv := startPeerCLI(rctx, s.WS, nil, "receive", "--room", "r", "--name", "bob", "--dir", dir, "--accept-from", "alice")
	if _, err := connectTo(t, ctx, mallory, "bob"); !errors.Is(err, peer.ErrDeclined) {
		t.Errorf("a request from alice (2): %v, want ErrDeclined", err)
	}
	recv.waitStderr(t, "declined a request from alice (2)")
	conn, err := connectTo(t, ctx, alice, "bob")
	if err != nil {
		t.Fatalf("alice: %v\n%s", err, recv)
	}
	conn.Close()
	stop()
	if code := recv.exit(t, 10*time.Second); code != exitOK {
		t.Errorf("receive --accept-from alice: exit %d\n%s", code, recv)
	}

	// By id, the same alice is accepted.
	recv = startPeerCLI(ctx, s.WS, nil, "receive", "--room", "r", "--name", "bob2", "--dir", dir, "--accept-from", alice.ID(), "--once")
	conn, err = connectTo(t, ctx, alice, "bob2")
	if err != nil {
		t.Fatalf("by id: %v\n%s", err, recv)
	}
	if err := conn.SendFiles(ctx, []peer.FileSource{textFile("a.txt", "from the real alice")}, nil); err != nil {
		t.Error(err)
	}
	if code := recv.exit(t, 10*time.Second); code != exitOK {
		t.Errorf("receive --accept-from ID: exit %d\n%s", code, recv)
	}
}

// Item 5: a member that takes another's id as its name is neither accepted as it (--accept-from ID) nor sent
// to in its place once it left (--to ID).
func TestImpostorNamedAfterAnID(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := peerClient(t, s.WS, "r", "alice")
	mallory := peerClient(t, s.WS, "r", alice.ID())

	recv := startPeerCLI(ctx, s.WS, nil, "receive", "--room", "r", "--name", "bob", "--dir", t.TempDir(), "--accept-from", alice.ID(), "--once")
	if _, err := connectTo(t, ctx, mallory, "bob"); !errors.Is(err, peer.ErrDeclined) {
		t.Errorf("mallory, named after alice's id: %v, want ErrDeclined", err)
	}
	conn, err := connectTo(t, ctx, alice, "bob")
	if err != nil {
		t.Fatalf("alice: %v\n%s", err, recv)
	}
	if err := conn.SendFiles(ctx, []peer.FileSource{textFile("a.txt", "a")}, nil); err != nil {
		t.Error(err)
	}
	if code := recv.exit(t, 10*time.Second); code != exitOK {
		t.Errorf("receive: exit %d\n%s", code, recv)
	}

	// alice leaves; a send to her id must not reach the member named after it.
	offered := make(chan struct{}, 1)
	go func() {
		for ev := range mallory.Events() {
			if ev.Kind == peer.IncomingRequest {
				offered <- struct{}{}
				ev.Request.Decline()
			}
		}
	}()
	aliceID := alice.ID()
	alice.Close()
	for {
		if _, ok := mallory.Member(aliceID); !ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f := writeFile(t, t.TempDir(), "for-alice.txt", []byte("private"))
	snd := runPeerCLI(ctx, s.WS, nil, "send", "--room", "r", "--name", "carol", "--to", aliceID, "--wait", "500ms", f)
	if snd.code != exitUnknownPeer || !strings.Contains(snd.stderr.String(), "no member has the id") {
		t.Errorf("send --to a departed member's id: %v", snd)
	}
	select {
	case <-offered:
		t.Error("the impostor got a request meant for alice")
	default:
	}
}

// Item 5: with --confirm-code nothing the other side sends is shown or stored before the user says the codes
// match; any other answer hangs up with exit code 4.
func TestConfirmCode(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	alice := peerClient(t, s.WS, "r", "alice")

	t.Run("receive no", func(t *testing.T) {
		dir := t.TempDir()
		recv := startPeerCLI(ctx, s.WS, strings.NewReader("n\n"), "receive", "--room", "r", "--name", "bob", "--dir", dir, "--confirm-code", "--once")
		conn, err := connectTo(t, ctx, alice, "bob")
		if err != nil {
			t.Fatal(err)
		}
		conn.SendChat("secret chat")
		err = conn.SendFiles(ctx, []peer.FileSource{textFile("unwanted.txt", "unwanted")}, nil)
		if err == nil {
			t.Error("files sent to a receiver that did not confirm the code")
		}
		code := recv.exit(t, 10*time.Second)
		out := recv.stderr.String()
		if code != exitDeclined || !strings.Contains(out, "Does the other side show the same code? [y/N]") ||
			!strings.Contains(out, conn.VerificationCode()) || !strings.Contains(out, "not confirmed") || strings.Contains(out, "secret chat") {
			t.Errorf("exit %d, want %d\n%s", code, exitDeclined, recv)
		}
		emptyDir(t, dir)
	})

	t.Run("receive yes", func(t *testing.T) {
		dir := t.TempDir()
		recv := startPeerCLI(ctx, s.WS, strings.NewReader("Yes\n"), "receive", "--room", "r", "--name", "bob2", "--dir", dir, "--confirm-code", "--once")
		conn, err := connectTo(t, ctx, alice, "bob2")
		if err != nil {
			t.Fatal(err)
		}
		conn.SendChat("hello")
		recv.waitStderr(t, "says: hello")
		if err := conn.SendFiles(ctx, []peer.FileSource{textFile("wanted.txt", "wanted")}, nil); err != nil {
			t.Error(err)
		}
		out := recv.stderr.String()
		if code := recv.exit(t, 10*time.Second); code != exitOK {
			t.Fatalf("exit %d\n%s", code, recv)
		}
		// The code comes before the first thing the other side sent is shown, and before a byte is stored.
		code, said, recvd := strings.Index(out, conn.VerificationCode()), strings.Index(out, "says: hello"), strings.Index(out, "receiving 1 file")
		if code < 0 || said < code || recvd < code {
			t.Errorf("order of code %d, chat %d, transfer %d:\n%s", code, said, recvd, out)
		}
	})

	t.Run("chat", func(t *testing.T) {
		got := make(chan string, 4)
		bob := peerClient(t, s.WS, "r", "chatbob")
		go func() {
			for ev := range bob.Events() {
				if ev.Kind == peer.IncomingRequest {
					if c, err := ev.Request.Accept(ctx); err == nil {
						for m := range c.Chat() {
							got <- m.Text
						}
					}
				}
			}
		}()
		r := runPeerCLI(ctx, s.WS, strings.NewReader("y\nhello bob\n"), "chat", "--room", "r", "--to", "chatbob", "--confirm-code")
		if r.code != exitOK {
			t.Fatal(r)
		}
		select {
		case m := <-got:
			if m != "hello bob" {
				t.Errorf("bob got %q: the answer to the question went out as chat", m)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("bob got nothing within 30 s; the chat said:\n%v", r)
		}
		r = runPeerCLI(ctx, s.WS, strings.NewReader("no\nhello bob\n"), "chat", "--room", "r", "--to", "chatbob", "--confirm-code")
		if r.code != exitDeclined || !strings.Contains(r.stderr.String(), "not confirmed") {
			t.Error(r)
		}
		select {
		case m := <-got:
			t.Errorf("bob got %q after the code was refused", m)
		case <-time.After(200 * time.Millisecond):
		}
	})
}

// Item 5: receive declines a transfer over --max-files or --max-size (16 GiB by default, sizes that overflow
// included); the sender sees a decline and nothing is written.
func TestReceiveLimits(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	alice := peerClient(t, s.WS, "r", "alice")
	never := func() (io.ReadCloser, error) { return nil, errors.New("never read") }
	for i, tc := range []struct {
		flags []string
		files []peer.FileSource
		want  string
	}{
		{[]string{"--max-files", "2"}, []peer.FileSource{textFile("a", "a"), textFile("b", "b"), textFile("c", "c")}, "more than --max-files 2"},
		{[]string{"--max-size", "1KiB"}, []peer.FileSource{textFile("big", strings.Repeat("x", 1025))}, "more than --max-size 1KiB"},
		{nil, []peer.FileSource{{FileInfo: peer.FileInfo{Name: "a", Size: 16<<30 + 1}, Open: never}}, "more than --max-size 16GiB"},
		{nil, []peer.FileSource{ // adds up past MaxInt64, to a small number if it wrapped around
			{FileInfo: peer.FileInfo{Name: "a", Size: math.MaxInt64}, Open: never},
			{FileInfo: peer.FileInfo{Name: "b", Size: math.MaxInt64}, Open: never},
			{FileInfo: peer.FileInfo{Name: "c", Size: 3}, Open: never},
		}, "more than --max-size 16GiB"},
	} {
		t.Run(strings.Join(tc.flags, "="), func(t *testing.T) {
			dir := t.TempDir()
			name := fmt.Sprint("bob", i)
			recv := startPeerCLI(ctx, s.WS, nil, append([]string{"receive", "--room", "r", "--name", name, "--dir", dir, "--once"}, tc.flags...)...)
			conn, err := connectTo(t, ctx, alice, name)
			if err != nil {
				t.Fatal(err)
			}
			if err := conn.SendFiles(ctx, tc.files, nil); !errors.Is(err, peer.ErrDeclined) {
				t.Errorf("sender: %v, want ErrDeclined", err)
			}
			if code := recv.exit(t, 10*time.Second); code != exitDeclined || !strings.Contains(recv.stderr.String(), tc.want) {
				t.Errorf("exit %d, want %d and %q\n%s", code, exitDeclined, tc.want, recv)
			}
			emptyDir(t, dir)
		})
	}
}

// stallingReader yields one chunk, then blocks until released: a sender that goes silent mid-file.
type stallingReader struct {
	sent    bool
	release chan struct{}
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		n := min(len(p), 64<<10)
		clear(p[:n])
		return n, nil
	}
	<-r.release
	return 0, io.EOF
}

// Item 7: a sender that stops sending mid-file does not keep receive --once waiting forever: it fails with
// exit code 6 after the idle timeout and leaves no partial file. Not parallel: it shortens the timeouts.
func TestReceiveStalledSender(t *testing.T) {
	defer func(open, idle time.Duration) { transferOpenTimeout, transferIdleTimeout = open, idle }(transferOpenTimeout, transferIdleTimeout)
	transferOpenTimeout, transferIdleTimeout = 500*time.Millisecond, 500*time.Millisecond
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := peerClient(t, s.WS, "r", "alice")
	dir := t.TempDir()
	recv := startPeerCLI(ctx, s.WS, nil, "receive", "--room", "r", "--name", "bob", "--dir", dir, "--once")
	conn, err := connectTo(t, ctx, alice, "bob")
	if err != nil {
		t.Fatal(err)
	}
	stall := &stallingReader{release: make(chan struct{})}
	defer close(stall.release)
	go conn.SendFiles(ctx, []peer.FileSource{{
		FileInfo: peer.FileInfo{Name: "stalled.bin", Size: 1 << 20},
		Open:     func() (io.ReadCloser, error) { return io.NopCloser(stall), nil },
	}}, nil)
	recv.waitStderr(t, "receiving 1 file")
	if code := recv.exit(t, 8*time.Second); code != exitInterrupted || !strings.Contains(recv.stderr.String(), "no data from the sender") {
		t.Errorf("exit %d, want %d\n%s", code, exitInterrupted, recv)
	}
	emptyDir(t, dir)
}

// hostileRunes lists the characters of s that printable must never let through (newline and tab aside).
func hostileRunes(s string) []rune {
	var bad []rune
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			bad = append(bad, r)
		}
	}
	return bad
}

const hostileText = "\x1b[2J\x1b]0;pwned\x07red\u202etxt.exe\u2066x\u2069 \xc2\x9b31m csi\rover\bwrite\nreceived 1 file, verified\tok"

// Item 8: chat text, file names and cancel reasons from the other side reach the terminal without escape
// sequences, overwrites or bidi tricks, and a multi-line chat cannot forge receive's own lines.
func TestHostileText(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	alice := peerClient(t, s.WS, "r", "alice")

	t.Run("receive", func(t *testing.T) {
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		recv := startPeerCLI(rctx, s.WS, nil, "receive", "--room", "r", "--name", "bob", "--dir", t.TempDir())
		conn, err := connectTo(t, ctx, alice, "bob")
		if err != nil {
			t.Fatal(err)
		}
		conn.SendChat(hostileText)
		recv.waitStderr(t, "says:")
		if err := conn.SendFiles(ctx, []peer.FileSource{textFile("evil\u202etxt.exe\u0085", "x")}, nil); err != nil {
			t.Fatal(err)
		}
		bad := textFile("x\x1b]0;pwned\x07\u202e", "x")
		bad.Open = func() (io.ReadCloser, error) { return nil, errors.New("gone") } // cancels, quoting the name
		conn.SendFiles(ctx, []peer.FileSource{bad}, nil)
		recv.waitStderr(t, "could not read")
		stop()
		recv.exit(t, 10*time.Second)
		for _, out := range []string{recv.stdout.String(), recv.stderr.String()} {
			if b := hostileRunes(out); len(b) > 0 {
				t.Errorf("printed %q:\n%s", b, recv)
			}
		}
		if !strings.Contains(recv.stderr.String(), "says: [2J]0;pwnedredtxt.exex 31m csioverwrite\n    received 1 file, verified\tok\n") {
			t.Errorf("chat not printed as expected:\n%s", recv.stderr)
		}
		if !strings.Contains(recv.stdout.String(), "eviltxt.exe") {
			t.Errorf("path not printed:\n%s", recv.stdout)
		}
	})

	t.Run("chat", func(t *testing.T) {
		stdin, typing := io.Pipe()
		defer typing.Close()
		chat := startPeerCLI(ctx, s.WS, stdin, "chat", "--room", "r", "--name", "carol")
		conn, err := connectTo(t, ctx, alice, "carol")
		if err != nil {
			t.Fatal(err)
		}
		conn.SendChat(hostileText)
		conn.SendChat("bye")
		for !strings.Contains(chat.stdout.String(), "bye") {
			time.Sleep(10 * time.Millisecond)
			if ctx.Err() != nil {
				t.Fatal(chat)
			}
		}
		typing.Close()
		chat.exit(t, 10*time.Second)
		if got, want := chat.stdout.String(), "[2J]0;pwnedredtxt.exex 31m csioverwrite\nreceived 1 file, verified\tok\nbye\n"; got != want {
			t.Errorf("chat printed %q, want %q", got, want)
		}
	})
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in, line, lines string
	}{
		{"plain text", "plain text", "plain text"},
		{"a\nb\tc\r\n", "a b c ", "a\nb\tc\n"},
		{"\x00\x07\x08\x1b[31mred\x7f", "[31mred", "[31mred"},
		{"c1:\u0080\u0085\u009b\u009f.", "c1:.", "c1:."},
		{"\u202aa\u202bb\u202cc\u202dd\u202ee\u2066f\u2067g\u2068h\u2069i\u200ej\u200fk\u061cl", "abcdefghijkl", "abcdefghijkl"},
		{"line\u2028sep\u2029", "linesep", "linesep"},
		{"in\u200bvis\u2060ible\ufeff", "invisible", "invisible"},
		{"bad \xff\xfe utf-8", "bad \ufffd\ufffd utf-8", "bad \ufffd\ufffd utf-8"},
		{"émoji 👩‍👩‍👧 ok", "émoji 👩‍👩‍👧 ok", "émoji 👩‍👩‍👧 ok"}, // the zero-width joiner stays
	} {
		if got := printable(tc.in, false); got != tc.line {
			t.Errorf("printable(%q, false) = %q, want %q", tc.in, got, tc.line)
		}
		if got := printable(tc.in, true); got != tc.lines {
			t.Errorf("printable(%q, true) = %q, want %q", tc.in, got, tc.lines)
		}
	}
}
