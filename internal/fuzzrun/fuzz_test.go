package fuzzrun

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzTime is how long each target is fuzzed by default: with the instrumented build of each package, the whole
// run stays around a minute and a half on two cores. P2PLOBBY_FUZZTIME overrides it (a go test -fuzztime value).
const fuzzTime = "4s"

// target is one fuzz target: its package directory, relative to the module root, and its name.
type target struct {
	dir, name string
}

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(\w+ \*testing\.F\)`)

// targets finds every fuzz target of the module, in a stable order.
func targets(t *testing.T, root string) []target {
	t.Helper()
	var out []target
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatch(src, -1) {
			out = append(out, target{dir: filepath.ToSlash(rel), name: string(m[1])})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b target) int { return strings.Compare(a.dir+" "+a.name, b.dir+" "+b.name) })
	return out
}

// TestFuzzTargetsHaveSeedCorpus: every fuzz target has a committed seed corpus of go's format, so that plain go test
// runs it (the f.Add seeds run too; the corpus keeps inputs found by fuzzing, crashers included).
func TestFuzzTargetsHaveSeedCorpus(t *testing.T) {
	root := moduleRoot(t)
	ts := targets(t, root)
	if len(ts) < 9 {
		t.Fatalf("found only %d fuzz targets: %v", len(ts), ts)
	}
	for _, tg := range ts {
		dir := filepath.Join(root, filepath.FromSlash(tg.dir), "testdata", "fuzz", tg.name)
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Errorf("%s %s: no seed corpus in %s (%v)", tg.dir, tg.name, dir, err)
			continue
		}
		for _, e := range entries {
			f, err := os.Open(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			first, _ := bufio.NewReader(f).ReadString('\n')
			f.Close()
			if first != "go test fuzz v1\n" {
				t.Errorf("%s/%s is not a corpus file of go test fuzz v1", dir, e.Name())
			}
		}
	}
}

// TestFuzzBriefly fuzzes every target for a few seconds, one at a time, when CI=true or P2PLOBBY_FUZZ=1 (it
// skips otherwise: a developer's go test stays quick). A crash fails with go's report, and go writes the input to
// the target's testdata/fuzz, from where every later go test replays it.
//
//	P2PLOBBY_FUZZ=1 P2PLOBBY_FUZZTIME=30s go test ./internal/fuzzrun -run TestFuzzBriefly -v
func TestFuzzBriefly(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("P2PLOBBY_FUZZ") != "1" {
		t.Skip("fuzzing every target briefly: set P2PLOBBY_FUZZ=1 (CI=true does)")
	}
	if testing.Short() {
		t.Skip("fuzzing: skipped with -short")
	}
	fuzztime := fuzzTime
	if v := os.Getenv("P2PLOBBY_FUZZTIME"); v != "" {
		fuzztime = v
	}
	root := moduleRoot(t)
	start := time.Now()
	for _, tg := range targets(t, root) {
		ok := t.Run(strings.ReplaceAll(tg.dir, "/", "_")+"/"+tg.name, func(t *testing.T) {
			// The minimizing of new inputs is cut short: a brief run is for finding crashes, not for corpus work.
			// The cap is generous: on a cold build cache, and beside the rest of the suite on two cores, the first
			// target of a package waits for an instrumented build of everything it imports.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+tg.name+"$", "-fuzztime", fuzztime,
				"-fuzzminimizetime", "100x", "-parallel", "1", "./"+tg.dir)
			cmd.Dir = root
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			corpus := filepath.Join(root, filepath.FromSlash(tg.dir), "testdata", "fuzz", tg.name)
			before := corpusFiles(corpus)
			began := time.Now()
			err := cmd.Run()
			t.Logf("%s %s: %v", tg.dir, tg.name, time.Since(began).Round(100*time.Millisecond))
			if err == nil {
				return
			}
			// Go 1.26's coordinator can fail a run whose -fuzztime ran out while a worker was mid-input, with
			// "context deadline exceeded" and no input written (go.dev/issue/75804, fixed in Go 1.27). A crash
			// always writes its input, so that failure alone is not one.
			if added := corpusFiles(corpus) - before; added == 0 && strings.Contains(out.String(), "context deadline exceeded") {
				t.Logf("go test -fuzz %s ./%s ended with go.dev/issue/75804 (no input written): not a crash", tg.name, tg.dir)
				return
			}
			t.Fatalf("go test -fuzz %s ./%s: %v\n%s", tg.name, tg.dir, err, out.String())
		})
		if !ok {
			t.Logf("the failing input is in %s/testdata/fuzz/%s: fix the bug, keep the file", tg.dir, tg.name)
		}
	}
	t.Logf("fuzzed every target in %v", time.Since(start).Round(time.Second))
}

// corpusFiles counts the files of a corpus directory (0 when there is none).
func corpusFiles(dir string) int {
	entries, _ := os.ReadDir(dir)
	return len(entries)
}

// moduleRoot is the directory of this module's go.mod, as the go command finds it.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: %q, %v", gomod, err)
	}
	return filepath.Dir(gomod)
}
