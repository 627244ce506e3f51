package transport

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		remote string
		xff    []string
		fwd    []string
		want   string
	}{
		{remote: "192.0.2.1:5", want: "192.0.2.1"},
		{remote: "[2001:db8::1%eth0]:5", want: "2001:db8::1"},
		{remote: "[::ffff:192.0.2.1]:5", want: "192.0.2.1"},
		// An untrusted peer's headers are never believed.
		{remote: "192.0.2.1:5", xff: []string{"203.0.113.9"}, want: "192.0.2.1"},
		{remote: "192.0.2.1:5", fwd: []string{"for=203.0.113.9"}, want: "192.0.2.1"},
		// A trusted proxy without a header: the proxy is the client.
		{remote: "127.0.0.1:5", want: "127.0.0.1"},
		// The rightmost address that is not a trusted proxy; what the client put further left is ignored.
		{remote: "127.0.0.1:5", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{remote: "127.0.0.1:5", xff: []string{"198.51.100.66, 203.0.113.9"}, want: "203.0.113.9"},
		{remote: "127.0.0.1:5", xff: []string{"198.51.100.66", "203.0.113.9, 10.1.1.1"}, want: "203.0.113.9"},
		{remote: "127.0.0.1:5", xff: []string{" [2001:db8::7]:99 "}, want: "2001:db8::7"},
		// Garbage stops the walk at the last address believed.
		{remote: "127.0.0.1:5", xff: []string{"203.0.113.9, bogus, 10.1.1.1"}, want: "10.1.1.1"},
		{remote: "127.0.0.1:5", xff: []string{"unknown"}, want: "127.0.0.1"},
		// Forwarded, only when there is no X-Forwarded-For.
		{remote: "127.0.0.1:5", fwd: []string{`for=198.51.100.66, for="[2001:db8:cafe::17]:4711";proto=https`}, want: "2001:db8:cafe::17"},
		{remote: "127.0.0.1:5", fwd: []string{"For=203.0.113.9;by=10.0.0.1"}, want: "203.0.113.9"},
		{remote: "127.0.0.1:5", fwd: []string{"for=_hidden"}, want: "127.0.0.1"},
		{remote: "127.0.0.1:5", xff: []string{"203.0.113.1"}, fwd: []string{"for=203.0.113.2"}, want: "203.0.113.1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		for _, v := range tc.fwd {
			r.Header.Add("Forwarded", v)
		}
		if got := clientAddr(r, trusted); got.String() != tc.want {
			t.Errorf("%s xff=%q fwd=%q: %v, want %s", tc.remote, tc.xff, tc.fwd, got, tc.want)
		}
	}
}

func TestNetworkRoomNames(t *testing.T) {
	secret := []byte("s")
	room := func(a string) string { return networkRoom(secret, netip.MustParseAddr(a), a) }
	same := [][2]string{
		{"203.0.113.9", "203.0.113.9"},
		{"2001:db8:1:2::1", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"}, // one /64
		{"127.0.0.1", "192.168.1.20"},                           // the server's own site: one group
		{"10.0.0.1", "fd00::1"},
		{"::1", "169.254.1.1"},
	}
	for _, p := range same {
		if room(p[0]) != room(p[1]) {
			t.Errorf("%s and %s are in different groups", p[0], p[1])
		}
	}
	differ := [][2]string{
		{"203.0.113.9", "203.0.113.10"},
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"203.0.113.9", "127.0.0.1"},
	}
	for _, p := range differ {
		if room(p[0]) == room(p[1]) {
			t.Errorf("%s and %s share a group", p[0], p[1])
		}
	}
	r := room("203.0.113.9")
	if len(r) != 20 || !strings.HasPrefix(r, "net-") || strings.Contains(r, "203") {
		t.Errorf("room name %q", r)
	}
	if other := networkRoom([]byte("t"), netip.MustParseAddr("203.0.113.9"), ""); other == r {
		t.Errorf("the name does not depend on the secret")
	}
}
