package e2e

// Cells of the NAT matrix with headless Chromium on both ends: two symmetric NATs (d↔d), and a network that
// lets only TCP to the lobby's port out against a full-cone NAT (e↔b). Both need the lobby's TURN.
//
// A browser's DevTools endpoint is on the loopback of its own namespace, out of the test process's reach, so
// each browser is driven by a helper process inside the namespace: this test binary run again with only
// TestNATBrowserHelper, told what to do through P2PLOBBY_NAT_BROWSER. It prints one NATRESULT line.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/internal/natlab"
)

// natBrowserJob is what a helper process does: join room as name, then request a connection to other (or
// accept other's request), exchange a chat message, and report the path.
type natBrowserJob struct {
	Server, Room, Name, Other string
	Request                   bool
}

// natBrowserResult is a helper's NATRESULT line.
type natBrowserResult struct {
	Path  shownPath
	Pair  struct{ Local, Remote, RelayProtocol string }
	Chat  bool
	Error string
}

func TestNATMatrixBrowsers(t *testing.T) {
	needNATLab(t, "NAT matrix with browsers")
	skipWithoutBrowser(t)
	start := time.Now()
	bin := lobbytest.Binary(t)
	lab := natlab.New(t, natlab.Config{Networks: []natlab.Network{
		{Name: "d1", NAT: natlab.Symmetric, Hosts: 1},
		{Name: "d2", NAT: natlab.Symmetric, Hosts: 1},
		{Name: "e1", NAT: natlab.TCPOnly, Hosts: 1},
		{Name: "b1", NAT: natlab.FullCone, Hosts: 1},
	}})
	natServe(t, lab, bin)

	for _, cell := range []struct {
		name     string
		from, to *natlab.Host
		tcpSide  *natlab.Host // must relay through its own TURN over TCP
	}{
		{"d-d", lab.Host("d1-a"), lab.Host("d2-a"), nil},
		{"e-b", lab.Host("e1-a"), lab.Host("b1-a"), lab.Host("e1-a")},
	} {
		t.Run(cell.name, func(t *testing.T) {
			room := "browsers-" + cell.name
			var wg sync.WaitGroup
			results := map[*natlab.Host]natBrowserResult{}
			var mu sync.Mutex
			for _, side := range []struct {
				host, other *natlab.Host
				request     bool
			}{{cell.from, cell.to, true}, {cell.to, cell.from, false}} {
				wg.Go(func() {
					r := runNATBrowser(t, side.host, natBrowserJob{Server: "http://" + natlab.ServerIP + ":3333",
						Room: room, Name: side.host.Name, Other: side.other.Name, Request: side.request})
					mu.Lock()
					results[side.host] = r
					mu.Unlock()
				})
			}
			wg.Wait()
			for host, r := range results {
				if r.Error != "" {
					t.Errorf("%s (%s): %s", host, host.NAT, r.Error)
					continue
				}
				t.Logf("%s (%s): %s (%s ↔ %s, relay protocol %q)", host, host.NAT, r.Path.Text, r.Pair.Local, r.Pair.Remote, r.Pair.RelayProtocol)
				if r.Path.Relayed != "true" || r.Pair.Local != "relay" && r.Pair.Remote != "relay" {
					t.Errorf("%s (%s): path %+v, pair %+v: want relayed through the lobby's TURN", host, host.NAT, r.Path, r.Pair)
				}
				if host == cell.tcpSide && (r.Pair.Local != "relay" || r.Pair.RelayProtocol != "tcp") {
					t.Errorf("%s (TCP-only egress): pair %+v, want its own relay reached over TCP", host, r.Pair)
				}
				if !r.Chat {
					t.Errorf("%s: no chat message from the other side", host)
				}
			}
		})
	}
	t.Logf("browser cells in %v", time.Since(start).Round(time.Millisecond))
}

// runNATBrowser runs a helper process in host and returns its result.
func runNATBrowser(t *testing.T, host *natlab.Host, job natBrowserJob) natBrowserResult {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	spec, _ := json.Marshal(job)
	cmd := host.CommandContext(ctx, os.Args[0], "-test.run=^TestNATBrowserHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "P2PLOBBY_NAT_BROWSER="+string(spec))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var r natBrowserResult
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	found := false
	for sc.Scan() {
		if line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "NATRESULT "); ok {
			found = json.Unmarshal([]byte(line), &r) == nil
		}
	}
	if !found || err != nil || t.Failed() || testing.Verbose() {
		t.Logf("%s helper (%v):\n%s", host, err, out.String())
	}
	if !found {
		r.Error = fmt.Sprintf("the helper printed no result (%v)", err)
	}
	return r
}

// TestNATBrowserHelper is not a test of its own: it is the helper process of TestNATMatrixBrowsers, and does
// nothing without P2PLOBBY_NAT_BROWSER.
func TestNATBrowserHelper(t *testing.T) {
	spec := os.Getenv("P2PLOBBY_NAT_BROWSER")
	if spec == "" {
		return
	}
	var job natBrowserJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		t.Fatal(err)
	}
	var r natBrowserResult
	defer func() {
		if t.Failed() && r.Error == "" {
			r.Error = "the helper failed (see its log)"
		}
		b, _ := json.Marshal(r)
		fmt.Printf("NATRESULT %s\n", b)
	}()
	if browsertest.Path() == "" {
		r.Error = "no chromium in the helper"
		return
	}
	p := openOwn(t, &lobbytest.Server{URL: job.Server}, job.Room, job.Name) // the process's only person: no sharing
	if job.Request {
		p.waitFor(job.Name+" sees "+job.Other, rowState(job.Other)+` === 'idle'`, 30*time.Second)
		p.click(member(job.Other) + ` [data-testid=request]`)
	} else {
		p.waitFor(job.Name+" sees the request", rowState(job.Other)+` === 'incoming'`, 30*time.Second)
		p.click(member(job.Other) + ` [data-testid=accept]`)
	}
	p.waitFor("connected to "+job.Other, rowState(job.Other)+` === 'connected'`, 45*time.Second)
	r.Path = p.path(job.Other)
	p.eval(`(async () => { const pc = [...window.p2plobby.lobby.peers.values()][0].pc; const st = await pc.getStats();
		let pair; st.forEach(r => { if (r.type === 'transport') pair = st.get(r.selectedCandidatePairId) });
		const l = st.get(pair.localCandidateId), r = st.get(pair.remoteCandidateId);
		return {local: l.candidateType, remote: r.candidateType, relayProtocol: l.relayProtocol ?? ''} })()`, &r.Pair)
	p.chat(job.Other, "hello from "+job.Name)
	p.waitChat(job.Other, "hello from "+job.Other)
	r.Chat = true
	// Stay until the other side has our message too: it may still be waiting for it.
	time.Sleep(2 * time.Second)
}
