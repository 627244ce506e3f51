package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
	"github.com/p2plobby/p2plobby/internal/transport"
)

// peerJSConfig is the PeerServer-compatible endpoint (docs/peerjs.md). The flags mirror PeerServer's options
// of the same names.
type peerJSConfig struct {
	path            string
	keys            string
	expireTimeout   time.Duration
	aliveTimeout    time.Duration
	concurrentLimit int
	allowDiscovery  bool
}

// PeerServer's defaults.
const (
	defaultPeerJSExpire          = 5 * time.Second
	defaultPeerJSConcurrentLimit = 5000
)

func (p *peerJSConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&p.path, "peerjs-path", "/peerjs", "`path` of the PeerServer-compatible endpoint (the PeerJS client's path option); / serves a PeerServer's default paths beside the app; empty or off turns PeerJS off")
	fs.StringVar(&p.keys, "peerjs-key", "peerjs", "comma-separated PeerJS API `keys` (the client's key option); each is a realm of its own")
	fs.DurationVar(&p.expireTimeout, "peerjs-expire-timeout", defaultPeerJSExpire, "how long a message to a PeerJS id that is not connected waits for it before its sender gets EXPIRE")
	fs.DurationVar(&p.aliveTimeout, "peerjs-alive-timeout", transport.DefaultAliveTimeout, "a PeerJS client that sent no HEARTBEAT for this long is disconnected")
	fs.IntVar(&p.concurrentLimit, "peerjs-concurrent-limit", defaultPeerJSConcurrentLimit, "PeerJS clients per key, over all nodes; 0 for no limit")
	fs.BoolVar(&p.allowDiscovery, "peerjs-allow-discovery", false, "list the connected PeerJS ids at {path}/{key}/peers")
}

func (p *peerJSConfig) validate() error {
	if p.path == "off" {
		p.path = ""
	}
	if p.path == "" {
		return nil
	}
	if !strings.HasPrefix(p.path, "/") || strings.ContainsAny(p.path, "?#") {
		return fmt.Errorf("--peerjs-path: want a path like /peerjs, not %q", p.path)
	}
	switch strings.TrimRight(p.path, "/") {
	case "/ws", "/healthz", "/readyz", "/app", "/sdk":
		return fmt.Errorf("--peerjs-path: %s is the server's own", p.path)
	}
	for _, k := range p.keyList() {
		if !protocol.ValidRoom(k) {
			return fmt.Errorf("--peerjs-key: %q is not 1-64 characters of A-Z a-z 0-9 '-' '_' '.'", k)
		}
	}
	if len(p.keyList()) == 0 {
		return fmt.Errorf("--peerjs-key: at least one key")
	}
	if p.expireTimeout <= 0 || p.aliveTimeout <= 0 {
		return fmt.Errorf("--peerjs-expire-timeout and --peerjs-alive-timeout must be positive")
	}
	if p.concurrentLimit < 0 {
		return fmt.Errorf("--peerjs-concurrent-limit must not be negative (0 turns the limit off)")
	}
	return nil
}

func (p *peerJSConfig) keyList() []string {
	var keys []string
	for k := range strings.SplitSeq(p.keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// transport returns the endpoint's settings, or nil when it is off.
func (p *peerJSConfig) transport() *transport.PeerJS {
	if p.path == "" {
		return nil
	}
	return &transport.PeerJS{Path: p.path, Keys: p.keyList(), AliveTimeout: p.aliveTimeout, AllowDiscovery: p.allowDiscovery}
}

// realm returns the hub's share.
func (p *peerJSConfig) realm() hub.RealmConfig {
	return hub.RealmConfig{
		MaxMembers: p.concurrentLimit,
		Park:       p.expireTimeout,
		Expired:    protocol.PeerJSExpireFrame,
		Taken:      protocol.PeerJSIDTakenFrame,
	}
}
