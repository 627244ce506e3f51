package sctpcheck

import (
	"os/exec"
	"testing"
)

// TestForkOwnTests runs the tests of p2plobby's changes to the pion/sctp copy (third_party/pion-sctp): it is a
// module of its own, which the project's ./... does not reach. They compare the changed SACK handling with the
// code before it over random SACK sequences, and the one-buffer packet marshalling with pion's own.
func TestForkOwnTests(t *testing.T) {
	goBin, err := exec.LookPath("go") // go test puts its own go first in PATH
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	cmd := exec.Command(goBin, "test", "-count=1", ".")
	cmd.Dir = "../../third_party/pion-sctp"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in third_party/pion-sctp: %v\n%s", err, out)
	}
	t.Logf("third_party/pion-sctp: %s", out)
}
