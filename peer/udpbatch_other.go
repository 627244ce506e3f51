//go:build !linux

package peer

import (
	"net"

	"github.com/pion/transport/v5"
)

// batchUDP leaves c as it is: batched UDP is Linux only (udpbatch_linux.go).
func batchUDP(c *net.UDPConn) transport.UDPConn { return c }
