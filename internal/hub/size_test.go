package hub

import (
	"testing"
	"unsafe"
)

// TestMemberSize keeps a Member inside the 256-byte size class: every connection has one, and the class above
// (288) would add 32 bytes to each idle connection (docs/benchmarks.md, idle memory). Fields a local member
// does not need belong behind a pointer (remoteState, idClaim).
func TestMemberSize(t *testing.T) {
	if s := unsafe.Sizeof(Member{}); s > 256 {
		t.Errorf("Member is %d bytes, over the 256-byte size class", s)
	}
}
