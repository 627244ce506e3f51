package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/p2plobby/p2plobby/internal/cluster"
	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/metrics"
	"github.com/p2plobby/p2plobby/internal/transport"
	"github.com/p2plobby/p2plobby/internal/turn"
)

// metricsConfig is the metrics part of serveConfig.
type metricsConfig struct {
	addr string
}

func (mc *metricsConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&mc.addr, "metrics-addr", "", "`host:port` of a separate listener for Prometheus /metrics (and /healthz, /readyz), e.g. 127.0.0.1:9090; never the public --addr (empty: no metrics)")
}

// validate refuses a metrics listener on the public port: metrics tell the world too much about the server.
func (mc *metricsConfig) validate(public string) error {
	if mc.addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(mc.addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: want host:port, not %q", mc.addr)
	}
	phost, pport, err := net.SplitHostPort(public)
	if err == nil && port == pport && port != "0" && (host == phost || unspecified(host) || unspecified(phost)) {
		return fmt.Errorf("--metrics-addr %s is the public --addr %s: metrics need a listener of their own, "+
			"which the public does not reach (e.g. --metrics-addr 127.0.0.1:9090)", mc.addr, public)
	}
	return nil
}

// metricsServer is the --metrics-addr listener. A nil *metricsServer is metrics off: its methods do nothing.
type metricsServer struct {
	m  *metrics.Metrics
	ln net.Listener
	hs *http.Server
}

// listen binds the metrics listener (nil when --metrics-addr is empty), so that a bad address fails the start
// before anything is served.
func (mc *metricsConfig) listen() (*metricsServer, error) {
	if mc.addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", mc.addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %v", err)
	}
	return &metricsServer{m: metrics.New(), ln: ln}, nil
}

// hubObserver is the hub's Observer: nil (a nil interface, not a nil pointer in one) when metrics are off.
func (ms *metricsServer) hubObserver() hub.Observer {
	if ms == nil {
		return nil
	}
	return ms.m
}

// transportObserver is the transport's Observer, nil when metrics are off.
func (ms *metricsServer) transportObserver() transport.Observer {
	if ms == nil {
		return nil
	}
	return ms.m
}

// serve watches what the server runs (turnSrv and bus may be nil) and serves /metrics, /healthz and /readyz.
// /readyz here answers 503 while the public listener is already closed and the members drain.
func (ms *metricsServer) serve(h *hub.Hub, srv *transport.Server, turnSrv *turn.Server, bus *cluster.Bus, log *slog.Logger) {
	if ms == nil {
		return
	}
	ms.m.WatchHub(h)
	ms.m.WatchTransport(srv)
	if turnSrv != nil {
		ms.m.WatchTURN(turnSrv)
	}
	if bus != nil {
		ms.m.WatchCluster(bus)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", ms.m.Handler())
	mux.Handle("GET /healthz", srv)
	mux.Handle("GET /readyz", srv)
	ms.hs = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := ms.hs.Serve(ms.ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ms.ln.Addr().String(), "url", "http://"+ms.ln.Addr().String()+"/metrics")
}

// close stops the metrics listener: the last thing serve does, so the drain can be watched to its end.
func (ms *metricsServer) close() {
	if ms == nil {
		return
	}
	if ms.hs != nil {
		ms.hs.Close()
	} else {
		ms.ln.Close()
	}
}
