package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/p2plobby/p2plobby/internal/pionlog"
	"github.com/p2plobby/p2plobby/peer"
)

// Exit codes of the peer subcommands (list, send, receive, chat). Scripts may rely on them.
const (
	exitOK          = 0 // done
	exitError       = 1 // any other error (a file could not be read or written…)
	exitUsage       = 2 // bad flags or arguments
	exitUnknownPeer = 3 // --to names nobody in the room (within --wait), a name several members have, or it left
	exitDeclined    = 4 // the connection or transfer was declined: by the other side, or by this one (--confirm-code not confirmed, over --max-size or --max-files)
	exitConnection  = 5 // the lobby server or the WebRTC connection failed
	exitInterrupted = 6 // a transfer was cut short: interrupted, canceled, or the other side went away
	exitIntegrity   = 7 // a file arrived with the wrong SHA-256 or size
)

const exitCodesHelp = `
exit codes: 0 ok, 1 error, 2 usage, 3 unknown or ambiguous peer, 4 declined (by either side),
            5 connection failure, 6 interrupted transfer, 7 integrity mismatch
`

const dialTimeout = 15 * time.Second

// peerFlags are the flags shared by the peer subcommands.
type peerFlags struct {
	server    string
	room      string
	name      string
	token     string
	loopback  bool
	relayOnly bool
	verbose   bool
}

func (f *peerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "lobby server `URL`, e.g. ws://HOST:3333 (required)")
	fs.StringVar(&f.room, "room", "", "`room` to join (default: the server's default room)")
	fs.StringVar(&f.name, "name", "", "your display `name` in the room")
	fs.StringVar(&f.token, "token", "", "join `token` for a lobby that requires one (p2plobby token, or your app's backend); your name is then the token's")
	fs.BoolVar(&f.loopback, "loopback", false, "connect over the loopback interface only: peers on this host, no network")
	fs.BoolVar(&f.relayOnly, "relay-only", false, "connect only through a TURN relay, so the other side never learns your IP address")
	fs.BoolVar(&f.verbose, "verbose", false, "log diagnostics to stderr")
}

// parseFlags reads the environment, then args. ok is false when the command must stop with code.
func parseFlags(fs *flag.FlagSet, c *cli, args []string, synopsis string) (code int, ok bool) {
	fs.SetOutput(c.stderr)
	usage := usageFunc(fs, c, synopsis)
	fs.Usage = func() {
		usage()
		fmt.Fprint(c.stderr, exitCodesHelp)
	}
	if err := applyEnv(fs, c.getenv); err != nil {
		c.errorf("%v\n", err)
		return exitUsage, false
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return exitOK, true
}

// dial joins the room; on failure it reports and returns the exit code.
func (f *peerFlags) dial(ctx context.Context, c *cli) (*peer.Client, int) {
	if f.server == "" {
		c.errorf("--server (or P2PLOBBY_SERVER) is required, e.g. --server ws://localhost:3333\n")
		return nil, exitUsage
	}
	opts := &peer.Options{Room: f.room, Name: f.name, Token: f.token, Loopback: f.loopback, RelayOnly: f.relayOnly}
	if f.verbose {
		// pion's own debug messages too: scripts/bench-wan.sh counts SCTP's retransmission timeouts in them.
		opts.Logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: pionlog.LevelDebug}))
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	client, err := peer.Dial(dctx, f.server, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, exitInterrupted
		}
		c.errorf("cannot join the lobby at %s: %v\n", f.server, err)
		return nil, exitConnection
	}
	return client, exitOK
}

// connected tells the user who they are connected to, the code to compare, and the network path. It comes
// before anything the other side sends is shown or stored.
func connected(c *cli, who peer.Member, conn *peer.Conn) {
	path := "path unknown"
	if p, err := conn.Path(); err == nil {
		path = p.String()
	}
	fmt.Fprintf(c.stderr, "connected to %s, verification code %s, %s\n", member(who), safe(conn.VerificationCode()), safe(path))
}

// findPeer waits up to wait for the member that to names: an id, or a name (see nameProblem). An id always
// wins over a name.
func findPeer(ctx context.Context, c *cli, client *peer.Client, to string, wait time.Duration) (peer.Member, int) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := client.WaitMember(wctx, func(m peer.Member) bool { return m.ID == to || m.Name == to })
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return m, exitInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		c.errorf("nobody named %q in the room after %s (see p2plobby list)\n", to, wait)
		return m, exitUnknownPeer
	default:
		c.errorf("%v\n", err)
		return m, exitConnection
	}
	if byID, ok := client.Member(to); ok {
		return byID, exitOK // a member may have joined earlier under a name equal to this id
	}
	if why := nameProblem(client, to); why != "" {
		c.errorf("%s: pass an id to --to (see p2plobby list)\n", why)
		return m, exitUnknownPeer
	}
	return m, exitOK
}

