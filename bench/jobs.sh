#!/usr/bin/env bash
# bench/jobs.sh — async jobs: edged's `job` handler with the memory store and with the Redis
# store, against a Go peer written the usual way (bench/peers/jobs_go: a pool of worker
# goroutines on a buffered channel, the records in a map under a sync.RWMutex).
#
#   sh bench/jobs.sh          full run (about 5 minutes)
#   QUICK=1 sh bench/jobs.sh  smoke run: 2 s measurements, one round, 2000 pending jobs
#
# Setup (all on 127.0.0.1):
#   servers on CPU 0 (SERVER_CPU), each a fresh process for every measurement:
#     edged-mem    build/edged, 1 I/O thread, `jobs: {store: memory, concurrency: 64}`, route
#                  /work/ -> `job: {upstream: origin, ttl: 10m, max_jobs: 1000000}`
#     edged-redis  the same with `jobs: {store: redis}`, a fresh redis-server each time
#                  (--save "" --appendonly no) on CPU 1
#     go           bench/peers/jobs_go with GOMAXPROCS=1, -workers 64 -queue 100000
#   origin on CPU 1: bench/tools/sink.cpp, answering every request 200 (empty body) at once
#                  (--hold-ms 0); for (3) a fresh sink that holds every request 600 s.
#   clients on CPU 1: wrk -t1 -c$CONNECTIONS (Lua scripts written into the temp dir), and
#                  bench/tools/loadgen.cpp (closed loop, POST mode) for (3).
#   The upstream pool is allowed 256 connections and keeps up to 256 idle (edged's default idle
#   pool is 16, below the 64 jobs that run at once); the Go client keeps 4096 idle.
#
# Measurements, ROUNDS rounds, the servers' order rotated each round:
#   1. submits/s   wrk POST /work/x (small JSON body) for DURATION s. The jobs run meanwhile on
#                  the same core (forwarded to the fast origin); printed beside it: jobs finished
#                  in the window per second and the backlog (unfinished) at its end, the
#                  server's CPU % and CPU 1's busy % (near 100 % there: the client side, not the
#                  server, may be the limit). Non-2xx answers are counted and printed.
#   2. polls/s     POLL_IDS jobs submitted (one curl, keep-alive), their ids collected, all of
#                  them finished; then wrk cycles GET /tasks/<id> over those ids for DURATION s.
#   3. bytes per pending job: a fresh server and a fresh sink holding every call; VmRSS of the
#                  server before, then PENDING jobs submitted (loadgen closed loop, 32
#                  connections), once all are accepted (64 running, held at the sink; the rest
#                  pending) and 1 s later VmRSS again: (after - before) / PENDING. For edged-redis
#                  the redis-server's RSS growth per job is printed as a separate row.
# Tables: per-round values, the median, and edged/Go of the medians.
#
# Environment (defaults in brackets):
#   DURATION [8] s per wrk run   ROUNDS [3]   CONNECTIONS [32] (wrk -c)   POLL_IDS [1000]
#   PENDING [20000] jobs for (3)   CONCURRENCY [64] running jobs (edged concurrency, Go -workers)
#   HOLD_LONG_MS [600000] sink hold for (3)   SERVERS [edged-mem edged-redis go]
#   EDGED [build/edged]  SERVER_CPU [0]  CLIENT_CPU [1]  KEEP_TMP [0]
# Only 127.0.0.1 is contacted; only the processes started here are stopped (by pid). Go builds
# the peer with GOCACHE and GOPATH in the temp dir, no network (GOPROXY=off).

# Run through sh: re-exec under bash (this line must stay POSIX).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=$PWD/bench

# ---- settings ---------------------------------------------------------------------------
if [ "${QUICK:-0}" = 1 ]; then DURATION=${DURATION:-2} ROUNDS=${ROUNDS:-1} PENDING=${PENDING:-2000}; fi
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
POLL_IDS=${POLL_IDS:-1000}
PENDING=${PENDING:-20000}
CONCURRENCY=${CONCURRENCY:-64}
HOLD_LONG_MS=${HOLD_LONG_MS:-600000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
EDGED=${EDGED:-build/edged}
read -r -a SERVERS <<<"${SERVERS:-edged-mem edged-redis go}"

. "$BENCH_DIR/lib.sh"

# ---- dependencies (Debian bookworm, apt-get only) -----------------------------------------
need=()
for c in wrk curl g++ go redis-server redis-cli; do
  command -v "$c" >/dev/null && continue
  case $c in go) need+=(golang-go) ;; redis-server) need+=(redis-server) ;; redis-cli) need+=(redis-tools) ;; *) need+=("$c") ;; esac
