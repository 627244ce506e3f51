package transport

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/internal/protocol"
)

// Server is the HTTP handler of p2plobby. Create it with New; stop it with Shutdown.
type Server struct {
	hub    *hub.Hub
	cfg    Config
	static fs.FS
	files  http.Handler

	mu          sync.Mutex
	conns       map[*conn]struct{}
	perIP       map[string]int
	ipRate      map[string]bucket // Config.IPConnRate per client address (limits.go)
	reserved    int               // connections counted against MaxConns: members plus upgrades in progress
	closing     bool
	admitted    sync.WaitGroup // from a successful reserve until unreserve or the end of the reader
	writers     atomic.Int64   // writer goroutines running now
	writersPeak atomic.Int64   // most writers at once (or connections in one pump round) since the last trim
	lastBurst   atomic.Int64   // unix nanoseconds of the last pump round of burstWriters connections or more
	pumps       []*pump        // pump.go
	stop        chan struct{}
	secret      []byte  // keys the names of same-network groups: Config.NetworkSecret, or random
	poller      *poller // nil where epoll is unavailable: each connection then has a reader goroutine
	stopPoller  sync.Once
}

// New returns a Server that joins WebSocket clients to h and serves the web app from static (its app/index.html
// at GET /, every other file at its own path). It starts the keepalive loop; call Shutdown to stop it.
func New(h *hub.Hub, static fs.FS, cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{
		hub:    h,
		cfg:    cfg,
		static: static,
		files:  http.FileServerFS(static),
		conns:  make(map[*conn]struct{}),
		perIP:  make(map[string]int),
		stop:   make(chan struct{}),
		secret: make([]byte, 32),
	}
	if len(cfg.NetworkSecret) > 0 {
		s.secret = cfg.NetworkSecret
	} else {
		rand.Read(s.secret)
	}
	if p, err := newPoller(); err == nil {
		s.poller = p
	} else {
		cfg.Logger.Warn("no epoll: every connection gets a reader goroutine", "err", err)
	}
	s.startPumps()
	go s.keepalive()
	go s.trimAfterBursts()
	if cfg.PeerJS != nil {
		go s.watchHeartbeats()
	}
	return s
}

// securityHeaders keep the page self-contained: no third-party code, no framing. Its service worker and web
// app manifest (the installable app: web/app/sw.js) come from the server too.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; " +
		"connect-src 'self' ws: wss:; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; " +
		"form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
}

// ServeHTTP routes WebSocket upgrades at / and /ws to the lobby, /healthz to a liveness answer, /readyz to
// whether new members should be sent here (503 while shutting down or cut from the cluster), and
// everything else to the embedded web app: its service worker (app/sw.js) at /sw.js, so that it may control
// the whole origin (a worker's scope is at most the folder of its script).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if (path == "/" || path == "/ws") && isUpgrade(r) {
		s.serveWebSocket(w, r)
		return
	}
	if s.peerJSPath(path) {
		s.servePeerJS(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case path == "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	case path == "/readyz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !s.ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	case path == "/ws":
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is the WebSocket endpoint", http.StatusUpgradeRequired)
	case path == "/" || path == "/index.html":
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		http.ServeFileFS(w, r, s.static, "app/index.html")
	case path == "/sw.js":
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		w.Header().Set("Cache-Control", "no-cache") // a new version of the server is seen at the next visit
		http.ServeFileFS(w, r, s.static, "app/sw.js")
	case path[len(path)-1] == '/':
		http.NotFound(w, r) // no directory listings
	default:
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if strings.HasSuffix(path, ".webmanifest") {
			w.Header().Set("Content-Type", "application/manifest+json") // not in Go's table of types
		}
		s.files.ServeHTTP(w, r)
	}
}

func (s *Server) ready() bool {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	return !closing && (s.cfg.Ready == nil || s.cfg.Ready())
}

func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header.Get("Connection"), "upgrade") && headerHasToken(r.Header.Get("Upgrade"), "websocket")
}

// originAllowed is the origin policy of gorilla/websocket and coder/websocket, so that no other web site can
// open a lobby connection in its visitors' browsers: a client that sends no Origin (not a browser), a page of
// this server (the Origin's host is the Host asked for) and a page on loopback are admitted; any other page
// needs its Origin in AllowedOrigins ("*" admits every one). "null" (a file:// page, a sandboxed frame) is
// another page.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// upgrader selects the subprotocol "p2plobby" when offered, never a token one (see tokenOf): a browser that
// offers subprotocols fails the connection unless the server selects one of them.
var upgrader = ws.HTTPUpgrader{Timeout: 5 * time.Second, Protocol: func(p string) bool { return p == protocol.Subprotocol }}

// upgraded is a WebSocket connection just upgraded, counted against the limits unless refusal is set.
type upgraded struct {
	nc       net.Conn
	hijacked *bufio.Reader
	addr     netip.Addr // the client's address (clientAddr)
	ip       string     // its key for the per-address limits
	refusal  *protocol.Error
}

