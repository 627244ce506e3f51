package turn

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"time"
)

// ICE decides the ICE servers each member is given: the embedded server's STUN and TURN (or an external
// TURN server's), reached by the host name the member used for the lobby, with credentials minted for that
// member; then any extra servers configured. It implements transport.ICE. The zero value hands out nothing.
type ICE struct {
	// Credentials mints TURN credentials; nil hands out no TURN.
	Credentials *Credentials
	// Server is the embedded STUN/TURN server; nil when TURN is external or off.
	Server *Server
	// HTTPTurn says the HTTP port also serves TURN over TCP (see SplitListener).
	HTTPTurn bool
	// HTTPTLS says the HTTP port serves TLS (see SplitTLSListener): TURN on it is offered as turns: (TURN
	// over TLS over TCP) instead of turn:, and a Host with no port means 443.
	HTTPTLS bool
	// External lists the stun:, turn: and turns: URLs of an external server sharing the credentials'
	// secret (coturn's use-auth-secret); used when Server is nil.
	External []string
	// Extra is a JSON array of RTCIceServer handed out as it is, after ours (--ice-servers).
	Extra json.RawMessage
	// Host, if set, is the host put in the embedded server's URLs instead of the one each member used. A
	// node of a cluster behind a load balancer names itself, so that a member's TURN traffic reaches the
	// node that admitted it (--turn-host).
	Host string
}

// iceServer is the RTCIceServer dictionary.
type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Join returns member id's ICE servers and when they are due for a refresh (zero: never), and admits the
// member to the embedded TURN server. host is the Host the member reached the lobby by.
func (p *ICE) Join(id, host string) (json.RawMessage, time.Time) {
	if p.Server != nil && p.Credentials != nil {
		p.Server.Admit(id)
	}
	return p.Refresh(id, host)
}

// Refresh returns fresh ICE servers for a member already joined.
func (p *ICE) Refresh(id, host string) (json.RawMessage, time.Time) {
	var list []iceServer
	var refresh time.Time
	if p.Credentials != nil {
		user, pass, expires := p.Credentials.Mint(id, time.Now())
		refresh = expires.Add(-p.Credentials.TTL() / 3)
		switch {
		case p.Server != nil:
			if p.Host != "" {
				host = p.Host
			}
			list = p.embedded(host, user, pass)
			if list == nil {
				refresh = time.Time{}
			}
		case len(p.External) > 0:
			list = external(p.External, user, pass)
		default:
			refresh = time.Time{}
		}
	}
	return join(list, p.Extra), refresh
}

// Leave ends member id's use of the embedded TURN server.
func (p *ICE) Leave(id string) {
	if p.Server != nil {
		p.Server.Leave(id)
	}
}

// embedded lists the embedded server's URLs under the member's host name; none if the host is unusable.
func (p *ICE) embedded(host, user, pass string) []iceServer {
	name, httpPort, ok := urlHost(host)
	if _, _, err := net.SplitHostPort(host); err != nil && p.HTTPTLS {
		httpPort = "443"
	}
	if !ok {
		return nil
	}
	port := strconv.Itoa(p.Server.Port())
	stun := []string{"stun:" + name + ":" + port}
	if alt := p.Server.AltPort(); alt != 0 {
		stun = append(stun, "stun:"+name+":"+strconv.Itoa(alt))
	}
	turn := []string{"turn:" + name + ":" + port + "?transport=udp", "turn:" + name + ":" + port + "?transport=tcp"}
	switch {
	case p.HTTPTurn && p.HTTPTLS:
		turn = append(turn, "turns:"+name+":"+httpPort+"?transport=tcp")
	case p.HTTPTurn && httpPort != port:
		turn = append(turn, "turn:"+name+":"+httpPort+"?transport=tcp")
	}
	return []iceServer{{URLs: stun}, {URLs: turn, Username: user, Credential: pass}}
}

func external(urls []string, user, pass string) []iceServer {
	var stun, turn []string
	for _, u := range urls {
		if strings.HasPrefix(u, "stun") {
			stun = append(stun, u)
		} else {
			turn = append(turn, u)
		}
	}
	var list []iceServer
	if len(stun) > 0 {
		list = append(list, iceServer{URLs: stun})
	}
	if len(turn) > 0 {
		list = append(list, iceServer{URLs: turn, Username: user, Credential: pass})
	}
	return list
}

// join encodes list followed by the elements of the JSON array extra; nil when both are empty.
func join(list []iceServer, extra json.RawMessage) json.RawMessage {
	inner := bytes.TrimSpace(extra)
	inner = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimPrefix(inner, []byte("[")), []byte("]")))
	if len(list) == 0 && len(inner) == 0 {
		return nil
	}
	b, _ := json.Marshal(list) // plain strings: cannot fail
	if len(inner) == 0 {
		return b
	}
	if len(list) == 0 {
		return append(append([]byte{'['}, inner...), ']')
	}
	b = append(b[:len(b)-1], ',')
	b = append(b, inner...)
	return append(b, ']')
}

// urlHost turns a Host header into the host for stun:/turn: URLs (IPv6 in brackets) and the HTTP port the
// member used (80 when it named none). ok is false for anything that is not a plain host name or address.
func urlHost(hostport string) (host, port string, ok bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "80"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", "", false
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() == nil {
			if strings.Contains(host, "%") {
				return "", "", false // a zone means nothing to another host
			}
			return "[" + ip.String() + "]", port, true
		}
		return ip.String(), port, true
	}
	if host == "" || len(host) > 253 {
		return "", "", false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "", "", false
		}
	}
	return strings.ToLower(host), port, true
}
