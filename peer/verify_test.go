package peer

import "testing"

// The vector is also in docs/datachannel.md, for the browser SDK's tests.
const (
	vectorA    = "6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08"
	vectorB    = "3D:F9:E5:96:10:9A:1B:2C:79:F0:67:95:43:B3:47:E9:29:7D:A0:57:A6:C8:5C:F2:DA:41:B8:4A:DA:5E:EE:3A"
	vectorCode = "649 602"
)

func sdpWith(fp string) string {
	return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"a=fingerprint:sha-256 " + fp + "\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
}

func TestVerificationCode(t *testing.T) {
	ab := verificationCode(sdpWith(vectorA), sdpWith(vectorB))
	ba := verificationCode(sdpWith(vectorB), sdpWith(vectorA))
	if ab != ba {
		t.Fatalf("not symmetric: %q vs %q", ab, ba)
	}
	if ab != vectorCode {
		t.Errorf("code %q, want %q", ab, vectorCode)
	}
	lower := verificationCode(sdpWith(toLower(vectorA)), sdpWith(vectorB))
	if lower != ab {
		t.Errorf("case matters: %q vs %q", lower, ab)
	}
	if c := verificationCode("v=0\r\n", sdpWith(vectorB)); c != "" {
		t.Errorf("code without a fingerprint: %q", c)
	}
	// Only sha-256 counts, and the first one.
	sdp := "a=fingerprint:sha-1 AA:BB\r\na=fingerprint:sha-256 " + vectorA + "\r\na=fingerprint:sha-256 00:11\r\n"
	if got := sdpFingerprint(sdp); got != vectorA {
		t.Errorf("fingerprint %q", got)
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
