package hub

import "bytes"

// Observer counts what the hub does, for metrics (internal/metrics implements it). The hub calls it on its hot
// paths, sometimes with a room locked: a method must be cheap, must not block and must not call into the hub.
// A nil Config.Observer counts nothing.
type Observer interface {
	// Error is called for every error frame ({"kind":"error"}) sent to a local member, with its code. Every
	// direct message goes through Member.Send, so errors added later are counted without a change here.
	Error(code string)
	// Relay is called once for every relay a local member sends, with where it went, and once more with
	// RouteBounced if the cluster hands it back undeliverable. A relay refused by a limit (Config.Limits) is
	// no relay here: its sender gets an error, counted by Error.
	Relay(route Route)
}

// Route is where a relay went.
type Route uint8

// Routes of a relay.
const (
	RouteLocal         Route = iota // queued for a member of this node
	RouteCluster                    // handed to the Bus for a member of another node
	RouteUndeliverable              // no member with that id in the room: the sender got unknown-target
	RouteBounced                    // sent to another node, which no longer had the member (counted as RouteCluster first)
	NumRoutes                       // the number of routes, for tables indexed by Route
)

// String names the route as metrics label it.
func (r Route) String() string {
	switch r {
	case RouteLocal:
		return "local"
	case RouteCluster:
		return "cluster"
	case RouteUndeliverable:
		return "undeliverable"
	case RouteBounced:
		return "bounced"
	}
	return "unknown"
}

type noObserver struct{}

func (noObserver) Error(string) {}
func (noObserver) Relay(Route)  {}

// errorPrefix starts every error frame (protocol.Error.Frame writes it, then the code and its closing quote).
var errorPrefix = []byte(`{"kind":"error","code":"`)

// observeSent tells the observer about frame if it is an error. A prefix check: pongs and ICE updates, the
// other direct messages, cost a few byte compares.
func (h *Hub) observeSent(frame []byte) {
	if rest, ok := bytes.CutPrefix(frame, errorPrefix); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 {
			h.obs.Error(string(rest[:i]))
		}
	}
}
