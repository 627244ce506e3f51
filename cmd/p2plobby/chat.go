package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/p2plobby/p2plobby/peer"
)

func init() {
	commands = append(commands, command{name: "chat", summary: "chat with a member: stdin lines out, messages in on stdout", run: runChat})
}

// runChat connects to --to (or waits for someone to connect) and relays lines: each stdin line is sent, each
// received message is printed to stdout, made safe for a terminal (see printable; a message may have several
// lines). It ends at the end of stdin, on interrupt, or when the other side hangs up. With --confirm-code the
// first stdin line answers the verification question.
func runChat(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	var pf peerFlags
	pf.register(fs)
	to := fs.String("to", "", "the member to chat with: a `name` or an id; without it, wait for a request")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for --to to join the room")
	from := fs.String("accept-from", "", "without --to: accept only this member: an `id`, or a name that only one member has")
	confirm := fs.Bool("confirm-code", false, "ask on the terminal (stdin) whether the other side shows the same verification code before chatting; hang up unless the answer is y")
	if code, ok := parseFlags(fs, c, args, "p2plobby chat --server URL [--room ROOM] [--name NAME] [--to ID|NAME | --accept-from ID|NAME] [--confirm-code]"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		c.errorf("chat takes no arguments\n")
		return exitUsage
	}
	client, code := pf.dial(ctx, c)
	if client == nil {
		return code
	}
	defer client.Close()

	var conn *peer.Conn
	if *to != "" {
		m, code := findPeer(ctx, c, client, *to, *wait)
		if code != exitOK {
			return code
		}
		fmt.Fprintf(c.stderr, "asking %s to accept…\n", member(m))
		var err error
		if conn, err = client.Request(ctx, m.ID); err != nil {
			c.errorf("connecting to %s: %v\n", m, err)
			return exitCode(err)
		}
	} else {
		fmt.Fprintf(c.stderr, "waiting as %s for a chat request…\n", member(peer.Member{ID: client.ID(), Name: client.Name()}))
		var code int
		if conn, code = acceptChat(ctx, c, client, *from); conn == nil {
			return code
		}
	}
	defer conn.Close()
	connected(c, conn.Peer(), conn)

	in := readLines(c.stdin, peer.MaxChatBytes+1)
	defer in.close()
	// Messages the other side sends meanwhile wait in conn's queue until the code is confirmed.
	if *confirm && !confirmCode(ctx, c, in, conn.Peer(), conn) {
		notConfirmed(c, conn.Peer(), conn)
		return exitDeclined
	}
	for {
		select {
		case line, ok := <-in.lines:
			if !ok {
				if in.err != nil {
					c.errorf("reading stdin: %v\n", in.err)
					return exitError
				}
				return exitOK
			}
			if err := conn.SendChat(line); err != nil {
				c.errorf("chat: %v\n", err)
				if errors.Is(err, peer.ErrChatTooLong) {
					continue
				}
				return exitCode(err)
			}
		case m, ok := <-conn.Chat():
			if ok {
				fmt.Fprintln(c.stdout, printable(m.Text, true))
			}
		case t, ok := <-conn.Transfers():
			if ok {
				fmt.Fprintf(c.stderr, "declined %s from %s: chat does not receive files (use p2plobby receive)\n",
					plural(len(t.Files), "file"), member(conn.Peer()))
				t.Decline()
			}
		case <-conn.Done():
			if errors.Is(conn.Err(), peer.ErrHangup) {
				fmt.Fprintf(c.stderr, "%s hung up\n", member(conn.Peer()))
				return exitOK
			}
			c.errorf("connection lost: %v\n", conn.Err())
			return exitConnection
		case <-ctx.Done():
			return exitOK
		}
	}
}

// acceptChat accepts the first request (from the --accept-from member, if given; see acceptable), declining
// the others.
func acceptChat(ctx context.Context, c *cli, client *peer.Client, from string) (*peer.Conn, int) {
	for {
		select {
		case ev, ok := <-client.Events():
			if !ok {
				c.errorf("%v\n", client.Err())
				return nil, exitConnection
			}
			if ev.Kind != peer.IncomingRequest {
				continue
			}
			if ok, why := acceptable(client, ev.Request.From, from); !ok {
				fmt.Fprintf(c.stderr, "declined a request from %s (%s)\n", member(ev.Request.From), safe(why))
				ev.Request.Decline()
				continue
			}
			conn, err := ev.Request.Accept(ctx)
			if err != nil {
				c.errorf("connecting to %s: %v\n", ev.Request.From, err)
				return nil, exitCode(err)
			}
			return conn, exitOK
		case <-ctx.Done():
			return nil, exitOK
		}
	}
}
