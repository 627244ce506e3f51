package natlab

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func inNS(t *testing.T, ns string, f func()) {
	t.Helper()
	if err := InNS(ns, func() error { f(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestWAN checks that TCP and UDP between the two hosts of a WAN lab cross the impaired path: no round trip
// takes less than the RTT.
func TestWAN(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("natlab not available: %v", err)
	}
	const rtt = 60 * time.Millisecond
	lab, link := NewWAN(t, WANConfig{RTT: rtt, Jitter: 5 * time.Millisecond, Seed: 1, Rate: 10 << 20})
	far := lab.Host("wan-b")
	if lab.Server.IP != ServerIP || far.IP != WANIP {
		t.Fatalf("addresses %s, %s", lab.Server.IP, far.IP)
	}

	var tl net.Listener
	var ul net.PacketConn
	inNS(t, lab.Server.NS, func() {
		var err error
		if tl, err = net.Listen("tcp", ServerIP+":0"); err != nil {
			t.Error(err)
			return
		}
		if ul, err = net.ListenPacket("udp", ServerIP+":0"); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		return
	}
	defer tl.Close()
	defer ul.Close()
	go func() { // TCP echo of lines
		c, err := tl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	go func() { // UDP echo
		buf := make([]byte, 2048)
		for {
			n, from, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			ul.WriteTo(buf[:n], from)
		}
	}()

	var tc net.Conn
	var uc net.Conn
	var dialed time.Duration
	inNS(t, far.NS, func() {
		start := time.Now()
		var err error
		if tc, err = net.DialTimeout("tcp", tl.Addr().String(), 10*time.Second); err != nil {
			t.Error(err)
			return
		}
		dialed = time.Since(start)
		if uc, err = net.Dial("udp", ul.LocalAddr().String()); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		return
	}
	defer tc.Close()
	defer uc.Close()
	if dialed < rtt {
		t.Errorf("TCP handshake took %v, less than the RTT %v", dialed, rtt)
	}
	r := bufio.NewReader(tc)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	for range 3 {
		start := time.Now()
		if _, err := tc.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
			t.Fatalf("TCP echo: %q, %v", line, err)
		}
		if d := time.Since(start); d < rtt {
			t.Errorf("TCP echo took %v, less than the RTT %v", d, rtt)
		}
	}
	uc.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for range 3 {
		start := time.Now()
		if _, err := uc.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if n, err := uc.Read(buf); err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("UDP echo: %q, %v", buf[:n], err)
		}
		if d := time.Since(start); d < rtt {
			t.Errorf("UDP echo took %v, less than the RTT %v", d, rtt)
		}
	}
	if ab, ba := link.Stats(); ab.Delivered == 0 || ba.Delivered == 0 {
		t.Errorf("the link forwarded nothing: %+v, %+v", ab, ba)
	}

	// A process started in a host reaches the other host through the path (no other route exists).
	out, err := far.Command("ip", "route", "get", ServerIP).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dev wan0") {
		t.Errorf("route from wan-b to the server: %s, %v", out, err)
	}
}
