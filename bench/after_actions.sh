#!/usr/bin/env bash
# bench/after_actions.sh — what after-actions cost: throughput, response latency, memory per
# pending task and heap allocations per request, /plain (static) against /bg (the same static
# response plus TEN `http` after-actions to a local sink that holds every call 50 ms).
#
#   sh bench/after_actions.sh          full run (about 4 minutes)
#   QUICK=1 sh bench/after_actions.sh  smoke run: 3 s measurements, fewer requests
#
# (a) saturation: wrk -t1 -c64 keep-alive, DURATION s per route after a WARMUP, edged (1 I/O
#     thread) pinned to CPU 0, wrk to CPU 1. Besides wrk's req/s it reports how many after-action
#     tasks completed in the window: a closed-loop client can push responses faster than the
#     background calls finish (the backlog then waits in the task cap), so the /bg figure used
#     below is the SUSTAINED one, min(wrk req/s, completed tasks/s / 10). After the /bg run, one
#     GET /plain is timed while that backlog is still there, and the backlog gets DRAIN_WAIT s to
#     drain; (b) then starts on a fresh edged so (a)'s aftermath cannot leak into it.
# (b) latency at one fixed offered rate, RATE_FRACTION (1/2) of /bg's sustained saturation rate,
#     for /plain and /bg, from an open-loop generator (bench/tools/loadgen.cpp: latency from the
#     scheduled send time, no coordinated omission; Debian has no wrk2), ROUNDS_B interleaved
#     rounds on a fresh edged. Prints p50/p90/p99 per run and over all rounds' samples pooled,
#     and the ratio p99(bg)/p99(plain) of the pooled figures (goal: within 1.10).
# (c) memory per pending task: a fresh edged, a sink that holds every call HOLD_LONG_MS, then
#     PENDING_REQS requests to /bg at (b)'s rate (x10 tasks each); VmRSS before and at the plateau (all calls
#     held at the sink), (RSS growth) / (tasks pending). Pending tasks are counted at the sink
#     (calls held) and from edged's /stats (tasks.running). The upstream pool is sized to hold a
#     connection per task (bounded by the fd limit), so no task queues for a connection.
# (d) heap allocations per request: edged under an LD_PRELOAD counter (bench/tools/
#     malloc_count.c: malloc, calloc, realloc, memalign family; operator new goes through malloc),
#     ALLOC_REQS requests per route open loop at (b)'s rate. Two figures:
#       live: counter after - before the measured requests (after a warm-up), in one process,
#             /bg waited until every after-action call was answered;
#       exit: as the issue asks, (allocations at exit - allocations at exit of a run with 0
#             requests) / requests, edged stopped with SIGTERM (it exits 0 after draining); this
#             one also carries start-up and shutdown differences (e.g. pool connections).
#
# CPU placement: edged alone on CPU 0 (SERVER_CPU), so its req/s and CPU per request are its own.
# The sink shares CPU 1 with the load generator (SINK_CPU defaults to WRK_CPU): on a 2-core
# machine the only alternative is CPU 0, where the sink's syscalls (10 calls per /bg request)
# would be charged to edged's core and lower /bg's throughput for a reason that is not edged's.
# The price is that the sink's work competes with the client on CPU 1; the busy % of CPU 1 is
# printed for every run (near 100 % means the client side, not edged, was the limit). The sink
# is a single-threaded epoll program (bench/tools/sink.cpp) costing a few us per call.
#
# Environment (defaults in brackets):
#   DURATION [10] seconds per (a) and (b) run   WARMUP [2]  CONNECTIONS [64] (wrk -c, loadgen)
#   HOLD_MS [50] sink hold                      ACTIONS [10] after-actions on /bg
#   RATE [half of /bg's sustained rate]         RATE_FRACTION [0.5]   ROUNDS_B [5] rounds of (b)
#   DRAIN_WAIT [20] s to wait for (a)'s /bg backlog before (b) starts on a fresh edged
#   POOL [8192] upstream max/idle connections per thread for (a), (b), (d)
#   PENDING_REQS [1500] (c) requests            HOLD_LONG_MS [20000] (c) sink hold
#   ALLOC_REQS [5000] (d) requests per route    ALLOC_WARMUP [500]
#   WAIT_QUIET [30] s to wait for idle CPUs before starting
#   EDGED [build/edged]  SERVER_CPU [0]  WRK_CPU [1]  SINK_CPU [=WRK_CPU]  KEEP_TMP [0]
# Only 127.0.0.1 is contacted; only the processes started here are stopped (by pid).

# Run through sh: re-exec under bash (this line must stay POSIX).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

cd "$(dirname "$0")/.."

