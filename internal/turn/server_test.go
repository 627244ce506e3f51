package turn

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

var testSecret = []byte("test-secret")

// startServer runs a TURN server on loopback with an ephemeral port.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Credentials == nil {
		cfg.Credentials = NewCredentials(testSecret, time.Minute)
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (s *Server) udpAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())) }

// client is a pion TURN client over UDP (or over conn, for TCP).
func newClient(t *testing.T, server string, conn net.PacketConn, user, pass string) *turn.Client {
	t.Helper()
	if conn == nil {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           conn,
		Username:       user,
		Password:       pass,
		Realm:          DefaultRealm,
		RTO:            200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); conn.Close() })
	return cl
}

// echoPeer is a plain UDP socket that answers every datagram with the same bytes.
func echoPeer(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return pc
}

// roundTrip sends msg through relay to peer and waits for the echo.
func roundTrip(relay net.PacketConn, peer net.Addr, msg []byte) error {
	relay.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer relay.SetReadDeadline(time.Time{})
	buf := make([]byte, 1500)
	for range 5 { // the first datagram may race the permission
		if _, err := relay.WriteTo(msg, peer); err != nil {
			return err
		}
		relay.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		n, _, err := relay.ReadFrom(buf)
		if err == nil && bytes.Equal(buf[:n], msg) {
			return nil
		}
	}
	return errors.New("no echo through the relay")
}

func TestAllocateRelayAndLeave(t *testing.T) {
	s := startServer(t, Config{})
	creds := s.cfg.Credentials
	s.Admit("alice")
	user, pass, _ := creds.Mint("alice", time.Now())
	cl := newClient(t, s.udpAddr(), nil, user, pass)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("relay address %v, want the address the client reached (127.0.0.1)", relay.LocalAddr())
	}
	peer := echoPeer(t)
	if err := roundTrip(relay, peer.LocalAddr(), []byte("hello through the relay")); err != nil {
		t.Fatal(err)
	}
	if n := s.Allocations(); n != 1 {
		t.Fatalf("Allocations() = %d, want 1", n)
	}

	s.Leave("alice")
	deadline := time.Now().Add(3 * time.Second)
	for s.Allocations() != 0 || s.pion.AllocationCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after Leave: %d relays, %d pion allocations; want 0", s.Allocations(), s.pion.AllocationCount())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := roundTrip(relay, peer.LocalAddr(), []byte("after leave")); err == nil {
		t.Fatal("the relay still carries data after its member left")
	}
	// The same, unexpired credentials are refused now.
	cl2 := newClient(t, s.udpAddr(), nil, user, pass)
	if _, err := cl2.Allocate(); err == nil {
		t.Fatal("credentials of a member who left were accepted")
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestCredentialsRefused(t *testing.T) {
	var logs syncBuffer
	s := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	s.Admit("bob")
	now := time.Now()
	good := s.cfg.Credentials
	user, pass, _ := good.Mint("bob", now)
	expiredUser, expiredPass, _ := good.Mint("bob", now.Add(-2*time.Minute))
	foreignUser, foreignPass, _ := NewCredentials([]byte("another server"), time.Minute).Mint("bob", now)
	strangerUser, strangerPass, _ := good.Mint("stranger", now)
	for _, tc := range []struct{ name, user, pass, logged string }{
		// A wrong password fails pion's MESSAGE-INTEGRITY check, after our handler passed the username.
		{"forged password", user, "bm90IHRoZSBwYXNzd29yZA==", ""},
		{"expired", expiredUser, expiredPass, "reason=expired"},
		{"foreign secret", foreignUser, foreignPass, ""},
		{"not a member", strangerUser, strangerPass, "reason=\"not a member\" member=stranger"},
		{"malformed username", "bob", pass, "reason=\"malformed username\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClient(t, s.udpAddr(), nil, tc.user, tc.pass)
			if _, err := cl.Allocate(); err == nil {
				t.Fatal("allocation granted")
			}
			if tc.logged != "" && !strings.Contains(logs.String(), tc.logged) {
				t.Errorf("log lacks %q:\n%s", tc.logged, logs.String())
			}
		})
	}
	if n := s.Allocations(); n != 0 {
		t.Fatalf("%d relays after refusals", n)
	}
	cl := newClient(t, s.udpAddr(), nil, user, pass)
	if _, err := cl.Allocate(); err != nil {
		t.Fatalf("good credentials refused: %v", err)
	}
}

func TestQuotas(t *testing.T) {
	s := startServer(t, Config{MaxMemberAllocations: 2, MaxAllocations: 3})
	alloc := func(id string) error {
		user, pass, _ := s.cfg.Credentials.Mint(id, time.Now())
		_, err := newClient(t, s.udpAddr(), nil, user, pass).Allocate()
		return err
	}
	s.Admit("a")
	s.Admit("b")
	for i := range 2 {
		if err := alloc("a"); err != nil {
			t.Fatalf("allocation %d of a: %v", i+1, err)
		}
	}
	if err := alloc("a"); err == nil || !strings.Contains(err.Error(), "486") {
		t.Fatalf("third allocation of a: %v, want 486 Allocation Quota Reached", err)
	}
	if err := alloc("b"); err != nil {
		t.Fatalf("b's first allocation: %v", err)
	}
	if err := alloc("b"); err == nil {
		t.Fatal("an allocation beyond the server's total was granted")
	}
	if n := s.Allocations(); n != 3 {
		t.Fatalf("Allocations() = %d, want 3", n)
	}
}

