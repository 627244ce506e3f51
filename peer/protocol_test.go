package peer

// Tests that need to break the protocol on purpose (a lying sender, the seed's raw client) live inside the package.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

func serverURL(t *testing.T) string {
	if u := os.Getenv("P2PLOBBY_TEST_WS"); u != "" {
		return u
	}
	return lobbytest.Start(t).WS
}

func testRoom(t *testing.T) string { return "internal-" + time.Now().Format("150405.000000") }

func connectedPair(t *testing.T) (ca, cb *Conn) {
	t.Helper()
	url, room := serverURL(t), testRoom(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var clients [2]*Client
	for i, name := range []string{"alice", "bob"} {
		c, err := Dial(ctx, url, &Options{Room: room, Name: name, Loopback: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		clients[i] = c
	}
	a, b := clients[0], clients[1]
	if _, err := a.WaitMember(ctx, func(m Member) bool { return m.ID == b.ID() }); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		ca, err = a.Request(ctx, b.ID())
		errc <- err
	}()
	for ev := range b.Events() {
		if ev.Kind == IncomingRequest {
			var err error
			if cb, err = ev.Request.Accept(ctx); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return ca, cb
}

// sendTampered plays a sender that announces size bytes and sends data with the hash sum, whatever they are.
func sendTampered(ctx context.Context, c *Conn, size int64, data []byte, sum string) error {
	tid := newID(8)
	out := &outgoing{ev: make(chan *ctrlMsg, 8)}
	c.mu.Lock()
	c.out[tid] = out
	c.mu.Unlock()
	if err := c.sendCtrl(&ctrlMsg{T: tFiles, TID: tid, Files: []FileInfo{{Name: "t.bin", Size: size}}}); err != nil {
		return err
	}
	if m := <-out.ev; m.T != tAccept {
		return errors.New("not accepted: " + m.T)
	}
	ch, err := c.openFileChannel(ctx, tid)
	if err != nil {
		return err
	}
	defer ch.rwc.Close()
	if _, err := ch.rwc.Write(data); err != nil {
		return err
	}
	b, _ := json.Marshal(&ctrlMsg{T: tEOF, Index: intp(0), SHA256: sum})
	if _, err := ch.rwc.WriteDataChannel(b, true); err != nil {
		return err
	}
	st := &sendState{files: []FileSource{{FileInfo: FileInfo{Name: "t.bin", Size: size}}}, progress: func(Progress) {}}
	select {
	case m := <-out.ev:
		return st.verdict(m)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestReceiverRejectsBadFiles(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	const goodSum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" // sha256("test")
	for _, tc := range []struct {
		name string
		size int64
		data string
		sum  string
		want error
		code string
	}{
		{"integrity", 4, "tesT", goodSum, ErrIntegrity, failIntegrity},
		{"too long", 3, "test", goodSum, ErrTransferFailed, failSize},
		{"too short", 5, "test", goodSum, ErrTransferFailed, failSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dir := t.TempDir()
			recvErr := make(chan error, 1)
			go func() {
				tr := <-cb.Transfers()
				_, err := tr.Accept(ctx, dir, nil)
				recvErr <- err
			}()
			sendErr := sendTampered(ctx, ca, tc.size, []byte(tc.data), tc.sum)
			var te *TransferError
			if !errors.Is(sendErr, tc.want) || !errors.As(sendErr, &te) || te.Code != tc.code {
				t.Errorf("sender: %v, want %v (%s)", sendErr, tc.want, tc.code)
			}
			if err := <-recvErr; !errors.Is(err, tc.want) {
				t.Errorf("receiver: %v, want %v", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files left: %v", entries)
			}
		})
	}
}

// TestSeedClientOffer: a client written to the seed document sends a bare offer (no request, no sid, no
// accept); the Go peer treats it as a request and, once accepted, answers it.
func TestSeedClientOffer(t *testing.T) {
	t.Parallel()
	url, room := serverURL(t), testRoom(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := Dial(ctx, url, &Options{Room: room, Name: "bob", Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := dialRaw(t, ctx, url, room, b, nil, func(dc *webrtc.DataChannel) {
		dc.SendText(`{"t":"chat","id":"1","text":"from the seed","ts":1}`)
	})
	conn := acceptRaw(t, ctx, b, r)
	select {
	case m := <-conn.Chat():
		if m.Text != "from the seed" {
			t.Errorf("chat %q", m.Text)
		}
	case <-ctx.Done():
		t.Fatal("no chat from the seed client")
	}
	select {
	case m := <-r.msgs:
		var hello ctrlMsg
		if json.Unmarshal(m.Data, &hello); !m.IsString || hello.T != tHello || hello.V != protocolVersion {
			t.Errorf("first message %q", m.Data)
		}
	case <-ctx.Done():
		t.Fatal("no hello")
	}
}

func TestICEServersFromLobby(t *testing.T) {
	t.Parallel()
	if os.Getenv("P2PLOBBY_TEST_WS") != "" {
		t.Skip("needs a p2plobby server started with --ice-servers")
	}
	s := lobbytest.Start(t, "--turn=false", "--ice-servers", `[{"urls":["stun:127.0.0.1:9","turn:127.0.0.1:9"],"username":"u","credential":"p"},{"urls":"stun:127.0.0.2:9"}]`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, s.WS, &Options{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.ice) != 2 || len(c.ice[0].URLs) != 2 || c.ice[0].Username != "u" || c.ice[0].Credential != "p" ||
		c.ice[1].URLs[0] != "stun:127.0.0.2:9" {
		t.Errorf("ICE servers from the lobby: %+v", c.ice)
	}
	o, err := Dial(ctx, s.WS, &Options{Loopback: true, ICEServers: []ICEServer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if len(o.ice) != 0 {
		t.Errorf("override with none: %+v", o.ice)
	}
}

func TestDialRefused(t *testing.T) {
	t.Parallel()
	if os.Getenv("P2PLOBBY_TEST_WS") != "" {
		t.Skip("the seed's server has no rooms")
	}
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, s.WS, &Options{Room: "no spaces allowed"})
	var se *ServerError
	if !errors.As(err, &se) || se.Code != "bad-room" || se.CloseCode != 4002 {
		t.Errorf("bad room: %v (%#v)", err, se)
	}
	if _, err := Dial(ctx, "ftp://example.org", nil); err == nil {
		t.Error("ftp URL accepted")
	}
}

// The lobby refreshes TURN credentials with {"kind":"ice-servers"}; new connections use the fresh ones.
func TestICEServersRefreshed(t *testing.T) {
	t.Parallel()
	if os.Getenv("P2PLOBBY_TEST_WS") != "" {
		t.Skip("needs a p2plobby server with TURN")
	}
	s := lobbytest.Start(t, "--turn-ttl", "4s", "--ping-interval", "1s", "--idle-timeout", "5s")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, s.WS, &Options{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	user := func() string {
		cfg := c.rtcConfig()
		for _, s := range cfg.ICEServers {
			if s.Username != "" {
				return s.Username
			}
		}
		return ""
	}
	first := user()
	if first == "" {
		t.Fatalf("no TURN credentials from the lobby: %+v", c.rtcConfig().ICEServers)
	}
	for user() == first {
		select {
		case <-ctx.Done():
			t.Fatal("TURN credentials were never refreshed")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
