package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// limitFlag matches the serve flags that bound what clients can cost: sizes, counts, rates, bursts, timeouts and
// lifetimes. A new one must be listed, with its default, in docs/security.md's table.
var limitFlag = regexp.MustCompile(`^(max-.*|turn-max-.*|turn-member-.*|turn-total-.*|turn-ttl|.*-rate|.*-burst|.*-timeout|ping-interval|cluster-heartbeat)$`)

func TestSecurityDocListsEveryLimit(t *testing.T) {
	code, out := runCLI(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "## Every limit and its default")
	if !ok {
		t.Fatal(`docs/security.md has no "Every limit and its default" section`)
	}
	table, _, _ = strings.Cut(table, "\n## ")
	found := 0
	for _, m := range regexp.MustCompile(`(?m)^\s+--?([a-z][a-z0-9-]*)`).FindAllStringSubmatch(out, -1) {
		name := m[1]
		if !limitFlag.MatchString(name) {
			continue
		}
		found++
		if !strings.Contains(table, "`--"+name+"`") {
			t.Errorf("docs/security.md's limit table lacks --%s", name)
		}
	}
	if found < 20 {
		t.Fatalf("found only %d limit flags in serve --help; is the pattern still right?\n%s", found, out)
	}
}
