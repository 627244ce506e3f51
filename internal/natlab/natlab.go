// Package natlab builds a small internet of Linux network namespaces for a test: a public segment (a bridge
// holding the server address 10.99.0.1), a sink that silently drops everything addressed elsewhere, hosts with
// public addresses, and home networks behind routers that NAT like real ones (full cone, port-restricted cone,
// symmetric, TCP-only egress). Programs run inside a host with Host.Command, so a test can place a server, a Go
// peer or a browser anywhere in it.
//
// It drives the ip and nft commands (iproute2, nftables) and needs root; Available says whether it can run.
// Each NAT type was checked by hand (mapping and filtering, two hosts behind one router) before being written
// here. A fresh namespace gets its sysctls before any link exists, and links are made with one `ip -batch` per
// namespace. Each lab uses a
// namespace prefix of its own, so labs of parallel test processes never meet, and New's cleanup kills every
// process left in its namespaces before deleting them (a leftover process would keep a namespace alive).
//
// Addresses: public hosts 10.99.0.50, .51, …; the router of the Nth home network (N from 1, in Config order)
// has 10.99.0.(10+N) on the public segment and 192.168.N.1 inside, and its hosts 192.168.N.10, .11, …
// Hosts of different home networks have no route to each other's LAN (192.168.0.0/16 goes to the sink),
// and no router hairpins.
package natlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ServerIP is the address of the public namespace (Lab.Server): where a test runs its servers.
const ServerIP = "10.99.0.1"

// TCPOnlyPort is the one TCP port of ServerIP that hosts behind a TCPOnly router can reach.
const TCPOnlyPort = 3333

const sinkIP = "10.99.0.254"

// NAT is how a network is connected to the public segment.
type NAT int

// Network types.
const (
	None           NAT = iota // (a) no NAT: the hosts sit on the public segment with public addresses
	FullCone                  // (b) endpoint-independent mapping and filtering, for UDP
	PortRestricted            // (c) endpoint-independent mapping, address-and-port-dependent filtering
	Symmetric                 // (d) a new external port per destination
	TCPOnly                   // (e) only TCP to ServerIP:TCPOnlyPort leaves the network
)

func (n NAT) String() string {
	switch n {
	case None:
		return "no NAT"
	case FullCone:
		return "full cone"
	case PortRestricted:
		return "port-restricted cone"
	case Symmetric:
		return "symmetric"
	case TCPOnly:
		return "TCP-only egress"
	}
	return fmt.Sprintf("NAT(%d)", int(n))
}

// Network is one network of a Config.
type Network struct {
	Name  string // lower-case letters and digits, at most 8; names the hosts (Name-a, Name-b, …)
	NAT   NAT
	Hosts int // how many hosts, 1 to 26
}

// Config describes a lab.
type Config struct {
	Networks []Network // the address plan allows 39 networks behind a NAT, and 200 public hosts in all
}

// Host is a machine of the lab: a network namespace with one interface (eth0) and a default route.
type Host struct {
	Name     string // "server" for Lab.Server, else the network's name and the host's letter, e.g. "b1-a"
	NS       string // the network namespace
	IP       string // its address on eth0 (br0 for the server)
	PublicIP string // the address others see: IP, or its router's public address behind a NAT
	NAT      NAT    // the type of its network

	lab *Lab
}

// Lab is a running lab. Its namespaces are deleted at the end of the test that made it.
type Lab struct {
	// Server is the public namespace itself, holding ServerIP on the public bridge.
	Server *Host

	ctx    context.Context // canceled at cleanup: kills every process started with Command
	hosts  map[string]*Host
	byNet  map[string][]*Host
	spaces []string // every namespace, for cleanup
}

var labCount atomic.Int64

// newLab returns an empty lab whose teardown is registered with t.Cleanup, and the prefix of its namespaces'
// names (unique to this process and lab).
func newLab(t testing.TB) (*Lab, string) {
	prefix := fmt.Sprintf("p2pl%d-%d-", os.Getpid(), labCount.Add(1))
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lab{ctx: ctx, hosts: map[string]*Host{}, byNet: map[string][]*Host{}}
	t.Cleanup(func() {
		cancel()
		if err := l.teardown(); err != nil {
			t.Errorf("natlab: teardown: %v", err)
		}
	})
	return l, prefix
}

