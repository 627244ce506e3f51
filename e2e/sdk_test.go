package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
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

// sha256Speed measures sha256.js (it bounds file-transfer speed, which hashes every byte on both sides). A
// measurement, not a check, so a busy machine never fails the build over speed:
//
//	P2PLOBBY_BENCH=5 go test ./e2e -run TestSDK/SHA256Speed -v     (5 runs over 64 MiB)
func sha256Speed(t *testing.T, p *page) {
	runs, _ := strconv.Atoi(os.Getenv("P2PLOBBY_BENCH"))
	if runs <= 0 {
		t.Skip("set P2PLOBBY_BENCH=N to measure sha256.js N times")
	}
	var speeds []float64
	p.eval(fmt.Sprintf(`(async () => {
		const { Sha256 } = await import('/sdk/sha256.js');
		const data = new Uint8Array(64 << 20);
		for (let o = 0; o < data.length; o += 65536) crypto.getRandomValues(data.subarray(o, o + 65536));
		const speeds = [];
		for (let run = 0; run < %d; run++) {
			const t0 = performance.now();
			const h = new Sha256();
			for (let o = 0; o < data.length; o += 262144) h.update(data.subarray(o, o + 262144));
			h.hex();
			speeds.push(data.length / 1e6 / ((performance.now() - t0) / 1000));
		}
		return speeds;
	})()`, runs), &speeds)
	slices.Sort(speeds)
	t.Logf("sha256.js over 64 MiB: %.0f MB/s, median (min–max) of %d: %.0f–%.0f", speeds[len(speeds)/2], runs, speeds[0], speeds[len(speeds)-1])
}

// goVerificationCode is docs/datachannel.md's algorithm, written independently of the SDK and of the Go peer:
// the two certificates' SHA-256 fingerprints (either order) and the offerer's and answerer's nonces.
func goVerificationCode(fpA, fpB, offererNonce, answererNonce string) string {
	fps := []string{strings.ToUpper(fpA), strings.ToUpper(fpB)}
	sort.Strings(fps)
	sum := sha256.Sum256([]byte("p2plobby-verify-v2\n" + fps[0] + "\n" + fps[1] + "\n" + offererNonce + "\n" + answererNonce))
	code := fmt.Sprintf("%06d", binary.BigEndian.Uint32(sum[:4])%1_000_000)
	return code[:3] + " " + code[3:]
}

// derFingerprint is the SHA-256 fingerprint of a base64 DER certificate, "AB:CD:…".
func derFingerprint(t testing.TB, b64 string) string {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(der) == 0 {
		t.Fatalf("certificate %q: %v", b64, err)
	}
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func verificationCodeMatchesGo(t *testing.T, p *page) {
	// docs/datachannel.md's test vector.
	const (
		fpA, fpB = "6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
			"3D:F9:E5:96:10:9A:1B:2C:79:F0:67:95:43:B3:47:E9:29:7D:A0:57:A6:C8:5C:F2:DA:41:B8:4A:DA:5E:EE:3A"
		nO = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
		nA = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
	)
	var got struct{ AB, BA, Commit, Empty string }
	p.eval(fmt.Sprintf(`(async () => {
		const v = await import('/sdk/verify.js');
		return {ab: v.verificationCode(%[1]s, %[2]s, %[3]s, %[4]s), ba: v.verificationCode(%[2]s, %[1]s.toLowerCase(), %[3]s, %[4]s),
			commit: v.sasCommitment(%[3]s), empty: v.certFingerprint(new Uint8Array(0))};
	})()`, jsString(fpA), jsString(fpB), jsString(nO), jsString(nA)), &got)
	want := goVerificationCode(fpA, fpB, nO, nA)
	if want != "254 896" {
		t.Fatalf("the Go reference gives %q for the documented vector, want 254 896", want)
	}
	if got.AB != want || got.BA != want {
		t.Errorf("JS codes %q and %q, want %q", got.AB, got.BA, want)
	}
	commit := sha256.Sum256([]byte("p2plobby-sas-commit-v2\n" + nO))
	if got.Commit != hex.EncodeToString(commit[:]) {
		t.Errorf("JS commitment %q", got.Commit)
	}
	if got.Empty != "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55" {
		t.Errorf("JS fingerprint of nothing: %q", got.Empty)
	}
}
