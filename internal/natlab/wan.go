package natlab

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// WANIP is the address of the far host of a WAN lab (NewWAN); the near one, Lab.Server, has ServerIP.
const WANIP = "10.99.0.2"

// WANConfig describes the path between the two hosts of a WAN lab. The same impairment applies in each
// direction, each direction with its own random generators (seeded from Seed), so loss hits data and
// acknowledgements alike, as on a lossy link.
type WANConfig struct {
	RTT    time.Duration // round-trip time: each direction delays by RTT/2 (plus jitter)
	Jitter time.Duration // each direction adds a uniform [0, Jitter) per packet, keeping order (Impairment.Jitter)
	Loss   float64       // fraction of packets lost in each direction, 0 to 1
	Seed   uint64        // seeds loss and jitter: the same seed loses the same packets of each direction
	Rate   int64         // bottleneck rate in bytes/s per direction; 0: none
	// Limit is each direction's queue in bytes (Impairment.Limit). 0: the bandwidth-delay product Rate × RTT
	// (at least 64 KiB) with a Rate, else DefaultLimit.
	Limit int
}

// impairment is one direction's Impairment.
func (c WANConfig) impairment(seed uint64) Impairment {
	limit := c.Limit
	if limit <= 0 && c.Rate > 0 {
		limit = max(int(float64(c.Rate)*c.RTT.Seconds()), 64<<10)
	}
	return Impairment{Delay: c.RTT / 2, Jitter: c.Jitter, Loss: c.Loss, Seed: seed, Rate: c.Rate, Limit: limit}
}

// NewWAN builds a lab of two hosts joined by an impaired path, for measuring transfers over a WAN-like link
// (this kernel has no netem). Lab.Server (named "wan-a", address ServerIP) and Host("wan-b") (WANIP) each have
// one interface, wan0: a TUN device. The Link reads every IP packet one host sends and writes it into the
// other's TUN device after the configured impairment, so TCP, UDP and ICMP cross the same path. Programs run
// in the hosts with Host.Command or Host.Enter, as in any lab; a server placed on wan-a is reached from wan-b
// through the path. There is no default route: other destinations fail at once with ENETUNREACH.
//
// The forwarder runs in the test process (two goroutines per direction), so its CPU counts there.
// Teardown, registered with t.Cleanup, stops the Link, kills the hosts' processes and deletes the namespaces.
func NewWAN(t testing.TB, cfg WANConfig) (*Lab, *Link) {
	t.Helper()
	l, prefix := newLab(t)
	a := &Host{Name: "wan-a", NS: prefix + "wan-a", IP: ServerIP, PublicIP: ServerIP, NAT: None, lab: l}
	b := &Host{Name: "wan-b", NS: prefix + "wan-b", IP: WANIP, PublicIP: WANIP, NAT: None, lab: l}
	l.Server = a
	for _, h := range []*Host{a, b} {
		l.hosts[h.Name] = h
		l.byNet["wan"] = append(l.byNet["wan"], h)
		l.spaces = append(l.spaces, h.NS)
	}
	link, err := buildWAN(a, b, cfg)
	if err != nil {
		t.Fatalf("natlab: %v", err)
	}
	t.Cleanup(func() { link.Close() }) // runs before the teardown above
	return l, link
}

func buildWAN(a, b *Host, cfg WANConfig) (*Link, error) {
	if cfg.Loss < 0 || cfg.Loss > 1 || cfg.RTT < 0 || cfg.Jitter < 0 || cfg.Rate < 0 {
		return nil, fmt.Errorf("bad WAN config %+v", cfg)
	}
	const common = "net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"
	if err := ipBatch("", fmt.Sprintf("netns add %s\nnetns add %s\nnetns exec %s sysctl -qew %s\nnetns exec %s sysctl -qew %s\n",
		a.NS, b.NS, a.NS, common, b.NS, common)); err != nil {
		return nil, err
	}
	var files []*os.File
	for _, h := range []*Host{a, b} {
		f, err := openTUN(h.NS, "wan0")
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("TUN in %s: %w", h.NS, err)
		}
		files = append(files, f)
	}
	link := NewLink(files[0], files[1], cfg.impairment(cfg.Seed), cfg.impairment(cfg.Seed^0x9e3779b97f4a7c15))
	for _, h := range []*Host{a, b} {
		// txqueuelen is the kernel's own queue in front of the TUN device (packets the forwarder has not read
		// yet; drops there show in /sys/class/net/wan0/statistics/tx_dropped, not in LinkStats). 1000 packets
		// absorb a sender's bursts while the forwarder waits for a CPU: with 100, bursts of UDP were lost there.
		if err := ipBatch(h.NS, fmt.Sprintf("link set lo up\naddr add %s/24 dev wan0\nlink set wan0 txqueuelen 1000 up\n", h.IP)); err != nil {
			link.Close()
			return nil, err
		}
	}
	return link, nil
}

// InNS runs f on an OS thread inside the network namespace ns (a Host's NS): sockets and devices f creates
// belong to ns and stay usable from any goroutine afterwards. The thread returns to its own namespace after f
// (if it cannot, it ends with f's goroutine), so the rest of the process never runs inside ns.
func InNS(ns string, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- inNSLocked(ns, f)
	}()
	return <-done
}

func inNSLocked(ns string, f func() error) error {
	home, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return err
	}
	defer home.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		return err
	}
	err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
	target.Close()
	if err != nil {
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	ferr := f()
	if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread() // back home: the thread may serve other goroutines again
	}
	return ferr
}

// openTUN creates the TUN device name (IP packets, no packet-information header) in the network namespace ns.
// A device belongs to the namespace of the thread that creates it.
func openTUN(ns, name string) (f *os.File, err error) {
	err = InNS(ns, func() error {
		f, err = openTUNHere(name)
		return err
	})
	return f, err
}

func openTUNHere(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("/dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	// Non-blocking, so the os.File uses Go's poller and Close interrupts a pending Read.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}
