package peer

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"
)

// sigMsg is every signaling message of docs/protocol.md, both directions; fields are omitted when empty.
type sigMsg struct {
	Kind       string                     `json:"kind,omitempty"`
	ID         string                     `json:"id,omitempty"`
	Name       string                     `json:"name,omitempty"`
	Room       string                     `json:"room,omitempty"`
	ICEServers json.RawMessage            `json:"iceServers,omitempty"`
	ToID       string                     `json:"toId,omitempty"`
	FromID     string                     `json:"fromId,omitempty"`
	SID        string                     `json:"sid,omitempty"`
	Offer      *webrtc.SessionDescription `json:"offer,omitempty"`
	Answer     *webrtc.SessionDescription `json:"answer,omitempty"`
	Candidate  *webrtc.ICECandidateInit   `json:"candidate,omitempty"`
	Code       string                     `json:"code,omitempty"`
	Message    string                     `json:"message,omitempty"`
}

// Signaling kinds (docs/protocol.md).
const (
	kindSelfConnected = "self-connected"
	kindConnected     = "connected"
	kindDisconnected  = "disconnected"
	kindRenamed       = "renamed"
	kindError         = "error"
	kindPing          = "ping"
	kindPong          = "pong"
	kindICEServers    = "ice-servers"
	kindRequest       = "request"
	kindAccept        = "accept"
	kindDecline       = "decline"
	kindHangup        = "hangup"
)

// ctrlMsg is every message of the p2plobby control channel and the eof of a file channel (docs/datachannel.md).
type ctrlMsg struct {
	T       string     `json:"t"`
	V       int        `json:"v,omitempty"`
	Agent   string     `json:"agent,omitempty"`
	ID      string     `json:"id,omitempty"`
	Text    string     `json:"text,omitempty"`
	TS      int64      `json:"ts,omitempty"`
	TID     string     `json:"tid,omitempty"`
	Files   []FileInfo `json:"files,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	Index   *int       `json:"index,omitempty"` // a pointer: index 0 must be sent
	Code    string     `json:"code,omitempty"`
	Message string     `json:"message,omitempty"`
	SHA256  string     `json:"sha256,omitempty"`
	H       string     `json:"h,omitempty"` // sas-commit: SHA-256 of the offerer's nonce, hex
	N       string     `json:"n,omitempty"` // sas-nonce, sas-reveal: a nonce, hex
}

// Control message types (docs/datachannel.md).
const (
	tHello    = "hello"
	tChat     = "chat"
	tFiles    = "files"
	tAccept   = "accept"
	tDecline  = "decline"
	tCancel   = "cancel"
	tReceived = "received"
	tFailed   = "failed"
	tBye      = "bye"
	tEOF      = "eof"

	tSASCommit = "sas-commit"
	tSASNonce  = "sas-nonce"
	tSASReveal = "sas-reveal"
)

// Failure codes of {"t":"failed"}.
const (
	failIntegrity = "integrity"
	failSize      = "size"
	failWrite     = "write"
)

const (
	controlLabel    = "p2plobby"
	fileLabelPrefix = "file:"
	protocolVersion = 2
	agent           = "p2plobby-go/1"
)

func intp(i int) *int { return &i }
