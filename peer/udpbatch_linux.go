//go:build linux

package peer

import (
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/transport/v5"
	"golang.org/x/sys/unix"
)

// Batched UDP for ICE's sockets on Linux (docs/benchmarks.md, "Batched UDP"). pion sends every SCTP
// packet (at most 1,191 bytes, a constant of pion's) with a sendto of its own from the association's one write
// goroutine, and receives each with a recvmsg: on a fast path those system calls, and the kernel's work for each
// datagram, were the largest share of a transfer's CPU. batchConn changes nothing on the wire:
//
//   - Writes are queued (copied) and a goroutine of the socket's own sends them, so the system calls run beside
//     pion's packetizing and encryption instead of after it. It sends whatever queued meanwhile with one
//     sendmmsg, and a run of equal-sized datagrams to one address (a data stream's full packets) as one UDP GSO
//     message (UDP_SEGMENT): the kernel cuts it into the same datagrams, at the cost of one.
//   - Reads ask for UDP GRO: datagrams from one sender that arrive together come up in one recvmsg, and are
//     handed to ICE one by one.
//
// The queue is bounded (a writer waits for room, as it would for a full socket buffer), so memory stays flat.
// A kernel that refuses GSO or GRO gets plain datagrams.
const (
	batchQueue   = 64       // datagrams queued per socket before a writer waits
	batchSlot    = 2048     // a queued datagram's buffer; larger ones get their own
	gsoMaxSegs   = 64       // UDP_MAX_SEGMENTS of older kernels
	gsoMaxBytes  = 65000    // under the 65,507 bytes of one UDP datagram's payload
	groBuffer    = 64 << 10 // one recvmsg with GRO returns at most a 64 KiB datagram
	closeFlushBy = time.Second
)

// batchConn is a UDP socket with batched, asynchronous writes and GRO reads. It implements ice's
// AddrPortReaderWriter, so ICE's candidates use ReadFromAddrPort and WriteToAddrPort.
type batchConn struct {
	*net.UDPConn // the rest of transport.UDPConn (addresses, deadlines, buffers)
	rc           syscall.RawConn
	inet6        bool // AF_INET6 socket: destinations are written as sockaddr_in6 (IPv4 mapped)

	wmu     sync.Mutex
	room    *sync.Cond // signalled when the queue has room or the socket closes
	queue   []outDatagram
	spare   [][]byte
	closing bool
	wake    chan struct{} // cap 1: the sender has work
	sent    chan struct{} // closed when the sender goroutine ends
	gso     bool          // the kernel takes UDP_SEGMENT (cleared after it refused one)

	// sender goroutine's own
	batch     []outDatagram
	hdrs      []mmsghdr
	iovs      []unix.Iovec
	names     []unix.RawSockaddrInet6
	cmsgs     []byte
	zone      string // the last IPv6 zone seen, and its interface index
	zoneIndex uint32

	rmu   sync.Mutex
	gro   bool
	rbuf  []byte
	oob   []byte
	rest  []byte // what remains of a coalesced datagram
	seg   int    // its segment size
	rfrom netip.AddrPort
}

type outDatagram struct {
	b    []byte
	addr netip.AddrPort
}

// mmsghdr is struct mmsghdr of <sys/socket.h>; Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

var gsoCmsgLen = unix.CmsgSpace(2)

// newBatchConn wraps c; it returns nil when c's socket cannot be used this way.
func newBatchConn(c *net.UDPConn) *batchConn {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	var domain int
	var gro bool
	cerr := rc.Control(func(fd uintptr) {
		domain, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		gro = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
	})
	if cerr != nil || err != nil || (domain != unix.AF_INET && domain != unix.AF_INET6) {
		return nil
	}
	b := &batchConn{
		UDPConn: c,
		rc:      rc,
		inet6:   domain == unix.AF_INET6,
		wake:    make(chan struct{}, 1),
		sent:    make(chan struct{}),
		gso:     true,
		gro:     gro,
		oob:     make([]byte, unix.CmsgSpace(4)),
	}
	b.room = sync.NewCond(&b.wmu)
	go b.sender()
	return b
}

