package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodePeerJS(t *testing.T) {
	for _, tc := range []struct {
		in      string
		typ     string
		dst     string
		payload string
		code    string
	}{
		{in: `{"type":"HEARTBEAT"}`, typ: PeerJSHeartbeat},
		{in: `{"type":"OFFER","dst":"b","src":"forged","payload":{"sdp":1},"x":[1]}`, typ: PeerJSOffer, dst: "b", payload: `{"sdp":1}`},
		{in: ` { "payload" : [1, "x"] , "dst":"b c","type":"CANDIDATE" } `, typ: PeerJSCandidate, dst: "b c", payload: `[1, "x"]`},
		{in: `{"type":"LEAVE","dst":null}`, typ: PeerJSLeave},
		{in: `{"type":"OFFER","dst":"a","type":"ANSWER"}`, typ: PeerJSAnswer, dst: "a"}, // the last one wins, as in JSON.parse
		{in: `{"type":"EXPIRE","dst":"\u0062"}`, typ: PeerJSExpire, dst: "b"},
		{in: `{"type":"OFFER","dst":"b","payload":null}`, typ: PeerJSOffer, dst: "b", payload: `null`},
		{in: `{}`, code: CodeBadMessage},
		{in: `{"type":"offer","dst":"b"}`, code: CodeBadMessage},
		{in: `{"type":"OPEN"}`, code: CodeBadMessage},
		{in: `{"type":["OFFER"]}`, code: CodeBadMessage},
		{in: `{"type":"OFFER","dst":""}`, code: CodeBadMessage},
		{in: `{"type":"OFFER","dst":"a  b"}`, code: CodeBadMessage},
		{in: `{"type":"OFFER","dst":"a-"}`, code: CodeBadMessage},
		{in: `{"type":"OFFER","dst":"é"}`, code: CodeBadMessage},
		{in: `{"type":"OFFER"`, code: CodeBadJSON},
		{in: `[{"type":"OFFER"}]`, code: CodeBadJSON},
		{in: `{"type":"OFFER"} {}`, code: CodeBadJSON},
	} {
		m, err := DecodePeerJS([]byte(tc.in))
		if tc.code != "" {
			if err == nil || err.Code != tc.code {
				t.Errorf("%s: got %+v, %v; want error %s", tc.in, m, err, tc.code)
			}
			continue
		}
		if err != nil || m.Type != tc.typ || m.Dst != tc.dst || string(m.Payload) != tc.payload {
			t.Errorf("%s: got %+v (payload %s), %v", tc.in, m, m.Payload, err)
		}
	}
}

func TestValidPeerJSID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "Alice-2": true, "a b_c-d": true, "0b9a5f5e-5d3c-4b6e-9c59-3f7a3b1c2d4e": true,
		"": false, "-a": false, "a-": false, "a--b": false, "a b": true, "a\tb": false, "a/b": false, "ä": false,
		strings.Repeat("x", MaxPeerJSIDLen): true, strings.Repeat("x", MaxPeerJSIDLen+1): false,
	} {
		if got := ValidPeerJSID(id); got != want {
			t.Errorf("ValidPeerJSID(%q) = %v", id, got)
		}
	}
}

func TestPeerJSFrames(t *testing.T) {
	for _, f := range [][]byte{
		PeerJSOpenFrame, PeerJSIDTakenFrame, PeerJSErrorFrame(`say "hi"` + "\n"), PeerJSExpireFrame("b", "a"),
		PeerJSNoticeFrame(&Error{Code: CodeBadJSON, Message: "m", ToID: "x"}), AppendPeerJS(nil, PeerJSOffer, "a", "b", json.RawMessage(`{"x":1}`)),
	} {
		if !json.Valid(f) {
			t.Errorf("not JSON: %s", f)
		}
	}
	if got := string(AppendPeerJS(nil, PeerJSOffer, "a", "b", json.RawMessage(`{"x":1}`))); got != `{"type":"OFFER","src":"a","dst":"b","payload":{"x":1}}` {
		t.Errorf("relay: %s", got)
	}
	if got := string(PeerJSExpireFrame("b", "a")); got != `{"type":"EXPIRE","src":"b","dst":"a"}` {
		t.Errorf("expire: %s", got)
	}
}

// FuzzDecodePeerJS checks DecodePeerJS against encoding/json: whatever it accepts is one JSON object whose
// type and dst are what JSON.parse would read (exact names, last one wins), and the frame it forwards is JSON
// carrying the payload unchanged.
func FuzzDecodePeerJS(f *testing.F) {
	for _, s := range []string{`{"type":"OFFER","dst":"b","payload":{"sdp":"x"}}`, `{"type":"HEARTBEAT"}`, `{"type":"LEAVE"}`,
		`{"type":"CANDIDATE","dst":"a b","payload":[1,{"c":null}]}`, `{"type":5}`, `[]`, `{"dst":"x","type":"EXPIRE","type":"OFFER"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodePeerJS(data)
		if err != nil {
			if !json.Valid(PeerJSNoticeFrame(err)) {
				t.Fatalf("notice not JSON: %s", PeerJSNoticeFrame(err))
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		var top map[string]json.RawMessage
		if e := dec.Decode(&top); e != nil {
			t.Fatalf("accepted %q, which encoding/json rejects: %v", data, e)
		}
		if !ValidPeerJSID(m.Dst) && m.Dst != "" {
			t.Fatalf("accepted dst %q", m.Dst)
		}
		out := AppendPeerJS(nil, m.Type, "src", "dst", m.Payload)
		if !json.Valid(out) {
			t.Fatalf("forwarded frame of %q is not JSON: %s", data, out)
		}
		if m.Payload != nil && !bytes.Contains(out, m.Payload) {
			t.Fatalf("payload changed")
		}
	})
}