done
command -v taskset >/dev/null || need+=(util-linux)
[ -f /usr/include/boost/asio.hpp ] || need+=(libboost1.81-dev)
install_missing "${need[@]}"
ensure_edged
CLK_TCK=$(getconf CLK_TCK)
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; servers and clients share a CPU"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

TMP=$(mktemp -d /tmp/edged-bench-jobs.XXXXXX)
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# ---- build the tools and the Go peer ------------------------------------------------------
log "building sink, loadgen and the Go peer in $TMP"
g++ -O2 -std=c++20 -o "$TMP/sink" "$BENCH_DIR/tools/sink.cpp" &
b1=$!
g++ -O2 -std=c++20 -o "$TMP/loadgen" "$BENCH_DIR/tools/loadgen.cpp" -pthread &
b2=$!
(cd "$BENCH_DIR/peers/jobs_go" && env GOFLAGS=-mod=mod GOCACHE="$TMP/gocache" GOPATH="$TMP/gopath" \
  GOMODCACHE="$TMP/gopath/pkg/mod" GOPROXY=off GOENV=off CGO_ENABLED=0 go build -o "$TMP/jobs_go" .) ||
  die "bench/peers/jobs_go does not build"
wait "$b1" || die "sink.cpp does not build"
wait "$b2" || die "loadgen.cpp does not build"
GO_VERSION=$(go version | awk '{print $3}')

# ---- helpers ----------------------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
jnum() { grep -o "\"$1\":[0-9-]*" | head -1 | sed 's/.*://'; }

# Starts a sink holding calls $1 ms on CPU $CLIENT_CPU; prints "pid port".
start_sink() {
  local out="$TMP/sink-$1-$RANDOM.out" pid port
  taskset -c "$CLIENT_CPU" "$TMP/sink" --port 0 --hold-ms "$1" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 50); do
    port=$(awk '/^port / {print $2}' "$out")
    [ -n "$port" ] && { SINK_PID=$pid SINK_PORT=$port; return 0; }
    kill -0 "$pid" 2>/dev/null || die "sink exited: $(cat "$out")"
    sleep 0.1
  done
  die "sink did not start"
}

# Starts server $1 ($2: origin port); sets SRV_PID SRV_PORT STATS_URL, and REDIS_PID for
# edged-redis (0 otherwise).
start_server() {
  local kind=$1 origin=$2 store cfg admin
  SRV_PORT=$(free_port) REDIS_PID=0
  case $kind in
    edged-*)
      admin=$(free_port) cfg="$TMP/$kind-$SRV_PORT.yaml"
      store="store: memory"
      if [ "$kind" = edged-redis ]; then
        local rport; rport=$(free_port)
        taskset -c "$CLIENT_CPU" redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
          --daemonize no --protected-mode yes --dir "$TMP" >"$TMP/redis-$rport.log" 2>&1 &
        REDIS_PID=$!
        PIDS+=("$REDIS_PID")
        for _ in $(seq 50); do
          [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
          kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited: $(cat "$TMP/redis-$rport.log")"
          sleep 0.1
        done
        store="store: redis, redis: { address: \"127.0.0.1:$rport\" }"
      fi
      cat >"$cfg" <<EOF
server: { listen: ["127.0.0.1:$SRV_PORT"], threads: 1 }
admin: { listen: "127.0.0.1:$admin" }
log: { level: warn, access: false }
shutdown: { grace: 1s }
jobs: { $store, concurrency: $CONCURRENCY }
upstreams:
  origin: { url: "http://127.0.0.1:$origin", timeout: 60s, max_connections: 256, idle_connections: 256 }
routes:
  - name: work
    match: { prefix: /work/ }
    handler: { job: { upstream: origin, ttl: 10m, max_jobs: 1000000 } }
EOF
      "$EDGED" --check-config "$cfg" >/dev/null 2>"$TMP/check.txt" || die "edged refuses $cfg: $(cat "$TMP/check.txt")"
      taskset -c "$SERVER_CPU" "$EDGED" --config "$cfg" >"$TMP/$kind-$SRV_PORT.log" 2>&1 &
      SRV_PID=$!
      STATS_URL="http://127.0.0.1:$admin/stats"
      ;;
    go)
      GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$TMP/jobs_go" -listen "127.0.0.1:$SRV_PORT" \
        -origin "http://127.0.0.1:$origin" -workers "$CONCURRENCY" -queue 100000 >"$TMP/go-$SRV_PORT.log" 2>&1 &
      SRV_PID=$!
      STATS_URL="http://127.0.0.1:$SRV_PORT/stats"
      ;;
    *) die "unknown server $kind" ;;
  esac
  PIDS+=("$SRV_PID")
  wait_ready "$STATS_URL" "$SRV_PID" "$kind"
}

