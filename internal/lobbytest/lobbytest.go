// Package lobbytest runs the real p2plobby binary for tests in other packages: built once per test process,
// started on a free loopback port, stopped at test cleanup.
package lobbytest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running p2plobby server process.
type Server struct {
	URL  string // http://127.0.0.1:PORT (https:// when started with --tls-cert)
	WS   string // ws://127.0.0.1:PORT (wss://)
	Addr string // 127.0.0.1:PORT
	// Metrics is http://HOST:PORT of the --metrics-addr listener (/metrics, /healthz, /readyz) when the server
	// was started with one, else empty.
	Metrics string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once

	mu     sync.Mutex
	expect []expectation // log lines awaited (Expect)
}

type expectation struct {
	substr string
	seen   chan struct{}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/p2plobby once per process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "p2plobby-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "p2plobby")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/p2plobby")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Start runs `p2plobby serve --addr 127.0.0.1:0 --turn-addr 127.0.0.1:0 args...` and waits until it listens. The server's log goes
// to t.Log. It is stopped (SIGTERM) when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := Binary(t)
	// TURN on an ephemeral loopback port, so tests never fight over 3478; later args override.
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--turn-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	metrics := make(chan string, 1) // logged before the public address, so known by the time that is
	tls := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if _, a, ok := strings.Cut(line, " addr="); ok && strings.Contains(line, `msg="metrics listening" `) {
				a, _, _ = strings.Cut(a, " ")
				select {
				case metrics <- a:
				default:
				}
			}
			if !sent {
				if _, a, ok := strings.Cut(line, " addr="); ok && strings.Contains(line, "msg=listening ") {
					a, _, _ = strings.Cut(a, " ")
					tls <- strings.Contains(line, " url=https://")
					addr <- a
					sent = true
				}
			}
			s.match(line)
			logf(t, "server: %s", line)
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(s.done)
	}()
	select {
	case a := <-addr:
		s.Addr, s.URL, s.WS = a, "http://"+a, "ws://"+a
		select {
		case m := <-metrics:
			s.Metrics = "http://" + m
		default:
		}
		if <-tls {
			s.URL, s.WS = "https://"+a, "wss://"+a
		}
	case <-s.done:
		t.Fatal("p2plobby exited before listening")
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("p2plobby did not start listening within 20s")
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// Stop sends SIGTERM and waits for the process to exit (killing it after 10 s). It is idempotent.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Expect returns a channel that is closed once a log line written from now on contains substr. Call it
// before causing the line, then wait on the channel.
func (s *Server) Expect(substr string) <-chan struct{} {
	e := expectation{substr, make(chan struct{})}
	s.mu.Lock()
	s.expect = append(s.expect, e)
	s.mu.Unlock()
	return e.seen
}

func (s *Server) match(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.expect[:0]
	for _, e := range s.expect {
		if strings.Contains(line, e.substr) {
			close(e.seen)
		} else {
			kept = append(kept, e)
		}
	}
	s.expect = kept
}

// Signal sends sig to the process, e.g. syscall.SIGHUP to reload its TLS certificate.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// PID is the server's process id, e.g. to read its memory from /proc.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Kill ends the process with SIGKILL, as a crash would (no goodbye to anyone), and waits for it.
func (s *Server) Kill() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
}

// Exited reports whether the process has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit or ctx to end.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logf logs unless the test is over (logging after the end panics).
func logf(t testing.TB, format string, args ...any) {
	defer func() { recover() }()
	t.Logf(format, args...)
}
