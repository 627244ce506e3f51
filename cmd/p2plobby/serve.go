package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/p2plobby/p2plobby/internal/cluster"
	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/transport"
	"github.com/p2plobby/p2plobby/internal/turn"
	"github.com/p2plobby/p2plobby/web"
)

func init() {
	commands = append(commands, command{name: "serve", summary: "run the lobby server (the default)", run: runServe})
}

// serveConfig is every setting of the server, filled from flags and P2PLOBBY_* variables.
type serveConfig struct {
	addr            string
	logLevel        string
	logFormat       string
	maxMessageSize  byteSize
	maxQueue        byteSize
	writeTimeout    time.Duration
	pingInterval    time.Duration
	idleTimeout     time.Duration
	rate            float64
	burst           int
	maxRoomMembers  int
	maxConns        int
	maxConnsPerIP   int
	allowedOrigins  string
	trustedProxies  string
	networkRooms    bool
	iceServers      string
	shutdownTimeout time.Duration
	turn            turnConfig
	cluster         clusterConfig
	limits          limitsConfig
	tls             tlsConfig
	auth            authConfig
	metrics         metricsConfig
	peerJS          peerJSConfig
}

func (cfg *serveConfig) flags(fs *flag.FlagSet) {
	cfg.maxMessageSize = transport.DefaultMaxMessageSize
	cfg.maxQueue = hub.DefaultMaxQueue
	fs.StringVar(&cfg.addr, "addr", ":3333", "`host:port` to listen on")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.Var(&cfg.maxMessageSize, "max-message-size", "largest message a client may send (`bytes`, e.g. 64KiB)")
	fs.Var(&cfg.maxQueue, "max-queue", "outgoing `bytes` that may wait for one client before it is dropped as too slow")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", transport.DefaultWriteTimeout, "a write blocked this long drops the client")
	fs.DurationVar(&cfg.pingInterval, "ping-interval", transport.DefaultPingInterval, "how often each client is pinged")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", transport.DefaultIdleTimeout, "a client silent this long (no pong either) is dropped")
	fs.Float64Var(&cfg.rate, "rate", transport.DefaultRate, "messages per second a client may send (sustained)")
	fs.IntVar(&cfg.burst, "burst", transport.DefaultBurst, "messages a client may send in a burst")
	fs.IntVar(&cfg.maxRoomMembers, "max-room-members", 0, "members per room, 0 for no limit")
	fs.IntVar(&cfg.maxConns, "max-conns", transport.DefaultMaxConns, "WebSocket connections per server")
	fs.IntVar(&cfg.maxConnsPerIP, "max-conns-per-ip", transport.DefaultMaxConnsPerIP, "WebSocket connections per client address (IPv6: per /64), 0 for no limit")
	fs.StringVar(&cfg.allowedOrigins, "allowed-origins", "", "comma-separated Origin values (https://app.example) whose pages may connect besides this server's own and loopback ones; * allows any")
	fs.StringVar(&cfg.trustedProxies, "trusted-proxies", "", "comma-separated `CIDRs` (or IPs) of reverse proxies whose X-Forwarded-For (or Forwarded) header gives the client's address; empty trusts none")
	fs.BoolVar(&cfg.networkRooms, "network-rooms", true, "let clients ask for the group of their own network (room @network); false: @network is the shared lobby")
	fs.StringVar(&cfg.iceServers, "ice-servers", "", "ICE servers for the peers: a JSON array of RTCIceServer, or comma-separated stun:/turn: URLs")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long shutdown waits for clients to close")
	cfg.turn.flags(fs)
	cfg.cluster.flags(fs)
	cfg.limits.flags(fs)
	cfg.tls.flags(fs)
	cfg.auth.flags(fs)
	cfg.metrics.flags(fs)
	cfg.peerJS.flags(fs)
}

