#!/usr/bin/env bash
# bench/soak.sh — edged at a steady load for SOAK_SECONDS (default 600) on loopback, with
# after-actions, worker-pool work and jobs all running, to show that nothing grows without bound
# and no task or job goes unaccounted.
#
#   sh bench/soak.sh                 10 minutes (plus about 30 s of set-up and settling)
#   SOAK_SECONDS=60 sh bench/soak.sh a short pass
#
# Setup (all on 127.0.0.1):
#   edged (build/edged, 1 I/O thread, CPU 0) with three routes:
#     /hello     static, with an `http` after-action to the sink (held 20 ms): one task each
#     /api/doc   proxy to a second sink answering a 64 KiB JSON document, compressed with gzip
#                on the worker pool (Accept-Encoding: gzip)
#     /work/     a `job` (memory store) forwarded to the fast sink: 202, then it runs
#   sinks: bench/tools/sink.cpp (CPU 1)
#   load: wrk -t1 -c12 (CPU 1) with a Lua script cycling the three requests, each connection
#         pausing DELAY_MS between requests (wrk's delay()): a steady rate, not a saturating one.
# Every SAMPLE_S seconds: edged's RSS, open fds, running tasks, unfinished jobs and error
# counters (from /stats) go to soak.csv; at the end the figures at the start and the end, the
# task and job tallies, and a plot of RSS, fds and pending tasks over time (soak.png, gnuplot).
# Output: bench/results/soak-<date>.{csv,png} and the summary on stdout.
# Environment: SOAK_SECONDS [600]  SAMPLE_S [5]  DELAY_MS [10]  CONNECTIONS [12]
#              EDGED [build/edged]  SERVER_CPU [0]  CLIENT_CPU [1]  KEEP_TMP [0]
# Only 127.0.0.1 is contacted; only the processes started here are stopped (by pid).

# Run through sh: re-exec under bash (this line must stay POSIX).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

cd "$(dirname "$0")/.."

SOAK_SECONDS=${SOAK_SECONDS:-600}
SAMPLE_S=${SAMPLE_S:-5}
DELAY_MS=${DELAY_MS:-10}
CONNECTIONS=${CONNECTIONS:-12}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
EDGED=${EDGED:-build/edged}
BENCH_DIR=$PWD/bench
OUT_DIR=$BENCH_DIR/results
. "$BENCH_DIR/lib.sh"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
install_missing "${need[@]}"
ensure_edged

TMP=$(mktemp -d /tmp/edged-bench-soak.XXXXXX)
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building the sink in $TMP"
g++ -O2 -std=c++20 -o "$TMP/sink" "$BENCH_DIR/tools/sink.cpp" || die "sink.cpp does not build"

# A 64 KiB JSON document for the compressed route.
python3 - "$TMP/doc.json" <<'EOF'
import json, sys
items = [{"id": i, "name": "item %d" % i, "tags": ["a", "b", "c"], "price": i * 1.25} for i in range(900)]
open(sys.argv[1], "w").write(json.dumps({"items": items})[:65536 - 2] + "\"}")
EOF

start_sink() {  # name, then sink arguments; sets SINK_PORT
  local out="$TMP/sink-$1.out" name=$1
  shift
  taskset -c "$CLIENT_CPU" "$TMP/sink" --port 0 "$@" >"$out" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 50); do
    SINK_PORT=$(awk '/^port / {print $2}' "$out")
    [ -n "$SINK_PORT" ] && return 0
    sleep 0.1
  done
  die "sink $name did not start"
}
start_sink hook --hold-ms 20
HOOK_PORT=$SINK_PORT
start_sink doc --hold-ms 0 --body-file "$TMP/doc.json" --content-type application/json
DOC_PORT=$SINK_PORT
start_sink fast --hold-ms 0
FAST_PORT=$SINK_PORT

