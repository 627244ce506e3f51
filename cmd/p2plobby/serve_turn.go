package main

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/p2plobby/p2plobby/internal/turn"
)

// turnConfig is the STUN/TURN part of serveConfig.
type turnConfig struct {
	enabled        bool
	addr           string
	addrExplicit   bool // --turn-addr was given (flag or environment): failing to bind it is fatal
	publicIP       string
	relayPorts     string
	secret         string
	host           string
	urls           string
	ttl            time.Duration
	maxAllocations int
	memberAllocs   int
	memberRate     byteSize
	totalRate      byteSize
}

func (t *turnConfig) flags(fs *flag.FlagSet) {
	t.memberRate = turn.DefaultMemberRate
	fs.BoolVar(&t.enabled, "turn", true, "serve STUN and TURN, so peers behind NATs and firewalls connect (false: the lobby only)")
	fs.StringVar(&t.addr, "turn-addr", ":3478", "`host:port` for STUN and TURN over UDP and TCP; an empty host serves every local address")
	fs.StringVar(&t.publicIP, "turn-public-ip", "", "the public `IP` of a host behind 1:1 NAT (most cloud VMs), announced as the relay address")
	fs.StringVar(&t.relayPorts, "turn-relay-ports", "", "UDP port range `MIN-MAX` for relays, e.g. 49152-65535 (default: any free port)")
	fs.StringVar(&t.secret, "turn-secret", "", "shared `secret` for TURN credentials (default: random per start; set it for a cluster or --turn-url)")
	fs.StringVar(&t.host, "turn-host", "", "`host[:port]` this node is reached at directly, put in the TURN URLs instead of the host each member used (a node of a cluster behind a load balancer)")
	fs.StringVar(&t.urls, "turn-url", "", "comma-separated stun:/turn:/turns: `URLs` of an external TURN server (coturn use-auth-secret) to hand out instead of the embedded one")
	fs.DurationVar(&t.ttl, "turn-ttl", 10*time.Minute, "lifetime of the TURN credentials given to each member; they are refreshed while it stays")
	fs.IntVar(&t.maxAllocations, "turn-max-allocations", turn.DefaultMaxAllocations, "TURN allocations in total")
	fs.IntVar(&t.memberAllocs, "turn-member-allocations", turn.DefaultMaxMemberAllocations, "TURN allocations per member")
	fs.Var(&t.memberRate, "turn-member-rate", "`bytes` per second relayed for one member, 0 for no limit")
	fs.Var(&t.totalRate, "turn-total-rate", "`bytes` per second relayed in total, 0 for no limit")
}

// validate checks the settings once flags and environment are in.
func (t *turnConfig) validate(fs *flag.FlagSet, pingInterval time.Duration) error {
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "turn-addr" {
			t.addrExplicit = true
		}
	})
	if strings.ContainsAny(t.host, "/?#@ ") {
		return fmt.Errorf("--turn-host: want host[:port], not %q", t.host)
	}
	if t.publicIP != "" && net.ParseIP(t.publicIP) == nil {
		return fmt.Errorf("--turn-public-ip: %q is not an IP address", t.publicIP)
	}
	if _, _, err := t.portRange(); err != nil {
		return err
	}
	if t.urls != "" {
		if t.secret == "" {
			return errors.New("--turn-url needs --turn-secret, the static-auth-secret of that server")
		}
		for _, u := range t.urlList() {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				return fmt.Errorf("--turn-url: %q is not a stun:, turn: or turns: URL", u)
			}
		}
	}
	// The keepalive looks at credentials once per ping interval; they must be refreshed (at 2/3 of their life)
	// with time to spare.
	if t.ttl < 3*pingInterval+time.Second {
		return fmt.Errorf("--turn-ttl (%v) must be at least 3 × --ping-interval (%v) and a second", t.ttl, pingInterval)
	}
	if t.maxAllocations < 1 || t.memberAllocs < 1 {
		return errors.New("--turn-max-allocations and --turn-member-allocations must be at least 1")
	}
	return nil
}

