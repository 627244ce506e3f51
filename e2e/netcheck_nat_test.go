package e2e

// `p2plobby netcheck` inside the namespace lab (package natlab): from behind every network type, its report
// must tell the NAT the lab built (mapping, public address, which TURN transports get out) and give the
// matching verdict; and on a multi-homed server, every STUN/TURN URL and every relay must be on the address
// the member reached.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/internal/natlab"
	"github.com/p2plobby/p2plobby/internal/netcheck"
)

const (
	netcheckStepTimeout = 3 * time.Second  // netcheck --timeout: a step that gets no answer fails this fast
	netcheckRunTimeout  = 30 * time.Second // a whole run; one takes 1 s, or about 3 steps' timeouts when UDP is dropped
)

// netcheckRun is one `p2plobby netcheck --json` run on a host of the lab.
type netcheckRun struct {
	host    *natlab.Host
	server  string // the lobby URL it checked
	report  netcheck.Report
	code    int // exit code
	stdout  string
	stderr  string
	elapsed time.Duration
	err     error // the run itself went wrong: not started, killed, or no JSON report
}

// runNetcheckOn runs netcheck against server from host h.
func runNetcheckOn(bin string, h *natlab.Host, server string) *netcheckRun {
	r := &netcheckRun{host: h, server: server}
	ctx, cancel := context.WithTimeout(context.Background(), netcheckRunTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := h.CommandContext(ctx, bin, "netcheck", "--server", server, "--json", "--timeout", netcheckStepTimeout.String())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r.elapsed = time.Since(start)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.err = fmt.Errorf("did not finish within %v", netcheckRunTimeout)
		return r
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		r.err = err
		return r
	}
	if err := json.Unmarshal(stdout.Bytes(), &r.report); err != nil {
		r.err = fmt.Errorf("stdout is not a JSON report: %v", err)
	}
	return r
}

// log puts the run's output into t's log (shown on failure or with -v).
func (r *netcheckRun) log(t *testing.T) {
	t.Helper()
	t.Logf("netcheck from %s (%s, %s) against %s: exit %d in %v\n%s", r.host, r.host.NAT, r.host.IP, r.server,
		r.code, r.elapsed.Round(time.Millisecond), r.stdout)
	if r.stderr != "" {
		t.Logf("netcheck stderr:\n%s", r.stderr)
	}
}

// summary is the run in one line, for the test's log.
func (r *netcheckRun) summary() string {
	var stun []string
	for _, s := range r.report.STUN {
		stun = append(stun, cmp.Or(s.Mapped, "no answer"))
	}
	var turn []string
	for _, u := range r.report.TURN {
		ok := "ok"
		if u.Error != "" {
			ok = "failed"
		}
		turn = append(turn, fmt.Sprintf("%s %s", strings.TrimPrefix(u.URL, "turn:"), ok))
	}
	return fmt.Sprintf("%-4s %-20s → %s: mapping %s, verdict %q, exit %d, %v; stun [%s]; turn [%s]",
		r.host, r.host.NAT, r.server, r.report.Mapping, r.report.Verdict, r.code, r.elapsed.Round(time.Millisecond),
		strings.Join(stun, ", "), strings.Join(turn, ", "))
}

