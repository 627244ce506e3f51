package transport

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestClusterConformance runs this package's tests again, each against a two-node cluster over NATS with
// its clients alternating between the nodes (see clusterMode): every protocol guarantee of one node holds
// in a cluster. Tests of one node's own behaviour skip there (singleNode).
func TestClusterConformance(t *testing.T) {
	if clusterMode {
		t.Skip("this is the cluster run")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "P2PLOBBY_TEST_NODES=2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the suite on a two-node cluster failed (%v):\n%s", err, out)
	}
	passed := regexp.MustCompile(`(?m)^--- PASS: (\S+)`).FindAllStringSubmatch(string(out), -1)
	skipped := regexp.MustCompile(`(?m)^--- SKIP: (\S+)`).FindAllStringSubmatch(string(out), -1)
	var names []string
	for _, m := range skipped {
		names = append(names, m[1])
	}
	if len(passed) < 15 {
		t.Fatalf("only %d tests passed in cluster mode:\n%s", len(passed), out)
	}
	t.Logf("cluster mode: %d tests passed; %d per-node tests skipped: %s", len(passed), len(skipped), strings.Join(names, " "))
}
