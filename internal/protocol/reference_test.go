package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// referenceDecode is Decode written the obvious way, on encoding/json: the oracle the fast decoder is
// fuzzed against. Decoding into a map keeps field names exact and the last of repeated names, like Decode.
func referenceDecode(data []byte) (Request, *Error) {
	var req Request
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if !json.Valid(data) {
			return req, errNotJSON
		}
		return req, errNotObject
	}
	var w map[string]json.RawMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return req, errNotJSON
	}
	present := func(k string) bool { v, ok := w[k]; return ok && v != nil && !isNull(v) }
	var kind string
	if present("kind") {
		if err := json.Unmarshal(w["kind"], &kind); err != nil {
			return req, errorf(CodeBadMessage, "kind must be a string")
		}
	}
	if !present("toId") {
		if kind == KindPing {
			req.Ping = true
			return req, nil
		}
		if kind == KindRename {
			if err := json.Unmarshal(w["name"], &req.Name); err != nil || !present("name") {
				return Request{}, errorf(CodeBadMessage, "name must be a string")
			}
			req.Rename = true
			return req, nil
		}
		if kind != "" && !relayKind(kind) {
			return req, errorf(CodeBadMessage, "unknown kind "+quoteShort(kind))
		}
		return req, errorf(CodeBadMessage, "toId is required")
	}
	r := &req.Relay
	if err := json.Unmarshal(w["toId"], &r.ToID); err != nil {
		return req, errorf(CodeBadMessage, "toId must be a string")
	}
	if r.ToID == "" {
		return req, errorf(CodeBadMessage, "toId must not be empty")
	}
	if present("sid") {
		if err := json.Unmarshal(w["sid"], &r.SID); err != nil {
			return req, errorf(CodeBadMessage, "sid must be a string")
		}
		if len(r.SID) > MaxSIDLen {
			return req, errorf(CodeBadMessage, "sid is longer than 64 bytes")
		}
	}
	n := 0
	for _, name := range payloadFields {
		raw, ok := w[name]
		if !ok {
			continue
		}
		if raw == nil || raw[0] != '{' {
			return req, errorf(CodeBadMessage, name+" must be a JSON object")
		}
		r.PayloadField, r.Payload = name, raw
		n++
	}
	if kind != "" {
		if !relayKind(kind) {
			return req, errorf(CodeBadMessage, "unknown kind "+quoteShort(kind))
		}
		r.Kind = kind
		n++
	}
	switch {
	case n == 0:
		return req, errorf(CodeBadMessage, "nothing to relay: expected offer, answer, candidate or kind")
	case n > 1:
		return req, errorf(CodeBadMessage, "expected exactly one of offer, answer, candidate or kind")
	}
	return req, nil
}

// checkAgainstReference fails t if Decode and referenceDecode disagree on data. The transport only hands
// valid UTF-8 to Decode, and encoding/json has no nesting limit of its own below 10,000; inputs outside
// those are checked for Decode's own answer instead.
func checkAgainstReference(t *testing.T, data []byte) {
	t.Helper()
	got, gerr := Decode(data)
	if !utf8.Valid(data) {
		if gerr == nil {
			t.Fatalf("Decode(%q) accepted invalid UTF-8", data)
		}
		return
	}
	if gerr == errTooDeep {
		return
	}
	want, werr := referenceDecode(data)
	switch {
	case (gerr == nil) != (werr == nil):
		t.Fatalf("Decode(%q): error %v, reference error %v", data, gerr, werr)
	case gerr != nil:
		if *gerr != *werr {
			t.Fatalf("Decode(%q): error %v, reference error %v", data, gerr, werr)
		}
	case got.Ping != want.Ping || got.Rename != want.Rename || got.Name != want.Name || got.Relay.ToID != want.Relay.ToID || got.Relay.Kind != want.Relay.Kind ||
		got.Relay.SID != want.Relay.SID || got.Relay.PayloadField != want.Relay.PayloadField ||
		!bytes.Equal(got.Relay.Payload, want.Relay.Payload):
		t.Fatalf("Decode(%q) = %+v, reference %+v", data, got, want)
	}
}

