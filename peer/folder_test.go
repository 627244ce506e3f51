package peer

// Folders (docs/datachannel.md, "Folders"): a file's `path` puts it in a subdirectory of the receiver's
// directory, and a hostile path can never put it anywhere else.

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tree lists the regular files under dir as slash paths relative to it, with their contents; it fails on a
// partial file left behind.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSymlink != 0 {
			return err
		}
		if strings.HasSuffix(p, ".p2plobby-partial") {
			t.Errorf("partial file left: %s", p)
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFolderRoundTrip: FilesFromDir describes a folder with each file's path (root's name first, symbolic links
// skipped); sent and accepted, it arrives as the same tree inside the receiver's directory.
func TestFolderRoundTrip(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	src := filepath.Join(t.TempDir(), "holiday")
	want := map[string]string{
		"holiday/notes.txt":             "top",
		"holiday/photos/a.jpg":          "jpeg a",
		"holiday/photos/2024/b.jpg":     "jpeg b",
		"holiday/photos/2024/empty.txt": "",
		"holiday/docs/ünï ✓/c.md":       "unicode dir",
	}
	for rel, body := range want {
		p := filepath.Join(filepath.Dir(src), filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := FilesFromDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, f := range files {
		listed = append(listed, f.Path+"/"+f.Name)
	}
	wantListed := []string{"holiday/docs/ünï ✓/c.md", "holiday/notes.txt", "holiday/photos/2024/b.jpg",
		"holiday/photos/2024/empty.txt", "holiday/photos/a.jpg"}
	if !slices.Equal(listed, wantListed) {
		t.Fatalf("FilesFromDir lists %q, want %q", listed, wantListed)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	type result struct {
		tr    *IncomingTransfer
		paths []string
		err   error
	}
	res := make(chan result, 1)
	go func() {
		tr := <-cb.Transfers()
		paths, err := tr.Accept(ctx, dir, nil)
		res <- result{tr, paths, err}
	}()
	if err := ca.SendFiles(ctx, files, nil); err != nil {
		t.Fatalf("SendFiles: %v", err)
	}
	r := <-res
	if r.err != nil || len(r.paths) != len(files) {
		t.Fatalf("Accept: %d paths, %v", len(r.paths), r.err)
	}
	for i, f := range r.tr.Files {
		if f.Path != files[i].Path {
			t.Errorf("file %d announced in %q, sent from %q", i, f.Path, files[i].Path)
		}
		if rel, _ := filepath.Rel(dir, r.paths[i]); filepath.ToSlash(rel) != wantListed[i] {
			t.Errorf("file %d stored at %s, want %s", i, rel, wantListed[i])
		}
	}
	if got := tree(t, dir); !maps.Equal(got, want) {
		t.Errorf("received tree %q, want %q", got, want)
	}

	// The same folder again: it merges into the existing directories, and no file is overwritten.
	go func() {
		tr := <-cb.Transfers()
		paths, err := tr.Accept(ctx, dir, nil)
		res <- result{tr, paths, err}
	}()
	if err := ca.SendFiles(ctx, files, nil); err != nil {
		t.Fatalf("SendFiles again: %v", err)
	}
	if r := <-res; r.err != nil {
		t.Fatal(r.err)
	}
	got := tree(t, dir)
	if got["holiday/photos/2024/b (1).jpg"] != "jpeg b" || got["holiday/photos/2024/b.jpg"] != "jpeg b" || len(got) != 2*len(want) {
		t.Errorf("after the second transfer: %q", got)
	}
}

// TestHostileFolderPaths: a sender announces paths that try to leave the receiver's directory (.., absolute,
// Windows and UNC forms, far too deep), and walks into a symbolic link and a file that are in the way. Every file
// lands inside the directory, where the shared table says; nothing is written outside it.
func TestHostileFolderPaths(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	base := t.TempDir()
	dir := filepath.Join(base, "downloads")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// In the way: a symbolic link to the outside, and a file, named like directories the sender asks for.
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "taken"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, stored string }{
		{"../..", "f0.txt"},
		{"../outside", "outside/f1.txt"},
		{"/etc/cron.d", "etc/cron.d/f2.txt"},
		{base, strings.TrimPrefix(filepath.ToSlash(base), "/") + "/f3.txt"},
		{`..\..\Windows\System32`, "Windows/System32/f4.txt"},
		{`\\server\share`, "server/share/f5.txt"},
		{"1/2/3/4/5/6/7/8/9/10/11/12", "1/2/3/4/5/6/7/8/f6.txt"},
		{strings.Repeat("../", 50) + "x", "x/f7.txt"},
		{"link", "link (1)/f8.txt"},
		{"link/../..", "link (1)/f9.txt"},
		{"taken/sub", "taken (1)/sub/f10.txt"},
		{".ssh", "ssh/f11.txt"},
		{"a\x00b/\u202ec", "ab/c/f12.txt"},
	}
	var files []FileInfo
	var bodies [][]byte
	for i, c := range cases {
		files = append(files, FileInfo{Name: "f" + itoa(i) + ".txt", Size: int64(len(c.path)), Path: c.path})
		bodies = append(bodies, []byte(c.path))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := acceptAsync(ctx, cb, dir, nil)
	s := propose(t, ca, files)
	if m := s.next(t, ctx); m.T != tAccept {
		t.Fatalf("answer %+v", m)
	}
	ch, err := ca.openFileChannel(ctx, s.tid)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.rwc.Close()
	for i, b := range bodies {
		if _, err := ch.rwc.Write(b); err != nil {
			t.Fatal(err)
		}
		eof, _ := json.Marshal(&ctrlMsg{T: tEOF, Index: intp(i), SHA256: sha256Hex(b)})
		if _, err := ch.rwc.WriteDataChannel(eof, true); err != nil {
			t.Fatal(err)
		}
	}
	r := <-res
	if r.err != nil || len(r.paths) != len(cases) {
		t.Fatalf("AcceptWith: %d paths, %v", len(r.paths), r.err)
	}
	for i, p := range r.paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
			t.Errorf("path %q stored outside the directory: %s", cases[i].path, p)
			continue
		}
		if filepath.ToSlash(rel) != cases[i].stored {
			t.Errorf("path %q: stored at %s, want %s", cases[i].path, filepath.ToSlash(rel), cases[i].stored)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("%d entries written outside the directory", len(entries))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "taken")); string(b) != "mine" {
		t.Errorf("the file in the way was changed: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "link")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symbolic link in the way was replaced: %v %v", fi, err)
	}
	got := tree(t, dir)
	for i, c := range cases {
		if got[c.stored] != c.path {
			t.Errorf("file %d: %s holds %q, want %q", i, c.stored, got[c.stored], c.path)
		}
	}
}

// TestFolderFailureLeavesNoEmptyDirs: a file that fails its hash is removed, and so are the directories the
// transfer created for it; a directory that was there before stays.
func TestFolderFailureLeavesNoEmptyDirs(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "existing"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := acceptAsync(ctx, cb, dir, nil)
	s := propose(t, ca, []FileInfo{{Name: "bad.bin", Size: 3, Path: "existing/new/deeper"}})
	if m := s.next(t, ctx); m.T != tAccept {
		t.Fatalf("answer %+v", m)
	}
	ch, err := ca.openFileChannel(ctx, s.tid)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.rwc.Close()
	ch.rwc.Write([]byte("abc"))
	eof, _ := json.Marshal(&ctrlMsg{T: tEOF, Index: intp(0), SHA256: sha256Hex([]byte("xyz"))})
	ch.rwc.WriteDataChannel(eof, true)
	if r := <-res; r.err == nil {
		t.Fatal("a file with the wrong hash was accepted")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sub, _ := os.ReadDir(filepath.Join(dir, "existing"))
	if !slices.Equal(names, []string{"existing"}) || len(sub) != 0 {
		t.Errorf("left behind: %q, existing/ holds %d entries", names, len(sub))
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
