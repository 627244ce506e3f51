package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// TestScreenshot writes a picture of two people mid-transfer to $P2PLOBBY_SCREENSHOT (for the README):
//
//	P2PLOBBY_SCREENSHOT=$PWD/docs/screenshot.png go test ./e2e -run TestScreenshot
func TestScreenshot(t *testing.T) {
	out := os.Getenv("P2PLOBBY_SCREENSHOT")
	if out == "" {
		t.Skip("set P2PLOBBY_SCREENSHOT=file.png to take the README screenshot")
	}
	s := lobbytest.Start(t)
	alice := open(t, s, "demo", "Alice Martin")
	bob := open(t, s, "demo", "Bob Chen")
	open(t, s, "demo", "Carol") // a third person in the room, not connected
	for _, p := range []*page{alice, bob} {
		p.do(chromedp.EmulateViewport(900, 720))
	}
	connect(t, alice, bob)
	alice.chat("Bob Chen", "Hi Bob! Sending you the holiday videos now.")
	bob.waitChat("Alice Martin", "Hi Bob! Sending you the holiday videos now.")
	bob.chat("Alice Martin", "Great, and my verification code matches yours.")
	alice.waitChat("Bob Chen", "Great, and my verification code matches yours.")
	big, _ := randomFile(t, "holiday-2026.mp4", 160<<20)
	alice.sendFiles("Bob Chen", big)
	bob.waitFor("offer", cardState("Alice Martin", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice Martin", "receive", "transfer-accept")
	bob.waitFor("a good part of it", fmt.Sprintf(`+([...document.querySelectorAll(%s)].at(-1)?.dataset.bytes ?? 0) > %d`,
		jsString(conversation("Alice Martin")+` [data-testid=transfer]`), 40<<20), 90*time.Second)
	// Bob opens the explanation of the verification code; both logs show their latest entries.
	bob.eval(`document.querySelector('section[data-testid=conversation]:not([hidden]) details.verify').open = true`, nil)
	for _, p := range []*page{alice, bob} {
		p.eval(`document.querySelectorAll('.log').forEach(l => { l.scrollTop = l.scrollHeight })`, nil)
	}
	var shots []image.Image
	for _, p := range []*page{alice, bob} {
		buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil {
			t.Fatal(err)
		}
		shots = append(shots, img)
	}
	const gap = 16
	a, b := shots[0].Bounds(), shots[1].Bounds()
	canvas := image.NewRGBA(image.Rect(0, 0, a.Dx()+gap+b.Dx(), max(a.Dy(), b.Dy())))
	draw.Draw(canvas, canvas.Bounds(), image.NewUniform(color.RGBA{0x30, 0x34, 0x3c, 0xff}), image.Point{}, draw.Src)
	draw.Draw(canvas, a, shots[0], a.Min, draw.Src)
	draw.Draw(canvas, b.Add(image.Pt(a.Dx()+gap, 0)), shots[1], b.Min, draw.Src)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, canvas); err != nil {
		t.Fatal(err)
	}
}
