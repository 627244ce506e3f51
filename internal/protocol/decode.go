package protocol

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unicode/utf8"
)

// maxDepth bounds how deeply arrays and objects may nest inside a message; it keeps the validator's
// recursion small whatever a client sends.
const maxDepth = 256

// Decode parses and validates one client message. The returned error is always an *Error to send back.
// fromId is ignored on purpose: the server stamps the sender's real id.
//
// It is a single pass over the message that validates all of it as JSON and keeps the top-level fields it
// needs as sub-slices of data: relays are the server's hot path, and encoding/json took three passes and a
// dozen allocations for the same answer. Field names match exactly, as in JavaScript; when a name repeats,
// the last one wins, as in JSON.parse.
func Decode(data []byte) (Request, *Error) {
	var req Request
	var f fields
	if err := f.scan(data); err != nil {
		return req, err
	}
	var kind string
	if f.kind != nil && !isNull(f.kind) {
		k, ok := stringValue(f.kind)
		if !ok {
			return req, errorf(CodeBadMessage, "kind must be a string")
		}
		kind = k
	}
	if f.toID == nil || isNull(f.toID) {
		switch kind {
		case KindPing:
			req.Ping = true
			return req, nil
		case KindRename:
			name, ok := stringValue(f.name)
			if !ok {
				return req, errorf(CodeBadMessage, "name must be a string")
			}
			req.Rename, req.Name = true, name
			return req, nil
		}
		if kind != "" && !relayKind(kind) {
			return req, errorf(CodeBadMessage, "unknown kind "+quoteShort(kind))
		}
		return req, errorf(CodeBadMessage, "toId is required")
	}
	r := &req.Relay
	var ok bool
	if r.ToID, ok = stringValue(f.toID); !ok {
		return req, errorf(CodeBadMessage, "toId must be a string")
	}
	if r.ToID == "" {
		return req, errorf(CodeBadMessage, "toId must not be empty")
	}
	if f.sid != nil && !isNull(f.sid) {
		if r.SID, ok = stringValue(f.sid); !ok {
			return req, errorf(CodeBadMessage, "sid must be a string")
		}
		if len(r.SID) > MaxSIDLen {
			return req, errorf(CodeBadMessage, "sid is longer than 64 bytes")
		}
	}
	n := 0
	for i, raw := range f.payload {
		if raw == nil {
			continue
		}
		name := payloadFields[i]
		if raw[0] != '{' {
			return req, errorf(CodeBadMessage, name+" must be a JSON object")
		}
		r.PayloadField, r.Payload = name, raw
		n++
	}
	if kind != "" {
		if !relayKind(kind) {
			return req, errorf(CodeBadMessage, "unknown kind "+quoteShort(kind))
		}
		r.Kind = kind
		n++
	}
	switch {
	case n == 0:
		return req, errorf(CodeBadMessage, "nothing to relay: expected offer, answer, candidate or kind")
	case n > 1:
		return req, errorf(CodeBadMessage, "expected exactly one of offer, answer, candidate or kind")
	}
	return req, nil
}

// payloadFields are the relayed objects, in the order of fields.payload.
var payloadFields = [...]string{"offer", "answer", "candidate"}

// fields holds the raw JSON values of the top-level members Decode cares about; nil when absent.
type fields struct {
	kind, toID, sid, name json.RawMessage
	payload               [len(payloadFields)]json.RawMessage
	pj                    peerJSFields // the members of a PeerJS message (peerjs.go); the lobby's Decode ignores them
}

func isNull(raw []byte) bool { return string(raw) == "null" }

var (
	errNotJSON   = errorf(CodeBadJSON, "message is not valid JSON")
	errNotObject = errorf(CodeBadJSON, "message must be a JSON object")
	errTooDeep   = errorf(CodeBadJSON, "message nests arrays or objects too deeply")
)

// scan validates data as one JSON object and records the members named in fields.
func (f *fields) scan(data []byte) *Error {
	s := scanner{data: data}
	s.skipSpace()
	isObject := s.peek() == '{'
	if !s.value(0) || !s.end() {
		return s.fail()
	}
	if !isObject {
		return errNotObject
	}
	*f = s.top
	return nil
}

