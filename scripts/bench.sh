#!/usr/bin/env bash
# Benchmark p2plobby against the seed's Bun reference server (or PeerServer) with cmd/lobbyload, on loopback only.
#
#   scripts/bench.sh                 # from anywhere; prints a markdown table on stdout, progress on stderr
#
# Environment:
#   RUNS=5                     runs of each scenario on each server (median, min and max are reported)
#   PORT=3401                  p2plobby listens on 127.0.0.1:PORT, Bun on 127.0.0.1:PORT+1, PeerServer on PORT+2
#   SERVERS="p2plobby bun"     which servers to measure (SERVERS=bun works before cmd/p2plobby exists);
#                              p2plobby-noturn is p2plobby with --turn=false (no STUN/TURN, no TURN on the HTTP port);
#                              p2plobby-3nodes is a cluster: a NATS server and three p2plobby nodes, the members
#                              spread over the nodes in turn (server CPU is the four processes together);
#                              peerserver is PeerJS's PeerServer (npm peer@1.0.2, installed once into
#                              $XDG_CACHE_HOME/p2plobby-peerserver), for the peerjs-* scenarios only,
#                              with concurrent_limit raised from its default 5000 to 100000
#   SCENARIOS="join1000 join5000 relay idle"
#                              also: peerjs-join1000 peerjs-join5000 peerjs-relay peerjs-idle (PeerJS protocol,
#                              p2plobby's /peerjs against peerserver)
#   RESULTS=FILE               also keep every run's JSON line in FILE
#   SERVER_CPUS=1 TOOL_CPUS=0  pin the server (every process of it) and lobbyload to these CPUs with taskset, so
#                              neither steals the other's core (the default on a machine of 2 CPUs or more; set
#                              both empty to not pin). A Go server pinned to one CPU runs with GOMAXPROCS 1.
#
# Every run gets a freshly started server: after a 5000-member run a server spends many seconds announcing
# 5000 departures to the others, which would otherwise be measured by the next run (and RSS baselines too).
# Runs alternate between the servers so that drift on the machine affects both alike.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
PORT=${PORT:-3401}
SERVERS=${SERVERS:-"p2plobby bun"}
SCENARIOS=${SCENARIOS:-"join1000 join5000 relay idle"}
if [ "$(nproc)" -ge 2 ]; then
  SERVER_CPUS=${SERVER_CPUS-1} TOOL_CPUS=${TOOL_CPUS-0}
else
  SERVER_CPUS=${SERVER_CPUS-} TOOL_CPUS=${TOOL_CPUS-}
fi
# Command prefixes that pin (taskset execs the command, so $! stays the server's own process id).
server_on=() tool_on=()
[ -z "$SERVER_CPUS" ] || server_on=(taskset -c "$SERVER_CPUS")
[ -z "$TOOL_CPUS" ] || tool_on=(taskset -c "$TOOL_CPUS")
bun_start=${BUN_START:-$root/../shared/reference/seed-bun/start}
# A folder of its own, with its own package.json: npm installing into a folder without one climbs to the nearest
# folder with a node_modules and prunes what it finds there (p2plobby-tools holds .ci/run's typescript).
peerserver_dir=${PEERSERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/p2plobby-peerserver}

tmp=$(mktemp -d)
server_pid=""   # the server's process id, or the cluster's, comma-separated (for lobbyload --pid)
server_pids=()  # every process to stop
server_urls=""  # the WebSocket URLs, comma-separated
nats_mon=""     # the NATS monitoring port of a cluster run

# alive PID: the process exists and is not a zombie (p2plobby is our child until it is reaped).
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

stop_server() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true # reaps p2plobby; Bun is not our child and returns at once
  done
  server_pid="" server_pids=() server_urls="" nats_mon=""
}
cleanup() { stop_server; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_get PORT PATH: the body of a GET on loopback (no curl needed).
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 && sed '1,/^\r$/d' <&3
  exec 3<&-
}

# nats_msgs: "in_msgs out_msgs" of the cluster's NATS server so far.
nats_msgs() { http_get "$nats_mon" /varz | tr -d ' \n' | grep -o '"\(in\|out\)_msgs":[0-9]*' | cut -d: -f2 | xargs; }

