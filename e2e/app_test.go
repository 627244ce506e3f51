package e2e

// The lobby app as people use it (issue 9): private rooms with a link, a QR code and the share sheet; links
// with invalid rooms; same-network discovery; unique names, avatars and renames; notifications, the tab title
// and unanswered requests; the banner when the lobby server is unreachable; the phone layout.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// visit says how a person opens the page.
type visit struct {
	name    string
	xff     string   // X-Forwarded-For on every request of the page, the WebSocket handshake included
	scripts []string // run in the page before its own scripts
	grant   []string // permissions granted to the server's origin (Browser.grantPermissions), e.g. "notifications"
	// ownBrowser starts a browser process of its own with a regular profile (browsertest.New), for what only
	// such a browser does, e.g. offer to install the app: Chromium does not in an incognito-like context.
	ownBrowser bool
}

// openPath opens a new person's tab and opens path (e.g. "/" or "/?room=x") of the server, as open does, but
// returns without waiting for the page to join (see waitJoined).
func openPath(t testing.TB, s *lobbytest.Server, path string, v visit) *page {
	t.Helper()
	p := &page{t: t, name: v.name}
	if v.ownBrowser {
		p.ctx = browsertest.New(t)
	} else {
		p.ctx = browsertest.NewShared(t)
	}
	actions := []chromedp.Action[chromedp.Void]{
		beforeScripts(fmt.Sprintf(`if (!localStorage.getItem('p2plobby.name')) localStorage.setItem('p2plobby.name', %s)`, jsString(v.name))),
	}
	for _, src := range v.scripts {
		actions = append(actions, beforeScripts(src))
	}
	if v.xff != "" {
		actions = append(actions, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"X-Forwarded-For": v.xff}})
			return err
		}))
	}
	if len(v.grant) > 0 {
		if _, err := chromedp.CallBrowser(p.ctx, grantPermissions, grantPermissionsParams{Permissions: v.grant, Origin: s.URL,
			BrowserContextID: p.browserContext()}); err != nil {
			t.Fatalf("%s: granting %v: %v", v.name, v.grant, err)
		}
	}
	p.do(append(actions, chromedp.Navigate(s.URL+path))...)
	return p
}

// Browser.grantPermissions (deprecated in the protocol in favour of setPermission, still served by Chromium;
// cdproto no longer lists it).
type grantPermissionsParams struct {
	Permissions      []string             `json:"permissions"`
	Origin           string               `json:"origin,omitempty"`
	BrowserContextID cdp.BrowserContextID `json:"browserContextId,omitempty"`
}

var grantPermissions = cdp.Command[grantPermissionsParams, cdp.Empty]{Method: "Browser.grantPermissions"}

// waitJoined waits until the page is in the lobby.
func (p *page) waitJoined() {
	p.t.Helper()
	p.waitFor("joined the lobby", `window.p2plobby?.lobby.status === 'open' && !!window.p2plobby.lobby.id`, 15*time.Second)
}

// text is the text of the first element matching sel ("" when there is none).
func (p *page) text(sel string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`document.querySelector(%s)?.textContent ?? ''`, jsString(sel)), &s)
	return s
}

// shown is a JS expression: whether the element matching sel is on screen (rendered, with a size).
func shown(sel string) string {
	return fmt.Sprintf(`(() => { const el = document.querySelector(%s); if (!el) return false;
		const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && el.checkVisibility() })()`, jsString(sel))
}

// groupIs is a JS expression: the page shows it is in the group of that kind, with that label.
func groupIs(kind, label string) string {
	return fmt.Sprintf(`(() => { const g = document.querySelector('[data-testid=group]'); return g.dataset.kind === %s && g.textContent === %s })()`,
		jsString(kind), jsString(label))
}

