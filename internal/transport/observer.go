package transport

// Observer counts connection events, for metrics (internal/metrics implements it). It is called from the
// connections' goroutines, at most a few times per connection: a method must be cheap and must not block.
// A nil Config.Observer counts nothing. The errors and relays of members are the hub's to count
// (hub.Observer).
type Observer interface {
	// Upgrade is called once per WebSocket upgrade request with its outcome: UpgradeAccepted once the member
	// is in the lobby, UpgradeOrigin or UpgradeHandshake, or the error code of the refusal sent to the client
	// (protocol.CodeServerFull, CodeRoomFull, a token's code, …).
	Upgrade(outcome string)
	// Error is called with the code of the error frame sent with every refusal.
	Error(code string)
	// Closed is called once per connection the server closes, member or refused, with the close code it sends.
	// Closes that answer the client's own close frame are not counted here but by Ended.
	Closed(code int)
	// Ended is called once per member's connection when it is gone, with who ended it: EndedByClient,
	// EndedByServer or EndedLost.
	Ended(by string)
}

// Outcomes of an upgrade request besides the error codes of refusals.
const (
	UpgradeAccepted  = "accepted"  // joined the lobby
	UpgradeOrigin    = "origin"    // 403: the page's Origin is not allowed (Config.AllowedOrigins)
	UpgradeHandshake = "handshake" // the WebSocket handshake itself failed (a bad request, or the client left)
)

// Who ended a member's connection.
const (
	EndedByClient = "client" // the client sent a close frame
	EndedByServer = "server" // the server sent a close frame (its code went to Observer.Closed)
	EndedLost     = "lost"   // no close frame: the network failed, or a timeout cut a silent client
)

type noObserver struct{}

func (noObserver) Upgrade(string) {}
func (noObserver) Error(string)   {}
func (noObserver) Closed(int)     {}
func (noObserver) Ended(string)   {}

// Ready reports what /readyz answers: false while shutting down, or while Config.Ready says so.
func (s *Server) Ready() bool { return s.ready() }
