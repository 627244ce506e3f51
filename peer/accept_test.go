package peer

// A hostile or stalled sender against the receiver's limits and inactivity timeouts (AcceptWith).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// stalledSender plays a sender that proposes files and then only does what the test tells it to.
type stalledSender struct {
	c   *Conn
	tid string
	out *outgoing
}

func propose(t *testing.T, c *Conn, files []FileInfo) *stalledSender {
	t.Helper()
	s := &stalledSender{c: c, tid: newID(8), out: &outgoing{ev: make(chan *ctrlMsg, 8)}}
	c.mu.Lock()
	c.out[s.tid] = s.out
	c.mu.Unlock()
	if err := c.sendCtrl(&ctrlMsg{T: tFiles, TID: s.tid, Files: files}); err != nil {
		t.Fatal(err)
	}
	return s
}

// next returns the receiver's next message about the transfer.
func (s *stalledSender) next(t *testing.T, ctx context.Context) *ctrlMsg {
	t.Helper()
	select {
	case m := <-s.out.ev:
		return m
	case <-ctx.Done():
		t.Fatal("no answer from the receiver")
		return nil
	}
}

type acceptResult struct {
	paths []string
	err   error
	took  time.Duration
}

func acceptAsync(ctx context.Context, c *Conn, dir string, opts *AcceptOptions) <-chan acceptResult {
	res := make(chan acceptResult, 1)
	go func() {
		tr := <-c.Transfers()
		start := time.Now()
		paths, err := tr.AcceptWith(ctx, dir, opts)
		res <- acceptResult{paths, err, time.Since(start)}
	}()
	return res
}

// The sender accepted-to never opens the file channel: the receiver gives up after OpenTimeout, tells the
// sender, and closes a channel opened too late.
func TestAcceptOpenTimeout(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	dir := t.TempDir()
	res := acceptAsync(ctx, cb, dir, &AcceptOptions{OpenTimeout: 300 * time.Millisecond})
	s := propose(t, ca, []FileInfo{{Name: "never.bin", Size: 10}})
	if m := s.next(t, ctx); m.T != tAccept {
		t.Fatalf("answer %+v", m)
	}
	r := <-res
	if !errors.Is(r.err, ErrInterrupted) || !strings.Contains(r.err.Error(), "file channel") || r.took > 5*time.Second {
		t.Fatalf("AcceptWith: %v after %s, want ErrInterrupted after about 300ms", r.err, r.took)
	}
	if m := s.next(t, ctx); m.T != tCancel || !strings.Contains(m.Reason, "timed out") {
		t.Errorf("the sender was told %+v, want a cancel", m)
	}
	// Too late: the receiver closes the channel instead of leaving it open and unread.
	ch, err := ca.openFileChannel(ctx, s.tid)
	if err != nil {
		t.Fatal(err)
	}
	ch.rwc.(interface{ SetReadDeadline(time.Time) error }).SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ch.rwc.ReadDataChannel(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Errorf("a file channel opened after the timeout: read %v, want EOF (closed by the receiver)", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left in dir: %v", entries)
	}
}

// The sender stops in the middle of a file: the receiver fails the transfer after IdleTimeout, removes the
// partial file and tells the sender.
func TestAcceptIdleTimeout(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	dir := t.TempDir()
	progressed := make(chan struct{}, 1)
	res := acceptAsync(ctx, cb, dir, &AcceptOptions{IdleTimeout: 300 * time.Millisecond, Progress: func(Progress) {
		select {
		case progressed <- struct{}{}:
		default:
		}
	}})
	s := propose(t, ca, []FileInfo{{Name: "half.bin", Size: 10000}})
	if m := s.next(t, ctx); m.T != tAccept {
		t.Fatalf("answer %+v", m)
	}
	ch, err := ca.openFileChannel(ctx, s.tid)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.rwc.Close()
	if _, err := ch.rwc.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	<-progressed
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("no partial file while receiving: %v", entries)
	}
	stalled := time.Now()
	r := <-res // and nothing more is sent
	if waited := time.Since(stalled); !errors.Is(r.err, ErrInterrupted) || !strings.Contains(r.err.Error(), "no data") || waited > 5*time.Second {
		t.Fatalf("AcceptWith: %v %s after the sender stalled, want ErrInterrupted after about 300ms", r.err, waited)
	}
	if m := s.next(t, ctx); m.T != tCancel || !strings.Contains(m.Reason, "no data") {
		t.Errorf("the sender was told %+v, want a cancel", m)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("partial file left: %v", entries)
	}
}

// A slow sender that never pauses for IdleTimeout is not cut off, however long the whole transfer takes.
func TestAcceptIdleTimeoutIsInactivity(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	const chunks = 12
	data := []byte(strings.Repeat("slow but steady ", 64)) // 1 KiB
	res := acceptAsync(ctx, cb, t.TempDir(), &AcceptOptions{IdleTimeout: 400 * time.Millisecond})
	s := propose(t, ca, []FileInfo{{Name: "slow.txt", Size: chunks * int64(len(data))}})
	if m := s.next(t, ctx); m.T != tAccept {
		t.Fatalf("answer %+v", m)
	}
	ch, err := ca.openFileChannel(ctx, s.tid)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.rwc.Close()
	for range chunks { // 12 × 100 ms: three times the idle timeout in all
		time.Sleep(100 * time.Millisecond)
		if _, err := ch.rwc.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(&ctrlMsg{T: tEOF, Index: intp(0), SHA256: sha256Hex([]byte(strings.Repeat(string(data), chunks)))})
	if _, err := ch.rwc.WriteDataChannel(b, true); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r.err != nil || len(r.paths) != 1 {
		t.Fatalf("AcceptWith: %v %v", r.paths, r.err)
	}
	if m := s.next(t, ctx); m.T != tReceived {
		t.Errorf("the sender was told %+v, want received", m)
	}
}

// Limits are checked on the announcement, before anything is accepted or written; sizes that add up past
// MaxInt64 do not wrap around to pass them.
func TestAcceptWithLimits(t *testing.T) {
	t.Parallel()
	ca, cb := connectedPair(t)
	for _, tc := range []struct {
		name  string
		files []FileInfo
		opts  AcceptOptions
	}{
		{"files", []FileInfo{{Name: "a", Size: 1}, {Name: "b", Size: 1}, {Name: "c", Size: 1}}, AcceptOptions{MaxFiles: 2}},
		{"size", []FileInfo{{Name: "a", Size: 600}, {Name: "b", Size: 500}}, AcceptOptions{MaxSize: 1000}},
		{"overflow", []FileInfo{{Name: "a", Size: math.MaxInt64}, {Name: "b", Size: math.MaxInt64}, {Name: "c", Size: 2}},
			AcceptOptions{MaxSize: 1 << 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dir := t.TempDir()
			res := acceptAsync(ctx, cb, dir, &tc.opts)
			s := propose(t, ca, tc.files)
			if m := s.next(t, ctx); m.T != tDecline {
				t.Errorf("the sender was told %+v, want a decline", m)
			}
			if r := <-res; !errors.Is(r.err, ErrLimitExceeded) {
				t.Errorf("AcceptWith: %v, want ErrLimitExceeded", r.err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left in dir: %v", entries)
			}
		})
	}
	tr := &IncomingTransfer{Files: []FileInfo{{Size: math.MaxInt64}, {Size: math.MaxInt64}, {Size: 2}}}
	if got := tr.TotalSize(); got != math.MaxInt64 {
		t.Errorf("TotalSize of sizes that overflow: %d, want MaxInt64", got)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
