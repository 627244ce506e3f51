package peer

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Path is the network path a connection uses: the ICE candidate pair selected, as the browser app shows it.
type Path struct {
	LocalType  string // "host", "srflx" (this side's public address), "prflx" or "relay"
	RemoteType string
	Protocol   string // "udp" or "tcp" between the two candidates
	// RelayProtocol is how this side reaches its TURN server when LocalType is "relay": "udp", "tcp" or
	// "tls"; empty otherwise.
	RelayProtocol string
	LocalAddr     string // host:port of the local candidate, [ip6]:port for IPv6 (the relay's address for a relay candidate)
	RemoteAddr    string
}

// Relayed reports whether data goes through a TURN relay, this side's or the other's.
func (p Path) Relayed() bool { return p.LocalType == "relay" || p.RemoteType == "relay" }

// String describes the path in a few words, e.g. "direct over UDP (host ↔ srflx)" or
// "relayed: TURN over TCP (relay ↔ srflx)".
func (p Path) String() string {
	pair := fmt.Sprintf("(%s ↔ %s)", p.LocalType, p.RemoteType)
	switch {
	case p.LocalType == "relay" && p.RelayProtocol != "":
		return fmt.Sprintf("relayed: TURN over %s %s", strings.ToUpper(p.RelayProtocol), pair)
	case p.Relayed():
		return "relayed: the other side's TURN " + pair
	}
	return fmt.Sprintf("direct over %s %s", strings.ToUpper(p.Protocol), pair)
}

// Path returns the path the connection uses now. It can change while the connection lives (ICE may switch
// to a better pair); an error means ICE has no selected pair (the connection is gone).
func (c *Conn) Path() (Path, error) {
	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return Path{}, fmt.Errorf("%w: no selected candidate pair", ErrConnectionFailed)
	}
	p := Path{
		LocalType:  pair.Local.Typ.String(),
		RemoteType: pair.Remote.Typ.String(),
		Protocol:   pair.Local.Protocol.String(),
		LocalAddr:  net.JoinHostPort(pair.Local.Address, strconv.Itoa(int(pair.Local.Port))),
		RemoteAddr: net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port))),
	}
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay {
		// Only the stats say how the relay is reached; match the candidate by address.
		for _, st := range c.pc.GetStats() {
			cs, ok := st.(webrtc.ICECandidateStats)
			if ok && cs.Type == webrtc.StatsTypeLocalCandidate && cs.IP == pair.Local.Address && cs.Port == int32(pair.Local.Port) {
				p.RelayProtocol = cs.RelayProtocol
				break
			}
		}
	}
	return p, nil
}
