package transport

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/p2plobby/p2plobby/internal/auth"
	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

// PeerJS serves PeerServer's protocol (docs/peerjs.md), so that an unmodified PeerJS app uses p2plobby as its
// server: WebSocket at {Path}/peerjs?key=K&id=I&token=T, and the HTTP API at {Path}/, {Path}/{key}/id and
// {Path}/{key}/peers. Each key is a realm of the hub (hub.JoinRealm): ids are unique in it across every node
// of a cluster, relays to ids not yet connected wait for them (hub.RealmConfig), and the connection has the
// lobby's limits, keepalive and write batching.
type PeerJS struct {
	// Path is where PeerServer would be mounted (the client's path option), e.g. "/peerjs". "/" serves the
	// paths of a PeerServer with its default path: the WebSocket at /peerjs and the API at /{key}/id and
	// /{key}/peers, beside the web app (its / stays the app's).
	Path string
	// Keys are the accepted API keys (the client's key option); PeerServer's default is "peerjs".
	Keys []string
	// AliveTimeout closes a connection that sent no HEARTBEAT for this long (PeerServer's alive_timeout;
	// the client sends one every 5 s). Default 90 s.
	AliveTimeout time.Duration
	// AllowDiscovery serves the list of connected ids at {Path}/{key}/peers (PeerServer's allow_discovery).
	AllowDiscovery bool
}

// DefaultAliveTimeout is PeerServer's alive_timeout.
const DefaultAliveTimeout = 90 * time.Second

// peerInfo is PeerServer's answer at {Path}/, byte for byte.
const peerInfo = `{"name":"PeerJS Server","description":"A server side element to broker connections between PeerJS clients.","website":"https://peerjs.com/"}`

// pjConn is the PeerJS side of a conn.
type pjConn struct {
	id       string
	lastBeat atomic.Int64 // unix nanoseconds of the last HEARTBEAT (or of the join)
}

// peerJSPath reports whether path belongs to the PeerJS endpoint.
func (s *Server) peerJSPath(path string) bool {
	p := s.cfg.PeerJS
	switch {
	case p == nil:
		return false
	case p.Path != "":
		return path == p.Path || strings.HasPrefix(path, p.Path+"/")
	case path == "/peerjs":
		return true
	}
	key, what, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return ok && (what == "id" || what == "peers") && s.peerJSKey(key)
}

func (s *Server) peerJSKey(key string) bool {
	for _, k := range s.cfg.PeerJS.Keys {
		if k == key {
			return true
		}
	}
	return false
}

// servePeerJS routes a request under PeerJS.Path.
func (s *Server) servePeerJS(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, s.cfg.PeerJS.Path)
	if rest == "/peerjs" && isUpgrade(r) {
		s.servePeerJSSocket(w, r)
		return
	}
	if !s.peerJSCORS(w, r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if rest == "" || rest == "/" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte(peerInfo))
		return
	}
	key, what, ok := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	if !ok || (what != "id" && what != "peers") {
		http.NotFound(w, r)
		return
	}
	if !s.peerJSKey(key) {
		http.Error(w, protocol.PeerJSMsgInvalidKey, http.StatusUnauthorized)
		return
	}
	if what == "id" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8") // as PeerServer: the client reads it as text
		w.Write([]byte(newPeerJSID()))
		return
	}
	if !s.cfg.PeerJS.AllowDiscovery {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if s.cfg.Auth != nil {
		// The list names everyone: with join tokens it takes a token for the key, in a header.
		if _, perr := s.admitToken(tokenOf(r), key); perr != nil {
			http.Error(w, perr.Message, http.StatusUnauthorized)
			return
		}
	}
	ids := s.hub.RealmIDs(key)
	if ids == nil {
		ids = []string{}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(ids)
}

// peerJSCORS sets the CORS headers of the HTTP API and reports whether the request's origin may use it.
// PeerJS apps are usually served from another origin than their server, and PeerServer admits every origin;
// so does this endpoint unless AllowedOrigins is set, which then applies here as on the lobby (nothing in a
// realm depends on the visitor's address, unlike a same-network group).
func (s *Server) peerJSCORS(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Add("Vary", "Origin") // the answer depends on it, for caches
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if !s.peerJSOriginAllowed(r) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET,HEAD,OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		h.Set("Access-Control-Max-Age", "600")
	}
	return true
}

