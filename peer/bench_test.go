package peer_test

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/peer"
)

// zeroReader yields n bytes without allocating them, so the benchmark measures the data path, not the source.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

func (z *zeroReader) Close() error { return nil }

// BenchmarkSendFiles measures a Go↔Go file transfer over loopback, end to end: read, SHA-256 on both sides,
// SCTP/DTLS, pacing, and writing to a temporary file (discarded after each round).
func BenchmarkSendFiles(b *testing.B) {
	const size = 64 << 20
	_, _, ca, cb := pair(b)
	dir := b.TempDir()
	file := peer.FileSource{
		FileInfo: peer.FileInfo{Name: "bench.bin", Size: size},
		Open:     func() (io.ReadCloser, error) { return &zeroReader{size}, nil },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		errc := make(chan error, 1)
		go func() {
			_, paths, err := acceptNext(ctx, cb, dir, nil)
			for _, p := range paths {
				os.Remove(p)
			}
			errc <- err
		}()
		if err := ca.SendFiles(ctx, []peer.FileSource{file}, nil); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}
