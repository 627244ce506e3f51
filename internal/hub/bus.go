package hub

// Bus carries a node's room events and relays to the other nodes of a cluster (internal/cluster has the NATS
// one). A nil Config.Bus is one node, in memory, exactly as without a cluster. The hub calls every method
// without blocking on the network: a Bus queues and returns.
//
// The other direction, from the bus into the hub, is the exported methods in remote.go (Apply, SetRemote,
// DropNode, Deliver, Bounce, LocalMembers). Each room is kept whole on every node that has local members in
// it: remote members are entries of the room without a connection, so one node's snapshot and log give its
// members an exact view, and a remote join costs one message per node, appended once to that node's log.
type Bus interface {
	// Open is called, with the hub locked, when a room gets its first local member on this node. The bus
	// starts receiving the room's events, loads the remote members (Hub.SetRemote) and then calls ready,
	// exactly once and within a bounded time even if other nodes do not answer. Joins wait for ready, so
	// a newcomer's snapshot already holds the members of other nodes.
	Open(room string, ready func())
	// Close is called, with the hub locked, once the room's last local member has left.
	Close(room string)
	// Publish announces a local member's join, rename or leave. It is called with the room locked, in the
	// room's log order, which the bus must keep.
	Publish(room string, ev Event)
	// Relay sends a relay frame (fromId already stamped here) from local member fromID to toID, a member of
	// node. It is called after Publish of fromID's join, in the order fromID sent. A relay that cannot be
	// delivered comes back through Hub.Bounce, never silence.
	Relay(node, room, fromID, toID string, frame []byte)
}

// EventKind is what happened to a member.
type EventKind uint8

// Event kinds.
const (
	Joined EventKind = iota + 1
	Renamed
	Left
)

// Event is a member's join, rename or leave, as one node tells the others. Name is the name the member has
// on its own node; another node may show it later or numbered differently until a clash is settled (see
// remote.go).
type Event struct {
	Kind EventKind
	ID   string
	Name string
}

// Remote is a member as a node reports it to the others.
type Remote struct {
	ID   string
	Name string
}
