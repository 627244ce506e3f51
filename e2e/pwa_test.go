package e2e

// The installed app (issue 9, item 8): a web app manifest Chromium accepts, with icons that load at the sizes it
// says; a service worker that controls the page and keeps the app shell, so that a reload while the server is down
// still shows the app; and the share target: what Android posts to /share is kept by the worker and offered in
// the app, and sending it to a person connected delivers it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// controlled is a JS expression: the app's service worker (/sw.js) controls the page.
const controlled = `navigator.serviceWorker.controller?.scriptURL === location.origin + '/sw.js'`

// appManifest is Chromium's own reading of the page's manifest (Page.getAppManifest), with its parse errors.
func (p *page) appManifest() cdppage.GetAppManifestResult {
	p.t.Helper()
	var res cdppage.GetAppManifestResult
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) (err error) {
		res, err = cdp.Call(ctx, t, cdppage.GetAppManifest, cdppage.GetAppManifestParams{})
		return err
	}))
	return res
}

// installabilityErrors are the reasons Chromium would not offer to install the page (none: it would).
func (p *page) installabilityErrors() []string {
	p.t.Helper()
	var out []string
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, cdppage.GetInstallabilityErrors, cdp.Empty{})
		for _, e := range res.InstallabilityErrors {
			out = append(out, e.ErrorID)
		}
		return err
	}))
	return out
}

// navigateResponse navigates and returns the response of the document.
func (p *page) navigateResponse(url string) *network.Response {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		p.t.Fatalf("%s: navigating to %s: %v", p.name, url, err)
	}
	return res
}

func TestPWAInstallableAndOffline(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := openPath(t, s, "/?room=pwa", visit{name: "Alice", ownBrowser: true}) // installable: a regular profile
	alice.waitJoined()

	m := alice.appManifest()
	if len(m.Errors) > 0 || m.Manifest == nil {
		t.Fatalf("Chromium reads the manifest %s with errors: %+v", m.URL, m.Errors)
	}
	if m.URL != s.URL+"/app/manifest.webmanifest" {
		t.Errorf("manifest linked at %q", m.URL)
	}
	// Chromium 156 reports enums by their C++ names ("kStandalone") and garbles the share target's enctype and
	// params in this answer; it does parse them, and drops a share target it finds invalid (a POST of files
	// must be multipart), with an error. So: no errors, a share target, and its details from the manifest's text.
	mf := m.Manifest
	enum := func(v string) string { return strings.ToLower(strings.TrimPrefix(v, "k")) }
	if mf.Name != "p2plobby" || mf.StartURL != s.URL+"/" || mf.Scope != s.URL+"/" || enum(mf.Display) != "standalone" {
		t.Errorf("manifest name %q, start_url %q, scope %q, display %q", mf.Name, mf.StartURL, mf.Scope, mf.Display)
	}
	if st := mf.ShareTarget; st == nil || st.Action != s.URL+"/share" || enum(st.Method) != "post" {
		t.Errorf("share target %+v: want a POST to /share", st)
	}
	var raw struct {
		ShareTarget struct {
			Enctype string
			Params  struct{ Files []struct{ Name string } }
		} `json:"share_target"`
	}
	if err := json.Unmarshal([]byte(m.Data), &raw); err != nil {
		t.Fatal(err)
	}
	if st := raw.ShareTarget; st.Enctype != "multipart/form-data" || len(st.Params.Files) != 1 || st.Params.Files[0].Name != "files" {
		t.Errorf("share target %+v: want multipart form data with files (sw.js reads them)", st)
	}

	// Every icon loads, at the size the manifest gives (the browser decodes it as it would for the home screen).
	var icons []struct {
		Src, Sizes, Purpose, Type string
		W, H                      int
		Error                     string
	}
	alice.eval(`(async () => {
		const m = await (await fetch(document.querySelector('link[rel=manifest]').href)).json();
		return Promise.all(m.icons.map(async (i) => {
			const res = await fetch(i.src);
			const img = new Image();
			img.src = URL.createObjectURL(await res.blob());
			try { await img.decode() } catch (e) { return { src: i.src, error: String(e) } }
			return { src: i.src, sizes: i.sizes, purpose: i.purpose ?? 'any', type: res.headers.get('content-type'), w: img.naturalWidth, h: img.naturalHeight };
		}));
	})()`, &icons)
	seen := map[string]bool{}
	for _, i := range icons {
		switch {
		case i.Error != "":
			t.Errorf("icon %s does not load: %s", i.Src, i.Error)
		case !strings.HasPrefix(i.Type, "image/"):
			t.Errorf("icon %s served as %q", i.Src, i.Type)
		case i.Sizes != "any" && i.Sizes != fmt.Sprintf("%dx%d", i.W, i.H):
			t.Errorf("icon %s is %dx%d, the manifest says %s", i.Src, i.W, i.H, i.Sizes)
		}
		seen[i.Purpose+" "+i.Sizes] = true
	}
	for _, want := range []string{"any 192x192", "any 512x512", "maskable 512x512", "any any"} {
		if !seen[want] {
			t.Errorf("no %s icon among %+v", want, icons)
		}
	}

	// The worker controls the page (from its first visit) and keeps everything the page loaded.
	alice.waitFor("the service worker controls the page", controlled, 20*time.Second)
	alice.waitFor("the app shell is in the cache", `(async () => {
		const urls = ['/', '/app/manifest.webmanifest', '/app/icons/icon-192.png', '/app/install.js',
			...performance.getEntriesByType('resource').map((e) => e.name).filter((u) => new URL(u).origin === location.origin)];
		for (const u of urls) if (!(await caches.match(u))) return false;
		return urls.length > 10;
	})()`, 20*time.Second)
	var cached []string
	alice.eval(`(async () => { const out = []; for (const n of await caches.keys()) for (const r of await (await caches.open(n)).keys()) out.push(new URL(r.url).pathname); return out })()`, &cached)
	t.Logf("cached: %v", cached)
	for _, u := range cached {
		if u == "/healthz" || u == "/ws" || u == "/sw.js" {
			t.Errorf("%s is cached", u)
		}
	}
	if errs := alice.installabilityErrors(); len(errs) > 0 {
		t.Errorf("Chromium would not install the app: %v", errs)
	}

	// The server goes away: the page reloads from the worker's cache, runs, and says the lobby is unreachable.
	s.Stop()
	res := alice.navigateResponse(s.URL + "/?room=pwa")
	if !res.FromServiceWorker || res.ServiceWorkerResponseSource != network.ServiceWorkerResponseSourceCacheStorage || res.Status != 200 {
		t.Errorf("offline reload: status %d, from service worker %v (%q), want 200 from the cache", res.Status, res.FromServiceWorker, res.ServiceWorkerResponseSource)
	}
	alice.waitFor("the app runs offline", `!!window.p2plobby?.lobby && window.p2plobby.lobby.wantRoom === 'pwa'`, 20*time.Second)
	alice.waitFor("the offline banner", shown(`[data-testid=offline-banner]`), 30*time.Second)
	alice.waitFor("its styles and icon too", `getComputedStyle(document.querySelector('.banner')).display === 'flex' &&
		!!document.querySelector('link[rel=icon]')`, 5*time.Second)
	if txt := alice.text(`#offline-text`); !strings.HasPrefix(txt, "The lobby server is unreachable.") {
		t.Errorf("offline banner says %q", txt)
	}
}

