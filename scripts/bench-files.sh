#!/usr/bin/env bash
# Benchmark a file transfer between two Go peers: `p2plobby send` → `p2plobby receive` against croc v10.7.0,
# on loopback only (issue 13's baseline).
#
#   scripts/bench-files.sh           # from anywhere, as root; prints a markdown table on stdout, progress on stderr
#
# Environment:
#   SIZE=512MiB            size of the random file (N, NKiB, NMiB, NGiB)
#   RUNS=3                 runs per tool (median, min and max are reported)
#   TOOLS="p2plobby croc"  which tools to measure; also croc-nocompress (croc with --no-compress on both sides)
#   PORT=3501              p2plobby's server listens on 127.0.0.1:PORT, croc's relay on PORT+10…PORT+14
#   TIMEOUT=600            seconds any one process may run before it is killed and the run counts as failed
#   NETNS=1                run every process in a fresh network namespace that has only loopback (needs root);
#                          NETNS=0 uses the host's loopback, but croc then looks up its public relay's name in DNS
#                          at startup (it always does), multicasts on the LAN to discover peers, and its relay
#                          listens on 0.0.0.0 whatever --host says
#
# p2plobby: a fresh `p2plobby serve` per run; `receive --once --loopback`, then `send --loopback`; the peers
# connect directly over loopback (WebRTC data channel) and the server only signals.
# croc: v10.7.0 from the module proxy, installed once into $XDG_CACHE_HOME/p2plobby-croc; a fresh
# `croc relay --host 127.0.0.1` per run; the sender with --no-local (no local relay of its own, so the data goes
# through our relay as it does between two machines), both with --disable-clipboard, the code in CROC_SECRET and
# croc's config in a temporary folder. croc runs with its defaults otherwise (compression on, 4 transfer ports).
#
# A run: the clock starts when the sender starts and stops when the receiver exits (file written and verified by
# the tool). Each tool's receiver starts in the order the tool supports: p2plobby's first, given 0.5 s to join the
# room (outside the clock); croc's only once the sender holds its relay connection (inside the clock), because a
# croc receiver that reaches the relay first fails ("could not secure channel"). Then the script checks the
# SHA-256 of the received file against the sent one; a mismatch, a non-zero exit or a timeout fails the run. Peak RSS and CPU (user +
# system) of each side come from /usr/bin/time -v (peak RSS = ru_maxrss, the same as VmHWM); the server's or
# relay's CPU and VmHWM from /proc just before it is stopped. Runs alternate which tool goes first.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-512MiB}
RUNS=${RUNS:-3}
TOOLS=${TOOLS:-"p2plobby croc"}
PORT=${PORT:-3501}
TIMEOUT=${TIMEOUT:-600}
NETNS=${NETNS:-1}
croc_version=v10.7.0
croc_dir=${CROC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/p2plobby-croc}
croc=$croc_dir/croc

log() { echo "bench-files: $*" >&2; }

bytes_of() {
  local n=${1%[KMG]iB}
  case $1 in
    *KiB) echo $((n * 1024)) ;;
    *MiB) echo $((n * 1024 * 1024)) ;;
    *GiB) echo $((n * 1024 * 1024 * 1024)) ;;
    *[!0-9]* | "") log "SIZE must be N, NKiB, NMiB or NGiB, not $1"; exit 2 ;;
    *) echo "$1" ;;
  esac
}
bytes=$(bytes_of "$SIZE")

[ -x /usr/bin/time ] || { log "needs /usr/bin/time (apt-get install time)"; exit 1; }
command -v timeout >/dev/null || { log "needs timeout (coreutils)"; exit 1; }

tmp=$(mktemp -d)
ns=""
in_ns=()      # prefix that runs a command in the namespace (empty with NETNS=0)
procs=()      # process ids of the `timeout` wrappers and servers still running (each leads its process group)

alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# stop PID: TERM, then KILL after 5 s, then reap.
stop() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${procs[@]}"; do
    # Each `timeout` leads its own process group; end the group so that nothing it started stays behind.
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  for pid in "${procs[@]}"; do
    for _ in $(seq 30); do alive "$pid" || break; sleep 0.1; done
    kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
  done
  [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_bg NAME CMD...: runs CMD in the namespace under a timeout and /usr/bin/time -v (to $tmp/NAME.time),
# stdout to $tmp/NAME.out, stderr to $tmp/NAME.err; sets bg_pid.
run_bg() {
  local name=$1
  shift
  timeout -k 5 "$TIMEOUT" "${in_ns[@]}" /usr/bin/time -v -o "$tmp/$name.time" "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
  bg_pid=$!
  procs+=("$bg_pid")
}
forget() { # forget PID: no longer to be stopped at exit
  local p keep=()
  for p in "${procs[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  procs=("${keep[@]}")
}

port_open() { "${in_ns[@]}" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# proc_stats PID: "cpu_seconds peak_rss_mib" of a running process, from /proc.
proc_stats() {
  local ticks hwm
  ticks=$(awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0)
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0)
  awk -v t="$ticks" -v h="$hwm" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f %.1f\n", t / hz, h / 1024 }'
}
# time_stats FILE: "cpu_seconds peak_rss_mib" from /usr/bin/time -v's output.
time_stats() {
  awk -F': ' '/User time/ { c += $2 } /System time/ { c += $2 } /Maximum resident set size/ { r = $2 }
    END { printf "%.2f %.1f\n", c, r / 1024 }' "$1"
}
now() { date +%s.%N; }
# busy_seconds: CPU time all processes have used since boot (user, nice, system, irq, softirq, steal), in s.
busy_seconds() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }

# --- setup (with the host's network: building and installing need it) ---
cd "$root"
case " $TOOLS " in *" p2plobby "*)
  log "building p2plobby into $tmp"
  go build -o "$tmp/p2plobby" ./cmd/p2plobby
  ;;
esac
case " $TOOLS " in *" croc"*)
  if [ "$("$croc" --version 2>/dev/null)" != "croc version ${croc_version#v}" ]; then
    log "installing croc $croc_version into $croc_dir"
    mkdir -p "$croc_dir"
    (cd "$croc_dir" && GOBIN=$croc_dir GOFLAGS=-buildvcs=false go install "github.com/schollz/croc/v10@$croc_version")
  fi
  ;;
esac

if [ "$NETNS" = 1 ]; then
  [ "$(id -u)" = 0 ] || { log "NETNS=1 needs root (ip netns); NETNS=0 runs on the host's loopback"; exit 1; }
  ns=p2plobby-bench-files-$$
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  in_ns=(ip netns exec "$ns")
fi

mkdir -p "$tmp/in" "$tmp/out" "$tmp/croc-config"
log "writing $bytes random bytes"
head -c "$bytes" /dev/urandom >"$tmp/in/file.bin"
want=$(sha256sum <"$tmp/in/file.bin" | cut -d' ' -f1)

results=$tmp/results.tsv # tool, run, key, value
: >"$results"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results"; }

# start_server TOOL: the p2plobby server or the croc relay, fresh; sets server_pid (the process itself).
start_server() {
  local port
  case $1 in
    p2plobby)
      port=$PORT
      port_open "$port" && { log "something already listens on 127.0.0.1:$port"; exit 1; }
      timeout -k 5 "$TIMEOUT" "${in_ns[@]}" "$tmp/p2plobby" serve --addr "127.0.0.1:$port" --turn=false \
        --log-level warn >>"$tmp/server.log" 2>&1 </dev/null &
      ;;
    croc | croc-nocompress)
      port=$((PORT + 10))
      port_open "$port" && { log "something already listens on 127.0.0.1:$port"; exit 1; }
      CROC_CONFIG_DIR=$tmp/croc-config timeout -k 5 "$TIMEOUT" "${in_ns[@]}" "$croc" relay --host 127.0.0.1 \
        --ports "$port,$((port + 1)),$((port + 2)),$((port + 3)),$((port + 4))" >>"$tmp/relay.log" 2>&1 </dev/null &
      ;;
  esac
  server_wrapper=$!
  procs+=("$server_wrapper")
  for _ in $(seq 100); do port_open "$port" && break; sleep 0.05; done
  port_open "$port" || { log "$1's server did not start on 127.0.0.1:$port"; tail -n 20 "$tmp"/server.log "$tmp"/relay.log >&2 2>/dev/null; exit 1; }
  server_pid=$(pgrep -P "$server_wrapper" | head -1) # timeout's child: ip netns exec execs into the server
}
stop_server() {
  stop "$server_wrapper"
  forget "$server_wrapper"
}

