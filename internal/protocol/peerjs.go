package protocol

import "encoding/json"

// The PeerJS wire protocol (docs/peerjs.md): what PeerServer (npm "peer" 1.0) speaks with the stock peerjs
// client, so that a PeerJS app works against p2plobby unchanged. Every message is one JSON object
// {type, src, dst, payload}; the server stamps src and passes payload on byte for byte.

// PeerJS message types.
const (
	PeerJSOpen      = "OPEN"
	PeerJSError     = "ERROR"
	PeerJSIDTaken   = "ID-TAKEN"
	PeerJSOffer     = "OFFER"
	PeerJSAnswer    = "ANSWER"
	PeerJSCandidate = "CANDIDATE"
	PeerJSLeave     = "LEAVE"
	PeerJSExpire    = "EXPIRE"
	PeerJSHeartbeat = "HEARTBEAT"
	// PeerJSNotice is p2plobby's own: a refusal that leaves the connection open (a malformed or dropped
	// message). The stock client ignores types it does not know, while ERROR would make it give up its
	// connection to the server; a developer still sees the notice in the browser's WebSocket inspector.
	PeerJSNotice = "NOTICE"
)

// PeerServer's error texts, sent as {"type":"ERROR","payload":{"msg":…}} before the connection is closed.
const (
	PeerJSMsgInvalidKey    = "Invalid key provided"
	PeerJSMsgInvalidToken  = "Invalid token provided"
	PeerJSMsgInvalidParams = "No id, token, or key supplied to websocket server"
	PeerJSMsgLimit         = "Server has reached its concurrent user limit"
)

// PeerJS limits. PeerServer checks none of them; the stock client's ids (its own validateId, and the UUIDs
// of GET /id) fit well within them.
const (
	MaxPeerJSIDLen    = 128  // bytes
	MaxPeerJSTokenLen = 4096 // bytes: room for a join token (JWT)
)

// PeerJSMessage is a decoded client message. Src is never read: the server stamps the sender's id.
type PeerJSMessage struct {
	Type    string
	Dst     string          // "" when absent or null
	Payload json.RawMessage // nil when absent; otherwise any JSON value, passed on as it is
}

type peerJSFields struct {
	typ, dst, payload json.RawMessage
}

// DecodePeerJS parses and validates one PeerJS client message. Field names match exactly and a repeated name
// takes its last value, as with JSON.parse in PeerServer; members other than type, dst and payload are
// dropped, as PeerServer drops them.
func DecodePeerJS(data []byte) (PeerJSMessage, *Error) {
	var msg PeerJSMessage
	var f fields
	if err := f.scan(data); err != nil {
		return msg, err
	}
	typ, ok := stringValue(f.pj.typ)
	if !ok {
		return msg, errorf(CodeBadMessage, "type must be a string")
	}
	switch typ {
	case PeerJSHeartbeat, PeerJSOffer, PeerJSAnswer, PeerJSCandidate, PeerJSLeave, PeerJSExpire:
	default:
		return msg, errorf(CodeBadMessage, "unknown type "+quoteShort(typ))
	}
	msg.Type = typ
	if f.pj.dst != nil && !isNull(f.pj.dst) {
		if msg.Dst, ok = stringValue(f.pj.dst); !ok {
			return msg, errorf(CodeBadMessage, "dst must be a string")
		}
		if !ValidPeerJSID(msg.Dst) {
			return msg, errorf(CodeBadMessage, "dst is not a valid id")
		}
	}
	if f.pj.payload != nil {
		msg.Payload = f.pj.payload
	}
	return msg, nil
}

// ValidPeerJSID reports whether id is a valid PeerJS id: what the stock client's validateId accepts (letters
// and digits, with single spaces, dashes or underscores between them), up to MaxPeerJSIDLen bytes.
func ValidPeerJSID(id string) bool {
	if id == "" || len(id) > MaxPeerJSIDLen {
		return false
	}
	sep := true // at the start, as after a separator: a letter or digit must come
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			sep = false
		case c == ' ' || c == '-' || c == '_':
			if sep {
				return false
			}
			sep = true
		default:
			return false
		}
	}
	return !sep
}

// PeerJSOpenFrame is the first message of an accepted connection.
var PeerJSOpenFrame = []byte(`{"type":"OPEN"}`)

// PeerJSIDTakenFrame refuses an id held by a connection with another token.
var PeerJSIDTakenFrame = []byte(`{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}`)

// PeerJSErrorFrame encodes {"type":"ERROR","payload":{"msg":msg}}: the client gives up its connection.
func PeerJSErrorFrame(msg string) []byte {
	b := append(make([]byte, 0, 40+len(msg)), `{"type":"ERROR","payload":{"msg":`...)
	b = appendString(b, msg)
	return append(b, '}', '}')
}

// PeerJSNoticeFrame encodes e as {"type":"NOTICE","payload":{"code":…,"msg":…}} (see PeerJSNotice), with
// "dst" when the refusal is about a message to that id.
func PeerJSNoticeFrame(e *Error) []byte {
	b := append(make([]byte, 0, 64+len(e.Message)+len(e.ToID)), `{"type":"NOTICE",`...)
	if e.ToID != "" {
		b = append(b, `"dst":`...)
		b = appendString(b, e.ToID)
		b = append(b, ',')
	}
	b = append(b, `"payload":{"code":`...)
	b = appendString(b, e.Code)
	b = append(b, `,"msg":`...)
	b = appendString(b, e.Message)
	return append(b, '}', '}')
}

// AppendPeerJS encodes a message as PeerServer forwards it: {"type","src","dst","payload"} in that order,
// without payload when it is nil.
func AppendPeerJS(b []byte, typ, src, dst string, payload json.RawMessage) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"src":`...)
	b = appendString(b, src)
	b = append(b, `,"dst":`...)
	b = appendString(b, dst)
	if payload != nil {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// PeerJSExpireFrame tells the client dst that its messages to src were not delivered: src did not connect
// in time. PeerServer sends it once per sender and absent id.
func PeerJSExpireFrame(src, dst string) []byte {
	return AppendPeerJS(make([]byte, 0, 48+len(src)+len(dst)), PeerJSExpire, src, dst, nil)
}