# start_server NAME PORT: starts a fresh server on 127.0.0.1:PORT and sets server_pid and server_urls.
start_server() {
  local name=$1 port=$2
  if port_open "$port"; then
    log "something already listens on 127.0.0.1:$port; refusing to measure it"
    exit 1
  fi
  server_urls="ws://127.0.0.1:$port/"
  case $name in
    p2plobby-3nodes)
      local nport=$((PORT + 10)) node_ports=("$port" $((PORT + 2)) $((PORT + 3))) pids=() urls=() p
      nats_mon=$((PORT + 11))
      "${server_on[@]}" "$tmp/nats-server" -a 127.0.0.1 -p "$nport" -m "$nats_mon" >>"$tmp/nats.log" 2>&1 &
      server_pids+=($!) pids+=($!)
      for _ in $(seq 100); do port_open "$nport" && break; sleep 0.05; done
      for p in "${node_ports[@]}"; do
        "${server_on[@]}" "$tmp/p2plobby" serve --addr "127.0.0.1:$p" --max-conns-per-ip 0 --rate 100000 --burst 100000 \
          --ip-conn-rate 0 --room-join-rate 0 --recv-rate 0 --max-pending-requests 0 --peerjs-concurrent-limit 0 \
          --turn-addr 127.0.0.1:0 --nats "nats://127.0.0.1:$nport" --network-secret bench \
          --log-level warn >>"$tmp/p2plobby.log" 2>&1 &
        server_pids+=($!) pids+=($!) urls+=("ws://127.0.0.1:$p/")
      done
      for p in "${node_ports[@]}"; do
        for _ in $(seq 100); do [ "$(http_get "$p" /readyz 2>/dev/null)" = ready ] && break; sleep 0.05; done
      done
      server_pid=$(IFS=,; echo "${pids[*]}") server_urls=$(IFS=,; echo "${urls[*]}")
      return 0
      ;;
    p2plobby | p2plobby-noturn)
      local extra=(--turn-addr 127.0.0.1:0)
      [ "$name" = p2plobby-noturn ] && extra=(--turn=false)
      "${server_on[@]}" "$tmp/p2plobby" serve --addr "127.0.0.1:$port" --max-conns-per-ip 0 --rate 100000 --burst 100000 \
        --ip-conn-rate 0 --room-join-rate 0 --recv-rate 0 --max-pending-requests 0 --peerjs-concurrent-limit 0 \
        "${extra[@]}" --log-level warn >>"$tmp/p2plobby.log" 2>&1 &
      server_pid=$! server_pids=($!)
      ;;
    bun)
      server_pid=$("$bun_start" "$port") server_pids=("$server_pid")
      # Bun is started by its script, not by us: pin all of its threads once it runs.
      [ -z "$SERVER_CPUS" ] || taskset -a -pc "$SERVER_CPUS" "$server_pid" >/dev/null
      ;;
    peerserver)
      # PeerServer in library mode, as an app embeds it; its WebSocket is then /peerjs/peerjs, as p2plobby's.
      # concurrent_limit (default 5000) is raised so that 5000 clients plus the tool's slack fit.
      (cd "$peerserver_dir" && exec taskset -c "${SERVER_CPUS:-0-$(($(nproc) - 1))}" node -e 'require("peer").PeerServer({port: +process.argv[1], host: "127.0.0.1",
        path: "/peerjs", concurrent_limit: 100000})' "$port" >>"$tmp/peerserver.log" 2>&1) &
      server_pid=$! server_pids=($!)
      ;;
  esac
  for _ in $(seq 100); do
    port_open "$port" && return 0
    sleep 0.05
  done
  log "$name did not start listening on 127.0.0.1:$port"
  [ "$name" = peerserver ] && tail -n 20 "$tmp/peerserver.log" >&2
  [ "$name" != bun ] && [ "$name" != peerserver ] && tail -n 20 "$tmp/p2plobby.log" >&2
  exit 1
}

# args_of SCENARIO: the lobbyload arguments of a scenario.
args_of() {
  case $1 in
    join1000) echo "join --members 1000" ;;
    join5000) echo "join --members 5000" ;;
    join10000) echo "join --members 10000" ;;
    relay) echo "relay --pairs 100 --duration 10s" ;;
    relay1) echo "relay --pairs 1 --duration 10s" ;;
    idle) echo "idle --members 5000" ;;
    idle10000) echo "idle --members 10000" ;;
    peerjs-join1000) echo "peerjs-join --members 1000" ;;
    peerjs-join5000) echo "peerjs-join --members 5000" ;;
    peerjs-relay) echo "peerjs-relay --pairs 100 --duration 10s --window 4" ;;
    peerjs-idle) echo "peerjs-idle --members 5000 --heartbeat 5s --settle 6s" ;;
    *) log "unknown scenario $1"; exit 2 ;;
  esac
}

