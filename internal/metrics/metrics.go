// Package metrics exposes p2plobby's Prometheus metrics on an http.Handler, for a listener apart from the
// public one (serve --metrics-addr).
//
// A Metrics is the hub's and the transport's Observer: they call it at their choke points (an error frame sent,
// a relay routed, an upgrade answered, a connection closed or ended), and it counts with lock-free counters.
// Gauges and the TURN and cluster totals are read from Stats snapshots at scrape time, so they cost nothing
// between scrapes. The registry is its own, with the Go runtime and process collectors (go_goroutines,
// go_memstats_*, process_resident_memory_bytes, …). docs/deploy.md lists every metric.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/p2plobby/p2plobby/internal/cluster"
	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
	"github.com/p2plobby/p2plobby/internal/transport"
	"github.com/p2plobby/p2plobby/internal/turn"
)

// Metrics is one server's metrics. Create it with New, hand it to hub.Config.Observer and
// transport.Config.Observer, then Watch what the server runs. It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	upgrades *prometheus.CounterVec
	errors   *prometheus.CounterVec
	closes   *prometheus.CounterVec
	ends     *prometheus.CounterVec
	relays   [hub.NumRoutes]prometheus.Counter
	slow     prometheus.Counter
	limits   *prometheus.CounterVec
}

var (
	_ hub.Observer       = (*Metrics)(nil)
	_ transport.Observer = (*Metrics)(nil)
)

// New returns Metrics with every counter at zero and the Go and process collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		upgrades: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2plobby_upgrades_total",
			Help: "WebSocket upgrade requests by outcome: accepted, origin (403), handshake (failed), or the error code of the refusal.",
		}, []string{"outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2plobby_errors_total",
			Help: "Error messages sent to clients, by error code (docs/protocol.md); refusals included.",
		}, []string{"code"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2plobby_closes_total",
			Help: "WebSocket connections closed by the server, by close code; refusals included, answers to a client's close not.",
		}, []string{"code"}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2plobby_disconnects_total",
			Help: "Member connections that ended, by who ended them: client (close frame), server (close frame), lost (no close: network failure or timeout).",
		}, []string{"by"}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "p2plobby_slow_consumers_total",
			Help: "Members dropped because their outgoing queue went over --max-queue (close 4000).",
		}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2plobby_limit_hits_total",
			Help: "Limits hit, by limit: the error code sent, or for a close without one message-too-big (1009), too-slow (4000), flood (4001).",
		}, []string{"limit"}),
	}
	relays := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "p2plobby_relays_total",
		Help: "Relays sent by members of this node, by route: local, cluster (to another node), undeliverable (no such member); bounced counts cluster relays that came back undeliverable.",
	}, []string{"route"})
	for r := range hub.NumRoutes {
		m.relays[r] = relays.WithLabelValues(r.String())
	}
	// The series of known labels exist from the start, at 0, so that rate() and alerts see them before the
	// first event.
	for _, o := range []string{transport.UpgradeAccepted, transport.UpgradeOrigin, transport.UpgradeHandshake} {
		m.upgrades.WithLabelValues(o)
	}
	for _, by := range []string{transport.EndedByClient, transport.EndedByServer, transport.EndedLost} {
		m.ends.WithLabelValues(by)
	}
	for code := range limitErrors {
		m.errors.WithLabelValues(code)
		m.limits.WithLabelValues(code)
	}
	for code := range notLimitErrors {
		m.errors.WithLabelValues(code)
	}
	for code, limit := range limitCloses {
		m.closes.WithLabelValues(strconv.Itoa(code))
		m.limits.WithLabelValues(limit)
	}
	m.reg.MustRegister(m.upgrades, m.errors, m.closes, m.ends, relays, m.slow, m.limits,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format (or another one the scraper asks for).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
}

// Registry is where the metrics are registered, to add more or gather them in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Error implements hub.Observer and transport.Observer.
func (m *Metrics) Error(code string) {
	m.errors.WithLabelValues(code).Inc()
	if limitErrors[code] {
		m.limits.WithLabelValues(code).Inc()
	}
}

// Relay implements hub.Observer.
func (m *Metrics) Relay(r hub.Route) {
	if r < hub.NumRoutes {
		m.relays[r].Inc()
	}
}

// Upgrade implements transport.Observer.
func (m *Metrics) Upgrade(outcome string) { m.upgrades.WithLabelValues(outcome).Inc() }

// Closed implements transport.Observer.
func (m *Metrics) Closed(code int) {
	m.closes.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == protocol.CloseSlow {
		m.slow.Inc()
	}
	if limit := limitCloses[code]; limit != "" {
		m.limits.WithLabelValues(limit).Inc()
	}
}

// Ended implements transport.Observer.
func (m *Metrics) Ended(by string) { m.ends.WithLabelValues(by).Inc() }

// limitErrors are the error codes that say a limit was hit (p2plobby_limit_hits_total{limit=code}). Every
// code in internal/protocol/errors.go is either here or in notLimitErrors: a test checks it, so a new code is
// classified when it is added.
var limitErrors = map[string]bool{
	protocol.CodeRateLimited:        true, // --rate/--burst: messages dropped
	protocol.CodeRoomFull:           true, // --max-room-members
	protocol.CodeServerFull:         true, // --max-conns (and the hub's MaxMembers)
	protocol.CodeTooManyConnections: true, // --max-conns-per-ip
	protocol.CodeConnectingTooFast:  true, // new connections per address over their rate
	protocol.CodeRoomBusy:           true, // joins into one room over their rate
	protocol.CodeTargetBusy:         true, // relays to one member over the rate it may receive
	protocol.CodeRequestLimit:       true, // unanswered requests to one member
	protocol.CodeWaitingLimit:       true, // PeerJS messages waiting for ids that are not connected, per sender
}

