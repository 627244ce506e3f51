package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/p2plobby/p2plobby/peer"
)

func init() {
	commands = append(commands, command{name: "send", summary: "send files to a member (a browser or another p2plobby)", run: runSend})
}

func runSend(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var pf peerFlags
	pf.register(fs)
	to := fs.String("to", "", "the member to send to: a `name` or an id (required)")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for --to to join the room")
	confirm := fs.Bool("confirm-code", false, "ask on the terminal (stdin) whether the other side shows the same verification code before sending; hang up unless the answer is y")
	if code, ok := parseFlags(fs, c, args, "p2plobby send --server URL [--room ROOM] [--name NAME] --to ID|NAME [--confirm-code] FILE..."); !ok {
		return code
	}
	if *to == "" || fs.NArg() == 0 {
		c.errorf("send needs --to and at least one FILE\n")
		fs.Usage()
		return exitUsage
	}
	var files []peer.FileSource
	var total int64
	for _, path := range fs.Args() {
		f, err := peer.FileFromPath(path)
		if err != nil {
			c.errorf("%v\n", err)
			return exitError
		}
		files = append(files, f)
		total += f.Size
	}

	client, code := pf.dial(ctx, c)
	if client == nil {
		return code
	}
	defer client.Close()
	m, code := findPeer(ctx, c, client, *to, *wait)
	if code != exitOK {
		return code
	}
	fmt.Fprintf(c.stderr, "asking %s to accept…\n", member(m))
	conn, err := client.Request(ctx, m.ID)
	if err != nil {
		c.errorf("connecting to %s: %v\n", m, err)
		return exitCode(err)
	}
	defer conn.Close()
	connected(c, m, conn)
	if *confirm {
		in := readLines(c.stdin, 4<<10)
		defer in.close()
		if !confirmCode(ctx, c, in, m, conn) {
			notConfirmed(c, m, conn)
			return exitDeclined
		}
	}

	fmt.Fprintf(c.stderr, "offering %s (%s)…\n", plural(len(files), "file"), formatBytes(total))
	progress := newProgress(c.stderr, "sending", len(files), total)
	err = conn.SendFiles(ctx, files, progress.update)
	summary := progress.done(err == nil)
	if err != nil {
		c.errorf("send: %v\n", err)
		return exitCode(err)
	}
	fmt.Fprintf(c.stderr, "sent %s, %s, verified by %s\n", plural(len(files), "file"), summary, member(m))
	return exitOK
}
