package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/p2plobby/p2plobby/internal/auth"
)

func init() {
	commands = append(commands, command{name: "token", summary: "mint a join token for a server run with --auth-secret", run: runToken})
}

// roomList is a repeatable flag of comma-separated rooms. Values from the environment are replaced, not
// extended, by the command line's.
type roomList struct {
	rooms    []string
	fromEnv  bool
	replaced bool
}

func (l *roomList) String() string { return strings.Join(l.rooms, ",") }

func (l *roomList) Set(v string) error {
	if l.fromEnv && !l.replaced {
		l.rooms, l.replaced = nil, true
	}
	for r := range strings.SplitSeq(v, ",") {
		if r = strings.TrimSpace(r); r != "" {
			l.rooms = append(l.rooms, r)
		}
	}
	return nil
}

// runToken prints a join token: HS256 under --auth-secret, as the server run with the same secret checks.
func runToken(_ context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var rooms roomList
	var a authConfig
	fs.Var(&rooms, "room", "`room` the member may join (repeatable or comma-separated; lobby is the default room, @network the same-network group, * any room)")
	name := fs.String("name", "", "the member's display `name` (default: --sub)")
	sub := fs.String("sub", "", "the member's `id` in your application, the sub claim (default: --name)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token admits, e.g. 15m or 24h")
	fs.StringVar(&a.secret, "auth-secret", "", "the `secret` the server was started with (--auth-secret); prefer the environment variable")
	fs.StringVar(&a.issuer, "auth-issuer", "", "the `iss` to put in the token (the server's --auth-issuer, if it has one)")
	fs.StringVar(&a.audience, "auth-audience", "", "the `aud` to put in the token (the server's --auth-audience, if it has one)")
	fs.Usage = usageFunc(fs, c, "p2plobby token --room ROOM --name NAME [--ttl 1h]")
	if err := applyEnv(fs, c.getenv); err != nil {
		c.errorf("%v\n", err)
		return exitUsage
	}
	rooms.fromEnv = len(rooms.rooms) > 0
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		c.errorf("token takes no arguments, got %q\n", fs.Args())
		return exitUsage
	}
	if a.secret == "" {
		c.errorf("--auth-secret (or P2PLOBBY_AUTH_SECRET) is required: the secret of the server (with --auth-public-key, your backend mints tokens with its private key; see docs/deploy.md)\n")
		return exitUsage
	}
	tok, err := auth.Mint([]byte(a.secret), auth.Grant{Subject: *sub, Name: *name, Rooms: rooms.rooms, TTL: *ttl,
		Issuer: a.issuer, Audience: a.audience})
	if err != nil {
		c.errorf("%s\n", strings.TrimPrefix(err.Error(), "auth: "))
		return exitUsage
	}
	fmt.Fprintln(c.stdout, tok)
	return exitOK
}