// decodeQR decodes the QR code in a screenshot of the element matching sel (as a phone's camera would, without
// knowing where it is), returning its text and error correction level. Like a camera, it takes up to three
// pictures: under CI load, a screenshot was once captured mid-paint (one in ~40 runs), while every complete
// picture of the code decodes.
func (p *page) decodeQR(sel string) (text, ecl string) {
	p.t.Helper()
	var err error
	for range 3 {
		p.eval(`new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))`, nil)
		var img image.Image
		if img, err = png.Decode(bytes.NewReader(p.screenshot(sel))); err != nil {
			p.t.Fatal(err)
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			p.t.Fatal(err)
		}
		res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
		if err == nil {
			return res.GetText(), fmt.Sprint(res.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL])
		}
		p.t.Logf("%s: picture of the QR code does not decode: %v", p.name, err)
	}
	p.t.Fatalf("the QR code on the page does not decode, in three pictures")
	return "", ""
}

// screenshot takes a picture of the element matching sel.
func (p *page) screenshot(sel string) []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s: screenshot of %s: %v", p.name, sel, err)
	}
	return buf
}

func TestPrivateRoomLinkQRAndShare(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	// This browser has a share sheet (a stand-in that records what it is given: desktop Linux has none).
	alice := openPath(t, s, "/", visit{name: "Alice", scripts: []string{`window.__shared = []; navigator.share = async (d) => { window.__shared.push(d) }`}})
	alice.waitJoined()

	// One tap: a new private room, joined, with its link and QR code on screen.
	alice.click(`[data-testid=new-private]`)
	alice.waitFor("in the private room, its link shown", `window.p2plobby.lobby.status === 'open' && window.p2plobby.lobby.room.startsWith('p-')
		&& document.querySelector('[data-testid=share-dialog]').open`, 15*time.Second)
	var got struct{ Room, Search, Link string }
	alice.eval(`({room: window.p2plobby.lobby.room, search: location.search, link: document.querySelector('[data-testid=share-link]').value})`, &got)
	if !regexp.MustCompile(`^p-[A-Za-z0-9_-]{22}$`).MatchString(got.Room) { // 22 base64url characters: 128 random bits
		t.Fatalf("private room %q: want p- and 22 characters of base64url (128 bits)", got.Room)
	}
	if want := s.URL + "/?room=" + got.Room; got.Link != want || got.Search != "?room="+got.Room {
		t.Fatalf("link %q and address %q, want %q", got.Link, got.Search, want)
	}
	alice.waitFor("the page says it is a private room", groupIs("private", "Private room"), time.Second)

	// The QR code, as drawn, decodes to the link.
	text, ecl := alice.decodeQR(`[data-testid=qr] svg`)
	if text != got.Link || ecl != "M" {
		t.Fatalf("the QR code decodes to %q (level %s), want %q (level M)", text, ecl, got.Link)
	}
	// The browser's share sheet gets the link.
	alice.click(`[data-testid=share-native]`)
	alice.waitFor("shared through the share sheet", `window.__shared.length === 1 && window.__shared[0].url === `+jsString(got.Link), 5*time.Second)
	alice.click(`[data-testid=share-close]`)

	// Bob opens what he scanned: he is in Alice's private room.
	bob := openPath(t, s, strings.TrimPrefix(text, s.URL), visit{name: "Bob"})
	bob.waitJoined()
	alice.waitFor("Alice sees Bob", names+` === 'Bob'`, 20*time.Second)
	bob.waitFor("Bob sees Alice", names+` === 'Alice'`, 20*time.Second)
	bob.waitFor("Bob's page says it is a private room", groupIs("private", "Private room"), time.Second)
	// Carol, on the same network (every page here comes from 127.0.0.1), does not see them.
	carol := openPath(t, s, "/", visit{name: "Carol"})
	carol.waitJoined()
	time.Sleep(300 * time.Millisecond) // give a leak a chance to show
	carol.waitFor("Carol sees nobody", names+` === ''`, time.Second)

	// Links up to a few hundred bytes, drawn by the same encoder, decode too (versions up to 13).
	for _, n := range []int{20, 60, 100, 150, 300} {
		link := "https://lobby.example.org:3333/?room=p-" + strings.Repeat("Zq3_-x9", 50)
		link = link[:n]
		var version string
		alice.eval(fmt.Sprintf(`(async () => { const { qrSvg } = await import('/app/qr.js');
			document.getElementById('qr-test')?.remove();
			const box = document.createElement('div'); box.id = 'qr-test';
			box.style.cssText = 'position: fixed; top: 0; left: 0; z-index: 100; background: #fff';
			const svg = qrSvg(%s); box.append(svg); document.body.append(box); return svg.dataset.version })()`, jsString(link)), &version)
		text, ecl := alice.decodeQR(`#qr-test svg`)
		if text != link || ecl != "M" {
			t.Errorf("%d-byte link (version %s): decodes to %q (level %s)", n, version, text, ecl)
		}
	}
}

