package peer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// The verification code (docs/datachannel.md, "Verification code"): computed from the two DTLS certificates
// actually presented in the handshake, never from SDP text, and from two nonces exchanged over the encrypted
// control channel with a commitment, so a man in the middle cannot search for certificates or nonces that give
// both people the same code (docs/security.md).

const (
	sasNonceBytes = 32
	sasCommitTag  = "p2plobby-sas-commit-v2\n"
	sasCodeTag    = "p2plobby-verify-v2\n"
)

// certFingerprint is the SHA-256 fingerprint of a DER certificate, as "AB:CD:…".
func certFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// sasCommitment is what the offerer sends before it learns the answerer's nonce.
func sasCommitment(offererNonce string) string {
	sum := sha256.Sum256([]byte(sasCommitTag + offererNonce))
	return hex.EncodeToString(sum[:])
}

// verificationCode is the six-digit code, "123 456", from both certificates' fingerprints (in either order)
// and both nonces (lowercase hex; the offerer's first).
func verificationCode(fpA, fpB, offererNonce, answererNonce string) string {
	a, b := strings.ToUpper(fpA), strings.ToUpper(fpB)
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(sasCodeTag + a + "\n" + b + "\n" + offererNonce + "\n" + answererNonce))
	n := binary.BigEndian.Uint32(sum[:4]) % 1_000_000
	return fmt.Sprintf("%03d %03d", n/1000, n%1000)
}

// dtlsFingerprints reads the two certificates of pc's DTLS session: this side's, and the one the other side
// presented (and pion checked against the SDP).
func dtlsFingerprints(pc *webrtc.PeerConnection) (local, remote string, err error) {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil {
		return "", "", errors.New("no DTLS transport")
	}
	dtls := sctp.Transport()
	der := dtls.GetRemoteCertificate()
	if len(der) == 0 {
		return "", "", errors.New("no remote certificate")
	}
	params, err := dtls.GetLocalParameters()
	if err != nil {
		return "", "", err
	}
	for _, fp := range params.Fingerprints {
		if strings.EqualFold(fp.Algorithm, "sha-256") {
			return strings.ToUpper(fp.Value), certFingerprint(der), nil
		}
	}
	return "", "", errors.New("no sha-256 fingerprint of the local certificate")
}

// sas is one connection's code exchange. The offerer sends sas-commit (a hash of its nonce), the answerer
// answers with its nonce in clear, the offerer reveals its nonce; the answerer checks it against the commitment.
// Neither side can then steer the code: the offerer fixed its nonce before seeing the answerer's, and the
// answerer chose its own before seeing the offerer's. Guarded by the Conn's mu.
type sas struct {
	offerer       bool
	local, remote string // certificate fingerprints
	mine          string // this side's nonce, hex
	commit        string // the offerer's commitment, as received (answerer)
	theirs        string // the other side's nonce, hex
	code          string
	err           error
	done          chan struct{} // closed once code or err is set
}

func newSAS(offerer bool, local, remote string) *sas {
	var n [sasNonceBytes]byte
	rand.Read(n[:])
	return &sas{offerer: offerer, local: local, remote: remote, mine: hex.EncodeToString(n[:]), done: make(chan struct{})}
}

// start returns the first message to send: the offerer's commitment (nil for the answerer).
func (s *sas) start() *ctrlMsg {
	if s.offerer {
		return &ctrlMsg{T: tSASCommit, H: sasCommitment(s.mine)}
	}
	return nil
}

// receive takes one sas-* message and returns the reply to send, if any. A message out of turn, a malformed
// value or a broken commitment ends the exchange with an error (the connection must then be closed).
func (s *sas) receive(m *ctrlMsg) (*ctrlMsg, error) {
	if s.code != "" || s.err != nil {
		return nil, s.finish(fmt.Errorf("%w: verification message %q after the exchange ended", ErrProtocol, m.T))
	}
	switch {
	case !s.offerer && m.T == tSASCommit && s.commit == "" && validHex(m.H):
		s.commit = m.H
		return &ctrlMsg{T: tSASNonce, N: s.mine}, nil
	case s.offerer && m.T == tSASNonce && s.theirs == "" && validHex(m.N):
		s.theirs = m.N
		s.code = verificationCode(s.local, s.remote, s.mine, s.theirs)
		close(s.done)
		return &ctrlMsg{T: tSASReveal, N: s.mine}, nil
	case !s.offerer && m.T == tSASReveal && s.commit != "" && validHex(m.N):
		if sasCommitment(m.N) != s.commit {
			return nil, s.finish(fmt.Errorf("%w: the other side's nonce does not match its commitment", ErrProtocol))
		}
		s.theirs = m.N
		s.code = verificationCode(s.local, s.remote, s.theirs, s.mine)
		close(s.done)
		return nil, nil
	}
	return nil, s.finish(fmt.Errorf("%w: unexpected verification message %q", ErrProtocol, m.T))
}

func (s *sas) finish(err error) error {
	if s.err == nil && s.code == "" {
		s.err = err
		close(s.done)
	}
	return err
}

// validHex reports whether v is a nonce or digest: 64 lowercase hex digits.
func validHex(v string) bool {
	if len(v) != 2*sasNonceBytes {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
