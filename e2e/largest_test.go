package e2e

// The largest messages both sides allow, between the Go peer and the page, both ways: a chat of exactly
// MaxChatBytes (its JSON is twice that), and an offer of hundreds of files (well over the 16 KiB a control
// message usually fits in). Chat must still flow afterwards.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

func TestLargestControlMessagesGoAndBrowser(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "largest", "Alice")
	g := dialGo(t, s, "largest")
	dumpGoPeerOnFailure(t, alice, g)
	conn := goRequests(t, alice, g, false)

	big := strings.Repeat(`"`, peer.MaxChatBytes) // every quote is escaped: 32 KiB of JSON
	// Go → page.
	if err := conn.SendChat(big); err != nil {
		t.Fatal(err)
	}
	if err := conn.SendChat("after the big one"); err != nil {
		t.Fatal(err)
	}
	alice.waitChat(goName, "after the big one")
	var bigLen int
	alice.eval(`Math.max(...[...document.querySelectorAll('[data-testid=chat-message][data-from=peer] .text')].map(e => e.textContent.length))`, &bigLen)
	if bigLen != peer.MaxChatBytes {
		t.Errorf("the page shows the largest chat with %d characters, want %d", bigLen, peer.MaxChatBytes)
	}
	// Page → Go.
	alice.eval(fmt.Sprintf(`(() => { const p = [...window.p2plobby.lobby.peers.values()][0];
		p.sendChat(%s); p.sendChat('and after'); return true })()`, jsString(big)), nil)
	for _, want := range []string{big, "and after"} {
		if m := g.nextChat(conn, 20*time.Second); m.Text != want {
			t.Fatalf("Go peer got a chat of %d bytes, want %d", len(m.Text), len(want))
		}
	}

	// Offers of 400 files with long names (≈ 100 KiB of JSON), both ways.
	var files []peer.FileSource
	for i := range 400 {
		files = append(files, peer.FileSource{FileInfo: peer.FileInfo{Name: fmt.Sprintf("%0200d.txt", i), Size: 1},
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go conn.SendFiles(ctx, files, nil) // the page only has to see the offer
	alice.waitFor("the page shows the 400-file offer", `[...window.p2plobby.lobby.peers.values()][0].incoming.size > 0 &&
		[...[...window.p2plobby.lobby.peers.values()][0].incoming.values()][0].files.length === 400`, 20*time.Second)
	alice.eval(`(() => { const p = [...window.p2plobby.lobby.peers.values()][0];
		p.sendFiles(Array.from({length: 400}, (_, i) => new File(['x'], String(i).padStart(200, '0') + '.txt'))); return true })()`, nil)
	if tr := g.nextTransfer(conn, 20*time.Second); len(tr.Files) != 400 {
		t.Fatalf("Go peer got an offer of %d files, want 400", len(tr.Files))
	}
	alice.chat(goName, "still talking")
	if m := g.nextChat(conn, 20*time.Second); m.Text != "still talking" {
		t.Fatalf("Go peer got %q after the big offers", m.Text)
	}
}
