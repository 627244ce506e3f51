// Command lobbyload is a load generator for lobby servers that speak the seed's wire protocol
// (shared/seed/p2p-lobby.md), so it measures p2plobby and the seed's Bun reference server alike.
//
//	lobbyload [join|relay|idle|soak|peerjs-join|peerjs-relay|peerjs-idle] [flags]
//
// Scenarios:
//
//	join   --members N connect to one room as fast as possible (--dial-concurrency at a time). Reports the time
//	       from the first dial until every member has seen every other member, the lobby events delivered per
//	       second, and checks that every member's final view is exactly the set of the other members.
//	relay  --pairs P pairs in one room bounce a ~1 KB offer/answer back and forth for --duration (or --count
//	       round trips per pair). Reports round trips, p50/p99 round-trip time and relayed messages per second.
//	idle   --members N connect and idle. Reads the server's VmRSS (--pid) before and after, and reports the
//	       server's memory per connection.
//	soak   keeps about --members N members in --rooms rooms for --duration while members leave and new ones
//	       join (--churn % of N per second), relay to random others (--relay-rate per second) and rename
//	       (--rename-rate per second). Every lobby event and relay is checked (no duplicate, none lost, each
//	       relay delivered once with the right fromId; views compared with the tool's ground truth at every
//	       --checkpoint), and the server's goroutines, heap and RSS (--metrics, --pid) are sampled every
//	       --sample to judge growth. See soak.go.
//	peerjs-join, peerjs-relay, peerjs-idle
//	       the same measurements against PeerServer's protocol (PeerJS; p2plobby's /peerjs). See peerjs.go.
//
// Safety: lobbyload only connects to loopback addresses (127.0.0.0/8, ::1, localhost), and every run is bounded
// by --timeout. Output: human-readable lines on stdout (on stderr with --json), then one JSON line on stdout with
// the numbers, so scripts can take the last line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config holds the command-line settings of one run.
type config struct {
	scenario    string
	urls        []*url.URL        // the URLs dialled, room query included: member n dials urls[n % len(urls)]
	dialAddrs   map[string]string // URL host → the loopback ip:port actually dialled
	members     int
	pairs       int
	duration    time.Duration
	count       int
	timeout     time.Duration
	settle      time.Duration
	pids        []int
	concurrency int
	jsonOnly    bool
	cpuProfile  string
	soak        soakConfig
	peerjs      peerjsConfig
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "lobbyload:", err)
		return 2
	}
	human := stdout
	if cfg.jsonOnly {
		human = stderr // keep stdout to the single JSON line
	}
	limit, err := raiseFileLimit(cfg.fdsNeeded())
	if err != nil {
		fmt.Fprintln(stderr, "lobbyload:", err)
		return 2
	}

	ctx, cancel := context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("overall --timeout %s reached", cfg.timeout))
	defer cancel()

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "lobbyload: cpu profile:", err)
			return 2
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}

	rep := newReport(cfg, human)
	rep.printf("  file descriptor limit %d (this run needs ~%d)", limit, cfg.fdsNeeded())
	switch cfg.scenario {
	case "join":
		runJoin(ctx, cfg, rep, false)
	case "idle":
		runJoin(ctx, cfg, rep, true)
	case "relay":
		runRelay(ctx, cfg, rep)
	case "soak":
		runSoak(ctx, cfg, rep)
	case "peerjs-join", "peerjs-idle":
		runPeerJSJoin(ctx, cfg, rep, cfg.scenario == "peerjs-idle")
	case "peerjs-relay":
		runPeerJSRelay(ctx, cfg, rep)
	}
	return rep.finish(stdout)
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{scenario: "join"}
	// The scenario may be given as a subcommand (lobbyload relay ...) or with --scenario.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.scenario, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("lobbyload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "ws://127.0.0.1:3333/", "server WebSocket URL; must be a loopback address. Several, comma-separated (the nodes of a cluster): members dial them in turn")
	room := fs.String("room", "", "room name, sent as ?room= (p2plobby); empty means none")
	fs.StringVar(&cfg.scenario, "scenario", cfg.scenario, "join, relay, idle, soak, peerjs-join, peerjs-relay or peerjs-idle")
	fs.IntVar(&cfg.members, "members", 0, "members to connect (join: default 1000, idle: default 5000, soak: default 2000)")
	fs.IntVar(&cfg.pairs, "pairs", 100, "relay: number of member pairs")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "relay: how long the pairs bounce messages; soak: how long the churn runs (default 10m)")
	fs.IntVar(&cfg.count, "count", 0, "relay: round trips per pair (0 = until --duration)")
	fs.DurationVar(&cfg.timeout, "timeout", 120*time.Second, "overall deadline of the run (soak: default --duration + 5m)")
	fs.DurationVar(&cfg.settle, "settle", 3*time.Second, "idle: wait after everyone has joined before reading RSS")
	pids := fs.String("pid", "", "server process id, to read its RSS and CPU time from /proc (required for idle); several, comma-separated, are summed (a cluster's processes)")
	fs.IntVar(&cfg.concurrency, "dial-concurrency", 64, "join/idle/soak: dials in flight at once")
	metrics := cfg.soak.flags(fs)
	cfg.peerjs.flags(fs)
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the tool's own CPU profile to this file (to check the tool is not the bottleneck)")
	fs.BoolVar(&cfg.jsonOnly, "json", false, "print only the JSON line on stdout (human-readable lines go to stderr)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lobbyload [join|relay|idle|soak|peerjs-join|peerjs-relay|peerjs-idle] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range strings.Split(*pids, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("--pid: %q is not a process id", f)
		}
		cfg.pids = append(cfg.pids, pid)
	}
	switch cfg.scenario {
	case "join":
		if cfg.members == 0 {
			cfg.members = 1000
		}
	case "idle":
		if cfg.members == 0 {
			cfg.members = 5000
		}
		if len(cfg.pids) == 0 {
			return nil, errors.New("idle needs --pid (the server's process id) to read its memory")
		}
	case "soak":
		if cfg.members == 0 {
			cfg.members = 2000
		}
		if !set["duration"] {
			cfg.duration = 10 * time.Minute
		}
		if !set["timeout"] {
			cfg.timeout = cfg.duration + 5*time.Minute
		}
		if err := cfg.soak.check(cfg, *metrics); err != nil {
			return nil, err
		}
	case "relay":
		if cfg.pairs < 1 {
			return nil, errors.New("--pairs must be at least 1")
		}
		if cfg.duration <= 0 && cfg.count <= 0 {
			return nil, errors.New("relay needs a positive --duration or --count")
		}
	case "peerjs-join", "peerjs-relay", "peerjs-idle":
		if err := cfg.peerjs.check(cfg, set); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown scenario %q (want join, relay, idle, soak, peerjs-join, peerjs-relay or peerjs-idle)", cfg.scenario)
	}
	if cfg.scenario != "relay" && cfg.members < 1 {
		return nil, errors.New("--members must be at least 1")
	}
	if cfg.concurrency < 1 || cfg.timeout <= 0 {
		return nil, errors.New("--dial-concurrency and --timeout must be positive")
	}
	cfg.dialAddrs = map[string]string{}
	for _, raw := range strings.Split(*rawURL, ",") {
		u, addr, err := loopbackURL(strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		if *room != "" {
			q := u.Query()
			q.Set("room", *room)
			u.RawQuery = q.Encode()
		}
		cfg.urls = append(cfg.urls, u)
		cfg.dialAddrs[u.Host] = addr
	}
	return cfg, nil
}

