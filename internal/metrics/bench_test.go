package metrics

import (
	"fmt"
	"testing"

	"github.com/p2plobby/p2plobby/internal/hub"
)

type quietConn struct{}

func (quietConn) Wake()             {}
func (quietConn) Close(int, string) {}

// BenchmarkRelay is hub.BenchmarkRelay without and with a Metrics observer: what counting costs a relay.
func BenchmarkRelay(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			cfg := hub.Config{}
			if on {
				cfg.Observer = New()
			}
			h := hub.New(cfg)
			from, _ := h.Join("r", "a", quietConn{})
			to, _ := h.Join("r", "b", quietConn{})
			var buf []byte
			emit := func(f []byte) bool { buf = append(buf[:0], f...); return true }
			from.Drain(emit)
			to.Drain(emit)
			msg := fmt.Appendf(nil, `{"toId":%q,"candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host","sdpMid":"0"}}`, to.ID())
			b.ReportAllocs()
			for b.Loop() {
				from.Handle(msg)
				if to.Drain(emit) != 1 {
					b.Fatalf("relay not delivered: %s", buf)
				}
			}
		})
	}
}
