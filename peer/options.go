package peer

import (
	"log/slog"
	"net/http"

	"github.com/pion/webrtc/v4"
)

// Options configures [Dial]. The zero value (or nil) gives the defaults documented on each field.
type Options struct {
	// Room is the lobby to join (1–64 of A–Z a–z 0–9 - _ .). Empty: the URL's room query parameter,
	// else the server's default room "lobby".
	Room string

	// Name is the display name shown to the others. Empty: the URL's name query parameter, else none.
	Name string

	// ICEServers, when non-nil, replaces the STUN/TURN servers the lobby announces in self-connected.
	// An empty non-nil slice means no ICE servers at all (host candidates only).
	ICEServers []ICEServer

	// RelayOnly sends every connection through a TURN relay (ICE transport policy "relay"), so the other
	// peer never learns this host's addresses. It needs a TURN server: the lobby hands out its own. Default
	// false: direct when the networks allow it, relayed only when they don't.
	RelayOnly bool

	// Logger receives diagnostics, including pion's own warnings (at debug level). Nil discards them.
	Logger *slog.Logger

	// Header is sent with the WebSocket handshake, e.g. an Origin the server expects. Nil sends none.
	Header http.Header

	// Token is a join token for a lobby that requires one (docs/protocol.md, "Join tokens"), sent as
	// "Authorization: Bearer TOKEN" in the handshake, never in the URL. The member's name is then the one in
	// the token, and Name is ignored. Empty: none. A refusal is a *ServerError with CloseCode 4004 and a Code
	// such as "token-expired".
	Token string

	// Loopback restricts ICE to the loopback interface and turns mDNS off, so that peers on one host connect
	// without any network (tests, same-host scripting). Default false: every interface except loopback, as
	// browsers do. A browser on another host can never reach a loopback-only peer.
	Loopback bool

	// SettingEngine, when non-nil, is the base for pion's settings (network types, ports, ICE timeouts, UDP mux,
	// a virtual network…). It is copied; the peer then enables detached data channels and sets the SCTP max
	// message size, which the data-channel protocol needs. Nil: pion's defaults, plus 4 MiB UDP socket buffers
	// (see udpnet.go) and SCTP windows and congestion settings for long, lossy paths (sctpwan.go), which a
	// custom SettingEngine does not get.
	SettingEngine *webrtc.SettingEngine
}

// ICEServer is a STUN or TURN server, as in the browser's RTCIceServer and the lobby's "iceServers".
type ICEServer struct {
	URLs       []string // e.g. "stun:stun.example.org:3478", "turn:turn.example.org?transport=udp"
	Username   string   // TURN only
	Credential string   // TURN only
}
