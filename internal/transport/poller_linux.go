package transport

import (
	"sync"
	"syscall"
)

// poller watches idle connections with one epoll instance, so that a connection with nothing to read has
// no goroutine (a parked reader goroutine is most of an idle connection's memory). When a socket becomes
// readable the poller starts a goroutine that reads what is there and re-arms the watch (EPOLLONESHOT: one
// event per arming, so one reader at a time).
type poller struct {
	epfd  int
	wake  [2]int // a pipe; a byte written to wake[1] stops run
	done  chan struct{}
	mu    sync.Mutex
	conns map[uint64]*conn // by token; stale events after a connection ended find nothing
	next  uint64
}

const pollerStopToken = 0

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: epfd, done: make(chan struct{}), conns: make(map[uint64]*conn), next: pollerStopToken}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setToken(&ev, pollerStopToken)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	go p.run()
	return p, nil
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func setToken(ev *syscall.EpollEvent, t uint64) {
	ev.Fd, ev.Pad = int32(uint32(t)), int32(uint32(t>>32))
}
func token(ev *syscall.EpollEvent) uint64 { return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32 }

// add starts watching c's socket; c.readBurst runs whenever it is readable (and armed).
func (p *poller) add(c *conn) error {
	p.mu.Lock()
	p.next++
	c.token = p.next
	p.conns[c.token] = c
	p.mu.Unlock()
	err := p.ctl(c, syscall.EPOLL_CTL_ADD)
	if err != nil {
		p.forget(c)
		c.token = 0
	}
	return err
}

// rearm asks for the next readable event of c, after a reader found the socket drained.
func (p *poller) rearm(c *conn) error { return p.ctl(c, syscall.EPOLL_CTL_MOD) }

// remove stops watching c; called by its last reader before the socket is closed.
func (p *poller) remove(c *conn) {
	p.forget(c)
	p.ctl(c, syscall.EPOLL_CTL_DEL) // fails harmlessly if the socket is already closed, which also unwatches it
}

func (p *poller) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c.token)
	p.mu.Unlock()
}

func (p *poller) ctl(c *conn, op int) error {
	ev := syscall.EpollEvent{Events: pollEvents}
	setToken(&ev, c.token)
	var err error
	// Control keeps the descriptor open while the call runs, so it never names a reused one.
	if cerr := c.sock.rc.Control(func(fd uintptr) { err = syscall.EpollCtl(p.epfd, op, int(fd), &ev) }); cerr != nil {
		return cerr
	}
	return err
}

func (p *poller) run() {
	defer close(p.done)
	var events [128]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(p.epfd, events[:], -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic("transport: epoll_wait: " + err.Error()) // only a bug (bad descriptor) gets here
		}
		p.mu.Lock()
		for i := range events[:n] {
			t := token(&events[i])
			if t == pollerStopToken {
				p.mu.Unlock()
				p.closeFDs()
				return
			}
			if c := p.conns[t]; c != nil {
				go c.readBurst()
			}
		}
		p.mu.Unlock()
	}
}

// stop ends run and releases the epoll instance. Call it once every watched connection has ended.
func (p *poller) stop() {
	syscall.Write(p.wake[1], []byte{0})
	<-p.done
}

func (p *poller) closeFDs() {
	syscall.Close(p.epfd)
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
}
