//go:build unix

package transport

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

// pollBufSize is the read buffer a connection borrows while bytes are waiting on its socket: big enough
// that a typical signaling message, or a burst of them, takes one read syscall.
const pollBufSize = 16 << 10

// rawSockets tells whether this platform has rawSocket.
const rawSockets = true

var pollBufs = sync.Pool{New: func() any { return new([pollBufSize]byte) }}

// rawSocket is a connection's socket seen through syscall.RawConn. As an io.Reader it reads through a
// buffer borrowed from a pool only while data is waiting: it waits for readability with no buffer in hand
// (RawConn.Read retries once the socket is readable), so an idle connection holds no read buffer at all and
// a busy one reads a whole message in one syscall. Deadlines set on the net.Conn apply. It also writes
// without blocking (tryWrite) and shuts the socket down (shutdown).
type rawSocket struct {
	rc   syscall.RawConn
	buf  *[pollBufSize]byte // nil when nothing is buffered
	r, w int
	// extend, if set, lifts the read deadline when it expires inside Read, which then goes on waiting.
	extend func()
}

// newRawSocket returns a reader over rc that first returns the bytes in pending (read ahead by the HTTP
// server before the upgrade).
func newRawSocket(rc syscall.RawConn, pending []byte) *rawSocket {
	p := &rawSocket{rc: rc}
	if len(pending) > 0 {
		p.buf = pollBufs.Get().(*[pollBufSize]byte)
		p.w = copy(p.buf[:], pending) // pending comes from a 4 KiB bufio.Reader, so it fits
	}
	return p
}

func (p *rawSocket) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for p.buf == nil {
		var err error
		if len(b) >= pollBufSize/2 {
			var n int
			if n, err = p.read(b, false); err == nil {
				return n, nil // large payloads go straight to their destination
			}
		} else {
			_, err = p.read(nil, true)
		}
		if err == nil {
			break
		}
		if p.extend == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
		p.extend() // a deadline meant for the wait between messages, not for the rest of one
	}
	n := copy(b, p.buf[p.r:p.w])
	p.r += n
	if p.r == p.w {
		p.release()
	}
	return n, nil
}

// buffered reports how many read bytes wait in the buffer.
func (p *rawSocket) buffered() int { return p.w - p.r }

// read does one read syscall, waiting for readability first if needed: into dst, or (fill) into a pooled
// buffer that is taken only once the socket has data.
func (p *rawSocket) read(dst []byte, fill bool) (int, error) {
	var n int
	var serr error
	err := p.rc.Read(func(fd uintptr) bool {
		b := dst
		if fill {
			if p.buf == nil {
				p.buf = pollBufs.Get().(*[pollBufSize]byte)
			}
			b = p.buf[:]
		}
		for {
			n, serr = sysRead(int(fd), b)
			if serr != syscall.EINTR {
				break
			}
		}
		if serr == syscall.EAGAIN {
			if fill {
				p.release() // nothing to read: wait without holding the buffer
			}
			return false
		}
		return true
	})
	switch {
	case err != nil:
	case serr != nil:
		err = serr
	case n == 0:
		err = io.EOF
	}
	if err != nil {
		if fill {
			p.release()
		}
		return 0, err
	}
	if fill {
		p.r, p.w = 0, n
	}
	return n, nil
}

// serve reads the socket and calls handle for each whole frame read, inside one RawConn.Read: after a read that
// returned data and whose frames are all handled, it waits for the socket's next readiness edge instead of
// reading again only to get EAGAIN. That saves a syscall per message on a connection that sends one message
// and waits for the answer (a signaling exchange). Only whole frames are handled here (handle must not read
// past what is buffered: a nested read would deadlock on the socket's read lock); serve returns when the
// buffer holds part of a frame, which the caller then reads with Read, when handle returns false (stop), on
// the read deadline (err), or at the end of the stream (err).
func (p *rawSocket) serve(handle func() bool) (stop bool, err error) {
	if p.buffered() > 0 {
		return false, nil
	}
	var serr error
	eof := false
	err = p.rc.Read(func(fd uintptr) bool {
		if p.buf == nil {
			p.buf = pollBufs.Get().(*[pollBufSize]byte)
		}
		var n int
		for {
			n, serr = sysRead(int(fd), p.buf[:])
			if serr != syscall.EINTR {
				break
			}
		}
		switch {
		case serr == syscall.EAGAIN:
			p.release() // nothing to read: wait without holding the buffer
			serr = nil
			return false
		case serr != nil:
			return true
		case n == 0:
			eof = true
			return true
		}
		p.r, p.w = 0, n
		for p.buffered() > 0 {
			if !wholeFrame(p.buf[p.r:p.w]) {
				return true
			}
			if !handle() {
				stop = true
				return true
			}
		}
		return false // Read released the emptied buffer
	})
	switch {
	case err != nil:
	case serr != nil:
		err = serr
	case eof:
		err = io.EOF
	}
	if err != nil {
		p.release()
	}
	return stop, err
}

// wholeFrame tells whether b begins with a whole WebSocket frame (RFC 6455 section 5.2).
func wholeFrame(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	n, size := 2, int64(b[1]&0x7f)
	switch size {
	case 126:
		if len(b) < 4 {
			return false
		}
		n, size = 4, int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return false
		}
		n, size = 10, int64(binary.BigEndian.Uint64(b[2:])&(1<<63-1))
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return int64(len(b)-n) >= size
}

func (p *rawSocket) release() {
	if p.buf != nil {
		pollBufs.Put(p.buf)
		p.buf = nil
	}
	p.r, p.w = 0, 0
}

// shutdown shuts the socket down both ways, waking whoever reads or writes it.
func (p *rawSocket) shutdown() {
	p.rc.Control(func(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
}

// tryWrite writes what the socket takes now, without waiting; 0 and no error if it takes nothing. A write
// deadline left in the past by an earlier blocking write also counts as nothing taken: the caller hands the
// bytes to a blocking writer, which sets a fresh deadline.
func (p *rawSocket) tryWrite(b []byte) (int, error) {
	var n int
	var serr error
	err := p.rc.Write(func(fd uintptr) bool {
		for {
			n, serr = sysWrite(int(fd), b)
			if serr != syscall.EINTR {
				return true // never wait: that is writeLoop's job
			}
		}
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil
	case err != nil:
		return 0, err
	case serr == syscall.EAGAIN:
		return 0, nil
	case serr != nil:
		return 0, serr
	}
	return n, nil
}
