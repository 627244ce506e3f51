// Package peertest has helpers for tests that play a hand-driven WebRTC peer against the Go peer or the
// browser app (a peer that does what the real ones never do).
package peertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// Certificate returns a fresh ECDSA certificate for a pion PeerConnection (Configuration.Certificates), with its
// DER, which pion does not expose otherwise.
func Certificate(t testing.TB) (*webrtc.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peertest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	cert, err := webrtc.NewCertificate(key, tpl)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cert.PEM()
	if err != nil {
		t.Fatal(err)
	}
	for rest := []byte(p); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			t.Fatal("peertest: no certificate in the PEM")
		}
		if b.Type == "CERTIFICATE" {
			return cert, b.Bytes
		}
	}
}

// ColonHex formats a digest the way SDP fingerprints are written: "AB:CD:…".
func ColonHex(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// Fingerprint is the SHA-256 fingerprint of a DER certificate, "AB:CD:…".
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return ColonHex(sum[:])
}