# metrics_of SCENARIO: "json_key|label" lines, in table order.
metrics_of() {
  case $1 in
    peerjs-join*) printf '%s\n' "open_seconds|time until all had OPEN (s, lower is better)" "opens_per_sec|OPENs/s" \
      "dial_p99_ms|dial p99 (ms)" "server_rss_after_mib|server RSS 0.25 s after the last OPEN (MiB)" \
      "bytes_per_conn|server RSS growth per connection (bytes)" ;;
    peerjs-relay) printf '%s\n' "messages_per_sec|CANDIDATEs delivered/s (each checked)" \
      "latency_p50_ms|one-way latency p50 (ms)" "latency_p99_ms|one-way latency p99 (ms)" ;;
    peerjs-idle) printf '%s\n' "bytes_per_conn|server RSS per connection (bytes)" \
      "server_rss_after_mib|server RSS 6 s after the last OPEN (MiB)" ;;
    join*) printf '%s\n' "join_seconds|time until all saw all (s, lower is better)" \
      "events_per_sec|lobby events delivered/s" "dial_p99_ms|dial p99 (ms)" ;;
    relay*) printf '%s\n' "messages_per_sec|relayed messages/s" "rtt_p50_ms|RTT p50 (ms)" "rtt_p99_ms|RTT p99 (ms)" ;;
    idle*) printf '%s\n' "bytes_per_conn|server RSS per connection (bytes)" ;;
  esac
  case $1 in
    join*) printf '%s\n' "nats_in_per_op|NATS messages published per member: its join and leave (cluster)" "nats_out_per_op|NATS messages delivered per member: its join and leave (cluster)" ;;
    relay*) printf '%s\n' "nats_in_per_op|NATS messages published per relay (cluster)" "nats_out_per_op|NATS messages delivered per relay (cluster)" ;;
  esac
  printf '%s\n' "server_cpu_cores|server CPU (cores)" "server_sys_cores|server CPU in the kernel (cores)" \
    "tool_cpu_cores|lobbyload CPU (cores)" \
    "other_cpu_cores|other processes' CPU (cores)"
}

port_of() {
  case $1 in
    bun) echo $((PORT + 1)) ;;
    peerserver) echo $((PORT + 2)) ;;
    *) echo "$PORT" ;;
  esac
}

log "building into $tmp"
cd "$root"
go build -o "$tmp/lobbyload" ./cmd/lobbyload
case " $SERVERS " in *" p2plobby"*) go build -o "$tmp/p2plobby" ./cmd/p2plobby ;; esac
case " $SERVERS " in *" p2plobby-3nodes "*) go build -o "$tmp/nats-server" github.com/nats-io/nats-server/v2 ;; esac
case " $SERVERS " in *" bun "*) [ -x "$bun_start" ] || { log "no Bun reference at $bun_start"; exit 1; } ;; esac
case " $SERVERS " in *" peerserver "*)
  if [ "$(node -p 'require(process.argv[1] + "/node_modules/peer/package.json").version' "$peerserver_dir" 2>/dev/null)" != 1.0.2 ]; then
    log "installing peer@1.0.2 into $peerserver_dir"
    mkdir -p "$peerserver_dir"
    [ -f "$peerserver_dir/package.json" ] || echo '{"private": true}' >"$peerserver_dir/package.json"
    npm install --prefix "$peerserver_dir" --no-audit --no-fund --loglevel=error peer@1.0.2 >/dev/null
  fi
  ;;
esac

