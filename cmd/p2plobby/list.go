package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
)

func init() {
	commands = append(commands, command{name: "list", summary: "list the members of a room (id and name)", run: runList})
}

// runList joins the room just long enough to read its members, then leaves.
func runList(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	var pf peerFlags
	pf.register(fs)
	asJSON := fs.Bool("json", false, "print a JSON array of {\"id\",\"name\"}")
	if code, ok := parseFlags(fs, c, args, "p2plobby list --server URL [--room ROOM] [--json]"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		c.errorf("list takes no arguments\n")
		return exitUsage
	}
	client, code := pf.dial(ctx, c)
	if client == nil {
		return code
	}
	defer client.Close()
	members := client.Members()
	if *asJSON {
		type member struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		out := make([]member, 0, len(members))
		for _, m := range members {
			out = append(out, member{m.ID, m.Name})
		}
		b, _ := json.Marshal(out)
		fmt.Fprintf(c.stdout, "%s\n", b)
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, m := range members {
		fmt.Fprintf(tw, "%s\t%s\n", safe(m.ID), safe(m.Name)) // from the server, which may not be ours
	}
	tw.Flush()
	return exitOK
}