stop_server() {
  stop_pid "$SRV_PID"
  [ "$REDIS_PID" = 0 ] || stop_pid "$REDIS_PID"
}

# Job counters of the current server: "unfinished finished failed rejected".
job_counts() {
  local j; j=$(curl -s -m 5 "$STATS_URL")
  case $j in
    *'"jobs":'*)
      j=${j#*\"jobs\":}; j=${j%%\}*}
      echo "$(jnum unfinished_here <<<"$j") $(( $(jnum succeeded <<<"$j") + $(jnum failed <<<"$j") + $(jnum cancelled <<<"$j") )) $(( $(jnum failed <<<"$j") + $(jnum store_errors <<<"$j") )) $(jnum rejected <<<"$j")" ;;
    *) echo "$(( $(jnum pending <<<"$j") + $(jnum running <<<"$j") )) $(( $(jnum succeeded <<<"$j") + $(jnum failed <<<"$j") )) $(jnum failed <<<"$j") $(jnum rejected <<<"$j")" ;;
  esac
}

# Runs wrk for DURATION s with Lua script $2 against the current server; sets W_RPS W_NON2XX
# W_SOCKERR W_SRV_CPU (server CPU %) W_CLIENT_BUSY (CPU 1 busy %).
run_wrk() {
  local label=$1 lua=$2 out="$TMP/wrk-$1.txt" t0 t1 c0 c1 pid
  t0=$(cpu_ticks "$SRV_PID") c0=$(cpu_busy "$CLIENT_CPU")
  timeout -k 5 $((DURATION + 30)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
    --timeout 10s -s "$lua" "http://127.0.0.1:$SRV_PORT/work/x" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || die "wrk failed ($label): $(cat "$out")"
  forget "$pid"
  t1=$(cpu_ticks "$SRV_PID") c1=$(cpu_busy "$CLIENT_CPU")
  W_RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  [ -n "$W_RPS" ] || die "no rate in wrk's output ($label): $(cat "$out")"
  W_NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  W_NON2XX=${W_NON2XX:-0}
  W_SOCKERR=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' "$out")
  W_SOCKERR=${W_SOCKERR:-0}
  W_SRV_CPU=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN {printf "%.0f", 100 * t / hz / d}')
  W_CLIENT_BUSY=$(busy_pct "$c0" "$c1")
}

cat >"$TMP/submit.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"task":"resize","n":1}'
wrk.headers["Content-Type"] = "application/json"
EOF

declare -A VAL  # "measure|server" -> values of the rounds, space-separated
declare -A NON2XX

# ---- 1. submits per second -------------------------------------------------------------------
measure_submit() {
  local s=$1 r=$2 unfinished finished failed rejected
  start_server "$s" "$FAST_PORT"
  run_wrk "submit-$s-$r" "$TMP/submit.lua"
  read -r unfinished finished failed rejected <<<"$(job_counts)"
  stop_server
  VAL["submit|$s"]+="$W_RPS " NON2XX["submit|$s"]+="$((W_NON2XX + W_SOCKERR)) "
  printf '  round %d %-11s submit %7s /s  non-2xx %s  socket errors %s  | jobs finished %6.0f /s, backlog %s, failed %s, rejected %s | server CPU %s %%, CPU %s busy %s %%\n' \
    "$r" "$s" "$W_RPS" "$W_NON2XX" "$W_SOCKERR" "$(awk -v f="$finished" -v d="$DURATION" 'BEGIN {print f / d}')" \
    "$unfinished" "$failed" "$rejected" "$W_SRV_CPU" "$CLIENT_CPU" "$W_CLIENT_BUSY"
}

# ---- 2. polls per second ---------------------------------------------------------------------
measure_poll() {
  local s=$1 r=$2 lua="$TMP/poll-$1-$2.lua" n unfinished finished failed rejected bytes state
  start_server "$s" "$FAST_PORT"
  for _ in $(seq "$POLL_IDS"); do echo "url = \"http://127.0.0.1:$SRV_PORT/work/x\""; done >"$TMP/urls.cfg"
  curl -s -m 60 -H 'Content-Type: application/json' -d '{"task":"resize","n":1}' -K "$TMP/urls.cfg" |
    grep -o '"id":"[0-9a-f]\{32\}"' | cut -d'"' -f4 >"$TMP/ids.txt" || true
  n=$(wc -l <"$TMP/ids.txt")
  [ "$n" = "$POLL_IDS" ] || die "$s: $n of $POLL_IDS submits answered with an id"
  for _ in $(seq 100); do
    read -r unfinished finished failed rejected <<<"$(job_counts)"
    [ "$finished" -ge "$POLL_IDS" ] && [ "$unfinished" = 0 ] && break
    sleep 0.1
  done
  [ "$finished" -ge "$POLL_IDS" ] || die "$s: only $finished of $POLL_IDS jobs finished"
  state=$(curl -s -m 5 "http://127.0.0.1:$SRV_PORT/tasks/$(head -1 "$TMP/ids.txt")")
  bytes=${#state}
  case $state in *'"state":"succeeded"'*) ;; *) die "$s: a polled job is not succeeded: $state" ;; esac
  {
    echo "local ids = {"
    sed 's/.*/  "&",/' "$TMP/ids.txt"
    echo "}"
    cat <<'EOF'
local i = 0
request = function()
  i = i + 1
  if i > #ids then i = 1 end
  return wrk.format("GET", "/tasks/" .. ids[i])
end
EOF
  } >"$lua"
  run_wrk "poll-$s-$r" "$lua"
  stop_server
  VAL["poll|$s"]+="$W_RPS " NON2XX["poll|$s"]+="$((W_NON2XX + W_SOCKERR)) "
  printf '  round %d %-11s poll   %7s /s  non-2xx %s  socket errors %s  | %d ids, %d-byte status body, failed jobs %s | server CPU %s %%, CPU %s busy %s %%\n' \
    "$r" "$s" "$W_RPS" "$W_NON2XX" "$W_SOCKERR" "$n" "$bytes" "$failed" "$W_SRV_CPU" "$CLIENT_CPU" "$W_CLIENT_BUSY"
}

