package e2e

// Received files are never lost, and files are sent the way people send them (issue 9, items 4 and 5): folders
// keep their layout, paste sends, many files are accepted at once or without asking, previews, Save all, saving
// automatically, the warning before leaving with unsaved files, and the visible cleanup of stale stored files.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

// folderTree writes files (slash paths relative to a new temp dir, e.g. "holiday/photos/a.jpg") and returns
// the temp dir.
func folderTree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, body := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// sendFolder picks a folder in the conversation with to, as a person would with the folder dialog.
func (p *page) sendFolder(to, dir string) {
	p.t.Helper()
	p.click(member(to) + ` [data-testid=open]`)
	p.do(chromedp.SetUploadFiles(chromedp.CSS(conversation(to)+` [data-testid=folder-input]`), []string{dir}))
}

// receivedFiles returns, for the last transfer received from name, "path/name" → content of each stored file,
// read back from what the SDK stored.
func (p *page) receivedFiles(from string) map[string]string {
	p.t.Helper()
	var out map[string]string
	p.eval(fmt.Sprintf(`(async () => {
		const peer = [...window.p2plobby.lobby.peers.values()].find(p => p.name === %s);
		const t = [...peer.incoming.values()].at(-1);
		const out = {};
		for (const r of t.results) out[(r.path ? r.path + '/' : '') + r.name] = await r.file.text();
		return out;
	})()`, jsString(from)), &out)
	return out
}

// shownFiles lists "path/name" of the received files the last card from name shows (data-path, data-name).
func (p *page) shownFiles(from string) []string {
	p.t.Helper()
	var out []string
	p.eval(fmt.Sprintf(`[...[...document.querySelectorAll(%s)].at(-1).querySelectorAll('[data-testid=transfer-file]')]
		.map(li => (li.dataset.path ? li.dataset.path + '/' : '') + li.dataset.name)`,
		jsString(conversation(from)+` [data-testid=transfer][data-direction=receive]`)), &out)
	sort.Strings(out)
	return out
}

// opfsTree is a JS expression listing every file under the OPFS folder of received files, as slash paths.
const opfsTree = `(async () => { const out = [];
	const walk = async (dir, prefix) => { for await (const [name, h] of dir.entries()) {
		if (h.kind === 'file') out.push(prefix + name); else await walk(h, prefix + name + '/'); } };
	await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle('p2plobby-received', { create: true }), '');
	return out.sort(); })()`

var holiday = map[string]string{
	"holiday/notes.txt":          "packing list",
	"holiday/photos/a.jpg":       "not really a jpeg",
	"holiday/photos/2024/b.jpg":  "another one",
	"holiday/photos/2024/e.txt":  "",
	"holiday/docs/ünï ✓/read.md": "# unicode folder",
}