# ---- settings ---------------------------------------------------------------------------
if [ "${QUICK:-0}" = 1 ]; then
  DURATION=${DURATION:-3} WARMUP=${WARMUP:-1} ROUNDS_B=${ROUNDS_B:-1} PENDING_REQS=${PENDING_REQS:-500}
  ALLOC_REQS=${ALLOC_REQS:-2000} ALLOC_WARMUP=${ALLOC_WARMUP:-200} HOLD_LONG_MS=${HOLD_LONG_MS:-10000}
fi
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
HOLD_MS=${HOLD_MS:-50}
ACTIONS=${ACTIONS:-10}
RATE_FRACTION=${RATE_FRACTION:-0.5}
ROUNDS_B=${ROUNDS_B:-5}
DRAIN_WAIT=${DRAIN_WAIT:-20}
POOL=${POOL:-8192}
PENDING_REQS=${PENDING_REQS:-1500}
HOLD_LONG_MS=${HOLD_LONG_MS:-20000}
ALLOC_REQS=${ALLOC_REQS:-5000}
ALLOC_WARMUP=${ALLOC_WARMUP:-500}
WAIT_QUIET=${WAIT_QUIET:-30}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
SINK_CPU=${SINK_CPU:-$WRK_CPU}
EDGED=${EDGED:-build/edged}
BENCH_DIR=$PWD/bench

. "$BENCH_DIR/lib.sh"  # helpers shared with bench/static_vs_nginx.sh

# ---- dependencies (Debian bookworm, apt-get only) -----------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v taskset >/dev/null || need+=(util-linux)
command -v g++ >/dev/null || need+=(g++)
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/include/boost/asio.hpp ] || need+=(libboost1.81-dev)
install_missing "${need[@]}"

ensure_edged

CLK_TCK=$(getconf CLK_TCK)
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; server and clients share a CPU, figures are not comparable"
# Thousands of upstream connections on both sides: take the hard fd limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

# ---- temp dir and cleanup ---------------------------------------------------------------
TMP=$(mktemp -d /tmp/edged-bench-after.XXXXXX)
PIDS=()  # every process started here and maybe still running

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build the tools ----------------------------------------------------------------------
log "building sink, loadgen and malloc_count in $TMP"
g++ -O2 -std=c++20 -o "$TMP/sink" "$BENCH_DIR/tools/sink.cpp" &
b1=$!
g++ -O2 -std=c++20 -o "$TMP/loadgen" "$BENCH_DIR/tools/loadgen.cpp" -pthread &
b2=$!
gcc -O2 -shared -fPIC -o "$TMP/malloc_count.so" "$BENCH_DIR/tools/malloc_count.c" || die "malloc_count.c"
wait "$b1" || die "sink.cpp does not build"
wait "$b2" || die "loadgen.cpp does not build"

# ---- helpers ----------------------------------------------------------------------------

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# JSON number field NAME from stdin (flat enough for /stats and the sink's /count).
jnum() { grep -o "\"$1\":[0-9-]*" | head -1 | sed 's/.*://'; }
stats() { curl -s -m 2 "http://127.0.0.1:$ADMIN_PORT/stats"; }
# The process-wide "tasks" object of /stats (the only one with "registered"): each route has a
# "tasks" object too, and "(none)" sorts before every route name.
task_stats() { stats | grep -o '"tasks":{[^}]*"registered":[^}]*}'; }
sink_count() { curl -s -m 2 "http://127.0.0.1:$1/count"; }

# Starts a sink holding calls $1 ms on CPU $SINK_CPU; sets SINK_PID SINK_PORT.
start_sink() {
  local out="$TMP/sink-$1.out"
  taskset -c "$SINK_CPU" "$TMP/sink" --port 0 --hold-ms "$1" >"$out" 2>&1 &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  for _ in $(seq 50); do
    SINK_PORT=$(awk '/^port / {print $2}' "$out")
    [ -n "$SINK_PORT" ] && return 0
    kill -0 "$SINK_PID" 2>/dev/null || die "sink exited: $(cat "$out")"
    sleep 0.1
  done
  die "sink did not start"
}

