package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// TestBenchFileTransfer compares browser-to-browser file throughput over loopback, full path (file input,
// streaming read, SHA-256 on both sides, OPFS write, progress UI) with the raw data-channel ceiling (one page,
// two RTCPeerConnections, an ideal sender of 256 KiB chunks: no file, no hashing, no UI), and with the same
// ideal sender between the two browsers over their established connection ("raw pair"), interleaving the
// three so all see the same machine load. It is a measurement, not a check:
//
//	P2PLOBBY_BENCH=5 go test ./e2e -run TestBenchFileTransfer -v     (5 runs of each, 100 MiB)
func TestBenchFileTransfer(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("P2PLOBBY_BENCH"))
	if runs <= 0 {
		t.Skip("set P2PLOBBY_BENCH=N to run N rounds of the file-transfer benchmark")
	}
	alice, bob, path, want, size := benchPages(t)

	var full, raw, pair []float64
	for i := range runs {
		raw = append(raw, ceiling(t, alice, size, 256<<10))
		pair = append(pair, rawPair(t, alice, bob, size, 256<<10))

		alice.sendFiles("Bob", path)
		bob.waitFor("offer", cardState("Alice", "receive")+` === 'offered'`, 20*time.Second)
		bob.clickLastCard("Alice", "receive", "transfer-accept")
		bob.waitFor("received", cardState("Alice", "receive")+` === 'done'`, 5*time.Minute)
		alice.waitFor("delivered", cardState("Bob", "send")+` === 'done'`, 20*time.Second)
		var rate float64 // bytes over the time from the channel opening to the last acknowledgement
		alice.eval(`[...[...window.p2plobby.lobby.peers.values()][0].outgoing.values()].at(-1).rate`, &rate)
		if got, _, _ := bob.receivedHash("Alice"); got != want {
			t.Fatalf("run %d: hash mismatch", i)
		}
		full = append(full, rate/1e6)
		t.Logf("run %d: full path %.1f MB/s, raw ceiling (one page) %.1f MB/s, raw pair %.1f MB/s", i+1, full[i], raw[i], pair[i])
	}
	mf, mr, mp := median(full), median(raw), median(pair)
	t.Logf("median of %d runs, %d MiB: full path %.1f MB/s; raw ceiling %.1f MB/s (full = %.0f%%); raw pair %.1f MB/s (full = %.0f%%)",
		runs, size>>20, mf, mr, 100*mf/mr, mp, 100*mf/mp)
	fmt.Printf("BENCH full=%.1f raw=%.1f pair=%.1f full/raw=%.2f full/pair=%.2f\n", mf, mr, mp, mf/mr, mf/mp)
}

// rawPair sends size bytes from a to b with the ideal sender of ceilingJS, over a data channel of their
// established connection: the ceiling between two browsers, as opposed to two connections in one page.
func rawPair(t testing.TB, a, b *page, size, chunk int) float64 {
	t.Helper()
	b.eval(fmt.Sprintf(`(() => { const pc = [...window.p2plobby.lobby.peers.values()][0].pc;
		pc.addEventListener('datachannel', (e) => {
			if (e.channel.label !== 'bench') return;
			const dc = e.channel; let n = 0;
			dc.binaryType = 'arraybuffer';
			dc.onmessage = (m) => { n += m.data.byteLength; if (n >= %d) dc.send('done'); };
		}, { once: true }); return true })()`, size), nil)
	var bps float64
	a.eval(fmt.Sprintf(`(async (total, chunk) => {
		const dc = [...window.p2plobby.lobby.peers.values()][0].pc.createDataChannel('bench', { ordered: true });
		await new Promise((r) => { dc.onopen = r; });
		const data = crypto.getRandomValues(new Uint8Array(chunk > 65536 ? 65536 : chunk));
		const buf = new Uint8Array(chunk);
		for (let o = 0; o < chunk; o += data.length) buf.set(data.subarray(0, chunk - o), o);
		dc.bufferedAmountLowThreshold = 1 << 20;
		const done = new Promise((r) => { dc.onmessage = () => r(performance.now()); });
		const t0 = performance.now();
		for (let sent = 0; sent < total; sent += chunk) {
			if (dc.bufferedAmount + chunk > (4 << 20)) await new Promise((r) => dc.addEventListener('bufferedamountlow', r, { once: true }));
			dc.send(buf);
		}
		const t1 = await done;
		dc.close();
		return (total * 1000) / (t1 - t0);
	})(%d, %d)`, size, chunk), &bps)
	return bps / 1e6
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchPages starts a server and two connected pages, Alice and Bob, and writes a random file of
// P2PLOBBY_BENCH_MIB MiB (100 by default) for a transfer benchmark: its path, SHA-256 and size.
func benchPages(t *testing.T) (alice, bob *page, path, want string, size int) {
	size = 100 << 20
	if v, err := strconv.Atoi(os.Getenv("P2PLOBBY_BENCH_MIB")); err == nil && v > 0 {
		size = v << 20
	}
	s := lobbytest.Start(t)
	alice = openOwn(t, s, "bench", "Alice")
	bob = openOwn(t, s, "bench", "Bob")
	connect(t, alice, bob)
	path, want = randomFile(t, "bench.bin", size)
	return alice, bob, path, want, size
}
