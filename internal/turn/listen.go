package turn

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// listenIPs resolves Config.Addr into the addresses to bind and the port.
func listenIPs(addr string) ([]net.IP, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0, fmt.Errorf("turn: address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, 0, fmt.Errorf("turn: address %q: bad port", addr)
	}
	if host != "" {
		ip := net.ParseIP(host)
		if ip == nil {
			ipa, err := net.ResolveIPAddr("ip", host)
			if err != nil {
				return nil, 0, fmt.Errorf("turn: address %q: %w", addr, err)
			}
			ip = ipa.IP
		}
		if !ip.IsUnspecified() {
			return []net.IP{ip}, port, nil
		}
	}
	ips, err := localIPs()
	if err != nil {
		return nil, 0, fmt.Errorf("turn: listing local addresses: %w", err)
	}
	return ips, port, nil
}

// localIPs lists the addresses to serve on when no host is given: every unicast address of the host but
// link-local ones, which would need a zone in every URL.
func localIPs() ([]net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsMulticast() || ipn.IP.IsUnspecified() {
			continue
		}
		ip := ipn.IP
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		ips = append(ips, ip)
	}
	if len(ips) == 0 {
		return nil, errors.New("no usable address")
	}
	return ips, nil
}

func udpNet(ip net.IP) string {
	if ip.To4() != nil {
		return "udp4"
	}
	return "udp6"
}

func tcpNet(ip net.IP) string {
	if ip.To4() != nil {
		return "tcp4"
	}
	return "tcp6"
}

// sockets are the bound UDP and TCP sockets, one pair per address, all on one port.
type sockets struct {
	port int
	udp  []net.PacketConn
	tcp  []net.Listener
}

func (s *sockets) close() {
	for _, c := range s.udp {
		c.Close()
	}
	for _, l := range s.tcp {
		l.Close()
	}
	s.udp, s.tcp = nil, nil
}

// bindAll binds UDP and TCP on port at every address. Port 0 takes the port the first UDP socket gets,
// retrying a few times if another address has it taken already.
func bindAll(ips []net.IP, port int) (*sockets, error) {
	tries := 1
	if port == 0 {
		tries = 8
	}
	var err error
	for range tries {
		s := &sockets{port: port}
		if err = s.bind(ips); err == nil {
			return s, nil
		}
		s.close()
		if port != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, err
}

func (s *sockets) bind(ips []net.IP) error {
	for _, ip := range ips {
		u, err := net.ListenPacket(udpNet(ip), net.JoinHostPort(ip.String(), strconv.Itoa(s.port)))
		if err != nil {
			return fmt.Errorf("turn: %w", err)
		}
		s.udp = append(s.udp, u)
		if s.port == 0 {
			s.port = u.LocalAddr().(*net.UDPAddr).Port
		}
		t, err := net.Listen(tcpNet(ip), net.JoinHostPort(ip.String(), strconv.Itoa(s.port)))
		if err != nil {
			return fmt.Errorf("turn: %w", err)
		}
		s.tcp = append(s.tcp, t)
	}
	return nil
}
