package peer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for everything the Go peer parses from the other peer (docs/datachannel.md): control messages (with
// the offers, their names, sizes and paths, and the verification exchange), and a file channel's chunks and eof
// messages. The other side is a stranger, so whatever it sends: no panic, no hang, nothing stored outside the
// receiving directory or under an unclean name, nothing beyond the announced sizes.
//
// An input is a program of data-channel messages, one per line: a line is a text message, or a binary one when it
// starts with a NUL byte (the rest of the line). The browser SDK is fed the same programs (e2e TestSDKFuzz), seeds
// included (testdata/fuzz/FuzzControl, testdata/fuzz/FuzzFileChannel).

// fuzzMessages splits a program into messages.
func fuzzMessages(program []byte) []fuzzMsg {
	var out []fuzzMsg
	for line := range bytes.SplitSeq(program, []byte("\n")) {
		if len(line) > 0 && line[0] == 0 {
			out = append(out, fuzzMsg{data: line[1:]})
		} else {
			out = append(out, fuzzMsg{data: line, text: true})
		}
	}
	return out
}

type fuzzMsg struct {
	data []byte
	text bool
}

// errProgramEnd ends a fuzz channel's stream: not io.EOF, whose handling waits for a late cancel.
var errProgramEnd = errors.New("end of the fuzz program")

// fuzzChannel is a data channel's stream that delivers a program's messages, then errProgramEnd (or io.EOF once
// closed), as pion's detached channel does: a message larger than the buffer is io.ErrShortBuffer and stays queued.
type fuzzChannel struct {
	mu     sync.Mutex
	in     []fuzzMsg
	end    error
	closed bool
	sent   [][]byte // text messages written
}

func (f *fuzzChannel) ReadDataChannel(b []byte) (int, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, false, io.EOF
	}
	if len(f.in) == 0 {
		return 0, false, f.end
	}
	m := f.in[0]
	if len(m.data) > len(b) {
		return 0, false, io.ErrShortBuffer
	}
	f.in = f.in[1:]
	return copy(b, m.data), m.text, nil
}

func (f *fuzzChannel) WriteDataChannel(b []byte, isString bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, io.ErrClosedPipe
	}
	if isString {
		f.sent = append(f.sent, bytes.Clone(b))
	}
	return len(b), nil
}

func (f *fuzzChannel) Read(b []byte) (int, error) {
	n, _, err := f.ReadDataChannel(b)
	return n, err
}

func (f *fuzzChannel) Write(b []byte) (int, error) { return f.WriteDataChannel(b, false) }

func (f *fuzzChannel) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// fuzzConn is a Conn over a fuzzChannel: no WebRTC, the real control reader. An outgoing transfer "out1" is
// registered so that answers to it are delivered.
func fuzzConn(offerer bool, msgs []fuzzMsg) (*Conn, *fuzzChannel) {
	log := slog.New(slog.DiscardHandler)
	cl := &Client{log: log, sessions: map[string]*session{}}
	s := newSession(cl, Member{ID: "them", Name: "them"}, "sid", offerer)
	ch := &fuzzChannel{in: msgs, end: io.EOF}
	c := &Conn{
		s:         s,
		ctrl:      &channel{rwc: ch},
		log:       log,
		chat:      make(chan ChatMessage, chatBuffer),
		transfers: make(chan *IncomingTransfer, transferBuffer),
		out:       map[string]*outgoing{"out1": {ev: make(chan *ctrlMsg, 4)}},
		in:        make(map[string]*IncomingTransfer),
		sas:       newSAS(offerer, "AA:BB", "CC:DD"),
	}
	s.conn = c
	return c, ch
}