PORT=$(free_port)
ADMIN_PORT=$(free_port)
cat >"$TMP/edged.yaml" <<EOF
server: { listen: ["127.0.0.1:$PORT"], threads: 1 }
admin: { listen: "127.0.0.1:$ADMIN_PORT" }
log: { level: warn, access: false }
worker_pool: { max_threads: 1 }
jobs: { store: memory, concurrency: 16 }
upstreams:
  hook: { url: "http://127.0.0.1:$HOOK_PORT", max_connections: 256 }
  doc: { url: "http://127.0.0.1:$DOC_PORT" }
  fast: { url: "http://127.0.0.1:$FAST_PORT" }
routes:
  - name: hello
    match: { path: /hello }
    handler: { static: { status: 200, body: "hello\n" } }
    after: [ { http: { upstream: hook, path: "/hook?id=\${request.id}" } } ]
  - name: doc
    match: { prefix: /api/ }
    handler: { proxy: { upstream: doc } }
    compress: { encodings: [gzip] }
  - name: work
    match: { prefix: /work/ }
    handler: { job: { upstream: fast, ttl: 30s, max_jobs: 100000 } }
EOF
"$EDGED" --check-config "$TMP/edged.yaml" >/dev/null || die "config refused; see $TMP/edged.yaml"
taskset -c "$SERVER_CPU" "$EDGED" --config "$TMP/edged.yaml" >"$TMP/edged.log" 2>&1 &
EDGED_PID=$!
PIDS+=("$EDGED_PID")
wait_ready "http://127.0.0.1:$ADMIN_PORT/readyz" "$EDGED_PID" edged

cat >"$TMP/mix.lua" <<EOF
local n = 0
local reqs
init = function(args)  -- (wrk.format needs the thread's state: not at the top level)
  reqs = {
    wrk.format("GET", "/hello"),
    wrk.format("GET", "/api/doc", {["Accept-Encoding"] = "gzip"}),
    wrk.format("POST", "/work/x", {["Content-Type"] = "application/json"}, '{"n":1}'),
  }
end
request = function() n = n + 1; return reqs[(n % 3) + 1] end
delay = function() return $DELAY_MS end
EOF

stats() { curl -s -m 2 "http://127.0.0.1:$ADMIN_PORT/stats"; }
# One line of figures from /stats and /proc: rss_kib fds tasks_running tasks_registered
# tasks_accounted jobs_unfinished jobs_submitted jobs_finished subrequest_errors
sample() {
  local rss fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$EDGED_PID/status")
  fds=$(ls "/proc/$EDGED_PID/fd" | wc -l)
  stats | python3 -c '
import json, sys
j = json.load(sys.stdin)
t = j["tasks"]
outcomes = sum(v for k, v in t.items() if k not in ("registered", "running"))
jobs = j.get("jobs", {})
unfinished = jobs.get("pending", 0) + jobs.get("running", 0)
finished = sum(jobs.get(k, 0) for k in ("succeeded", "failed", "cancelled"))
errors = sum(u.get(k, 0) for u in j["upstreams"].values() for k in ("connect_error", "timeout", "error", "busy", "too_large"))
print(sys.argv[1], sys.argv[2], t["running"], t["registered"], outcomes, unfinished, jobs.get("submitted", 0), finished, errors)
' "$rss" "$fds"
}

log "soak: ${SOAK_SECONDS}s, $CONNECTIONS connections, ${DELAY_MS} ms between requests on each"
echo "t rss_kib fds tasks_running tasks_registered tasks_accounted jobs_unfinished jobs_submitted jobs_finished upstream_errors" >"$TMP/soak.csv"
echo "0 $(sample)" >>"$TMP/soak.csv"
taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 10s -s "$TMP/mix.lua" \
  "http://127.0.0.1:$PORT" >"$TMP/wrk.out" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
start=$(date +%s)
while kill -0 "$WRK_PID" 2>/dev/null; do
  sleep "$SAMPLE_S"
  echo "$(($(date +%s) - start)) $(sample)" >>"$TMP/soak.csv"
done
wait "$WRK_PID" || true
forget "$WRK_PID"
# Settle: the last tasks and jobs end (hook holds 20 ms, jobs are fast).
for _ in $(seq 100); do
  read -r _ _ running registered accounted unfinished _ <<<"$(sample)"
  [ "$running" = 0 ] && [ "$unfinished" = 0 ] && [ "$registered" = "$accounted" ] && break
  sleep 0.2
done
echo "$(($(date +%s) - start)) $(sample)" >>"$TMP/soak.csv"

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y%m%dT%H%MZ)
cp "$TMP/soak.csv" "$OUT_DIR/soak-$stamp.csv"
gnuplot <<EOF
set terminal pngcairo size 1100,700 font ",10"
set output "$OUT_DIR/soak-$stamp.png"
set multiplot layout 3,1 title "edged soak: ${SOAK_SECONDS}s, after-actions + gzip on the pool + jobs (loopback)"
set key top left
set xlabel "seconds"
set ylabel "RSS (MiB)"
plot "$TMP/soak.csv" every ::1 using 1:(\$2/1024) with lines lw 2 title "RSS"
set ylabel "open fds"
plot "$TMP/soak.csv" every ::1 using 1:3 with lines lw 2 title "fds"
set ylabel "pending"
plot "$TMP/soak.csv" every ::1 using 1:4 with lines lw 2 title "running tasks", \
     "$TMP/soak.csv" every ::1 using 1:7 with lines lw 2 title "unfinished jobs"
