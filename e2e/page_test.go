package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// page is one person: a tab in a browser context of its own (see browsertest.NewShared) with the lobby page open.
type page struct {
	t    testing.TB
	ctx  context.Context
	name string
}

// open opens a new person's tab, sets the remembered name (as the page would after a previous visit) and opens
// the room. It returns once the page has joined the lobby.
func open(t testing.TB, s *lobbytest.Server, room, name string) *page {
	t.Helper()
	p := &page{t: t, ctx: browsertest.NewShared(t), name: name}
	// The name the page remembers from an earlier visit, set before the app's scripts run.
	p.do(beforeScripts(fmt.Sprintf(`if (!localStorage.getItem('p2plobby.name')) localStorage.setItem('p2plobby.name', %s)`, jsString(name))),
		chromedp.Navigate(s.URL+"/?room="+url.QueryEscape(room)))
	p.waitFor("joined the lobby", `window.p2plobby?.lobby.status === 'open' && !!window.p2plobby.lobby.id`, 15*time.Second)
	return p
}

// openOwn is open with a browser process of its own and a regular profile (see visit.ownBrowser). The
// measurements and the largest transfer use it so that received files go to OPFS on disk, as for a real person
// (an incognito-like browser context keeps them in memory); a process with one person saves the browser context.
func openOwn(t testing.TB, s *lobbytest.Server, room, name string) *page {
	t.Helper()
	p := openPath(t, s, "/?room="+url.QueryEscape(room), visit{name: name, ownBrowser: true})
	p.waitJoined()
	return p
}

// browserContext is the id of the person's browser context, for the browser-wide commands about the person
// (without it they would apply to the shared browser's default context, nobody's); "" for a person with a
// browser of its own, whose default context is theirs.
func (p *page) browserContext() cdp.BrowserContextID {
	return chromedp.FromContext(p.ctx).BrowserContextID
}

// beforeScripts runs src in every new document of the tab before the page's own scripts.
func beforeScripts(src string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return chromedp.Void{}, err
	}
}

// do runs chromedp actions, failing the test on error.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval evaluates a JS expression (awaiting a promise) and decodes its JSON value into out (if not nil).
func (p *page) eval(expr string, out any) {
	p.t.Helper()
	if err := p.tryEval(expr, out); err != nil {
		p.t.Fatalf("%s: eval %q: %v", p.name, short(expr), err)
	}
}

func (p *page) tryEval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](
		`(async () => JSON.stringify(await (async () => (`+expr+`))()) ?? 'null')()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(s), out)
}

// waitFor polls a JS expression until it is truthy.
func (p *page) waitFor(what, expr string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last any
	for {
		err := p.tryEval(expr, &last)
		if err == nil && truthy(last) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: timed out after %v waiting until %s (last value %v, error %v)\n  %s", p.name, timeout, what, last, err, short(expr))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click clicks the first element matching a CSS selector, once it is visible. The page rebuilds some elements
// on every change (the rows of the member list), so the element found can be replaced before the click: then
// it clicks the new one, where a person's click would have landed too.
func (p *page) click(sel string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	for {
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
		if err == nil {
			return
		}
		// The click's mouse events go out only after the node's last use, so a replaced node means no click yet.
		var cerr *cdproto.Error
		if !errors.As(err, &cerr) || cerr.Message != "Could not find node with given id" || ctx.Err() != nil {
			p.t.Fatalf("%s: clicking %s: %v", p.name, sel, err)
		}
	}
}

// member is the selector of the row of the person with that name in the member list.
func member(name string) string {
	return fmt.Sprintf(`li[data-testid=member][data-name=%s]`, jsString(name))
}

// conversation is the selector of the conversation pane with that person.
func conversation(name string) string {
	return fmt.Sprintf(`section[data-testid=conversation][data-peer-name=%s]`, jsString(name))
}

// rowState is a JS expression for the state shown in the member row of name ("" when absent).
func rowState(name string) string {
	return fmt.Sprintf(`(document.querySelector(%s)?.dataset.state ?? '')`, jsString(member(name)))
}

// connect makes a request from a to b, b accepts, and both wait until connected.
func connect(t testing.TB, a, b *page) {
	t.Helper()
	a.waitFor(a.name+" sees "+b.name, rowState(b.name)+` === 'idle'`, 20*time.Second)
	a.click(member(b.name) + ` [data-testid=request]`)
	b.waitFor(b.name+" sees the request", rowState(a.name)+` === 'incoming'`, 20*time.Second)
	b.click(member(a.name) + ` [data-testid=accept]`)
	for _, p := range []*page{a, b} {
		other := b.name
		if p == b {
			other = a.name
		}
		p.waitFor("connected to "+other, rowState(other)+` === 'connected'`, 30*time.Second)
	}
}

// chat sends text to the named peer from its open conversation, typing like a person.
func (p *page) chat(to, text string) {
	p.t.Helper()
	conv := conversation(to)
	input := conv + ` [data-testid=chat-input]`
	shown := fmt.Sprintf(`(() => { const el = document.querySelector(%s); return !!el && el.offsetParent !== null })()`, jsString(input))
	// A click lands where the button was when its box was read: if the list moved meanwhile (another row
	// changed state on a loaded machine), it opened something else, and a person would click again.
	for attempt := 1; ; attempt++ {
		p.click(member(to) + ` [data-testid=open]`)
		deadline := time.Now().Add(5 * time.Second)
		var ok bool
		for time.Now().Before(deadline) {
			if p.tryEval(shown, &ok) == nil && ok {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if ok {
			break
		}
		if attempt == 3 {
			p.t.Fatalf("%s: the conversation with %s did not open after 3 clicks", p.name, to)
		}
	}
	p.do(chromedp.SendKeys(chromedp.CSS(input), text+"\r", chromedp.NodeVisible))
}

// waitChat waits until the conversation with from shows a message with text from them.
func (p *page) waitChat(from, text string) {
	p.t.Helper()
	expr := fmt.Sprintf(`[...document.querySelectorAll(%s)].some(m => m.querySelector('.text').textContent === %s)`,
		jsString(conversation(from)+` [data-testid=chat-message][data-from=peer]`), jsString(text))
	p.waitFor(fmt.Sprintf("message %q from %s", text, from), expr, 20*time.Second)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	default:
		return true
	}
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