func TestMemberRateDropsExcess(t *testing.T) {
	const rate = 64 << 10 // bytes/s; the burst is 64 KiB too
	s := startServer(t, Config{MemberRate: rate})
	s.Admit("m")
	user, pass, _ := s.cfg.Credentials.Mint("m", time.Now())
	relay, err := newClient(t, s.udpAddr(), nil, user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := relay.(interface{ CreatePermissions(...net.Addr) error }).CreatePermissions(sink.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	got := make(chan int)
	go func() {
		total, buf := 0, make([]byte, 1500)
		for {
			sink.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, _, err := sink.ReadFrom(buf)
			if err != nil {
				got <- total
				return
			}
			total += n
		}
	}()
	start := time.Now()
	payload := make([]byte, 1000)
	for range 1000 { // 1 MB, far over a 64 KiB burst
		relay.WriteTo(payload, sink.LocalAddr())
	}
	elapsed := time.Since(start)
	received := <-got
	allowed := 64<<10 + int(elapsed.Seconds()*rate) + 8<<10
	if received > allowed || received == 0 {
		t.Fatalf("relayed %d bytes in %v at %d B/s; want between 1 and %d", received, elapsed, rate, allowed)
	}
}

func TestPermission(t *testing.T) {
	public, loop := permission(net.ParseIP("192.0.2.1")), permission(net.ParseIP("127.0.0.1"))
	for _, tc := range []struct {
		peer         string
		public, loop bool
	}{
		{"198.51.100.7", true, true},
		{"10.1.2.3", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"169.254.169.254", false, false}, // cloud metadata
		{"0.0.0.0", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, false},
	} {
		ip := net.ParseIP(tc.peer)
		if got := public(nil, ip); got != tc.public {
			t.Errorf("relay on a public address, peer %s: %v, want %v", tc.peer, got, tc.public)
		}
		if got := loop(nil, ip); got != tc.loop {
			t.Errorf("relay on loopback, peer %s: %v, want %v", tc.peer, got, tc.loop)
		}
	}
}

func TestSTUNOnBothPorts(t *testing.T) {
	alt, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	altPort := alt.LocalAddr().(*net.UDPAddr).Port
	alt.Close()
	s := startServer(t, Config{AltPort: altPort})
	if s.AltPort() != altPort {
		t.Fatalf("AltPort() = %d, want %d", s.AltPort(), altPort)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, port := range []int{s.Port(), altPort} {
		mapped, err := bindingRequest(conn, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatalf("STUN on port %d: %v", port, err)
		}
		if mapped.String() != conn.LocalAddr().String() {
			t.Errorf("port %d maps %v, want %v", port, mapped, conn.LocalAddr())
		}
	}
}

// bindingRequest sends one STUN Binding request and returns the XOR-MAPPED-ADDRESS.
func bindingRequest(conn net.PacketConn, to net.Addr) (*net.UDPAddr, error) {
	msg := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := conn.WriteTo(msg.Raw, to); err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 1500)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		return nil, err
	}
	res := &stun.Message{Raw: buf[:n]}
	if err := res.Decode(); err != nil {
		return nil, err
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(res); err != nil {
		return nil, err
	}
	return &net.UDPAddr{IP: xor.IP, Port: xor.Port}, nil
}

// TURN-over-TCP connections are capped (at the allocation quota) and closed when silent.
func TestTCPConnectionsCappedAndIdle(t *testing.T) {
	old := tcpIdle
	tcpIdle = 300 * time.Millisecond
	t.Cleanup(func() { tcpIdle = old }) // after the server's own cleanup, which runs first
	s := startServer(t, Config{MaxAllocations: 2})
	addr := s.udpAddr() // the TCP port is the same
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	// The third is over the cap: closed at once. The first two live until their idle deadline.
	if !closedWithin(conns[2], 2*time.Second) {
		t.Fatal("a TCP connection over the cap was kept")
	}
	if closedWithin(conns[0], 100*time.Millisecond) {
		t.Fatal("a TCP connection within the cap was closed at once")
	}
	if !closedWithin(conns[0], 2*time.Second) || !closedWithin(conns[1], 2*time.Second) {
		t.Fatal("silent TCP connections were not closed after the idle time")
	}
	// Their slots are free again.
	deadline := time.Now().Add(2 * time.Second)
	for {
		s.mu.Lock()
		n := s.tcpConns
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d TCP connections still counted", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAnnouncedRelayAddress(t *testing.T) {
	public := net.ParseIP("203.0.113.9")
	for _, tc := range []struct{ ip, public, want string }{
		{"10.0.0.5", "", "10.0.0.5"},
		{"10.0.0.5", "203.0.113.9", "203.0.113.9"}, // behind 1:1 NAT
		{"127.0.0.1", "203.0.113.9", "127.0.0.1"},  // same-host clients
		{"fd00::5", "203.0.113.9", "fd00::5"},      // another family
	} {
		var pub net.IP
		if tc.public != "" {
			pub = public
		}
		if got := announced(net.ParseIP(tc.ip), pub); got.String() != tc.want {
			t.Errorf("announced(%s, %s) = %s, want %s", tc.ip, tc.public, got, tc.want)
		}
	}
}

func TestRelayPortRange(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lo := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	s := startServer(t, Config{RelayPortMin: lo, RelayPortMax: lo + 20})
	s.Admit("m")
	for range 3 {
		user, pass, _ := s.cfg.Credentials.Mint("m", time.Now())
		relay, err := newClient(t, s.udpAddr(), nil, user, pass).Allocate()
		if err != nil {
			t.Fatal(err)
		}
		if port := relay.LocalAddr().(*net.UDPAddr).Port; port < lo || port > lo+20 {
			t.Errorf("relay port %d outside %d-%d", port, lo, lo+20)
		}
	}
}
