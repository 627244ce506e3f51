package protocol

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultRoom is the room of a client that names none, so seed clients all meet in one lobby.
const DefaultRoom = "lobby"

// NetworkRoom is the room a client asks for to join its network's group: the members whose connections come
// from the same address (IPv4) or /64 (IPv6). The server answers with the group's own room name in
// self-connected. '@' cannot appear in a room name (ValidRoom), so it never collides with a named room.
const NetworkRoom = "@network"

// Limits on join parameters.
const (
	MaxRoomLen = 64
	MaxNameLen = 32 // in characters (runes)
	MaxSIDLen  = 64
)

// ValidRoom reports whether room is an acceptable room name: 1–64 of A–Z a–z 0–9 - _ .
// Room names end up in URLs, logs and (later) NATS subjects, so they are kept plain.
func ValidRoom(room string) bool {
	if room == "" || len(room) > MaxRoomLen {
		return false
	}
	for i := 0; i < len(room); i++ {
		c := room[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// CleanName makes a display name safe to show: invalid UTF-8 and control or format characters are dropped,
// runs of space collapse to one, the ends are trimmed, and it is cut to MaxNameLen characters.
// A name is never refused; the worst case is the empty name.
func CleanName(name string) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range name {
		if n >= MaxNameLen {
			break
		}
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			continue
		}
		if space {
			if n+1 >= MaxNameLen {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// NumberedName returns "base (n)", the name given to the nth member who asked for base in a room where it is
// taken; base is shortened so that the result still has at most MaxNameLen characters.
func NumberedName(base string, n int) string {
	suffix := " (" + strconv.Itoa(n) + ")"
	keep := MaxNameLen - len(suffix) // the suffix is ASCII: one byte per character
	for i := range base {
		if keep == 0 {
			base = base[:i]
			break
		}
		keep--
	}
	return strings.TrimRight(base, " ") + suffix
}

// NewID returns a fresh member id: 120 bits from crypto/rand, base64url (20 characters).
// Ids are unguessable so that knowing a room's name is not enough to address its members from outside.
func NewID() string {
	var b [15]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short on Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