// nameProblem says why name cannot stand for one member of the room, or returns "". Names are chosen by their
// members, so a name identifies someone only when exactly one member has it, no member has it as its id, and
// it does not look like a lobby id: otherwise a member could pose as another by taking its name, or its id as
// a name (even after that member left).
func nameProblem(client *peer.Client, name string) string {
	var ids []string
	for _, o := range client.Members() {
		if o.Name == name {
			ids = append(ids, o.ID)
		}
	}
	if len(ids) > 1 {
		return fmt.Sprintf("%d members are named %q (%s)", len(ids), name, strings.Join(ids, ", "))
	}
	if m, ok := client.Member(name); ok {
		return fmt.Sprintf("%q is the id of %s, and someone else has it as a name", name, member(m))
	}
	if looksLikeID(name) {
		return fmt.Sprintf("no member has the id %q (a member named so is not trusted to be it)", name)
	}
	return ""
}

// looksLikeID reports whether s has the shape of a p2plobby member id: 20 characters of base64url.
func looksLikeID(s string) bool {
	if len(s) != 20 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// acceptable reports whether a request from `from` may be accepted under --accept-from want (anyone when want
// is empty): want is its id, or its name as long as that name stands for one member (nameProblem). When not,
// why says so.
func acceptable(client *peer.Client, from peer.Member, want string) (ok bool, why string) {
	switch {
	case want == "" || from.ID == want:
		return true, ""
	case from.Name != want:
		return false, "not --accept-from " + want
	}
	if p := nameProblem(client, want); p != "" {
		return false, p + "; use --accept-from ID"
	}
	return true, ""
}

// exitCode maps an error of the peer package to the documented exit codes.
func exitCode(err error) int {
	var te *peer.TransferError
	var se *peer.ServerError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &te) && (te.Code == "integrity" || te.Code == "size"), errors.Is(err, peer.ErrIntegrity):
		return exitIntegrity
	case errors.Is(err, peer.ErrDeclined), errors.Is(err, peer.ErrLimitExceeded):
		return exitDeclined
	case errors.Is(err, peer.ErrInterrupted), errors.Is(err, peer.ErrCanceled), errors.Is(err, context.Canceled),
		errors.Is(err, peer.ErrHangup):
		return exitInterrupted
	case errors.Is(err, peer.ErrUnknownPeer), errors.Is(err, peer.ErrPeerLeft):
		return exitUnknownPeer
	case errors.Is(err, peer.ErrConnectionFailed), errors.Is(err, peer.ErrDisconnected), errors.As(err, &se),
		errors.Is(err, context.DeadlineExceeded):
		return exitConnection
	}
	return exitError
}

// isTerminal reports whether w is a terminal, where a live progress bar makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressReport shows a transfer's progress on stderr: a bar with rate and time left on a terminal,
// otherwise a plain line every few seconds, so logs stay readable.
type progressReport struct {
	w     io.Writer
	verb  string
	total int64
	files int
	bar   *progressbar.ProgressBar
	start time.Time

	mu       sync.Mutex
	last     time.Time
	bytes    int64
	finished int
}

const plainEvery = 2 * time.Second

func newProgress(w io.Writer, verb string, files int, total int64) *progressReport {
	p := &progressReport{w: w, verb: verb, total: total, files: files, start: time.Now()}
	p.last = p.start
	if isTerminal(w) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(verb),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return p
}

// update is a peer progress callback.
func (p *progressReport) update(pr peer.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes = pr.TotalBytes
	if pr.Done {
		p.finished++
	}
	if p.bar != nil {
		if pr.Done && p.files > 1 {
			p.bar.Describe(fmt.Sprintf("%s %d/%d", p.verb, p.finished, p.files))
		}
		p.bar.Set64(pr.TotalBytes)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= plainEvery {
		p.last = now
		fmt.Fprintf(p.w, "%s: %s\n", p.verb, p.line(now))
	}
}

// line is "12.0 MiB / 1.0 GiB (1%), 85.0 MiB/s, 12s left".
func (p *progressReport) line(now time.Time) string {
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.bytes) / elapsed
	}
	s := fmt.Sprintf("%s / %s", formatBytes(p.bytes), formatBytes(p.total))
	if p.total > 0 {
		s += fmt.Sprintf(" (%d%%)", p.bytes*100/p.total)
	}
	s += fmt.Sprintf(", %s/s", formatBytes(int64(rate)))
	if rate > 0 && p.bytes < p.total {
		left := time.Duration(float64(p.total-p.bytes) / rate * float64(time.Second))
		s += fmt.Sprintf(", %s left", left.Round(time.Second))
	}
	return s
}

// done ends the display and returns a summary such as "1.0 GiB in 12s (85.0 MiB/s)".
func (p *progressReport) done(ok bool) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		if ok {
			p.bar.Finish()
		} else {
			p.bar.Exit()
			fmt.Fprintln(p.w)
		}
	}
	d := time.Since(p.start)
	rate := float64(p.bytes) / d.Seconds()
	return fmt.Sprintf("%s in %s (%s/s)", formatBytes(p.bytes), d.Round(10*time.Millisecond), formatBytes(int64(rate)))
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