func holidayNames() []string {
	var names []string
	for k := range holiday {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// TestFolderPageToPage: a folder picked in one page arrives in the other with its layout, as one offer that
// is accepted once; the receiver stores each file under its folder path (in OPFS too).
func TestFolderPageToPage(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "folders", "Alice")
	bob := open(t, s, "folders", "Bob")
	connect(t, alice, bob)

	root := folderTree(t, holiday)
	alice.sendFolder("Bob", filepath.Join(root, "holiday"))
	bob.waitFor("the folder offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	var title string
	bob.eval(fmt.Sprintf(`[...document.querySelectorAll(%s)].at(-1).querySelector('.ttitle').textContent`,
		jsString(conversation("Alice")+` [data-testid=transfer]`)), &title)
	if title != "holiday · 5 files" {
		t.Errorf("the offer is titled %q, want the folder and its number of files", title)
	}
	var offers int
	bob.eval(fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(conversation("Alice")+` [data-testid=transfer]`)), &offers)
	if offers != 1 {
		t.Errorf("%d offers for one folder, want 1", offers)
	}
	bob.clickLastCard("Alice", "receive", "transfer-accept") // once, for every file
	bob.waitFor("the folder arrived", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	alice.waitFor("delivered", cardState("Bob", "send")+` === 'done'`, 10*time.Second)

	if got := bob.receivedFiles("Alice"); !maps.Equal(got, holiday) {
		t.Errorf("received %q, want %q", got, holiday)
	}
	if got := bob.shownFiles("Alice"); !slices.Equal(got, holidayNames()) {
		t.Errorf("the card shows %q, want %q", got, holidayNames())
	}
	// In OPFS, under <session>.<transfer id>/ with the folder's layout.
	var stored []string
	bob.eval(opfsTree, &stored)
	var rel []string
	for _, p := range stored {
		if _, after, ok := strings.Cut(p, "/"); ok {
			rel = append(rel, after)
		}
	}
	sort.Strings(rel)
	if !slices.Equal(rel, holidayNames()) {
		t.Errorf("OPFS holds %q, want each file under its folder path", stored)
	}

	// The same folder dropped from the desktop (a real drag of the directory, through the browser's input).
	alice.dropPaths("Bob", filepath.Join(root, "holiday"))
	bob.waitFor("the dropped folder's offer", fmt.Sprintf(`document.querySelectorAll(%s).length === 2`,
		jsString(conversation("Alice")+` [data-testid=transfer]`)), 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("the dropped folder arrived", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	if got := bob.receivedFiles("Alice"); !maps.Equal(got, holiday) {
		t.Errorf("dropped folder received as %q, want %q", got, holiday)
	}
}

// dropPaths drags files or folders from disk onto the conversation with to and drops them, through the
// browser's own drag and drop (CDP Input.dispatchDragEvent), as from a file manager.
func (p *page) dropPaths(to string, paths ...string) {
	p.t.Helper()
	p.click(member(to) + ` [data-testid=open]`)
	var at struct{ X, Y float64 }
	p.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%s).getBoundingClientRect();
		return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()`, jsString(conversation(to)+` [data-testid=chat-log]`)), &at)
	data := &input.DragData{Items: []*input.DragDataItem{}, Files: paths, DragOperationsMask: 1}
	p.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			if _, err := cdp.Call(ctx, tg, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: at.X, Y: at.Y, Data: data}); err != nil {
				return chromedp.Void{}, err
			}
		}
		return chromedp.Void{}, nil
	})
}

// paste puts text or a PNG image (made in the page) on the clipboard and presses Ctrl+V, as a person would;
// focusChat says whether the message box has the focus, else nothing does.
func (p *page) paste(to, text string, pngSide int, focusChat bool) {
	p.t.Helper()
	p.click(member(to) + ` [data-testid=open]`)
	origin := ""
	p.eval(`location.origin`, &origin)
	p.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{Origin: origin,
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted,
				BrowserContextID: p.browserContext()}); err != nil {
				return chromedp.Void{}, err
			}
		}
		return chromedp.Void{}, nil
	})
	if focusChat {
		p.click(conversation(to) + ` [data-testid=chat-input]`)
	} else {
		p.eval(`document.activeElement?.blur()`, nil)
	}
	if pngSide > 0 {
		p.eval(fmt.Sprintf(`(async () => {
			const c = new OffscreenCanvas(%d, %d); const g = c.getContext('2d');
			g.fillStyle = '#3a7'; g.fillRect(0, 0, c.width, c.height);
			await navigator.clipboard.write([new ClipboardItem({ 'image/png': await c.convertToBlob({ type: 'image/png' }) })]);
		})()`, pngSide, pngSide), nil)
	} else {
		p.eval(fmt.Sprintf(`navigator.clipboard.writeText(%s)`, jsString(text)), nil)
	}
	p.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			params := input.DispatchKeyEventParams{Type: typ, Modifiers: 2, Key: "v", Code: "KeyV", WindowsVirtualKeyCode: 86}
			if typ == input.DispatchKeyEventTypeRawKeyDown {
				params.Commands = []string{"paste"}
			}
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, params); err != nil {
				return chromedp.Void{}, err
			}
		}
		return chromedp.Void{}, nil
	})
}

// TestPasteSends: Ctrl+V in a conversation sends what was copied: text as a chat message, an image as a file
// offer (which the other side previews once received), text longer than a message may be as a text file. Text
// pasted into the message box stays there until sent.
func TestPasteSends(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "paste", "Alice")
	bob := open(t, s, "paste", "Bob")
	connect(t, alice, bob)

	alice.paste("Bob", "copied from somewhere ✓", 0, false)
	bob.waitChat("Alice", "copied from somewhere ✓")

	alice.paste("Bob", "", 48, false)
	bob.waitFor("the pasted image's offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	var offered struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	bob.eval(`(() => { const f = [...[...window.p2plobby.lobby.peers.values()][0].incoming.values()].at(-1).files[0]; return { name: f.name, type: f.type }; })()`, &offered)
	if offered.Type != "image/png" || !strings.HasSuffix(offered.Name, ".png") {
		t.Errorf("pasted image offered as %+v", offered)
	}
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("the image arrived and is previewed", fmt.Sprintf(`(() => { const img = [...document.querySelectorAll(%s)].at(-1).querySelector('[data-testid=preview][data-kind=image] img');
		return img?.complete && img.naturalWidth === 48; })()`, jsString(conversation("Alice")+` [data-testid=transfer]`)), 20*time.Second)

	long := strings.Repeat("0123456789abcdef", 1100) // 17.6 KB: more than a message may be
	alice.paste("Bob", long, 0, false)
	bob.waitFor("the long text's offer", fmt.Sprintf(`[...document.querySelectorAll(%s)].at(-1).querySelector('.ttitle').textContent === 'pasted text.txt'`,
		jsString(conversation("Alice")+` [data-testid=transfer]`)), 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("the long text arrived", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	if got := bob.receivedFiles("Alice"); got["pasted text.txt"] != long {
		t.Errorf("long pasted text arrived as %d bytes", len(got["pasted text.txt"]))
	}

	// Into the message box: the text waits there, and Enter sends it.
	alice.paste("Bob", "typed later", 0, true)
	var box string
	alice.waitFor("the text is in the message box", fmt.Sprintf(`document.querySelector(%s).value === 'typed later'`,
		jsString(conversation("Bob")+` [data-testid=chat-input]`)), 5*time.Second)
	alice.eval(fmt.Sprintf(`document.querySelector(%s).value`, jsString(conversation("Bob")+` [data-testid=chat-input]`)), &box)
	var chats int
	bob.eval(fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(conversation("Alice")+` [data-testid=chat-message]`)), &chats)
	if chats != 1 {
		t.Errorf("pasting into the message box sent it (%d messages)", chats)
	}
	alice.do(chromedp.SendKeys(chromedp.CSS(conversation("Bob")+` [data-testid=chat-input]`), "\r"))
	bob.waitChat("Alice", "typed later")
}

// makeMediaJS is a JS expression that makes sample files in the page: an image, a sound, a short video,
// text, markup (HTML, SVG) that must never be rendered, a binary, and markup claiming to be an image.
const makeMediaJS = `(async () => {
	const png = await (() => { const c = new OffscreenCanvas(64, 40); const g = c.getContext('2d');
		g.fillStyle = '#c33'; g.fillRect(0, 0, 64, 40); return c.convertToBlob({ type: 'image/png' }); })();
	const rate = 8000, n = 4000, wav = new DataView(new ArrayBuffer(44 + n * 2));
	const put = (o, s) => [...s].forEach((ch, i) => wav.setUint8(o + i, ch.charCodeAt(0)));
	put(0, 'RIFF'); wav.setUint32(4, 36 + n * 2, true); put(8, 'WAVE'); put(12, 'fmt '); wav.setUint32(16, 16, true);
	wav.setUint16(20, 1, true); wav.setUint16(22, 1, true); wav.setUint32(24, rate, true); wav.setUint32(28, rate * 2, true);
	wav.setUint16(32, 2, true); wav.setUint16(34, 16, true); put(36, 'data'); wav.setUint32(40, n * 2, true);
	for (let i = 0; i < n; i++) wav.setInt16(44 + i * 2, Math.sin(i / 4) * 8000, true);
	const canvas = document.createElement('canvas'); canvas.width = 32; canvas.height = 24;
	const g = canvas.getContext('2d'); let frame = 0;
	const draw = setInterval(() => { g.fillStyle = frame++ % 2 ? '#36c' : '#fc3'; g.fillRect(0, 0, 32, 24); }, 30);
	const rec = new MediaRecorder(canvas.captureStream(30), { mimeType: 'video/webm;codecs=vp8' });
	const parts = []; rec.ondataavailable = (e) => parts.push(e.data);
	const stopped = new Promise((r) => { rec.onstop = r; });
	rec.start(); await new Promise((r) => setTimeout(r, 700)); rec.stop(); await stopped; clearInterval(draw);
	window.__media = [
		new File([png], 'photo.png', { type: 'image/png' }),
		new File([wav.buffer], 'tone.wav', { type: 'audio/wav' }),
		new File(parts, 'clip.webm', { type: 'video/webm' }),
		new File(['first line\nsecond <b>not bold</b> ✓'], 'notes.txt', { type: 'text/plain' }),
		new File(['<!doctype html><script>parent.document.title = "owned"</script><h1>hi</h1>'], 'page.html', { type: 'text/html' }),
		new File(['<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=1"><script>document.title = "owned"</script></svg>'], 'drawing.svg', { type: 'image/svg+xml' }),
		new File([new Uint8Array([0, 1, 2, 3, 255])], 'data.bin', { type: 'application/octet-stream' }),
		new File(['<html><script>alert(1)</script>'], 'fake.png', { type: 'image/png' }),
	];
	return window.__media.map((f) => f.size);
})()`

// dropMade drops the files window.__media holds on the conversation with to (a DataTransfer made in the page).
func (p *page) dropMade(to string) {
	p.t.Helper()
	p.click(member(to) + ` [data-testid=open]`)
	p.eval(fmt.Sprintf(`(() => { const dt = new DataTransfer(); for (const f of window.__media) dt.items.add(f);
		document.querySelector(%s).dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); })()`,
		jsString(conversation(to))), nil)
}

// TestPreviews: received images, audio, video and text are previewed in the card; the elements get a Blob of
// the media type only (the stored file stays application/octet-stream), markup (HTML, SVG) is shown as text and
// never rendered, and a file that is not what it claims shows no preview.
func TestPreviews(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "previews", "Alice")
	bob := open(t, s, "previews", "Bob")
	connect(t, alice, bob)

	// Which Blob is behind each object URL the page makes (the CSP forbids fetching blob: URLs).
	bob.eval(`(() => { const make = URL.createObjectURL; window.__blobs = new Map();
		URL.createObjectURL = (b) => { const u = make.call(URL, b); window.__blobs.set(u, b); return u; }; })()`, nil)
	var sizes []int
	alice.eval(makeMediaJS, &sizes)
	if len(sizes) != 8 || sizes[2] < 100 {
		t.Fatalf("sample files of %v bytes", sizes)
	}
	alice.dropMade("Bob")
	bob.waitFor("the offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	card := fmt.Sprintf(`[...document.querySelectorAll(%s)].at(-1)`, jsString(conversation("Alice")+` [data-testid=transfer]`))
	// Four are previewed at once; the others have a Preview button.
	var buttons int
	bob.eval(card+`.querySelectorAll('[data-testid=preview-button]').length`, &buttons)
	if buttons != 3 { // page.html, drawing.svg, fake.png; data.bin has none
		t.Errorf("%d Preview buttons, want 3", buttons)
	}
	bob.eval(card+`.querySelectorAll('[data-testid=preview-button]').forEach((b) => b.click())`, nil)
	bob.waitFor("media previews ready", card+`.querySelectorAll('[data-testid=preview][data-ready=true]').length === 6`, 20*time.Second)

	type shown struct {
		Kind, Type, Text, Ready string
		Width, Height           int
		Duration                float64
		Elements                int
	}
	var got map[string]shown
	bob.eval(`(async () => { const out = {};
		for (const li of `+card+`.querySelectorAll('[data-testid=transfer-file]')) {
			const p = li.querySelector('[data-testid=preview]');
			if (!p) { out[li.dataset.name] = { kind: '' }; continue; }
			const el = p.querySelector('img, audio, video');
			const type = el ? window.__blobs.get(el.src)?.type : '';
			out[li.dataset.name] = { kind: p.dataset.kind, ready: p.dataset.ready ?? '', type, text: p.querySelector('pre')?.textContent ?? '',
				width: el?.naturalWidth ?? el?.videoWidth ?? 0, height: el?.naturalHeight ?? el?.videoHeight ?? 0,
				duration: el?.duration ?? 0, elements: p.querySelectorAll('*').length };
		}
		return out; })()`, &got)
	check := func(name string, ok bool, why string) {
		if !ok {
			t.Errorf("%s: %s; preview %+v", name, why, got[name])
		}
	}
	check("photo.png", got["photo.png"].Kind == "image" && got["photo.png"].Type == "image/png" && got["photo.png"].Width == 64 && got["photo.png"].Height == 40, "want a 64×40 image from an image/png blob")
	check("tone.wav", got["tone.wav"].Kind == "audio" && got["tone.wav"].Type == "audio/wav" && got["tone.wav"].Ready == "true" && got["tone.wav"].Duration > 0.4, "want a playable half-second sound")
	check("clip.webm", got["clip.webm"].Kind == "video" && got["clip.webm"].Type == "video/webm" && got["clip.webm"].Ready == "true" && got["clip.webm"].Width == 32, "want a 32×24 video")
	check("notes.txt", got["notes.txt"].Kind == "text" && got["notes.txt"].Text == "first line\nsecond <b>not bold</b> ✓" && got["notes.txt"].Elements == 1, "want the text as text")
	check("page.html", got["page.html"].Kind == "text" && strings.Contains(got["page.html"].Text, "<script>") && got["page.html"].Elements == 1, "want the markup shown as text")
	check("drawing.svg", got["drawing.svg"].Kind == "text" && strings.Contains(got["drawing.svg"].Text, "<svg") && got["drawing.svg"].Elements == 1, "want the SVG shown as text")
	check("data.bin", got["data.bin"].Kind == "", "want no preview")
	var fake struct {
		Ready  string `json:"ready"`
		Hidden bool   `json:"hidden"`
	}
	bob.waitFor("the fake image fails", card+`.querySelector('[data-testid=transfer-file][data-name="fake.png"] [data-testid=preview]')?.dataset.ready === 'error'`, 10*time.Second)
	bob.eval(`(() => { const p = `+card+`.querySelector('[data-testid=transfer-file][data-name="fake.png"] [data-testid=preview]'); return { ready: p.dataset.ready, hidden: p.hidden }; })()`, &fake)
	if !fake.Hidden {
		t.Errorf("markup claiming to be an image shows a broken preview: %+v", fake)
	}
	// Nothing ran, nothing was opened; the files themselves stay downloads of application/octet-stream.
	var after struct {
		Title  string   `json:"title"`
		Frames int      `json:"frames"`
		Types  []string `json:"types"`
	}
	bob.eval(`(async () => ({ title: document.title, frames: document.querySelectorAll('iframe, object, embed').length,
		types: [...`+card+`.querySelectorAll('[data-testid=transfer-download]')].map((a) => window.__blobs.get(a.href)?.type ?? 'none') }))()`, &after)
	if after.Title == "owned" || after.Title == "1" || after.Frames != 0 {
		t.Errorf("a preview ran the sender's markup: title %q, %d frames", after.Title, after.Frames)
	}
	for _, ty := range after.Types {
		if ty != "application/octet-stream" {
			t.Errorf("a download link is of type %q", ty)
		}
	}
}

// unsavedCount is a JS expression: the number of received files the conversation with name says are not saved
// (0 when it says nothing).
func unsavedCount(name string) string {
	return fmt.Sprintf(`(() => { const el = document.querySelector(%s); return el && !el.parentElement.hidden ? parseInt(el.textContent) : 0; })()`,
		jsString(conversation(name)+` [data-testid=unsaved-count]`))
}

// leaveWarns is a JS expression: whether leaving the page now would ask first (a beforeunload event is cancelled).
const leaveWarns = `(() => { const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented; })()`

// allowDownloads makes p's browser context save downloads into a new directory, with events; it returns the
// directory. Sent on p's tab, the command has the browser send the events there too (see downloads).
func (p *page) allowDownloads() string {
	p.t.Helper()
	dir := p.t.TempDir()
	p.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
			BrowserContextID: p.browserContext()})
		return chromedp.Void{}, err
	})
	return dir
}

// downloads runs act and returns name → content of the n downloads it starts, once complete.
func (p *page) downloads(dir string, n int, act func()) map[string]string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	begun := chromedp.Events(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	act()
	names := map[string]string{} // guid → suggested name
	for ev, err := range begun {
		if err != nil {
			p.t.Fatalf("%s: %d of %d downloads began: %v", p.name, len(names), n, err)
		}
		names[ev.GUID] = ev.SuggestedFilename
		if len(names) == n {
			break
		}
	}
	out := map[string]string{}
	for ev, err := range progress {
		if err != nil {
			p.t.Fatalf("%s: %d of %d downloads completed: %v", p.name, len(out), n, err)
		}
		if ev.State != cdpbrowser.DownloadProgressStateCompleted || names[ev.GUID] == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil {
			p.t.Fatal(err)
		}
		out[names[ev.GUID]] = string(b)
		if len(out) == n {
			break
		}
	}
	return out
}

// TestUnsavedFilesWarningAndSaveAll: while received files are not saved, the conversation says how many and
// leaving the page asks first (the browser's beforeunload dialog); "Save all" downloads every file of the card,
// after which leaving is free. A download link counts as saving its file, and "Save automatically" where the
// browser cannot write into a folder downloads each file as it arrives.
func TestUnsavedFilesWarningAndSaveAll(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "unsaved", "Alice")
	bob := open(t, s, "unsaved", "Bob")
	connect(t, alice, bob)

	files := map[string]string{"one.txt": "first file", "two.bin": "second", "three.csv": "a,b\n1,2\n"}
	root := folderTree(t, files)
	var paths []string
	for name := range files {
		paths = append(paths, filepath.Join(root, name))
	}
	var warns bool
	bob.eval(leaveWarns, &warns)
	if warns {
		t.Fatal("the page asks before leaving with nothing received")
	}
	alice.sendFiles("Bob", paths...)
	bob.waitFor("the offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	bob.waitFor("the conversation counts 3 unsaved files", unsavedCount("Alice")+` === 3`, 5*time.Second)
	bob.eval(leaveWarns, &warns)
	if !warns {
		t.Fatal("leaving the page with 3 unsaved files does not ask first")
	}

	// The browser's own dialog: reloading asks; dismissing it keeps the page and the files.
	bob.click(conversation("Alice") + ` [data-testid=chat-input]`) // the browser asks only after the person used the page
	ctx, cancel := context.WithTimeout(bob.ctx, 20*time.Second)
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	bob.eval(`setTimeout(() => location.reload(), 0)`, nil)
	for ev, err := range dialogs {
		if err != nil {
			t.Fatalf("no dialog before reloading with unsaved files: %v", err)
		}
		if ev.Type != cdppage.DialogTypeBeforeunload {
			t.Fatalf("a %s dialog, want beforeunload", ev.Type)
		}
		bob.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
			return chromedp.Void{}, err
		})
		break
	}
	cancel()
	bob.waitFor("the page stayed, with its files", unsavedCount("Alice")+` === 3 && window.p2plobby.lobby.status === 'open'`, 5*time.Second)

	// Save all: three downloads, with their names and contents.
	dir := bob.allowDownloads()
	got := bob.downloads(dir, 3, func() { bob.clickLastCard("Alice", "receive", "save-all") })
	if !maps.Equal(got, files) {
		t.Errorf("Save all downloaded %q, want %q", got, files)
	}
	bob.waitFor("nothing left unsaved", unsavedCount("Alice")+` === 0`, 5*time.Second)
	bob.eval(leaveWarns, &warns)
	if warns {
		t.Error("the page still asks before leaving after Save all")
	}
	var marks []string
	bob.eval(fmt.Sprintf(`[...[...document.querySelectorAll(%s)].at(-1).querySelectorAll('[data-testid=saved-mark]')].map((m) => m.textContent)`,
		jsString(conversation("Alice")+` [data-testid=transfer]`)), &marks)
	if len(marks) != 3 || marks[0] != "✓ downloaded" {
		t.Errorf("saved marks %q", marks)
	}

	// One file, saved with its own link.
	one, _ := randomFile(t, "single.bin", 1000)
	alice.sendFiles("Bob", one)
	bob.waitFor("the single offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("one unsaved file", unsavedCount("Alice")+` === 1`, 20*time.Second)
	got = bob.downloads(dir, 1, func() { bob.clickLastCard("Alice", "receive", "transfer-download") })
	if _, ok := got["single.bin"]; !ok {
		t.Errorf("the link downloaded %q", got)
	}
	bob.waitFor("saved by its link", unsavedCount("Alice")+` === 0`, 5*time.Second)

	// Saving automatically, where the page cannot write into a folder: each file is downloaded as it arrives.
	bob.eval(`void Object.defineProperty(window, 'showDirectoryPicker', { value: undefined, configurable: true })`, nil)
	bob.click(conversation("Alice") + ` [data-testid=auto-save]`)
	bob.waitFor("the choice is noted", fmt.Sprintf(`[...document.querySelectorAll(%s)].some((n) => n.textContent.includes('downloaded as they arrive'))`,
		jsString(conversation("Alice")+` [data-testid=auto-save-note]`)), 5*time.Second)
	auto, _ := randomFile(t, "auto.bin", 2000)
	got = bob.downloads(dir, 1, func() {
		alice.sendFiles("Bob", auto)
		bob.waitFor("the next offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
		bob.clickLastCard("Alice", "receive", "transfer-accept")
	})
	if _, ok := got["auto.bin"]; !ok {
		t.Errorf("saving automatically downloaded %q", got)
	}
	bob.waitFor("saved automatically", unsavedCount("Alice")+` === 0`, 5*time.Second)
}

// TestAutoAcceptFromPeer: within a connection, the receiver chooses to take this person's files without
// asking: files and folders then arrive with no click, while the limits still hold (an offer of too many files
// is declined automatically). A new connection asks again.
func TestAutoAcceptFromPeer(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "autoaccept", "Alice")
	bob := open(t, s, "autoaccept", "Bob")
	connect(t, alice, bob)

	bob.click(member("Alice") + ` [data-testid=open]`)
	bob.click(conversation("Alice") + ` [data-testid=auto-accept]`)
	bob.waitFor("the choice is noted", fmt.Sprintf(`!!document.querySelector(%s)`, jsString(conversation("Alice")+` [data-testid=auto-accept-note]`)), 5*time.Second)

	one, sum := randomFile(t, "unasked.bin", 200_000)
	alice.sendFiles("Bob", one)
	bob.waitFor("received without a click", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	if got, _, _ := bob.receivedHash("Alice"); got != sum {
		t.Errorf("received SHA-256 %s, want %s", got, sum)
	}
	root := folderTree(t, holiday)
	alice.sendFolder("Bob", filepath.Join(root, "holiday"))
	bob.waitFor("the folder arrived without a click", fmt.Sprintf(`document.querySelectorAll(%s).length === 2 && `, jsString(conversation("Alice")+` [data-testid=transfer]`))+
		cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	if got := bob.receivedFiles("Alice"); !maps.Equal(got, holiday) {
		t.Errorf("folder received as %q", got)
	}

	// The limits still apply: more files than one offer may hold is declined, by the SDK, with the reason.
	alice.eval(`(() => { const p = [...window.p2plobby.lobby.peers.values()].find((p) => p.name === 'Bob');
		p.sendFiles(Array.from({ length: 1001 }, (_, i) => new File([], 'f' + i))); })()`, nil)
	alice.waitFor("the big offer is declined", cardState("Bob", "send")+` === 'declined'`, 20*time.Second)
	var why string
	alice.eval(cardText("Bob", "send", "transfer-error"), &why)
	if !strings.Contains(why, "too many files") {
		t.Errorf("declined with %q, want the limit named", why)
	}

	// A new connection asks again.
	alice.click(conversation("Bob") + ` [data-testid=hangup]`)
	bob.waitFor("hung up", rowState("Alice")+` === 'closed'`, 10*time.Second)
	alice.waitFor("can request again", rowState("Bob")+` === 'closed'`, 10*time.Second)
	alice.click(member("Bob") + ` [data-testid=request]`)
	bob.waitFor("the new request", rowState("Alice")+` === 'incoming'`, 20*time.Second)
	bob.click(member("Alice") + ` [data-testid=accept]`)
	alice.waitFor("connected again", rowState("Bob")+` === 'connected'`, 30*time.Second)
	var checked bool
	bob.eval(fmt.Sprintf(`document.querySelector(%s).checked`, jsString(conversation("Alice")+` [data-testid=auto-accept]`)), &checked)
	if checked {
		t.Error("the new connection accepts files without asking")
	}
	alice.sendFiles("Bob", one)
	bob.waitFor("the offer waits for an answer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	var state string
	bob.eval(cardState("Alice", "receive"), &state)
	if state != "offered" {
		t.Errorf("on a new connection the offer went to %q without an answer", state)
	}
}

// pickerReturns makes showDirectoryPicker hand out the OPFS directory name (the test cannot click through the
// browser's folder dialog; the handle is the same kind of FileSystemDirectoryHandle).
func (p *page) pickerReturns(name string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`void (window.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle(%s, { create: true }))`, jsString(name)), nil)
}

// opfsFilesUnder is a JS expression: path → content of every file under the OPFS directory dir.
func opfsFilesUnder(dir string) string {
	return fmt.Sprintf(`(async () => { const out = {};
		const walk = async (d, prefix) => { for await (const [name, h] of d.entries()) {
			if (h.kind === 'file') out[prefix + name] = await (await h.getFile()).text(); else await walk(h, prefix + name + '/'); } };
		await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle(%s, { create: true }), '');
		return out; })()`, jsString(dir))
}

// TestAutoSaveIntoFolder: "Save automatically" writes every file from this person, as it arrives, into the
// folder the person picked, with the folders it was sent in; nothing is overwritten (a file in the way makes
// "holiday (1)", "notes (1).txt"), and saved files no longer hold the page. "Save to folder…" does the same for
// one card.
func TestAutoSaveIntoFolder(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "autosave", "Alice")
	bob := open(t, s, "autosave", "Bob")
	connect(t, alice, bob)

	bob.pickerReturns("chosen")
	bob.eval(`(async () => { const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('chosen', { create: true });
		for (const name of ['holiday', 'notes.txt']) { const w = await (await d.getFileHandle(name, { create: true })).createWritable(); await w.write('mine'); await w.close(); } })()`, nil)
	bob.click(member("Alice") + ` [data-testid=open]`)
	bob.click(conversation("Alice") + ` [data-testid=auto-save]`)
	bob.waitFor("the choice is noted", fmt.Sprintf(`[...document.querySelectorAll(%s)].some((n) => n.textContent.includes('saved into “chosen”'))`,
		jsString(conversation("Alice")+` [data-testid=auto-save-note]`)), 5*time.Second)

	root := folderTree(t, holiday)
	alice.sendFolder("Bob", filepath.Join(root, "holiday"))
	bob.waitFor("the folder offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	want := map[string]string{"holiday": "mine", "notes.txt": "mine"}
	for k, v := range holiday {
		want["holiday (1)/"+strings.TrimPrefix(k, "holiday/")] = v
	}
	bob.waitFor("every file saved", unsavedCount("Alice")+` === 0 && `+
		fmt.Sprintf(`[...document.querySelectorAll(%s)].every((li) => li.dataset.saved === 'true')`, jsString(conversation("Alice")+` [data-testid=transfer-file]`)), 10*time.Second)
	var got map[string]string
	bob.eval(opfsFilesUnder("chosen"), &got)
	if !maps.Equal(got, want) {
		t.Errorf("the chosen folder holds %q, want %q", got, want)
	}
	var warns bool
	bob.eval(leaveWarns, &warns)
	if warns {
		t.Error("the page asks before leaving although every file was saved")
	}

	// A file at the top level whose name is taken.
	top := folderTree(t, map[string]string{"notes.txt": "from Alice"})
	alice.sendFiles("Bob", filepath.Join(top, "notes.txt"))
	bob.waitFor("the next offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("saved beside the taken name", fmt.Sprintf(`(async () => (await %s)['notes (1).txt'] === 'from Alice')()`, opfsFilesUnder("chosen")), 20*time.Second)
	var mark string
	bob.eval(fmt.Sprintf(`[...document.querySelectorAll(%s)].at(-1).textContent`, jsString(conversation("Alice")+` [data-testid=saved-mark]`)), &mark)
	if mark != "✓ saved to chosen/notes (1).txt" {
		t.Errorf("the file says %q", mark)
	}

	// Off again; then one card saved into another folder with "Save to folder…".
	bob.click(conversation("Alice") + ` [data-testid=auto-save]`)
	bob.pickerReturns("picked")
	alice.sendFolder("Bob", filepath.Join(root, "holiday"))
	bob.waitFor("the third offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("received, not saved", cardState("Alice", "receive")+` === 'done' && `+unsavedCount("Alice")+` === 5`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "save-to-folder")
	bob.waitFor("saved into the picked folder", unsavedCount("Alice")+` === 0`, 10*time.Second)
	var picked map[string]string
	bob.eval(opfsFilesUnder("picked"), &picked)
	if !maps.Equal(picked, holiday) {
		t.Errorf("the picked folder holds %q, want %q", picked, holiday)
	}
}

// writeOPFS is a JS expression that writes files (path → size in bytes) under the OPFS folder of received files.
func writeOPFS(files map[string]int) string {
	b, _ := json.Marshal(files)
	return fmt.Sprintf(`(async () => {
		const base = await (await navigator.storage.getDirectory()).getDirectoryHandle('p2plobby-received', { create: true });
		for (const [path, size] of Object.entries(%s)) {
			const parts = path.split('/'); let d = base;
			for (const p of parts.slice(0, -1)) d = await d.getDirectoryHandle(p, { create: true });
			const w = await (await d.getFileHandle(parts.at(-1), { create: true })).createWritable();
			await w.write(new Uint8Array(size)); await w.close();
		}
	})()`, b)
}

// TestStaleFilesCleanedVisibly: files that earlier visits left in the browser's storage (pages that are gone)
// are removed when the page opens, and the page says so ("Removed 4 files left from an earlier visit (…)"); the
// files of a page still open in another tab are left alone.
func TestStaleFilesCleanedVisibly(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "stale", "Alice")
	bob := open(t, s, "stale", "Bob")
	connect(t, alice, bob)

	// Left by earlier visits: three files (one in a folder of a transfer).
	bob.eval(writeOPFS(map[string]int{"OLDSESSION00.t1-0-a.bin": 1_000_000, "OLDSESSION00.t1-1-b.bin": 1_000_000,
		"OLDSESSION00.t2/holiday/c.txt": 400_000}), nil)
	// A page still open in another tab, with a file of its own.
	other, cancel := chromedp.NewContext(bob.ctx)
	defer cancel()
	if err := chromedp.Do(other, chromedp.Navigate(s.URL+"/healthz")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(other, chromedp.Evaluate[bool](`(async () => {
		await new Promise((held) => navigator.locks.request('p2plobby-received.LIVESESSION1', () => { held(); return new Promise(() => {}); }));
		return true; })()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	bob.eval(writeOPFS(map[string]int{"LIVESESSION1.t3-0-live.bin": 5}), nil)

	// This visit receives a file (and saves it, so leaving does not ask); reloading leaves it behind too.
	path, _ := randomFile(t, "this-visit.bin", 200_000)
	alice.sendFiles("Bob", path)
	bob.waitFor("the offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
	bob.clickLastCard("Alice", "receive", "transfer-accept")
	bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 20*time.Second)
	dir := bob.allowDownloads()
	bob.downloads(dir, 1, func() { bob.clickLastCard("Alice", "receive", "transfer-download") })
	var stored []string
	bob.eval(opfsTree, &stored)
	if len(stored) != 5 {
		t.Fatalf("OPFS holds %q before the reload", stored)
	}

	bob.do(chromedp.Reload())
	bob.waitFor("joined the lobby again", `window.p2plobby?.lobby.status === 'open'`, 15*time.Second)
	bob.waitFor("the note", `!!document.querySelector('[data-testid=stale-note]')`, 10*time.Second)
	var note string
	bob.eval(`document.querySelector('[data-testid=stale-note]').textContent`, &note)
	if !strings.HasPrefix(note, "Removed 4 files left from an earlier visit (2.60 MB)") {
		t.Errorf("the note says %q", note)
	}
	bob.eval(opfsTree, &stored)
	if !slices.Equal(stored, []string{"LIVESESSION1.t3-0-live.bin"}) {
		t.Errorf("OPFS holds %q after the cleanup, want only the open tab's file", stored)
	}
}

// TestFolderPageAndGoPeer: a folder goes from the page to the Go peer, which stores it under its directory
// with the same layout, and from the Go peer (FilesFromDir) to the page, which shows and keeps the paths.
func TestFolderPageAndGoPeer(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "gofolders", "Alice")
	g := dialGo(t, s, "gofolders")
	dumpGoPeerOnFailure(t, alice, g)
	conn := pageRequests(t, alice, g)

	root := folderTree(t, holiday)
	alice.sendFolder(goName, filepath.Join(root, "holiday"))
	tr := g.nextTransfer(conn, 20*time.Second)
	var announced []string
	for _, f := range tr.Files {
		announced = append(announced, f.Path+"/"+f.Name)
	}
	sort.Strings(announced)
	if !slices.Equal(announced, holidayNames()) {
		t.Errorf("the page announced %q, want %q", announced, holidayNames())
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, err := tr.Accept(ctx, dir, nil)
	if err != nil || len(stored) != len(holiday) {
		t.Fatalf("Go peer stored %d of %d files: %v", len(stored), len(holiday), err)
	}
	for rel, body := range holiday {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil || string(b) != body {
			t.Errorf("%s on the Go side: %q, %v; want %q", rel, b, err, body)
		}
	}
	alice.waitFor("delivered", cardState(goName, "send")+` === 'done'`, 10*time.Second)

	// And back: the Go peer sends the folder it has.
	files, err := peer.FilesFromDir(filepath.Join(dir, "holiday"))
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- conn.SendFiles(ctx, files, nil) }()
	alice.waitFor("the Go peer's folder offer", cardState(goName, "receive")+` === 'offered'`, 20*time.Second)
	alice.clickLastCard(goName, "receive", "transfer-accept")
	alice.waitFor("the folder arrived", cardState(goName, "receive")+` === 'done'`, 20*time.Second)
	if err := <-sent; err != nil {
		t.Fatalf("Go peer's SendFiles: %v", err)
	}
	if got := alice.receivedFiles(goName); !maps.Equal(got, holiday) {
		t.Errorf("the page received %q, want %q", got, holiday)
	}
	if got := alice.shownFiles(goName); !slices.Equal(got, holidayNames()) {
		t.Errorf("the page shows %q, want %q", got, holidayNames())
	}
}

