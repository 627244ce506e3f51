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
