package protocol

import "encoding/json"

// Message kinds sent by the server (the seed's three, plus additions).
const (
	KindSelfConnected = "self-connected"
	KindConnected     = "connected"
	KindDisconnected  = "disconnected"
	KindError         = "error"
	KindPong          = "pong"
	KindICEServers    = "ice-servers"
	KindRenamed       = "renamed"
)

// Kinds a client may send: ping and rename (to the server), and the consent flow relayed between members.
const (
	KindPing    = "ping"
	KindRename  = "rename"
	KindRequest = "request"
	KindAccept  = "accept"
	KindDecline = "decline"
	KindHangup  = "hangup"
	KindRejoin  = "rejoin" // the sender is someone already connected to the target, back under a new id
)

// PongFrame is the server's answer to {"kind":"ping"}.
var PongFrame = []byte(`{"kind":"pong"}`)

// SelfConnected encodes the first message of every connection. iceServers is a JSON array, or nil to omit it;
// network adds "network":true (room is the client's same-network group).
func SelfConnected(id, name, room string, network bool, iceServers json.RawMessage) []byte {
	n := 96 + len(name) + len(room) + len(iceServers)
	if network {
		n += 16
	}
	b := make([]byte, 0, n)
	b = append(b, `{"kind":"self-connected","id":`...)
	b = appendString(b, id)
	if name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, name)
	}
	b = append(b, `,"room":`...)
	b = appendString(b, room)
	if network {
		b = append(b, `,"network":true`...)
	}
	if len(iceServers) > 0 {
		b = append(b, `,"iceServers":`...)
		b = append(b, iceServers...)
	}
	return append(b, '}')
}

// ICEServersUpdate encodes {"kind":"ice-servers","iceServers":[…]}: fresh ICE servers (TURN credentials)
// that replace those of self-connected before they expire.
func ICEServersUpdate(iceServers json.RawMessage) []byte {
	b := make([]byte, 0, 40+len(iceServers))
	b = append(b, `{"kind":"ice-servers","iceServers":`...)
	b = append(b, iceServers...)
	return append(b, '}')
}

// Connected encodes the event telling others that member id (with its display name) is present.
func Connected(id, name string) []byte {
	b := make([]byte, 0, 48+len(name))
	b = append(b, `{"kind":"connected","id":`...)
	b = appendString(b, id)
	if name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, name)
	}
	return append(b, '}')
}

// Disconnected encodes the event telling others that member id has left.
func Disconnected(id string) []byte {
	b := make([]byte, 0, 48)
	b = append(b, `{"kind":"disconnected","id":`...)
	b = appendString(b, id)
	return append(b, '}')
}

// Renamed encodes the event telling a room (the renamer included) that member id is now called name. Unlike
// connected, it always carries name: "" means the member cleared its name.
func Renamed(id, name string) []byte {
	b := make([]byte, 0, 56+len(name))
	b = append(b, `{"kind":"renamed","id":`...)
	b = appendString(b, id)
	b = append(b, `,"name":`...)
	b = appendString(b, name)
	return append(b, '}')
}

// Request is a decoded client message: a ping, a rename, or a relay to another member.
type Request struct {
	Ping   bool
	Rename bool   // {"kind":"rename","name":Name}; Name is as sent, not yet cleaned
	Name   string //
	Relay  Relay
}

// Relay is a message for one other member. Exactly one of Payload (with PayloadField naming it) or Kind is set.
type Relay struct {
	ToID         string
	PayloadField string          // "offer", "answer" or "candidate"
	Payload      json.RawMessage // the JSON object, passed on byte for byte
	Kind         string          // request, accept, decline or hangup
	SID          string
}

// RelaySize is the length of AppendRelay's encoding of r from fromID when the ids, kind and sid need no
// escaping (the usual case): a buffer of this capacity takes the relay in one allocation. Escaped strings only
// make AppendRelay grow the buffer.
func RelaySize(r *Relay, fromID string) int {
	n := len(`{"toId":""`) + len(r.ToID) + len(`,"fromId":""`) + len(fromID) + len(`}`)
	if r.Kind != "" {
		n += len(`,"kind":""`) + len(r.Kind)
	} else {
		n += len(`,"":`) + len(r.PayloadField) + len(r.Payload)
	}
	if r.SID != "" {
		n += len(`,"sid":""`) + len(r.SID)
	}
	return n
}

// AppendRelay encodes r as delivered to its target, with fromID stamped by the server.
func AppendRelay(b []byte, r *Relay, fromID string) []byte {
	b = append(b, `{"toId":`...)
	b = appendString(b, r.ToID)
	b = append(b, `,"fromId":`...)
	b = appendString(b, fromID)
	if r.Kind != "" {
		b = append(b, `,"kind":`...)
		b = appendString(b, r.Kind)
	} else {
		b = append(b, ',', '"')
		b = append(b, r.PayloadField...)
		b = append(b, '"', ':')
		b = append(b, r.Payload...)
	}
	if r.SID != "" {
		b = append(b, `,"sid":`...)
		b = appendString(b, r.SID)
	}
	return append(b, '}')
}

func relayKind(k string) bool {
	return k == KindRequest || k == KindAccept || k == KindDecline || k == KindHangup || k == KindRejoin
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return string(appendString(nil, s))
}

// appendString appends s as a JSON string. Ids are plain ASCII and take the fast path.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
