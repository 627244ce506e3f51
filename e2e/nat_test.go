package e2e

// The NAT matrix: two Go peers (the p2plobby binary's send and receive) behind every pair of network types of
// a namespace lab (package natlab), with the lobby, STUN and TURN served by one p2plobby in the public
// namespace. Each cell sends a file and checks that it arrives intact, and that ICE picked a direct path where
// one exists and the relay where none does.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/internal/natlab"
)

// natTypes are the network types of the matrix, by their letter.
var natTypes = []struct {
	letter string
	nat    natlab.NAT
}{{"a", natlab.None}, {"b", natlab.FullCone}, {"c", natlab.PortRestricted}, {"d", natlab.Symmetric}, {"e", natlab.TCPOnly}}

// natCell is one cell: a sender and a receiver host, and whether the connection must be relayed.
type natCell struct {
	row, col string // type letters; col is "same" for two hosts behind one router
	from, to *natlab.Host
	relayed  bool

	// Results, filled by run.
	sendPath, recvPath natPath // zero when unknown
	problem            string  // what went wrong, in a few words
}

func (c *natCell) name() string {
	if c.col == "same" {
		return c.row + "-" + c.row + "-same-NAT"
	}
	return c.row + "-" + c.col
}

const (
	natFileSize    = 256 << 10
	natParallel    = 4                // cells at a time: bounded, so a busy CI machine answers ICE checks in time
	natCellTimeout = 30 * time.Second // per cell; one takes a few seconds
)