# Writes an edged config: $1 file, $2 sink port, $3 pool size, $4 upstream timeout,
# $5 wall budget, $6 shutdown grace. Sets ED_PORT ADMIN_PORT.
write_config() {
  local file=$1 i
  ED_PORT=$(free_port) ADMIN_PORT=$(free_port)
  {
    cat <<EOF
server: { listen: ["127.0.0.1:$ED_PORT"], threads: 1 }
admin: { listen: "127.0.0.1:$ADMIN_PORT" }
log: { level: warn, access: false }
shutdown: { grace: $6 }
upstreams:
  sink: { url: "http://127.0.0.1:$2", connect_timeout: 5s, timeout: $4, max_connections: $3, idle_connections: $3 }
lifecycle: { max_background_tasks: 100000, max_wait_until: 16, wall_budget: $5, cpu_budget: 1s }
routes:
  - name: plain
    match: { path: /plain }
    handler: { static: { status: 200, headers: { content-type: text/plain }, body: "hello, world\n" } }
  - name: bg
    match: { path: /bg }
    handler: { static: { status: 200, headers: { content-type: text/plain }, body: "hello, world\n" } }
    after:
EOF
    for ((i = 0; i < ACTIONS; i++)); do
      printf '      - http: { upstream: sink, method: POST, path: /events, body: %s }\n' \
        "'{\"id\":\"\${request.id}\",\"n\":$i}'"
    done
  } >"$file"
  "$EDGED" --check-config "$file" >/dev/null || die "edged rejects $file"
}

# Starts edged on CPU $SERVER_CPU with config $1 (extra env in $2, e.g. LD_PRELOAD=...); sets ED_PID.
start_edged() {
  local cfg=$1 name=$2
  shift 2
  env "$@" taskset -c "$SERVER_CPU" "$EDGED" --config "$cfg" >"$TMP/$name.log" 2>&1 &
  ED_PID=$!
  PIDS+=("$ED_PID")
  wait_ready "http://127.0.0.1:$ADMIN_PORT/healthz" "$ED_PID" "edged ($name)"
}

# SIGTERM edged and wait for its exit (up to 15 s, then SIGKILL); sets ED_RC ED_STOP_S.
stop_edged() {
  local i t0=$SECONDS
  kill -TERM "$ED_PID"
  for i in $(seq 150); do kill -0 "$ED_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$ED_PID" 2>/dev/null; then
    log "edged (pid $ED_PID) still running 15 s after SIGTERM: SIGKILL"
    kill -KILL "$ED_PID" 2>/dev/null || true
  fi
  ED_RC=0
  wait "$ED_PID" || ED_RC=$?
  ED_STOP_S=$((SECONDS - t0))
  forget "$ED_PID"
}
stop_sink() {  # $1 pid
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}

# Dies with edged's exit status when it is gone (a crash under load is a finding, not noise).
check_edged() {
  kill -0 "$ED_PID" 2>/dev/null && return 0
  [ "$BASH_SUBSHELL" = 0 ] || return 1  # inside $(...): the caller's next check reports it
  local rc=0
  wait "$ED_PID" || rc=$?
  forget "$ED_PID"
  die "edged (pid $ED_PID) exited during $1 with status $rc$( [ "$rc" -gt 128 ] && echo " (signal $((rc - 128)))"); log: $TMP"
}

# Waits (up to $1 s) until edged reports no background task running; prints the count left.
wait_tasks_idle() {
  local running=""
  check_edged "a wait for background tasks" || { echo gone; return 0; }
  for _ in $(seq $(($1 * 5))); do
    running=$(task_stats | jnum running)
    [ "${running:-1}" = 0 ] && break
    sleep 0.2
  done
  echo "${running:-?}"
}

# Task counters from /stats as "registered completed failed rejected running cancelled".
task_counters() {
  local s
  check_edged "a run" || { echo "0 0 0 0 0 0"; return 0; }
  s=$(task_stats)
  echo "$(jnum registered <<<"$s") $(jnum completed <<<"$s") $(jnum failed <<<"$s")" \
    "$(jnum 'rejected:overflow' <<<"$s") $(jnum running <<<"$s")" \
    "$(($(jnum 'cancelled:wall_budget' <<<"$s") + $(jnum 'cancelled:cpu_budget' <<<"$s") + $(jnum 'cancelled:shutdown' <<<"$s")))"
}
# "tasks: ..." line from two task_counters samples.
task_delta() {
  local a b; read -r -a a <<<"$1"; read -r -a b <<<"$2"
  printf 'registered %d, completed %d, failed %d, rejected:overflow %d, cancelled %d; running at end %d' \
    $((b[0] - a[0])) $((b[1] - a[1])) $((b[2] - a[2])) $((b[3] - a[3])) $((b[5] - a[5])) "${b[4]}"
}

# Run wrk; sets R_RPS R_REQS R_P50US R_P99US R_ERRS R_NON2XX. args: url seconds label
to_us() { awk -v k="$1" '$1 == k {
      v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
      m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : 0
      printf "%.0f", v * m }' "$2"; }
