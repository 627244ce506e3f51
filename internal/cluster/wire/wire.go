// Package wire is the binary format of the messages between the nodes of a cluster. It has no I/O, so that
// it can be fuzzed (and read) without NATS.
package wire

import (
	"encoding/binary"
	"errors"

	"github.com/p2plobby/p2plobby/internal/hub"
)

// The messages between nodes are small binary records: a version byte, a kind byte, then the fields of that
// kind, each string as a uvarint length and its bytes. A relay's frame goes last, as it is: the receiving
// node queues those bytes for its member without decoding them.

// Version is the first byte of every message; a node drops messages of another version.
const Version = 1

// Kind is the second byte: what the message is.
type Kind byte

const (
	KindEvent     Kind = iota + 1 // on a room subject: a member joined, was renamed or left
	KindRelay                     // to a node: a relay frame for one of its members
	KindBounce                    // to a node: its member's relay found no one
	KindSyncReq                   // to a node: tell me your members of these rooms
	KindSyncResp                  // to a node: my members of a room (in parts: more is set on all but the last)
	KindHeartbeat                 // on the heartbeat subject: I am alive, in generation gen
	KindHello                     // on the heartbeat subject: I (re)connected; answer with a heartbeat
	KindBye                       // on the heartbeat subject: I am shutting down; drop my members now
)

// Message is every kind of message; each kind uses some fields.
type Message struct {
	Kind    Kind
	Node    string // the sender's node id
	Gen     uint64 // heartbeat, hello
	Room    string // event, relay, bounce, sync response
	Event   hub.Event
	From    string // relay, bounce
	To      string // relay, bounce
	Stream  uint64 // relay: the sender's stream of relays to this node (new when either forgets the other)
	Seq     uint64 // relay: its place in that stream, from 1; the receiver delivers in this order
	Frame   []byte // relay
	Rooms   []string
	Members []hub.Remote
	More    bool
}

// ErrBadMessage is Decode's error for bytes that are not a message of this version.
var ErrBadMessage = errors.New("cluster: malformed message")

// Encode returns m's bytes.
func (m *Message) Encode() []byte {
	b := make([]byte, 0, 64+len(m.Room)+len(m.Frame)+24*len(m.Members))
	b = append(b, Version, byte(m.Kind))
	b = appendString(b, m.Node)
	switch m.Kind {
	case KindEvent:
		b = appendString(b, m.Room)
		b = append(b, byte(m.Event.Kind))
		b = appendString(b, m.Event.ID)
		b = appendString(b, m.Event.Name)
	case KindRelay, KindBounce:
		b = appendString(b, m.Room)
		b = appendString(b, m.From)
		b = appendString(b, m.To)
		if m.Kind == KindRelay {
			b = binary.AppendUvarint(b, m.Stream)
			b = binary.AppendUvarint(b, m.Seq)
		}
		b = append(b, m.Frame...)
	case KindSyncReq:
		b = binary.AppendUvarint(b, uint64(len(m.Rooms)))
		for _, r := range m.Rooms {
			b = appendString(b, r)
		}
	case KindSyncResp:
		b = appendString(b, m.Room)
		b = append(b, boolByte(m.More))
		b = binary.AppendUvarint(b, uint64(len(m.Members)))
		for _, r := range m.Members {
			b = appendString(b, r.ID)
			b = appendString(b, r.Name)
		}
	case KindHeartbeat, KindHello, KindBye:
		b = binary.AppendUvarint(b, m.Gen)
	}
	return b
}

// Decode parses a message. A relay's Frame aliases b.
func Decode(b []byte) (*Message, error) {
	if len(b) < 2 || b[0] != Version {
		return nil, ErrBadMessage
	}
	d := decoder{b: b[2:]}
	m := &Message{Kind: Kind(b[1])}
	m.Node = d.string()
	switch m.Kind {
	case KindEvent:
		m.Room = d.string()
		m.Event.Kind = hub.EventKind(d.byte())
		m.Event.ID = d.string()
		m.Event.Name = d.string()
		if m.Event.Kind < hub.Joined || m.Event.Kind > hub.Left {
			d.err = ErrBadMessage
		}
	case KindRelay, KindBounce:
		m.Room = d.string()
		m.From = d.string()
		m.To = d.string()
		if m.Kind == KindRelay {
			m.Stream = d.uvarint()
			m.Seq = d.uvarint()
		}
		m.Frame = d.b
		d.b = nil
	case KindSyncReq:
		n := d.count()
		for range n {
			m.Rooms = append(m.Rooms, d.string())
		}
	case KindSyncResp:
		m.Room = d.string()
		m.More = d.byte() == 1
		n := d.count()
		m.Members = make([]hub.Remote, 0, n)
		for range n {
			m.Members = append(m.Members, hub.Remote{ID: d.string(), Name: d.string()})
		}
	case KindHeartbeat, KindHello, KindBye:
		m.Gen = d.uvarint()
	default:
		return nil, ErrBadMessage
	}
	if d.err != nil || m.Node == "" {
		return nil, ErrBadMessage
	}
	return m, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decoder reads fields; after the first error every read returns zero values and err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = ErrBadMessage, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = ErrBadMessage, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = ErrBadMessage
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a length of a list whose entries take at least one byte each, so a forged count cannot make
// the receiver allocate more than the message's size.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = ErrBadMessage, nil
		return 0
	}
	return int(n)
}
