package peer

// Hostile peers against the Go peer (issue "peers are strangers"): what the other side sends is checked, and
// the verification code comes from what was really negotiated.

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/peertest"
)

// sdpFingerprintLine matches every a=fingerprint line of an SDP.
var sdpFingerprintLine = regexp.MustCompile(`(?m)^a=fingerprint:[^\r\n]*\r?\n`)

// TestCodeFromTheCertificateNotTheSDP: the offer names the real certificate at session level as sha-384, which
// pion checks, and a made-up sha-256 at media level. The code must still come from the certificates of the DTLS
// session (and the nonces), never from the made-up fingerprint.
func TestCodeFromTheCertificateNotTheSDP(t *testing.T) {
	t.Parallel()
	url, room := serverURL(t), testRoom(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	victim, err := Dial(ctx, url, &Options{Room: room, Name: "victim", Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	fake := strings.Repeat("AB:", 31) + "AB"
	r := dialRaw(t, ctx, url, room, victim, func(sdp string, der []byte) string {
		sum := sha512.Sum384(der)
		sdp = sdpFingerprintLine.ReplaceAllString(sdp, "")
		session := "a=fingerprint:sha-384 " + peertest.ColonHex(sum[:]) + "\r\n"
		sdp = strings.Replace(sdp, "\r\nm=", "\r\n"+session+"m=", 1) // last session-level line
		return strings.Replace(sdp, "a=setup:", "a=fingerprint:sha-256 "+fake+"\r\na=setup:", 1)
	}, nil)
	conn := acceptRaw(t, ctx, victim, r)

	var theirs string
	select {
	case theirs = <-r.their:
	case <-ctx.Done():
		t.Fatal("no nonce from the victim")
	}
	victimCert := r.pc.SCTP().Transport().GetRemoteCertificate()
	want := verificationCode(certFingerprint(r.der), certFingerprint(victimCert), r.nonce, theirs)
	if got := conn.VerificationCode(); got != want {
		t.Fatalf("victim shows %q; the certificates and nonces give %q (the made-up fingerprint would give %q)",
			got, want, verificationCode(fake, certFingerprint(victimCert), r.nonce, theirs))
	}
}

// TestLargestControlMessages: chat of exactly MaxChatBytes (its JSON is over 16 KiB) and an offer of many files
// (far over 16 KiB) arrive, both ways, and later chat still does: the control channel's reader neither spins
// nor goes deaf on messages larger than its usual buffer.
func TestLargestControlMessages(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	big := strings.Repeat("\"", MaxChatBytes) // every quote is escaped: 32 KiB of JSON
	for _, tc := range []struct{ from, to *Conn }{{ca, cb}, {cb, ca}} {
		if err := tc.from.SendChat(big); err != nil {
			t.Fatal(err)
		}
		if err := tc.from.SendChat("after"); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{big, "after"} {
			select {
			case m := <-tc.to.Chat():
				if m.Text != want {
					t.Fatalf("chat of %d bytes, want %d", len(m.Text), len(want))
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("chat of %d bytes did not arrive", len(want))
			}
		}
	}
	// An offer listing 500 files with long names: about 150 KiB of JSON.
	var files []FileInfo
	for i := range 500 {
		files = append(files, FileInfo{Name: fmt.Sprintf("%0200d.txt", i), Size: 1})
	}
	if err := ca.sendCtrl(&ctrlMsg{T: tFiles, TID: "manyfiles", Files: files}); err != nil {
		t.Fatal(err)
	}
	select {
	case in := <-cb.Transfers():
		if len(in.Files) != len(files) {
			t.Fatalf("offer of %d files arrived with %d", len(files), len(in.Files))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the offer of 500 files did not arrive")
	}
	if err := ca.SendChat("still there"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-cb.Chat():
		if m.Text != "still there" {
			t.Fatalf("chat %q", m.Text)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("chat after the big offer did not arrive")
	}
}

// An offer of more files than MaxOfferFiles is declined as it arrives, and the sender learns why.
func TestOfferOfTooManyFilesDeclined(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	files := make([]FileSource, MaxOfferFiles+1)
	for i := range files {
		files[i] = FileSource{FileInfo: FileInfo{Name: fmt.Sprint(i), Size: 0},
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("")), nil }}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := ca.SendFiles(ctx, files, nil)
	if !errors.Is(err, ErrDeclined) || !strings.Contains(err.Error(), "more than 1000 files") {
		t.Fatalf("SendFiles: %v, want ErrDeclined naming the limit", err)
	}
	select {
	case tr := <-cb.Transfers():
		t.Fatalf("the receiver was handed an offer of %d files", len(tr.Files))
	default:
	}
}

// An offer with a field of the wrong type (a size of 1.5 bytes) is declined as malformed, as the SDK does, so
// that its sender does not wait forever; it never reaches the application.
func TestOfferOfWrongTypesDeclined(t *testing.T) {
	const tid = "0123456789abcdef"
	c, ch := fuzzConn(false, []fuzzMsg{{data: []byte(`{"t":"files","tid":"` + tid + `","files":[{"name":"a","size":1.5}]}`), text: true}})
	c.readControl()
	if len(ch.sent) != 1 {
		t.Fatalf("answered %d messages, want one decline: %q", len(ch.sent), ch.sent)
	}
	var m ctrlMsg
	if err := json.Unmarshal(ch.sent[0], &m); err != nil || m.T != tDecline || m.TID != tid || m.Reason != "malformed offer" {
		t.Fatalf("answered %s, want a decline of %s as a malformed offer", ch.sent[0], tid)
	}
	select {
	case tr, ok := <-c.Transfers(): // closed once the reader has ended
		if ok {
			t.Fatalf("the application was handed the offer %v", tr.Files)
		}
	default:
	}
}