run_wrk() {
  local url=$1 secs=$2 label=$3 out="$TMP/wrk-$3.txt" pid
  timeout -k 5 $((secs + 30)) taskset -c "$WRK_CPU" \
    wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency "$url" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || { check_edged "wrk ($label)"; die "wrk failed ($label); output: $(cat "$out")"; }
  forget "$pid"
  check_edged "wrk ($label)"
  R_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  R_REQS=$(awk '/ requests in / {print $1}' "$out")
  R_P50US=$(to_us 50% "$out") R_P99US=$(to_us 99% "$out")
  R_ERRS=$(awk -F'[ ,]+' '/Socket errors:/ {print $4+$6+$8+$10}' "$out")
  R_NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  R_ERRS=${R_ERRS:-0} R_NON2XX=${R_NON2XX:-0}
  [ -n "$R_RPS" ] && [ -n "$R_REQS" ] && [ -n "$R_P99US" ] || die "could not parse wrk output ($label): $(cat "$out")"
}

# Run loadgen (args passed through) on CPU $WRK_CPU; sets L_* from its RESULT line.
run_loadgen() {
  local label=$1 out="$TMP/loadgen-$1.txt" pid rc=0 kv
  shift
  timeout -k 5 120 taskset -c "$WRK_CPU" "$TMP/loadgen" --port "$ED_PORT" "$@" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget "$pid"
  check_edged "loadgen ($label)"
  grep -q '^RESULT ' "$out" || die "loadgen failed ($label): $(cat "$out")"
  [ "$rc" = 0 ] || log "$label: loadgen reported errors: $(grep '^RESULT' "$out")"
  for kv in $(grep '^RESULT ' "$out" | cut -d' ' -f2-); do
    printf -v "L_${kv%%=*}" '%s' "${kv#*=}"
  done
}

us_ms() { awk -v u="$1" 'BEGIN {printf "%.3f", u / 1e3}'; }

# ---- header -------------------------------------------------------------------------------
echo "== after-actions: /plain (static) vs /bg (static + $ACTIONS http after-actions, sink holds ${HOLD_MS} ms)"
echo "  edged: $EDGED ($("$EDGED" --version)), 1 I/O thread, CPU $SERVER_CPU; wrk/loadgen CPU $WRK_CPU; sink CPU $SINK_CPU"
echo "  $(nproc) CPUs, $(uname -r), CLK_TCK=$CLK_TCK, fd limit $NOFILE, upstream pool $POOL connections"
# Other load on the host skews every figure: wait up to WAIT_QUIET s for both CPUs to be idle.
for ((i = 0; i <= WAIT_QUIET; i++)); do
  s0=$(cpu_busy "$SERVER_CPU") w0=$(cpu_busy "$WRK_CPU"); sleep 1; s1=$(cpu_busy "$SERVER_CPU") w1=$(cpu_busy "$WRK_CPU")
  [ "$(busy_pct "$s0" "$s1")" -le 10 ] && [ "$(busy_pct "$w0" "$w1")" -le 10 ] && break
done
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg); busy before the start: cpu$SERVER_CPU $(busy_pct "$s0" "$s1")%," \
  "cpu$WRK_CPU $(busy_pct "$w0" "$w1")%$( [ "$(busy_pct "$s0" "$s1")" -le 10 ] && [ "$(busy_pct "$w0" "$w1")" -le 10 ] ||
    echo " -- WARNING: the host is busy, figures are skewed")"

start_sink "$HOLD_MS"
SINK50_PID=$SINK_PID SINK50_PORT=$SINK_PORT
write_config "$TMP/edged.yaml" "$SINK50_PORT" "$POOL" 5s 30s 5s
start_edged "$TMP/edged.yaml" edged
for p in plain bg; do
  out=$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$ED_PORT/$p")
  [ "$out" = "200 13" ] || die "/$p: expected '200 13', got '$out'"
done
# One /bg request must reach the sink ACTIONS times.
for _ in $(seq 20); do
  [ "$(sink_count "$SINK50_PORT" | jnum answered)" = "$ACTIONS" ] && break
  sleep 0.1
done
[ "$(sink_count "$SINK50_PORT" | jnum answered)" = "$ACTIONS" ] ||
  die "one /bg request should make $ACTIONS sink calls: $(sink_count "$SINK50_PORT")"
[ "$(wait_tasks_idle 5)" = 0 ] || die "tasks still running after one /bg request: $(stats)"
echo "  /stats: $(stats)"

# ---- (a) saturation -------------------------------------------------------------------------
echo
echo "== (a) saturation: wrk -t1 -c$CONNECTIONS keep-alive, ${DURATION}s after ${WARMUP}s warm-up"
printf '  %-6s %9s %9s %8s %8s %8s %8s %6s %6s %6s %6s %7s %7s\n' route 'req/s' requests 'p50 ms' 'p99 ms' \
  'cpu us/r' 'sink us' 'edg%' "cpu$SERVER_CPU%" "cpu$WRK_CPU%" 'sink%' non2xx sockerr