// FuzzControl feeds a program to the control channel's reader, as the offerer and as the answerer. Whatever it
// holds: no panic; the reader ends; chat is at most MaxChatBytes of UTF-8; every offer handed to the application has
// a valid tid (unique), 1 to MaxOfferFiles files with sizes ≥ 0, names that sanitize to clean names, and paths
// already clean; what this side answers is valid JSON of a known type; and every message decodes back to itself
// once encoded.
func FuzzControl(f *testing.F) {
	for _, seed := range fuzzControlSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		msgs := fuzzMessages(program)
		for _, m := range msgs {
			if m.text {
				checkCtrlRoundTrip(t, m.data)
			}
		}
		for _, offerer := range []bool{true, false} {
			c, ch := fuzzConn(offerer, msgs)
			c.readControl()
			select {
			case <-c.s.done:
			default:
				t.Fatal("the control reader returned, and the session goes on")
			}
			checkDelivered(t, c)
			for _, b := range ch.sent {
				var m ctrlMsg
				if err := json.Unmarshal(b, &m); err != nil || !knownType(m.T) {
					t.Fatalf("answered %q", b)
				}
				if m.TID != "" && !validTID(m.TID) {
					t.Fatalf("answered about an invalid tid: %q", b)
				}
			}
		}
	})
}

func knownType(t string) bool {
	switch t {
	case tHello, tChat, tFiles, tAccept, tDecline, tCancel, tReceived, tFailed, tBye, tSASCommit, tSASNonce, tSASReveal:
		return true
	}
	return false
}

// checkCtrlRoundTrip: a control message this side decodes encodes to one that decodes to the same message
// (encoding/json turns invalid UTF-8 into U+FFFD while decoding, so the decoded one is what must survive).
func checkCtrlRoundTrip(t *testing.T, data []byte) {
	var m ctrlMsg
	if json.Unmarshal(data, &m) != nil {
		return
	}
	b, err := json.Marshal(&m)
	if err != nil {
		t.Fatalf("decoded %q, cannot encode it: %v", data, err)
	}
	var again ctrlMsg
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatalf("%q encodes to %q, which does not decode: %v", data, b, err)
	}
	if len(m.Files) == 0 {
		m.Files = nil // [] and absent are one thing (omitempty)
	}
	if !reflect.DeepEqual(m, again) {
		t.Fatalf("%q decodes to %+v, which encodes to %q, which decodes to %+v", data, m, b, again)
	}
}

// checkDelivered checks what the control reader handed to the application.
func checkDelivered(t *testing.T, c *Conn) {
	for m := range c.chat {
		if len(m.Text) > MaxChatBytes || !utf8.ValidString(m.Text) {
			t.Fatalf("chat of %d bytes handed on (valid UTF-8: %v)", len(m.Text), utf8.ValidString(m.Text))
		}
	}
	tids := map[string]bool{}
	for tr := range c.transfers {
		if !validTID(tr.ID) || tids[tr.ID] {
			t.Fatalf("offer with tid %q handed on (repeated: %v)", tr.ID, tids[tr.ID])
		}
		tids[tr.ID] = true
		if len(tr.Files) == 0 || len(tr.Files) > MaxOfferFiles {
			t.Fatalf("offer of %d files handed on", len(tr.Files))
		}
		for _, f := range tr.Files {
			if f.Size < 0 || f.Name == "" {
				t.Fatalf("file %+v handed on", f)
			}
			checkSafeName(t, f.Name, sanitizeName(f.Name))
			checkSafePath(t, f.Path, f.Path, filepath.FromSlash("/srv/downloads")) // already clean: stable
		}
		if tr.TotalSize() < 0 {
			t.Fatalf("total size %d", tr.TotalSize())
		}
	}
}

// checkSafeName fails unless name (cleaned from in) is a stable, non-empty base name of at most maxNameBytes of
// valid UTF-8 with nothing hidden: no separator, control or bidi character, no leading dot or space, no trailing
// dot or space, no Windows device name.
func checkSafeName(t *testing.T, in, name string) {
	t.Helper()
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	bad := name == "" || len(name) > maxNameBytes || !utf8.ValidString(name) || sanitizeName(name) != name ||
		strings.ContainsAny(name, `/\<>:"|?*`) || strings.ContainsFunc(name, removedInName) ||
		trimmedInName(first) || trimmedInName(last) || reservedName(name)
	if bad {
		t.Fatalf("sanitizeName(%+q) = %+q: not a clean name", in, name)
	}
}

