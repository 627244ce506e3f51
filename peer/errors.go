package peer

import (
	"errors"
	"fmt"
)

// Sentinel errors, matched with [errors.Is]. Errors returned by this package wrap one of them where it applies.
var (
	// ErrClosed means the Client or Conn was closed by this side.
	ErrClosed = errors.New("peer: closed")
	// ErrDisconnected means the WebSocket connection to the lobby server was lost. Established Conns keep working.
	ErrDisconnected = errors.New("peer: lost connection to the lobby server")
	// ErrUnknownPeer means no member with that id is in the room (or it left before the request reached it).
	ErrUnknownPeer = errors.New("peer: unknown member")
	// ErrDeclined means the other member declined the request or the transfer, or withdrew its own request.
	ErrDeclined = errors.New("peer: declined")
	// ErrPeerLeft means the other member left the lobby before the connection was established.
	ErrPeerLeft = errors.New("peer: member left the lobby")
	// ErrHangup means the other side hung up.
	ErrHangup = errors.New("peer: the other side hung up")
	// ErrConnectionFailed means WebRTC could not connect (ICE, DTLS or SCTP failed) or lost the connection.
	ErrConnectionFailed = errors.New("peer: connection failed")
	// ErrCanceled means the other side canceled the transfer.
	ErrCanceled = errors.New("peer: transfer canceled by the other side")
	// ErrInterrupted means the connection ended while a transfer was running.
	ErrInterrupted = errors.New("peer: transfer interrupted")
	// ErrIntegrity means a file's SHA-256 did not match what the sender announced.
	ErrIntegrity = errors.New("peer: integrity check failed")
	// ErrTransferFailed means a file had the wrong size, could not be written, or changed while being sent.
	ErrTransferFailed = errors.New("peer: transfer failed")
	// ErrChatTooLong means a chat message is longer than [MaxChatBytes].
	ErrChatTooLong = errors.New("peer: chat message too long")
	// ErrProtocol means the other side broke docs/datachannel.md.
	ErrProtocol = errors.New("peer: protocol violation")
	// ErrLimitExceeded means an incoming transfer announced more bytes or more files than the limits given to
	// [IncomingTransfer.AcceptWith]; it was declined (the sender got [ErrDeclined]) and nothing was written.
	ErrLimitExceeded = errors.New("peer: transfer over the receiver's limits")
)

// ServerError is an error reported by the lobby server: an {"kind":"error"} message, or a close with a
// p2plobby close code (4000–4999). Code is the stable code of docs/protocol.md, e.g. "bad-room" or "room-full".
type ServerError struct {
	Code      string // e.g. "bad-room", "unknown-target"; for a close without a message, "close-NNNN"
	Message   string // for humans
	CloseCode int    // the WebSocket close code, or 0 when the connection stayed open
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return "peer: server error " + e.Code
	}
	return fmt.Sprintf("peer: server error %s: %s", e.Code, e.Message)
}

// TransferError reports that the receiver failed a file ({"t":"failed"} in docs/datachannel.md).
// It unwraps to [ErrIntegrity] for code "integrity" and to [ErrTransferFailed] otherwise.
type TransferError struct {
	Index   int    // the file's position in the transfer
	Name    string // the file's name as announced
	Code    string // "integrity", "size" or "write"
	Message string
}

func (e *TransferError) Error() string {
	msg := fmt.Sprintf("peer: file %d (%s) failed: %s", e.Index, e.Name, e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

func (e *TransferError) Unwrap() error {
	if e.Code == failIntegrity {
		return ErrIntegrity
	}
	return ErrTransferFailed
}
