package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/p2plobby/p2plobby/peer"
)

// stdinLines reads the command's stdin one line at a time, in a goroutine of its own, so that a question can be
// abandoned (the other side hung up, interrupt) and so that chat's lines and the --confirm-code answer come
// from one reader, in order.
type stdinLines struct {
	lines    chan string // closed at the end of stdin or on a read error
	err      error       // the read error, or nil at the end of input; read it only once lines is closed
	stop     chan struct{}
	stopOnce sync.Once
	ask      sync.Mutex // one question at a time
}

// readLines starts reading r; lines may be up to max bytes. Call close when done.
func readLines(r io.Reader, max int) *stdinLines {
	in := &stdinLines{lines: make(chan string), stop: make(chan struct{})}
	go func() {
		defer close(in.lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), max)
		for sc.Scan() {
			select {
			case in.lines <- sc.Text():
			case <-in.stop:
				return
			}
		}
		in.err = sc.Err()
	}()
	return in
}

// close stops delivering lines (a read already blocked on stdin stays blocked until stdin ends).
func (in *stdinLines) close() { in.stopOnce.Do(func() { close(in.stop) }) }

// confirmCode shows the verification code and asks whether the other side shows the same one; only "y" or
// "yes" (any case) is a yes. The end of stdin, the connection ending or ctx ending are a no.
func confirmCode(ctx context.Context, c *cli, in *stdinLines, who peer.Member, conn *peer.Conn) bool {
	in.ask.Lock()
	defer in.ask.Unlock()
	fmt.Fprintf(c.stderr, "verification code %s with %s. Does the other side show the same code? [y/N] ",
		safe(conn.VerificationCode()), member(who))
	select {
	case line, ok := <-in.lines:
		if !ok {
			fmt.Fprintln(c.stderr)
			return false
		}
		answer := strings.ToLower(strings.TrimSpace(line))
		return answer == "y" || answer == "yes"
	case <-conn.Done():
	case <-ctx.Done():
	}
	fmt.Fprintln(c.stderr)
	return false
}

// notConfirmed hangs up after a no to the verification question and says why.
func notConfirmed(c *cli, who peer.Member, conn *peer.Conn) {
	conn.Close()
	c.errorf("verification code not confirmed: hung up on %s (if the codes differ, someone may be in the middle; "+
		"connect again and compare)\n", who)
}
