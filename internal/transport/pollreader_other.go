//go:build !unix

package transport

import "syscall"

// pollReaders tells whether this platform has pollReader; here it does not, and connections read
// through a bufio.Reader.
const pollReaders = false

type pollReader struct {
	rc     syscall.RawConn
	extend func()
}

func newPollReader(syscall.RawConn, []byte) *pollReader { panic("transport: no pollReader here") }
func (p *pollReader) Read([]byte) (int, error)          { panic("transport: no pollReader here") }
func (p *pollReader) read([]byte, bool) (int, error)    { panic("transport: no pollReader here") }
func (p *pollReader) buffered() int                     { return 0 }
func (p *pollReader) release()                          {}
func (p *pollReader) shutdown()                         {}
func (p *pollReader) tryWrite([]byte) (int, error)      { panic("transport: no pollReader here") }
