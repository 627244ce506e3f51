package e2e

// The browser pairs of the WAN benchmark (internal/natlab TestBenchWAN, scripts/bench-wan.sh): one file from
// wan-a to wan-b across the impaired path, Go → Chromium (`p2plobby send` to the app) and Chromium → Chromium
// (the app on both ends). TestBenchWAN builds the lab and the lobby server, then runs this test binary once per
// run with the job in P2PLOBBY_WAN_BROWSER; this process starts each Chromium inside its namespace
// (chromedp.ModifyCmdFunc(host.Enter): chromedp talks to the browser over a pipe, so the browser's own
// network can be the namespace's) and prints one WANRESULT line.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/internal/natlab"
)

// wanBrowserJob is one run of a browser pair, as TestBenchWAN sends it (its JSON field names are the contract).
type wanBrowserJob struct {
	Tool       string `json:"tool"`        // "go-chromium" or "chromium-chromium"
	Server     string `json:"server"`      // the lobby's http:// URL, on wan-a
	SenderNS   string `json:"sender_ns"`   // namespace of the sending side (wan-a)
	ReceiverNS string `json:"receiver_ns"` // namespace of the receiving page (wan-b)
	P2PLobby   string `json:"p2plobby"`    // the CLI, for go-chromium's sender
	File       string `json:"file"`
	SHA256     string `json:"sha256"` // hex
	Size       int64  `json:"size"`
	Timeout    string `json:"timeout"` // the whole run's bound, a time.Duration
}

// wanBrowserResult is the WANRESULT line.
type wanBrowserResult struct {
	MBps     float64 `json:"mbps"`      // size over the clock (see TestBenchWANBrowser)
	PageMBps float64 `json:"page_mbps"` // the app's own rate of the transfer (channel open → last acknowledgement)
	Storage  string  `json:"storage"`   // where the receiving page stored the file: opfs or memory
	Error    string  `json:"error,omitempty"`
}

