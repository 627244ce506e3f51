// Command p2plobby runs the p2plobby lobby server (the default) and the Go peer's subcommands.
//
//	p2plobby [serve] [flags]      run the server (listens on :3333)
//	p2plobby list|send|receive|chat|netcheck --server ws://HOST:3333 ...
//	p2plobby version
//	p2plobby help [COMMAND]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 {
		tuneGCForTransfers(os.Args[1])
	}
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is what every subcommand gets: its arguments are passed separately so tests can drive the real CLI.
type cli struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand; it returns the process exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) int
}

// commands lists the subcommands; serve is the default when the first argument is a flag or absent.
var commands []command

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	name := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	} else if len(args) > 0 && isHelpFlag(args[0]) {
		// p2plobby --help: the commands, then the flags of serve, which is what runs without a command.
		usage(c)
		fmt.Fprintln(c.stderr)
		return runServe(ctx, c, args[:1])
	}
	if name == "help" {
		if len(args) > 0 && args[0] != "help" {
			return run(ctx, []string{args[0], "--help"}, getenv, stdin, stdout, stderr)
		}
		usage(c)
		return 0
	}
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd.run(ctx, c, args)
		}
	}
	c.errorf("unknown command %q\n", name)
	usage(c)
	return 2
}

func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "--h"
}