// upgrade checks the origin (allowed), reserves the connection against the limits and upgrades it. ok is
// false when the request has been answered over HTTP; otherwise a refusal, if any, is for the caller to send
// over the WebSocket, and a connection without one must end in unreserve or startConn.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, allowed bool, up ws.HTTPUpgrader) (u upgraded, ok bool) {
	if !allowed {
		s.cfg.Observer.Upgrade(UpgradeOrigin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return u, false
	}
	u.addr = clientAddr(r, s.cfg.TrustedProxies)
	u.ip = limitKey(u.addr, r.RemoteAddr) // the /64 of an IPv6 address
	u.refusal = s.reserve(u.ip)
	if u.refusal == errShuttingDown {
		s.cfg.Observer.Upgrade(u.refusal.Code)
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return u, false
	}
	nc, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		if u.refusal == nil {
			s.unreserve(u.ip)
		}
		if nc != nil {
			nc.Close()
		}
		s.cfg.Observer.Upgrade(UpgradeHandshake)
		s.cfg.Logger.Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
		return u, false
	}
	u.nc, u.hijacked = nc, rw.Reader
	return u, true
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	u, ok := s.upgrade(w, r, s.originAllowed(r), upgrader)
	if !ok {
		return
	}
	nc, addr, ip, refusal := u.nc, u.addr, u.ip, u.refusal
	if refusal != nil {
		s.cfg.Logger.Info("connection refused", "remote", r.RemoteAddr, "code", refusal.Code)
		s.refuse(nc, refusal, refusalClose(refusal.Code))
		return
	}

	q := r.URL.Query()
	room, name := q.Get("room"), q.Get("name")
	if s.cfg.Auth != nil {
		// Before the hub sees the member: a refused connection gets no id, no room view, no TURN credentials.
		id, perr := s.admit(r, room)
		if perr != nil {
			s.unreserve(ip)
			s.cfg.Logger.Info("join token refused", "remote", r.RemoteAddr, "code", perr.Code, "reason", perr.Message)
			s.refuse(nc, perr, protocol.CloseUnauthorized)
			return
		}
		name = id.Name
	}
	c := &conn{s: s, nc: nc, ip: ip, host: r.Host, fixed: s.cfg.Auth != nil}
	c.emitFn = c.emit
	c.state.Store(1) // a writer is started below, once c.member is set; wake-ups until then are kept
	var m *hub.Member
	var err error
	switch {
	case room != protocol.NetworkRoom:
		m, err = s.hub.Join(room, name, c)
	case s.cfg.NoNetworkRooms:
		m, err = s.hub.Join(protocol.DefaultRoom, name, c)
	default:
		m, err = s.hub.JoinNetwork(networkRoom(s.secret, addr, ip), name, c)
	}
	if err != nil {
		s.unreserve(ip)
		var perr *protocol.Error
		if !errors.As(err, &perr) {
			perr = &protocol.Error{Code: "internal", Message: "internal error"}
		}
		code := refusalClose(perr.Code)
		s.cfg.Logger.Info("join refused", "remote", r.RemoteAddr, "code", perr.Code)
		s.refuse(nc, perr, code)
		return
	}
	c.member = m
	s.startConn(c, nc, u.hijacked, ip)
}

// startConn serves a connection whose member has joined: it registers it, starts its writer (for the
// member's first frames) and hands its reading to the poller or to a reader goroutine.
func (s *Server) startConn(c *conn, nc net.Conn, hijacked *bufio.Reader, ip string) {
	c.rd = newReader(nc, hijacked)
	if c.sock, _ = c.rd.(*rawSocket); c.sock != nil {
		c.sock.extend = func() { nc.SetReadDeadline(time.Time{}) } // stalled mid-message: the keepalive judges
	}
	c.lastRead.Store(time.Now().UnixNano())
	// Register under the lock Shutdown takes: either Shutdown sees this conn and closes it, or this sees
	// closing and backs out (Shutdown waits for that through admitted).
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.leave()
		s.unreserve(ip)
		s.refuse(nc, errShuttingDown, protocol.CloseGoingAway)
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.cfg.Observer.Upgrade(UpgradeAccepted)
	go c.writeLoop()
	// Frames sent along with the upgrade request are already read: the socket may never signal them.
	pending := c.sock != nil && c.sock.buffered() > 0
	if c.sock == nil || s.poller == nil || s.poller.add(c) != nil {
		go c.readLoop()
	} else if pending {
		go c.readBurst()
	}
}

// newReader returns the connection's reader, starting with whatever the client sent along with its
// upgrade request (already in hijacked): a rawSocket on sockets, else a small bufio.Reader.
func newReader(nc net.Conn, hijacked *bufio.Reader) io.Reader {
	pending, _ := hijacked.Peek(hijacked.Buffered())
	if sc, ok := nc.(syscall.Conn); ok && rawSockets {
		if rc, err := sc.SyscallConn(); err == nil {
			return newRawSocket(rc, pending)
		}
	}
	if len(pending) > 0 {
		return hijacked
	}
	return bufio.NewReaderSize(nc, 512)
}

