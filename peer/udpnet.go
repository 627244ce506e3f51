package peer

import (
	"net"

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
	}
	return c, nil
}
