package main

import (
	"cmp"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// envName is the environment variable that backs a flag: --max-queue ↔ P2PLOBBY_MAX_QUEUE.
func envName(flagName string) string {
	return "P2PLOBBY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag whose environment variable is present. Call it before fs.Parse so that
// command-line flags win over the environment.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)
			}
		}
	})
	return err
}

// usageFunc prints a flag set's flags, each with its environment variable.
func usageFunc(fs *flag.FlagSet, c *cli, synopsis string) func() {
	return func() {
		fmt.Fprintf(c.stderr, "usage: %s\n\nflags (each also read from the environment variable shown):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(c.stderr, "  --%s %s\n    \t%s", f.Name, name, usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				fmt.Fprintf(c.stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintf(c.stderr, " [%s]\n", envName(f.Name))
		})
	}
}

// byteSize is a flag value in bytes that accepts suffixes: 65536, 64KiB, 4MiB, 1GiB.
type byteSize int64

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.size
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want a byte size like 65536, 64KiB or 4MiB")
	}
	*b = byteSize(n * mult)
	return nil
}

// errorf prints "p2plobby: " and the message to stderr. Its string, error and Stringer arguments are made safe
// (see printable): errors often quote the other side (a cancel reason, a file name, the server's message).
func (c *cli) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "p2plobby: "+format, safeArgs(args)...)
}

// usage lists the commands: serve (the default) first, then the others in alphabetical order, then help.
func usage(c *cli) {
	fmt.Fprintf(c.stderr, "usage: p2plobby [command] [flags]\n\ncommands:\n")
	list := slices.Clone(commands)
	rank := func(c command) string {
		if c.name == "serve" {
			return ""
		}
		return c.name
	}
	slices.SortFunc(list, func(a, b command) int { return cmp.Compare(rank(a), rank(b)) })
	list = append(list, command{name: "help", summary: "list the commands; 'help COMMAND' lists a command's flags"})
	for _, cmd := range list {
		fmt.Fprintf(c.stderr, "  %-8s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(c.stderr, "\nWithout a command, p2plobby serves. 'p2plobby COMMAND --help' lists a command's flags.\n")
}