// slot returns where the value of the member named by the raw JSON string key goes, or nil to skip it.
func (f *fields) slot(key []byte) *json.RawMessage {
	name := key[1 : len(key)-1]
	for _, c := range name {
		if c == '\\' { // an escaped name: rare, so decode it the slow way
			s, _ := stringValue(key)
			name = []byte(s)
			break
		}
	}
	switch string(name) { // no allocation: the compiler compares the bytes in place
	case "kind":
		return &f.kind
	case "toId":
		return &f.toID
	case "sid":
		return &f.sid
	case "name":
		return &f.name
	case "offer":
		return &f.payload[0]
	case "answer":
		return &f.payload[1]
	case "candidate":
		return &f.payload[2]
	case "type":
		return &f.pj.typ
	case "dst":
		return &f.pj.dst
	case "payload":
		return &f.pj.payload
	}
	return nil
}

// stringValue decodes raw as a JSON string; ok is false if it is another kind of value. raw is already
// validated, so only escapes need work.
func stringValue(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' {
			err := json.Unmarshal(raw, &s)
			return s, err == nil
		}
	}
	return string(body), true
}

// scanner is a JSON validator over data; i is the next byte to read.
type scanner struct {
	data  []byte
	i     int
	depth bool   // the nesting limit was hit
	top   fields // the members of the top-level object (held here, not by pointer, to stay on the stack)
}

func (s *scanner) peek() byte {
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

func (s *scanner) skipSpace() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.skipSpace()
	return s.i == len(s.data)
}

func (s *scanner) fail() *Error {
	if s.depth {
		return errTooDeep
	}
	return errNotJSON
}

// value consumes one JSON value at nesting level depth.
func (s *scanner) value(depth int) bool {
	switch c := s.peek(); {
	case c == '"':
		return s.string()
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

func (s *scanner) object(depth int) bool {
	if depth > maxDepth {
		s.depth = true
		return false
	}
	s.i++ // {
	s.skipSpace()
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		s.skipSpace()
		keyStart := s.i
		if s.peek() != '"' || !s.string() {
			return false
		}
		key := s.data[keyStart:s.i]
		s.skipSpace()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.skipSpace()
		valStart := s.i
		if !s.value(depth) {
			return false
		}
		if depth == 1 {
			if slot := s.top.slot(key); slot != nil {
				*slot = s.data[valStart:s.i:s.i]
			}
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) array(depth int) bool {
	if depth > maxDepth {
		s.depth = true
		return false
	}
	s.i++ // [
	s.skipSpace()
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		s.skipSpace()
		if !s.value(depth) {
			return false
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// string consumes a JSON string, checking escapes, control characters and UTF-8.
func (s *scanner) string() bool {
	d := s.data
	i := s.i + 1 // "
	for i < len(d) {
		// Relays are mostly ~1 KB of SDP: skip plain ASCII eight bytes at a time.
		for i+8 <= len(d) {
			special := plainASCII8(binary.LittleEndian.Uint64(d[i:]))
			if special != 0 {
				i += bits.TrailingZeros64(special) / 8
				break
			}
			i += 8
		}
		if i >= len(d) {
			break
		}
		c := d[i]
		switch {
		case c == '"':
			s.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(d) {
				return false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		case c < 0x20:
			return false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return false
			}
			i += size
		}
	}
	return false
}

// plainASCII8 returns, for the eight bytes of x (little-endian), a mask whose lowest set bit is the high bit
// of the first byte that needs a closer look: '"', '\\', a control character or a non-ASCII byte; 0 if none
// does. Bits above the lowest may be false alarms (a borrow carries into the next byte), never the lowest:
// a borrow only starts at a byte that is itself special.
func plainASCII8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	t := x - 0x20*ones         // a byte below 0x20 borrows
	t |= (x ^ '"'*ones) - ones // a '"' becomes 0 and borrows
	t |= (x ^ '\\'*ones) - ones
	t |= x // a byte ≥ 0x80
	return t & highs
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	d := s.data
	i := s.i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}
