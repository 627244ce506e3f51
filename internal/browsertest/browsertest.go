// Package browsertest starts real headless Chromium browsers for end-to-end tests.
//
// NewShared gives each person a tab in a browser process that the whole test binary shares, in a browser
// context of its own (an incognito-like profile: its own cookies, storage, permissions and download settings),
// so two of them in one test are two independent people who share no state:
//
//	alice := browsertest.NewShared(t)
//	bob := browsertest.NewShared(t)
//	err := chromedp.Do(alice, chromedp.Navigate(url))
//
// Starting a browser takes about two seconds, a new browser context in a running one well under one. New starts
// a browser process of its own with a regular profile, for a person whose browser needs flags of its own (such
// as a language) or a regular profile (Chromium offers to install web apps only there, and keeps the storage of
// an incognito-like context in memory). A test binary that uses NewShared calls CloseShared when its tests are
// done (from TestMain).
//
// The browser is $P2PLOBBY_CHROMIUM or /usr/bin/chromium (Debian's chromium package). When it is missing the
// test is skipped, unless P2PLOBBY_REQUIRE_BROWSER=1 or CI=true, which turn the skip into a failure: CI must not
// pass with its browser tests skipped.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// DefaultPath is where Debian's chromium package installs the browser.
const DefaultPath = "/usr/bin/chromium"

// Path returns the browser to run: $P2PLOBBY_CHROMIUM, else DefaultPath; "" when neither is executable.
func Path() string {
	p := os.Getenv("P2PLOBBY_CHROMIUM")
	if p == "" {
		p = DefaultPath
	}
	if found, err := exec.LookPath(p); err == nil {
		return found
	}
	return ""
}

// New starts a fresh headless browser and returns a context for its first tab; pass it to chromedp
// actions. The browser stops at the end of the test. Console errors and uncaught exceptions of the page
// go to t.Log (every console message with P2PLOBBY_BROWSER_LOG=1). Options add to (or override) the defaults,
// e.g. chromedp.Flag("accept-lang", "de-DE,de") for a browser whose person reads German.
func New(t testing.TB, options ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := mustPath(t)
	profile := t.TempDir() // registered first, so it is removed after the browser has exited
	opts := append(allocatorOptions(path), chromedp.UserDataDir(profile))
	opts = append(opts, options...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	open(t, ctx, func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// NewShared opens a tab in a new browser context of the shared browser (starting that browser if it is not
// running) and returns a context for the tab; pass it to chromedp actions. Its browser context id, which the
// browser-wide commands that concern this person take (Browser.setPermission, Browser.setDownloadBehavior), is
// chromedp.FromContext(ctx).BrowserContextID. The tab and its browser context are closed at the end of the
// test. Console messages go to t.Log as with New.
func NewShared(t testing.TB) context.Context {
	t.Helper()
	path := mustPath(t)
	browser := sharedBrowser(t, path)
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	open(t, ctx, cancel)
	return ctx
}

// CloseShared stops the shared browser, if it runs. Call it after the tests that use NewShared, e.g. in
// TestMain after m.Run: the process would otherwise only be killed when the test binary exits, leaving its
// temporary profile behind.
func CloseShared() {
	shared.Lock()
	defer shared.Unlock()
	if shared.cancel != nil {
		shared.cancel()
	}
	shared.anchor, shared.cancel = nil, nil
}

// shared is the browser of NewShared. Its first tab (the anchor) is never a person's: the browser lives as long
// as that tab's context, and a context for a new browser context must have a running browser as its parent.
var shared struct {
	sync.Mutex
	anchor context.Context
	cancel func()
}

// sharedBrowser returns the anchor of the shared browser, starting the browser when it is not running (the
// first time, or after it crashed).
func sharedBrowser(t testing.TB, path string) context.Context {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.anchor != nil && shared.anchor.Err() == nil {
		return shared.anchor
	}
	if shared.cancel != nil {
		shared.cancel() // lost: release what is left of it
	}
	shared.anchor, shared.cancel = nil, nil
	// No user data dir: chromedp makes a temporary one and removes it when the browser has exited.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocatorOptions(path)...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting the shared browser %s: %v", path, err)
	}
	shared.anchor = ctx
	shared.cancel = func() {
		cancel()
		cancelAlloc()
	}
	return ctx
}

// mustPath returns the browser to run, or skips (or fails) the test when there is none.
func mustPath(t testing.TB) string {
	t.Helper()
	path := Path()
	if path == "" {
		msg := "chromium not found: install Debian's chromium package (apt-get install chromium) or set P2PLOBBY_CHROMIUM"
		if os.Getenv("P2PLOBBY_REQUIRE_BROWSER") == "1" || os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// allocatorOptions are the flags of every browser the tests start.
func allocatorOptions(path string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Plain IP candidates instead of mDNS .local names, which need a resolver the test machine lacks.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
	)
}

// open opens the tab of ctx, sends its console to t.Log and makes the end of the test call closeTab.
func open(t testing.TB, ctx context.Context, closeTab func()) {
	t.Helper()
	// Subscribing opens the tab (and starts the browser), so a tab that cannot open fails here, not in the first action.
	messages := chromedp.Console(ctx)
	all := os.Getenv("P2PLOBBY_BROWSER_LOG") == "1"
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range messages {
			if err != nil {
				if ctx.Err() == nil {
					t.Logf("browser console: %v", err)
				}
				return
			}
			if all || m.Type == chromedp.ConsoleError || m.IsException() {
				t.Logf("browser %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
			}
		}
	}()
	t.Cleanup(func() {
		closeTab()
		wg.Wait() // no t.Log after the test has finished
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab of %s: %v", Path(), err)
	}
}
