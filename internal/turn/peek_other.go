//go:build !unix

package turn

import "net"

func peekByte(c net.Conn) (byte, net.Conn, error) { return readByte(c) }
