package peer

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/p2plobby/p2plobby/internal/peertest"
)

// The vector is also in docs/datachannel.md, for the browser SDK's tests (e2e TestVerificationVector).
const (
	vectorA        = "6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08"
	vectorB        = "3D:F9:E5:96:10:9A:1B:2C:79:F0:67:95:43:B3:47:E9:29:7D:A0:57:A6:C8:5C:F2:DA:41:B8:4A:DA:5E:EE:3A"
	vectorOfferer  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	vectorAnswerer = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
	vectorCommit   = "5a49002f22e11b97ec5340a01d9281464e3c1461f250687adac7ecd523ce9ffd"
	vectorCode     = "254 896"
)

func TestVerificationVector(t *testing.T) {
	ab := verificationCode(vectorA, vectorB, vectorOfferer, vectorAnswerer)
	if ba := verificationCode(vectorB, strings.ToLower(vectorA), vectorOfferer, vectorAnswerer); ab != ba {
		t.Fatalf("order or case of the fingerprints matters: %q vs %q", ab, ba)
	}
	if ab != vectorCode {
		t.Errorf("code %q, want %q", ab, vectorCode)
	}
	if c := sasCommitment(vectorOfferer); c != vectorCommit {
		t.Errorf("commitment %q, want %q", c, vectorCommit)
	}
	if swapped := verificationCode(vectorA, vectorB, vectorAnswerer, vectorOfferer); swapped == ab {
		t.Errorf("the nonces' roles do not matter")
	}
}

func TestCertFingerprint(t *testing.T) {
	// SHA-256 of the empty input, the way SDP writes fingerprints.
	want := "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
	if got := certFingerprint(nil); got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}

// exchange runs the messages between an offerer and an answerer, as the control channel would.
func exchange(t *testing.T, off, ans *sas, tamper func(*ctrlMsg)) error {
	t.Helper()
	msg, to, other := off.start(), ans, off
	for msg != nil {
		if tamper != nil {
			tamper(msg)
		}
		reply, err := to.receive(msg)
		if err != nil {
			return err
		}
		msg, to, other = reply, other, to
	}
	return nil
}

func TestSASExchange(t *testing.T) {
	off, ans := newSAS(true, vectorA, vectorB), newSAS(false, vectorB, vectorA)
	if err := exchange(t, off, ans, nil); err != nil {
		t.Fatal(err)
	}
	if off.code == "" || off.code != ans.code {
		t.Fatalf("codes %q and %q", off.code, ans.code)
	}
	select {
	case <-off.done:
	default:
		t.Fatal("offerer not done")
	}

	// A man in the middle who changes the revealed nonce is caught by the commitment.
	off, ans = newSAS(true, vectorA, vectorB), newSAS(false, vectorB, vectorA)
	err := exchange(t, off, ans, func(m *ctrlMsg) {
		if m.T == tSASReveal {
			m.N = vectorAnswerer
		}
	})
	if !errors.Is(err, ErrProtocol) || ans.code != "" || ans.err == nil {
		t.Fatalf("a nonce that does not match the commitment: err %v, code %q", err, ans.code)
	}

	// Out of turn, twice, or malformed: refused.
	for _, tc := range []struct {
		name    string
		offerer bool
		msgs    []*ctrlMsg
	}{
		{"reveal before commit", false, []*ctrlMsg{{T: tSASReveal, N: vectorOfferer}}},
		{"commit to the offerer", true, []*ctrlMsg{{T: tSASCommit, H: vectorOfferer}}},
		{"nonce to the answerer", false, []*ctrlMsg{{T: tSASNonce, N: vectorOfferer}}},
		{"two commits", false, []*ctrlMsg{{T: tSASCommit, H: vectorOfferer}, {T: tSASCommit, H: vectorOfferer}}},
		{"short nonce", true, []*ctrlMsg{{T: tSASNonce, N: "abcd"}}},
		{"upper-case hex", true, []*ctrlMsg{{T: tSASNonce, N: strings.ToUpper(vectorOfferer)}}},
	} {
		s := newSAS(tc.offerer, vectorA, vectorB)
		var err error
		for _, m := range tc.msgs {
			if _, err = s.receive(m); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrProtocol) || s.code != "" {
			t.Errorf("%s: err %v, code %q", tc.name, err, s.code)
		}
	}
}

// BenchmarkGrindCertificate is what a man in the middle pays per try to search for a certificate whose
// fingerprint makes a certificates-only code (version 1) match: change a few bytes of a DER certificate
// (WebRTC checks no signature, only the fingerprint, so nothing needs signing again), hash it, compute the
// code. docs/security.md multiplies it by the 2^20 tries six digits take.
func BenchmarkGrindCertificate(b *testing.B) {
	_, der := peertest.Certificate(b)
	other := certFingerprint(der)
	for i := 0; b.Loop(); i++ {
		der[len(der)-8] = byte(i)
		der[len(der)-7] = byte(i >> 8)
		der[len(der)-6] = byte(i >> 16)
		fp := certFingerprint(der)
		a, c := fp, other
		if c < a {
			a, c = c, a
		}
		sum := sha256.Sum256([]byte("p2plobby-verify-v1\n" + a + "\n" + c))
		_ = binary.BigEndian.Uint32(sum[:4]) % 1_000_000
	}
}