// notLimitErrors are the other error codes: the client's mistakes, and refusals that are no limit.
var notLimitErrors = map[string]bool{
	protocol.CodeBadJSON: true, protocol.CodeBadMessage: true, protocol.CodeUnknownTarget: true,
	protocol.CodeSelfTarget: true, protocol.CodeBinaryUnsupported: true, protocol.CodeBadRoom: true,
	protocol.CodeShuttingDown: true, protocol.CodeTokenMissing: true, protocol.CodeTokenInvalid: true,
	protocol.CodeTokenExpired: true, protocol.CodeTokenRoom: true, protocol.CodeNameFixed: true,
}

// limitCloses are the limits that close a connection without an error frame, named for
// p2plobby_limit_hits_total. The other close codes either come with an error frame that names the limit
// (4003 full, 4005 busy), or are no limit.
var limitCloses = map[int]string{
	protocol.CloseTooBig: "message-too-big", // --max-message-size
	protocol.CloseSlow:   "too-slow",        // --max-queue
	protocol.CloseFlood:  "flood",           // --rate/--burst, dropped messages kept coming
	// --peerjs-alive-timeout: a PeerJS client sent no HEARTBEAT
	protocol.CloseNoHeartbeat: "no-heartbeat",
}

// WatchHub adds the gauges of the lobby: members and rooms on this node.
func (m *Metrics) WatchHub(h *hub.Hub) {
	m.reg.MustRegister(newSnapshot(func() []float64 {
		st := h.Stats()
		return []float64{float64(st.Members), float64(st.Rooms)}
	},
		gauge("p2plobby_members", "Members connected to this node."),
		gauge("p2plobby_rooms", "Rooms with members on this node (a same-network group is a room)."),
	))
}

// WatchTransport adds the open connections and readiness.
func (m *Metrics) WatchTransport(s *transport.Server) {
	m.reg.MustRegister(newSnapshot(func() []float64 { return []float64{float64(s.Conns()), bool01(s.Ready())} },
		gauge("p2plobby_connections", "Open WebSocket connections."),
		gauge("p2plobby_ready", "1 when /readyz answers 200; 0 while shutting down or, in a cluster, cut from NATS."),
	))
}

// WatchTURN adds the embedded TURN server's allocations and relayed bytes.
func (m *Metrics) WatchTURN(s *turn.Server) {
	m.reg.MustRegister(newSnapshot(func() []float64 {
		st := s.Stats()
		return []float64{float64(st.Allocations), float64(st.AllocationsCreated), float64(st.QuotaRefusals),
			float64(st.RelayedBytes), float64(st.DroppedBytes)}
	},
		gauge("p2plobby_turn_allocations", "TURN allocations (relays) open now."),
		counter("p2plobby_turn_allocations_created_total", "TURN allocations opened."),
		counter("p2plobby_turn_quota_refusals_total", "TURN allocations refused by --turn-max-allocations or --turn-member-allocations."),
		counter("p2plobby_turn_relayed_bytes_total", "Payload bytes relayed by TURN between members and their peers, both ways."),
		counter("p2plobby_turn_dropped_bytes_total", "Payload bytes TURN dropped for going over --turn-member-rate or --turn-total-rate."),
	))
}

// WatchCluster adds the cluster link: NATS connection, nodes, messages. Call it after b.Start.
func (m *Metrics) WatchCluster(b *cluster.Bus) {
	m.reg.MustRegister(newSnapshot(func() []float64 {
		st := b.Stats()
		return []float64{bool01(st.Connected), float64(st.Nodes), float64(st.Sent), float64(st.Received),
			float64(st.Reconnects), float64(st.Losses)}
	},
		gauge("p2plobby_cluster_connected", "1 while connected to a NATS server."),
		gauge("p2plobby_cluster_nodes", "Other nodes of the cluster alive, as heard from."),
		counter("p2plobby_cluster_messages_sent_total", "NATS messages published."),
		counter("p2plobby_cluster_messages_received_total", "NATS messages received."),
		counter("p2plobby_cluster_reconnects_total", "Reconnections to NATS."),
		counter("p2plobby_cluster_resyncs_total", "Times this node lost cluster messages (slow consumer, full queue) and resynced its rooms."),
	))
}

// snapshot is a Collector of several metrics read from one snapshot per scrape, so that they agree (members
// and rooms of the same instant) and a scrape takes each lock once.
type snapshot struct {
	read  func() []float64 // one value per metric, in order
	descs []*prometheus.Desc
	types []prometheus.ValueType
}

type metric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func gauge(name, help string) metric {
	return metric{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue}
}

func counter(name, help string) metric {
	return metric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue}
}

func newSnapshot(read func() []float64, metrics ...metric) *snapshot {
	s := &snapshot{read: read}
	for _, m := range metrics {
		s.descs, s.types = append(s.descs, m.desc), append(s.types, m.typ)
	}
	return s
}

// Describe implements prometheus.Collector.
func (s *snapshot) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *snapshot) Collect(ch chan<- prometheus.Metric) {
	for i, v := range s.read() {
		ch <- prometheus.MustNewConstMetric(s.descs[i], s.types[i], v)
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
