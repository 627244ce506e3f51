package transport

import (
	"errors"
	"net/http"
	"strings"

	"github.com/p2plobby/p2plobby/internal/auth"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

// tokenOf returns the join token of an upgrade request: from a "p2plobby.token.JWT" subprotocol offer (what a
// browser can send), else from an "Authorization: Bearer JWT" header. Both stay out of the URL and so out of
// access logs; a ?token= in the URL is never read.
func tokenOf(r *http.Request) string {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if tok, ok := strings.CutPrefix(strings.TrimSpace(p), protocol.TokenSubprotocolPrefix); ok {
				return tok
			}
		}
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

// admit checks the request's join token for the room asked for (?room=), as the member would join it: ""
// is the default room by its name, and @network is the same-network group, or the default room when those
// are off. It returns the identity, or the refusal to send with protocol.CloseUnauthorized.
func (s *Server) admit(r *http.Request, room string) (*auth.Identity, *protocol.Error) {
	tok := tokenOf(r)
	if tok == "" {
		msg := "this lobby needs a join token"
		if r.URL.Query().Has("token") {
			msg += ": send it as a WebSocket subprotocol or an Authorization header, not in the URL"
		}
		return nil, &protocol.Error{Code: protocol.CodeTokenMissing, Message: msg}
	}
	id, perr := s.verify(tok)
	if perr != nil {
		return nil, perr
	}
	switch {
	case room == "":
		room = protocol.DefaultRoom
	case room == protocol.NetworkRoom && s.cfg.NoNetworkRooms:
		room = protocol.DefaultRoom
	}
	if !id.Allows(room) {
		return nil, &protocol.Error{Code: protocol.CodeTokenRoom, Message: "your join token is not for this room"}
	}
	return id, nil
}

// verify checks a join token's signature and times; the refusal is token-invalid or token-expired.
func (s *Server) verify(tok string) (*auth.Identity, *protocol.Error) {
	id, err := s.cfg.Auth.Verify(tok)
	if err != nil {
		code := protocol.CodeTokenInvalid
		if errors.Is(err, auth.ErrExpired) {
			code = protocol.CodeTokenExpired
		}
		return nil, &protocol.Error{Code: code, Message: strings.TrimPrefix(err.Error(), "auth: ")}
	}
	return id, nil
}