# ---- 3. memory per pending job ---------------------------------------------------------------
measure_memory() {
  local s=$1 r=$2 before after rbefore=0 rafter=0 out="$TMP/loadgen-$1-$2.txt" pid held unfinished finished failed rejected
  local expect_held=$((PENDING < CONCURRENCY ? PENDING : CONCURRENCY))
  start_sink "$HOLD_LONG_MS"
  local hold_pid=$SINK_PID hold_port=$SINK_PORT
  start_server "$s" "$hold_port"
  sleep 0.5
  before=$(rss_kib "$SRV_PID")
  [ "$REDIS_PID" = 0 ] || rbefore=$(rss_kib "$REDIS_PID")
  timeout -k 5 120 taskset -c "$CLIENT_CPU" "$TMP/loadgen" --port "$SRV_PORT" --path /work/x --method POST \
    --body '{"task":"resize","n":1}' --connections 32 --count "$PENDING" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || die "loadgen failed ($s memory): $(cat "$out")"
  forget "$pid"
  grep -q ' non2xx=0 ' "$out" || die "$s: non-2xx answers while submitting: $(grep RESULT "$out")"
  for _ in $(seq 100); do
    held=$(curl -s -m 2 "http://127.0.0.1:$hold_port/count" | jnum held)
    read -r unfinished finished failed rejected <<<"$(job_counts)"
    [ "${held:-0}" -ge "$expect_held" ] && [ "$unfinished" -ge "$PENDING" ] && break
    sleep 0.1
  done
  sleep 1
  after=$(rss_kib "$SRV_PID")
  [ "$REDIS_PID" = 0 ] || rafter=$(rss_kib "$REDIS_PID")
  read -r unfinished finished failed rejected <<<"$(job_counts)"
  stop_server
  stop_pid "$hold_pid"
  local per; per=$(awk -v a="$after" -v b="$before" -v n="$PENDING" 'BEGIN {printf "%.0f", (a - b) * 1024 / n}')
  VAL["memory|$s"]+="$per "
  local extra=""
  if [ "$REDIS_PID" != 0 ]; then
    local rper; rper=$(awk -v a="$rafter" -v b="$rbefore" -v n="$PENDING" 'BEGIN {printf "%.0f", (a - b) * 1024 / n}')
    VAL["memory|redis-server"]+="$rper "
    extra=$(printf ' | redis-server RSS %d -> %d KiB: %s B/job' "$rbefore" "$rafter" "$rper")
  fi
  printf '  round %d %-11s memory RSS %6d -> %6d KiB: %5s B/pending job  | unfinished %s (held at origin %s), finished %s%s\n' \
    "$r" "$s" "$before" "$after" "$per" "$unfinished" "${held:-?}" "$finished" "$extra"
  [ "$unfinished" -ge "$PENDING" ] || log "warning: $s: only $unfinished of $PENDING jobs unfinished at the RSS sample"
}