func TestInvalidRoomLinkIsAnError(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	lee := open(t, s, "lobby", "Lee") // someone in the public lobby, where such a link used to land people

	alice := openPath(t, s, "/?room=Team%20Photos", visit{name: "Alice"})
	alice.waitFor("the error is shown", shown(`[data-testid=room-error]`), 15*time.Second)
	reason := alice.text(`[data-testid=room-error-reason]`)
	if !strings.Contains(reason, "“Team Photos” contains a space") || !strings.Contains(reason, "letters") {
		t.Errorf("reason %q: want what is wrong with “Team Photos” and the rule", reason)
	}
	alice.waitFor("the page says it is in no room", groupIs("none", "No room"), time.Second)
	time.Sleep(500 * time.Millisecond) // a join takes a few milliseconds
	var st struct {
		Status string
		ID     *string
		Search string
	}
	alice.eval(`({status: window.p2plobby.lobby.status, id: window.p2plobby.lobby.id, search: location.search})`, &st)
	if st.Status != "closed" || st.ID != nil || st.Search != "?room=Team%20Photos" {
		t.Fatalf("with an invalid room the page is %+v; want not connected, the address as it was", st)
	}
	lee.waitFor("nobody was put in the public lobby", names+` === ''`, time.Second)

	// The person chooses: the nearest valid name.
	if fix := alice.text(`[data-testid=room-error-fix]`); fix != "Join “Team-Photos” instead" {
		t.Errorf("suggestion %q", fix)
	}
	alice.click(`[data-testid=room-error-fix]`)
	alice.waitJoined()
	alice.waitFor("in room Team-Photos", `window.p2plobby.lobby.room === 'Team-Photos' && location.search === '?room=Team-Photos'
		&& document.querySelector('[data-testid=room-error]').hidden`, 5*time.Second)
	alice.waitFor("the page says so", groupIs("room", "Room “Team-Photos”"), time.Second)

	// Other reasons: a character outside the set, a name too long.
	for _, c := range []struct{ query, want string }{
		{"%40team", "“@team” contains “@”"},
		{strings.Repeat("a", 65), "It is 65 characters long"},
	} {
		alice.do(chromedp.Navigate(s.URL + "/?room=" + c.query))
		alice.waitFor("the error is shown", shown(`[data-testid=room-error]`), 15*time.Second)
		if r := alice.text(`[data-testid=room-error-reason]`); !strings.Contains(r, c.want) {
			t.Errorf("?room=%s: reason %q, want %q", c.query, r, c.want)
		}
	}
}

