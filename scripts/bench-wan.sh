#!/usr/bin/env bash
# Benchmark one file over a WAN-like path: `p2plobby send` → `p2plobby receive` (Go peers, direct WebRTC) beside
# croc v10.7.0 over TCP through its own relay, both through the same impaired path of internal/natlab (NewWAN:
# two network namespaces joined by a userspace forwarder between TUN devices that adds delay, loss and a
# bounded queue; this kernel has no netem). Needs root.
#
#   scripts/bench-wan.sh      # prints a markdown table on stdout, progress on stderr
#
# Environment:
#   SIZE=64MiB                          size of the random file (NKiB, NMiB, NGiB or bytes)
#   RUNS=3                              runs per tool and condition, alternating which tool goes first
#   CONDITIONS="20ms/0 20ms/0.01 80ms/0 80ms/0.01"   RTT/loss pairs; loss applies in each direction
#   RATE=0                              bottleneck in Mbit/s per direction (0: none), with a queue of one
#                                       bandwidth-delay product; without one the queue is natlab.DefaultLimit
#   TOOLS="p2plobby croc"
#   RUN_TIMEOUT=240s                    a run taking longer is killed and counts as failed
#   P2PLOBBY_BENCH_VERBOSE=1            run p2plobby's sender with --verbose, to count pion's T3-rtx timeouts
#
# Progress (stderr) has, per run, the Link's counters (packets, lost, queue overflow, most bytes queued) and the
# kernel's drops in front of wan-a's TUN device (tx_dropped: bursts the forwarder did not read in time).
#
# Each run gets a fresh lab (seeded with the run number), a fresh server (p2plobby serve, or croc relay) on
# wan-a; the sender runs on wan-a and the receiver on wan-b, so the data crosses the path once (croc: sender →
# relay locally, relay → receiver over the path). The clock runs from the sender's start to the receiver's exit
# (p2plobby's receiver joins 1 s before, outside the clock; croc's must start after its sender, inside it, see
# scripts/bench-files.sh). The forwarder runs in the go test process. Timing runs take the shared benchmark
# lock (/tmp/p2plobby-bench.lock).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-64MiB}
RATE=${RATE:-0}
croc_version=v10.7.0
croc_dir=${CROC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/p2plobby-croc}
croc=$croc_dir/croc

log() { echo "bench-wan: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "needs root (network namespaces, TUN devices)"; exit 1; }

n=${SIZE%[KMG]iB}
case $SIZE in
  *KiB) bytes=$((n * 1024)) ;;
  *MiB) bytes=$((n * 1024 * 1024)) ;;
  *GiB) bytes=$((n * 1024 * 1024 * 1024)) ;;
  *[!0-9]* | "") log "SIZE must be N, NKiB, NMiB or NGiB, not $SIZE"; exit 2 ;;
  *) bytes=$SIZE ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
log "building p2plobby"
go build -o "$tmp/p2plobby" ./cmd/p2plobby
if [ "$("$croc" --version 2>/dev/null)" != "croc version ${croc_version#v}" ]; then
  log "installing croc $croc_version into $croc_dir"
  mkdir -p "$croc_dir"
  (cd "$croc_dir" && GOBIN=$croc_dir GOFLAGS=-buildvcs=false go install "github.com/schollz/croc/v10@$croc_version")
fi
go test -c -o "$tmp/natlab.test" ./internal/natlab

# The test prints the table on stdout and its progress (-test.v) lines; keep the table for stdout.
P2PLOBBY_BENCH_WAN=1 P2PLOBBY_BIN=$tmp/p2plobby CROC_BIN=$croc SIZE_BYTES=$bytes \
  RATE_BYTES=$((RATE * 1000 * 1000 / 8)) \
  flock /tmp/p2plobby-bench.lock "$tmp/natlab.test" -test.run '^TestBenchWAN$' -test.v -test.timeout 3h \
  >"$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt" >&2; exit 1; }
grep -E '^\s+wanbench_test.go' "$tmp/out.txt" | sed 's/^\s*//' >&2 || true
sed -n '/^## Files over a WAN/,/^\(---\|PASS\|ok\|=== \)/p' "$tmp/out.txt" | grep -vE '^(--- |PASS|ok |=== )'