unset multiplot
EOF

first=$(sed -n 2p "$TMP/soak.csv")
last=$(tail -1 "$TMP/soak.csv")
read -r _ rss0 fds0 _ <<<"$first"
read -r _ rss1 fds1 run1 reg1 acc1 unf1 sub1 fin1 err1 <<<"$last"
peak=$(awk 'NR > 1 && $2 > m {m = $2} END {print m}' "$TMP/soak.csv")
# RSS of the second half against the first: growth without bound would show as a climb.
half=$(awk 'NR > 1 {t[NR] = $1; r[NR] = $2; n = NR} END {
  m = int((n + 1) / 2); a = 0; b = 0; ca = 0; cb = 0
  for (i = 2; i <= n; i++) if (i <= m) {a += r[i]; ca++} else {b += r[i]; cb++}
  printf "%.0f %.0f", a / ca, b / cb}' "$TMP/soak.csv")
read -r half1 half2 <<<"$half"
echo
echo "soak: ${SOAK_SECONDS}s on $(nproc) CPUs, $(grep -o 'Requests/sec:.*' "$TMP/wrk.out")"
# wrk prints these two lines only when there were any.
grep -E 'Socket errors|Non-2xx' "$TMP/wrk.out" | sed 's/^/  /' || echo "  no socket errors, no non-2xx answers"
printf '  %-28s %12s %12s\n' "" start end
printf '  %-28s %12s %12s\n' "RSS (KiB)" "$rss0" "$rss1"
printf '  %-28s %12s %12s\n' "open fds" "$fds0" "$fds1"
echo "  RSS peak ${peak} KiB; mean of the first half ${half1} KiB (warm-up included), of the second ${half2} KiB"
echo "  tasks: registered $reg1, with an outcome $acc1, running $run1"
echo "  jobs: submitted $sub1, finished $fin1, unfinished $unf1"
echo "  upstream errors (connect, timeout, error, busy, too_large): $err1"
stats | python3 -c 'import json,sys; t=json.load(sys.stdin)["tasks"]; print("  task outcomes:", {k: v for k, v in t.items() if v})'
echo "  csv: $OUT_DIR/soak-$stamp.csv  plot: $OUT_DIR/soak-$stamp.png"
[ "$reg1" = "$acc1" ] || die "tasks without an outcome: $((reg1 - acc1))"
[ "$unf1" = 0 ] || die "jobs still unfinished after the load: $unf1"