func (s *Server) peerJSOriginAllowed(r *http.Request) bool {
	return len(s.cfg.AllowedOrigins) == 0 || s.originAllowed(r)
}

// newPeerJSID returns a random UUID (version 4), the ids PeerServer hands out.
func newPeerJSID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// servePeerJSSocket upgrades a PeerJS client and joins it to its key's realm. Refusals come as PeerServer
// sends them (ERROR or ID-TAKEN, then close), with p2plobby's close codes.
func (s *Server) servePeerJSSocket(w http.ResponseWriter, r *http.Request) {
	u, ok := s.upgrade(w, r, s.peerJSOriginAllowed(r), peerJSUpgrader)
	if !ok {
		return
	}
	nc, ip, refusal := u.nc, u.ip, u.refusal
	if refusal != nil {
		s.refusePeerJS(nc, refusal, protocol.PeerJSErrorFrame(refusal.Message), refusalClose(refusal.Code))
		return
	}
	q := r.URL.Query()
	last := func(name string) string { // as PeerServer reads the query: the last of repeated names wins
		if v := q[name]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	key, id, token := last("key"), last("id"), last("token")
	var perr *protocol.Error
	code := protocol.CloseBadJoin
	switch {
	case key == "" || id == "" || token == "":
		perr = &protocol.Error{Code: protocol.CodeBadMessage, Message: protocol.PeerJSMsgInvalidParams}
	case !s.peerJSKey(key):
		perr = &protocol.Error{Code: protocol.CodeBadRoom, Message: protocol.PeerJSMsgInvalidKey}
	case !protocol.ValidPeerJSID(id):
		perr = &protocol.Error{Code: protocol.CodeBadMessage, Message: "ID is invalid"}
	case len(token) > protocol.MaxPeerJSTokenLen || !utf8.ValidString(token):
		perr = &protocol.Error{Code: protocol.CodeBadMessage, Message: protocol.PeerJSMsgInvalidToken}
	case s.cfg.Auth != nil:
		// The client's token option carries the join token: it is the only credential a stock PeerJS
		// client can send. It also proves the id is the client's, as PeerServer's random token does.
		ident, e := s.admitToken(token, key)
		switch {
		case e != nil:
			perr, code = e, protocol.CloseUnauthorized
		case ident.Name != "" && ident.Name != id:
			perr, code = &protocol.Error{Code: protocol.CodeTokenInvalid, Message: "your join token is for the id " + ident.Name}, protocol.CloseUnauthorized
		}
	}
	if perr != nil {
		s.unreserve(ip)
		msg := perr.Message
		if code == protocol.CloseUnauthorized {
			msg = protocol.PeerJSMsgInvalidToken + ": " + msg
		}
		s.refusePeerJS(nc, perr, protocol.PeerJSErrorFrame(msg), code)
		return
	}
	c := &conn{s: s, nc: nc, ip: ip, host: r.Host, pj: &pjConn{id: id}}
	c.emitFn = c.emit
	c.state.Store(1)
	c.pj.lastBeat.Store(time.Now().UnixNano())
	sum := sha256.Sum256([]byte(token))
	m, err := s.hub.JoinRealm(key, id, string(sum[:16]), protocol.PeerJSOpenFrame, c)
	if err != nil {
		s.unreserve(ip)
		var perr *protocol.Error
		if !errors.As(err, &perr) {
			perr = &protocol.Error{Code: "internal", Message: "internal error"}
		}
		frame := protocol.PeerJSErrorFrame(perr.Message)
		code := refusalClose(perr.Code)
		if err == hub.ErrIDTaken {
			frame, code = protocol.PeerJSIDTakenFrame, protocol.CloseBadJoin
		}
		s.refusePeerJS(nc, perr, frame, code)
		return
	}
	c.member = m
	s.startConn(c, nc, u.hijacked, ip)
}

// peerJSUpgrader selects no subprotocol: the PeerJS client offers none.
var peerJSUpgrader = ws.HTTPUpgrader{Timeout: 5 * time.Second}

// refusePeerJS is refuse with the refusal in PeerJS's encoding.
func (s *Server) refusePeerJS(nc net.Conn, perr *protocol.Error, frame []byte, code int) {
	s.cfg.Logger.Info("peerjs connection refused", "code", perr.Code, "reason", perr.Message)
	s.refuseFrame(nc, perr, frame, code)
}

// admitToken checks a join token for a PeerJS key, as admit does for a room.
func (s *Server) admitToken(tok, key string) (*auth.Identity, *protocol.Error) {
	if tok == "" {
		return nil, &protocol.Error{Code: protocol.CodeTokenMissing, Message: "this server needs a join token"}
	}
	id, err := s.verify(tok)
	if err != nil {
		return nil, err
	}
	if !id.Allows(key) {
		return nil, &protocol.Error{Code: protocol.CodeTokenRoom, Message: "your join token is not for this key"}
	}
	return id, nil
}

// handlePeerJS acts on one complete message of a PeerJS client; false ends the connection.
func (c *conn) handlePeerJS(op ws.OpCode, msg []byte) bool {
	if op == ws.OpBinary {
		c.notice(&protocol.Error{Code: protocol.CodeBinaryUnsupported, Message: "binary frames are not supported; send JSON text"})
		return true
	}
	if !utf8.Valid(msg) {
		c.Close(protocol.CloseInvalidData, "text frame is not valid UTF-8")
		return false
	}
	m, perr := protocol.DecodePeerJS(msg)
	if perr != nil {
		c.notice(perr)
		return true
	}
	switch m.Type {
	case protocol.PeerJSHeartbeat:
		c.pj.lastBeat.Store(time.Now().UnixNano())
		return true
	case protocol.PeerJSLeave, protocol.PeerJSExpire:
		if m.Dst == "" {
			if m.Type == protocol.PeerJSLeave {
				// PeerServer forgets the id but leaves the socket open, outside every limit; here the
				// client leaves for real.
				c.Close(protocol.CloseNormal, "left")
				return false
			}
			return true
		}
		// Not kept for an absent id, as PeerServer: there is nobody to tell.
		c.relayPeerJS(m, false)
		return true
	}
	if m.Dst == "" {
		c.notice(&protocol.Error{Code: protocol.CodeBadMessage, Message: "dst is required"})
		return true
	}
	c.relayPeerJS(m, true)
	return true
}

func (c *conn) relayPeerJS(m protocol.PeerJSMessage, park bool) {
	frame := protocol.AppendPeerJS(make([]byte, 0, 64+len(m.Dst)+len(c.pj.id)+len(m.Payload)), m.Type, c.pj.id, m.Dst, m.Payload)
	if res, perr := c.member.RelayTo(m.Dst, frame, park); res == hub.RelayRefused {
		c.notice(perr)
	}
}

// notice sends a PeerJS client a refusal that keeps its connection (protocol.PeerJSNotice).
func (c *conn) notice(perr *protocol.Error) {
	c.member.Refuse(perr.Code, protocol.PeerJSNoticeFrame(perr))
}

// watchHeartbeats closes the PeerJS connections that sent no HEARTBEAT for AliveTimeout, looking ten times
// per timeout (at most every 5 s), so that one is closed within a tenth of the timeout after it.
func (s *Server) watchHeartbeats() {
	timeout := s.cfg.PeerJS.AliveTimeout
	t := time.NewTicker(min(max(timeout/10, 10*time.Millisecond), 5*time.Second))
	defer t.Stop()
	reason := fmt.Sprintf("no heartbeat for %v", timeout)
	var list []*conn
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for c := range s.conns {
			if c.pj != nil {
				list = append(list, c)
			}
		}
		s.mu.Unlock()
		silentSince := time.Now().Add(-timeout).UnixNano()
		for _, c := range list {
			if c.pj.lastBeat.Load() < silentSince {
				c.Close(protocol.CloseNoHeartbeat, reason)
			}
		}
		clear(list)
		list = list[:0]
	}
}
