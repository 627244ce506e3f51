package transport

import (
	"testing"
	"unsafe"
)

// TestConnSize keeps a conn inside the 256-byte size class: every connection has one (docs/benchmarks.md, idle
// memory), and the next class is 288 bytes.
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(conn{}); s > 256 {
		t.Errorf("conn is %d bytes, over the 256-byte size class", s)
	}
}