// FuzzSanitizeName: whatever a sender names a file, the receiver's name for it is clean (checkSafeName).
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../etc/passwd", "CON.txt", "photo\u202egpj.exe", ". .", "a\x00b", "\xff", strings.Repeat("é", 120) + ".tar.gz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkSafeName(t, in, sanitizeName(in))
	})
}

// FuzzFileChannel: the program's first line is an offer ({"t":"files",…}); if the Go peer takes it, it is
// accepted into a fresh directory and the other lines are what arrives on its file channel: chunks (binary) and
// eof messages (text). Whatever arrives: no panic; what is stored is inside the directory, under clean names, with
// the announced size and SHA-256; nothing partial is left; a failed transfer leaves no empty directory it created.
func FuzzFileChannel(f *testing.F) {
	for _, seed := range fuzzFileSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		msgs := fuzzMessages(program)
		if len(msgs) == 0 || !msgs[0].text {
			return
		}
		c, _ := fuzzConn(true, nil)
		var offer ctrlMsg
		if json.Unmarshal(msgs[0].data, &offer) != nil || offer.T != tFiles {
			return
		}
		c.proposed(&offer)
		var tr *IncomingTransfer
		select {
		case tr = <-c.transfers:
		default:
			return // declined
		}
		dir := t.TempDir()
		file := &fuzzChannel{in: msgs[1:], end: errProgramEnd}
		tr.fileCh <- &channel{rwc: file}
		const maxSize = 1 << 20
		paths, err := tr.AcceptWith(context.Background(), dir, &AcceptOptions{MaxSize: maxSize, MaxFiles: 100})
		if errors.Is(err, ErrLimitExceeded) {
			if tr.TotalSize() <= maxSize && len(tr.Files) <= 100 {
				t.Fatalf("declined within the limits: %v", err)
			}
			return
		}
		if err == nil && len(paths) != len(tr.Files) {
			t.Fatalf("%d files stored of %d, and no error", len(paths), len(tr.Files))
		}
		for i, p := range paths {
			checkStored(t, dir, p, tr.Files[i])
		}
		var stored int
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, werr error) error {
			if werr != nil {
				t.Fatal(werr)
			}
			switch {
			case strings.HasSuffix(p, ".p2plobby-partial"):
				t.Fatalf("partial file left: %s", p)
			case d.Type().IsRegular():
				stored++
			case d.IsDir() && err != nil && p != dir:
				if entries, _ := os.ReadDir(p); len(entries) == 0 {
					t.Fatalf("the failed transfer left the empty directory %s", p)
				}
			case !d.IsDir():
				t.Fatalf("%s is neither a file nor a directory", p)
			}
			return nil
		})
		if stored != len(paths) {
			t.Fatalf("%d files in the directory, %d reported stored", stored, len(paths))
		}
	})
}

// checkStored: p is inside dir, in its announced (cleaned) directory, under a clean name derived from the
// announced one, with the announced size.
func checkStored(t *testing.T, dir, p string, f FileInfo) {
	t.Helper()
	rel, err := filepath.Rel(dir, p)
	if err != nil || !filepath.IsLocal(rel) {
		t.Fatalf("stored %s outside %s", p, dir)
	}
	if got, want := filepath.ToSlash(filepath.Dir(rel)), f.Path; got != want && !(got == "." && want == "") {
		t.Fatalf("stored %q in %q, announced in %q", f.Name, got, want)
	}
	checkSafeName(t, f.Name, filepath.Base(p))
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != f.Size {
		t.Fatalf("stored %s: %v, size %v of %d", p, err, fi, f.Size)
	}
}

