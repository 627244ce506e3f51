package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

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
	iceServers      string
	shutdownTimeout time.Duration
	turn            turnConfig
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
	fs.IntVar(&cfg.maxConnsPerIP, "max-conns-per-ip", 0, "WebSocket connections per client IP, 0 for no limit")
	fs.StringVar(&cfg.allowedOrigins, "allowed-origins", "", "comma-separated Origin values allowed to connect; empty allows any")
	fs.StringVar(&cfg.iceServers, "ice-servers", "", "ICE servers for the peers: a JSON array of RTCIceServer, or comma-separated stun:/turn: URLs")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long shutdown waits for clients to close")
	cfg.turn.flags(fs)
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
	var origins []string
	for _, o := range strings.Split(cfg.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		c.errorf("%v\n", err)
		return 1
	}
	turnSrv, iceProvider, err := cfg.turn.start(cfg.addr, ln.Addr().(*net.TCPAddr).Port, ice, log)
	if err != nil {
		ln.Close()
		c.errorf("%v\n", err)
		return 1
	}
	if turnSrv != nil {
		defer turnSrv.Close()
		ln = turn.SplitListener(ln, turnSrv.ServeConn, 10*time.Second)
	}

	h := hub.New(hub.Config{
		MaxQueue:       int64(cfg.maxQueue),
		MaxRoomMembers: cfg.maxRoomMembers,
		Logger:         log,
	})
	srv := transport.New(h, web.FS, transport.Config{
		MaxMessageSize: int64(cfg.maxMessageSize),
		WriteTimeout:   cfg.writeTimeout,
		PingInterval:   cfg.pingInterval,
		IdleTimeout:    cfg.idleTimeout,
		Rate:           cfg.rate,
		Burst:          cfg.burst,
		MaxConns:       cfg.maxConns,
		MaxConnsPerIP:  cfg.maxConnsPerIP,
		AllowedOrigins: origins,
		ICE:            iceProvider,
		Logger:         log,
	})
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

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
	log.Info("stopped")
	return 0
}
