package protocol

// WebSocket subprotocols of the join tokens (docs/protocol.md, "Join tokens"). A browser cannot set an
// Authorization header on a WebSocket, so it offers [Subprotocol, TokenSubprotocolPrefix+jwt]; the server
// selects Subprotocol, never echoing the token, which thus stays out of URLs and access logs.
const (
	Subprotocol            = "p2plobby"
	TokenSubprotocolPrefix = "p2plobby.token."
)