var errShuttingDown = &protocol.Error{Code: protocol.CodeShuttingDown, Message: "server is shutting down"}

// reserve counts a new connection against the limits; a non-nil result is the refusal to send.
func (s *Server) reserve(ip string) *protocol.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return errShuttingDown
	case s.reserved >= s.cfg.MaxConns:
		return &protocol.Error{Code: protocol.CodeServerFull, Message: "the server is full"}
	case s.cfg.MaxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnsPerIP:
		return errTooManyConns
	case s.cfg.IPConnRate > 0 && !s.takeIPConn(ip, monotonic()): // last: only admitted connections take a token
		return errConnectingTooFast
	}
	s.perIP[ip]++
	s.reserved++
	s.admitted.Add(1) // under mu and before closing is set, so it never races Shutdown's Wait
	return nil
}

func (s *Server) unreserve(ip string) {
	s.mu.Lock()
	s.release(ip)
	s.mu.Unlock()
	s.admitted.Done()
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.release(c.ip)
	s.mu.Unlock()
}

// release undoes reserve. Called with s.mu held.
func (s *Server) release(ip string) {
	s.reserved--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// refuse sends an error and a close frame on a connection that never became a member, then closes it. It is
// where every refusal is counted (Observer), by its error code.
func (s *Server) refuse(nc net.Conn, perr *protocol.Error, code int) {
	s.refuseFrame(nc, perr, perr.Frame(), code)
}

// refuseFrame is refuse with the error already encoded as frame (PeerJS has its own encoding).
func (s *Server) refuseFrame(nc net.Conn, perr *protocol.Error, frame []byte, code int) {
	s.cfg.Observer.Upgrade(perr.Code)
	s.cfg.Observer.Error(perr.Code)
	s.cfg.Observer.Closed(code)
	b := appendFrame(nil, ws.OpText, frame)
	b = appendFrame(b, ws.OpClose, closeBody(code, perr.Message))
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(b)
	closeWrite(nc)
	// Let the client read the close frame before the socket goes away.
	time.AfterFunc(closeGrace, func() { nc.Close() })
}

// keepalive pings every connection each PingInterval, and cuts those from which nothing arrived for
// IdleTimeout (so a dead peer is dropped within IdleTimeout + PingInterval).
func (s *Server) keepalive() {
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	var list []*conn
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for c := range s.conns {
			list = append(list, c)
		}
		s.sweepIPRates(monotonic(), false)
		s.mu.Unlock()
		now := time.Now()
		silentSince := now.Add(-s.cfg.IdleTimeout).UnixNano()
		for _, c := range list {
			if c.lastRead.Load() < silentSince {
				c.cut()
				continue
			}
			c.ping()
			if s.cfg.ICE != nil && c.pj == nil {
				c.refreshICE(now.UnixNano())
			}
		}
		clear(list)
		list = list[:0]
	}
}

// burstWriters is how many writers at once make a burst worth giving memory back after (a join storm of
// thousands: each blocked writer holds a stack and a buffer).
const burstWriters = 1000

// trimAfterBursts hands memory back to the OS once a burst is over: trimQuiet after the last big pump round and
// once no writer goroutine runs, so at a predictable time after a storm. An idle Go server runs no GC, so
// without this the heap high-water of one storm would stay resident for minutes. It costs one GC per burst.
func (s *Server) trimAfterBursts() {
	t := time.NewTicker(trimQuiet / 2)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		quiet := time.Since(time.Unix(0, s.lastBurst.Load())) > trimQuiet
		if s.writersPeak.Load() >= burstWriters && s.writers.Load() == 0 && quiet {
			s.writersPeak.Store(0)
			debug.FreeOSMemory()
		}
	}
}

// trimQuiet is how long after a burst the server gives memory back (trimAfterBursts).
const trimQuiet = 500 * time.Millisecond

// noteBurst records a pump round of n connections, as that many writers at once.
func (s *Server) noteBurst(n int) {
	s.lastBurst.Store(time.Now().UnixNano())
	s.notePeak(int64(n))
}

// writerStarted counts a writer goroutine in; the caller must s.writers.Add(-1) when it ends.
func (s *Server) writerStarted() {
	s.notePeak(s.writers.Add(1))
}

func (s *Server) notePeak(n int64) {
	for {
		p := s.writersPeak.Load()
		if n <= p || s.writersPeak.CompareAndSwap(p, n) {
			return
		}
	}
}

// Shutdown stops accepting members, closes every connection with 1001 (going away) and waits until they are
// gone or ctx ends, when the rest are cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.stop)
	}
	list := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	s.mu.Unlock()
	for _, c := range list {
		c.Close(protocol.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		s.admitted.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range list {
			c.cut()
		}
		<-done
	}
	if s.poller != nil {
		s.stopPoller.Do(s.poller.stop)
	}
	return ctx.Err()
}

// Conns returns the number of open WebSocket connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