// checkURLs checks that the report lists exactly the STUN and TURN URLs the lobby hands out to a member that
// reached it at host:3333, each with the transport its URL says.
func (r *netcheckRun) checkURLs(t *testing.T, host string) {
	t.Helper()
	wantSTUN := []string{"stun:" + host + ":3333", "stun:" + host + ":3478"}
	wantTURN := []string{"turn:" + host + ":3333?transport=tcp", "turn:" + host + ":3478?transport=tcp", "turn:" + host + ":3478?transport=udp"}
	var stun, turn []string
	for _, s := range r.report.STUN {
		stun = append(stun, s.URL)
	}
	for _, u := range r.report.TURN {
		turn = append(turn, u.URL)
		if want := u.URL[strings.LastIndex(u.URL, "=")+1:]; u.Transport != want {
			t.Errorf("%s: transport %q, want %q", u.URL, u.Transport, want)
		}
	}
	for _, u := range append(slices.Clone(stun), turn...) {
		if h := urlHostOf(u); h != host {
			t.Errorf("URL %s names host %q, want %q (the host the lobby was reached by)", u, h, host)
		}
	}
	slices.Sort(stun)
	slices.Sort(turn)
	if !slices.Equal(stun, wantSTUN) {
		t.Errorf("STUN URLs %q, want %q", stun, wantSTUN)
	}
	if !slices.Equal(turn, wantTURN) {
		t.Errorf("TURN URLs %q, want %q", turn, wantTURN)
	}
}

