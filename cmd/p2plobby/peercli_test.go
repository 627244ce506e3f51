package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

// lockedBuffer is an io.Writer safe for the goroutines of a command.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// peerRun runs the real CLI in-process; the server comes from P2PLOBBY_SERVER, like a user's environment.
type peerRun struct {
	code           int
	stdout, stderr *lockedBuffer
}

func runPeerCLI(ctx context.Context, server string, stdin io.Reader, args ...string) *peerRun {
	env := map[string]string{"P2PLOBBY_SERVER": server, "P2PLOBBY_LOOPBACK": "true"}
	r := &peerRun{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	r.code = run(ctx, args, func(k string) string { return env[k] }, stdin, r.stdout, r.stderr)
	return r
}

func (r *peerRun) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func peerClient(t *testing.T, server, room, name string) *peer.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := peer.Dial(ctx, server, &peer.Options{Room: room, Name: name, Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestListCommand(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	a := peerClient(t, s.WS, "listing", "alice")
	b := peerClient(t, s.WS, "listing", "bob")
	peerClient(t, s.WS, "elsewhere", "carol")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	r := runPeerCLI(ctx, s.WS, nil, "list", "--room", "listing")
	if r.code != exitOK {
		t.Fatal(r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], a.ID()) || !strings.HasSuffix(lines[0], "alice") ||
		!strings.HasPrefix(lines[1], b.ID()) || !strings.HasSuffix(lines[1], "bob") {
		t.Errorf("list output:\n%s", r.stdout)
	}
	r = runPeerCLI(ctx, s.WS, nil, "list", "--room", "elsewhere", "--json")
	if r.code != exitOK || !strings.Contains(r.stdout.String(), `"name":"carol"`) {
		t.Error(r)
	}
}

func TestSendReceiveCommands(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	src, dst := t.TempDir(), t.TempDir()
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i * 7)
	}
	files := []string{
		writeFile(t, src, "big.bin", big),
		writeFile(t, src, "note.txt", []byte("hello")),
		writeFile(t, src, "empty", nil),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recv := make(chan *peerRun, 1)
	go func() {
		recv <- runPeerCLI(ctx, s.WS, nil, "receive", "--room", "r", "--name", "bob", "--dir", dst, "--once")
	}()
	snd := runPeerCLI(ctx, s.WS, nil, append([]string{"send", "--room", "r", "--name", "alice", "--to", "bob"}, files...)...)
	rcv := <-recv
	if snd.code != exitOK || rcv.code != exitOK {
		t.Fatalf("send: %v\nreceive: %v", snd, rcv)
	}
	paths := strings.Fields(rcv.stdout.String())
	if len(paths) != len(files) {
		t.Fatalf("receive printed %q", paths)
	}
	for i, p := range paths {
		want, _ := os.ReadFile(files[i])
		got, err := os.ReadFile(p)
		if err != nil || sha256.Sum256(got) != sha256.Sum256(want) || filepath.Base(p) != filepath.Base(files[i]) {
			t.Errorf("%s: %v, %d bytes, want %d", p, err, len(got), len(want))
		}
	}
	if !strings.Contains(snd.stderr.String(), "verification code") || !strings.Contains(snd.stderr.String(), "sent 3 files") {
		t.Errorf("send's messages:\n%s", snd.stderr)
	}
}

func TestSendDeclinedCommand(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	f := writeFile(t, t.TempDir(), "a.txt", []byte("a"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rctx, stopReceive := context.WithCancel(ctx)
	recv := make(chan *peerRun, 1)
	go func() {
		recv <- runPeerCLI(rctx, s.WS, nil, "receive", "--room", "r", "--name", "bob", "--dir", t.TempDir(), "--accept-from", "carol")
	}()
	snd := runPeerCLI(ctx, s.WS, nil, "send", "--room", "r", "--name", "alice", "--to", "bob", f)
	stopReceive()
	rcv := <-recv
	if snd.code != exitDeclined {
		t.Errorf("send: %v", snd)
	}
	if rcv.code != exitOK || !strings.Contains(rcv.stderr.String(), "declined a request from alice") {
		t.Errorf("receive: %v", rcv)
	}
}

func TestSendUnknownPeerCommand(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	f := writeFile(t, t.TempDir(), "a.txt", []byte("a"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := runPeerCLI(ctx, s.WS, nil, "send", "--room", "r", "--to", "nobody", "--wait", "300ms", f)
	if r.code != exitUnknownPeer || !strings.Contains(r.stderr.String(), `nobody named "nobody"`) {
		t.Error(r)
	}
	// The server settles a name clash, so a name always picks one member.
	peerClient(t, s.WS, "r", "twin")
	peerClient(t, s.WS, "r", "twin")
	r = runPeerCLI(ctx, s.WS, nil, "list", "--room", "r")
	if out := r.stdout.String(); r.code != exitOK || !strings.Contains(out, " twin\n") || !strings.Contains(out, " twin (2)\n") {
		t.Error(r)
	}
}

func TestPeerCommandsUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		server string
		args   []string
		code   int
		stderr string
	}{
		{"", []string{"list"}, exitUsage, "--server"},
		{"ws://127.0.0.1:1", []string{"send", "--to", "bob"}, exitUsage, "at least one FILE"},
		{"ws://127.0.0.1:1", []string{"send", "--to", "bob", "/no/such/file"}, exitError, "no such file"},
		{"ws://127.0.0.1:1", []string{"send", "--help"}, exitOK, "exit codes"},
		{"ws://127.0.0.1:1", []string{"receive", "--dir", "/no/such/dir"}, exitUsage, "not a directory"},
		{"ws://127.0.0.1:1", []string{"chat", "--bogus"}, exitUsage, "flag provided but not defined"},
		{"ws://127.0.0.1:1", []string{"list"}, exitConnection, "cannot join the lobby"},
	} {
		r := runPeerCLI(ctx, tc.server, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr.String(), tc.stderr) {
			t.Errorf("%v: %v", tc.args, r)
		}
	}
}

func TestChatCommand(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	bob := peerClient(t, s.WS, "r", "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// bob answers every line with its upper-case version, and offers a file, which chat must decline.
	declined := make(chan error, 1)
	go func() {
		for ev := range bob.Events() {
			if ev.Kind != peer.IncomingRequest {
				continue
			}
			conn, err := ev.Request.Accept(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			go func() {
				declined <- conn.SendFiles(ctx, []peer.FileSource{{
					FileInfo: peer.FileInfo{Name: "x", Size: 1},
					Open:     func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil },
				}}, nil)
			}()
			for m := range conn.Chat() {
				conn.SendChat(strings.ToUpper(m.Text))
			}
			return
		}
	}()
	stdin, typing := io.Pipe()
	stdout := &lockedBuffer{}
	stderr := &lockedBuffer{}
	env := map[string]string{"P2PLOBBY_SERVER": s.WS, "P2PLOBBY_LOOPBACK": "1"}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"chat", "--room", "r", "--name", "alice", "--to", "bob"},
			func(k string) string { return env[k] }, stdin, stdout, stderr)
	}()
	fmt.Fprintln(typing, "hello bob")
	fmt.Fprintln(typing, "second line")
	for !strings.Contains(stdout.String(), "SECOND LINE") {
		select {
		case code := <-done:
			t.Fatalf("chat ended early with %d\n%s", code, stderr)
		case <-ctx.Done():
			t.Fatalf("no answer; stdout %q, stderr:\n%s", stdout, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	typing.Close() // end of input: chat hangs up and exits
	if code := <-done; code != exitOK {
		t.Errorf("chat exit %d\n%s", code, stderr)
	}
	if got := stdout.String(); got != "HELLO BOB\nSECOND LINE\n" {
		t.Errorf("stdout %q", got)
	}
	if err := <-declined; !errors.Is(err, peer.ErrDeclined) {
		t.Errorf("file offered to chat: %v, want ErrDeclined", err)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("disk full"), exitError},
		{fmt.Errorf("x: %w", peer.ErrDeclined), exitDeclined},
		{fmt.Errorf("x: %w", peer.ErrLimitExceeded), exitDeclined},
		{peer.ErrUnknownPeer, exitUnknownPeer},
		{peer.ErrPeerLeft, exitUnknownPeer},
		{peer.ErrConnectionFailed, exitConnection},
		{&peer.ServerError{Code: "room-full"}, exitConnection},
		{fmt.Errorf("%w: %w", peer.ErrInterrupted, peer.ErrConnectionFailed), exitInterrupted},
		{peer.ErrCanceled, exitInterrupted},
		{context.Canceled, exitInterrupted},
		{&peer.TransferError{Code: "integrity"}, exitIntegrity},
		{&peer.TransferError{Code: "size"}, exitIntegrity},
		{&peer.TransferError{Code: "write"}, exitError},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestInterruptedCommands: when the other side goes away mid-transfer, send and receive exit with 6 and the
// receiver keeps no file.
func TestInterruptedCommands(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	t.Run("send", func(t *testing.T) {
		huge := filepath.Join(t.TempDir(), "huge.bin")
		f, err := os.Create(huge)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(1 << 30) // sparse: reads as zeros, costs no disk
		f.Close()
		bob := peerClient(t, s.WS, "send", "bob")
		go func() {
			for ev := range bob.Events() {
				if ev.Kind != peer.IncomingRequest {
					continue
				}
				conn, err := ev.Request.Accept(ctx)
				if err != nil {
					return
				}
				tr := <-conn.Transfers()
				tr.Accept(ctx, t.TempDir(), func(p peer.Progress) {
					if p.TotalBytes > 1<<20 {
						go bob.Close() // leave mid-transfer
					}
				})
				return
			}
		}()
		r := runPeerCLI(ctx, s.WS, nil, "send", "--room", "send", "--name", "alice", "--to", "bob", huge)
		if r.code != exitInterrupted {
			t.Error(r)
		}
	})

	t.Run("receive", func(t *testing.T) {
		alice := peerClient(t, s.WS, "receive", "alice")
		dir := t.TempDir()
		recv := make(chan *peerRun, 1)
		go func() {
			recv <- runPeerCLI(ctx, s.WS, nil, "receive", "--room", "receive", "--name", "bob", "--dir", dir, "--once")
		}()
		bob, err := alice.WaitMember(ctx, func(m peer.Member) bool { return m.Name == "bob" })
		if err != nil {
			t.Fatal(err)
		}
		conn, err := alice.Request(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		zeros := peer.FileSource{
			FileInfo: peer.FileInfo{Name: "huge.bin", Size: 1 << 30},
			Open:     func() (io.ReadCloser, error) { return io.NopCloser(io.LimitReader(zeroes{}, 1<<30)), nil },
		}
		conn.SendFiles(ctx, []peer.FileSource{zeros}, func(p peer.Progress) {
			if p.TotalBytes > 1<<20 {
				go alice.Close()
			}
		})
		r := <-recv
		if r.code != exitInterrupted {
			t.Error(r)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left in --dir: %v", entries)
		}
	})
}

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// --relay-only goes through the lobby's TURN; both sides print the path they use.
func TestSendReceiveRelayOnly(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	src, dst := t.TempDir(), t.TempDir()
	file := writeFile(t, src, "relayed.txt", []byte("through the lobby's relay"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recv := make(chan *peerRun, 1)
	go func() {
		recv <- runPeerCLI(ctx, s.WS, nil, "receive", "--room", "relay", "--name", "bob", "--dir", dst, "--once")
	}()
	snd := runPeerCLI(ctx, s.WS, nil, "send", "--relay-only", "--room", "relay", "--name", "alice", "--to", "bob", file)
	rcv := <-recv
	if snd.code != exitOK || rcv.code != exitOK {
		t.Fatalf("send: %v\nreceive: %v", snd, rcv)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "relayed.txt")); err != nil || string(got) != "through the lobby's relay" {
		t.Fatalf("received %q, %v", got, err)
	}
	if !strings.Contains(snd.stderr.String(), "relayed: TURN over UDP (relay ↔") {
		t.Errorf("the relay-only sender's messages lack its relayed path:\n%s", snd.stderr)
	}
	if !strings.Contains(rcv.stderr.String(), "relayed: the other side's TURN") {
		t.Errorf("the receiver's messages lack the relayed path:\n%s", rcv.stderr)
	}
}