var referenceCases = []string{
	`{"toId":"B","offer":{"sdp":"x"}}`, `{"kind":"ping"}`, `{"toId":"B","kind":"accept","sid":"1"}`, `[]`,
	`{"toId":null}`, `{"to\u0049d":"B","offer":{}}`, `{"toId":"\u00e9\n","candidate":{"a":[1,-2.5e+3,true,null]}}`,
	`{"toId":"B","offer":{},"offer":"x"}`, `{"toId":"B","offer":"x","offer":{}}`, `{"TOID":"B","offer":{}}`,
	`{"toId":"B","offer":{}} x`, `{"toId":"B","offer":{}}` + " \r\n\t", `{"a":01}`, `{"a":1.}`, `{"a":-}`,
	`{"a":"\x01"}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":tru}`, `{"a":[1,]}`, `{"a":{"b":1,}}`, `{,}`, `{"a"}`,
	`{"a":1`, `"x"`, ` 12 `, `nul`, `{"toId":"B","sid":null,"kind":"hangup"}`, `{"kind":null,"toId":"B"}`,
	`{"toId":"","kind":"request"}`, `{"toId":"B","kind":"pong"}`, `{"kind":"ping","toId":"B"}`,
	`{"kind":"rename","name":"Al\u0069ce"}`, `{"kind":"rename","name":""}`, `{"kind":"rename"}`,
	`{"kind":"rename","name":null}`, `{"kind":"rename","name":7}`, `{"kind":"rename","name":"x","toId":"B"}`,
	`{"kind":"rename","name":"a","name":{"b":1}}`, `{"name":"x","toId":"B","kind":"hangup"}`,
}

func TestDecodeMatchesReference(t *testing.T) {
	for _, c := range referenceCases {
		checkAgainstReference(t, []byte(c))
	}
}

func TestDecodeNestingLimit(t *testing.T) {
	deep := []byte(`{"toId":"B","offer":{"x":` + string(bytes.Repeat([]byte("["), maxDepth)) +
		string(bytes.Repeat([]byte("]"), maxDepth)) + `}}`)
	if _, err := Decode(deep); err != errTooDeep {
		t.Errorf("nesting past %d: got %v, want %v", maxDepth, err, errTooDeep)
	}
	ok := []byte(`{"toId":"B","offer":{"x":` + string(bytes.Repeat([]byte("["), maxDepth-2)) +
		string(bytes.Repeat([]byte("]"), maxDepth-2)) + `}}`)
	if _, err := Decode(ok); err != nil {
		t.Errorf("nesting of %d: %v", maxDepth, err)
	}
}

// FuzzDecodeMatchesReference checks the fast decoder against encoding/json on every input.
func FuzzDecodeMatchesReference(f *testing.F) {
	for _, c := range referenceCases {
		f.Add([]byte(c))
	}
	f.Add(benchOffer)
	f.Fuzz(checkAgainstReference)
}

// TestPlainASCII8 checks the eight-byte skip against a byte loop: every byte value at every position of an
// otherwise plain word, and random words, must report the first special byte exactly.
func TestPlainASCII8(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	first := func(w [8]byte) int {
		for i, c := range w {
			if special(c) {
				return i
			}
		}
		return 8
	}
	check := func(w [8]byte) {
		t.Helper()
		got := 8
		if m := plainASCII8(binary.LittleEndian.Uint64(w[:])); m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if want := first(w); got != want {
			t.Fatalf("%q: first special byte at %d, want %d", w[:], got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			w := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			w[pos] = byte(c)
			check(w)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 0x1f, 0x20, 0x21, '"', 0x23, '[', '\\', ']', 0x7f, 0x80, 0xc3, 0xff, 'a'}
	for range 200000 {
		var w [8]byte
		for i := range w {
			w[i] = alphabet[rng.IntN(len(alphabet))]
		}
		check(w)
	}
}
