package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func init() {
	commands = append(commands, command{name: "version", summary: "print the version", run: runVersion})
}

func runVersion(_ context.Context, c *cli, _ []string) int {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
	}
	fmt.Fprintf(c.stdout, "p2plobby %s\n", v)
	return 0
}
