package netcheck

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

func TestAgainstTheRealServer(t *testing.T) {
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := Run(ctx, s.WS, nil)
	if !r.Lobby.OK || r.Lobby.RTTMS <= 0 {
		t.Fatalf("lobby %+v", r.Lobby)
	}
	if len(r.STUN) != 2 {
		t.Fatalf("STUN %+v, want the TURN port and the HTTP port", r.STUN)
	}
	for _, st := range r.STUN {
		if st.Error != "" || !strings.HasPrefix(st.Mapped, "127.0.0.1:") {
			t.Errorf("STUN %+v", st)
		}
	}
	if r.Mapping != MappingNone {
		t.Errorf("mapping %q on loopback, want none", r.Mapping)
	}
	transports := map[string]int{}
	for _, tr := range r.TURN {
		if tr.Error != "" {
			t.Errorf("TURN %s: %s", tr.URL, tr.Error)
		}
		transports[tr.Transport]++
	}
	if transports["udp"] != 1 || transports["tcp"] != 2 {
		t.Errorf("TURN tried %v, want UDP once and TCP twice (TURN port and HTTP port)", transports)
	}
	if r.Verdict != VerdictDirect || !r.OK() {
		t.Errorf("verdict %q (%s)", r.Verdict, r.Reason)
	}
	// The check's member is gone afterwards; the server is still fine.
	if r2 := Run(ctx, s.WS, nil); !r2.Lobby.OK {
		t.Errorf("second run: %+v", r2.Lobby)
	}
}

func TestUnreachable(t *testing.T) {
	r := Run(context.Background(), "ws://127.0.0.1:1", &Options{Timeout: 2 * time.Second})
	if r.OK() || r.Lobby.OK || !strings.Contains(r.Reason, "lobby is unreachable") {
		t.Fatalf("report %+v", r)
	}
}

func TestVerdicts(t *testing.T) {
	okSTUN := []STUNResult{{Mapped: "x"}}
	noSTUN := []STUNResult{{Error: "no answer"}}
	udp, tcp := TURNResult{Transport: "udp"}, TURNResult{Transport: "tcp"}
	failed := TURNResult{Transport: "udp", Error: "401"}
	for _, tc := range []struct {
		name    string
		stun    []STUNResult
		mapping Mapping
		turn    []TURNResult
		verdict string
	}{
		{"public host", okSTUN, MappingNone, []TURNResult{udp}, VerdictDirect},
		{"cone NAT", okSTUN, MappingIndependent, []TURNResult{udp, tcp}, VerdictDirect},
		{"cone NAT, TURN down", okSTUN, MappingIndependent, []TURNResult{failed}, VerdictDirect},
		{"symmetric NAT", okSTUN, MappingDependent, []TURNResult{udp}, VerdictRelay},
		{"symmetric NAT, TURN down", okSTUN, MappingDependent, []TURNResult{failed}, VerdictNone},
		{"UDP blocked, TCP relay", noSTUN, MappingUnknown, []TURNResult{failed, tcp}, VerdictRelay},
		{"nothing answers", noSTUN, MappingUnknown, []TURNResult{failed}, VerdictNone},
	} {
		r := &Report{STUN: tc.stun, Mapping: tc.mapping, TURN: tc.turn}
		r.decide()
		if r.Verdict != tc.verdict || r.Reason == "" {
			t.Errorf("%s: %q (%s), want %q", tc.name, r.Verdict, r.Reason, tc.verdict)
		}
	}
}
