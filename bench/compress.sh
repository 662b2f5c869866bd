#!/usr/bin/env bash
# bench/compress.sh — per-response gzip of a proxied ~512 KiB JSON document: edged (compression
# on its worker pool) against Debian's nginx (gzip on its event loop), and what that load does to
# the latency of a small uncompressed route on the same server.
#
#   sh bench/compress.sh          full run (about 4 minutes)
#   QUICK=1 sh bench/compress.sh  smoke run: 3 s measurements, one round
#
# Setup (all on 127.0.0.1):
#   origin  bench/tools/sink.cpp --hold-ms 0 --body-file doc.json: answers every request with
#           the same JSON document (DOC_KIB KiB, generated here, realistic records), on CPU 1.
#   edged   1 I/O thread, worker pool of 1 thread; /big proxies the origin with
#           `compress: {encodings: [gzip], gzip_level: 6, types: [application/json]}`;
#           /hello is a 13-byte static answer. The whole process (I/O thread and pool thread)
#           is held to CPU 0 with taskset, so both servers get the same one core.
#   nginx   1 worker on CPU 0; /big proxies the origin (keep-alive upstream, the body buffered in
#           memory) with `gzip on; gzip_comp_level 6; gzip_types application/json;
#           gzip_proxied any`; /hello is `return 200`.
#   clients on CPU 1: wrk -t1 -c$CONNECTIONS with Accept-Encoding: gzip on /big (the compressed
#           stream), and the open-loop generator bench/tools/loadgen.cpp on /hello at SMALL_RATE
#           req/s (latency from the scheduled send time: no coordinated omission).
#
# Each round, for each server in turn (nginx, then edged): /hello alone for DURATION s (the
# baseline), then /hello for DURATION s while the compressed stream runs. Printed per server,
# from all rounds' /hello samples pooled (and the per-round spread):
#   compressed responses/s       wrk's rate on /big
#   CPU-us per compressed resp.  the server's CPU time (utime+stime, every thread) over the
#                                loaded window, less the /hello requests at their baseline cost,
#                                divided by the compressed responses
#   small-route p99 ratio        p99 of /hello under the compressed load / p99 without it
# A response is checked first: gzip-decoded, it must equal the origin's document byte for byte.
#
# Environment (defaults in brackets):
#   DURATION [10]  ROUNDS [3]  WARMUP [2]  CONNECTIONS [8] (wrk -c on /big)
#   SMALL_RATE [200] /hello req/s   SMALL_CONNECTIONS [32]   DOC_KIB [512]
#   EDGED [build/edged]  NGINX [nginx from PATH]  SERVER_CPU [0]  CLIENT_CPU [1]  KEEP_TMP [0]
# Only 127.0.0.1 is contacted; only the processes started here are stopped (by pid).

# Run through sh: re-exec under bash (this line must stay POSIX).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=$PWD/bench

if [ "${QUICK:-0}" = 1 ]; then DURATION=${DURATION:-3} ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-1}; fi
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-8}
SMALL_RATE=${SMALL_RATE:-200}
SMALL_CONNECTIONS=${SMALL_CONNECTIONS:-32}
DOC_KIB=${DOC_KIB:-512}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
EDGED=${EDGED:-build/edged}

. bench/lib.sh

# ---- dependencies (Debian bookworm, apt-get only) -----------------------------------------
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
need=()
[ -x "$NGINX" ] || need+=(nginx)
for c in wrk curl g++ gzip; do command -v "$c" >/dev/null || need+=("$c"); done
command -v taskset >/dev/null || need+=(util-linux)
install_missing "${need[@]}"
[ -x "$NGINX" ] || NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
ensure_edged
CLK_TCK=$(getconf CLK_TCK)
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; servers and clients share a CPU"