// urlHostOf is the host of a stun:host:port or turn:host:port?transport=… URL.
func urlHostOf(u string) string {
	hostport := u[strings.IndexByte(u, ':')+1:]
	hostport, _, _ = strings.Cut(hostport, "?")
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

// ipOf is the IP of an ip:port, or "" if it is none.
func ipOf(hostport string) string {
	h, port, err := net.SplitHostPort(hostport)
	if err != nil || net.ParseIP(h) == nil || port == "0" || port == "" {
		return ""
	}
	return h
}

// checkSTUN checks that every STUN server answered with publicIP (and, with samePort, one port for all).
func (r *netcheckRun) checkSTUN(t *testing.T, publicIP string, samePort bool) {
	t.Helper()
	for _, s := range r.report.STUN {
		if s.Error != "" || s.Mapped == "" {
			t.Errorf("%s: no answer (%s), want one", s.URL, s.Error)
		} else if ip := ipOf(s.Mapped); ip != publicIP {
			t.Errorf("%s: mapped address %s, want one on %s", s.URL, s.Mapped, publicIP)
		}
		if samePort && len(r.report.STUN) > 0 && s.Mapped != r.report.STUN[0].Mapped {
			t.Errorf("%s saw %s but %s saw %s: want one public address for both", s.URL, s.Mapped,
				r.report.STUN[0].URL, r.report.STUN[0].Mapped)
		}
	}
}

// checkTURN checks which TURN URLs allocated (allocated(url) says which must) and that every relay is on
// relayIP.
func (r *netcheckRun) checkTURN(t *testing.T, relayIP string, allocated func(url string) bool) {
	t.Helper()
	for _, u := range r.report.TURN {
		switch want := allocated(u.URL); {
		case want && u.Error != "":
			t.Errorf("%s: allocation failed: %s; want a relay", u.URL, u.Error)
		case !want && u.Error == "":
			t.Errorf("%s: allocated relay %s; want a failure (that transport cannot leave this network)", u.URL, u.Relay)
		case want && ipOf(u.Relay) != relayIP:
			t.Errorf("%s: relay %q, want one on %s (the address the lobby was reached by)", u.URL, u.Relay, relayIP)
		}
	}
}

// TestNetcheckBehindNATs runs netcheck from one host of each network type and checks its report against the
// NAT the lab built: (a) no NAT, (b) full cone, (c) port-restricted cone, (d) symmetric, (e) TCP-only egress.
func TestNetcheckBehindNATs(t *testing.T) {
	needNATLab(t, "netcheck behind NATs")
	start := time.Now()
	bin := lobbytest.Binary(t)
	cfg := natlab.Config{}
	for _, ty := range natTypes {
		cfg.Networks = append(cfg.Networks, natlab.Network{Name: ty.letter, NAT: ty.nat, Hosts: 1})
	}
	lab := natlab.New(t, cfg)
	natServe(t, lab, bin) // lobby at 10.99.0.1:3333, STUN/TURN at 10.99.0.1:3478 (and UDP 3333)
	t.Logf("lab and server up in %v", time.Since(start).Round(time.Millisecond))

	server := "ws://" + natlab.ServerIP + ":3333"
	runs := make([]*netcheckRun, len(natTypes))
	var wg sync.WaitGroup
	for i, ty := range natTypes {
		wg.Go(func() { runs[i] = runNetcheckOn(bin, lab.Hosts(ty.letter)[0], server) })
	}
	wg.Wait()

	all := func(string) bool { return true }
	for i, ty := range natTypes {
		r := runs[i]
		h := r.host
		t.Run(ty.letter+"-"+strings.ReplaceAll(ty.nat.String(), " ", "-"), func(t *testing.T) {
			defer r.log(t)
			// The public address others see: the host's own, or its router's on the public segment (the router
			// of the Nth home network is 10.99.0.(10+N); networks b to e are the 1st to 4th behind a router).
			public := h.IP
			if ty.nat != natlab.None {
				public = fmt.Sprintf("10.99.0.%d", 10+i)
			}
			if h.PublicIP != public {
				t.Fatalf("natlab: %s has public address %s, the address plan says %s", h, h.PublicIP, public)
			}
			if r.err != nil {
				t.Fatalf("netcheck: %v (exit %d)", r.err, r.code)
			}
			rep := &r.report
			if !rep.Lobby.OK {
				t.Errorf("lobby not reached: %s", rep.Lobby.Error)
			}
			r.checkURLs(t, natlab.ServerIP)
			if ip := ipOf(rep.Local); ip != h.IP {
				t.Errorf("localAddr %q, want one on the host's own address %s", rep.Local, h.IP)
			}
			if r.code != 0 {
				t.Errorf("exit code %d, want 0 (peers here can connect)", r.code)
			}
			wantVerdict := netcheck.VerdictDirect
			switch ty.nat {
			case natlab.None, natlab.FullCone, natlab.PortRestricted:
				wantMapping := netcheck.MappingIndependent
				if ty.nat == natlab.None {
					wantMapping = netcheck.MappingNone
				}
				if rep.Mapping != wantMapping {
					t.Errorf("mapping %q, want %q", rep.Mapping, wantMapping)
				}
				r.checkSTUN(t, public, true)
				if ty.nat == natlab.None && len(rep.STUN) > 0 && rep.STUN[0].Mapped != rep.Local {
					t.Errorf("mapped address %s, want the local address %s (no NAT)", rep.STUN[0].Mapped, rep.Local)
				}
				r.checkTURN(t, natlab.ServerIP, all)
			case natlab.Symmetric:
				wantVerdict = netcheck.VerdictRelay
				if rep.Mapping != netcheck.MappingDependent {
					t.Errorf("mapping %q, want %q", rep.Mapping, netcheck.MappingDependent)
				}
				r.checkSTUN(t, public, false)
				if len(rep.STUN) == 2 && rep.STUN[0].Mapped == rep.STUN[1].Mapped {
					t.Errorf("both STUN servers saw %s: a symmetric NAT gives each destination its own port", rep.STUN[0].Mapped)
				}
				// The brief asks for UDP; TCP gets out of a symmetric NAT just as well.
				r.checkTURN(t, natlab.ServerIP, all)
			case natlab.TCPOnly:
				wantVerdict = netcheck.VerdictRelay
				for _, s := range rep.STUN {
					if s.Error == "" {
						t.Errorf("%s answered (%s), but no UDP leaves a TCP-only network", s.URL, s.Mapped)
					}
				}
				if rep.Mapping != netcheck.MappingUnknown {
					t.Errorf("mapping %q, want %q (no STUN answer)", rep.Mapping, netcheck.MappingUnknown)
				}
				// Only TCP to the lobby's port gets out: TURN over TCP on the web port.
				webPort := fmt.Sprintf(":%d?transport=tcp", natlab.TCPOnlyPort)
				r.checkTURN(t, natlab.ServerIP, func(u string) bool { return strings.HasSuffix(u, webPort) })
			}
			if rep.Verdict != wantVerdict {
				t.Errorf("verdict %q (%s), want %q", rep.Verdict, rep.Reason, wantVerdict)
			}
		})
	}
	var sum strings.Builder
	for _, r := range runs {
		sum.WriteString(r.summary() + "\n")
	}
	t.Logf("netcheck behind every NAT type (%v in all):\n%s", time.Since(start).Round(time.Millisecond), sum.String())
}

// TestTURNRelayOnTheAddressReached gives the server's namespace a second address and serves STUN/TURN on every
// local address (no --turn-addr): a member that reached the lobby on either address must be handed URLs of
// that address and get relays on it, also from behind a NAT.
func TestTURNRelayOnTheAddressReached(t *testing.T) {
	needNATLab(t, "TURN on a multi-homed server")
	start := time.Now()
	bin := lobbytest.Binary(t)
	lab := natlab.New(t, natlab.Config{Networks: []natlab.Network{
		{Name: "pub", NAT: natlab.None, Hosts: 1},
		{Name: "cone", NAT: natlab.FullCone, Hosts: 1},
	}})
	const second = "10.99.0.2" // free in natlab's plan: routers are .11 and up, public hosts .50 and up
	if out, err := lab.Server.Command("ip", "addr", "add", second+"/24", "dev", "br0").CombinedOutput(); err != nil {
		t.Fatalf("adding %s to the server's bridge: %v: %s", second, err, bytes.TrimSpace(out))
	}
	serverLog := natServeArgs(t, lab, bin, "serve", "--addr", ":3333")
	var turnLine string
	for _, l := range strings.Split(serverLog(), "\n") {
		if strings.Contains(l, `msg="STUN and TURN"`) {
			turnLine = l
		}
	}
	for _, ip := range []string{natlab.ServerIP, second} {
		if !strings.Contains(turnLine, ip+":3478") {
			t.Errorf("STUN/TURN not served on %s:3478; the start-up log says: %q", ip, turnLine)
		}
	}
	t.Logf("lab and server up in %v", time.Since(start).Round(time.Millisecond))

	pub, cone := lab.Hosts("pub")[0], lab.Hosts("cone")[0]
	cases := []struct {
		host    *natlab.Host
		reached string
	}{{pub, natlab.ServerIP}, {pub, second}, {cone, second}, {cone, natlab.ServerIP}}
	runs := make([]*netcheckRun, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() { runs[i] = runNetcheckOn(bin, c.host, "ws://"+c.reached+":3333") })
	}
	wg.Wait()

	for i, c := range cases {
		r := runs[i]
		t.Run(fmt.Sprintf("%s-to-%s", c.host, c.reached), func(t *testing.T) {
			defer r.log(t)
			if r.err != nil {
				t.Fatalf("netcheck: %v (exit %d)", r.err, r.code)
			}
			rep := &r.report
			if !rep.Lobby.OK {
				t.Fatalf("lobby not reached: %s", rep.Lobby.Error)
			}
			if r.code != 0 {
				t.Errorf("exit code %d, want 0", r.code)
			}
			r.checkURLs(t, c.reached)
			r.checkSTUN(t, c.host.PublicIP, true)
			r.checkTURN(t, c.reached, func(string) bool { return true })
			if rep.Verdict != netcheck.VerdictDirect {
				t.Errorf("verdict %q (%s), want %q", rep.Verdict, rep.Reason, netcheck.VerdictDirect)
			}
		})
	}
	var sum strings.Builder
	for _, r := range runs {
		sum.WriteString(r.summary() + "\n")
		for _, u := range r.report.TURN {
			fmt.Fprintf(&sum, "    %s → relay %s\n", u.URL, cmp.Or(u.Relay, u.Error))
		}
	}
	t.Logf("TURN on a multi-homed server (%v in all):\n%s", time.Since(start).Round(time.Millisecond), sum.String())
}