// New builds the lab described by cfg and registers its teardown with t.Cleanup: it kills the processes
// started in it (with Command or otherwise), then deletes its namespaces. It fails t if the lab cannot be built.
func New(t testing.TB, cfg Config) *Lab {
	t.Helper()
	l, prefix := newLab(t)
	if err := l.build(t.TempDir(), prefix, cfg); err != nil {
		t.Fatalf("natlab: %v", err)
	}
	return l
}

// Host returns the host named name (e.g. "b1-a"), or nil.
func (l *Lab) Host(name string) *Host { return l.hosts[name] }

// Hosts returns the hosts of the network named network, in order.
func (l *Lab) Hosts(network string) []*Host { return l.byNet[network] }

// Command is CommandContext with no deadline of its own: the process lives until it exits or the lab ends.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return h.CommandContext(context.Background(), name, args...)
}

// CommandContext returns a command that runs name inside the host's namespace (through `ip netns exec`, which
// execs it: the process is name itself). It is killed, with its process group, when ctx ends or the lab ends.
func (h *Host) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(h.lab.ctx, cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	h.Enter(cmd)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A grandchild that keeps stdout or stderr open must not hang Wait after the kill.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Enter changes cmd, not yet started, to run inside the host's namespace: for commands another package makes,
// e.g. a browser launcher's (chromedp.ModifyCmdFunc(host.Enter)). The process gets a process group of its own,
// and SIGKILL if the test process dies (when its -timeout kills it, no cleanup runs). The lab's cleanup kills it
// in any case.
func (h *Host) Enter(cmd *exec.Cmd) {
	if cmd.Err != nil { // name not found: Start reports it
		return
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		cmd.Err = err
		return
	}
	cmd.Args = append([]string{"ip", "netns", "exec", h.NS, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = ip
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

func (h *Host) String() string { return h.Name }

var netName = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// build creates the namespaces, then links and addresses (public segment, routers, hosts).
func (l *Lab) build(dir, prefix string, cfg Config) error {
	pub, sink := prefix+"pub", prefix+"sink"
	l.Server = &Host{Name: "server", NS: pub, IP: ServerIP, PublicIP: ServerIP, NAT: None, lab: l}
	l.spaces = []string{pub, sink}

	// Plan every namespace and link first, so the ip commands below are a few batches.
	type router struct {
		ns, wan, veth, nft string
		n                  int
		hosts              []*Host
	}
	var routers []*router
	var public []*Host
	for _, nw := range cfg.Networks {
		if !netName.MatchString(nw.Name) || l.byNet[nw.Name] != nil || nw.Hosts < 1 || nw.Hosts > 26 {
			return fmt.Errorf("bad or duplicate network %+v", nw)
		}
		var r *router
		if nw.NAT != None {
			n := len(routers) + 1
			// Hosts are Name-<letter>, so Name-gw cannot clash with them, nor pub and sink with anything.
			r = &router{ns: prefix + nw.Name + "-gw", wan: fmt.Sprintf("10.99.0.%d", 10+n),
				veth: fmt.Sprintf("r%d", n), nft: ruleset(nw.NAT), n: n}
			routers = append(routers, r)
			l.spaces = append(l.spaces, r.ns)
		}
		for i := range nw.Hosts {
			h := &Host{Name: fmt.Sprintf("%s-%c", nw.Name, 'a'+i), NAT: nw.NAT, lab: l}
			h.NS = prefix + h.Name
			if r == nil {
				h.IP = fmt.Sprintf("10.99.0.%d", 50+len(public))
				h.PublicIP = h.IP
				public = append(public, h)
			} else {
				h.IP, h.PublicIP = fmt.Sprintf("192.168.%d.%d", r.n, 10+i), r.wan
				r.hosts = append(r.hosts, h)
			}
			l.hosts[h.Name] = h
			l.byNet[nw.Name] = append(l.byNet[nw.Name], h)
			l.spaces = append(l.spaces, h.NS)
		}
	}
	if len(routers) > 39 || len(public) > 200 {
		return errors.New("too many networks or public hosts for the address plan")
	}

	// 1. Namespaces, their sysctls (before any link exists: new interfaces copy conf/default), rulesets.
	// One `ip -batch` in the root namespace runs them all (it forks for `netns exec`).
	// -e: a kernel without br_netfilter or IPv6 lacks those keys, and then needs no setting for them either.
	common := "net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 " +
		"net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0"
	// Bridged frames must not pass the router's forward chain (the TCP-only one would drop LAN traffic).
	const nobrnf = " net.bridge.bridge-nf-call-iptables=0"
	var b strings.Builder
	for _, ns := range l.spaces {
		fmt.Fprintf(&b, "netns add %s\n", ns)
	}
	for _, ns := range l.spaces {
		extra := ""
		switch {
		case ns == pub:
			extra = nobrnf
		case strings.HasSuffix(ns, "-gw"):
			extra = nobrnf + " net.ipv4.ip_forward=1"
		}
		fmt.Fprintf(&b, "netns exec %s sysctl -qew %s%s\n", ns, common, extra)
	}
	sinkFile := filepath.Join(dir, "sink.nft")
	if err := os.WriteFile(sinkFile, []byte(sinkRules), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(&b, "netns exec %s nft -f %s\n", sink, sinkFile)
	for _, r := range routers {
		file := filepath.Join(dir, r.veth+".nft")
		if err := os.WriteFile(file, []byte(r.nft), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&b, "netns exec %s nft -f %s\n", r.ns, file)
	}
	if err := ipBatch("", b.String()); err != nil {
		return err
	}

	// 2. The public segment: bridge, server address, and every veth onto the bridge (the other end is created
	// directly in its namespace). Default route to the sink: without one, sends to unknown addresses fail with
	// ENETUNREACH instead of vanishing, which e.g. makes a TURN server drop allocations.
	b.Reset()
	fmt.Fprintf(&b, "link set lo up\nlink add br0 address 02:99:00:00:00:01 type bridge\n"+
		"addr add %s/24 dev br0\nlink set br0 up\nroute add default via %s\n", ServerIP, sinkIP)
	port := func(name, peerName, peerNS string) {
		fmt.Fprintf(&b, "link add %s type veth peer name %s netns %s\nlink set %s master br0 up\n", name, peerName, peerNS, name)
	}
	port("sink", "eth0", sink)
	for i, h := range public {
		port(fmt.Sprintf("p%d", i), "eth0", h.NS)
	}
	for _, r := range routers {
		port(r.veth, "wan", r.ns)
	}
	if err := ipBatch(pub, b.String()); err != nil {
		return err
	}

	// 3. Everything else, concurrently: namespaces only touch their own links from here on, except that
	// a router creates its hosts' veths, so a NATed host waits for its router.
	hostLines := func(ip, gw string) string {
		s := fmt.Sprintf("link set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\n", ip)
		if gw != "" {
			s += "route add default via " + gw + "\n"
		}
		return s
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(l.spaces))
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	run(func() error { return ipBatch(sink, hostLines(sinkIP, "")) })
	for _, h := range public {
		run(func() error { return ipBatch(h.NS, hostLines(h.IP, sinkIP)) })
	}
	for _, r := range routers {
		run(func() error {
			var rb strings.Builder
			fmt.Fprintf(&rb, "link set lo up\naddr add %s/24 dev wan\nlink set wan up\nroute add default via %s\n"+
				"link add lan address 02:99:00:00:01:%02x type bridge\naddr add 192.168.%d.1/24 dev lan\nlink set lan up\n",
				r.wan, sinkIP, r.n, r.n)
			for i, h := range r.hosts {
				fmt.Fprintf(&rb, "link add h%d type veth peer name eth0 netns %s\nlink set h%d master lan up\n", i, h.NS, i)
			}
			if err := ipBatch(r.ns, rb.String()); err != nil {
				return err
			}
			for _, h := range r.hosts {
				if err := ipBatch(h.NS, hostLines(h.IP, fmt.Sprintf("192.168.%d.1", r.n))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	wg.Wait()
	close(errs)
	return <-errs // the first error, if any
}

// ipBatch runs `ip [-n ns] -batch -` with lines on stdin.
func ipBatch(ns, lines string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdin = strings.NewReader(lines)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// teardown kills whatever still runs in the lab's namespaces (processes started with Command are already
// being killed, through the lab's context), then deletes the namespaces.
func (l *Lab) teardown() error {
	if len(l.spaces) == 0 {
		return nil
	}
	var pids, del strings.Builder
	for _, ns := range l.spaces {
		fmt.Fprintf(&pids, "netns pids %s\n", ns)
		fmt.Fprintf(&del, "netns del %s\n", ns)
	}
	// Killed processes leave their namespace at once (zombies hold none), so this ends within a few rounds.
	for try := 0; ; try++ {
		cmd := exec.Command("ip", "-force", "-batch", "-") // -force: namespaces that were never made are no error
		cmd.Stdin = strings.NewReader(pids.String())
		out, _ := cmd.Output()
		left := strings.Fields(string(out))
		if len(left) == 0 {
			break
		}
		if try == 50 {
			return fmt.Errorf("processes %v still run in the lab's namespaces", left)
		}
		for _, p := range left {
			var pid int
			if _, err := fmt.Sscan(p, &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd := exec.Command("ip", "-force", "-batch", "-")
	cmd.Stdin = strings.NewReader(del.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("deleting namespaces: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

var (
	availOnce sync.Once
	availErr  error
)

// Available reports why a lab cannot be built here (nil if it can): it needs root, ip and nft, and makes a
// probe namespace with a bridge, a veth pair and the NAT rulesets. The answer is computed once per process.
func Available() error {
	availOnce.Do(func() { availErr = probe() })
	return availErr
}

func probe() error {
	if os.Geteuid() != 0 {
		return errors.New("not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	for _, tool := range []string{"ip", "nft", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (Debian packages iproute2, nftables, procps)", tool)
		}
	}
	ns := fmt.Sprintf("p2pl%d-probe", os.Getpid())
	defer exec.Command("ip", "netns", "del", ns).Run()
	if err := ipBatch("", "netns add "+ns+"\n"); err != nil {
		return err
	}
	if err := ipBatch(ns, "link add br0 type bridge\nlink add v0 type veth peer name v1\nlink set v0 master br0\n"); err != nil {
		return err
	}
	// Every ruleset, each after a flush: this checks the nft features they use (dynamic maps, priorities).
	var rules strings.Builder
	for _, n := range []NAT{FullCone, PortRestricted, Symmetric, TCPOnly} {
		rules.WriteString("flush ruleset\n" + ruleset(n) + "\n")
	}
	rules.WriteString("flush ruleset\n" + sinkRules)
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// The rulesets, each checked by hand against its NAT type's definition. Every router drops unknown packets arriving
// on its public side ("wan") silently, instead of answering with ICMP, like home routers do.

const sinkRules = `table inet sink {
  chain prerouting {
    type filter hook prerouting priority raw; policy drop;
  }
}
`

const dropUnsolicited = `table inet filter {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" drop
  }
}
`

func ruleset(n NAT) string {
	switch n {
	case FullCone:
		return fullConeRules + dropUnsolicited
	case PortRestricted:
		// Plain masquerade keeps the source port (endpoint-independent mapping); conntrack admits only replies
		// from the exact address and port a packet went to.
		return "table ip natlab {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n" +
			"    oifname \"wan\" masquerade\n  }\n}\n" + dropUnsolicited
	case Symmetric:
		return "table ip natlab {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n" +
			"    oifname \"wan\" masquerade fully-random\n  }\n}\n" + dropUnsolicited
	case TCPOnly:
		return "table ip natlab {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n" +
			"    oifname \"wan\" masquerade\n  }\n}\n" + dropUnsolicited + fmt.Sprintf(`table inet egress {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" ip daddr %s tcp dport %d accept
  }
}
`, ServerIP, TCPOnlyPort)
	}
	return ""
}

// Full cone for UDP, from two dynamic maps filled by outgoing packets after SNAT: fcudp (external port →
// inside endpoint) lets anyone in; fcrev (inside endpoint → external address) keeps an endpoint's mapping for
// every destination. "update" never replaces an element's data, so postrouting must never give an external
// port that is in fcudp to another endpoint: reuse the endpoint's mapping, else pick a random port if its own
// port is taken, else keep its port. Mappings expire 120 s after the last outgoing packet.
const fullConeRules = `table ip natlab {
  map fcudp {
    type inet_service : ipv4_addr . inet_service
    flags dynamic,timeout
    timeout 120s
  }
  map fcrev {
    type ipv4_addr . inet_service : ipv4_addr . inet_service
    flags dynamic,timeout
    timeout 120s
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan" dnat ip to udp dport map @fcudp
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" snat ip to ip saddr . udp sport map @fcrev
    oifname "wan" udp sport @fcudp masquerade random
    oifname "wan" masquerade
  }
  chain learn {
    type filter hook postrouting priority srcnat + 1; policy accept;
    oifname "wan" meta l4proto udp ct direction original update @fcudp { udp sport : ct original ip saddr . ct original proto-src }
    oifname "wan" meta l4proto udp ct direction original update @fcrev { ct original ip saddr . ct original proto-src : ip saddr . udp sport }
    oifname "wan" meta l4proto udp ct direction reply update @fcudp { udp sport : ct reply ip saddr . ct reply proto-src }
    oifname "wan" meta l4proto udp ct direction reply update @fcrev { ct reply ip saddr . ct reply proto-src : ip saddr . udp sport }
  }
}
`