results=$tmp/results.tsv # server, scenario, run, key, value
: >"$results"
: >"$tmp/runs.jsonl"
for scenario in $SCENARIOS; do
  for run in $(seq "$RUNS"); do
    order=$SERVERS
    # Alternate which server goes first, so neither always runs on a machine warmed by the other.
    # shellcheck disable=SC2086 # SERVERS is a list of words
    if [ $((run % 2)) -eq 0 ]; then order=$(printf '%s\n' $SERVERS | tac | xargs); fi
    for server in $order; do
      port=$(port_of "$server")
      start_server "$server" "$port"
      [ -n "$nats_mon" ] && read -r nats_in0 nats_out0 < <(nats_msgs)
      # shellcheck disable=SC2046 # the scenario arguments are meant to split
      if line=$("${tool_on[@]}" "$tmp/lobbyload" $(args_of "$scenario") --url "$server_urls" --pid "$server_pid" --json \
        2>"$tmp/last.log" | tail -n 1); [ -n "$line" ] && [[ $line == *'"ok":true'* ]]; then
        if [ -n "$nats_mon" ]; then
          # NATS messages per join (per member) or per relayed message (two per round trip), heartbeats included.
          read -r nats_in1 nats_out1 < <(nats_msgs)
          ops=$(grep -o '"\(members\|round_trips\)":[0-9]*' <<<"$line" | head -1 | cut -d: -f2)
          [[ $line == *'"round_trips"'* ]] && ops=$((2 * ops))
          line=${line%\}}$(awk -v i=$((nats_in1 - nats_in0)) -v o=$((nats_out1 - nats_out0)) -v n="$ops" \
            'BEGIN { printf ",\"nats_in_per_op\":%.3f,\"nats_out_per_op\":%.3f}", i / n, o / n }')
        fi
        echo "$line" >>"$tmp/runs.jsonl"
        while IFS='|' read -r key _; do
          value=$(grep -o "\"$key\":[-0-9.e+]*" <<<"$line" | cut -d: -f2 || true)
          [ -n "$value" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$scenario" "$run" "$key" "$value" >>"$results"
        done < <(metrics_of "$scenario")
        log "$scenario run $run/$RUNS $server: ok"
      else
        printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$scenario" "$run" failed 1 >>"$results"
        log "$scenario run $run/$RUNS $server: FAILED"
        tail -n 15 "$tmp/last.log" >&2
      fi
      stop_server
    done
  done
done
[ -n "${RESULTS:-}" ] && cp "$tmp/runs.jsonl" "$RESULTS"

# cell SERVER SCENARIO KEY: "median (min–max)" of the recorded values.
cell() {
  awk -F'\t' -v s="$1" -v sc="$2" -v k="$3" '$1 == s && $2 == sc && $4 == k { print $5 }' "$results" | sort -g |
    awk 'function f(v) { a = v < 0 ? -v : v; return a >= 100 ? sprintf("%.0f", v) : a >= 10 ? sprintf("%.1f", v) : a >= 0.1 ? sprintf("%.2f", v) : sprintf("%.3g", v) }
      { v[NR] = $1 }
      END {
        if (NR == 0) { print "–"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s (%s–%s)", f(m), f(v[1]), f(v[NR])
      }'
}

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
case " $SERVERS " in
  *" peerserver "*) echo "## p2plobby vs. PeerServer" ;;
  *) echo "## p2plobby vs. seed Bun reference" ;;
esac
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "- machine: $(uname -m), $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r)"
if [ -n "$SERVER_CPUS" ]; then
  where="the server pinned to CPU $SERVER_CPUS (every process of it), lobbyload to CPU $TOOL_CPUS"
else
  where="lobbyload runs on the same CPUs"
fi
echo "- $RUNS fresh-server runs per scenario and server, alternating; median (min–max); $where"
echo
header="| scenario | metric |"
rule="|---|---|"
for server in $SERVERS; do
  header+=" $server |"
  rule+="---|"
done
echo "$header"
echo "$rule"
for scenario in $SCENARIOS; do
  while IFS='|' read -r key label; do
    row="| $scenario | $label |"
    for server in $SERVERS; do row+=" $(cell "$server" "$scenario" "$key") |"; done
    echo "$row"
  done < <(metrics_of "$scenario")
  row="| $scenario | failed runs |"
  for server in $SERVERS; do
    row+=" $(awk -F'\t' -v s="$server" -v sc="$scenario" '$1 == s && $2 == sc && $4 == "failed"' "$results" | wc -l) |"
  done
  echo "$row"
done
# shellcheck disable=SC2086 # SCENARIOS is a list of words
if [ -n "$(printf '%s\n' $SCENARIOS | grep -v '^peerjs-')" ]; then
  echo
  echo "Scenarios: joinN = \`lobbyload join --members N\`, relay = \`lobbyload relay --pairs 100 --duration 10s\`" \
    "(~1 KB offer/answer), relay1 = the same with one pair, idle = \`lobbyload idle --members 5000\`, idle10000 with 10000."
fi
case " $SCENARIOS " in *" peerjs-"*)
  echo
  echo "PeerJS scenarios: peerjs-join1000/5000 = \`lobbyload peerjs-join --members N\`, peerjs-relay =" \
    "\`lobbyload peerjs-relay --pairs 100 --duration 10s --window 4\` (~300-byte CANDIDATEs), peerjs-idle =" \
    "\`lobbyload peerjs-idle --members 5000 --heartbeat 5s --settle 6s\`; p2plobby with --peerjs-concurrent-limit 0," \
    "PeerServer with concurrent_limit 100000 (its default is 5000)."
  ;;
esac
