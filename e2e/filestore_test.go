package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// TestFileStoreWorkerAndFallback checks both ways received files reach OPFS (web/sdk/sink.js): through the
// storage worker's sync access handles where a worker can run, and through createWritable where it cannot
// (here: a page whose Worker constructor throws). Each file is read back from OPFS and hashed with WebCrypto;
// the sizes cross the batch size (4 MiB) and end in a partial batch.
func TestFileStoreWorkerAndFallback(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "store", "Alice")
	bob := open(t, s, "store", "Bob")
	carol := open(t, s, "store", "Carol")
	// Bob's page counts the workers it starts; Carol's cannot start any. Both count the files the page itself
	// writes with createWritable.
	countWritable := `const cw = FileSystemFileHandle.prototype.createWritable; window.writables = 0;
		FileSystemFileHandle.prototype.createWritable = function (...a) { window.writables++; return cw.apply(this, a); };`
	bob.eval(`(() => { `+countWritable+` const W = window.Worker; window.workersStarted = 0;
		window.Worker = class extends W { constructor(...a) { super(...a); window.workersStarted++; } }; return true })()`, nil)
	carol.eval(`(() => { `+countWritable+` window.Worker = class { constructor() { throw new Error('no workers here'); } }; return true })()`, nil)
	connect(t, alice, bob)
	connect(t, alice, carol)

	type file struct{ path, sum string }
	var files []file
	for i, size := range []int{9<<20 + 123, 1<<20 + 7} {
		p, sum := randomFile(t, fmt.Sprintf("f%d.bin", i), size)
		files = append(files, file{p, sum})
	}
	for _, rx := range []*page{bob, carol} {
		alice.sendFiles(rx.name, files[0].path, files[1].path)
		rx.waitFor("offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
		rx.clickLastCard("Alice", "receive", "transfer-accept")
		rx.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 2*time.Minute)
		var got []struct {
			Hex     string `json:"hex"`
			Storage string `json:"storage"`
			SDK     string `json:"sdk"`
		}
		rx.eval(`(async () => {
			const peer = [...window.p2plobby.lobby.peers.values()].find(p => p.name === 'Alice');
			const out = [];
			for (const r of [...peer.incoming.values()].at(-1).results) {
				const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await r.file.arrayBuffer()));
				out.push({ hex: [...d].map(b => b.toString(16).padStart(2, '0')).join(''), storage: r.storage, sdk: r.sha256 });
			}
			return out; })()`, &got)
		if len(got) != len(files) {
			t.Fatalf("%s has %d results, want %d", rx.name, len(got), len(files))
		}
		for i, g := range got {
			if g.Hex != files[i].sum || g.SDK != files[i].sum || g.Storage != "opfs" {
				t.Errorf("%s, file %d: stored %s in %q (SDK says %s), sent %s", rx.name, i, g.Hex, g.Storage, g.SDK, files[i].sum)
			}
		}
	}
	var bobWorkers, bobWritables, carolWritables int
	bob.eval(`window.workersStarted`, &bobWorkers)
	bob.eval(`window.writables`, &bobWritables)
	carol.eval(`window.writables`, &carolWritables)
	if bobWorkers != 1 || bobWritables != 0 {
		t.Errorf("Bob's page started %d storage workers and wrote %d files itself, want 1 and 0", bobWorkers, bobWritables)
	}
	if carolWritables != len(files) {
		t.Errorf("Carol's page (no workers) wrote %d files itself, want %d", carolWritables, len(files))
	}
}