func TestSameNetworkDiscovery(t *testing.T) {
	skipWithoutBrowser(t)
	// The test plays a reverse proxy on 127.0.0.1: each page's X-Forwarded-For is its public address.
	s := lobbytest.Start(t, "--trusted-proxies", "127.0.0.1/32")
	alice := openPath(t, s, "/", visit{name: "Alice", xff: "203.0.113.7"})
	bob := openPath(t, s, "/", visit{name: "Bob", xff: "203.0.113.7"})
	carol := openPath(t, s, "/", visit{name: "Carol", xff: "198.51.100.9"})
	for _, p := range []*page{alice, bob, carol} {
		p.waitJoined()
	}
	alice.waitFor("Alice sees Bob, on her network", names+` === 'Bob'`, 20*time.Second)
	bob.waitFor("Bob sees Alice, on his network", names+` === 'Alice'`, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	carol.waitFor("Carol, elsewhere, sees nobody", names+` === ''`, time.Second)
	for _, p := range []*page{alice, carol} {
		p.waitFor("the page says it is the network's group", groupIs("network", "Your network")+
			` && document.querySelector('[data-testid=members-heading]').textContent === 'People on your network'
			&& window.p2plobby.lobby.network && window.p2plobby.lobby.room.startsWith('net-') && location.search === ''`, time.Second)
	}

	// A named room is a tap away, and so is the way back.
	alice.do(chromedp.SendKeys(chromedp.CSS(`[data-testid=room-input]`), "team\r", chromedp.NodeVisible))
	alice.waitFor("in room team", `window.p2plobby.lobby.status === 'open' && window.p2plobby.lobby.room === 'team' && location.search === '?room=team'`, 10*time.Second)
	alice.waitFor("alone there", names+` === ''`, 5*time.Second)
	alice.waitFor("the page says it is room team", groupIs("room", "Room “team”"), time.Second)
	bob.waitFor("Bob no longer sees Alice", names+` === ''`, 10*time.Second)
	alice.click(`[data-testid=go-network]`)
	alice.waitFor("back on her network, with Bob", names+` === 'Bob' && location.search === ''`, 10*time.Second)
	alice.waitFor("the page says so", groupIs("network", "Your network"), time.Second)

	// The forwarded address counts only from a trusted proxy: without --trusted-proxies, all three pages come
	// from 127.0.0.1 and are one network.
	s2 := lobbytest.Start(t)
	d := openPath(t, s2, "/", visit{name: "Dan", xff: "203.0.113.7"})
	e := openPath(t, s2, "/", visit{name: "Eve", xff: "198.51.100.9"})
	d.waitJoined()
	e.waitJoined()
	d.waitFor("Dan sees Eve: the header was not trusted", names+` === 'Eve'`, 20*time.Second)
}

func TestNetworkRoomsOff(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--network-rooms=false")
	lee := open(t, s, "lobby", "Lee")
	alice := openPath(t, s, "/", visit{name: "Alice"})
	alice.waitJoined()
	alice.waitFor("the page says it is the public lobby", groupIs("lobby", "Public lobby")+
		` && document.querySelector('[data-testid=members-heading]').textContent === 'In the public lobby'`, 5*time.Second)
	alice.waitFor("with the people there", names+` === 'Lee'`, 10*time.Second)
	lee.waitFor("Lee sees Alice", names+` === 'Alice'`, 10*time.Second)
}

func TestUniqueNamesAvatarsAndRename(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "names", "Alice")
	alice2 := open(t, s, "names", "Alice")
	bob := open(t, s, "names", "Bob")

	// The server settles the clash; each page says who it is.
	alice.waitFor("You are Alice", `document.querySelector('[data-testid=self-name]').textContent === 'You are Alice'`, 5*time.Second)
	alice2.waitFor("You are Alice (2)", `document.querySelector('[data-testid=self-name]').textContent === 'You are Alice (2)'`, 5*time.Second)
	bob.waitFor("Bob sees both Alices", names+` === 'Alice,Alice (2)'`, 20*time.Second)

	// Avatars come from the member: the colour from its id, the letters from its name, so the two differ.
	var avatars []struct {
		Name, ID, Initials, Hue string
		Want                    int
	}
	bob.eval(`(async () => { const { hue } = await import('/app/dom.js');
		return [...document.querySelectorAll('li[data-testid=member]')].map((li) => { const a = li.querySelector('.avatar');
			return {name: li.dataset.name, id: li.dataset.memberId, initials: a.textContent, hue: a.style.getPropertyValue('--h'), want: hue(li.dataset.memberId)} }) })()`, &avatars)
	if len(avatars) != 2 || avatars[0].Initials == avatars[1].Initials || avatars[0].ID == avatars[1].ID {
		t.Fatalf("avatars of the two Alices: %+v, want different letters", avatars)
	}
	for _, a := range avatars {
		if a.Hue != fmt.Sprint(a.Want) {
			t.Errorf("avatar of %s has hue %s, want %d from its id", a.Name, a.Hue, a.Want)
		}
	}

	// Bob renames while connected to Alice: a note in her conversation, not a leave and a join.
	connect(t, bob, alice)
	var bobID string
	bob.eval(`window.p2plobby.lobby.id`, &bobID)
	alice.eval(`(() => { window.__events = []; for (const k of ['join', 'leave', 'rename']) window.p2plobby.lobby.on(k, (m) => window.__events.push(k + ':' + m.name)); return true })()`, nil)
	bob.eval(`document.querySelector('[data-testid=name-input]').value = ''`, nil)
	bob.do(chromedp.SendKeys(chromedp.CSS(`[data-testid=name-input]`), "Robert\r"))
	alice.waitFor("the rename note", fmt.Sprintf(`document.querySelector(%s)?.textContent === 'Bob is now Robert'`,
		jsString(conversation("Robert")+` [data-testid=rename-note]`)), 10*time.Second)
	bob.waitFor("You are Robert", `document.querySelector('[data-testid=self-name]').textContent === 'You are Robert'`, 5*time.Second)
	var after struct {
		Events []string
		Row    string
		ID     string
		Ends   int
	}
	alice.eval(fmt.Sprintf(`({events: window.__events, row: %s, id: document.querySelector(%s)?.dataset.memberId ?? '',
		ends: document.querySelectorAll(%s).length})`, rowState("Robert"), jsString(member("Robert")),
		jsString(conversation("Robert")+` [data-testid=end-reason]`)), &after)
	if fmt.Sprint(after.Events) != "[rename:Robert]" || after.Row != "connected" || after.ID != bobID || after.Ends != 0 {
		t.Fatalf("after Bob's rename Alice has %+v; want one rename event, still connected, same member %s", after, bobID)
	}
	var sameID bool
	bob.eval(`window.p2plobby.lobby.id === `+jsString(bobID), &sameID)
	if !sameID {
		t.Error("Bob's member id changed: the rename was a rejoin")
	}
	bob.chat("Alice", "still me")
	alice.waitChat("Robert", "still me")

	// A rename to a taken name is made unique too.
	alice2.eval(`document.querySelector('[data-testid=name-input]').value = ''`, nil)
	alice2.do(chromedp.SendKeys(chromedp.CSS(`[data-testid=name-input]`), "Robert\r"))
	alice2.waitFor("You are Robert (2)", `document.querySelector('[data-testid=self-name]').textContent === 'You are Robert (2)'`, 10*time.Second)
	alice.waitFor("Alice sees Robert (2)", names+` === 'Robert,Robert (2)'`, 10*time.Second)
}