func TestNATMatrix(t *testing.T) {
	needNATLab(t, "NAT matrix")
	start := time.Now()
	bin := lobbytest.Binary(t)

	// One network of type a (two public hosts, pub-a and pub-b); two of each other type (b1, b2, …), the first
	// with two hosts.
	cfg := natlab.Config{Networks: []natlab.Network{{Name: "pub", NAT: natlab.None, Hosts: 2}}}
	for _, ty := range natTypes[1:] {
		cfg.Networks = append(cfg.Networks,
			natlab.Network{Name: ty.letter + "1", NAT: ty.nat, Hosts: 2},
			natlab.Network{Name: ty.letter + "2", NAT: ty.nat, Hosts: 1})
	}
	lab := natlab.New(t, cfg)
	natServe(t, lab, bin)
	t.Logf("lab and server up in %v", time.Since(start).Round(time.Millisecond))

	cells := natCells(lab)
	var wg sync.WaitGroup
	sem := make(chan struct{}, natParallel)
	for _, c := range cells {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(c.name(), func(t *testing.T) { c.run(t, bin) })
		}()
	}
	wg.Wait()

	table := natTable(cells)
	t.Logf("NAT matrix (%v):\n%s", time.Since(start).Round(time.Millisecond), table)
	if out := os.Getenv("P2PLOBBY_NAT_MATRIX_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// natCells lists the matrix: every unordered pair of types on different networks (a-a: two public hosts),
// the row type sending, and two hosts behind the same router for each NAT type.
//
// Expected paths. ICE nominates a relayed pair only when no direct pair works (pion accepts a relay pair
// after 2 s at the earliest, and direct pairs have higher priority):
//   - direct with a or b: they admit packets from anyone, so the other side's checks get in, and the answers
//     go back through the hole those checks opened (d's new port shows up as a peer-reflexive candidate).
//   - direct for c-c: both keep one public port for every destination, so each side's checks to the other's
//     server-reflexive address open the way for the other's.
//   - relayed for c-d and d-d: d's port towards the peer is a new one nobody has seen, and c or d admits only
//     packets from an address and port it has sent to.
//   - relayed for everything with e: no UDP leaves that network; its side has only TURN over TCP to the
//     lobby's port.
//   - direct for two hosts behind one router: their host candidates meet on the LAN.
func natCells(lab *natlab.Lab) []*natCell {
	host := func(letter, n string, i int) *natlab.Host {
		if letter == "a" {
			return lab.Hosts("pub")[i]
		}
		return lab.Hosts(letter + n)[i]
	}
	var cells []*natCell
	for i, r := range natTypes {
		for _, c := range natTypes[i:] {
			cell := &natCell{row: r.letter, col: c.letter, from: host(r.letter, "1", 0), to: host(c.letter, "2", 0)}
			if r.letter == "a" && c.letter == "a" {
				cell.to = host("a", "", 1)
			}
			pair := r.letter + c.letter
			cell.relayed = strings.Contains(pair, "e") || pair == "cd" || pair == "dd"
			cells = append(cells, cell)
		}
	}
	for _, r := range natTypes[1:] {
		cells = append(cells, &natCell{row: r.letter, col: "same", from: host(r.letter, "1", 0), to: host(r.letter, "1", 1)})
	}
	return cells
}

// natServe starts the lobby with STUN and TURN in the public namespace (lobby at ServerIP:3333, STUN/TURN at
// ServerIP:3478).
func natServe(t *testing.T, lab *natlab.Lab, bin string) {
	t.Helper()
	natServeArgs(t, lab, bin, "serve", "--addr", natlab.ServerIP+":3333", "--turn-addr", natlab.ServerIP+":3478")
}

// natServeArgs runs bin with args in the lab's public namespace and waits until it listens. It returns the server's log so far; the whole log goes to t.Log at
// the end when the test failed or runs with -v.
func natServeArgs(t *testing.T, lab *natlab.Lab, bin string, args ...string) (log func() string) {
	t.Helper()
	cmd := lab.Server.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var buf bytes.Buffer
	log = func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		listening := false
		for sc.Scan() {
			mu.Lock()
			buf.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !listening && strings.Contains(sc.Text(), "msg=listening") {
				listening = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		select { // the lab would kill it too, but its log must be complete first
		case <-done:
		default:
			cmd.Cancel()
			<-done
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("server log:\n%s", log())
		}
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("p2plobby %s exited before listening:\n%s", strings.Join(args, " "), log())
	case <-time.After(20 * time.Second):
		t.Fatalf("p2plobby %s did not listen within 20s", strings.Join(args, " "))
	}
	return log
}

// needNATLab skips (or fails, under CI=true or P2PLOBBY_REQUIRE_NETNS=1) a test that needs a natlab; also
// under -short.
func needNATLab(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + " (network namespaces): skipped with -short")
	}
	if err := natlab.Available(); err != nil {
		msg := what + " needs network namespaces (root, iproute2, nftables): " + err.Error()
		if os.Getenv("CI") == "true" || os.Getenv("P2PLOBBY_REQUIRE_NETNS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// run sends a random file from c.from to c.to through a fresh room and checks the bytes and the paths.
// Problems are errors of t, and c.problem says them in a few words for the table.
func (c *natCell) run(t *testing.T, bin string) {
	defer func() {
		if t.Failed() && c.problem == "" {
			c.problem = "failed"
		}
	}()
	fail := func(short, format string, args ...any) {
		t.Helper()
		if c.problem == "" {
			c.problem = short
		}
		t.Errorf(format, args...)
	}
	src := filepath.Join(t.TempDir(), "payload.bin")
	want := make([]byte, natFileSize)
	rand.Read(want)
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	room := fmt.Sprintf("nat-%s-%x", c.name(), want[:4])
	server := "ws://" + natlab.ServerIP + ":3333"
	var verbose []string
	if os.Getenv("P2PLOBBY_PEER_LOG") == "1" {
		verbose = []string{"--verbose"}
	}

	ctx, cancel := context.WithTimeout(context.Background(), natCellTimeout)
	defer cancel()
	var recvOut, recvErr, sendErr bytes.Buffer
	recv := c.to.CommandContext(ctx, bin, append([]string{"receive", "--server", server, "--room", room, "--name", "B",
		"--dir", dir, "--accept-from", "A", "--once"}, verbose...)...)
	recv.Stdout, recv.Stderr = &recvOut, &recvErr
	send := c.from.CommandContext(ctx, bin, append([]string{"send", "--server", server, "--room", room, "--name", "A",
		"--to", "B", "--wait", "15s"}, append(verbose, src)...)...)
	send.Stderr = &sendErr
	for _, cmd := range []*exec.Cmd{recv, send} {
		// At the timeout, ask for a goroutine dump (Go's SIGQUIT) before the kill, to see where it hangs.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	}
	t0 := time.Now()
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	sendRes, recvRes := send.Wait(), recv.Wait()
	t.Logf("%s (%s, %s) → %s (%s, %s) in %v", c.from, c.from.NAT, c.from.IP, c.to, c.to.NAT, c.to.IP,
		time.Since(t0).Round(time.Millisecond))
	t.Logf("send stderr:\n%s", sendErr.String())
	t.Logf("receive stderr:\n%s", recvErr.String())

	// The paths, as each side reports it (also when something failed later).
	var codes [2]string
	for i, side := range []struct {
		stderr string
		host   *natlab.Host
		path   *natPath
	}{{sendErr.String(), c.from, &c.sendPath}, {recvErr.String(), c.to, &c.recvPath}} {
		m := natConnected.FindStringSubmatch(side.stderr)
		if m == nil {
			fail("not connected", "%s printed no 'connected to' line", side.host)
			continue
		}
		codes[i] = m[1]
		p, err := parseNATPath(m[2])
		if err != nil {
			fail("bad path", "%s: %v", side.host, err)
			continue
		}
		*side.path = p
		want := map[bool]string{true: "relayed", false: "direct"}[c.relayed]
		if p.relayed != c.relayed {
			fail("want "+want, "%s (%s): path %q, want %s", side.host, side.host.NAT, m[2], want)
		}
		// Behind a TCP-only network the only way out is TURN over TCP to the lobby's port.
		if side.host.NAT == natlab.TCPOnly && c.col != "same" && (p.local != "relay" || p.relayProto != "TCP") {
			fail("want own TURN/TCP", "%s (TCP-only egress): path %q, want its own TURN over TCP", side.host, m[2])
		}
	}
	if codes[0] != codes[1] {
		fail("codes differ", "verification codes differ: sender %q, receiver %q", codes[0], codes[1])
	}

	if ctx.Err() != nil {
		fail("hung", "send: %v, receive: %v: a process did not exit within %v (its goroutines are dumped in its stderr above)",
			sendRes, recvRes, natCellTimeout)
	} else if sendRes != nil || recvRes != nil {
		fail("failed", "send: %v, receive: %v (exit codes: see README)", sendRes, recvRes)
	}

	// The file, byte for byte.
	stored := strings.Fields(recvOut.String())
	if len(stored) != 1 {
		fail("no file", "receive printed %q, want one stored path", recvOut.String())
		return
	}
	if got, err := os.ReadFile(stored[0]); err != nil || !bytes.Equal(got, want) {
		fail("file differs", "received file differs from the sent one (%d bytes, err %v)", len(got), err)
	}
}

// natConnected matches the line both peers print on connecting: the code and the path (peer.Path.String).
var natConnected = regexp.MustCompile(`(?m)^connected to .+, verification code (\d{3} \d{3}), (.+)$`)

// natPath is a parsed peer.Path.String.
type natPath struct {
	relayed       bool
	theirs        bool   // relayed through the other side's TURN allocation only
	proto         string // between the candidates, for a direct path
	relayProto    string // to our TURN server, for our own relay
	local, remote string // candidate types
}

var (
	natDirect      = regexp.MustCompile(`^direct over (\w+) \((\w+) ↔ (\w+)\)$`)
	natRelayOwn    = regexp.MustCompile(`^relayed: TURN over (\w+) \((\w+) ↔ (\w+)\)$`)
	natRelayTheirs = regexp.MustCompile(`^relayed: the other side's TURN \((\w+) ↔ (\w+)\)$`)
)

func parseNATPath(s string) (natPath, error) {
	if m := natDirect.FindStringSubmatch(s); m != nil {
		return natPath{proto: m[1], local: m[2], remote: m[3]}, nil
	}
	if m := natRelayOwn.FindStringSubmatch(s); m != nil {
		return natPath{relayed: true, relayProto: m[1], local: m[2], remote: m[3]}, nil
	}
	if m := natRelayTheirs.FindStringSubmatch(s); m != nil {
		return natPath{relayed: true, theirs: true, local: m[1], remote: m[2]}, nil
	}
	return natPath{}, fmt.Errorf("unrecognized path %q", s)
}

// short is the path for the table, e.g. "direct host↔srflx" or "relay (TCP) relay↔srflx".
func (p natPath) short() string {
	pair := p.local + "↔" + p.remote
	switch {
	case p.theirs:
		return "relay (theirs) " + pair
	case p.relayed:
		return "relay (" + p.relayProto + ") " + pair
	case p.proto != "UDP":
		return "direct " + p.proto + " " + pair
	}
	return "direct " + pair
}

// natTable renders the matrix as markdown. Cell (row, column) shows the path as the row's side saw it; on the
// diagonal and in the same-NAT column, the sender's. A cell that failed or broke its expectation says so.
func natTable(cells []*natCell) string {
	view := map[[2]string]string{}
	for _, c := range cells {
		show := func(p natPath) string {
			s := "?"
			if p.local != "" {
				s = p.short()
			}
			if c.problem != "" {
				s += " ✗ " + c.problem
			}
			return s
		}
		view[[2]string{c.row, c.col}] = show(c.sendPath)
		if c.col != "same" && c.col != c.row {
			view[[2]string{c.col, c.row}] = show(c.recvPath)
		}
	}
	var b strings.Builder
	b.WriteString("| row sees → | a | b | c | d | e | same NAT |\n|---|---|---|---|---|---|---|\n")
	for _, r := range natTypes {
		fmt.Fprintf(&b, "| **%s** %s |", r.letter, r.nat)
		for _, col := range []string{"a", "b", "c", "d", "e", "same"} {
			v, ok := view[[2]string{r.letter, col}]
			if !ok {
				v = "–"
			}
			fmt.Fprintf(&b, " %s |", v)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nEach cell is the path the row's side reported (diagonal and same NAT: the sender's), as local↔remote " +
		"candidate types. relay (TCP) or (UDP): through its own TURN allocation, reached over that protocol; " +
		"relay (theirs): through the other side's allocation.\n")
	return b.String()
}
