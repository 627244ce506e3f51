#!/usr/bin/env bash
# Soak p2plobby (or the seed's Bun reference) with `lobbyload soak`, on loopback only: bounded churn, relays
# and renames for DURATION, every lobby event and relay checked, the server's goroutines, heap and RSS sampled.
# A benchmark, not part of CI's default run (docs/benchmarks.md, "Soak").
#
#   scripts/soak.sh                      # 2,000 members, 10 minutes, against p2plobby
#   SERVER=bun DURATION=3m scripts/soak.sh
#
# Environment:
#   SERVER=p2plobby      p2plobby (with --metrics-addr: goroutines, heap and RSS) or bun (RSS from /proc only;
#                        the seed has no rooms and no rename, so ROOMS=1 and RENAME_RATE=0 are forced)
#   MEMBERS=2000 ROOMS=4 DURATION=10m SAMPLE=10s CHECKPOINT=60s
#   CHURN=1              % of MEMBERS leaving, and as many joining, per second
#   RELAY_RATE=100       relays per second (~1 KB offers)
#   RENAME_RATE=1        renames per second
#   PORT=3451            the server's port; p2plobby's metrics listen on 127.0.0.1:PORT+1
#   RESULTS=FILE         also keep the JSON line (samples, counts, verdicts) in FILE
#   EXTRA="..."          more lobbyload flags (e.g. --fail-on-growth)
#   SERVER_FLAGS="--max-conns-per-ip 0 --ip-conn-rate 0"
#                        p2plobby's flags: every member comes from 127.0.0.1, so the per-address limits (meant
#                        to stop one client address from hogging the server) are lifted; all else is default
#
# The exit status is lobbyload's: 1 on any lost or duplicated event or relay.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
SERVER=${SERVER:-p2plobby}
MEMBERS=${MEMBERS:-2000}
ROOMS=${ROOMS:-4}
DURATION=${DURATION:-10m}
SAMPLE=${SAMPLE:-10s}
CHECKPOINT=${CHECKPOINT:-60s}
CHURN=${CHURN:-1}
RELAY_RATE=${RELAY_RATE:-100}
RENAME_RATE=${RENAME_RATE:-1}
PORT=${PORT:-3451}
EXTRA=${EXTRA:-}
SERVER_FLAGS=${SERVER_FLAGS:-"--max-conns-per-ip 0 --ip-conn-rate 0"}
bun_start=${BUN_START:-$root/../shared/reference/seed-bun/start}

tmp=$(mktemp -d)
server_pid=""
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$server_pid" || break; sleep 0.1; done
    if alive "$server_pid"; then kill -9 "$server_pid" 2>/dev/null || true; fi
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "soak: $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for p in "$PORT" $((PORT + 1)); do
  if port_open "$p"; then log "something already listens on 127.0.0.1:$p; refusing"; exit 1; fi
done

cd "$root"
log "building into $tmp"
go build -o "$tmp/lobbyload" ./cmd/lobbyload
metrics=()
case $SERVER in
  p2plobby)
    go build -o "$tmp/p2plobby" ./cmd/p2plobby
    # shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
    "$tmp/p2plobby" serve --addr "127.0.0.1:$PORT" --metrics-addr "127.0.0.1:$((PORT + 1))" \
      --turn-addr 127.0.0.1:0 --log-level warn $SERVER_FLAGS >"$tmp/server.log" 2>&1 &
    server_pid=$!
    metrics=(--metrics "http://127.0.0.1:$((PORT + 1))/metrics")
    ;;
  bun)
    [ -x "$bun_start" ] || { log "no Bun reference at $bun_start"; exit 1; }
    server_pid=$("$bun_start" "$PORT")
    ROOMS=1 RENAME_RATE=0
    ;;
  *) log "unknown SERVER $SERVER (want p2plobby or bun)"; exit 2 ;;
esac
for _ in $(seq 100); do port_open "$PORT" && break; sleep 0.05; done
port_open "$PORT" || { log "$SERVER did not start on 127.0.0.1:$PORT"; cat "$tmp/server.log" >&2 2>/dev/null; exit 1; }

log "$SERVER (pid $server_pid): $MEMBERS members, $ROOMS rooms, $DURATION, churn $CHURN%/s, $RELAY_RATE relays/s, $RENAME_RATE renames/s"
log "load on the machine: $(cut -d' ' -f1-3 /proc/loadavg) (nproc $(nproc))"
status=0
# shellcheck disable=SC2086 # EXTRA is a list of flags
"$tmp/lobbyload" soak --url "ws://127.0.0.1:$PORT/" --pid "$server_pid" "${metrics[@]}" \
  --members "$MEMBERS" --rooms "$ROOMS" --duration "$DURATION" --sample "$SAMPLE" --checkpoint "$CHECKPOINT" \
  --churn "$CHURN" --relay-rate "$RELAY_RATE" --rename-rate "$RENAME_RATE" $EXTRA | tee "$tmp/out.txt" || status=$?
[ -n "${RESULTS:-}" ] && tail -n 1 "$tmp/out.txt" >"$RESULTS"
if [ -s "$tmp/server.log" ]; then
  log "server log (warnings and errors, last 20 lines):"
  tail -n 20 "$tmp/server.log" >&2
fi
exit "$status"