TMP=$(mktemp -d /tmp/edged-bench-compress.XXXXXX)
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log "building sink and loadgen in $TMP"
g++ -O2 -std=c++20 -o "$TMP/sink" "$BENCH_DIR/tools/sink.cpp" || die "sink.cpp does not build"
g++ -O2 -std=c++20 -o "$TMP/loadgen" "$BENCH_DIR/tools/loadgen.cpp" -pthread || die "loadgen.cpp does not build"

# ---- the document: JSON records, varied enough that gzip -6 does real work -----------------
awk -v kib="$DOC_KIB" 'BEGIN {
  srand(7); split("alpha beta gamma delta epsilon zeta eta theta iota kappa", w, " ")
  printf "{\"items\":["; n = 0; size = 10
  while (size < kib * 1024) {
    s = sprintf("%s{\"id\":%d,\"name\":\"%s-%s-%d\",\"email\":\"user%d@example.%s\",\"score\":%.4f,\"tags\":[\"%s\",\"%s\"],\"active\":%s,\"balance\":%d}",
      (n ? "," : ""), n, w[int(rand() * 10) + 1], w[int(rand() * 10) + 1], int(rand() * 100000),
      int(rand() * 1e6), (rand() < 0.5 ? "com" : "org"), rand() * 1000, w[int(rand() * 10) + 1],
      w[int(rand() * 10) + 1], (rand() < 0.5 ? "true" : "false"), int(rand() * 1e7) - 5e6)
    printf "%s", s; size += length(s); n++
  }
  printf "]}\n" }' >"$TMP/doc.json"
DOC_BYTES=$(stat -c %s "$TMP/doc.json")
GZ_BYTES=$(gzip -6 -c "$TMP/doc.json" | wc -c)

# ---- processes --------------------------------------------------------------------------
taskset -c "$CLIENT_CPU" "$TMP/sink" --port 0 --hold-ms 0 --body-file "$TMP/doc.json" \
  --content-type application/json >"$TMP/origin.out" 2>&1 &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
for _ in $(seq 50); do grep -q '^port ' "$TMP/origin.out" 2>/dev/null && break; sleep 0.1; done
ORIGIN_PORT=$(awk '/^port / {print $2}' "$TMP/origin.out")
[ -n "$ORIGIN_PORT" ] || die "origin did not start: $(cat "$TMP/origin.out")"

ED_PORT=$(free_port) ED_ADMIN=$(free_port) NG_PORT=$(free_port)
cat >"$TMP/edged.yaml" <<EOF
server: { listen: "127.0.0.1:$ED_PORT", threads: 1 }
admin: { listen: "127.0.0.1:$ED_ADMIN" }
log: { level: warn, access: false }
worker_pool: { min_threads: 1, max_threads: 1 }
upstreams:
  origin: { url: "http://127.0.0.1:$ORIGIN_PORT", max_connections: 256 }
routes:
  - name: hello
    match: { path: /hello, methods: [GET] }
    handler: { static: { status: 200, headers: { Content-Type: text/plain }, body: "hello, world\n" } }
  - name: big
    match: { path: /big, methods: [GET] }
    handler: { proxy: { upstream: origin } }
    compress: { encodings: [gzip], gzip_level: 6, types: [application/json] }
EOF
"$EDGED" --check-config "$TMP/edged.yaml" >/dev/null 2>"$TMP/check.txt" || die "edged refuses the bench config: $(cat "$TMP/check.txt")"

mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NG_PORT;
    location = /hello { default_type text/plain; return 200 "hello, world\n"; }
    location = /big {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffer_size 16k;
      proxy_buffers 64 16k;
      proxy_busy_buffers_size 64k;
      proxy_max_temp_file_size 0;
      gzip on;
      gzip_comp_level 6;
      gzip_types application/json;
      gzip_min_length 1024;
      gzip_proxied any;
      gzip_vary on;
    }
  }
}
EOF

