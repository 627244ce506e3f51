package protocol

import (
	"strings"
	"testing"
)

// benchOffer is a relay shaped like a browser's offer: ~1 KB of SDP with escaped line ends.
var benchOffer = []byte(`{"toId":"Qx3kP9vL2mN8rT5wY1zA","fromId":"whatever","offer":{"type":"offer","sdp":"` +
	strings.Repeat(`a=candidate:1 1 udp 2122260223 192.0.2.2 54321 typ host generation 0\r\n`, 13) + `"},"sid":"s-1"}`)

func BenchmarkDecodeOffer(b *testing.B) {
	b.SetBytes(int64(len(benchOffer)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(benchOffer); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCandidate(b *testing.B) {
	msg := []byte(`{"toId":"Qx3kP9vL2mN8rT5wY1zA","candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.2 54321 typ host generation 0 ufrag abcd","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}`)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReferenceDecodeOffer is the encoding/json version on the same message, for comparison.
func BenchmarkReferenceDecodeOffer(b *testing.B) {
	b.SetBytes(int64(len(benchOffer)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := referenceDecode(benchOffer); err != nil {
			b.Fatal(err)
		}
	}
}
