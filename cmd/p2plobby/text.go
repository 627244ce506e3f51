package main

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/p2plobby/p2plobby/peer"
)

// printable makes text that another party chose (chat, member names, file names, cancel reasons, failure
// messages, the server's error messages) safe to print on a terminal:
//   - invalid UTF-8 becomes U+FFFD;
//   - C0 controls and DEL (ESC starts every terminal escape sequence; CR and backspace overwrite what was
//     printed) and C1 controls U+0080–U+009F (U+009B is a one-character CSI) are removed;
//   - bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the bidi marks (U+200E, U+200F,
//     U+061C), the line and paragraph separators (U+2028, U+2029) and the invisible U+200B, U+2060, U+FEFF are
//     removed: they make text display otherwise than it is, e.g. "exe.txt" that is really "txt.exe". (These
//     are the characters file names lose too, peer/filename.go; U+200D stays, emoji need it.)
//
// Newlines and tabs become spaces, except with multiline (chat messages, which may have several lines), where
// they are kept.
func printable(s string, multiline bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		i += size
		switch {
		case r == '\n' || r == '\t':
			if multiline {
				b.WriteRune(r)
			} else {
				b.WriteByte(' ')
			}
		case r < 0x20 || r >= 0x7f && r <= 0x9f, // C0, DEL, C1
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, // bidi embeddings, overrides, isolates
			r == 0x200e || r == 0x200f || r == 0x061c, // bidi marks
			r == 0x2028 || r == 0x2029,                // line and paragraph separators
			r == 0x200b || r == 0x2060 || r == 0xfeff: // invisible
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// safe is printable for one line of text: names, file names, reasons, errors.
func safe(s string) string { return printable(s, false) }

// member prints a member as "Name (ID)", its name made safe: the name is the member's choice, or a hostile
// server's.
func member(m peer.Member) string { return safe(m.String()) }

// safeArgs makes every string, error and Stringer among args safe, for the printf-like helpers.
func safeArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = safe(v)
		case error:
			out[i] = safe(v.Error())
		case fmt.Stringer:
			out[i] = safe(v.String())
		default:
			out[i] = a
		}
	}
	return out
}
