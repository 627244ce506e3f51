// Package protocol defines p2plobby's signaling messages: what clients send, what the server sends back,
// how both are validated and encoded, and the error and close codes. It does no I/O.
//
// The wire format is the seed's lobby protocol (JSON objects in WebSocket text frames), extended in ways a
// seed client never notices; docs/protocol.md is the full reference.
package protocol