// WriteToAddrPort queues b for addr. Like a UDP write it reports success once the datagram is handed over;
// an error of the kernel's later drops the datagram, as a full socket buffer would.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.wmu.Lock()
	for len(b.queue) >= batchQueue && !b.closing {
		b.room.Wait()
	}
	if b.closing {
		b.wmu.Unlock()
		return 0, net.ErrClosed
	}
	var buf []byte
	if n := len(b.spare); n > 0 && len(p) <= batchSlot {
		buf, b.spare = b.spare[n-1], b.spare[:n-1]
	} else if len(p) <= batchSlot {
		buf = make([]byte, batchSlot)
	} else {
		buf = make([]byte, len(p))
	}
	buf = buf[:copy(buf[:cap(buf)], p)]
	b.queue = append(b.queue, outDatagram{buf, addr})
	b.wmu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// WriteTo is WriteToAddrPort for a *net.UDPAddr.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: syscall.EINVAL}
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

// Write is not for an unconnected socket.
func (b *batchConn) Write(p []byte) (int, error) {
	return 0, &net.OpError{Op: "write", Net: "udp", Err: syscall.EDESTADDRREQ}
}

// Close sends what is queued (for up to a second) and closes the socket.
func (b *batchConn) Close() error {
	b.wmu.Lock()
	already := b.closing
	b.closing = true
	b.room.Broadcast()
	b.wmu.Unlock()
	if !already {
		select {
		case b.wake <- struct{}{}:
		default:
		}
		b.SetWriteDeadline(time.Now().Add(closeFlushBy))
		<-b.sent
	}
	return b.UDPConn.Close()
}

// sender sends the queue until the socket closes.
func (b *batchConn) sender() {
	defer close(b.sent)
	for {
		<-b.wake
		// Let the writer go on for a moment first: it usually has more of the same burst to queue, and one
		// system call for many datagrams is the point (measured: fewer calls, less CPU on both sides).
		runtime.Gosched()
		for {
			b.wmu.Lock()
			b.batch, b.queue = b.queue, b.batch[:0]
			closing := b.closing
			b.room.Broadcast()
			b.wmu.Unlock()
			if len(b.batch) == 0 {
				if closing {
					return
				}
				break
			}
			if err := b.send(b.batch); err != nil && closing {
				return
			}
			b.wmu.Lock()
			for i := range b.batch {
				if cap(b.batch[i].b) == batchSlot && len(b.spare) < batchQueue {
					b.spare = append(b.spare, b.batch[i].b)
				}
				b.batch[i] = outDatagram{}
			}
			b.wmu.Unlock()
		}
	}
}

// send writes ds with as few system calls as it can. Datagrams the kernel refuses are dropped; the error is
// returned only when the socket is closed or its deadline passed.
func (b *batchConn) send(ds []outDatagram) error {
	b.pack(ds)
	hdrs := b.hdrs
	for len(hdrs) > 0 {
		var n int
		var errno syscall.Errno
		err := b.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), 0, 0, 0)
			n, errno = int(r), e
			return errno != unix.EAGAIN
		})
		if err != nil {
			return err
		}
		if errno == 0 {
			hdrs = hdrs[n:]
			continue
		}
		if hdrs[0].hdr.Controllen > 0 && (errno == unix.EIO || errno == unix.EINVAL || errno == unix.ENOPROTOOPT) {
			// No GSO here (or not for this route): send everything left as single datagrams from now on.
			b.wmu.Lock()
			b.gso = false
			b.wmu.Unlock()
			sentAt := len(b.hdrs) - len(hdrs)
			return b.send(ds[b.firstDatagram(sentAt):])
		}
		hdrs = hdrs[1:] // this datagram is lost, as on a full buffer
	}
	return nil
}

// firstDatagram returns the index in the packed batch of the first datagram of message m.
func (b *batchConn) firstDatagram(m int) int {
	k := 0
	for i := range m {
		k += int(b.hdrs[i].hdr.Iovlen)
	}
	return k
}

