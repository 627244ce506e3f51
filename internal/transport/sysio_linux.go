package transport

import (
	"syscall"
	"unsafe"
)

// sysRead and sysWrite are read(2) and write(2) on a non-blocking socket without the scheduler's system-call
// bookkeeping (RawSyscall rather than Syscall). They never block, so there is nothing for the scheduler to
// do; and entersyscall wakes the runtime's sysmon thread whenever it sleeps, which on a lightly loaded server
// meant a futex wake-up, and sysmon's own 20 µs sleeps, for about every other relayed message — on the server's
// core (one relaying pair, perf stat: 2.3 context switches and 0.41 nanosleeps per message; docs/design.md).
func sysRead(fd int, p []byte) (int, error)  { return rawIO(syscall.SYS_READ, fd, p) }
func sysWrite(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, p) }

func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