// iceServersJSON turns the --ice-servers value into the JSON array sent to clients (nil when empty).
func iceServersJSON(v string) (json.RawMessage, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if strings.HasPrefix(v, "[") {
		var servers []struct {
			URLs any `json:"urls"`
		}
		if err := json.Unmarshal([]byte(v), &servers); err != nil {
			return nil, fmt.Errorf("--ice-servers: not a JSON array of RTCIceServer: %v", err)
		}
		for _, s := range servers {
			if s.URLs == nil {
				return nil, errors.New("--ice-servers: every server needs urls")
			}
		}
		var compact bytes.Buffer
		json.Compact(&compact, []byte(v)) // valid: it was just decoded
		return compact.Bytes(), nil
	}
	var urls []map[string]string
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return nil, fmt.Errorf("--ice-servers: %q is not a stun:, turn: or turns: URL", u)
		}
		urls = append(urls, map[string]string{"urls": u})
	}
	return json.Marshal(urls)
}

func newLogger(c *cli, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(c.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, not %q", format)
}

func runServe(ctx context.Context, c *cli, args []string) int {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	cfg.flags(fs)
	fs.Usage = usageFunc(fs, c, "p2plobby [serve] [flags]")
	if err := applyEnv(fs, c.getenv); err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		c.errorf("serve takes no arguments, got %q\n", fs.Args())
		return 2
	}
	log, err := newLogger(c, cfg.logLevel, cfg.logFormat)
	if err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	ice, err := iceServersJSON(cfg.iceServers)
	if err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	if cfg.idleTimeout <= cfg.pingInterval {
		c.errorf("--idle-timeout (%v) must be longer than --ping-interval (%v)\n", cfg.idleTimeout, cfg.pingInterval)
		return 2
	}
	if err := cfg.turn.validate(fs, cfg.pingInterval); err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	if err := cfg.limits.validate(); err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	if err := cfg.tls.validate(); err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	if err := cfg.peerJS.validate(); err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	var origins []string
	for _, o := range strings.Split(cfg.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	proxies, err := parsePrefixes(cfg.trustedProxies)
	if err != nil {
		c.errorf("--trusted-proxies: %v\n", err)
		return 2
	}
	networkSecret, err := cfg.cluster.validate(cfg.turn.secret, cfg.networkRooms)
	if err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	verifier, err := cfg.auth.verifier()
	if err != nil {
		c.errorf("%v\n", err)
		return 2
	}
	if err := cfg.metrics.validate(cfg.addr); err != nil {
		c.errorf("%v\n", err)
		return 2
	}

	tctx, stopTLS := context.WithCancel(context.WithoutCancel(ctx)) // reloads go on during shutdown
	defer stopTLS()
	tlsCfg, err := cfg.tls.start(tctx, log)
	if err != nil {
		c.errorf("%v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		c.errorf("%v\n", err)
		return 1
	}
	ms, err := cfg.metrics.listen()
	if err != nil {
		ln.Close()
		c.errorf("%v\n", err)
		return 1
	}
	defer ms.close() // last: /readyz there answers 503 until the drain is over
	turnSrv, iceProvider, err := cfg.turn.start(cfg.addr, ln.Addr().(*net.TCPAddr).Port, ice, log)
	if err != nil {
		ln.Close()
		c.errorf("%v\n", err)
		return 1
	}
	if turnSrv != nil {
		defer turnSrv.Close()
		if tlsCfg != nil {
			tlsCfg.NextProtos = append(tlsCfg.NextProtos, turn.ALPNTURN)
			ln = turn.SplitTLSListener(ln, turnSrv.ServeConn, tlsCfg, cfg.limits.headerTimeout, log)
			iceProvider.HTTPTLS = true // turns: on this port
		} else {
			ln = turn.SplitListener(ln, turnSrv.ServeConn, cfg.limits.headerTimeout)
		}
	} else if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}

	var bus *cluster.Bus
	var ready func() bool
	if cfg.cluster.urls != "" {
		bus = cfg.cluster.bus(log)
		log = log.With("node", bus.NodeID())
		ready = bus.Ready
	}
	hcfg := hub.Config{
		MaxQueue:       int64(cfg.maxQueue),
		MaxRoomMembers: cfg.maxRoomMembers,
		Limits:         cfg.limits.hub(),
		Logger:         log,
		Observer:       ms.hubObserver(),
		Realm:          cfg.peerJS.realm(),
	}
	if bus != nil {
		hcfg.Bus = bus // a nil *cluster.Bus in the interface would not be nil
	}
	h := hub.New(hcfg)
	if bus != nil {
		if err := bus.Start(h); err != nil {
			ln.Close()
			c.errorf("--nats: %v\n", err)
			return 1
		}
		log.Info("cluster node", "nats", redactURLs(cfg.cluster.urls), "heartbeat", cfg.cluster.heartbeat)
		if turnSrv != nil && cfg.turn.host == "" {
			log.Warn("embedded TURN in a cluster: set --turn-host to this node's own address, or a member's TURN " +
				"traffic may reach a node that does not know it (docs/deploy.md)")
		}
	}
	srv := transport.New(h, web.FS, transport.Config{
		MaxMessageSize: int64(cfg.maxMessageSize),
		WriteTimeout:   cfg.writeTimeout,
		PingInterval:   cfg.pingInterval,
		IdleTimeout:    cfg.idleTimeout,
		Rate:           cfg.rate,
		Burst:          cfg.burst,
		MaxConns:       cfg.maxConns,
		MaxConnsPerIP:  cfg.maxConnsPerIP,
		IPConnRate:     cfg.limits.ipConnRate,
		IPConnBurst:    cfg.limits.ipConnBurst,
		AllowedOrigins: origins,
		TrustedProxies: proxies,
		NoNetworkRooms: !cfg.networkRooms,
		ICE:            iceProvider,
		NetworkSecret:  networkSecret,
		Ready:          ready,
		Auth:           verifier,
		Logger:         log,
		Observer:       ms.transportObserver(),
		PeerJS:         cfg.peerJS.transport(),
	})
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: cfg.limits.headerTimeout, // slowloris: and ReadTimeout for a slow body
		ReadTimeout:       cfg.limits.requestTimeout,
		WriteTimeout:      cfg.limits.requestTimeout, // a client that does not read a page; not the upgraded ones
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ms.serve(h, srv, turnSrv, bus, log)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	log.Info("listening", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String()+"/")
	if verifier != nil {
		log.Info("join tokens required", "algorithms", verifier.Methods())
	}
	fmt.Fprintf(c.stdout, "p2plobby is running. Open it in a browser:\n")
	for _, u := range openURLs(scheme, cfg.addr, ln.Addr().(*net.TCPAddr).Port, interfaceAddrs) {
		fmt.Fprintf(c.stdout, "  %s\n", u)
	}

	select {
	case err := <-served:
		c.errorf("%v\n", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	hs.Shutdown(sctx) // stops the listener; upgraded connections are the transport's
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown cut connections", "err", err)
	}
	if bus != nil {
		bus.Shutdown() // after the members left: the other nodes have heard each leave, then goodbye
	}
	log.Info("stopped")
	return 0
}

// redactURLs drops the credentials from a comma-separated list of URLs, for the log.
func redactURLs(list string) string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.Host != "" {
			if u.User != nil {
				u.User = url.User("redacted") // a password, or a token in the user part
			}
			out = append(out, u.String())
		} else {
			out = append(out, "(unparsable)")
		}
	}
	return strings.Join(out, ",")
}