// fuzzControlSeeds are programs of the spec's messages, valid and not.
var fuzzControlSeeds = []string{
	`{"t":"hello","v":2,"agent":"p2plobby-js/1"}`,
	`{"t":"hello","v":2,"agent":"p2plobby-js/1"}` + "\n" + `{"t":"sas-commit","h":"5a49002f22e11b97ec5340a01d9281464e3c1461f250687adac7ecd523ce9ffd"}` + "\n" +
		`{"t":"sas-reveal","n":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}`,
	`{"t":"sas-nonce","n":"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"}` + "\n" + `{"t":"sas-nonce","n":"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"}`,
	`{"t":"chat","id":"m1","text":"hello","ts":1700000000000}` + "\n" + `{"t":"chat","id":"m2","text":"\ud83d\ude00 \u202e","ts":-1}`,
	`{"t":"files","tid":"T1","files":[{"name":"notes.txt","size":12,"type":"text/plain","path":"holiday"},{"name":"b.jpg","size":48213,"type":"image/jpeg","path":"holiday/photos/2024"}]}`,
	`{"t":"files","tid":"T2","files":[{"name":"../../etc/passwd","size":1,"type":"","path":"../../x"},{"name":"CON.txt","size":0},{"name":"photo\u202egpj.exe","size":9223372036854775807}]}`,
	`{"t":"files","tid":"T3","files":[]}` + "\n" + `{"t":"files","tid":"bad tid!","files":[{"name":"a","size":1}]}` + "\n" + `{"t":"files","tid":"T4","files":[{"name":"","size":-1}]}`,
	`{"t":"files","tid":"T5","files":[{"name":"a","size":1.5}]}` + "\n" + `{"t":"files","tid":"T5","files":[{"name":"a","size":1}]}` + "\n" + `{"t":"files","tid":"T5","files":[{"name":"b","size":2}]}`,
	`{"t":"accept","tid":"out1"}` + "\n" + `{"t":"received","tid":"out1","index":0}` + "\n" + `{"t":"failed","tid":"out1","index":1,"code":"integrity","message":"x"}`,
	`{"t":"decline","tid":"out1","reason":"no"}` + "\n" + `{"t":"cancel","tid":"T1","reason":"stop"}` + "\n" + `{"t":"bye"}` + "\n" + `{"t":"chat","text":"after bye"}`,
	`{"t":"member","id":"M1","key":"abcdefghijklmnopqrstuvwxyz"}` + "\n" + `{"t":"unknown"}` + "\n" + `[]` + "\n" + `null` + "\n" + `{"t":1}` + "\n" + "\x00binary",
	`{"t":"chat","text":"` + strings.Repeat("x", 17000) + `"}`,
	`{"t":"chat","text":"` + strings.Repeat("x", 16383) + `\u00e9\ud83d\ude00"}`, // over 16 KiB of UTF-8 within 16384 UTF-16 units
}

// fuzzFileSeeds are offers followed by what the file channel carries.
var fuzzFileSeeds = []string{
	// Two files, the second in a folder, sent correctly; then an extra message.
	`{"t":"files","tid":"T1","files":[{"name":"a.txt","size":5},{"name":"b.txt","size":3,"path":"d/e"}]}` + "\n" +
		"\x00hel\n\x00lo\n" + eofLine(0, "hello") + "\n\x00abc\n" + eofLine(1, "abc") + "\n" + eofLine(2, ""),
	// An empty file, a hostile name and path.
	`{"t":"files","tid":"T2","files":[{"name":"../.hidden","size":0,"path":"../../x/./y"}]}` + "\n" + eofLine(0, ""),
	// More bytes than announced; a wrong hash; an eof out of order; not JSON.
	`{"t":"files","tid":"T3","files":[{"name":"a","size":2}]}` + "\n\x00abc\n" + eofLine(0, "abc"),
	`{"t":"files","tid":"T4","files":[{"name":"a","size":3}]}` + "\n\x00abc\n" + eofLine(0, "abd"),
	`{"t":"files","tid":"T5","files":[{"name":"a","size":3},{"name":"a","size":0}]}` + "\n\x00abc\n" + eofLine(1, "abc"),
	`{"t":"files","tid":"T6","files":[{"name":"a","size":3}]}` + "\n{\"t\":\"eof\"\n\x00abc",
	// Over the harness's limits: declined.
	`{"t":"files","tid":"T7","files":[{"name":"a","size":9223372036854775807},{"name":"b","size":9223372036854775807}]}`,
}

// eofLine is the eof message of file index with content s.
func eofLine(index int, s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf(`{"t":"eof","index":%d,"sha256":%q}`, index, hex.EncodeToString(sum[:]))
}