// pack fills b.hdrs with one message per datagram, or per run of equal-sized datagrams to one address (the
// last of a run may be shorter) when GSO is on.
func (b *batchConn) pack(ds []outDatagram) {
	b.wmu.Lock()
	gso := b.gso
	b.wmu.Unlock()
	b.hdrs = b.hdrs[:0]
	if cap(b.iovs) < len(ds) {
		b.iovs = make([]unix.Iovec, len(ds))
		b.names = make([]unix.RawSockaddrInet6, len(ds))
		b.cmsgs = make([]byte, len(ds)*gsoCmsgLen)
	}
	iovs, names, cmsgs := b.iovs[:len(ds)], b.names[:len(ds)], b.cmsgs
	for i := 0; i < len(ds); {
		j, size := i+1, len(ds[i].b)
		if gso {
			total := size
			for j < len(ds) && j-i < gsoMaxSegs && ds[j].addr == ds[i].addr && len(ds[j].b) <= size &&
				total+len(ds[j].b) <= gsoMaxBytes {
				total += len(ds[j].b)
				j++
				if len(ds[j-1].b) < size {
					break // a shorter datagram ends a run
				}
			}
		}
		for k := i; k < j; k++ {
			iovs[k] = unix.Iovec{}
			if len(ds[k].b) > 0 {
				iovs[k].Base = &ds[k].b[0]
				iovs[k].SetLen(len(ds[k].b))
			}
		}
		var h mmsghdr
		h.hdr.Iov = &iovs[i]
		h.hdr.SetIovlen(j - i)
		name := &names[len(b.hdrs)]
		h.hdr.Name = (*byte)(unsafe.Pointer(name))
		h.hdr.Namelen = b.sockaddr(name, ds[i].addr)
		if j-i > 1 {
			c := cmsgs[len(b.hdrs)*gsoCmsgLen : (len(b.hdrs)+1)*gsoCmsgLen]
			hdr := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			hdr.Level = unix.SOL_UDP
			hdr.Type = unix.UDP_SEGMENT
			hdr.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(c[unix.CmsgLen(0):], uint16(size))
			h.hdr.Control = &c[0]
			h.hdr.SetControllen(gsoCmsgLen)
		}
		b.hdrs = append(b.hdrs, h)
		i = j
	}
}

// sockaddr writes addr in the socket's family; a destination the family cannot reach gets length 0, which the
// kernel refuses (the datagram is dropped).
func (b *batchConn) sockaddr(sa *unix.RawSockaddrInet6, addr netip.AddrPort) uint32 {
	ip := addr.Addr()
	if !b.inet6 {
		if !ip.Unmap().Is4() {
			return 0
		}
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*s4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.Unmap().As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:], addr.Port())
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		if z != b.zone {
			b.zone, b.zoneIndex = z, 0
			if ifi, err := net.InterfaceByName(z); err == nil {
				b.zoneIndex = uint32(ifi.Index)
			}
		}
		sa.Scope_id = b.zoneIndex
	}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
	return unix.SizeofSockaddrInet6
}

// ReadFromAddrPort returns the next datagram, from a coalesced one when GRO joined several.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	if !b.gro {
		return b.UDPConn.ReadFromUDPAddrPort(p)
	}
	if len(b.rest) == 0 {
		if b.rbuf == nil {
			b.rbuf = make([]byte, groBuffer)
		}
		n, oobn, _, from, err := b.UDPConn.ReadMsgUDPAddrPort(b.rbuf, b.oob)
		if err != nil {
			return 0, from, err
		}
		b.rest, b.seg, b.rfrom = b.rbuf[:n], n, from
		if s := groSegment(b.oob[:oobn]); s > 0 && s < n {
			b.seg = s
		}
	}
	k := min(b.seg, len(b.rest))
	d := b.rest[:k]
	b.rest = b.rest[k:]
	return copy(p, d), b.rfrom, nil
}

// ReadFrom is ReadFromAddrPort with a *net.UDPAddr.
func (b *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := b.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// groSegment returns the segment size of a UDP_GRO control message, or 0.
func groSegment(oob []byte) int {
	for len(oob) >= unix.CmsgLen(0) {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		oob = rest
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 2 {
			if len(data) >= 4 {
				return int(binary.NativeEndian.Uint32(data))
			}
			return int(binary.NativeEndian.Uint16(data))
		}
	}
	return 0
}

// batchUDP wraps c into a batchConn, or returns it as it is when its socket does not allow one.
func batchUDP(c *net.UDPConn) transport.UDPConn {
	if b := newBatchConn(c); b != nil {
		return b
	}
	return c
}
