package e2e

// Accessibility (issue 9, item 10): axe-core's rules, run in the page on each screen of the app, in English and
// in German, in light and dark colours, find no serious or critical violation. axe-core is vendored for these
// tests only (testdata/axe/README.md); it is evaluated through the DevTools protocol, which the page's CSP does
// not govern, and is never served by the binary.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile("testdata/axe/axe.min.js")
	return string(b), err
})

// axeViolation is one rule axe-core found broken, with the elements that break it.
type axeViolation struct {
	ID, Impact, Help, HelpURL string
	Nodes                     []struct {
		Target         []any
		FailureSummary string
	}
}

// checkA11y runs axe-core on the page as it is and fails the test on every serious or critical violation.
func (p *page) checkA11y(screen string) {
	p.t.Helper()
	src, err := axeSource()
	if err != nil {
		p.t.Fatalf("axe-core: %v", err)
	}
	var loaded bool
	p.eval(`typeof window.axe === 'object'`, &loaded)
	if !loaded {
		ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](src+"\n;true")); err != nil {
			p.t.Fatalf("%s: loading axe-core: %v", p.name, err)
		}
	}
	// Animations and transitions settle first: colours are measured as drawn.
	time.Sleep(400 * time.Millisecond)
	var found []axeViolation
	p.eval(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
			nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })))`, &found)
	for _, v := range found {
		var b strings.Builder
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n    %v: %s", n.Target, strings.ReplaceAll(n.FailureSummary, "\n", " "))
		}
		p.t.Errorf("%s, %s: %s (%s) %s (%s)%s", screen, p.name, v.ID, v.Impact, v.Help, v.HelpURL, b.String())
	}
}

// darkColours switches the page to the dark colour scheme (prefers-color-scheme: dark), or back.
func (p *page) darkColours(on bool) {
	p.t.Helper()
	features := []*emulation.MediaFeature{}
	if on {
		features = append(features, &emulation.MediaFeature{Name: "prefers-color-scheme", Value: "dark"})
	}
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features})
		return err
	}))
}

// bothSchemes checks the page in light and in dark colours.
func (p *page) checkA11yBothSchemes(screen string) {
	p.t.Helper()
	p.checkA11y(screen + " (light)")
	p.darkColours(true)
	p.checkA11y(screen + " (dark)")
	p.darkColours(false)
}

func TestAccessibility(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)

	// The lobby on a first visit: alone on the network.
	alice := openIn(t, s, "/", "Alice", "")
	alice.waitJoined()
	alice.checkA11yBothSchemes("the lobby, alone")

	// Others arrive; Bob reads German.
	bob := openIn(t, s, "/", "Bob", "de-DE,de")
	bob.waitJoined()
	alice.waitFor("Alice sees Bob", rowState("Bob")+` === 'idle'`, 20*time.Second)
	bob.waitFor("Bob sees Alice", rowState("Alice")+` === 'idle'`, 20*time.Second)
	alice.checkA11yBothSchemes("the lobby with others")
	bob.checkA11yBothSchemes("the lobby with others, German")

	// A request: the banner and the row's answers on one side, the waiting state on the other.
	bob.click(member("Alice") + ` [data-testid=request]`)
	alice.waitFor("the request", shown(`[data-testid=request-banner]`), 20*time.Second)
	alice.checkA11yBothSchemes("an incoming request")
	bob.checkA11y("an outgoing request, German")

	// A conversation with chat and received files, previews of each kind among them.
	alice.click(member("Bob") + ` [data-testid=accept]`)
	alice.waitFor("connected", rowState("Bob")+` === 'connected'`, 30*time.Second)
	bob.waitFor("connected", rowState("Alice")+` === 'connected'`, 30*time.Second)
	alice.chat("Bob", "Hello Bob, here are the holiday files")
	bob.waitChat("Alice", "Hello Bob, here are the holiday files")
	bob.chat("Alice", "Danke!")
	alice.waitChat("Bob", "Danke!")
	var sizes []int
	bob.eval(makeMediaJS, &sizes)
	bob.dropMade("Alice")
	alice.waitFor("the offer", cardState("Bob", "receive")+` === 'offered'`, 20*time.Second)
	alice.checkA11y("a file offer")
	alice.clickLastCard("Bob", "receive", "transfer-accept")
	alice.waitFor("received", cardState("Bob", "receive")+` === 'done'`, 30*time.Second)
	alice.waitFor("previews ready", fmt.Sprintf(`[...document.querySelectorAll(%s)].at(-1).querySelectorAll('[data-testid=preview][data-ready]').length >= 4`,
		jsString(conversation("Bob")+` [data-testid=transfer]`)), 20*time.Second)
	alice.click(member("Bob") + ` [data-testid=open]`)
	alice.checkA11yBothSchemes("a conversation with chat and received files")
	bob.waitFor("delivered", cardState("Alice", "send")+` === 'done'`, 30*time.Second)
	bob.checkA11yBothSchemes("a conversation with sent files, German")

	// The same conversation on a phone.
	alice.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	alice.waitFor("a phone's width", `window.innerWidth === 390`, 5*time.Second)
	alice.checkA11yBothSchemes("a conversation on a phone")
	alice.click(`.conversation:not([hidden]) .back`)
	alice.waitFor("the room on a phone", `document.getElementById('app').dataset.view === 'lobby'`, 5*time.Second)
	bob.do(chromedp.SendKeys(chromedp.CSS(conversation("Alice")+` [data-testid=chat-input]`), "Noch da?\r", chromedp.NodeVisible))
	alice.waitFor("an unread message counted", shown(member("Bob")+` .unread`), 20*time.Second)
	alice.checkA11y("the room on a phone, a message unread")

	// A private room's invitation, with its QR code, in both languages.
	for _, lang := range []string{"", "de-DE,de"} {
		carol := openIn(t, s, "/", "Carol", lang)
		carol.waitJoined()
		carol.click(`[data-testid=new-private]`)
		carol.waitFor("the invitation", `document.querySelector('[data-testid=share-dialog]').open && window.p2plobby.lobby.status === 'open'`, 15*time.Second)
		carol.checkA11yBothSchemes("a private room's invitation " + lang)
	}

	// A link with an invalid room, in both languages.
	for _, lang := range []string{"", "de-DE,de"} {
		dan := openIn(t, s, "/?room=Team%20Photos", "Dan", lang)
		dan.waitFor("the error", shown(`[data-testid=room-error]`), 15*time.Second)
		dan.checkA11yBothSchemes("an invalid room " + lang)
	}

	// The lobby server gone: the banner, while the conversation goes on.
	s.Stop()
	alice.do(chromedp.EmulateReset())
	bob.waitFor("the banner", shown(`[data-testid=offline-banner]`), 20*time.Second)
	bob.checkA11yBothSchemes("the server unreachable, German")
	alice.waitFor("the banner", shown(`[data-testid=offline-banner]`), 20*time.Second)
	alice.checkA11y("the server unreachable")
}
