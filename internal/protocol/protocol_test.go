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
		SelfConnected("id1", `Zoë "the" <admin>`, "lobby", json.RawMessage(`[{"urls":"stun:x"}]`)),
		SelfConnected("id1", "", "r", nil),
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
	for _, s := range []string{`{"toId":"B","offer":{"sdp":"x"}}`, `{"kind":"ping"}`, `{"toId":"B","kind":"accept","sid":"1"}`, `[]`, `{"toId":null}`} {
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
		if req.Ping {
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