// loopbackURL parses a ws:// URL and returns it with the loopback address to dial. Anything that is not
// literally loopback is refused: this tool generates heavy traffic and must never aim it at another machine.
// "localhost" is mapped to 127.0.0.1 rather than resolved, so no resolver setting can redirect it.
func loopbackURL(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("bad --url: %w", err)
	}
	if u.Scheme != "ws" {
		return nil, "", fmt.Errorf("--url %q: only ws:// is supported", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	ip := net.ParseIP(host)
	if strings.EqualFold(host, "localhost") {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip == nil || !ip.IsLoopback() {
		return nil, "", fmt.Errorf("--url host %q is not a loopback address (127.0.0.0/8, ::1, localhost); refusing", host)
	}
	return u, net.JoinHostPort(ip.String(), port), nil
}

func (c *config) urlList() string {
	var out []string
	for _, u := range c.urls {
		out = append(out, u.String())
	}
	return strings.Join(out, ",")
}

// fdsNeeded is how many file descriptors the run holds: one socket per member plus some slack.
func (c *config) fdsNeeded() uint64 {
	n := c.members
	switch c.scenario {
	case "relay":
		n = 2 * c.pairs
	case "soak":
		n = c.members + c.concurrency // the leavers still open while their replacements dial
	}
	return uint64(n) + 64
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard maximum, since every member is a socket.
func raiseFileLimit(need uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("setrlimit: %w", err)
		}
	}
	if rl.Cur < need {
		return rl.Cur, fmt.Errorf("need about %d file descriptors but the hard limit is %d (raise it with ulimit -Hn)", need, rl.Cur)
	}
	return rl.Cur, nil
}

// report collects the human-readable lines and the numbers of the final JSON line.
type report struct {
	human  io.Writer
	fields map[string]any
	footer []string // lines printed last, before the errors
	errs   []string
	nerrs  int
}

// maxErrors caps the error messages kept; the total is still counted.
const maxErrors = 20

func newReport(cfg *config, human io.Writer) *report {
	r := &report{human: human, fields: map[string]any{
		"scenario": cfg.scenario,
		"url":      cfg.urlList(),
		"nproc":    runtime.NumCPU(),
	}}
	r.printf("lobbyload %s → %s (%d CPUs; the tool shares them with the server)", cfg.scenario, cfg.urlList(), runtime.NumCPU())
	return r
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(r.human, format+"\n", args...) }

func (r *report) set(key string, v any) { r.fields[key] = v }

func (r *report) errorf(format string, args ...any) {
	r.nerrs++
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

// finish prints the errors, the final JSON line, and returns the exit code (1 if anything went wrong).
func (r *report) finish(stdout io.Writer) int {
	for _, l := range r.footer {
		r.printf("%s", l)
	}
	for _, e := range r.errs {
		r.printf("  ERROR %s", e)
	}
	if r.nerrs > len(r.errs) {
		r.printf("  ... and %d more errors", r.nerrs-len(r.errs))
	}
	r.fields["ok"] = r.nerrs == 0
	r.fields["errors"] = r.nerrs
	if len(r.errs) > 0 {
		r.fields["error_samples"] = r.errs
	}
	line, err := json.Marshal(r.fields)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lobbyload: encoding result:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(line))
	if r.nerrs > 0 {
		return 1
	}
	return 0
}

// round keeps JSON numbers readable.
func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
