// Package browsertest starts real headless Chromium browsers for end-to-end tests.
//
// Each call to New starts its own browser process with its own fresh profile, so two browsers in one test
// are two independent people (separate storage, separate WebRTC stacks):
//
//	alice := browsertest.New(t)
//	bob := browsertest.New(t)
//	err := chromedp.Do(alice, chromedp.Navigate(url))
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
	path := Path()
	if path == "" {
		msg := "chromium not found: install Debian's chromium package (apt-get install chromium) or set P2PLOBBY_CHROMIUM"
		if os.Getenv("P2PLOBBY_REQUIRE_BROWSER") == "1" || os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	profile := t.TempDir() // registered first, so it is removed after the browser has exited

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Plain IP candidates instead of mDNS .local names, which need a resolver the test machine lacks.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
	)
	opts = append(opts, options...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)

	// Subscribing starts the browser, so a browser that cannot start fails here, not in the first action.
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
		cancel()
		cancelAlloc()
		wg.Wait() // no t.Log after the test has finished
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}
