package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in      string
		code    string // expected error code, "" for success
		field   string // expected PayloadField or Kind
		payload string
	}{
		{`{"toId":"B","fromId":"A","offer":{"type":"offer","sdp":"v=0"}}`, "", "offer", `{"type":"offer","sdp":"v=0"}`},
		{`{"toId":"B","answer":{"type":"answer","sdp":"x"}}`, "", "answer", `{"type":"answer","sdp":"x"}`},
		{`{"toId":"B","candidate":{"candidate":"c","sdpMid":"0"}}`, "", "candidate", `{"candidate":"c","sdpMid":"0"}`},
		{`{"toId":"B","kind":"request","sid":"s1"}`, "", "request", ""},
		{`{"toId":"B","kind":"hangup"}`, "", "hangup", ""},
		{`{"toId":"B","kind":"rejoin","sid":"k3y"}`, "", "rejoin", ""},
		{` {"kind":"ping"}`, "", "ping", ""},
		{`{"toId":"B","offer":{},"fromId":{"forged":true}}`, "", "offer", `{}`},
		{`not json`, CodeBadJSON, "", ""},
		{`{"toId":"B",`, CodeBadJSON, "", ""},
		{`[1,2]`, CodeBadJSON, "", ""},
		{`"str"`, CodeBadJSON, "", ""},
		{`null`, CodeBadJSON, "", ""},
		{``, CodeBadJSON, "", ""},
		{`{}`, CodeBadMessage, "", ""},
		{`{"offer":{}}`, CodeBadMessage, "", ""},
		{`{"toId":5,"offer":{}}`, CodeBadMessage, "", ""},
		{`{"toId":"","offer":{}}`, CodeBadMessage, "", ""},
		{`{"toId":"B"}`, CodeBadMessage, "", ""},
		{`{"toId":"B","offer":"sdp"}`, CodeBadMessage, "", ""},
		{`{"toId":"B","candidate":null}`, CodeBadMessage, "", ""},
		{`{"toId":"B","offer":{},"answer":{}}`, CodeBadMessage, "", ""},
		{`{"toId":"B","kind":"request","offer":{}}`, CodeBadMessage, "", ""},
		{`{"toId":"B","kind":"explode"}`, CodeBadMessage, "", ""},
		{`{"kind":"explode"}`, CodeBadMessage, "", ""},
		{`{"kind":7}`, CodeBadMessage, "", ""},
		{`{"toId":"B","kind":"request","sid":1}`, CodeBadMessage, "", ""},
		{`{"toId":"B","kind":"request","sid":"` + strings.Repeat("x", 65) + `"}`, CodeBadMessage, "", ""},
	}
	for _, tt := range tests {
		req, err := Decode([]byte(tt.in))
		if tt.code != "" {
			if err == nil || err.Code != tt.code {
				t.Errorf("Decode(%s) = %v, want code %s", tt.in, err, tt.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("Decode(%s) error %v", tt.in, err)
			continue
		}
		if tt.field == "ping" {
			if !req.Ping {
				t.Errorf("Decode(%s): not a ping", tt.in)
			}
			continue
		}
		got := req.Relay.PayloadField
		if got == "" {
			got = req.Relay.Kind
		}
		if got != tt.field || string(req.Relay.Payload) != tt.payload {
			t.Errorf("Decode(%s) = %q %s, want %q %s", tt.in, got, req.Relay.Payload, tt.field, tt.payload)
		}
	}
}

func TestDecodeRename(t *testing.T) {
	for in, want := range map[string]string{
		`{"kind":"rename","name":"Alice"}`:         "Alice",
		`{"kind":"rename","name":"\u00e9 x\n"}`:    "é x\n", // cleaned by the hub, not here
		`{"kind":"rename","name":"","sid":"s"}`:    "",
		`{"name":"B","kind":"rename","toId":null}`: "B",
	} {
		req, err := Decode([]byte(in))
		if err != nil || !req.Rename || req.Name != want || req.Ping {
			t.Errorf("Decode(%s) = %+v, %v; want rename to %q", in, req, err, want)
		}
	}
	for _, in := range []string{`{"kind":"rename"}`, `{"kind":"rename","name":null}`, `{"kind":"rename","name":1}`,
		`{"kind":"rename","name":{"a":"b"}}`, `{"kind":"rename","name":"x","toId":"B"}`} {
		if _, err := Decode([]byte(in)); err == nil || err.Code != CodeBadMessage {
			t.Errorf("Decode(%s) = %v, want %s", in, err, CodeBadMessage)
		}
	}
}

func TestSelfConnectedNetworkField(t *testing.T) {
	var m map[string]any
	json.Unmarshal(SelfConnected("i", "", "net-x", true, nil), &m)
	if m["network"] != true || m["room"] != "net-x" {
		t.Errorf("network self-connected = %v", m)
	}
	if b := SelfConnected("i", "", "lobby", false, nil); strings.Contains(string(b), "network") {
		t.Errorf("network field present for a named room: %s", b)
	}
}

func TestAppendRelayStampsSender(t *testing.T) {
	req, err := Decode([]byte(`{"toId":"B","fromId":"MALLORY","offer":{"type":"offer","sdp":"v=0\r\n"},"sid":"s\"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	out := AppendRelay(nil, &req.Relay, "A")
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("relay %s is not JSON: %v", out, err)
	}
	if m["fromId"] != "A" || m["toId"] != "B" || m["sid"] != `s"1` {
		t.Errorf("relay = %s", out)
	}
	if !strings.Contains(string(out), `"offer":{"type":"offer","sdp":"v=0\r\n"}`) {
		t.Errorf("payload not passed byte for byte: %s", out)
	}
}

func TestServerFramesAreJSON(t *testing.T) {
	for _, b := range [][]byte{
		SelfConnected("id1", `Zoë "the" <admin>`, "lobby", false, json.RawMessage(`[{"urls":"stun:x"}]`)),
		SelfConnected("id1", "", "r", false, nil),
		SelfConnected("id1", "A", "net-abc", true, json.RawMessage(`[]`)),
		Renamed("id2", "Bob \"2\""),
		Renamed("id2", ""),
		Connected("id2", "Bob\u2028"),
		Disconnected("id3"),
		(&Error{Code: CodeUnknownTarget, Message: "no", ToID: "\x01bad"}).Frame(),
	} {
		if !json.Valid(b) {
			t.Errorf("invalid JSON: %s", b)
		}
	}
}

func TestCleanName(t *testing.T) {
	tests := map[string]string{
		"  Alice  ":               "Alice",
		"Bob\x00\x1b[31m":         "Bob[31m",
		"a   b\tc":                "a b c",
		"\u202eevil":              "evil",
		strings.Repeat("é", 40):   strings.Repeat("é", 32),
		"bad\xffutf8":             "badutf8",
		strings.Repeat("ab ", 20): strings.TrimSpace(strings.Repeat("ab ", 11)[:32]),
	}
	for in, want := range tests {
		if got := CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNumberedName(t *testing.T) {
	long := strings.Repeat("é", MaxNameLen)
	tests := []struct {
		base string
		n    int
		want string
	}{
		{"Alice", 2, "Alice (2)"},
		{"Alice (2)", 2, "Alice (2) (2)"},
		{long, 3, strings.Repeat("é", MaxNameLen-4) + " (3)"},
		{long, 1234, strings.Repeat("é", MaxNameLen-7) + " (1234)"},
		{strings.Repeat("a", 27) + " bcd", 2, strings.Repeat("a", 27) + " (2)"}, // no double space at the cut
	}
	for _, tt := range tests {
		got := NumberedName(tt.base, tt.n)
		if got != tt.want || CleanName(got) != got || len([]rune(got)) > MaxNameLen {
			t.Errorf("NumberedName(%q, %d) = %q, want %q (clean, ≤ %d characters)", tt.base, tt.n, got, tt.want, MaxNameLen)
		}
	}
}

func TestValidRoom(t *testing.T) {
	for _, ok := range []string{"lobby", "a", "team-1_x.y", strings.Repeat("r", 64)} {
		if !ValidRoom(ok) {
			t.Errorf("ValidRoom(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", "é", strings.Repeat("r", 65), "x\x00"} {
		if ValidRoom(bad) {
			t.Errorf("ValidRoom(%q) = true", bad)
		}
	}
}

func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := NewID()
		if len(id) != 20 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

// FuzzDecode checks that no input panics, every refusal is a sendable error, and every accepted relay
// re-encodes to valid JSON carrying the payload unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"toId":"B","offer":{"sdp":"x"}}`, `{"kind":"ping"}`, `{"toId":"B","kind":"accept","sid":"1"}`, `[]`, `{"toId":null}`, `{"kind":"rename","name":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := Decode(data)
		if err != nil {
			if !json.Valid(err.Frame()) {
				t.Fatalf("error frame not JSON: %s", err.Frame())
			}
			return
		}
		if req.Ping || req.Rename {
			return
		}
		out := AppendRelay(nil, &req.Relay, "A")
		if !json.Valid(out) {
			t.Fatalf("relay of %q is not JSON: %s", data, out)
		}
		if req.Relay.Payload != nil && !strings.Contains(string(out), string(req.Relay.Payload)) {
			t.Fatalf("payload changed")
		}
	})
}

// RelaySize is exact for relays whose strings need no escaping, so a relay costs one allocation.
func TestRelaySizeIsExact(t *testing.T) {
	for _, data := range []string{
		`{"toId":"B","offer":{"sdp":"x"}}`,
		`{"toId":"Bxxxxxxxxxxxxxxxxxxx","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"},"sid":"s-1"}`,
		`{"toId":"B","kind":"request","sid":"0123456789"}`,
		`{"toId":"B","kind":"hangup"}`,
	} {
		req, err := Decode([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		out := AppendRelay(nil, &req.Relay, "A-sender-id-of-20ch")
		if got := RelaySize(&req.Relay, "A-sender-id-of-20ch"); got != len(out) {
			t.Errorf("%s: RelaySize %d, encoded %d bytes: %s", data, got, len(out), out)
		}
	}
}
