//go:build unix

package transport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/p2plobby/p2plobby/internal/hub"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func rawConn(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// Bytes written in uneven pieces come out intact through reads of every size, and the reader holds no
// buffer once it has handed out all it read.
func TestRawSocketStream(t *testing.T) {
	client, server := tcpPair(t)
	want := make([]byte, 300<<10)
	for i := range want {
		want[i] = byte(rand.IntN(256))
	}
	pending := []byte("read-ahead ")
	go func() {
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 1+rand.IntN(40<<10))
			client.Write(rest[:n])
			rest = rest[n:]
			time.Sleep(time.Millisecond)
		}
		client.CloseWrite()
	}()
	p := newRawSocket(rawConn(t, server), pending)
	var got []byte
	for {
		b := make([]byte, []int{1, 2, 100, 4096, pollBufSize / 2, 64 << 10}[rand.IntN(6)])
		n, err := p.Read(b)
		got = append(got, b[:n]...)
		if p.r == p.w && p.buf != nil {
			t.Fatal("reader keeps a buffer with nothing in it")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, append(pending, want...)) {
		t.Fatalf("got %d bytes, want %d, or they differ", len(got), len(pending)+len(want))
	}
}

// A read deadline set on the connection ends a wait with os.ErrDeadlineExceeded, holding no buffer.
func TestRawSocketDeadline(t *testing.T) {
	_, server := tcpPair(t)
	p := newRawSocket(rawConn(t, server), nil)
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := p.Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	if p.buf != nil {
		t.Fatal("buffer kept after a failed wait")
	}
}

// A client that sends its first frame in the same packet as the upgrade request is served: the bytes the
// HTTP server read ahead are not lost.
func TestFrameSentWithUpgradeRequest(t *testing.T) {
	ts := newTestServer(t, Config{}, hub.Config{})
	nc, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	ping := []byte(`{"kind":"ping"}`)
	mask := [4]byte{1, 2, 3, 4}
	ws.Cipher(ping, mask, 0)
	ws.WriteHeader(&req, ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: mask, Length: int64(len(ping))})
	req.Write(ping)
	if _, err := nc.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(payload), `"pong"`) {
			return
		}
	}
}