# one_run TOOL RUN: one transfer; records its metrics or "failed".
one_run() {
  local tool=$1 run=$2 code rx tx t0 t1 rx_status=0 tx_status=0 got received busy0 busy1 srv0 t2
  rm -rf "$tmp/out" && mkdir "$tmp/out"
  rm -f "$tmp"/rx.* "$tmp"/tx.*
  start_server "$tool"
  case $tool in
    p2plobby)
      local server=ws://127.0.0.1:$PORT
      run_bg rx "$tmp/p2plobby" receive --server "$server" --room bench --name rx --dir "$tmp/out" --once --loopback \
        --max-size 0
      rx=$bg_pid
      sleep 0.5
      busy0=$(busy_seconds) srv0=$(proc_stats "$server_pid" | cut -d' ' -f1)
      t0=$(now)
      run_bg tx "$tmp/p2plobby" send --server "$server" --room bench --name tx --to rx --loopback "$tmp/in/file.bin"
      tx=$bg_pid
      ;;
    croc | croc-nocompress)
      code=bench-$RANDOM-$RANDOM-$run
      local opts=(--relay "127.0.0.1:$((PORT + 10))" --disable-clipboard)
      [ "$tool" = croc-nocompress ] && opts+=(--no-compress)
      export CROC_SECRET=$code CROC_CONFIG_DIR=$tmp/croc-config
      busy0=$(busy_seconds) srv0=$(proc_stats "$server_pid" | cut -d' ' -f1)
      t0=$(now)
      run_bg tx "$croc" "${opts[@]}" send --no-local "$tmp/in/file.bin"
      tx=$bg_pid
      # croc's receiver must come second: one that reaches the relay's room before the sender fails with
      # "could not secure channel". So it starts as soon as the sender has printed its code and holds a
      # connection to the relay (after hashing the file), as if the code were typed in no time.
      for _ in $(seq 1200); do
        grep -q 'Code is' "$tmp/tx.err" 2>/dev/null &&
          [ -n "$("${in_ns[@]}" ss -Htn state established "( dport = :$((PORT + 10)) )" 2>/dev/null)" ] && break
        alive "$tx" || break
        sleep 0.05
      done
      log "croc: receiver started $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s after the sender"
      run_bg rx "$croc" "${opts[@]}" --yes --overwrite --out "$tmp/out"
      rx=$bg_pid
      unset CROC_SECRET CROC_CONFIG_DIR
      ;;
  esac
  wait "$rx" || rx_status=$?
  t1=$(now)
  forget "$rx"
  wait "$tx" || tx_status=$?
  forget "$tx"
  read -r srv_cpu srv_rss < <(proc_stats "$server_pid")
  busy1=$(busy_seconds) t2=$(now)
  stop_server
  received=$tmp/out/file.bin
  got=$( [ -f "$received" ] && sha256sum <"$received" | cut -d' ' -f1 || echo none)
  if [ "$rx_status" != 0 ] || [ "$tx_status" != 0 ] || [ "$got" != "$want" ]; then
    record "$tool" "$run" failed 1
    log "$tool run $run/$RUNS: FAILED (receiver exit $rx_status, sender exit $tx_status, sha256 $got)"
    tail -n 15 "$tmp/rx.err" "$tmp/tx.err" >&2 || true
    return
  fi
  local secs rate tx_cpu tx_rss rx_cpu rx_rss
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  rate=$(awk -v n="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", n / 1e6 / s }')
  read -r tx_cpu tx_rss < <(time_stats "$tmp/tx.time")
  read -r rx_cpu rx_rss < <(time_stats "$tmp/rx.time")
  record "$tool" "$run" seconds "$secs"
  record "$tool" "$run" mbps "$rate"
  record "$tool" "$run" tx_rss "$tx_rss"
  record "$tool" "$run" rx_rss "$rx_rss"
  record "$tool" "$run" tx_cpu "$tx_cpu"
  record "$tool" "$run" rx_cpu "$rx_cpu"
  record "$tool" "$run" srv_cpu "$srv_cpu"
  record "$tool" "$run" srv_rss "$srv_rss"
  # What the whole machine ran from sender start to both exits (this script's polling included), in cores, to
  # compare with sender + receiver + server: /proc/stat counts in ticks, so the difference is only good to ~1 s.
  record "$tool" "$run" all_cores "$(awk -v a="$busy0" -v b="$busy1" -v t0="$t0" -v t2="$t2" \
    'BEGIN { printf "%.2f", (b - a) / (t2 - t0) }')"
  record "$tool" "$run" own_cores "$(awk -v t="$tx_cpu" -v r="$rx_cpu" -v s0="$srv0" -v s1="$srv_cpu" -v t0="$t0" \
    -v t2="$t2" 'BEGIN { printf "%.2f", (t + r + s1 - s0) / (t2 - t0) }')"
  log "$tool run $run/$RUNS: $secs s, $rate MB/s, RSS send $tx_rss / receive $rx_rss MiB," \
    "CPU send $tx_cpu / receive $rx_cpu / server $srv_cpu s"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
