package transport

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address a request comes from: the TCP peer's, unless the peer is one of trusted (a
// reverse proxy of the operator's), in which case it is the rightmost address of X-Forwarded-For (or, when
// that header is absent, of Forwarded's for=) that is not itself a trusted proxy. Addresses further left
// were written by whoever sent the request to the proxy, so they are never believed; an entry that does not
// parse ends the walk at the last address believed. The zero Addr means the peer's address did not parse.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			hops = append(hops, strings.Split(v, ",")...)
		}
	} else {
		for _, v := range r.Header.Values("Forwarded") {
			for _, elem := range strings.Split(v, ",") {
				hops = append(hops, forwardedFor(elem))
			}
		}
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseAddr(hops[i])
		if !a.IsValid() {
			break
		}
		addr = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return addr
}

// parseAddr parses an address as found in RemoteAddr and forwarding headers: "1.2.3.4", "1.2.3.4:5",
// "[::1]:5", "::1" or "[::1]", without zone, IPv4-mapped IPv6 as IPv4. The zero Addr if it is none of those.
func parseAddr(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

// forwardedFor returns the for= value of one element of a Forwarded header (RFC 7239), unquoted; "" if none.
func forwardedFor(elem string) string {
	for _, pair := range strings.Split(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, "for") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// networkRoom names the same-network group of a client address: "net-" and 16 characters of an HMAC of its
// network, so the name says nothing about the address and cannot be guessed for another network. The
// network is the IPv4 address, or the /64 of an IPv6 address (one home's privacy addresses share it).
// Loopback, private (RFC 1918, fc00::/7) and link-local addresses are one network, "local": clients that
// reach the server by such an address are on the server's own site (a lobby run on a home or office
// network), where each device has an address of its own.
func networkRoom(secret []byte, a netip.Addr, raw string) string {
	var key []byte
	switch {
	case !a.IsValid():
		key = []byte("raw:" + raw) // not an IP connection (tests over pipes): its own network
	case a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast():
		key = []byte("local")
	case a.Is4():
		key = a.AppendTo([]byte("4:"))
	default:
		p, _ := a.Prefix(64)
		key = p.Addr().AppendTo([]byte("6:"))
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(key)
	sum := mac.Sum(nil)
	return "net-" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:10])) // 80 bits: 16 characters
}

// hostOnly strips the port of a RemoteAddr for logs and limits when it is not an IP address.
func hostOnly(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
