package protocol

// Error codes sent in {"kind":"error","code":…}. They are stable; the message text is not.
const (
	CodeBadJSON           = "bad-json"
	CodeBadMessage        = "bad-message"
	CodeUnknownTarget     = "unknown-target"
	CodeSelfTarget        = "self-target"
	CodeBinaryUnsupported = "binary-unsupported"
	CodeRateLimited       = "rate-limited"
	CodeBadRoom           = "bad-room"
	CodeRoomFull          = "room-full"
	CodeServerFull        = "server-full"
	CodeShuttingDown      = "shutting-down"
)

// WebSocket close codes used by the server. 1xxx are RFC 6455's; 4xxx are p2plobby's own.
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseProtocolError = 1002
	CloseInvalidData   = 1007
	CloseTooBig        = 1009
	CloseInternal      = 1011
	CloseSlow          = 4000 // the member's outgoing queue went over its limit
	CloseFlood         = 4001 // the message rate stayed over its limit
	CloseBadJoin       = 4002 // invalid join parameters (room)
	CloseFull          = 4003 // room or server at capacity
)

// Join tokens (docs/protocol.md, "Join tokens"): refusals of a server started with --auth-secret or
// --auth-public-key, each sent before the close with CloseUnauthorized, and the refusal of a rename.
const (
	CodeTokenMissing = "token-missing" // no token in the upgrade request (or only in the URL, which is not read)
	CodeTokenInvalid = "token-invalid" // malformed, forged, wrong algorithm or key, not yet valid, names nobody
	CodeTokenExpired = "token-expired" // exp has passed
	CodeTokenRoom    = "token-room"    // the token's rooms claim does not include the room asked for
	CodeNameFixed    = "name-fixed"    // a rename by a member whose name comes from its token; stays open

	CloseUnauthorized = 4004 // no valid token for this room: get a new token, do not retry as is
)

// Limits beyond size and message rate (docs/protocol.md, "Limits"), each with its own code so that refusals can
// be told apart and counted. The connection refusals come before the close with CloseFull or CloseBusy; the
// relay refusals carry toId and leave the connection open.
const (
	CodeTooManyConnections = "too-many-connections" // concurrent connections from your address over the cap; CloseFull
	CodeConnectingTooFast  = "connecting-too-fast"  // new connections from your address over their rate; CloseBusy
	CodeRoomBusy           = "room-busy"            // joins into the room over their rate; CloseBusy
	CodeTargetBusy         = "target-busy"          // relays to the target over the rate it may receive; dropped
	CodeRequestLimit       = "request-limit"        // the target has too many unanswered requests; dropped

	CloseBusy = 4005 // too many new connections or joins at once: retry after a short pause
)

// PeerJS (docs/peerjs.md): a notice for a relay that could not wait, and the closes of PeerJS connections.
const (
	CodeWaitingLimit = "waiting-limit" // the sender has too many messages waiting for ids not connected; dropped

	CloseReplaced    = 4006 // the id was taken over: by the same client reconnected, or in a clash between nodes
	CloseNoHeartbeat = 4007 // no HEARTBEAT within the alive timeout
)

// Error is a refusal sent to a client. Code is one of the Code constants; Message is for humans.
// ToID names the relay target the error is about, if any.
type Error struct {
	Code    string
	Message string
	ToID    string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Frame encodes e as the {"kind":"error",…} message sent to the client.
func (e *Error) Frame() []byte {
	b := make([]byte, 0, 64+len(e.Message)+len(e.ToID))
	b = append(b, `{"kind":"error","code":`...)
	b = appendString(b, e.Code)
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message)
	if e.ToID != "" {
		b = append(b, `,"toId":`...)
		b = appendString(b, e.ToID)
	}
	return append(b, '}')
}

func errorf(code, msg string) *Error { return &Error{Code: code, Message: msg} }
