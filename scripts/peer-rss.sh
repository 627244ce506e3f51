#!/usr/bin/env bash
# Measure the peak RSS (VmHWM) of `p2plobby send` and `p2plobby receive` moving one large file over loopback.
#
#   scripts/peer-rss.sh [SIZE]     SIZE for truncate/head, default 1G
#
# It builds the binary, starts a server on 127.0.0.1 (random port), sends a file of SIZE random bytes from one
# process to another (both --loopback), checks the SHA-256, and prints peak RSS, CPU time and throughput of
# each side, from /usr/bin/time -v. Everything stays on loopback; temporary files are removed at exit.
# Set P2PLOBBY_RSS_SPARSE=1 to send a sparse file of zeros instead (no disk space or time to create it).
set -euo pipefail
size=${1:-1G}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
(cd "$root" && go build -o "$tmp/p2plobby" ./cmd/p2plobby)

"$tmp/p2plobby" serve --addr 127.0.0.1:0 --log-level info 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do
  addr=$(sed -n 's/.*msg=listening addr=\([0-9.:]*\).*/\1/p' "$tmp/server.log" | head -1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "${addr:-}" ] || { echo "server did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }
server="ws://$addr"

mkdir "$tmp/in" "$tmp/out"
if [ "${P2PLOBBY_RSS_SPARSE:-}" = 1 ]; then
  truncate -s "$size" "$tmp/in/big.bin"
else
  head -c "$size" /dev/urandom >"$tmp/in/big.bin"
fi
bytes=$(stat -c %s "$tmp/in/big.bin")

/usr/bin/time -v "$tmp/p2plobby" receive --server "$server" --room rss --name rx --dir "$tmp/out" --once --loopback \
  >"$tmp/receive.out" 2>"$tmp/receive.err" &
receive_pid=$!
sleep 0.5
status=0
/usr/bin/time -v "$tmp/p2plobby" send --server "$server" --room rss --name tx --to rx --loopback "$tmp/in/big.bin" \
  2>"$tmp/send.err" || status=$?
wait "$receive_pid" || status=$?
if [ "$status" != 0 ]; then
  echo "transfer failed ($status):" >&2
  cat "$tmp/send.err" "$tmp/receive.err" >&2
  exit 1
fi

report() { # side file
  local rss cpu_u cpu_s wall
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$2")
  cpu_u=$(sed -n 's/.*User time (seconds): //p' "$2")
  cpu_s=$(sed -n 's/.*System time (seconds): //p' "$2")
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$2")
  printf '%-8s peak RSS %6.1f MiB   CPU %5.1f s user + %5.1f s sys   wall %s\n' \
    "$1" "$(awk "BEGIN{print $rss/1024}")" "$cpu_u" "$cpu_s" "$wall"
}
echo "file: $bytes bytes"
grep -h '^sent ' "$tmp/send.err" || true
report send "$tmp/send.err"
report receive "$tmp/receive.err"
received=$(cat "$tmp/receive.out")
if [ "$(sha256sum <"$tmp/in/big.bin")" = "$(sha256sum <"$received")" ]; then
  echo "sha256: match"
else
  echo "sha256: MISMATCH" >&2
  exit 1
fi
