//go:build linux

package peer

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// batchPair returns a batchConn and a receiving socket on loopback (batched too when groRecv).
func batchPair(t *testing.T, network, host string, groRecv bool) (*batchConn, interface {
	ReadFromAddrPort([]byte) (int, netip.AddrPort, error)
	SetReadDeadline(time.Time) error
}, netip.AddrPort) {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
		if err != nil {
			t.Skipf("no %s loopback: %v", network, err)
		}
		c.SetReadBuffer(udpBuffer)
		t.Cleanup(func() { c.Close() })
		return c
	}
	tx := newBatchConn(listen())
	if tx == nil {
		t.Fatal("newBatchConn refused a UDP socket")
	}
	t.Cleanup(func() { tx.Close() })
	rxc := listen()
	dst := rxc.LocalAddr().(*net.UDPAddr).AddrPort()
	if !groRecv {
		return tx, plainReader{rxc}, dst
	}
	rx := newBatchConn(rxc)
	if rx == nil {
		t.Fatal("newBatchConn refused a UDP socket")
	}
	t.Cleanup(func() { rx.Close() })
	return tx, rx, dst
}

type plainReader struct{ *net.UDPConn }

func (p plainReader) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return p.ReadFromUDPAddrPort(b)
}

// datagram i of the test stream: runs of equal sizes (GSO material), shorter ends of runs, an empty one, one
// larger than a queue slot, each with its index in front so that order and content are checked.
func testDatagram(i int) []byte {
	size := 1228
	switch {
	case i%57 == 56:
		size = 300 // a run's short tail
	case i%101 == 100:
		size = 12 // a lone small one (a SACK)
	case i == 500:
		size = 5000 // over batchSlot
	}
	b := bytes.Repeat([]byte{byte(i)}, size)
	copy(b, fmt.Sprintf("%06d", i))
	return b
}

// TestBatchConnOrder sends a stream through a batchConn (asynchronous, sendmmsg, GSO) and reads it back, with
// and without GRO on the receiving side, IPv4 and IPv6: every datagram arrives whole, once, in order.
func TestBatchConnOrder(t *testing.T) {
	for _, tc := range []struct {
		name, network, host string
		gro                 bool
	}{
		{"v4-gro", "udp4", "127.0.0.1", true},
		{"v4-plain", "udp4", "127.0.0.1", false},
		{"v6-gro", "udp6", "::1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, rx, dst := batchPair(t, tc.network, tc.host, tc.gro)
			const n, window = 2000, 100 // at most window datagrams in flight: loopback drops nothing
			got := make(chan []byte, window)
			go func() {
				defer close(got)
				buf := make([]byte, 9000)
				for {
					rx.SetReadDeadline(time.Now().Add(5 * time.Second))
					k, _, err := rx.ReadFromAddrPort(buf)
					if err != nil {
						return
					}
					got <- bytes.Clone(buf[:k])
				}
			}()
			sent := 0
			for i := 0; i < n; i++ {
				for sent < n && sent-i < window {
					if _, err := tx.WriteToAddrPort(testDatagram(sent), dst); err != nil {
						t.Fatal(err)
					}
					sent++
				}
				b, ok := <-got
				if !ok {
					t.Fatalf("datagram %d never arrived", i)
				}
				if want := testDatagram(i); !bytes.Equal(b, want) {
					t.Fatalf("datagram %d: got %d bytes starting %q, want %d bytes starting %q", i, len(b), b[:min(6, len(b))], len(want), want[:6])
				}
			}
		})
	}
}

// TestBatchConnCloseFlushes: datagrams queued right before Close still leave, and later writes fail.
func TestBatchConnCloseFlushes(t *testing.T) {
	tx, rx, dst := batchPair(t, "udp4", "127.0.0.1", false)
	const n = batchQueue * 2
	for i := range n {
		if _, err := tx.WriteToAddrPort(testDatagram(i), dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9000)
	for i := range n {
		rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := rx.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:k], testDatagram(i)) {
			t.Fatalf("datagram %d differs", i)
		}
	}
	if _, err := tx.WriteToAddrPort([]byte("late"), dst); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v, want net.ErrClosed", err)
	}
	tx.Close() // returns (net.UDPConn's error for a closed socket) rather than waiting for the sender again
}

// TestBatchConnWrongFamily: a datagram to an address the socket's family cannot reach is dropped, and the
// datagrams around it still go.
func TestBatchConnWrongFamily(t *testing.T) {
	tx, rx, dst := batchPair(t, "udp4", "127.0.0.1", true)
	v6 := netip.MustParseAddrPort("[2001:db8::1]:9")
	for i, to := range []netip.AddrPort{dst, v6, dst} {
		if _, err := tx.WriteToAddrPort(testDatagram(i), to); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 9000)
	for _, i := range []int{0, 2} {
		rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := rx.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:k], testDatagram(i)) {
			t.Fatalf("got %q…, want datagram %d", buf[:6], i)
		}
	}
}
