package e2e

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// TestSDK runs the SDK's pure functions in a real browser, in one page of the server's origin (where the
// modules can be imported).
func TestSDK(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	p := open(t, s, "sdk-tests", "SDK")
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *page)
	}{
		{"SHA256MatchesWebCrypto", sha256MatchesWebCrypto},
		{"SHA256Speed", sha256Speed},
		{"VerificationCodeMatchesGo", verificationCodeMatchesGo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &page{t: t, ctx: p.ctx, name: p.name})
		})
	}
}

func sha256MatchesWebCrypto(t *testing.T, p *page) {
	var mismatches []string
	p.eval(`(async () => {
		const { Sha256, toHex } = await import('/sdk/sha256.js');
		const bad = [];
		const sizes = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4095, 65536, 65537, (1 << 20) + 13];
		for (let n = 0; n < 300; n += 7) sizes.push(n);
		for (const n of sizes) {
			const data = new Uint8Array(n);
			for (let o = 0; o < n; o += 65536) crypto.getRandomValues(data.subarray(o, Math.min(n, o + 65536)));
			const want = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', data)));
			const h = new Sha256();
			for (let o = 0; o < n;) { const k = 1 + Math.floor(Math.random() * 300); h.update(data.subarray(o, o + k)); o += k; }
			const got = h.hex();
			if (got !== want) bad.push(n + ': ' + got + ' != ' + want);
		}
		return bad;
	})()`, &mismatches)
	if len(mismatches) > 0 {
		t.Fatalf("sha256.js differs from WebCrypto:\n%s", strings.Join(mismatches, "\n"))
	}
}

func sha256Speed(t *testing.T, p *page) {
	var best float64
	p.eval(`(async () => {
		const { Sha256 } = await import('/sdk/sha256.js');
		const data = new Uint8Array(64 << 20);
		for (let o = 0; o < data.length; o += 65536) crypto.getRandomValues(data.subarray(o, o + 65536));
		let best = 0;
		for (let run = 0; run < 4; run++) {
			const t0 = performance.now();
			const h = new Sha256();
			for (let o = 0; o < data.length; o += 262144) h.update(data.subarray(o, o + 262144));
			h.hex();
			best = Math.max(best, data.length / 1e6 / ((performance.now() - t0) / 1000));
		}
		return best;
	})()`, &best)
	t.Logf("sha256.js: %.0f MB/s (best of 4 over 64 MiB)", best)
	// The goal is ≥ 100 MB/s (it measures about twice that); the bar is lower so a busy CI machine does
	// not fail the build over speed alone.
	if best < 60 {
		t.Errorf("sha256.js hashes %.0f MB/s, want ≥ 100", best)
	}
}

// goVerificationCode is docs/datachannel.md's algorithm, written independently of the SDK.
func goVerificationCode(t testing.TB, sdpA, sdpB string) string {
	t.Helper()
	re := regexp.MustCompile(`(?mi)^a=fingerprint:sha-256[ \t]+([0-9A-Fa-f:]+)`)
	var fps []string
	for _, sdp := range []string{sdpA, sdpB} {
		m := re.FindStringSubmatch(sdp)
		if m == nil {
			t.Fatalf("no sha-256 fingerprint in SDP:\n%s", sdp)
		}
		fps = append(fps, strings.ToUpper(m[1]))
	}
	sort.Strings(fps)
	sum := sha256.Sum256([]byte("p2plobby-verify-v1\n" + fps[0] + "\n" + fps[1]))
	code := fmt.Sprintf("%06d", binary.BigEndian.Uint32(sum[:4])%1_000_000)
	return code[:3] + " " + code[3:]
}

func verificationCodeMatchesGo(t *testing.T, p *page) {
	local := "v=0\r\na=fingerprint:sha-256 ab:cd:" + strings.Repeat("01:", 29) + "ef\r\n"
	remote := "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:sha-256 " +
		strings.Repeat("FE:", 31) + "00\r\na=fingerprint:sha-256 11:22\r\n"
	var got [2]string
	p.eval(fmt.Sprintf(`(async () => {
		const { verificationCode } = await import('/sdk/verify.js');
		return [verificationCode(%s, %s), verificationCode(%[2]s, %[1]s)];
	})()`, jsString(local), jsString(remote)), &got)
	want := goVerificationCode(t, local, remote)
	if got[0] != want || got[1] != want {
		t.Fatalf("JS codes %q, Go code %q", got, want)
	}
}