// parsePrefixes parses a comma-separated list of CIDRs; a bare IP address stands for itself (/32, /128).
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// openURLs lists the addresses to open the lobby at, as scheme (http or https) URLs: for a server listening on
// every address (an empty host, 0.0.0.0 or ::), http://localhost:PORT/ and then one URL per address of this machine other devices can use
// (IPv4 first; loopback and link-local left out, and IPv6 ones only when listening on IPv6 too); otherwise
// the one host it listens on, as given.
func openURLs(scheme, addr string, port int, ifaddrs func() []netip.Addr) []string {
	url := func(host string) string { return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/" }
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	ip, err := netip.ParseAddr(host)
	if host != "" && (err != nil || !ip.IsUnspecified()) {
		return []string{url(host)}
	}
	v6 := host == "" || ip.Is6()
	urls := []string{url("localhost")}
	var later []string
	for _, a := range ifaddrs() {
		switch {
		case a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified():
		case a.Is4() || a.Is4In6():
			urls = append(urls, url(a.Unmap().String()))
		case v6:
			later = append(later, url(a.String()))
		}
	}
	return append(urls, later...)
}

// interfaceAddrs is this machine's addresses on interfaces that are up.
func interfaceAddrs() []netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					out = append(out, ip.Unmap())
				}
			}
		}
	}
	return out
}
