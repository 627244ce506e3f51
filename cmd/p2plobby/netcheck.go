package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/p2plobby/p2plobby/internal/netcheck"
)

func init() {
	commands = append(commands, command{name: "netcheck", summary: "check how peers on this network can connect through a lobby server", run: runNetcheck})
}

// runNetcheck reports the lobby's reachability, this host's public address and NAT mapping as STUN sees
// them, which TURN transports allocate, and a verdict. It exits 0 when peers can connect (directly or
// relayed), 5 when they cannot.
func runNetcheck(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("netcheck", flag.ContinueOnError)
	server := fs.String("server", "", "lobby server `URL`, e.g. ws://HOST:3333 (required)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each step may take")
	token := fs.String("token", "", "join `token` for a lobby that requires one; its rooms must include * unless --room names one of them")
	room := fs.String("room", "", "`room` to check in (default: a random room of its own, seen by nobody)")
	if code, ok := parseFlags(fs, c, args, "p2plobby netcheck --server URL [--json]"); !ok {
		return code
	}
	if fs.NArg() > 0 || *server == "" {
		c.errorf("netcheck takes --server URL and no arguments\n")
		return exitUsage
	}
	opts := &netcheck.Options{Timeout: *timeout, Room: *room}
	if *token != "" {
		opts.Header = http.Header{"Authorization": {"Bearer " + *token}}
	}
	r := netcheck.Run(ctx, *server, opts)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	if *asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(c.stdout, "%s\n", b)
	} else {
		printReport(c, r)
	}
	if !r.OK() {
		return exitConnection
	}
	return exitOK
}

func printReport(c *cli, r *netcheck.Report) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	if r.Lobby.OK {
		fmt.Fprintf(tw, "lobby\t%s\treachable: joined in %.1f ms, round trip %.1f ms\n", r.Lobby.URL, r.Lobby.ConnectMS, r.Lobby.RTTMS)
	} else {
		fmt.Fprintf(tw, "lobby\t%s\tunreachable: %s\n", r.Lobby.URL, r.Lobby.Error)
	}
	for _, s := range r.STUN {
		if s.Error != "" {
			fmt.Fprintf(tw, "stun\t%s\tno answer: %s\n", s.URL, s.Error)
		} else {
			fmt.Fprintf(tw, "stun\t%s\tyou are %s (round trip %.1f ms)\n", s.URL, s.Mapped, s.RTTMS)
		}
	}
	if r.Lobby.OK {
		mapping := map[netcheck.Mapping]string{
			netcheck.MappingNone:        "no NAT: your public address is your own (" + r.Local + ")",
			netcheck.MappingIndependent: "endpoint-independent: the same public port towards every server (good for direct connections)",
			netcheck.MappingDependent:   "endpoint-dependent: a new public port per destination (symmetric NAT: relays needed)",
			netcheck.MappingUnknown:     "unknown (fewer than two STUN answers)",
		}[r.Mapping]
		fmt.Fprintf(tw, "mapping\t\t%s\n", mapping)
	}
	for _, t := range r.TURN {
		if t.Error != "" {
			fmt.Fprintf(tw, "turn\t%s\tfailed: %s\n", t.URL, t.Error)
		} else {
			fmt.Fprintf(tw, "turn\t%s\trelay %s allocated in %.1f ms\n", t.URL, t.Relay, t.TimeMS)
		}
	}
	fmt.Fprintf(tw, "verdict\t%s\t%s\n", r.Verdict, r.Reason)
	tw.Flush()
}
