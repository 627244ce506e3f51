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
#   TOOLS="p2plobby croc"               add go-chromium (CLI send → the app in headless Chromium) and
#                                       chromium-chromium (the app → the app) for the browser pairs: they run
#                                       in the e2e test binary (TestBenchWANBrowser), Chromium in each namespace
#   BROWSER_SIZE=8MiB                   the browser pairs' file (same units as SIZE): Chromium is slower over
#                                       the path (0.16–3 MB/s here), and a run must end within RUN_TIMEOUT
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
#
# The browser pairs (TOOLS go-chromium, chromium-chromium) get the same lab and server, plus a default route in
# each namespace (Chromium offers no candidate without one); the e2e test binary's TestBenchWANBrowser starts a
# headless Chromium inside each namespace and drives the app: the receiving page on wan-b accepts the connection
# and the file by clicks, inside the clock, which runs from the sender's start (the CLI's, or the sending page's
# request to connect) to the receiving page showing the file done. Pages are served from http://10.99.0.1,
# treated as a secure context, so the file goes to OPFS. Progress has the page's own rate and wan-b's UDP
# counters (RcvbufErrors: datagrams Chromium's socket buffer had no room for).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-64MiB}
RATE=${RATE:-0}
croc_version=v10.7.0
croc_dir=${CROC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/p2plobby-croc}
croc=$croc_dir/croc

log() { echo "bench-wan: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "needs root (network namespaces, TUN devices)"; exit 1; }

to_bytes() {
  local n=${1%[KMG]iB}
  case $1 in
    *KiB) echo $((n * 1024)) ;;
    *MiB) echo $((n * 1024 * 1024)) ;;
    *GiB) echo $((n * 1024 * 1024 * 1024)) ;;
    *[!0-9]* | "") log "$2 must be N, NKiB, NMiB or NGiB, not $1"; exit 2 ;;
    *) echo "$1" ;;
  esac
}
bytes=$(to_bytes "$SIZE" SIZE)
browser_bytes=$(to_bytes "${BROWSER_SIZE:-8MiB}" BROWSER_SIZE)

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
e2e_bin=
case " ${TOOLS:-} " in
  *" go-chromium "* | *" chromium-chromium "*)
    go test -c -o "$tmp/e2e.test" ./e2e
    e2e_bin=$tmp/e2e.test ;;
esac

# The test prints the table on stdout and its progress (-test.v) lines; keep the table for stdout.
P2PLOBBY_BENCH_WAN=1 P2PLOBBY_BIN=$tmp/p2plobby CROC_BIN=$croc SIZE_BYTES=$bytes \
  BROWSER_SIZE_BYTES=$browser_bytes P2PLOBBY_E2E_BIN=$e2e_bin \
  RATE_BYTES=$((RATE * 1000 * 1000 / 8)) \
  flock /tmp/p2plobby-bench.lock "$tmp/natlab.test" -test.run '^TestBenchWAN$' -test.v -test.timeout 3h \
  >"$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt" >&2; exit 1; }
grep -E '^\s+wanbench_test.go' "$tmp/out.txt" | sed 's/^\s*//' >&2 || true
sed -n '/^## Files over a WAN/,/^\(---\|PASS\|ok\|=== \)/p' "$tmp/out.txt" | grep -vE '^(--- |PASS|ok |=== )'
