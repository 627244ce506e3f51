package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/p2plobby/p2plobby/peer"
)

// Default limits of one incoming transfer (receive --max-size, --max-files): generous for people, but a
// stranger cannot fill the disk or the directory unasked.
const (
	defaultMaxSize  = 16 << 30
	defaultMaxFiles = 1000
)

// transferOpenTimeout and transferIdleTimeout are receive's inactivity timeouts (peer.AcceptOptions); zero means
// the peer package's defaults (30 s to open the file channel, 60 s without data). Tests shorten them.
var transferOpenTimeout, transferIdleTimeout time.Duration

func init() {
	commands = append(commands, command{name: "receive", summary: "wait for members and receive their files", run: runReceive})
}

// runReceive accepts connections (from anyone, or only from --accept-from) and every transfer on them within
// --max-size and --max-files. Stored paths go to stdout, one per line; everything else to stderr.
func runReceive(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	var pf peerFlags
	pf.register(fs)
	dir := fs.String("dir", ".", "`directory` to store received files in")
	from := fs.String("accept-from", "", "accept only this member: an `id`, or a name that only one member has; others are declined")
	once := fs.Bool("once", false, "exit after the first transfer, with its result")
	confirm := fs.Bool("confirm-code", false, "ask on the terminal (stdin) whether the other side shows the same verification code before accepting anything; hang up unless the answer is y")
	maxSize := byteSize(defaultMaxSize)
	fs.Var(&maxSize, "max-size", "decline a transfer of more than this many `bytes` in all (e.g. 500MiB; 0: no limit)")
	maxFiles := fs.Int("max-files", defaultMaxFiles, "decline a transfer of more than this many files (0: no limit)")
	if code, ok := parseFlags(fs, c, args, "p2plobby receive --server URL [--room ROOM] [--name NAME] [--dir DIR] [--accept-from ID|NAME] [--confirm-code] [--max-size BYTES] [--max-files N] [--once]"); !ok {
		return code
	}
	if *maxFiles < 0 {
		c.errorf("--max-files must be 0 or more\n")
		return exitUsage
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
		member(peer.Member{ID: client.ID(), Name: client.Name()}), safe(who), safe(*dir))

	r := &receiver{c: c, dir: *dir, once: *once, result: make(chan int, 1), maxSize: int64(maxSize), maxFiles: *maxFiles}
	if *confirm {
		r.confirm = readLines(c.stdin, 4<<10)
		defer r.confirm.close()
	}
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
			if ok, why := acceptable(client, ev.Request.From, *from); !ok {
				fmt.Fprintf(c.stderr, "declined a request from %s (%s)\n", member(ev.Request.From), safe(why))
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

	maxSize  int64       // --max-size; 0: none
	maxFiles int         // --max-files; 0: none
	confirm  *stdinLines // with --confirm-code: where the answers come from

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
	// Whatever the other side sends waits in conn's queues until the code is confirmed.
	if r.confirm != nil && !confirmCode(ctx, r.c, r.confirm, req.From, conn) {
		notConfirmed(r.c, req.From, conn)
		r.done(exitDeclined)
		return
	}
	for {
		select {
		case t, ok := <-conn.Transfers():
			if !ok {
				return
			}
			code := r.transfer(ctx, conn, t)
			if r.once {
				r.done(code)
				return
			}
		case m, ok := <-conn.Chat():
			if ok {
				r.mu.Lock()
				// Continuation lines are indented, so a message cannot pass for this command's own lines.
				text := strings.ReplaceAll(printable(m.Text, true), "\n", "\n    ")
				fmt.Fprintf(r.c.stderr, "%s says: %s\n", member(req.From), text)
				r.mu.Unlock()
			}
		case <-conn.Done():
			if err := conn.Err(); err != nil {
				fmt.Fprintf(r.c.stderr, "%s: connection ended (%s)\n", member(req.From), safe(err.Error()))
			}
			return
		case <-ctx.Done():
			return
		}
	}
}

// done reports the exit code of a --once receive (the first result wins).
func (r *receiver) done(code int) {
	if !r.once {
		return
	}
	select {
	case r.result <- code:
	default:
	}
}

func (r *receiver) transfer(ctx context.Context, conn *peer.Conn, t *peer.IncomingTransfer) int {
	offer := fmt.Sprintf("%s (%s)", plural(len(t.Files), "file"), formatBytes(t.TotalSize()))
	if over := r.overLimit(t); over != "" {
		t.Decline()
		r.c.errorf("declined %s from %s: more than %s\n", offer, conn.Peer(), over)
		return exitDeclined
	}
	fmt.Fprintf(r.c.stderr, "receiving %s from %s\n", offer, member(conn.Peer()))
	progress := newProgress(r.c.stderr, "receiving", len(t.Files), t.TotalSize())
	paths, err := t.AcceptWith(ctx, r.dir, &peer.AcceptOptions{
		Progress:    progress.update,
		MaxSize:     r.maxSize,
		MaxFiles:    r.maxFiles,
		OpenTimeout: transferOpenTimeout,
		IdleTimeout: transferIdleTimeout,
	})
	summary := progress.done(err == nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range paths {
		fmt.Fprintln(r.c.stdout, safe(p))
	}
	if err != nil {
		r.interrupted = r.interrupted || ctx.Err() != nil
		r.c.errorf("receive: %v\n", err)
		return exitCode(err)
	}
	fmt.Fprintf(r.c.stderr, "received %s, %s, verified\n", plural(len(paths), "file"), summary)
	return exitOK
}

// overLimit names the limit a transfer is over ("--max-files 1000"), or returns "". AcceptWith checks the
// same limits; checking here first lets the message name the flag.
func (r *receiver) overLimit(t *peer.IncomingTransfer) string {
	switch {
	case r.maxFiles > 0 && len(t.Files) > r.maxFiles:
		return fmt.Sprintf("--max-files %d", r.maxFiles)
	case r.maxSize > 0 && t.TotalSize() > r.maxSize:
		b := byteSize(r.maxSize)
		return "--max-size " + b.String()
	}
	return ""
}
