package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// sdkFuzzMutants is how many mutated programs each mode runs besides the seed corpus.
const sdkFuzzMutants = 1000

// TestSDKFuzz feeds the browser SDK's data-channel code what a stranger may send, in Chromium: the seed corpora of
// the Go peer's fuzz targets (peer/testdata/fuzz/FuzzControl and FuzzFileChannel: programs of data-channel
// messages, one per line, binary when the line starts with NUL) and, per corpus, sdkFuzzMutants programs mutated
// from them by a deterministic mutator (seeded, so a failure replays). A `go test -fuzz` target calling into a
// browser per input would be far too slow; this bounded run is the shape CI can afford.
//
// Each program runs against a real SDK Peer over fake RTCPeerConnection and data channels (the Peer takes the
// constructor as an option, as in runtimes without WebRTC), through the same handlers a real channel calls:
//   - control: every line goes to the `p2plobby` channel, once as the offerer and once as the answerer;
//   - file: the first line goes to the control channel; an offer it makes is accepted (in memory) and the other
//     lines arrive on its `file:<tid>` channel.
//
// Invariants: no handler throws, no error or unhandled rejection reaches the page; offers handed to the app have
// a valid tid, 1 to LIMITS.filesPerOffer files with safe-integer sizes ≥ 0, names and paths that are fixed points
// of safeName and safePath (so clean, docs/datachannel.md); chat is at most 16 KiB of UTF-8 with a usable time;
// what the SDK answers is JSON with a type; ended transfers release their memory reservation; a stored file has
// the announced size and its SHA-256 (checked with WebCrypto); and the whole run ends (the eval's timeout catches
// a hang).
func TestSDKFuzz(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t, "--turn=false")
	p := open(t, s, "sdk-fuzz", "Fuzz")
	p.eval(sdkFuzzHarness, nil)
	for _, mode := range []struct{ name, corpus string }{{"control", "FuzzControl"}, {"file", "FuzzFileChannel"}} {
		t.Run(mode.name, func(t *testing.T) {
			seeds := readCorpus(t, filepath.Join("..", "peer", "testdata", "fuzz", mode.corpus))
			programs := append(slices.Clone(seeds), mutants(seeds, sdkFuzzMutants, mode.name == "file")...)
			const batch = 200
			var ran, offers, chats, stored int
			for i := 0; i < len(programs); i += batch {
				chunk := programs[i:min(i+batch, len(programs))]
				enc := make([]string, len(chunk))
				for j, prog := range chunk {
					enc[j] = base64.StdEncoding.EncodeToString(prog)
				}
				arg, _ := json.Marshal(enc)
				var res struct {
					Stats    struct{ Offers, Chats, Stored int }
					Ran      int
					Failures []struct {
						Index int
						What  string
					}
				}
				p.eval(fmt.Sprintf(`window.sdkFuzz.run(%q, %s)`, mode.name, arg), &res)
				ran += res.Ran
				offers, chats, stored = offers+res.Stats.Offers, chats+res.Stats.Chats, stored+res.Stats.Stored
				for _, f := range res.Failures {
					prog := programs[i+f.Index]
					t.Errorf("program %d (%d bytes) %+q: %s", i+f.Index, len(prog), prog[:min(len(prog), 300)], f.What)
				}
				if t.Failed() {
					return
				}
			}
			if ran != len(programs) {
				t.Fatalf("ran %d of %d programs", ran, len(programs))
			}
			// The harness reached what it checks: offers and chat handed on, files stored.
			if mode.name == "control" && (offers == 0 || chats == 0) || mode.name == "file" && stored == 0 {
				t.Fatalf("the programs reached too little: %d offers, %d chat messages, %d files stored", offers, chats, stored)
			}
			t.Logf("%d programs (%d seeds) without a failure: %d offers, %d chat messages, %d files stored", ran, len(seeds), offers, chats, stored)
		})
	}
}

// readCorpus reads a go test fuzz v1 corpus directory of single []byte inputs.
func readCorpus(t *testing.T, dir string) [][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		head, body, _ := strings.Cut(string(raw), "\n")
		body = strings.TrimSpace(body)
		if head != "go test fuzz v1" || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
			t.Fatalf("%s: not a go test fuzz v1 file of one []byte", e.Name())
		}
		s, err := strconv.Unquote(body[len("[]byte(") : len(body)-1])
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out = append(out, []byte(s))
	}
	if len(out) == 0 {
		t.Fatalf("no seeds in %s", dir)
	}
	return out
}

