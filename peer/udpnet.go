package peer

import (
	"net"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// udpBuffer is the socket buffer asked for ICE's UDP sockets (the kernel caps it, e.g. at net.core.rmem_max).
// At data-channel speeds the usual default (≈208 KiB) overflows in bursts, and every lost packet can cost SCTP a
// retransmission timeout (at least 1 s in pion): on loopback this doubled file throughput and made it steady.
const udpBuffer = 4 << 20

// bufferedNet is the host's network with larger UDP socket buffers.
type bufferedNet struct{ *stdnet.Net }

func newBufferedNet() (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return bufferedNet{n}, nil
}

func (n bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	if uc, ok := c.(*net.UDPConn); ok {
		uc.SetReadBuffer(udpBuffer)  // best effort
		uc.SetWriteBuffer(udpBuffer) // best effort
		// ICE's sockets bind port 0; mDNS binds 5353 and is used through x/net/ipv4, so it stays plain.
		if batchedUDP && laddr != nil && laddr.Port == 0 {
			return batchUDP(uc), nil
		}
	}
	return c, nil
}

// tcpDialTimeout bounds the dial of a TURN-over-TCP server. pion dials with net.DialTCP, which waits out the
// kernel's retries (over two minutes) when a firewall drops the SYN, and closing a connection waits for
// gathering to end: a peer on such a network hung for minutes after its transfer had finished.
const tcpDialTimeout = 5 * time.Second

// DialTCP is net.DialTCP with tcpDialTimeout.
func (n bufferedNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	d := net.Dialer{Timeout: tcpDialTimeout}
	if laddr != nil {
		d.LocalAddr = laddr
	}
	c, err := d.Dial(network, raddr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// Dial is net.Dial, with tcpDialTimeout for TCP (TURN over TLS dials this way).
func (n bufferedNet) Dial(network, address string) (net.Conn, error) {
	return (&net.Dialer{Timeout: tcpDialTimeout}).Dial(network, address)
}

// batchedUDP turns the batched sockets of udpbatch_linux.go on. (It was off for a while: with it the Go peer
// opened its channel fast enough to hit a gap in Chromium, which dropped the page's first messages; the page now
// waits for the opener's hello before it speaks — docs/datachannel.md, "The opener speaks first".)
const batchedUDP = true
