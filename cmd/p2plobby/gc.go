package main

import (
	"os"
	"runtime/debug"
)

// Garbage collector settings for the commands that move files (send, receive): pion allocates about 13 bytes
// for every byte a data channel carries (SCTP packets, DTLS records), so with Go's default GOGC of 100 the
// collector takes a large share of a transfer's CPU, and the CPU is what bounds a transfer's speed on a fast
// path. A heap allowed to grow 5× its live size, capped by a soft memory limit, collects a quarter as often and
// keeps memory flat whatever the file's size (docs/benchmarks.md, "Files: the CLI against croc").
//
// The limit leaves room above the live heap: the receiver may hold up to the 16 MiB SCTP receive window
// (peer/sctpwan.go) on top of pion's buffers, and a limit at 48 MiB, set before that window, kept the collector
// running almost without pause near it (512 MiB on loopback, 3 runs each: 29.4–35.9 MB/s at 48 MiB against
// 47.9 at 72 MiB, peak RSS 69 against 79 MiB).
const (
	transferGCPercent   = 400
	transferMemoryLimit = 72 << 20
)

// tuneGCForTransfers applies those settings unless the user chose GOGC or GOMEMLIMIT. It is called from main
// for the real process only: tests run the commands in their own process and keep its settings.
func tuneGCForTransfers(command string) {
	if command != "send" && command != "receive" {
		return
	}
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(transferGCPercent)
	debug.SetMemoryLimit(transferMemoryLimit)
}