// fuzzTokens are what the mutator inserts: the protocol's words, and values that have broken parsers elsewhere.
var fuzzTokens = []string{
	`"t":"files"`, `"t":"eof"`, `"t":"chat"`, `"t":"cancel"`, `"t":"accept"`, `"t":"sas-commit"`, `"t":"sas-nonce"`,
	`"t":"sas-reveal"`, `"t":"member"`, `"t":"bye"`, `"tid":"T1"`, `"index":0`, `"index":-1`, `"index":1e400`,
	`"size":-1`, `"size":1e308`, `"size":9007199254740993`, `"size":"1"`, `"size":0`, `"name":"../x"`,
	`"name":"CON"`, `"name":""`, `"path":"../../.."`, `"path":7`, `"files":[{}]`, `"files":{"length":3}`,
	`"files":[null]`, `"text":"\ud800"`, `"ts":1e400`, `"ts":-8.64e15`, `"__proto__":{"t":"files"}`,
	`"constructor":1`, `"toString":1`, `"sha256":"`, `"sha256":null`, `"key":"abcdefghijklmnopqrstuvwxyz"`,
	`"h":"5a49002f22e11b97ec5340a01d9281464e3c1461f250687adac7ecd523ce9ffd"`, `null`, `[]`, `{}`, `true`, `""`,
	"\\u0000", "\u202e", "\ufeff", "\xff", `,`, `:`, `{`, `}`, `[`, `]`, `"`, `\`,
}

// mutants returns n programs made from seeds by 1 to 4 random mutations each, from a fixed seed.
func mutants(seeds [][]byte, n int, binary bool) [][]byte {
	rng := rand.New(rand.NewPCG(20261130, uint64(len(seeds))))
	out := make([][]byte, 0, n)
	for range n {
		p := slices.Clone(seeds[rng.IntN(len(seeds))])
		for range 1 + rng.IntN(4) {
			p = mutate(rng, p, seeds, binary)
		}
		out = append(out, p)
	}
	return out
}

func mutate(rng *rand.Rand, p []byte, seeds [][]byte, binary bool) []byte {
	at := func() int { return rng.IntN(len(p) + 1) }
	switch rng.IntN(9) {
	case 0: // flip a bit
		if len(p) > 0 {
			p[rng.IntN(len(p))] ^= 1 << rng.IntN(8)
		}
	case 1: // an interesting byte
		if len(p) > 0 {
			interesting := []byte("\"\\{}[],:-9\n\x00\xff")
			p[rng.IntN(len(p))] = interesting[rng.IntN(len(interesting))]
		}
	case 2, 3: // a token
		i := at()
		p = slices.Insert(p, i, []byte(fuzzTokens[rng.IntN(len(fuzzTokens))])...)
	case 4: // cut a range
		if len(p) > 0 {
			i := rng.IntN(len(p))
			p = slices.Delete(p, i, min(len(p), i+1+rng.IntN(16)))
		}
	case 5: // a line of another seed
		lines := bytes.Split(seeds[rng.IntN(len(seeds))], []byte("\n"))
		i := at()
		p = slices.Insert(p, i, append(append([]byte("\n"), lines[rng.IntN(len(lines))]...), '\n')...)
	case 6: // repeat a line
		lines := bytes.Split(p, []byte("\n"))
		l := lines[rng.IntN(len(lines))]
		p = append(append(p, '\n'), bytes.Repeat(append(slices.Clone(l), '\n'), 1+rng.IntN(3))...)
	case 7: // a number made large, negative or fractional
		for i := range p {
			if p[i] >= '0' && p[i] <= '9' && rng.IntN(4) == 0 {
				p = slices.Insert(p, i, []byte([]string{"-", "99999999999999999999", "0.5", "1e"}[rng.IntN(4)])...)
				break
			}
		}
	case 8: // truncate, or (file channel) a binary chunk of random bytes
		if binary {
			chunk := make([]byte, rng.IntN(300))
			for i := range chunk {
				chunk[i] = byte(rng.UintN(256))
				if chunk[i] == '\n' {
					chunk[i] = 0
				}
			}
			p = slices.Insert(p, at(), append(append([]byte("\n\x00"), chunk...), '\n')...)
		} else if len(p) > 0 {
			p = p[:rng.IntN(len(p))]
		}
	}
	return p
}

// sdkFuzzHarness defines window.sdkFuzz.run(mode, programs): it runs each program (base64) against a fresh SDK Peer
// over fake WebRTC objects and returns {ran, failures: [{index, what}]}.
const sdkFuzzHarness = `(async () => {
	const { Peer } = await import('/sdk/peer.js');
	const { safeName, safePath, memoryInUse, MAX_PATH_COMPONENTS } = await import('/sdk/sink.js');
	const { LIMITS } = await import('/sdk/transfer.js');
	const TID = /^[A-Za-z0-9_-]{1,64}$/;
	const utf8 = (s) => new TextEncoder().encode(s).length;
	const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
	// A macrotask turn: lets the SDK's promise chains run. A MessageChannel, because nested timers are clamped to 4 ms.
	const port = new MessageChannel();
	const waiting = [];
	port.port1.onmessage = () => waiting.shift()?.();
	const tick = () => new Promise((r) => { waiting.push(r); port.port2.postMessage(0); });

	class FakeDC extends EventTarget {
		constructor(label) { super(); this.label = label; this.readyState = 'open'; this.sent = []; this.bufferedAmount = 0;
			this.bufferedAmountLowThreshold = 0; this.binaryType = 'blob'; this.onmessage = null; this.onopen = null; this.onclose = null; }
		send(d) { if (this.readyState !== 'open') throw new DOMException('closed', 'InvalidStateError'); this.sent.push(d); }
		close() { this.readyState = 'closed'; }
	}
	const cert = (s) => btoa(s);
	class FakePC extends EventTarget {
		constructor() { super(); this.channels = []; this.localDescription = null; this.remoteDescription = null;
			this.signalingState = 'stable'; this.connectionState = 'connected'; this.iceConnectionState = 'connected';
			this.sctp = { maxMessageSize: 262144, transport: { iceTransport: {} } }; }
		createDataChannel(label) { const dc = new FakeDC(label); this.channels.push(dc); return dc; }
		async createOffer() { return { type: 'offer', sdp: 'v=0\r\n' }; }
		async createAnswer() { return { type: 'answer', sdp: 'v=0\r\n' }; }
		async setLocalDescription(d) { this.localDescription = d; if (d.type === 'offer') this.signalingState = 'have-local-offer'; }
		async setRemoteDescription(d) { this.remoteDescription = d; }
		async addIceCandidate() {}
		async getStats() {
			return new Map([['T', { type: 'transport', localCertificateId: 'L', remoteCertificateId: 'R' }],
				['L', { base64Certificate: cert('local') }], ['R', { base64Certificate: cert('remote') }]]);
		}
		close() { this.connectionState = 'closed'; }
	}

	let pageErrors = [];
	addEventListener('error', (e) => pageErrors.push('error event: ' + (e.error?.stack || e.message)));
	addEventListener('unhandledrejection', (e) => pageErrors.push('unhandled rejection: ' + (e.reason?.stack || e.reason)));

	const decode = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
	// One message per line; a line starting with NUL is binary (the rest of it). Text is UTF-8, as on a data channel.
	const messages = (bytes) => {
		const out = [];
		let start = 0;
		for (let i = 0; i <= bytes.length; i++) {
			if (i < bytes.length && bytes[i] !== 10) continue;
			const line = bytes.subarray(start, i);
			start = i + 1;
			if (line.length > 0 && line[0] === 0) out.push(line.slice(1).buffer);
			else out.push(new TextDecoder().decode(line));
		}
		return out;
	};

	// A connected Peer over fakes, its control channel, and what it emitted.
	const connected = async (initiator) => {
		const seen = { transfers: [], chats: [], members: [] };
		const peer = new Peer({ id: 'them', name: 'Them', sid: 's1', initiator, state: initiator ? 'requesting' : 'incoming',
			signal: () => true, rtcConfig: () => ({}), RTCPeerConnection: FakePC });
		peer.on('transfer', (t) => seen.transfers.push(t));
		peer.on('chat', (m) => seen.chats.push(m));
		peer.on('member', (id) => seen.members.push(id));
		let dc;
		if (initiator) {
			peer.onSignal({ kind: 'accept' });
			await tick();
			dc = peer.pc.channels[0];
		} else {
			peer.accept();
			peer.onSignal({ offer: { type: 'offer', sdp: 'v=0\r\n' } });
			await tick();
			dc = new FakeDC('p2plobby');
			peer.pc.ondatachannel({ channel: dc });
		}
		dc.onopen();
		await tick();
		return { peer, dc, seen };
	};

	const deliver = (dc, data, fail) => {
		try {
			dc.onmessage?.({ data });
		} catch (err) {
			fail('a ' + typeof data + ' message threw: ' + (err?.stack || err));
		}
	};

	const stats = { offers: 0, chats: 0, stored: 0 };
	const checkSeen = ({ peer, dc, seen }, fail) => {
		stats.chats += seen.chats.length;
		for (const t of seen.transfers) {
			if (t.direction !== 'receive') continue;
			stats.offers++;
			if (typeof t.tid !== 'string' || !TID.test(t.tid)) fail('offer with tid ' + JSON.stringify(t.tid));
			if (!Array.isArray(t.files) || t.files.length < 1 || t.files.length > LIMITS.filesPerOffer) fail('offer of ' + t.files?.length + ' files');
			for (const f of t.files ?? []) {
				if (typeof f.name !== 'string' || !f.name || safeName(f.name) !== f.name || utf8(f.name) > 180 || /[\/\\]/.test(f.name)) fail('unclean name ' + JSON.stringify(f.name));
				const parts = f.path === '' ? [] : String(f.path).split('/');
				if (typeof f.path !== 'string' || safePath(f.path) !== f.path || parts.length > MAX_PATH_COMPONENTS || parts.some((c) => c === '' || c === '.' || c === '..')) fail('unclean path ' + JSON.stringify(f.path));
				if (!Number.isSafeInteger(f.size) || f.size < 0) fail('size ' + f.size);
				if (typeof f.type !== 'string') fail('type ' + f.type);
			}
		}
		for (const m of seen.chats) {
			if (typeof m.text !== 'string' || utf8(m.text) > 16384) fail('chat of ' + utf8(String(m.text)) + ' bytes of UTF-8');
			if (!Number.isSafeInteger(m.ts)) fail('chat time ' + m.ts);
			if (typeof m.id !== 'string' || m.id.length > 64) fail('chat id ' + m.id);
		}
		for (const id of seen.members) if (typeof id !== 'string' || !id || id.length > 64) fail('member id ' + id);
		for (const s of dc.sent) {
			let m;
			try { m = JSON.parse(s); } catch { fail('sent non-JSON ' + s); continue; }
			if (!m || typeof m.t !== 'string') fail('sent ' + s);
			if (m.tid !== undefined && !TID.test(m.tid)) fail('answered about tid ' + JSON.stringify(m.tid));
		}
		if (peer.incoming.size > LIMITS.keepEnded + LIMITS.pendingOffers + 1) fail(peer.incoming.size + ' incoming transfers kept');
	};

	const control = async (msgs, fail) => {
		for (const initiator of [true, false]) {
			const c = await connected(initiator);
			for (const m of msgs) deliver(c.dc, m, fail);
			await tick();
			checkSeen(c, fail);
			c.peer.close('closed', 'end of program');
		}
	};

	const file = async (msgs, fail) => {
		const c = await connected(true);
		if (msgs.length === 0) return;
		deliver(c.dc, msgs[0], fail);
		const t = c.seen.transfers.find((x) => x.direction === 'receive' && x.state === 'offered');
		checkSeen(c, fail);
		if (!t) return c.peer.close('closed', 'end of program');
		const stored = [];
		t.on('file', (r) => stored.push(r));
		t.accept({ storage: 'memory' });
		if (t.state === 'receiving') {
			const dc = new FakeDC('file:' + t.tid);
			c.peer.pc.ondatachannel({ channel: dc });
			for (const m of msgs.slice(1)) deliver(dc, m, fail);
			await t.io;
			await tick();
			stats.stored += stored.length;
			for (const r of stored) {
				const meta = t.files[r.index];
				const buf = await r.file.arrayBuffer();
				if (!meta || buf.byteLength !== meta.size) fail('stored ' + buf.byteLength + ' bytes, announced ' + meta?.size);
				const sum = hex(await crypto.subtle.digest('SHA-256', buf));
				if (sum !== r.sha256) fail('stored file hashes to ' + sum + ', reported ' + r.sha256);
			}
			checkSeen({ ...c, dc }, fail);
		}
		c.peer.close('closed', 'end of program');
		await t.io;
		await tick();
		if (!t.ended) fail('transfer not ended by close: ' + t.state);
	};

	window.sdkFuzz = {
		async run(mode, programs) {
			const failures = [];
			let ran = 0;
			Object.assign(stats, { offers: 0, chats: 0, stored: 0 }); // this batch's
			for (let i = 0; i < programs.length; i++) {
				const fail = (what) => failures.push({ index: i, what });
				pageErrors = [];
				try {
					await (mode === 'control' ? control : file)(messages(decode(programs[i])), fail);
				} catch (err) {
					fail('the harness caught: ' + (err?.stack || err));
				}
				await tick();
				for (const e of pageErrors) fail(e);
				if (memoryInUse() !== 0) fail(memoryInUse() + ' bytes of memory still reserved after the program');
				ran++;
				if (failures.length > 20) break;
			}
			return { ran, failures, stats };
		},
	};
})()`