# ---- run ----------------------------------------------------------------------------------
start_sink 0
FAST_PID=$SINK_PID FAST_PORT=$SINK_PORT

echo "== async jobs: edged $("$EDGED" --version | awk '{print $NF}') (1 I/O thread; memory and Redis stores) vs the Go peer ($GO_VERSION, GOMAXPROCS=1), servers on CPU $SERVER_CPU"
echo "   redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), origin (sink), wrk -t1 -c$CONNECTIONS and loadgen on CPU $CLIENT_CPU; $CONCURRENCY jobs run at once;" \
  "${DURATION} s wrk runs, $ROUNDS rounds, $POLL_IDS polled ids, $PENDING pending jobs"
n=${#SERVERS[@]}
for r in $(seq "$ROUNDS"); do
  order=()
  for ((i = 0; i < n; i++)); do order+=("${SERVERS[$(((i + r - 1) % n))]}"); done
  for s in "${order[@]}"; do measure_submit "$s" "$r"; done
  for s in "${order[@]}"; do measure_poll "$s" "$r"; done
  for s in "${order[@]}"; do measure_memory "$s" "$r"; done
done
stop_pid "$FAST_PID"

# ---- tables ---------------------------------------------------------------------------------
table() {
  local m=$1 title=$2 unit=$3 s vals med gomed
  echo
  echo "  $title"
  printf '    %-13s %-28s %10s %12s' server "rounds" "median" "edged/Go"
  [ "$m" = memory ] || printf ' %12s' "non-2xx"
  echo
  # shellcheck disable=SC2086
  gomed=$(median ${VAL["$m|go"]:-0})
  for s in "${SERVERS[@]}" $([ "$m" = memory ] && [ -n "${VAL["memory|redis-server"]:-}" ] && echo redis-server); do
    vals=${VAL["$m|$s"]:-}
    [ -n "$vals" ] || continue
    # shellcheck disable=SC2086
    med=$(median $vals)
    local rat="-"
    case $s in edged-*) rat=$(ratio "$med" "$gomed") ;; esac
    printf '    %-13s %-28s %10s %12s' "$s" "$(echo $vals | tr ' ' ',')" "$med $unit" "$rat"
    # shellcheck disable=SC2086
    [ "$m" = memory ] || printf ' %12s' "$(echo ${NON2XX["$m|$s"]} | tr ' ' ',')"
    echo
  done
}
table submit "1. submits per second (POST /work/x -> 202; higher is better)" "/s"
table poll "2. polls per second (GET /tasks/<id> of a finished job -> 200; higher is better)" "/s"
table memory "3. bytes of server RSS per pending job ($PENDING pending; lower is better; redis-server: the store's own growth, edged-redis's row is edged alone)" "B"
echo
echo "  (medians of $ROUNDS rounds; non-2xx = wrk's non-2xx answers + socket errors per round)"
