package cluster

import (
	"encoding/binary"
	"errors"

	"github.com/p2plobby/p2plobby/internal/hub"
)

// The messages between nodes are small binary records: a version byte, a kind byte, then the fields of that
// kind, each string as a uvarint length and its bytes. A relay's frame goes last, as it is: the receiving
// node queues those bytes for its member without decoding them.

const wireVersion = 1

type kind byte

const (
	kindEvent     kind = iota + 1 // on a room subject: a member joined, was renamed or left
	kindRelay                     // to a node: a relay frame for one of its members
	kindBounce                    // to a node: its member's relay found no one
	kindSyncReq                   // to a node: tell me your members of these rooms
	kindSyncResp                  // to a node: my members of a room (in parts: more is set on all but the last)
	kindHeartbeat                 // on the heartbeat subject: I am alive, in generation gen
	kindHello                     // on the heartbeat subject: I (re)connected; answer with a heartbeat
	kindBye                       // on the heartbeat subject: I am shutting down; drop my members now
)

// message is every kind of message; each kind uses some fields.
type message struct {
	kind    kind
	node    string // the sender's node id
	gen     uint64 // heartbeat, hello
	room    string // event, relay, bounce, sync response
	ev      hub.Event
	from    string // relay, bounce
	to      string // relay, bounce
	stream  uint64 // relay: the sender's stream of relays to this node (new when either forgets the other)
	rseq    uint64 // relay: its place in that stream, from 1; the receiver delivers in this order
	frame   []byte // relay
	rooms   []string
	members []hub.Remote
	more    bool
}

var errBadMessage = errors.New("cluster: malformed message")

func (m *message) encode() []byte {
	b := make([]byte, 0, 64+len(m.room)+len(m.frame)+24*len(m.members))
	b = append(b, wireVersion, byte(m.kind))
	b = appendString(b, m.node)
	switch m.kind {
	case kindEvent:
		b = appendString(b, m.room)
		b = append(b, byte(m.ev.Kind))
		b = appendString(b, m.ev.ID)
		b = appendString(b, m.ev.Name)
	case kindRelay, kindBounce:
		b = appendString(b, m.room)
		b = appendString(b, m.from)
		b = appendString(b, m.to)
		if m.kind == kindRelay {
			b = binary.AppendUvarint(b, m.stream)
			b = binary.AppendUvarint(b, m.rseq)
		}
		b = append(b, m.frame...)
	case kindSyncReq:
		b = binary.AppendUvarint(b, uint64(len(m.rooms)))
		for _, r := range m.rooms {
			b = appendString(b, r)
		}
	case kindSyncResp:
		b = appendString(b, m.room)
		b = append(b, boolByte(m.more))
		b = binary.AppendUvarint(b, uint64(len(m.members)))
		for _, r := range m.members {
			b = appendString(b, r.ID)
			b = appendString(b, r.Name)
		}
	case kindHeartbeat, kindHello, kindBye:
		b = binary.AppendUvarint(b, m.gen)
	}
	return b
}

func decode(b []byte) (*message, error) {
	if len(b) < 2 || b[0] != wireVersion {
		return nil, errBadMessage
	}
	d := decoder{b: b[2:]}
	m := &message{kind: kind(b[1])}
	m.node = d.string()
	switch m.kind {
	case kindEvent:
		m.room = d.string()
		m.ev.Kind = hub.EventKind(d.byte())
		m.ev.ID = d.string()
		m.ev.Name = d.string()
		if m.ev.Kind < hub.Joined || m.ev.Kind > hub.Left {
			d.err = errBadMessage
		}
	case kindRelay, kindBounce:
		m.room = d.string()
		m.from = d.string()
		m.to = d.string()
		if m.kind == kindRelay {
			m.stream = d.uvarint()
			m.rseq = d.uvarint()
		}
		m.frame = d.b
		d.b = nil
	case kindSyncReq:
		n := d.count()
		for range n {
			m.rooms = append(m.rooms, d.string())
		}
	case kindSyncResp:
		m.room = d.string()
		m.more = d.byte() == 1
		n := d.count()
		m.members = make([]hub.Remote, 0, n)
		for range n {
			m.members = append(m.members, hub.Remote{ID: d.string(), Name: d.string()})
		}
	case kindHeartbeat, kindHello, kindBye:
		m.gen = d.uvarint()
	default:
		return nil, errBadMessage
	}
	if d.err != nil || m.node == "" {
		return nil, errBadMessage
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
		d.err, d.b = errBadMessage, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errBadMessage, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = errBadMessage
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
		d.err, d.b = errBadMessage, nil
		return 0
	}
	return int(n)
}