// TestBenchWANBrowser runs one browser-pair transfer of the WAN benchmark. It is not a test of its own: it only
// runs under P2PLOBBY_BENCH_WAN=1 with a job from TestBenchWAN in P2PLOBBY_WAN_BROWSER (scripts/bench-wan.sh
// with TOOLS including go-chromium or chromium-chromium).
//
// The clock runs from the sender's start (go-chromium: the CLI starts, joins and asks the page to connect;
// chromium-chromium: the sending page's request to connect, both pages already in the room) to the moment the
// receiving page shows the file as done (polled every 50 ms), as Go → Go's runs from `send`'s start to
// `receive`'s exit. The receiving page accepts the connection and the file by clicks, inside the clock. The
// pages are served from http://ServerIP, which Chromium is told to treat as a secure context
// (--unsafely-treat-insecure-origin-as-secure), so the received file goes to OPFS as on an https:// lobby.
func TestBenchWANBrowser(t *testing.T) {
	if os.Getenv("P2PLOBBY_BENCH_WAN") != "1" {
		t.Skip("a benchmark: set P2PLOBBY_BENCH_WAN=1 (scripts/bench-wan.sh)")
	}
	spec := os.Getenv("P2PLOBBY_WAN_BROWSER")
	if spec == "" {
		t.Skip("one run of internal/natlab TestBenchWAN's browser pairs: run scripts/bench-wan.sh with TOOLS including go-chromium or chromium-chromium")
	}
	var r wanBrowserResult
	defer func() { // the parent reads this line; a failed or skipped run reports the reason
		if t.Failed() && r.Error == "" {
			r.Error = "the run failed (see its log)"
		}
		if t.Skipped() && r.Error == "" {
			r.Error = "skipped (see its log): no natlab or no Chromium here"
		}
		b, _ := json.Marshal(r)
		fmt.Printf("\nWANRESULT %s\n", b)
	}()
	if err := natlab.Available(); err != nil {
		t.Skipf("natlab not available: %v", err)
	}
	skipWithoutBrowser(t)
	var job wanBrowserJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		t.Fatalf("P2PLOBBY_WAN_BROWSER: %v", err)
	}
	timeout, err := time.ParseDuration(job.Timeout)
	if err != nil || timeout <= 0 {
		timeout = 4 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	left := func() time.Duration { return max(time.Until(deadline), time.Second) }
	srv := &lobbytest.Server{URL: job.Server}
	room := "wanbench"
	receiver := wanPage(t, &natlab.Host{Name: "wan-b", NS: job.ReceiverNS}, srv, room, "web-rx")

	var t0 time.Time
	var from string
	switch job.Tool {
	case "go-chromium":
		from = "gosend"
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		ws := "ws" + strings.TrimPrefix(job.Server, "http")
		cmd := exec.CommandContext(ctx, job.P2PLobby, "send", "--server", ws, "--room", room, "--name", from, "--to", receiver.name, job.File)
		(&natlab.Host{Name: "wan-a", NS: job.SenderNS}).Enter(cmd)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 = time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatalf("p2plobby send: %v", err)
		}
		sent := make(chan error, 1)
		go func() { sent <- cmd.Wait() }()
		defer func() {
			cancel()
			if err := <-sent; err != nil || t.Failed() {
				t.Logf("p2plobby send (%v):\n%s", err, out.String())
			}
		}()
		receiver.waitFor("the request of "+from, rowState(from)+` === 'incoming'`, left())
		receiver.click(member(from) + ` [data-testid=accept]`)
	case "chromium-chromium":
		from = "web-tx"
		sender := wanPage(t, &natlab.Host{Name: "wan-a", NS: job.SenderNS}, srv, room, from)
		t0 = time.Now()
		connect(t, sender, receiver)
		sender.sendFiles(receiver.name, job.File)
	default:
		t.Fatalf("unknown tool %q: want go-chromium or chromium-chromium", job.Tool)
	}
	receiver.waitFor("the offer", cardState(from, "receive")+` === 'offered'`, left())
	receiver.clickLastCard(from, "receive", "transfer-accept")
	receiver.waitFor("the file", cardState(from, "receive")+` === 'done'`, left())
	secs := time.Since(t0).Seconds()
	var got struct {
		Rate    float64 `json:"rate"`
		SHA     string  `json:"sha"`
		Storage string  `json:"storage"`
	}
	receiver.eval(fmt.Sprintf(`(() => { const t = [...[...window.p2plobby.lobby.peers.values()].find(p => p.name === %s).incoming.values()].at(-1);
		return { rate: t.rate, sha: t.results[0].sha256, storage: t.results[0].storage } })()`, jsString(from)), &got)
	if got.SHA != job.SHA256 {
		r.Error = fmt.Sprintf("SHA-256 %s, want %s", got.SHA, job.SHA256)
		t.Fatal(r.Error)
	}
	r.MBps, r.PageMBps, r.Storage = float64(job.Size)/1e6/secs, got.Rate/1e6, got.Storage
	t.Logf("%s: %.2f MB/s (the page's own rate %.2f MB/s), stored in %s", job.Tool, r.MBps, r.PageMBps, r.Storage)
}

// wanPage opens the app as name in a browser of its own running inside host's namespace, and waits until it
// has joined room.
func wanPage(t *testing.T, host *natlab.Host, s *lobbytest.Server, room, name string) *page {
	t.Helper()
	p := &page{t: t, name: name, ctx: browsertest.New(t, chromedp.ModifyCmdFunc(host.Enter),
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", s.URL))}
	p.do(beforeScripts(fmt.Sprintf(`if (!localStorage.getItem('p2plobby.name')) localStorage.setItem('p2plobby.name', %s)`, jsString(name))),
		chromedp.Navigate(s.URL+"/?room="+room))
	p.waitJoined()
	return p
}