func (t *turnConfig) urlList() []string {
	var out []string
	for _, u := range strings.Split(t.urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

func (t *turnConfig) portRange() (lo, hi int, err error) {
	if t.relayPorts == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(t.relayPorts, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("--turn-relay-ports: want MIN-MAX within 1-65535, not %q", t.relayPorts)
	}
	return lo, hi, nil
}

// start starts the embedded STUN/TURN server (nil if off, external, or its default port is taken) and returns
// the ICE provider for the transport. extra is --ice-servers, handed out after ours.
func (t *turnConfig) start(httpAddr string, httpPort int, extra json.RawMessage, log *slog.Logger) (*turn.Server, *turn.ICE, error) {
	ice := &turn.ICE{Extra: extra}
	if !t.enabled {
		log.Info("TURN off (--turn=false): peers that cannot reach each other directly will not connect")
		return nil, ice, nil
	}
	secret := []byte(t.secret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	ice.Credentials = turn.NewCredentials(secret, t.ttl)
	if t.urls != "" {
		ice.External = t.urlList()
		log.Info("TURN credentials for an external server", "urls", strings.Join(ice.External, ","), "ttl", t.ttl)
		return nil, ice, nil
	}
	lo, hi, _ := t.portRange() // validated
	addr := t.addr
	if !t.addrExplicit {
		// Serve TURN where the lobby is served: --addr 127.0.0.1:8080 keeps TURN on loopback too.
		if host, _, err := net.SplitHostPort(httpAddr); err == nil && !unspecified(host) {
			_, port, _ := net.SplitHostPort(t.addr)
			addr = net.JoinHostPort(host, port)
		}
	}
	srv, err := turn.Listen(turn.Config{
		Addr:                 addr,
		AltPort:              httpPort,
		PublicIP:             net.ParseIP(t.publicIP),
		RelayPortMin:         lo,
		RelayPortMax:         hi,
		Credentials:          ice.Credentials,
		MaxAllocations:       t.maxAllocations,
		MaxMemberAllocations: t.memberAllocs,
		MemberRate:           int64(t.memberRate),
		TotalRate:            int64(t.totalRate),
		Logger:               log,
	})
	if err != nil {
		if t.addrExplicit {
			return nil, nil, fmt.Errorf("STUN/TURN cannot listen on --turn-addr %s: %v (choose another address, or --turn=false)", addr, err)
		}
		log.Warn("!!! TURN IS OFF: its default port is not available, so peers behind strict NATs or firewalls will NOT connect; "+
			"free the port, set --turn-addr, or silence this with --turn=false", "addr", addr, "err", err)
		return nil, &turn.ICE{Extra: extra}, nil
	}
	if turnHost, _, _ := net.SplitHostPort(addr); t.addrExplicit && !unspecified(turnHost) && unspecifiedAddr(httpAddr) {
		log.Warn("STUN/TURN listen on one address while the lobby listens on all: members who reach the lobby by "+
			"another address get STUN/TURN URLs where nothing listens", "turn-addr", addr, "addr", httpAddr)
	}
	ice.Server, ice.HTTPTurn, ice.Host = srv, true, t.host
	relay := "the address each client reached"
	if t.publicIP != "" {
		relay = t.publicIP
	}
	log.Info("STUN and TURN", "udp+tcp", strings.Join(srv.Addrs(), ","), "also-udp-port", srv.AltPort(),
		"also-tcp-port", httpPort, "relay-address", relay, "relay-ports", cmp.Or(t.relayPorts, "any"), "credential-ttl", t.ttl)
	return srv, ice, nil
}

// unspecified reports whether host means every address ("", 0.0.0.0, ::).
func unspecified(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// unspecifiedAddr is unspecified for a host:port.
func unspecifiedAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && unspecified(host)
}