for run in $(seq "$RUNS"); do
  order=$TOOLS
  # Alternate which tool goes first, so that neither always runs on a machine warmed by the other.
  # shellcheck disable=SC2086 # TOOLS is a list of words
  if [ $((run % 2)) -eq 0 ]; then order=$(printf '%s\n' $TOOLS | tac | xargs); fi
  for tool in $order; do one_run "$tool" "$run"; done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# cell TOOL KEY: "median (min–max)" of the recorded values.
cell() {
  awk -F'\t' -v t="$1" -v k="$2" '$1 == t && $3 == k { print $4 }' "$results" | sort -g |
    awk 'function f(v) { a = v < 0 ? -v : v; return a >= 100 ? sprintf("%.0f", v) : a >= 10 ? sprintf("%.1f", v) : a >= 0.1 ? sprintf("%.2f", v) : sprintf("%.3g", v) }
      { v[NR] = $1 }
      END {
        if (NR == 0) { print "–"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s (%s–%s)", f(m), f(v[1]), f(v[NR])
      }'
}

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
echo "## Files: p2plobby send/receive vs. croc $croc_version"
echo
echo "- date: $started (start)"
echo "- machine: $(uname -m), $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r);" \
  "load average $load_before before, $load_after after"
echo "- file: $SIZE ($bytes random bytes); $RUNS runs per tool, alternating; median (min–max);" \
  "$([ "$NETNS" = 1 ] && echo "every process in a network namespace with only loopback" || echo "host loopback")"
echo
header="| metric |"
rule="|---|"
for tool in $TOOLS; do
  header+=" $tool |"
  rule+="---|"
done
echo "$header"
echo "$rule"
while IFS='|' read -r key label; do
  row="| $label |"
  for tool in $TOOLS; do row+=" $(cell "$tool" "$key") |"; done
  echo "$row"
done <<'EOF'
seconds|time, sender start → receiver exit (s)
mbps|throughput (MB/s, 10^6 bytes)
tx_rss|sender peak RSS (MiB)
rx_rss|receiver peak RSS (MiB)
tx_cpu|sender CPU, user + system (s)
rx_cpu|receiver CPU, user + system (s)
srv_cpu|server (p2plobby) / relay (croc) CPU (s)
srv_rss|server / relay peak RSS (MiB)
own_cores|sender + receiver + server CPU (cores)
all_cores|all processes' CPU, /proc/stat (cores)
EOF
row="| failed runs |"
for tool in $TOOLS; do
  row+=" $(awk -F'\t' -v t="$tool" '$1 == t && $3 == "failed"' "$results" | wc -l) |"
done
echo "$row"
echo
echo "Peak RSS and CPU of sender and receiver: /usr/bin/time -v (ru_maxrss = VmHWM); server/relay: /proc just" \
  "before it is stopped. Cores: CPU seconds ÷ wall time from sender start until both sides exited; \"all" \
  "processes\" is the whole machine (this script included), from /proc/stat's ticks. Every received file's" \
  "SHA-256 was checked against the sent one."
