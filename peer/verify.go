package peer

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// verificationCode computes docs/datachannel.md's verification code from the two session descriptions.
// It is symmetric, so both sides get the same code; it is empty if either SDP lacks a sha-256 fingerprint.
func verificationCode(localSDP, remoteSDP string) string {
	a, b := sdpFingerprint(localSDP), sdpFingerprint(remoteSDP)
	if a == "" || b == "" {
		return ""
	}
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte("p2plobby-verify-v1\n" + a + "\n" + b))
	n := binary.BigEndian.Uint32(sum[:4]) % 1_000_000
	return fmt.Sprintf("%03d %03d", n/1000, n%1000)
}

// sdpFingerprint returns the value of the first "a=fingerprint:sha-256 …" line (session or media level),
// upper-cased: "AB:CD:…".
func sdpFingerprint(sdp string) string {
	for line := range strings.Lines(sdp) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=fingerprint:")
		if !ok {
			continue
		}
		alg, value, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(alg, "sha-256") {
			return strings.ToUpper(strings.TrimSpace(value))
		}
	}
	return ""
}
