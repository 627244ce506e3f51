package e2e

// p2plobby handing out credentials for an external coturn (--turn-url, --turn-secret: coturn's
// use-auth-secret), tested against a real coturn (Debian's turnserver): two Go peers connect relay-only
// through it, and coturn refuses forged and expired credentials.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	turnpkg "github.com/p2plobby/p2plobby/internal/turn"
	"github.com/p2plobby/p2plobby/peer"
)

const (
	coturnSecret  = "coturn-test-secret"
	coturnMinPort = 49500 // relays open in this range, so a path through coturn can be told apart
	coturnMaxPort = 49600
)

// startCoturn runs turnserver on a free loopback port with the TURN REST scheme; it skips the test when
// coturn is missing, except under CI=true.
func startCoturn(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("turnserver")
	if err != nil {
		msg := "turnserver not found: install Debian's coturn package (apt-get install coturn)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	cmd := exec.Command(bin, "-n", "--no-cli", "--no-tls", "--no-dtls", "--log-file=stdout", "--simple-log",
		"--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", fmt.Sprintf("--listening-port=%d", port),
		fmt.Sprintf("--min-port=%d", coturnMinPort), fmt.Sprintf("--max-port=%d", coturnMaxPort),
		"--use-auth-secret", "--static-auth-secret="+coturnSecret, "--realm=p2plobby",
		"--allow-loopback-peers", "--pidfile=", "--userdb="+t.TempDir()+"/turndb")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		io.Copy(io.Discard, out)
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		<-done
		if t.Failed() {
			t.Logf("coturn log:\n%s", log.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Ready once it answers a STUN binding. Under a loaded CI machine coturn has taken more than 10 s to start;
	// a coturn that exits (a port taken meanwhile) ends the wait at once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("coturn exited before answering STUN on %s", addr)
		default:
		}
		if c, err := net.ListenPacket("udp4", "127.0.0.1:0"); err == nil {
			cl, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: c, RTO: 100 * time.Millisecond})
			if err == nil && cl.Listen() == nil {
				_, err = cl.SendBindingRequest()
				cl.Close()
			}
			c.Close()
			if err == nil {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("coturn did not answer STUN on %s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// coturnAllocate tries one allocation at addr.
func coturnAllocate(t *testing.T, addr, user, pass string) error {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: c,
		Username: user, Password: pass, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err == nil {
		relay.Close()
	}
	return err
}

func TestGoPeersThroughCoturn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts coturn: skipped with -short")
	}
	addr := startCoturn(t)
	s := lobbytest.Start(t, "--turn-url", "turn:"+addr+"?transport=udp", "--turn-secret", coturnSecret)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dialRelay := func(name string) *peer.Client {
		c, err := peer.Dial(ctx, s.WS, &peer.Options{Room: "coturn", Name: name, Loopback: true, RelayOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dialRelay("a"), dialRelay("b")
	if _, err := a.WaitMember(ctx, func(m peer.Member) bool { return m.ID == b.ID() }); err != nil {
		t.Fatal(err)
	}
	res := make(chan *peer.Conn, 1)
	go func() {
		c, err := a.Request(ctx, b.ID())
		if err != nil {
			t.Error(err)
		}
		res <- c
	}()
	var req *peer.Request
	for req == nil {
		select {
		case ev := <-b.Events():
			req = ev.Request
		case <-ctx.Done():
			t.Fatal("no request")
		}
	}
	cb, err := req.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca := <-res
	if ca == nil {
		t.FailNow()
	}
	for _, c := range []*peer.Conn{ca, cb} {
		p, err := c.Path()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(p.LocalAddr)
		var n int
		fmt.Sscan(port, &n)
		if p.LocalType != "relay" || n < coturnMinPort || n > coturnMaxPort {
			t.Errorf("path %+v (%s): want a relay of coturn's (ports %d-%d)", p, p, coturnMinPort, coturnMaxPort)
		}
	}
	if err := ca.SendChat("via coturn"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-cb.Chat():
		if m.Text != "via coturn" {
			t.Fatalf("chat %q", m.Text)
		}
	case <-ctx.Done():
		t.Fatal("chat through coturn did not arrive")
	}

	// coturn checks the same scheme: good credentials allocate, forged and expired ones do not.
	creds := turnpkg.NewCredentials([]byte(coturnSecret), time.Minute)
	user, pass, _ := creds.Mint("x", time.Now())
	if err := coturnAllocate(t, addr, user, pass); err != nil {
		t.Errorf("coturn refused fresh credentials: %v", err)
	}
	if err := coturnAllocate(t, addr, user, "Zm9yZ2VkIHBhc3N3b3Jk"); err == nil {
		t.Error("coturn accepted a forged password")
	}
	old, oldPass, _ := creds.Mint("x", time.Now().Add(-2*time.Minute))
	if err := coturnAllocate(t, addr, old, oldPass); err == nil {
		t.Error("coturn accepted expired credentials")
	}
}