declare -A SAT SUST
for route in plain bg; do
  url="http://127.0.0.1:$ED_PORT/$route"
  [ "$(wait_tasks_idle 40)" = 0 ] || log "(a) $route: background tasks still running before the run"
  run_wrk "$url" "$WARMUP" "a-$route-warmup"
  [ "$(wait_tasks_idle 40)" = 0 ] || log "(a) $route: background tasks still running after the warm-up"
  check_edged "the warm-up of (a) $route"
  t0=$(task_counters) k0=$(sink_count "$SINK50_PORT")
  s0=$(cpu_busy "$SERVER_CPU") w0=$(cpu_busy "$WRK_CPU") e0=$(cpu_ticks "$ED_PID") q0=$(cpu_ticks "$SINK50_PID")
  run_wrk "$url" "$DURATION" "a-$route"
  e1=$(cpu_ticks "$ED_PID") q1=$(cpu_ticks "$SINK50_PID") s1=$(cpu_busy "$SERVER_CPU") w1=$(cpu_busy "$WRK_CPU")
  t1=$(task_counters) k1=$(sink_count "$SINK50_PORT")
  calls=$(($(jnum answered <<<"$k1") - $(jnum answered <<<"$k0")))
  printf '  %-6s %9.0f %9s %8s %8s %8s %8s %6s %6s %6s %6s %7s %7s\n' "$route" "$R_RPS" "$R_REQS" \
    "$(us_ms "$R_P50US")" "$(us_ms "$R_P99US")" \
    "$(awk -v t=$((e1 - e0)) -v hz="$CLK_TCK" -v n="$R_REQS" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')" \
    "$(awk -v t=$((q1 - q0)) -v hz="$CLK_TCK" -v n="$calls" 'BEGIN {printf (n > 0) ? "%.1f" : "-", t / hz * 1e6 / n}')" \
    "$(awk -v t=$((e1 - e0)) -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN {printf "%.0f", 100 * t / hz / d}')" \
    "$(busy_pct "$s0" "$s1")" "$(busy_pct "$w0" "$w1")" \
    "$(awk -v t=$((q1 - q0)) -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN {printf "%.0f", 100 * t / hz / d}')" \
    "$R_NON2XX" "$R_ERRS"
  SAT[$route]=$R_RPS
  if [ "$route" = bg ]; then
    read -r -a a <<<"$t0"; read -r -a b <<<"$t1"
    completed=$((b[1] - a[1]))
    SUST[bg]=$(awk -v r="$R_RPS" -v c="$completed" -v d="$DURATION" -v n="$ACTIONS" \
      'BEGIN {s = c / d / n; printf "%.0f", (s < r) ? s : r}')
    echo "         tasks in the window: $(task_delta "$t0" "$t1")"
    echo "         sink: $calls calls answered in the window ($(awk -v c="$calls" -v d="$DURATION" 'BEGIN {printf "%.0f", c / d}')/s), held at end $(jnum held <<<"$k1"), connections $(jnum connections <<<"$k1") (max $(jnum max_connections <<<"$k1"))"
    # One unrelated request while the backlog is there: does background work delay it?
    probe=$(curl -s -m 60 -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:$ED_PORT/plain" || true)
    echo "         one GET /plain right after the run (backlog of $(task_stats | jnum running) tasks): status/seconds ${probe:-none}"
    left=$(wait_tasks_idle "$DRAIN_WAIT")
    echo "         after up to ${DRAIN_WAIT}s: tasks running ${left}; since the window: $(task_delta "$t1" "$(task_counters)")"
    echo "         (tasks that waited for a pool connection past the upstream timeout end failed: \"no upstream connection free within the timeout\")"
  fi
done
echo "  /bg sustained (responses whose after-actions also completed in the window): ${SUST[bg]} req/s"
echo "  /bg / /plain: wrk req/s $(ratio "${SAT[bg]}" "${SAT[plain]}"), sustained $(ratio "${SUST[bg]}" "${SAT[plain]}")"
echo "  (cpu us/r: edged CPU per response; sink us: sink CPU per call; edg%/sink%: their CPU over the run;"
echo "   cpuN%: how busy CPU N was, all processes)"

# (b) gets a fresh edged: whatever (a) left behind (a backlog, a slow drain) must not leak into it.
stop_edged
echo "  edged after (a): SIGTERM -> exit code $ED_RC in ${ED_STOP_S}s"
# Let the sink (on the client CPU) see its thousands of connections closed before measuring.
for _ in $(seq 100); do [ "$(sink_count "$SINK50_PORT" | jnum connections)" -le 1 ] && break; sleep 0.1; done
sleep 1
start_edged "$TMP/edged.yaml" edged-b

# ---- (b) latency at a fixed offered rate ----------------------------------------------------
RATE=${RATE:-$(awk -v s="${SUST[bg]}" -v f="$RATE_FRACTION" 'BEGIN {printf "%.0f", s * f}')}
[ "$RATE" -gt 0 ] || die "no rate for (b)"
echo
echo "== (b) latency at a constant offered rate of $RATE req/s = $RATE_FRACTION x /bg sustained ${SUST[bg]} (wrk's /bg figure would give $(awk -v s="${SAT[bg]}" -v f="$RATE_FRACTION" 'BEGIN {printf "%.0f", s * f}'))"
echo "   (open loop, $CONNECTIONS connections, ${DURATION}s after ${WARMUP}s warm-up, $ROUNDS_B interleaved rounds)"
printf '  %-6s %5s %9s %7s %8s %8s %8s %8s %8s %6s %6s %6s %6s %6s\n' route round achieved done 'p50 ms' 'p90 ms' \
  'p99 ms' 'p99.9 ms' 'max ms' late 'edg%' "cpu$SERVER_CPU%" "cpu$WRK_CPU%" errors
P99S_plain=() P99S_bg=() P50S_plain=() P50S_bg=()
for ((round = 1; round <= ROUNDS_B; round++)); do
  for route in plain bg; do
    [ "$(wait_tasks_idle 40)" = 0 ] || log "(b) $route: background tasks still running before the run"
    run_loadgen "b-$route-$round-warmup" --path "/$route" --connections "$CONNECTIONS" --rate "$RATE" --duration "$WARMUP"
    [ "$(wait_tasks_idle 40)" = 0 ] || log "(b) $route: background tasks still running after the warm-up"
    t0=$(task_counters)
    s0=$(cpu_busy "$SERVER_CPU") w0=$(cpu_busy "$WRK_CPU") e0=$(cpu_ticks "$ED_PID")
    run_loadgen "b-$route-$round" --path "/$route" --connections "$CONNECTIONS" --rate "$RATE" --duration "$DURATION" \
      --dump "$TMP/lat-$route-$round.txt"
    e1=$(cpu_ticks "$ED_PID") s1=$(cpu_busy "$SERVER_CPU") w1=$(cpu_busy "$WRK_CPU")
    printf '  %-6s %5s %9.0f %7s %8s %8s %8s %8s %8s %6s %6s %6s %6s %6s\n' "$route" "$round" "$L_rate" "$L_done" \
      "$(us_ms "$L_p50_us")" "$(us_ms "$L_p90_us")" "$(us_ms "$L_p99_us")" "$(us_ms "$L_p999_us")" \
      "$(us_ms "$L_max_us")" "$L_late" \
      "$(awk -v t=$((e1 - e0)) -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN {printf "%.0f", 100 * t / hz / d}')" \
      "$(busy_pct "$s0" "$s1")" "$(busy_pct "$w0" "$w1")" "$((L_errors + L_conn_errors + L_non2xx))"
    eval "P99S_$route+=(\"\$L_p99_us\") P50S_$route+=(\"\$L_p50_us\")"
    if [ "$route" = bg ]; then
      sleep 0.5
      echo "               tasks: $(task_delta "$t0" "$(task_counters)")"
    fi
  done
done
# Percentiles over the samples of all rounds of one route: "n p50 p90 p99 p99.9" (us).
pooled() {
  cat "$TMP"/lat-"$1"-*.txt | sort -g | awk '{a[NR] = $1}
    function q(p) { i = int(p * NR); if (i >= NR) i = NR - 1; return a[i + 1] }
    END {printf "%d %.1f %.1f %.1f %.1f", NR, q(0.5), q(0.9), q(0.99), q(0.999)}'
}
read -r -a PP <<<"$(pooled plain)"
read -r -a PB <<<"$(pooled bg)"
echo "  all $ROUNDS_B rounds pooled (${PP[0]} + ${PB[0]} samples):"
printf '  %-6s %8s %8s %8s %9s\n' route 'p50 ms' 'p90 ms' 'p99 ms' 'p99.9 ms'
printf '  %-6s %8s %8s %8s %9s\n' plain "$(us_ms "${PP[1]}")" "$(us_ms "${PP[2]}")" "$(us_ms "${PP[3]}")" "$(us_ms "${PP[4]}")"
printf '  %-6s %8s %8s %8s %9s\n' bg "$(us_ms "${PB[1]}")" "$(us_ms "${PB[2]}")" "$(us_ms "${PB[3]}")" "$(us_ms "${PB[4]}")"
echo "  p50(bg)/p50(plain) = $(ratio "${PB[1]}" "${PP[1]}")"
echo "  p99(bg)/p99(plain) = $(ratio "${PB[3]}" "${PP[3]}")   (goal: <= 1.10)"
echo "  per round p99(bg)/p99(plain): $(for ((i = 0; i < ROUNDS_B; i++)); do printf '%s ' "$(ratio "${P99S_bg[$i]}" "${P99S_plain[$i]}")"; done)" \
  "median $(ratio "$(median "${P99S_bg[@]}")" "$(median "${P99S_plain[@]}")")"
echo "  (late: requests sent > 1 ms after their scheduled time; latency counts from the schedule)"
[ "$(wait_tasks_idle 40)" = 0 ] || log "tasks still running after (b)"
echo "  /stats: $(stats)"
stop_edged
echo "  edged exit code after SIGTERM: $ED_RC"

# ---- (c) memory per pending task ------------------------------------------------------------
TASKS=$((PENDING_REQS * ACTIONS))
# A connection per task on both sides (edged's and the sink's fds), bounded by the fd limit.
C_POOL=$((TASKS + 16))
[ "$C_POOL" -le $((NOFILE - 300)) ] || C_POOL=$((NOFILE - 300))
echo
echo "== (c) memory per pending task: fresh edged, sink holds ${HOLD_LONG_MS} ms, $PENDING_REQS /bg requests x $ACTIONS = $TASKS tasks, pool $C_POOL"
start_sink "$HOLD_LONG_MS"
SINKL_PID=$SINK_PID SINKL_PORT=$SINK_PORT
hold_s=$(((HOLD_LONG_MS + 999) / 1000))
write_config "$TMP/edged-pending.yaml" "$SINKL_PORT" "$C_POOL" "$((hold_s + 30))s" "$((hold_s + 30))s" 1s
start_edged "$TMP/edged-pending.yaml" edged-pending
run_loadgen c-warmup --path /plain --connections 16 --count 2000 >/dev/null
sleep 0.5
rss0=$(rss_kib "$ED_PID")
echo "  VmRSS before: $rss0 KiB (after 2000 /plain requests)"
t_start=$(date +%s.%N)
# Paced at (b)'s rate: an unpaced burst opens thousands of upstream connections at once and
# overflows the sink's accept backlog (SYN retries), so the plateau would arrive late.
run_loadgen c-bg --path /bg --connections 16 --rate "$RATE" --count "$PENDING_REQS"
echo "  $PENDING_REQS /bg responses in $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s"
# Plateau: every call held at the sink (or no change for 4 s), within half the hold time.
prev=-1 stable=0 held=0
for _ in $(seq $((hold_s * 5 / 2))); do
  held=$(sink_count "$SINKL_PORT" | jnum held)
  [ "$held" -ge "$TASKS" ] && break
  if [ "$held" = "$prev" ]; then stable=$((stable + 1)); [ "$stable" -ge 20 ] && break; else stable=0; fi
  prev=$held
  sleep 0.2
done
sleep 0.5
rss1=$(rss_kib "$ED_PID")
sleep 0.5
rss2=$(rss_kib "$ED_PID")
k=$(sink_count "$SINKL_PORT")
held=$(jnum held <<<"$k")
running=$(task_stats | jnum running)
echo "  at the plateau: sink holds $held calls on $(jnum connections <<<"$k") connections; edged tasks.running $running"
echo "  VmRSS at the plateau: $rss1 KiB, 0.5 s later $rss2 KiB; growth $((rss2 - rss0)) KiB"
echo "  per pending task: $(awk -v g=$((rss2 - rss0)) -v n="$running" 'BEGIN {printf (n > 0) ? "%.0f" : "n/a", g * 1024 / n}') bytes (by edged's count)," \
  "$(awk -v g=$((rss2 - rss0)) -v n="$held" 'BEGIN {printf (n > 0) ? "%.0f" : "n/a", g * 1024 / n}') bytes (by the sink's count)"
echo "  per /bg request with $ACTIONS pending tasks: $(awk -v g=$((rss2 - rss0)) -v n="$PENDING_REQS" 'BEGIN {printf "%.1f", g / n}') KiB"
echo "  (user-space memory only: the kernel's socket buffers for the $held upstream connections are not in VmRSS)"
[ "$held" = "$TASKS" ] || log "(c) expected $TASKS calls held at the sink, found $held"
stop_edged
echo "  edged exit code after SIGTERM (grace 1s, the held tasks are cancelled): $ED_RC"
stop_sink "$SINKL_PID"

# ---- (d) heap allocations per request -------------------------------------------------------
echo
echo "== (d) heap allocations per request: LD_PRELOAD counter, $ALLOC_REQS requests per route after $ALLOC_WARMUP warm-up, 16 connections, open loop at $RATE req/s"
MC="$TMP/malloc_count.so"
# Counters from a MALLOC_COUNT_FILE: "allocations bytes frees reallocs".
mcount() { od -An -t u8 -N 32 "$1" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'; }
write_config "$TMP/edged-alloc.yaml" "$SINK50_PORT" "$POOL" 5s 30s 5s
alloc_run() {  # $1 route ("" for the baseline); sets A_LIVE A_LIVE_BYTES A_EXIT A_RC
  local route=$1 name=alloc-${1:-baseline} f c0 c1 cf ans0 target
  f="$TMP/$name.count"
  start_edged "$TMP/edged-alloc.yaml" "$name" LD_PRELOAD="$MC" MALLOC_COUNT_FILE="$f"
  A_LIVE=- A_LIVE_BYTES=-
  if [ -n "$route" ]; then
    # At (b)'s sustainable rate: a closed loop would outrun the background work, which then
    # ends by its timeouts and budgets, and the figure would count failures.
    run_loadgen "$name-warmup" --path "/$route" --connections 16 --rate "$RATE" --count "$ALLOC_WARMUP" >/dev/null
    [ "$route" != bg ] || wait_tasks_idle 20 >/dev/null
    sleep 0.3
    read -r -a c0 <<<"$(mcount "$f")"
    ans0=$(sink_count "$SINK50_PORT" | jnum answered)
    run_loadgen "$name" --path "/$route" --connections 16 --rate "$RATE" --count "$ALLOC_REQS" >/dev/null
    [ "$L_done" = "$ALLOC_REQS" ] || die "(d) $route: $L_done of $ALLOC_REQS requests done"
    if [ "$route" = bg ]; then  # every call answered (polling the sink, not edged)
      target=$((ans0 + ALLOC_REQS * ACTIONS))
      for _ in $(seq 300); do [ "$(sink_count "$SINK50_PORT" | jnum answered)" -ge "$target" ] && break; sleep 0.1; done
    fi
    sleep 0.3
    read -r -a c1 <<<"$(mcount "$f")"
    A_LIVE=$(awk -v a="${c0[0]}" -v b="${c1[0]}" -v n="$ALLOC_REQS" 'BEGIN {printf "%.2f", (b - a) / n}')
    A_LIVE_BYTES=$(awk -v a="${c0[1]}" -v b="${c1[1]}" -v n="$ALLOC_REQS" 'BEGIN {printf "%.0f", (b - a) / n}')
    echo "  /$route: $(tail -1 "$TMP/loadgen-$name.txt" | cut -d' ' -f2-4), $L_rate req/s; tasks: $(task_stats)"
  fi
  stop_edged
  A_RC=$ED_RC
  read -r -a cf <<<"$(mcount "$f")"
  A_EXIT=${cf[0]}
}
alloc_run ""
BASE_EXIT=$A_EXIT BASE_RC=$A_RC
alloc_run plain
PL_LIVE=$A_LIVE PL_LIVE_B=$A_LIVE_BYTES PL_EXIT=$A_EXIT PL_RC=$A_RC
alloc_run bg
BG_LIVE=$A_LIVE BG_LIVE_B=$A_LIVE_BYTES BG_EXIT=$A_EXIT BG_RC=$A_RC
N_ALL=$((ALLOC_REQS + ALLOC_WARMUP))
per_exit() { awk -v a="$1" -v b="$BASE_EXIT" -v n="$N_ALL" 'BEGIN {printf "%.2f", (a - b) / n}'; }
echo "  allocations at exit: baseline (0 requests) $BASE_EXIT (exit $BASE_RC), plain $PL_EXIT (exit $PL_RC), bg $BG_EXIT (exit $BG_RC)"
printf '  %-6s %14s %14s %16s\n' route 'live allocs/r' 'live bytes/r' "exit allocs/r"
printf '  %-6s %14s %14s %16s\n' plain "$PL_LIVE" "$PL_LIVE_B" "$(per_exit "$PL_EXIT")"
printf '  %-6s %14s %14s %16s\n' bg "$BG_LIVE" "$BG_LIVE_B" "$(per_exit "$BG_EXIT")"
echo "  per after-action task (bg - plain, live): $(awk -v b="$BG_LIVE" -v p="$PL_LIVE" -v n="$ACTIONS" 'BEGIN {printf "%.2f", (b - p) / n}') allocations"
echo "  (exit: (allocations at exit - baseline) / $N_ALL requests incl. warm-up; live: the $ALLOC_REQS measured requests only)"

# ---- the end --------------------------------------------------------------------------------
stop_sink "$SINK50_PID"
for f in "$TMP"/edged*.log "$TMP"/alloc-*.log; do
  [ -s "$f" ] || continue
  n=$(wc -l <"$f")
  [ "$n" -gt 0 ] || continue
  echo; echo "== $(basename "$f"): $n lines at warn+ (first 5)"; head -5 "$f" | cut -c1-300
done