taskset -c "$SERVER_CPU" "$EDGED" --config "$TMP/edged.yaml" >"$TMP/edged.log" 2>&1 &
ED_PID=$!
PIDS+=("$ED_PID")
taskset -c "$SERVER_CPU" "$NGINX" -c "$TMP/nginx.conf" -e "$TMP/nginx/error.log" >"$TMP/nginx.log" 2>&1 &
NG_PID=$!
PIDS+=("$NG_PID")
wait_ready "http://127.0.0.1:$ED_PORT/hello" "$ED_PID" edged
wait_ready "http://127.0.0.1:$NG_PORT/hello" "$NG_PID" nginx

# nginx's CPU is its worker's (the master sleeps); edged's is the whole process.
NG_WORKER=$(children_of "$NG_PID")
[ -n "$NG_WORKER" ] || die "no nginx worker found"

# The compressed response of each server, gzip-decoded, equals the document.
for s in edged:$ED_PORT nginx:$NG_PORT; do
  name=${s%%:*} port=${s#*:}
  enc=$(curl -sS -m 10 -H 'Accept-Encoding: gzip' -o "$TMP/$name.gz" -D - "http://127.0.0.1:$port/big" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "content-encoding" {print $2}')
  [ "$enc" = gzip ] || die "$name: /big is not gzip-encoded (Content-Encoding: '${enc}')"
  gzip -dc "$TMP/$name.gz" | cmp -s - "$TMP/doc.json" || die "$name: the decoded body differs from the document"
  log "$name: /big gzip, $(stat -c %s "$TMP/$name.gz") bytes on the wire, decodes to the document"
done

# ---- measurement helpers ------------------------------------------------------------------
# loadgen on /hello; sets L_* from its RESULT line and appends its samples to $3.
small_route() {
  local port=$1 label=$2 dump=$3 out="$TMP/loadgen-$2.txt" pid kv
  timeout -k 5 $((DURATION + 60)) taskset -c "$CLIENT_CPU" "$TMP/loadgen" --port "$port" --path /hello \
    --connections "$SMALL_CONNECTIONS" --rate "$SMALL_RATE" --duration "$DURATION" --dump "$TMP/dump.tmp" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || log "$label: loadgen reported errors: $(grep '^RESULT' "$out" || cat "$out")"
  forget "$pid"
  grep -q '^RESULT ' "$out" || die "loadgen failed ($label): $(cat "$out")"
  cat "$TMP/dump.tmp" >>"$dump"
  for kv in $(grep '^RESULT ' "$out" | cut -d' ' -f2-); do printf -v "L_${kv%%=*}" '%s' "${kv#*=}"; done
}

# p99 (us) of a file of latencies, one a line.
p99_of() { sort -g "$1" | awk '{a[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; print (NR ? a[i] : 0)}'; }

# One round for one server: baseline, then loaded. Appends to the per-server result lists.
declare -A RPS CPU_US P99_BASE P99_LOAD
round() {
  local name=$1 port=$2 r=$3 t0 t1 base_cpu_per_req wrk_out="$TMP/wrk-$1-$3.txt" wpid reqs rps cpu small_done
  shift 3
  local cpu_pids=("$@")
  # Baseline: /hello alone.
  t0=$(cpu_ticks "${cpu_pids[@]}")
  small_route "$port" "$name-base-$r" "$TMP/$name.base"
  t1=$(cpu_ticks "${cpu_pids[@]}")
  base_cpu_per_req=$(awk -v t=$((t1 - t0)) -v n="$L_done" -v hz="$CLK_TCK" 'BEGIN {printf "%.3f", n ? t * 1e6 / hz / n : 0}')
  P99_BASE[$name]+="$L_p99_us "
  # Loaded: the compressed stream, a warm-up, then /hello beside it.
  timeout -k 5 $((DURATION + WARMUP + 60)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" \
    -d"$((DURATION + WARMUP + 1))s" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/big" >"$wrk_out" 2>&1 &
  wpid=$!
  PIDS+=("$wpid")
  sleep "$WARMUP"
  t0=$(cpu_ticks "${cpu_pids[@]}")
  local w0; w0=$(date +%s.%N)
  small_route "$port" "$name-load-$r" "$TMP/$name.load"
  small_done=$L_done
  t1=$(cpu_ticks "${cpu_pids[@]}")
  local w1; w1=$(date +%s.%N)
  wait "$wpid" || die "wrk failed ($name round $r): $(cat "$wrk_out")"
  forget "$wpid"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$wrk_out")
  grep -q 'Non-2xx\|Socket errors' "$wrk_out" && log "$name round $r: $(grep -E 'Non-2xx|Socket errors' "$wrk_out" | paste -sd';')"
  # Compressed responses in the measured window, from wrk's rate over the window's length.
  reqs=$(awk -v r="$rps" -v a="$w0" -v b="$w1" 'BEGIN {printf "%.0f", r * (b - a)}')
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$small_done" -v c="$base_cpu_per_req" -v m="$reqs" \
    'BEGIN {v = t * 1e6 / hz - n * c; printf "%.0f", m ? v / m : 0}')
  RPS[$name]+="$rps " CPU_US[$name]+="$cpu " P99_LOAD[$name]+="$L_p99_us "
  printf '  round %d %-5s  /big %7.1f resp/s  %6s CPU-us/resp   /hello p99 %8.1f us alone, %9.1f us loaded\n' \
    "$r" "$name" "$rps" "$cpu" "$(echo "${P99_BASE[$name]}" | awk '{print $NF}')" "$L_p99_us"
}

# ---- run ----------------------------------------------------------------------------------
echo "== compression: proxied ${DOC_BYTES}-byte JSON, gzip level 6 per response (${GZ_BYTES} bytes by gzip -6)"
echo "  edged $("$EDGED" --version) (1 I/O thread + 1 pool thread), nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') (1 worker), both on CPU $SERVER_CPU"
echo "  clients and origin on CPU $CLIENT_CPU: wrk -c$CONNECTIONS on /big, /hello at $SMALL_RATE req/s on $SMALL_CONNECTIONS connections; ${DURATION} s windows, $ROUNDS rounds"
: >"$TMP/edged.base"; : >"$TMP/edged.load"; : >"$TMP/nginx.base"; : >"$TMP/nginx.load"
for r in $(seq "$ROUNDS"); do
  round nginx "$NG_PORT" "$r" "$NG_WORKER"
  round edged "$ED_PORT" "$r" "$ED_PID"
done

echo
printf '  %-6s %22s %26s %14s %14s %18s\n' server "compressed resp/s" "CPU-us per compressed resp" "p99 alone" "p99 loaded" "p99 loaded/alone"
for name in nginx edged; do
  # shellcheck disable=SC2086
  pb=$(p99_of "$TMP/$name.base") pl=$(p99_of "$TMP/$name.load")
  # shellcheck disable=SC2086
  printf '  %-6s %12s (%s) %14s (%s) %11.1f us %11.1f us %10s (rounds: %s)\n' "$name" \
    "$(median ${RPS[$name]})" "$(echo ${RPS[$name]} | tr ' ' ',')" \
    "$(median ${CPU_US[$name]})" "$(echo ${CPU_US[$name]} | tr ' ' ',')" \
    "$pb" "$pl" "$(ratio "$pl" "$pb")" \
    "$(paste -d/ <(echo ${P99_LOAD[$name]} | tr ' ' '\n') <(echo ${P99_BASE[$name]} | tr ' ' '\n') |
      awk -F/ '{printf "%s%.2f", (NR > 1 ? "," : ""), ($2 > 0 ? $1 / $2 : 0)}')"
done
# shellcheck disable=SC2086
echo "  edged/nginx: resp/s $(ratio "$(median ${RPS[edged]})" "$(median ${RPS[nginx]})"), CPU per resp $(ratio "$(median ${CPU_US[edged]})" "$(median ${CPU_US[nginx]})")"
echo "  (medians of the rounds, the rounds in brackets; p99 from all rounds' /hello samples pooled)"
