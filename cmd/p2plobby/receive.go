package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/p2plobby/p2plobby/peer"
)

func init() {
	commands = append(commands, command{name: "receive", summary: "wait for members and receive their files", run: runReceive})
}

// runReceive accepts connections (from anyone, or only from --accept-from) and every transfer on them.
// Stored paths go to stdout, one per line; everything else to stderr.
func runReceive(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	var pf peerFlags
	pf.register(fs)
	dir := fs.String("dir", ".", "`directory` to store received files in")
	from := fs.String("accept-from", "", "accept only this member (a `name` or an id); others are declined")
	once := fs.Bool("once", false, "exit after the first transfer, with its result")
	if code, ok := parseFlags(fs, c, args, "p2plobby receive --server URL [--room ROOM] [--name NAME] [--dir DIR] [--accept-from NAME] [--once]"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		c.errorf("receive takes no arguments (use --dir)\n")
		return exitUsage
	}
	if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
		c.errorf("--dir %s is not a directory\n", *dir)
		return exitUsage
	}
	client, code := pf.dial(ctx, c)
	if client == nil {
		return code
	}
	defer client.Close()
	who := "anyone"
	if *from != "" {
		who = *from
	}
	fmt.Fprintf(c.stderr, "waiting as %s; accepting files from %s into %s\n",
		peer.Member{ID: client.ID(), Name: client.Name()}, who, *dir)

	r := &receiver{c: c, dir: *dir, once: *once, result: make(chan int, 1)}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for {
		select {
		case ev, ok := <-client.Events():
			if !ok {
				c.errorf("%v\n", client.Err())
				return exitConnection
			}
			if ev.Kind != peer.IncomingRequest {
				continue
			}
			if *from != "" && !matchMember(ev.Request.From, *from) {
				fmt.Fprintf(c.stderr, "declined a request from %s (not --accept-from %s)\n", ev.Request.From, *from)
				ev.Request.Decline()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.serve(ctx, ev.Request)
			}()
		case code := <-r.result:
			return code
		case <-ctx.Done():
			wg.Wait() // let running transfers clean up and report
			if r.wasInterrupted() {
				return exitInterrupted
			}
			return exitOK
		}
	}
}

// receiver serves the connections of one receive command.
type receiver struct {
	c      *cli
	dir    string
	once   bool
	result chan int // with --once: the first transfer's exit code

	mu          sync.Mutex // serializes output
	interrupted bool       // a transfer was cut short by the interrupt
}

func (r *receiver) wasInterrupted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.interrupted
}

func (r *receiver) serve(ctx context.Context, req *peer.Request) {
	conn, err := req.Accept(ctx)
	if err != nil {
		r.c.errorf("connecting to %s: %v\n", req.From, err)
		return
	}
	defer conn.Close()
	connected(r.c, req.From, conn)
	for {
		select {
		case t, ok := <-conn.Transfers():
			if !ok {
				return
			}
			code := r.transfer(ctx, conn, t)
			if r.once {
				select {
				case r.result <- code:
				default:
				}
				return
			}
		case m, ok := <-conn.Chat():
			if ok {
				r.mu.Lock()
				fmt.Fprintf(r.c.stderr, "%s says: %s\n", req.From, m.Text)
				r.mu.Unlock()
			}
		case <-conn.Done():
			if err := conn.Err(); err != nil {
				fmt.Fprintf(r.c.stderr, "%s: connection ended (%v)\n", req.From, err)
			}
			return
		case <-ctx.Done():
			return
		}
	}
}

func (r *receiver) transfer(ctx context.Context, conn *peer.Conn, t *peer.IncomingTransfer) int {
	fmt.Fprintf(r.c.stderr, "receiving %s (%s) from %s\n", plural(len(t.Files), "file"), formatBytes(t.TotalSize()), conn.Peer())
	progress := newProgress(r.c.stderr, "receiving", len(t.Files), t.TotalSize())
	paths, err := t.Accept(ctx, r.dir, progress.update)
	summary := progress.done(err == nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range paths {
		fmt.Fprintln(r.c.stdout, p)
	}
	if err != nil {
		r.interrupted = r.interrupted || ctx.Err() != nil
		r.c.errorf("receive: %v\n", err)
		return exitCode(err)
	}
	fmt.Fprintf(r.c.stderr, "received %s, %s, verified\n", plural(len(paths), "file"), summary)
	return exitOK
}
