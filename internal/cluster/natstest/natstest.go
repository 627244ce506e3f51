// Package natstest runs real NATS servers inside a test process: a cluster of servers on loopback with
// random ports, and a proxy that can cut a client off silently. Nothing to install, nothing external.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is n NATS servers routed to each other, shut down when the test ends.
type Cluster struct {
	Servers []*server.Server
	opts    []*server.Options
	ports   []int
}

// Start starts n servers (n ≥ 1) on 127.0.0.1: the first is the seed, the others route to it and gossip
// completes the full mesh. It returns once every server sees the n-1 others.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	seed := ""
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("s%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			NoLog:      true,
			NoSigs:     true,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "p2pl-test", Host: "127.0.0.1", Port: -1}
			if seed != "" {
				opts.Routes = server.RoutesFromStr(seed)
			}
		}
		s := run(t, opts)
		if i == 0 && n > 1 {
			seed = "nats://" + s.ClusterAddr().String()
		}
		c.Servers = append(c.Servers, s)
		c.opts = append(c.opts, opts)
		c.ports = append(c.ports, s.Addr().(*net.TCPAddr).Port)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !c.formed() {
		if time.Now().After(deadline) {
			t.Fatal("nats cluster did not form in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

// Restart starts server i again, on its old client port, after it was shut down.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	opts := c.opts[i].Clone()
	opts.Port = c.ports[i]
	c.Servers[i] = run(t, opts)
}

// run starts a server, shut down when the test ends, and waits until it takes clients.
func run(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server %s: %v", opts.ServerName, err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats server %s not ready", opts.ServerName)
	}
	return s
}

func (c *Cluster) formed() bool {
	for _, s := range c.Servers {
		if s.Running() && s.NumRemotes() != c.running()-1 {
			return false
		}
	}
	return true
}

func (c *Cluster) running() int {
	n := 0
	for _, s := range c.Servers {
		if s.Running() {
			n++
		}
	}
	return n
}

// URLs lists every server's client URL, comma-separated, starting with server first: a client connects
// to that one and fails over to the others.
func (c *Cluster) URLs(first int) string {
	var u []string
	for i := range c.Servers {
		u = append(u, c.Servers[(first+i)%len(c.Servers)].ClientURL())
	}
	return strings.Join(u, ",")
}

// Proxy forwards loopback TCP to a server and can cut its clients off silently: while cut it moves no bytes
// (no FIN, no RST, like a pulled cable) and refuses new connections; Heal closes the stale connections and
// accepts again. Clients behind it need nats.IgnoreDiscoveredServers, or they fail over around it.
type Proxy struct {
	l     net.Listener
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

// NewProxy starts a proxy to target (host:port), closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l}
	t.Cleanup(func() { l.Close(); p.closeAll() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			s, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

// URL is the proxy's address as a NATS URL.
func (p *Proxy) URL() string { return "nats://" + p.l.Addr().String() }

func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			continue // swallowed: neither side learns
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			src.Close()
			return
		}
	}
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Cut stops all traffic through the proxy, silently.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
}

// Heal lets clients through again; their stale connections are closed, so they reconnect.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
	p.closeAll()
}
