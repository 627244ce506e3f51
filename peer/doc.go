// Package peer is a Go member of a p2plobby lobby. It joins a room on a p2plobby server (or any server that
// speaks the seed's protocol), sees the other members, and connects to them directly over WebRTC data channels
// to chat and send files. It speaks the same protocols as the browser app, in both directions:
// docs/protocol.md for signaling and docs/datachannel.md for chat, files and the verification code.
//
// Start with [Dial], which joins a room and returns a [Client]:
//
//   - [Client.Members], [Client.WaitMember] and [Client.Events] tell who is in the room;
//   - [Client.Request] asks a member for a connection and returns a [Conn] once it accepts;
//   - an [IncomingRequest] event carries a [Request] to Accept or Decline;
//   - on a Conn, [Conn.SendChat] and [Conn.Chat] chat, [Conn.SendFiles] sends files, and [Conn.Transfers]
//     delivers the other side's proposals ([IncomingTransfer]) to Accept into a directory (or
//     [IncomingTransfer.AcceptWith], with size and count limits and inactivity timeouts) or Decline;
//   - [Conn.VerificationCode] is the six-digit code both people can compare; [Conn.Close] hangs up.
//
// The other side is a stranger: everything it sends is checked. The verification code comes from the
// certificates of the DTLS session and a committed nonce exchange, so nobody in the middle can make two codes
// match (docs/security.md); Request and Accept return once it is known.
//
// Consent comes first: nothing is negotiated before the other side accepts a request, and no file is written
// before this side accepts a transfer. Files stream in constant memory, paced by the data channel's buffered
// amount, and are verified by SHA-256; a file appears under its final name only once complete and verified.
//
// Everything that blocks takes a context. Errors wrap the sentinels of errors.go (match with [errors.Is]):
// [ErrDeclined], [ErrUnknownPeer], [ErrConnectionFailed], [ErrInterrupted], [ErrIntegrity]…
//
// Networking: ICE uses the STUN/TURN servers the lobby announces (a p2plobby server hands out its own TURN,
// with credentials it refreshes; or [Options.ICEServers]) and every interface except loopback, like a browser.
// [Conn.Path] tells whether a connection is direct or relayed. [Options.RelayOnly] relays everything, so the
// other side never learns this host's addresses. [Options.Loopback] connects peers on one host without any
// network; [Options.SettingEngine] exposes pion's other knobs.
//
// The p2plobby command's list, send, receive and chat subcommands are small programs over this package.
package peer