// TestFolderPathsHostile: the SDK's safePath gives exactly the outputs of the shared table the Go peer's
// sanitizePath is tested with (peer/testdata/hostile-paths.json); a peer announcing those paths sees the page
// show them cleaned and, saving automatically into a folder, write every file inside that folder where the
// table says, and nowhere else.
func TestFolderPathsHostile(t *testing.T) {
	skipWithoutBrowser(t)
	raw, err := os.ReadFile("../peer/testdata/hostile-paths.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ In, Want string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	s := lobbytest.Start(t, "--turn=false")
	alice := open(t, s, "hostile-paths", "Alice")
	var bad []string
	alice.eval(fmt.Sprintf(`(async () => {
		const { safePath } = await import('/sdk/sink.js');
		return JSON.parse(%s).filter(c => safePath(c.in) !== c.want).map(c => JSON.stringify(c.in) + ' → ' + JSON.stringify(safePath(c.in)) + ', want ' + JSON.stringify(c.want));
	})()`, jsString(string(raw))), &bad)
	for _, b := range bad {
		t.Errorf("safePath %s", b)
	}

	mal := dialMallory(t, s, "hostile-paths")
	mal.connect(alice)
	alice.pickerReturns("chosen")
	alice.click(member(malName) + ` [data-testid=open]`)
	alice.click(conversation(malName) + ` [data-testid=auto-save]`)
	alice.waitFor("saving automatically", fmt.Sprintf(`!!document.querySelector(%s)`, jsString(conversation(malName)+` [data-testid=auto-save-note]`)), 5*time.Second)

	files := make([]map[string]any, len(cases))
	contents := make([][]byte, len(cases))
	want := map[string]string{}
	for i, c := range cases {
		name := fmt.Sprintf("f%d.txt", i)
		files[i] = map[string]any{"name": name, "size": len(name), "type": "text/plain", "path": c.In}
		contents[i] = []byte(name)
		if c.Want != "" {
			name = c.Want + "/" + name
		}
		want[name] = string(contents[i])
	}
	tid := fmt.Sprintf("paths%d", time.Now().UnixNano()%1e6)
	mal.send(map[string]any{"t": "files", "tid": tid, "files": files})
	alice.waitFor("the offer", cardState(malName, "receive")+` === 'offered'`, 10*time.Second)
	var shown []string
	alice.eval(`[...`+malPeer+`.incoming.values()].at(-1).files.map(f => f.path)`, &shown)
	if len(shown) != len(cases) {
		t.Fatalf("the offer shows %d files, want %d", len(shown), len(cases))
	}
	for i, c := range cases {
		if i < len(shown) && shown[i] != c.Want {
			t.Errorf("path %+q shown as %+q, want %+q", c.In, shown[i], c.Want)
		}
	}
	alice.clickLastCard(malName, "receive", "transfer-accept")
	mal.next("accept", about("accept", tid), 10*time.Second)
	mal.sendData(tid, contents...)
	alice.waitFor("received", cardState(malName, "receive")+` === 'done'`, 20*time.Second)
	alice.waitFor("saved", unsavedCount(malName)+` === 0`, 20*time.Second)
	var got map[string]string
	alice.eval(opfsFilesUnder("chosen"), &got)
	if !maps.Equal(got, want) {
		for k := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("missing in the chosen folder: %q", k)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("in the chosen folder but not expected: %q", k)
			}
		}
	}
	var top []string
	alice.eval(`(async () => { const out = []; for await (const k of (await navigator.storage.getDirectory()).keys()) out.push(k); return out.sort(); })()`, &top)
	if !slices.Equal(top, []string{"chosen", "p2plobby-received"}) {
		t.Errorf("the origin's storage holds %q: something was written outside the chosen folder", top)
	}
}
