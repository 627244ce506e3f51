package lint

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Where .ci/run installs the tools; keep the two in step.
const (
	// staticcheckInstall is what .ci/run gives to go install; it lands in $(go env GOBIN) or
	// $(go env GOPATH)/bin.
	staticcheckInstall = "honnef.co/go/tools/cmd/staticcheck@v0.8.2"
	// toolsDir, under the user's cache directory ($XDG_CACHE_HOME or ~/.cache), holds npm's install of
	// typescriptInstall: node_modules/.bin/tsc.
	toolsDir          = "p2plobby-tools"
	typescriptInstall = "typescript@5.9.3"
)

// TestStaticcheck runs staticcheck on the whole module (tests included) with the checks of staticcheck.conf.
func TestStaticcheck(t *testing.T) {
	t.Parallel() // the two take seconds each; they overlap
	root := moduleRoot(t)
	bin := findTool(t, "staticcheck", goBinDir(t), "go install "+staticcheckInstall)
	run(t, root, bin, "./...")
}

// TestTypeScriptStrict type-checks web/sdk and web/app (JavaScript with JSDoc types, per web/tsconfig.json)
// with tsc in strict mode.
func TestTypeScriptStrict(t *testing.T) {
	t.Parallel() // the two take seconds each; they overlap
	root := moduleRoot(t)
	prefix, dir := "~/.cache/"+toolsDir, ""
	if cache, err := os.UserCacheDir(); err == nil {
		prefix = filepath.Join(cache, toolsDir)
		dir = filepath.Join(prefix, "node_modules", ".bin")
	}
	bin := findTool(t, "tsc", dir, "npm install --prefix "+prefix+" "+typescriptInstall)
	run(t, root, bin, "-p", "web", "--strict", "--pretty", "false")
}

// findTool returns the tool installed in dir (the version .ci/run pins), else the one on PATH. Missing, the
// test skips with how to install it, or fails under CI=true.
func findTool(t *testing.T, name, dir, install string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("static checks: skipped with -short")
	}
	if dir != "" {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := name + " not found in " + dir + " nor on PATH: install it with " + install
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// run runs a checker in the module root and fails with its output if it reports anything.
func run(t *testing.T, root, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %v", bin, strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	if err != nil || out.Len() > 0 {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
}

// moduleRoot is the directory of the go.mod above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = up
	}
}

// goBinDir is where go install puts commands: $(go env GOBIN), else the first entry of $(go env GOPATH) + /bin.
func goBinDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		t.Logf("go env: %v", err)
		return ""
	}
	gobin, gopath, _ := strings.Cut(string(out), "\n") // one line each; GOBIN's is empty when unset
	if gobin = strings.TrimSpace(gobin); gobin != "" {
		return gobin
	}
	if gp := filepath.SplitList(strings.TrimSpace(gopath)); len(gp) > 0 && gp[0] != "" {
		return filepath.Join(gp[0], "bin")
	}
	return ""
}
