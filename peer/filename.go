package peer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

const (
	maxNameBytes = 180 // UTF-8 bytes; leaves room for " (n)" and the partial file's affixes under the usual 255
	maxExtBytes  = 20  // a longer "extension" is not kept when a name is shortened
)

// sanitizeName turns a name chosen by the other side into a safe base name for this host, by the rules of
// docs/datachannel.md ("File names"), which the browser SDK's safeName (web/sdk/sink.js) applies too; both are
// tested with peer/testdata/hostile-names.json. No directories (either separator), no control, bidi or
// invisible characters, nothing hidden or reserved, at most maxNameBytes.
func sanitizeName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name = cleanName(name); name == "" {
		name = "file"
	}
	return name
}

// maxPathComponents is the most directories a file's path may have (docs/datachannel.md, "Folders"); deeper
// ones are dropped, so the file lands in its eighth directory.
const maxPathComponents = 8

// sanitizePath turns a relative directory chosen by the other side (the `path` of a `files` entry) into a safe
// one, by the rules of docs/datachannel.md ("Folders"), which the browser SDK's safePath applies too (both are
// tested with peer/testdata/hostile-paths.json): "/" and "\" separate components; each component is cleaned
// like a file name, and dropped when nothing is left ("", ".", "..", "..." and the like); at most
// maxPathComponents are kept. The result is "" (the top level) or components joined by "/": never absolute,
// never with "." or "..", so joined to a directory it stays inside it.
func sanitizePath(p string) string {
	p = strings.ToValidUTF8(p, "\uFFFD")
	var out []string
	for _, c := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if c = cleanName(c); c != "" {
			out = append(out, c)
			if len(out) == maxPathComponents {
				break
			}
		}
	}
	return strings.Join(out, "/")
}

// cleanName applies the rules of a file name to one component that has no separators: what is left may be "".
func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case removedInName(r):
			return -1
		case r == '\uFFFD' || strings.ContainsRune(`<>:"|?*`, r): // invalid on Windows, awkward everywhere
			return '_'
		}
		return r
	}, name)
	name = strings.TrimFunc(name, trimmedInName) // no hidden files, no "." or ".."; Windows drops trailing dots and spaces
	if reservedName(name) {
		name = "_" + name
	}
	if len(name) > maxNameBytes {
		base, ext := splitExt(name)
		if len(ext) > maxExtBytes {
			base, ext = name, ""
		}
		base = strings.TrimRightFunc(truncateUTF8(base, maxNameBytes-len(ext)), trimmedInName)
		name = base + ext
		if reservedName(name) { // "CON      x" shortened to "CON"
			name = "_" + name
		}
	}
	return name
}

// removedInName reports the characters a file name loses: C0 and C1 controls, DEL, the bidi controls that can
// make "gpj.exe" look like "exe.jpg" (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), line and
// paragraph separators, and invisible ones (U+200B, U+2060, U+FEFF). U+200D (ZWJ) stays: emoji need it.
func removedInName(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200b, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029, r == 0x2060, r == 0xfeff:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// trimmedInName reports the characters removed from both ends of a name: dots and spaces.
func trimmedInName(r rune) bool { return r == '.' || spaceInName(r) }

// spaceInName reports the space separators (Unicode Zs): U+0020, U+00A0, U+1680, U+2000–U+200A, U+202F, U+205F,
// U+3000. Spelled out rather than unicode.IsSpace, so Go and JavaScript agree exactly.
func spaceInName(r rune) bool {
	return r == ' ' || r == 0xa0 || r == 0x1680 || r >= 0x2000 && r <= 0x200a || r == 0x202f || r == 0x205f || r == 0x3000
}

// reservedName reports Windows device names (CON, NUL, COM1, CONIN$…), refused there even with an extension
// and with spaces before it. Only ASCII letters are folded, as in the browser SDK.
func reservedName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.TrimRightFunc(base, spaceInName)
	base = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, base)
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) > 3 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		switch base[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// splitExt splits "a.tar.gz" into "a" and ".tar.gz", "a.txt" into "a" and ".txt".
func splitExt(name string) (base, ext string) {
	ext = filepath.Ext(name)
	base = strings.TrimSuffix(name, ext)
	if e2 := filepath.Ext(base); strings.EqualFold(e2, ".tar") {
		base, ext = strings.TrimSuffix(base, e2), e2+ext
	}
	if base == "" { // ".gitignore"-like names have no extension
		return name, ""
	}
	return base, ext
}

// numbered returns name for n == 0, else "base (n).ext", as browsers do.
func numbered(name string, n int) string {
	if n == 0 {
		return name
	}
	base, ext := splitExt(name)
	return fmt.Sprintf("%s (%d)%s", base, n, ext)
}

// placeUnique moves tmp to dir/name, or the first free "name (n)", never replacing an existing file.
// A hard link fails if the target exists, which makes the check and the move one atomic step.
func placeUnique(tmp, dir, name string) (string, error) {
	for n := 0; n < 10000; n++ {
		target := filepath.Join(dir, numbered(name, n))
		err := os.Link(tmp, target)
		if err == nil {
			os.Remove(tmp)
			return target, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		// No hard links here (some filesystems): check, then rename.
		if _, serr := os.Lstat(target); serr == nil {
			continue
		} else if !errors.Is(serr, fs.ErrNotExist) {
			return "", serr
		}
		if err := os.Rename(tmp, target); err != nil {
			return "", err
		}
		return target, nil
	}
	return "", fmt.Errorf("peer: no free name for %s in %s", name, dir)
}

// subdir returns parent/name as a directory to store into: an existing directory (never a symbolic link, nor
// anything else that is not a directory) is used, a missing one is created (created reports that); when
// something else has the name, "name (1)", "name (2)"… in the same way.
func subdir(parent, name string) (dir string, created bool, err error) {
	for n := 0; n < 10000; n++ {
		target := filepath.Join(parent, name)
		if n > 0 {
			target = filepath.Join(parent, fmt.Sprintf("%s (%d)", name, n))
		}
		err := os.Mkdir(target, 0o777)
		if err == nil {
			return target, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", false, err
		}
		if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
			return target, false, nil
		}
	}
	return "", false, fmt.Errorf("peer: no free directory name for %s in %s", name, parent)
}

// syncDir makes a rename durable; not every platform can sync a directory, which is harmless.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
