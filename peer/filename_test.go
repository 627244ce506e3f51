package peer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSanitizeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`..\..\Windows\win.ini`, "win.ini"},
		{"/abs/path/x.txt", "x.txt"},
		{"..", "file"},
		{".", "file"},
		{"", "file"},
		{".bashrc", "bashrc"},
		{"  spaced  .txt ", "spaced  .txt"},
		{"trailing...", "trailing"},
		{"a\x00b\nc.txt", "abc.txt"},
		{`what?<>:"|*.txt`, "what_______.txt"},
		{"CON.txt", "_CON.txt"},
		{"nul", "_nul"},
		{"ünïcødé ✓.txt", "ünïcødé ✓.txt"},
		{"bad\xffutf8", "bad_utf8"},
		{"dir/", "file"},
	} {
		if got := sanitizeName(tc.in); got != tc.want {
			t.Errorf("sanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("é", 300) + ".txt"
	got := sanitizeName(long)
	if len(got) > maxNameBytes || !strings.HasSuffix(got, ".txt") || !strings.HasPrefix(got, "é") {
		t.Errorf("long name: %d bytes, %q…", len(got), got[:10])
	}
}

func TestNumbered(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a.txt", 0, "a.txt"},
		{"a.txt", 1, "a (1).txt"},
		{"archive.tar.gz", 2, "archive (2).tar.gz"},
		{"noext", 3, "noext (3)"},
		{"gitignore.", 1, "gitignore (1)."},
	} {
		if got := numbered(tc.in, tc.n); got != tc.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestPlaceUnique(t *testing.T) {
	dir := t.TempDir()
	for i, want := range []string{"a.txt", "a (1).txt", "a (2).txt"} {
		tmp := filepath.Join(dir, ".a.txt.p2plobby-partial")
		if err := os.WriteFile(tmp, []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := placeUnique(tmp, dir, "a.txt")
		if err != nil {
			t.Fatal(err)
		}
		if got != filepath.Join(dir, want) {
			t.Errorf("placed at %s, want %s", got, want)
		}
		if b, _ := os.ReadFile(got); len(b) != 1 || b[0] != byte(i) {
			t.Errorf("%s holds %v", got, b)
		}
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("temporary file still there: %v", err)
		}
	}
}
