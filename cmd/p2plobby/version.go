package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
)

func init() {
	commands = append(commands, command{name: "version", summary: "print the version", run: runVersion})
}

// version names a release build: go build -ldflags "-X main.version=v1.2.0" ./cmd/p2plobby. Empty (the
// default) means the version the Go toolchain recorded: the module's (v1.2.0 when installed with
// go install …@v1.2.0, a pseudo-version or (devel) when built in a checkout).
var version string

func runVersion(_ context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: p2plobby version\n\nprints the version, the commit it was built from (when the build recorded it) and the Go version\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		c.errorf("version takes no arguments, got %q\n", fs.Args())
		return 2
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(c.stdout, versionString(bi, version))
	return 0
}

// versionString is "p2plobby VERSION (DETAILS)": the override, else the module version; then the commit,
// its time and whether the tree had changes (when the build recorded them), and the Go version.
func versionString(bi *debug.BuildInfo, override string) string {
	v := override
	var details []string
	if bi != nil {
		if v == "" {
			v = bi.Main.Version
		}
		var rev, at, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			details = append(details, "commit "+rev[:min(len(rev), 12)])
		}
		if at != "" {
			details = append(details, at)
		}
		if modified == "true" {
			details = append(details, "modified")
		}
		if bi.GoVersion != "" {
			details = append(details, bi.GoVersion)
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if len(details) == 0 {
		return "p2plobby " + v
	}
	return "p2plobby " + v + " (" + strings.Join(details, ", ") + ")"
}
