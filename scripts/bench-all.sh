#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md in one run, each beside its reference measured in the same run, then a
# summary of the figures issue 13 sets goals for. Needs root (network namespaces), Chromium for the browser
# section, and an otherwise quiet machine; it takes about 40 minutes with the defaults.
#
#   scripts/bench-all.sh > results.md      # progress on stderr
#
# Environment:
#   RUNS=3             runs of everything (median, min and max are reported)
#   SECTIONS="server peerjs files wan browser"
#                      server:  scripts/bench.sh, p2plobby beside the seed's Bun server and a 3-node cluster
#                      peerjs:  scripts/bench.sh, p2plobby's /peerjs beside PeerServer 1.0.2
#                      files:   scripts/bench-files.sh, the CLI beside croc 10.7.0 on loopback
#                      wan:     scripts/bench-wan.sh, the CLI beside croc over a delayed, lossy path
#                      browser: e2e TestBenchFileTransfer, two Chromiums: the app's full path beside a raw pair
#   FILE_SIZE=512MiB   the file of the files section; WAN_SIZE=64MiB the WAN section's; BROWSER_MIB=100
#
# Every section prints its own table (date, machine, runs, median (min–max)); the summary at the end takes the
# medians from them. Sections run one after another, never two at once.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
SECTIONS=${SECTIONS:-"server peerjs files wan browser"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log() { echo "bench-all: $*" >&2; }

# median FILE ROW COLUMN: the median (the number before " (") of the cell in data column COLUMN (1 = the first
# after the row's label cells) of the first table row of FILE that begins with "| ROW |"; ROW may span several
# cells ("relay | RTT p99 (ms)").
median() {
  awk -F'|' -v row="$2" -v col="$3" '
    index($0, "| " row " |") == 1 {
      k = split(row, cells, "|")
      v = $(k + 1 + col); gsub(/^ +| +$/, "", v); sub(/ .*/, "", v); print v; exit
    }' "$1"
}

# ratio A B: A / B with two decimals, or "–" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "–" || b == "–" || b + 0 == 0) print "–"; else printf "%.2f", a / b }'; }

echo "# p2plobby benchmarks"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(uname -m), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
echo "- $RUNS runs of each figure; sections: $SECTIONS"
echo

for section in $SECTIONS; do
  log "section $section"
  case $section in
    server)
      RUNS=$RUNS SERVERS="p2plobby bun p2plobby-3nodes" SCENARIOS="join5000 join10000 relay relay1 idle10000" \
        "$root/scripts/bench.sh" >"$tmp/server.md"
      ;;
    peerjs)
      RUNS=$RUNS SERVERS="p2plobby peerserver" SCENARIOS="peerjs-join5000 peerjs-relay peerjs-idle" \
        "$root/scripts/bench.sh" >"$tmp/peerjs.md"
      ;;
    files)
      RUNS=$RUNS SIZE=${FILE_SIZE:-512MiB} TOOLS="p2plobby croc croc-nocompress" \
        "$root/scripts/bench-files.sh" >"$tmp/files.md"
      ;;
    wan)
      RUNS=$RUNS SIZE=${WAN_SIZE:-64MiB} TOOLS="p2plobby croc go-chromium chromium-chromium" \
        "$root/scripts/bench-wan.sh" >"$tmp/wan.md"
      ;;
    browser)
      (cd "$root" && P2PLOBBY_BENCH=$RUNS P2PLOBBY_BENCH_MIB=${BROWSER_MIB:-100} \
        go test ./e2e -run 'TestBenchFileTransfer$' -count 1 -v -timeout 60m) >"$tmp/browser.out" 2>&1 ||
        { tail -n 30 "$tmp/browser.out" >&2; exit 1; }
      {
        echo "## Browser file transfer: the app's full path beside a raw pair of the same two Chromiums"
        echo
        grep -E 'bench_test.go:[0-9]+: (run|median)' "$tmp/browser.out" | sed 's/^ *bench_test.go:[0-9]*: /- /'
      } >"$tmp/browser.md"
      ;;
    *) log "unknown section $section"; exit 2 ;;
  esac
  cat "$tmp/$section.md"
  echo
done

echo "## Summary: issue 13's goals"
echo
echo "| figure | p2plobby | reference | ratio | goal |"
echo "|---|---|---|---|---|"
row() { # label ours theirs goal
  echo "| $1 | ${2:-–} | ${3:-–} | $(ratio "${2:-}" "${3:-}") | $4 |"
}
if [ -f "$tmp/server.md" ]; then
  s=$tmp/server.md
  for n in 5000 10000; do
    row "join storm of $n, lobby events/s (Bun)" "$(median "$s" "join$n | lobby events delivered/s" 1)" \
      "$(median "$s" "join$n | lobby events delivered/s" 2)" "≥ 1.3"
  done
  row "relay, 100 pairs, messages/s (Bun)" "$(median "$s" "relay | relayed messages/s" 1)" "$(median "$s" "relay | relayed messages/s" 2)" "≥ 1.3"
  row "relay, 100 pairs, RTT p99 ms (Bun)" "$(median "$s" "relay | RTT p99 (ms)" 1)" "$(median "$s" "relay | RTT p99 (ms)" 2)" "≤ 0.8"
  row "relay, 1 pair, RTT p50 ms (Bun)" "$(median "$s" "relay1 | RTT p50 (ms)" 1)" "$(median "$s" "relay1 | RTT p50 (ms)" 2)" "≤ 0.8"
  row "relay, 1 pair, RTT p99 ms (Bun)" "$(median "$s" "relay1 | RTT p99 (ms)" 1)" "$(median "$s" "relay1 | RTT p99 (ms)" 2)" "≤ 0.8"
  row "idle, RSS per connection at 10,000, bytes (Bun)" "$(median "$s" "idle10000 | server RSS per connection (bytes)" 1)" \
    "$(median "$s" "idle10000 | server RSS per connection (bytes)" 2)" "≤ 3000 bytes"
  row "3-node cluster, join storm of 5000, events/s (one node)" "$(median "$s" "join5000 | lobby events delivered/s" 3)" \
    "$(median "$s" "join5000 | lobby events delivered/s" 1)" "report"
  row "3-node cluster, relay messages/s (one node)" "$(median "$s" "relay | relayed messages/s" 3)" \
    "$(median "$s" "relay | relayed messages/s" 1)" "report"
fi
if [ -f "$tmp/files.md" ]; then
  row "files on loopback, MB/s (croc)" "$(median "$tmp/files.md" "throughput (MB/s, 10^6 bytes)" 1)" \
    "$(median "$tmp/files.md" "throughput (MB/s, 10^6 bytes)" 2)" "≥ 2"
fi
if [ -f "$tmp/wan.md" ]; then
  row "files at 80 ms RTT, 1% loss, MB/s (croc)" "$(median "$tmp/wan.md" "80ms RTT, 1% loss" 1)" "$(median "$tmp/wan.md" "80ms RTT, 1% loss" 2)" "≥ 0.8"
fi
if [ -f "$tmp/browser.out" ]; then
  line=$(grep -o 'BENCH .*' "$tmp/browser.out" | tail -n 1)
  full=$(sed -n 's/.* full=\([0-9.]*\).*/\1/p' <<<"$line") pair=$(sed -n 's/.* pair=\([0-9.]*\).*/\1/p' <<<"$line")
  row "browser full path, MB/s (raw pair of the same browsers)" "$full" "$pair" "≥ 0.73"
fi
