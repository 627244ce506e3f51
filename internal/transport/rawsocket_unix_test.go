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

func TestWholeFrame(t *testing.T) {
	frame := func(payload int, masked bool) []byte {
		var b bytes.Buffer
		h := ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(payload), Masked: masked}
		if err := ws.WriteHeader(&b, h); err != nil {
			t.Fatal(err)
		}
		return append(b.Bytes(), make([]byte, payload)...)
	}
	for _, size := range []int{0, 1, 125, 126, 1000, 65535, 65536, 70000} {
		for _, masked := range []bool{false, true} {
			f := frame(size, masked)
			for cut := 0; cut < len(f); cut += max(1, len(f)/97) {
				if wholeFrame(f[:cut]) {
					t.Fatalf("%d-byte payload (masked %v): %d of %d bytes taken for a whole frame", size, masked, cut, len(f))
				}
			}
			if !wholeFrame(f) || !wholeFrame(append(f, 0x81)) {
				t.Fatalf("%d-byte payload (masked %v): a whole frame not seen", size, masked)
			}
		}
	}
	// A length with the top bit set (invalid) is never whole, rather than negative.
	if wholeFrame([]byte{0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1}) {
		t.Fatal("a 64-bit length with its top bit set taken for a whole frame")
	}
}

// serve hands every whole frame to handle in order, whatever pieces they arrive in; it returns with part of a
// frame buffered (for Read to finish), when handle says stop, on the read deadline and at the end of the stream.
func TestRawSocketServe(t *testing.T) {
	client, server := tcpPair(t)
	var stream bytes.Buffer
	var want [][]byte
	for i := range 300 {
		payload := make([]byte, []int{0, 5, 200, 200, 200, 3000, 20 << 10}[rand.IntN(7)])
		for j := range payload {
			payload[j] = byte(i + j)
		}
		want = append(want, payload)
		ws.WriteFrame(&stream, ws.MaskFrame(ws.NewTextFrame(payload)))
	}
	go func() {
		for rest := stream.Bytes(); len(rest) > 0; {
			n := min(len(rest), 1+rand.IntN(pollBufSize))
			client.Write(rest[:n])
			rest = rest[n:]
			if rand.IntN(4) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond) // long enough for the deadline below to pass first
		client.CloseWrite()
	}()
	p := newRawSocket(rawConn(t, server), nil)
	var got [][]byte
	readOne := func() bool {
		h, err := ws.ReadHeader(p)
		if err != nil || h.Length > 20<<10 {
			t.Errorf("reading a frame: %v (length %d)", err, h.Length)
			return false
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(p, payload); err != nil {
			t.Errorf("reading a frame: %v", err)
			return false
		}
		ws.Cipher(payload, h.Mask, 0)
		got = append(got, payload)
		return true
	}
	stops, partial, deadlines := 0, 0, 0
	for {
		server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		stop, err := p.serve(func() bool {
			if !readOne() {
				return false
			}
			return rand.IntN(8) != 0 // now and then, stop
		})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			deadlines++
			continue
		case err == io.EOF:
		case err != nil:
			t.Fatal(err)
		case stop:
			stops++
			continue
		case p.buffered() > 0:
			partial++
			if !readOne() { // the rest of the frame, through Read
				t.FailNow()
			}
			continue
		default:
			t.Fatal("serve returned with no reason")
		}
		break
	}
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if p.buf != nil {
		t.Fatal("a buffer kept after the end of the stream")
	}
	if stops == 0 || partial == 0 || deadlines == 0 {
		t.Fatalf("not every way out taken: %d stops, %d partial frames, %d deadlines", stops, partial, deadlines)
	}
}
