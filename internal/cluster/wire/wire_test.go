package wire

import (
	"bytes"
	"testing"

	"github.com/p2plobby/p2plobby/internal/hub"
)

// FuzzDecode: whatever bytes arrive from NATS, Decode returns a message or ErrBadMessage, and a decoded message
// encodes back to bytes that decode to the same message.
func FuzzDecode(f *testing.F) {
	for _, m := range []Message{
		{Kind: KindEvent, Node: "n", Room: "r", Event: hub.Event{Kind: hub.Joined, ID: "i", Name: "x"}},
		{Kind: KindRelay, Node: "n", Room: "r", From: "a", To: "b", Frame: []byte(`{"x":1}`)},
		{Kind: KindSyncReq, Node: "n", Rooms: []string{"a", "b"}},
		{Kind: KindSyncResp, Node: "n", Room: "r", Members: []hub.Remote{{ID: "a", Name: "b"}}, More: true},
		{Kind: KindHeartbeat, Node: "n", Gen: 7},
	} {
		f.Add(m.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(m.Encode())
		if err != nil || again.Kind != m.Kind || again.Node != m.Node || again.Room != m.Room {
			t.Fatalf("round trip: %+v → %+v, %v", m, again, err)
		}
		// Every field survives: encoding the decoded message again gives the same bytes.
		if a, b := m.Encode(), again.Encode(); !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the message: %q → %q", a, b)
		}
	})
}