// testPhoto is a small PNG, as a phone's gallery would share.
func testPhoto(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 4), uint8(y * 5), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPWAShareTarget(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := openPath(t, s, "/", visit{name: "Alice"})
	alice.waitJoined()
	alice.waitFor("the service worker controls the page", controlled, 20*time.Second)
	bob := openPath(t, s, "/", visit{name: "Bob"})
	bob.waitJoined()

	// Sharing a photo (and a line of text) from another app: Android navigates the installed app with a
	// multipart POST to the manifest's share_target action. The app's pages post no forms (their CSP forbids
	// it), so the test posts from /healthz, which has no CSP, as the system would: a navigation to /share.
	photo := testPhoto(t)
	sum := sha256.Sum256(photo)
	alice.do(chromedp.Navigate(s.URL + "/healthz"))
	alice.eval(fmt.Sprintf(`(() => {
		const bytes = Uint8Array.from(atob(%s), (c) => c.charCodeAt(0));
		const form = document.createElement('form');
		form.method = 'post';
		form.enctype = 'multipart/form-data';
		form.action = '/share';
		const files = document.createElement('input');
		files.type = 'file';
		files.name = 'files';
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], 'photo.png', { type: 'image/png' }));
		files.files = dt.files;
		const text = document.createElement('input');
		text.name = 'text';
		text.value = 'look at this';
		form.append(files, text);
		document.body.append(form);
		setTimeout(() => form.submit());
		return true;
	})()`, jsString(base64.StdEncoding.EncodeToString(photo))), nil)
	alice.waitFor("the app offers what was shared", `location.pathname === '/' && `+shown(`[data-testid=shared-banner]`), 20*time.Second)
	alice.waitJoined()
	if got := alice.text(`[data-testid=shared-what]`); got != "1 shared file and text — choose a person to send them to" {
		t.Errorf("banner says %q", got)
	}
	if got := alice.text(`[data-testid=shared-files]`); !strings.Contains(got, "photo.png") {
		t.Errorf("banner lists %q", got)
	}

	// Kept until sent: a reload offers it again.
	alice.do(chromedp.Reload())
	alice.waitFor("offered again after a reload", shown(`[data-testid=shared-banner]`), 20*time.Second)
	alice.waitJoined()
	alice.waitFor("nobody to send to yet", `!document.querySelector('[data-testid=send-shared]')`, time.Second)

	connect(t, alice, bob)
	alice.waitFor("a button to send to Bob", shown(`[data-testid=send-shared][data-peer-name="Bob"]`), 10*time.Second)
	alice.click(`[data-testid=send-shared][data-peer-name="Bob"]`)
	alice.waitFor("the banner says it was sent", `document.querySelector('[data-testid=shared-what]')?.textContent === '1 shared file and text sent to Bob'`, 10*time.Second)
	// Handed over: the worker's copy is gone (the transfer reads the page's File, which outlives it).
	alice.waitFor("the shared cache is emptied", `(async () => !(await caches.has('p2plobby-shared')))()`, 10*time.Second)

	bob.waitChat("Alice", "look at this")
	bob.waitFor("Bob sees the offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.click(conversation("Alice") + ` [data-testid=transfer-accept]`)
	bob.waitFor("Bob received the photo", cardState("Alice", "receive")+` === 'done'`, 30*time.Second)
	got, _, n := bob.receivedHash("Alice")
	if got != hex.EncodeToString(sum[:]) || n != int64(len(photo)) {
		t.Errorf("Bob received %d bytes with SHA-256 %s, want %d bytes with %x", n, got, len(photo), sum)
	}
	var name string
	bob.eval(`[...[...window.p2plobby.lobby.peers.values()].find((p) => p.name === 'Alice').incoming.values()].at(-1).files[0].name`, &name)
	if name != "photo.png" {
		t.Errorf("received as %q, want photo.png", name)
	}

	alice.click(`[data-testid=shared-dismiss]`)
	alice.waitFor("the banner goes", `!document.querySelector('[data-testid=shared-banner]')`, 5*time.Second)
}
