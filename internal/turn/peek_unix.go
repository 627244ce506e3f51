//go:build unix

package turn

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// peekByte returns the first byte waiting on c without consuming it, so c can be handed on as it is.
func peekByte(c net.Conn) (byte, net.Conn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return readByte(c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return readByte(c)
	}
	var b [1]byte
	var n int
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		return !errors.Is(perr, syscall.EAGAIN) && !errors.Is(perr, syscall.EINTR)
	})
	switch {
	case err != nil:
		return 0, c, err
	case perr != nil:
		return 0, c, perr
	case n == 0:
		return 0, c, io.EOF
	}
	return b[0], c, nil
}
