package peer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSanitizeNameTable: the shared table of hostile names (peer/testdata/hostile-names.json), which the
// browser SDK's safeName must clean identically (e2e TestHostileFileNames evaluates it in Chromium).
func TestSanitizeNameTable(t *testing.T) {
	raw, err := os.ReadFile("testdata/hostile-names.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ In, Want string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases in the table", len(cases))
	}
	for _, tc := range cases {
		got := sanitizeName(tc.In)
		if got != tc.Want {
			t.Errorf("sanitizeName(%+q) = %+q, want %+q", tc.In, got, tc.Want)
		}
		if len(got) > maxNameBytes || !utf8.ValidString(got) || sanitizeName(got) != got {
			t.Errorf("sanitizeName(%+q) = %+q: too long, invalid UTF-8, or not stable", tc.In, got)
		}
	}
}

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
		{"bad\xffutf8", "bad_utf8"},             // invalid UTF-8 cannot travel in JSON: Go only
		{"run\xff\xfe\xfdof.txt", "run_of.txt"}, // a run of invalid bytes is one replacement
		{"c1\u0085\u202e.txt", "c1.txt"},
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

// TestSanitizePathTable: the shared table of hostile folder paths (peer/testdata/hostile-paths.json), which the
// browser SDK's safePath must clean identically (e2e TestFolderPathsTable evaluates it in Chromium). Whatever
// comes in, the result joined to a directory stays inside it.
func TestSanitizePathTable(t *testing.T) {
	raw, err := os.ReadFile("testdata/hostile-paths.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ In, Want string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases in the table", len(cases))
	}
	dir := filepath.FromSlash("/srv/downloads")
	for _, tc := range cases {
		got := sanitizePath(tc.In)
		if got != tc.Want {
			t.Errorf("sanitizePath(%+q) = %+q, want %+q", tc.In, got, tc.Want)
		}
		checkSafePath(t, tc.In, got, dir)
	}
}

// checkSafePath fails unless p (cleaned from in) is relative, has at most maxPathComponents components each a
// stable clean name, and stays inside dir when joined to it.
func checkSafePath(t *testing.T, in, p, dir string) {
	t.Helper()
	if sanitizePath(p) != p || !utf8.ValidString(p) {
		t.Errorf("sanitizePath(%+q) = %+q: not stable or invalid UTF-8", in, p)
	}
	if p == "" {
		return
	}
	parts := strings.Split(p, "/")
	if len(parts) > maxPathComponents {
		t.Errorf("sanitizePath(%+q) = %+q: %d components", in, p, len(parts))
	}
	for _, c := range parts {
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, `/\`) || cleanName(c) != c || len(c) > maxNameBytes {
			t.Errorf("sanitizePath(%+q) = %+q: bad component %+q", in, p, c)
		}
	}
	joined := filepath.Join(dir, filepath.FromSlash(p))
	if rel, err := filepath.Rel(dir, joined); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(p) {
		t.Errorf("sanitizePath(%+q) = %+q leaves %s: %s", in, p, dir, joined)
	}
}

// FuzzSanitizePath: no input makes a path that leaves the directory it is joined to.
func FuzzSanitizePath(f *testing.F) {
	for _, s := range []string{"../..", "/etc/passwd", `..\..\x`, "a/./b", "1/2/3/4/5/6/7/8/9", "C:\\x", "\x00/\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkSafePath(t, in, sanitizePath(in), filepath.FromSlash("/srv/downloads"))
	})
}
