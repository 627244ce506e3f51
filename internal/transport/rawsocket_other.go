//go:build !unix

package transport

import "syscall"

// rawSockets tells whether this platform has rawSocket; here it does not, and connections read
// through a bufio.Reader.
const rawSockets = false

type rawSocket struct {
	rc     syscall.RawConn
	extend func()
}

func newRawSocket(syscall.RawConn, []byte) *rawSocket { panic("transport: no rawSocket here") }
func (p *rawSocket) Read([]byte) (int, error)         { panic("transport: no rawSocket here") }
func (p *rawSocket) read([]byte, bool) (int, error)   { panic("transport: no rawSocket here") }
func (p *rawSocket) buffered() int                    { return 0 }
func (p *rawSocket) serve(func() bool) (bool, error)  { panic("transport: no rawSocket here") }
func (p *rawSocket) release()                         {}
func (p *rawSocket) shutdown()                        {}
func (p *rawSocket) tryWrite([]byte) (int, error)     { panic("transport: no rawSocket here") }