// watchNotifications records, before the app loads, every notification raised (and whether it was closed)
// and every permission request.
const watchNotifications = `(() => {
	window.__notes = []; window.__asks = 0;
	const Real = window.Notification;
	class Watched extends Real {
		constructor(title, opts) {
			const rec = { title, body: opts?.body ?? '', closed: false };
			window.__notes.push(rec);
			super(title, opts);
			const close = this.close.bind(this);
			this.close = () => { rec.closed = true; close(); };
		}
		static requestPermission() { window.__asks++; return Promise.resolve(Real.permission); }
	}
	window.Notification = Watched;
})()`

// awayFromPage: the person is in another window (the page does not have the focus).
const awayFromPage = `document.hasFocus = () => false`

func TestRequestNotificationTitleAndTimeout(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := openPath(t, s, "/?room=attention", visit{name: "Alice", scripts: []string{watchNotifications}})
	bob := openPath(t, s, "/?room=attention", visit{name: "Bob", scripts: []string{watchNotifications, awayFromPage}, grant: []string{"notifications"}})
	alice.waitJoined()
	bob.waitJoined()
	for _, p := range []*page{alice, bob} {
		var asks int
		p.eval(`window.__asks`, &asks)
		if asks != 0 {
			t.Fatalf("%s's page asked for notifications on load", p.name)
		}
		p.eval(`window.p2plobby.lobby.requestTimeout = 4000`, nil) // instead of a minute
	}
	alice.waitFor("Alice is offered to turn notifications on", shown(`[data-testid=notify-on]`), 5*time.Second)

	// Alice asks (her first action: now the page asks her about notifications); Bob, elsewhere, is notified.
	alice.waitFor("Alice sees Bob", rowState("Bob")+` === 'idle'`, 20*time.Second)
	asked := time.Now()
	alice.click(member("Bob") + ` [data-testid=request]`)
	alice.waitFor("asked about notifications at her first action", `window.__asks === 1`, 5*time.Second)
	bob.waitFor("a notification", `window.__notes.some((n) => n.title === 'Alice wants to connect' && !n.closed)`, 10*time.Second)
	bob.waitFor("the tab's title counts it", `document.title === '(1) Room “attention” · p2plobby'`, 5*time.Second)

	// Unanswered, the request stays until the timeout, then both sides say so, once.
	time.Sleep(time.Until(asked.Add(2 * time.Second)))
	bob.waitFor("the request is still there after 2 s", shown(`[data-testid=request-banner]`), time.Second)
	alice.waitFor("Alice's request is withdrawn", rowState("Bob")+` === 'closed'`, 10*time.Second)
	if waited := time.Since(asked); waited < 3500*time.Millisecond {
		t.Errorf("withdrawn after %v, want the 4 s timeout", waited)
	}
	bob.waitFor("the banner is gone", `!document.querySelector('[data-testid=request-banner]')`, 5*time.Second)
	for _, c := range []struct {
		p          *page
		other, say string
	}{
		{alice, "Bob", "Bob did not answer within 4 s: the request was withdrawn."},
		{bob, "Alice", "Alice's request expired: no answer within 4 s."},
	} {
		c.p.waitFor("the note", fmt.Sprintf(`document.querySelector(%s)?.textContent === %s`,
			jsString(conversation(c.other)+` [data-testid=end-reason]`), jsString(c.say)), 5*time.Second)
		var times int
		c.p.eval(fmt.Sprintf(`document.querySelector(%s).textContent.split(%s).length - 1`, jsString(conversation(c.other)), jsString(c.say)), &times)
		if times != 1 {
			t.Errorf("%s's conversation says %q %d times, want once", c.p.name, c.say, times)
		}
	}
	bob.waitFor("the notification is withdrawn, the title back", `window.__notes[0].closed && document.title === 'Room “attention” · p2plobby'`, 5*time.Second)

	// A file offer notifies too, and counts in the title until answered.
	alice.click(member("Bob") + ` [data-testid=request]`)
	bob.waitFor("Bob sees the new request", rowState("Alice")+` === 'incoming'`, 10*time.Second)
	bob.click(member("Alice") + ` [data-testid=accept]`)
	alice.waitFor("connected", rowState("Bob")+` === 'connected'`, 20*time.Second)
	bob.waitFor("connected", rowState("Alice")+` === 'connected'`, 20*time.Second)
	path, _ := randomFile(t, "holiday.jpg", 100<<10)
	alice.sendFiles("Bob", path)
	bob.waitFor("a notification", `window.__notes.some((n) => n.title === 'Alice wants to send you “holiday.jpg”' && !n.closed)`, 10*time.Second)
	bob.waitFor("the tab's title counts it", `document.title === '(1) Room “attention” · p2plobby'`, 5*time.Second)
	bob.waitFor("offer", cardState("Alice", "receive")+` === 'offered'`, 5*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("answered: the notification is withdrawn, the title back", `window.__notes.at(-1).closed && document.title === 'Room “attention” · p2plobby'`, 10*time.Second)
	var notes int
	alice.eval(`window.__notes.length`, &notes)
	if notes != 0 {
		t.Errorf("Alice, looking at the page, got %d notifications", notes)
	}
}

func TestOfflineBannerAndRetryNow(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "offline", "Alice")
	bob := open(t, s, "offline", "Bob")
	connect(t, alice, bob)
	alice.waitFor("no banner while online", `document.querySelector('[data-testid=offline-banner]').hidden`, time.Second)
	// A slow backoff on Alice's page, so that only "Retry now" can bring it back soon.
	alice.eval(`(() => { const s = window.p2plobby.lobby.signaling; s.minBackoff = s.maxBackoff = 120000; return true })()`, nil)

	s.Stop()
	alice.waitFor("the banner", shown(`[data-testid=offline-banner]`), 20*time.Second)
	banner := alice.text(`#offline-text`)
	if m := regexp.MustCompile(`^The lobby server is unreachable\. Open conversations still work.*Trying again in (\d+) s\.$`).FindStringSubmatch(banner); m == nil || len(m[1]) < 2 {
		t.Errorf("banner %q: want unreachable, open conversations still work, and the next attempt in a minute or more", banner)
	}
	alice.waitFor("with Retry now", shown(`[data-testid=retry-now]`), time.Second)
	// Which is true.
	alice.chat("Bob", "no server needed")
	bob.waitChat("Alice", "no server needed")

	lobbytest.Start(t, "--addr", s.Addr)
	time.Sleep(time.Second)
	alice.waitFor("still waiting for its next attempt", `window.p2plobby.lobby.status !== 'open'`, time.Second)
	alice.click(`[data-testid=retry-now]`)
	alice.waitFor("back at once, no banner", `window.p2plobby.lobby.status === 'open' && document.querySelector('[data-testid=offline-banner]').hidden`, 5*time.Second)
	alice.waitFor("Bob is listed again", rowState("Bob")+` === 'connected'`, 20*time.Second)
}

