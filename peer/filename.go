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

const maxNameBytes = 200 // leaves room for " (n)" and the partial file's affixes under the usual 255

// sanitizeName turns a name chosen by the other side into a safe base name for this host: no directories
// (either separator), no control characters, nothing hidden or reserved, not too long.
func sanitizeName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return -1
		case strings.ContainsRune(`<>:"|?*`, r): // invalid on Windows, awkward everywhere
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	name = strings.TrimLeft(name, ". ")  // no hidden files, no "." or ".."
	name = strings.TrimRight(name, ". ") // Windows drops trailing dots and spaces
	if reservedName(name) {
		name = "_" + name
	}
	if len(name) > maxNameBytes {
		base, ext := splitExt(name)
		if len(ext) > 20 {
			base, ext = name, ""
		}
		base = truncateUTF8(base, maxNameBytes-len(ext))
		name = base + ext
	}
	if name == "" {
		name = "file"
	}
	return name
}

// reservedName reports Windows device names (CON, NUL, COM1…), refused there even with an extension.
func reservedName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	switch strings.ToUpper(strings.TrimSpace(base)) {
	case "CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return true
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

// syncDir makes a rename durable; not every platform can sync a directory, which is harmless.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