// smallTargets is a JS expression listing the controls on screen smaller than 44 × 44 px (a checkbox counts
// by its label).
const smallTargets = `[...document.querySelectorAll('button, input, select, textarea, summary, a[href], label:has(input[type=checkbox])')]
	.filter((el) => el.type !== 'checkbox' && el.type !== 'file' && el.checkVisibility())
	.map((el) => { const r = el.getBoundingClientRect(); return {what: el.dataset.testid || el.id || el.textContent.trim().slice(0, 24), w: Math.round(r.width), h: Math.round(r.height)} })
	.filter((x) => x.w > 0 && x.h > 0 && (x.w < 44 || x.h < 44))`

func TestMobileLayout(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "phone", "Alice")
	bob := open(t, s, "phone", "Bob")
	alice.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	alice.waitFor("a phone's width", `window.innerWidth === 390`, 5*time.Second)
	alice.waitFor("Alice sees Bob", rowState("Bob")+` === 'idle'`, 20*time.Second)

	// The room and name controls are folded away; the group and who you are stay in view.
	alice.waitFor("controls folded", `!`+shown(`[data-testid=controls]`)+` && `+shown(`[data-testid=controls-toggle]`)+
		` && `+shown(`[data-testid=group]`)+` && `+shown(`[data-testid=self-name]`), 5*time.Second)
	checkTargets := func(where string) {
		t.Helper()
		var small []map[string]any
		alice.eval(smallTargets, &small)
		if len(small) > 0 {
			t.Errorf("%s: touch targets under 44 px: %v", where, small)
		}
	}
	checkTargets("the room, folded")
	alice.click(`[data-testid=controls-toggle]`)
	alice.waitFor("controls unfolded", shown(`[data-testid=room-input]`)+` && `+shown(`[data-testid=name-input]`), 5*time.Second)
	checkTargets("the room, controls unfolded")
	alice.click(`[data-testid=controls-toggle]`)
	alice.waitFor("folded again", `!`+shown(`[data-testid=controls]`), 5*time.Second)

	// A conversation has the screen.
	connect(t, alice, bob)
	alice.waitFor("the conversation is open", `document.getElementById('app').dataset.view === 'chat'`, 5*time.Second)
	var layout struct {
		Members          bool
		Width, Height, Y float64
		Composer         bool
	}
	alice.eval(fmt.Sprintf(`(() => { const c = document.querySelector(%s).getBoundingClientRect();
		return {members: %s, width: c.width, height: c.height, y: c.top, composer: %s} })()`,
		jsString(conversation("Bob")), shown(`.members`), shown(conversation("Bob")+` [data-testid=chat-input]`)), &layout)
	if layout.Members || layout.Width < 380 || layout.Height < 0.8*844 || !layout.Composer {
		t.Errorf("conversation on a phone: %+v; want the member list hidden, the conversation ≥ 380 px wide and ≥ 80%% of the height", layout)
	}
	checkTargets("a conversation")
	alice.do(chromedp.SendKeys(chromedp.CSS(conversation("Bob")+` [data-testid=chat-input]`), "from my phone\r", chromedp.NodeVisible))
	bob.waitChat("Alice", "from my phone")
}
