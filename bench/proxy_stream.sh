#!/usr/bin/env bash
# bench/proxy_stream.sh — edged's streaming reverse proxy against Debian's nginx (proxy_buffering
# on, and off) in the same run: throughput and CPU per response on a 1 MiB body, and the memory a
# thousand slow readers cost.
#
#   sh bench/proxy_stream.sh          full run (about 3 minutes with the defaults)
#   QUICK=1 sh bench/proxy_stream.sh  smoke run: 1 round of 1 s, 2 s of 50 slow readers
#   UPLOAD=1 sh bench/proxy_stream.sh the other way: each request POSTs a BODY_BYTES body to
#                                     /up, streamed through the proxy to the origin (throughput
#                                     only; no slow-reader phase)
#
# Setup (all on 127.0.0.1):
#   origin       nginx (its own instance, 1 worker) serving a static 1 MiB file at /big
#                (random bytes, Content-Length, sendfile), on ORIGIN_CPU.
#   edged        1 I/O thread; one upstream (the origin), one route `prefix: /` with
#                `proxy: { upstream: origin }`, access log off. The upstream's max_connections
#                (per address per I/O thread, default 1024) is set to CONNS + CONNECTIONS + 16: a streamed
#                response holds its upstream connection until its last byte, so 1000 slow
#                readers need 1000 upstream connections (a lower limit would make the next wait
#                and answer 504). server.limits.max_connections stays 10000 unless CONNS needs
#                more.
#   nginx-buf    nginx, 1 worker, proxy_pass to an upstream block with keepalive 16,
#                proxy_http_version 1.1, Connection "" and `proxy_buffering on` (the defaults
#                otherwise: proxy_buffers 8 x 4k, the rest of a body spooled to temp files of up
#                to 1 GiB under the run's temp dir, sent from there through output_buffers 2 x 32k
#                as sendfile is off).
#   nginx-unbuf  the same with `proxy_buffering off` (one proxy_buffer_size block per request).
#   UPLOAD=1: the origin is an edged instance of its own whose `static` route answers "ok\n" once
#   it has read the whole body (nginx answers a body it discards before reading it, which a proxy
#   takes for an early answer). nginx-buf reads the whole body before it sends it on
#   (`proxy_request_buffering on`, the default: a body over client_body_buffer_size 16k goes to a
#   temp file), nginx-unbuf streams it (`proxy_request_buffering off`); edged streams it in
#   `buffer_bytes` blocks. Every proxy and the origin allow bodies of any size.
#   Every proxy is a process of its own on its own port, pinned to SERVER_CPU; the clients (wrk,
#   the slow readers) run on CLIENT_CPU. nginx's CPU is its master's and worker's; edged's the
#   whole process. The nginx listeners get backlog=4096 (edged listens with SOMAXCONN).
#
# (1) Throughput: ROUNDS rounds; each round runs every proxy in turn (the order rotates each
#     round: A B C, B C A, C A B, ...), each a WARMUP s wrk run then a ROUND_SECONDS s measured
#     wrk run (-t1 -cCONNECTIONS, keep-alive, GET /big). Per run: responses/s, MiB/s (wrk's bytes
#     read, headers included), p99, and the proxy's CPU time (utime+stime from /proc/PID/stat)
#     per response. Printed per proxy: median and min-max spread, and the ratios
#     edged/nginx-buf and edged/nginx-unbuf (of the medians, and paired within each round).
# (2) Memory: each proxy started fresh, answered one GET /big, then CONNS connections (from one
#     /usr/bin/python3 process) each send GET /big and read SLOW_RATE bytes/s with SO_RCVBUF
#     SLOW_RCVBUF for SLOW_SECONDS s, then close. The client sets TCP_MAXSEG SLOW_MSS so that the
#     proxy's kernel send buffer is sized as on an Ethernet path: Linux sizes it from the MSS, and
#     with loopback's (~64 KiB) the proxy's socket takes the whole 1 MiB body at once (Send-Q
#     ~1 MiB per reader, seen with ss), so every proxy's user space is done with it whatever its
#     buffering; with MSS 1460 edged's Send-Q stayed under 100 KB (SLOW_MSS=0: loopback's). The
#     serving process's VmRSS (edged; nginx's worker) is sampled every 200 ms: printed are the RSS before,
#     the sampled peak, VmHWM (the process is fresh, so it is this phase's peak), growth = peak -
#     before, per connection, the RSS 1 s after the readers closed, and how much the file system
#     holding the temp dir grew at most (nginx-buf's temp files). Kernel socket buffers are not
#     in any RSS.
#
# Environment (defaults in brackets):
#   ROUNDS [6]  ROUND_SECONDS [5]  WARMUP [1] (0: none)  CONNECTIONS [8] (wrk -c)
#   CONNS [1000] slow readers   SLOW_SECONDS [10]  SLOW_RATE [4096] bytes/s per reader
#   SLOW_RCVBUF [4096]  SLOW_MSS [1460] (0: loopback's)   BODY_BYTES [1048576]
#   EDGED [build/edged]  NGINX [nginx from PATH or /usr/sbin/nginx]  PYTHON [/usr/bin/python3]
#   SERVER_CPU [0]  CLIENT_CPU [1]  ORIGIN_CPU [2 with 3+ CPUs, else CLIENT_CPU]
#   KEEP_TMP [0]: 1 keeps the temp dir (configs, logs, wrk output)
# Only 127.0.0.1 is contacted; only the processes started here are stopped (by pid). The fd
# limit is raised (ulimit -n) for this script and its children only.

# Run through sh: re-exec under bash (this line must stay POSIX).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

cd "$(dirname "$0")/.."

# ---- settings ---------------------------------------------------------------------------
if [ "${QUICK:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-1} ROUND_SECONDS=${ROUND_SECONDS:-1} SLOW_SECONDS=${SLOW_SECONDS:-2} CONNS=${CONNS:-50}
fi
ROUNDS=${ROUNDS:-6}
ROUND_SECONDS=${ROUND_SECONDS:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-8}
CONNS=${CONNS:-1000}
SLOW_SECONDS=${SLOW_SECONDS:-10}
SLOW_RATE=${SLOW_RATE:-4096}
SLOW_RCVBUF=${SLOW_RCVBUF:-4096}
SLOW_MSS=${SLOW_MSS:-1460}
BODY_BYTES=${BODY_BYTES:-1048576}
UPLOAD=${UPLOAD:-0}
if [ "$UPLOAD" = 1 ]; then URL_PATH=/up; else URL_PATH=/big; fi
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
if [ "$(nproc)" -ge 3 ]; then ORIGIN_CPU=${ORIGIN_CPU:-2}; else ORIGIN_CPU=${ORIGIN_CPU:-$CLIENT_CPU}; fi
EDGED=${EDGED:-build/edged}
PYTHON=${PYTHON:-/usr/bin/python3}
VARIANTS=(edged nginx-buf nginx-unbuf)

. bench/lib.sh

# ---- dependencies (Debian bookworm, apt-get only) -----------------------------------------
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
need=()
[ -x "$NGINX" ] || need+=(nginx)
for c in wrk curl cmp; do command -v "$c" >/dev/null || need+=("${c/cmp/diffutils}"); done
command -v taskset >/dev/null || need+=(util-linux)
[ -x "$PYTHON" ] || need+=(python3)
install_missing "${need[@]}"
[ -x "$NGINX" ] || NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
[ -x "$PYTHON" ] || die "python3 not found at $PYTHON"
ensure_edged
CLK_TCK=$(getconf CLK_TCK)
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; proxies and clients share a CPU"

# File descriptors: a proxy holds 2 per slow reader (client + upstream), the readers 1 each.
NOFILE=$((CONNS * 3 + 1024))
[ "$NOFILE" -ge 8192 ] || NOFILE=8192
ulimit -n "$NOFILE" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((CONNS * 2 + 256)) ] ||
  die "fd limit $(ulimit -n) is too low for CONNS=$CONNS (need $((CONNS * 2 + 256)); raise the hard limit)"
# nginx's worker_connections counts client and upstream connections alike.
WORKER_CONNECTIONS=$((CONNS * 2 + 256))
[ "$WORKER_CONNECTIONS" -ge 4096 ] || WORKER_CONNECTIONS=4096
ED_MAX_CONNECTIONS=$((CONNS + CONNECTIONS + 64))
[ "$ED_MAX_CONNECTIONS" -ge 10000 ] || ED_MAX_CONNECTIONS=10000  # edged's default
ED_UPSTREAM_CONNECTIONS=$((CONNS + CONNECTIONS + 16))

# ---- temp dir and cleanup ---------------------------------------------------------------
TMP=$(mktemp -d /tmp/edged-bench-proxy.XXXXXX)
PIDS=()  # every process started here: origin, proxies, a running wrk or slow-reader client
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$TMP"  # nginx workers run as nobody when started as root

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }  # pid field -> kB
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }              # kB -> MiB

# ---- the origin: nginx serving one static file ------------------------------------------
mkdir -p "$TMP/www"
head -c "$BODY_BYTES" /dev/urandom >"$TMP/www/big"

# nginx_conf DIR PORT BODY: a one-worker nginx config in DIR (its temp paths there too), with
# BODY as the server block's content and the upstream block when it proxies.
nginx_conf() {
  local dir=$1 port=$2 body=$3
  mkdir -p "$dir/logs" "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections $WORKER_CONNECTIONS; }
http {
  access_log off;
  default_type application/octet-stream;
  keepalive_requests 1000000;
  client_body_temp_path $dir/tmp/client_body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
$body
}
EOF
  "$NGINX" -t -q -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" ||
    die "nginx rejects $dir/nginx.conf"
}

# start_nginx DIR CPU: sets N_MASTER, N_WORKER (after the caller's wait_ready).
start_nginx() {
  taskset -c "$2" "$NGINX" -p "$1/" -c "$1/nginx.conf" -e "$1/logs/error.log" >"$1/logs/stdout.log" 2>&1 &
  N_MASTER=$!
  PIDS+=("$N_MASTER")
}
nginx_worker() {
  local w
  w=$(children_of "$1")
  [ "$(echo "$w" | wc -w)" = 1 ] || die "expected one nginx worker of $1, found: ${w:-none}"
  echo "$w"
}

ORIGIN_PORT=$(free_port)
if [ "$UPLOAD" = 1 ]; then
  mkdir -p "$TMP/origin"
  cat >"$TMP/origin/edged.yaml" <<EOF
server:
  listen: "127.0.0.1:$ORIGIN_PORT"
  threads: 1
  limits: { body_bytes: $((BODY_BYTES * 2)) }
admin: { listen: "127.0.0.1:$(free_port)" }
log: { level: warn, access: false }
routes:
  - name: up
    match: { prefix: / }
    handler: { static: { status: 200, body: "ok\n" } }
EOF
  taskset -c "$ORIGIN_CPU" "$EDGED" --config "$TMP/origin/edged.yaml" >"$TMP/origin/edged.log" 2>&1 &
  ORIGIN_PID=$!
  PIDS+=("$ORIGIN_PID")
  wait_ready "http://127.0.0.1:$ORIGIN_PORT/up" "$ORIGIN_PID" origin
  # wrk sends the body (and its Content-Length) with every request.
  cat >"$TMP/upload.lua" <<EOF
local f = assert(io.open("$TMP/www/big", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
else
  nginx_conf "$TMP/origin" "$ORIGIN_PORT" "  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
    root $TMP/www;
    location / { }
  }"
  start_nginx "$TMP/origin" "$ORIGIN_CPU"
  ORIGIN_PID=$N_MASTER
  wait_ready "http://127.0.0.1:$ORIGIN_PORT/big" "$ORIGIN_PID" origin
fi

# ---- the proxies ------------------------------------------------------------------------
# Per variant: its port, main pid, the pids whose CPU is counted, the pid whose RSS is read.
declare -A PORT MAIN CPU_PIDS MEM_PID LOGS THR_LOGS SLOW_LOGS MEM GROWTH
GEN=0

start_proxy() {
  local name=$1 dir port admin buffering
  GEN=$((GEN + 1))
  dir="$TMP/$name-$GEN"
  port=$(free_port)
  case "$name" in
    edged)
      admin=$(free_port)
      mkdir -p "$dir"
      cat >"$dir/edged.yaml" <<EOF
server:
  listen: "127.0.0.1:$port"
  threads: 1
  limits: { max_connections: $ED_MAX_CONNECTIONS, body_bytes: $((BODY_BYTES * 2)) }
admin: { listen: "127.0.0.1:$admin" }
log: { level: warn, access: false }
upstreams:
  origin: { url: "http://127.0.0.1:$ORIGIN_PORT", max_connections: $ED_UPSTREAM_CONNECTIONS, idle_connections: 16 }
routes:
  - name: proxy
    match: { prefix: / }
    handler: { proxy: { upstream: origin } }
EOF
      "$EDGED" --check-config "$dir/edged.yaml" >/dev/null 2>"$dir/check.txt" ||
        die "edged rejects the bench config: $(cat "$dir/check.txt")"
      taskset -c "$SERVER_CPU" "$EDGED" --config "$dir/edged.yaml" >"$dir/edged.log" 2>&1 &
      MAIN[$name]=$!
      PIDS+=("${MAIN[$name]}")
      wait_ready "http://127.0.0.1:$port$URL_PATH" "${MAIN[$name]}" "$name"
      CPU_PIDS[$name]=${MAIN[$name]} MEM_PID[$name]=${MAIN[$name]}
      ;;
    nginx-*)
      if [ "$name" = nginx-buf ]; then buffering=on; else buffering=off; fi
      nginx_conf "$dir" "$port" "  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 16; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$port backlog=4096;
    client_max_body_size 0;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_buffering $buffering;
      proxy_request_buffering $buffering;
    }
  }"
      start_nginx "$dir" "$SERVER_CPU"
      MAIN[$name]=$N_MASTER
      wait_ready "http://127.0.0.1:$port$URL_PATH" "$N_MASTER" "$name"
      MEM_PID[$name]=$(nginx_worker "$N_MASTER")
      CPU_PIDS[$name]="$N_MASTER ${MEM_PID[$name]}"
      ;;
  esac
  PORT[$name]=$port
  LOGS[$name]="$dir"
}

stop_proxy() { stop_pid "${MAIN[$1]}"; }

# Status 200, the origin's exact body; prints the response header for the record.
check_response() {
  local name=$1 out
  if [ "$UPLOAD" = 1 ]; then
    out=$(curl -sS -m 10 -D "$TMP/$name.headers" -o "$TMP/$name.body" -w '%{http_code} %{size_upload}' \
      -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/www/big" "http://127.0.0.1:${PORT[$name]}/up")
    [ "$out" = "200 $BODY_BYTES" ] && [ "$(cat "$TMP/$name.body")" = ok ] ||
      die "$name: expected '200 $BODY_BYTES' (status, bytes sent) and 'ok', got '$out', '$(head -c 200 "$TMP/$name.body")'"
    rm -f "$TMP/$name.body"
    printf '  %-11s %s\n' "$name" "$(tr -d '\r' <"$TMP/$name.headers" | grep -v '^$' | paste -sd'|' | sed 's/|/ | /g')"
    return
  fi
  out=$(curl -sS -m 10 -D "$TMP/$name.headers" -o "$TMP/$name.body" -w '%{http_code} %{size_download}' \
    "http://127.0.0.1:${PORT[$name]}/big")
  [ "$out" = "200 $BODY_BYTES" ] || die "$name: expected '200 $BODY_BYTES' (status, bytes), got '$out'"
  cmp -s "$TMP/$name.body" "$TMP/www/big" || die "$name: the body differs from the origin's file"
  rm -f "$TMP/$name.body"
  printf '  %-11s %s\n' "$name" "$(tr -d '\r' <"$TMP/$name.headers" | grep -v '^$' | paste -sd'|' | sed 's/|/ | /g')"
}

# ---- wrk --------------------------------------------------------------------------------
# wrk's size (1024-based units, as wrk prints them) in bytes; its duration in seconds.
wrk_bytes() { awk -v v="$1" 'BEGIN {u = v; sub(/^[0-9.]+/, "", u); sub(/[A-Z]+$/, "", v)
  m = (u == "B") ? 1 : (u == "KB") ? 2^10 : (u == "MB") ? 2^20 : (u == "GB") ? 2^30 : (u == "TB") ? 2^40 : -1
  printf "%.0f", v * m}'; }
wrk_secs() { awk -v v="$1" 'BEGIN {u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
  m = (u == "us") ? 1e-6 : (u == "ms") ? 1e-3 : (u == "s") ? 1 : (u == "m") ? 60 : (u == "h") ? 3600 : -1
  printf "%.6f", v * m}'; }

# Run wrk; sets R_RPS R_REQS R_SECS R_BYTES R_P99US R_ERRS (socket errors) R_NON2XX.
# args: url seconds label
run_wrk() {
  local url=$1 secs=$2 label=$3 out="$TMP/wrk-$3.txt" pid line
  local script=()
  [ "$UPLOAD" = 1 ] && script=(-s "$TMP/upload.lua")
  timeout -k 5 $((secs + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency "${script[@]}" "$url" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || die "wrk failed ($label); output: $(cat "$out")"
  forget "$pid"
  R_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  line=$(grep ' requests in ' "$out" || true)  # "  8000 requests in 5.00s, 7.81GB read"
  R_REQS=$(awk '{print $1}' <<<"$line")
  R_SECS=$(wrk_secs "$(awk '{sub(/,$/, "", $4); print $4}' <<<"$line")")
  R_BYTES=$(wrk_bytes "$(awk '{print $5}' <<<"$line")")
  R_P99US=$(awk '$1 == "99%" {
      v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
      m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : 0
      printf "%.0f", v * m }' "$out")
  R_ERRS=$(awk -F'[ ,]+' '/Socket errors:/ {print $4+$6+$8+$10}' "$out")
  R_NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  R_ERRS=${R_ERRS:-0} R_NON2XX=${R_NON2XX:-0}
  if [ -z "$R_RPS" ] || [ -z "$R_REQS" ] || [ -z "$R_P99US" ] || [ "${R_BYTES:--1}" -lt 0 ] ||
    ! awk -v s="$R_SECS" 'BEGIN {exit !(s > 0)}'; then
    die "could not parse wrk output ($label): $(cat "$out")"
  fi
  [ "$R_REQS" -gt 0 ] || die "wrk completed no request ($label): $(cat "$out")"
  if [ "$R_ERRS" != 0 ] || [ "$R_NON2XX" != 0 ]; then
    log "$label: $(grep -E 'Socket errors|Non-2xx' "$out" | sed 's/^ *//' | paste -sd';')"
  fi
}

# ---- (1) throughput ---------------------------------------------------------------------
for v in "${VARIANTS[@]}"; do start_proxy "$v"; done

if [ "$UPLOAD" = 1 ]; then
  echo "== streaming proxy: POST /up, ${BODY_BYTES}-byte request body to a local edged origin (it answers ok once it has the body)"
else
  echo "== streaming proxy: GET /big, ${BODY_BYTES}-byte body from a local nginx origin"
fi
echo "  edged: $("$EDGED" --version) (pid ${MAIN[edged]}, :${PORT[edged]}, 1 I/O thread)   nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //') (1 worker each; nginx-buf worker ${MEM_PID[nginx-buf]} :${PORT[nginx-buf]}, nginx-unbuf worker ${MEM_PID[nginx-unbuf]} :${PORT[nginx-unbuf]})"
echo "  origin: nginx static, master $ORIGIN_PID :$ORIGIN_PORT, CPU $ORIGIN_CPU; proxies on CPU $SERVER_CPU; clients on CPU $CLIENT_CPU; CLK_TCK=$CLK_TCK; $(nproc) CPUs, $(uname -r)"
echo "  wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), -t1 -c$CONNECTIONS; $ROUNDS rounds x ${ROUND_SECONDS}s per proxy, warm-up ${WARMUP}s before each run"
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other load on this host skews the figures)"
echo "  response headers:"
for v in "${VARIANTS[@]}"; do check_response "$v"; done

# One row per measured run: name round resp/s MiB/s p99_us cpu_us_per_resp srv% cpuS% cpuC% non2xx sockerr
RESULTS="$TMP/results.tsv"
: >"$RESULTS"

measure() {
  local name=$1 r=$2 url="http://127.0.0.1:${PORT[$1]}$URL_PATH" before after cpu us srv mibs s0 s1 c0 c1 w0 w1
  # shellcheck disable=SC2086  # CPU_PIDS is a list
  {
    [ "$WARMUP" = 0 ] || run_wrk "$url" "$WARMUP" "$name-$r-warmup"
    s0=$(cpu_busy "$SERVER_CPU") c0=$(cpu_busy "$CLIENT_CPU")
    before=$(cpu_ticks ${CPU_PIDS[$name]}) w0=$(date +%s.%N)
    run_wrk "$url" "$ROUND_SECONDS" "$name-$r"
    after=$(cpu_ticks ${CPU_PIDS[$name]}) w1=$(date +%s.%N)
    s1=$(cpu_busy "$SERVER_CPU") c1=$(cpu_busy "$CLIENT_CPU")
  }
  cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
  us=$(awk -v c="$cpu" -v n="$R_REQS" 'BEGIN {printf "%.1f", c * 1e6 / n}')
  srv=$(awk -v c="$cpu" -v a="$w0" -v b="$w1" 'BEGIN {printf "%.0f", 100 * c / (b - a)}')
  # wrk's bytes per response (headers included; its total is printed to 3 digits) at its rate.
  mibs=$(awk -v b="$R_BYTES" -v n="$R_REQS" -v r="$R_RPS" 'BEGIN {printf "%.1f", b / n * r / 2^20}')
  printf '  %-11s %9s %9s %8s %8.2f %7s %9s %7s %7s %5s %5s %5s\n' "$name" "$R_RPS" "$mibs" "$R_REQS" \
    "$(awk -v u="$R_P99US" 'BEGIN {print u / 1e3}')" "$cpu" "$us" "$R_NON2XX" "$R_ERRS" "$srv" \
    "$(busy_pct "$s0" "$s1")" "$(busy_pct "$c0" "$c1")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$r" "$R_RPS" "$mibs" "$R_P99US" "$us" \
    "$srv" "$(busy_pct "$s0" "$s1")" "$(busy_pct "$c0" "$c1")" "$R_NON2XX" "$R_ERRS" >>"$RESULTS"
}

# srv%: the proxy's CPU time over the run's wall time. cpuN%: how busy CPU N was (everything,
# softirq included, from /proc/stat). cpu$CLIENT_CPU% near 100 means the client side (wrk, and
# the origin when it shares that CPU) was the limit, so resp/s compares less than cpu us/resp.
header() {
  printf '  %-11s %9s %9s %8s %8s %7s %9s %7s %7s %5s %5s %5s\n' proxy 'resp/s' 'MiB/s' responses 'p99 ms' \
    'cpu s' 'cpu us/r' non-2xx sockerr 'srv%' "cpu$SERVER_CPU%" "cpu$CLIENT_CPU%"
}

n_var=${#VARIANTS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  echo; echo "== throughput round $r/$ROUNDS"; header
  for ((k = 0; k < n_var; k++)); do
    measure "${VARIANTS[(k + r - 1) % n_var]}" "$r"  # rotate who goes first
  done
done
for v in "${VARIANTS[@]}"; do
  kill -0 "${MAIN[$v]}" 2>/dev/null || die "$v exited during the throughput runs; see ${LOGS[$v]}"
  THR_LOGS[$v]=${LOGS[$v]}
  stop_proxy "$v"
done

# ---- (2) memory under slow readers ------------------------------------------------------
cat >"$TMP/slow_readers.py" <<'EOF'
# CONNS connections, each GET PATH then reads RATE bytes/s (in ticks of 250 ms) for SECONDS s
# after the last one connected, then all close. Samples VmRSS of PID every 200 ms throughout, and
# the used space of the file system holding DISK. Prints one RESULT line of key=value pairs.
import os, socket, sys, time

a = dict(x.split("=", 1) for x in sys.argv[1:])
PORT, N, SECS = int(a["port"]), int(a["conns"]), float(a["seconds"])
RATE, RCVBUF, MSS, PID = int(a["rate"]), int(a["rcvbuf"]), int(a["mss"]), int(a["pid"])
DISK, PATH = a["disk"], a.get("path", "/big")
INTERVAL, TICK = 0.2, 0.25
REQ = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: slow-reader\r\n\r\n" % (PATH, PORT)).encode()


def status_kb(field):
    try:
        with open("/proc/%d/status" % PID) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def disk_kb():
    st = os.statvfs(DISK)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


class Conn:
    __slots__ = ("s", "got", "head", "status", "state")

    def __init__(self, s):
        self.s, self.got, self.head, self.status, self.state = s, 0, b"", 0, "open"


rss0, disk0 = status_kb("VmRSS:"), disk_kb()
if rss0 is None:
    sys.exit("process %d is gone" % PID)
st = {"peak": rss0, "dpeak": disk0, "samples": 0, "next": 0.0, "died": False}


def sample(now):
    if now < st["next"]:
        return
    st["next"] = now + INTERVAL
    v = status_kb("VmRSS:")
    if v is None:
        st["died"] = True
        return
    st["peak"] = max(st["peak"], v)
    st["dpeak"] = max(st["dpeak"], disk_kb())
    st["samples"] += 1


conns, failed = [], 0
t0 = time.monotonic()
ramp_limit = t0 + max(SECS, 5.0)  # connecting is bounded too
for _ in range(N):
    now = time.monotonic()
    sample(now)
    if st["died"] or now > ramp_limit:
        break
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    if MSS:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, MSS)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", PORT))
        s.sendall(REQ)
    except OSError:
        failed += 1
        s.close()
        continue
    s.setblocking(False)
    conns.append(Conn(s))
t1 = time.monotonic()

chunk = max(1, int(RATE * TICK))
end, next_tick = t1 + SECS, t1
while not st["died"]:
    now = time.monotonic()
    if now >= end:
        break
    if now >= next_tick:
        next_tick += TICK
        for c in conns:
            if c.state != "open":
                continue
            try:
                d = c.s.recv(chunk)
            except BlockingIOError:
                continue
            except OSError:
                c.state = "reset"
                continue
            if not d:
                c.state = "eof"
                continue
            c.got += len(d)
            if not c.status:
                c.head += d
                if b"\r\n" in c.head:
                    f = c.head.split(b" ", 2)
                    c.status = int(f[1]) if len(f) > 1 and f[1].isdigit() else -1
                    c.head = b""
    sample(now)
    time.sleep(max(0.0, min(next_tick, st["next"], end) - time.monotonic()))
t2 = time.monotonic()
hwm, rss_end = status_kb("VmHWM:") or 0, status_kb("VmRSS:") or 0
for c in conns:
    c.s.close()

count = lambda f: sum(1 for c in conns if f(c))
print("RESULT conns=%d connected=%d connect_failed=%d ramp_s=%.2f window_s=%.2f"
      " streaming=%d status200=%d bad_status=%d no_answer=%d eof=%d reset=%d bytes=%d"
      " rss_before_kb=%d rss_peak_kb=%d rss_end_kb=%d hwm_kb=%d disk_growth_kb=%d samples=%d died=%d" % (
          N, len(conns), failed, t1 - t0, t2 - t1,
          count(lambda c: c.status == 200 and c.state == "open"), count(lambda c: c.status == 200),
          count(lambda c: c.status not in (0, 200)), count(lambda c: c.status == 0),
          count(lambda c: c.state == "eof"), count(lambda c: c.state == "reset"),
          sum(c.got for c in conns), rss0, st["peak"], rss_end, hwm, st["dpeak"] - disk0,
          st["samples"], st["died"]))
EOF

# One fresh proxy, the slow readers against it, stopped again; sets S_* from the RESULT line.
slow_phase() {
  local name=$1 out="$TMP/slow-$1.txt" pid kv after
  start_proxy "$name"
  check_response "$name" >/dev/null  # one full response before the baseline
  sleep 0.5
  timeout -k 5 $((SLOW_SECONDS * 2 + 60)) taskset -c "$CLIENT_CPU" "$PYTHON" "$TMP/slow_readers.py" \
    port="${PORT[$name]}" conns="$CONNS" seconds="$SLOW_SECONDS" rate="$SLOW_RATE" rcvbuf="$SLOW_RCVBUF" \
    mss="$SLOW_MSS" pid="${MEM_PID[$name]}" disk="$TMP" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || die "slow readers failed ($name): $(cat "$out")"
  forget "$pid"
  grep -q '^RESULT ' "$out" || die "slow readers printed no result ($name): $(cat "$out")"
  for kv in $(grep '^RESULT ' "$out" | cut -d' ' -f2-); do printf -v "S_${kv%%=*}" '%s' "${kv#*=}"; done
  # shellcheck disable=SC2154  # S_* are set from the RESULT line
  {
    [ "$S_died" = 0 ] || die "$name exited during the slow-reader phase; see ${LOGS[$name]}"
    sleep 1
    kill -0 "${MAIN[$name]}" 2>/dev/null || die "$name exited after the slow-reader phase; see ${LOGS[$name]}"
    after=$(status_kb "${MEM_PID[$name]}" VmRSS)
    S_hwm_kb=$(status_kb "${MEM_PID[$name]}" VmHWM)  # the whole life of the fresh process
    MEM[$name]="$S_rss_before_kb $S_rss_peak_kb $S_hwm_kb $after $S_disk_growth_kb $S_connected $S_streaming"
    MEM[$name]+=" $S_bad_status $S_no_answer $S_eof $S_reset $S_connect_failed $S_bytes $S_window_s $S_ramp_s $S_samples"
    printf '  %-11s %6s %7s %7s %7s %6s %9s %8s %8s %8s %6s %6s %7s %7s %7s %6s\n' "$name" "$CONNS" "$S_connected" \
      "$S_streaming" "$S_bad_status" "$S_no_answer" "$S_eof/$S_reset" "$(mib "$S_rss_before_kb")" \
      "$(mib "$S_rss_peak_kb")" "$(mib "$S_hwm_kb")" "$(mib "$after")" "$(mib "$S_disk_growth_kb")" \
      "$S_ramp_s" "$S_window_s" \
      "$(awk -v b="$S_bytes" -v n="$S_connected" -v s="$S_window_s" 'BEGIN {printf "%.0f", (n && s) ? b / n / s : 0}')" \
      "$S_samples"
  }
  SLOW_LOGS[$name]=${LOGS[$name]}
  stop_proxy "$name"
}

if [ "$UPLOAD" != 1 ]; then
echo
echo "== memory: $CONNS slow readers per proxy (GET /big, $SLOW_RATE B/s each, SO_RCVBUF $SLOW_RCVBUF, MSS ${SLOW_MSS/#0/loopback}), ${SLOW_SECONDS}s, each proxy fresh"
printf '  %-11s %6s %7s %7s %7s %6s %9s %8s %8s %8s %6s %6s %7s %7s %7s %6s\n' proxy conns conn\'d streamng \
  'non-200' 'no ans' 'eof/rst' 'RSS0 MiB' 'peak MiB' 'HWM MiB' 'after' 'disk+' 'ramp s' 'window' 'B/s/rdr' samples
for v in "${VARIANTS[@]}"; do slow_phase "$v"; done
fi

# ---- summary ----------------------------------------------------------------------------
# col NAME N: column N of that proxy's runs, one per line.
col() { awk -F'\t' -v s="$1" -v c="$2" '$1 == s {print $c}' "$RESULTS"; }
# shellcheck disable=SC2046  # one number a line
med() { median $(col "$@"); }
spread() { col "$1" "$2" | sort -g | awk -v f="$3" 'NR == 1 {a = $1} {b = $1} END {printf f "-" f, a, b}'; }
total() { awk '{s += $1} END {print s + 0}'; }
# paired N A B: A/B of column N within each round, one line per round.
paired() {
  awk -F'\t' -v c="$1" -v a="$2" -v b="$3" '{v[$1, $2] = $c; r[$2] = 1}
    END {for (i = 1; i in r; i++) printf "%.2f\n", (v[b, i] > 0) ? v[a, i] / v[b, i] : 0}' "$RESULTS"
}
# shellcheck disable=SC2046
median_of_lines() { median $(cat); }

echo
echo "== summary: throughput ($([ "$UPLOAD" = 1 ] && echo "POST /up" || echo "GET /big"), ${BODY_BYTES} bytes, wrk -c$CONNECTIONS; median of $ROUNDS rounds of ${ROUND_SECONDS}s, spread min-max)"
printf '  %-11s %9s %17s %8s %15s %10s %15s %8s %8s %8s\n' '' 'resp/s' 'resp/s spread' 'MiB/s' 'MiB/s spread' \
  'cpu us/r' 'cpu us/r spread' 'p99 ms' 'non-2xx' 'sockerr'
for v in "${VARIANTS[@]}"; do
  printf '  %-11s %9.1f %17s %8.1f %15s %10.1f %15s %8.2f %8s %8s\n' "$v" "$(med "$v" 3)" "$(spread "$v" 3 %.1f)" \
    "$(med "$v" 4)" "$(spread "$v" 4 %.1f)" "$(med "$v" 6)" "$(spread "$v" 6 %.1f)" \
    "$(awk -v u="$(med "$v" 5)" 'BEGIN {print u / 1e3}')" "$(col "$v" 10 | total)" "$(col "$v" 11 | total)"
done
for b in nginx-buf nginx-unbuf; do
  printf '  edged/%-11s resp/s %s, MiB/s %s, cpu us/resp %s, p99 %s   paired per round: resp/s %s (%s), cpu us/resp %s (%s)\n' \
    "$b" "$(ratio "$(med edged 3)" "$(med "$b" 3)")" "$(ratio "$(med edged 4)" "$(med "$b" 4)")" \
    "$(ratio "$(med edged 6)" "$(med "$b" 6)")" "$(ratio "$(med edged 5)" "$(med "$b" 5)")" \
    "$(paired 3 edged "$b" | median_of_lines)" "$(paired 3 edged "$b" | paste -sd' ')" \
    "$(paired 6 edged "$b" | median_of_lines)" "$(paired 6 edged "$b" | paste -sd' ')"
done
printf '  proxy CPU busy %% (median): %s;  cpu%s busy %% (clients%s): %s\n' \
  "$(for v in "${VARIANTS[@]}"; do printf '%s %s  ' "$v" "$(med "$v" 7)"; done)" "$CLIENT_CPU" \
  "$([ "$ORIGIN_CPU" = "$CLIENT_CPU" ] && echo ' and origin')" \
  "$(for v in "${VARIANTS[@]}"; do printf '%s %s  ' "$v" "$(med "$v" 9)"; done)"

# MEM fields: 1 before 2 peak 3 hwm 4 after 5 disk 6 connected 7 streaming 8 non-200 9 no-answer
# 10 eof 11 reset 12 connect-failed 13 bytes 14 window 15 ramp 16 samples
memf() { local a; read -r -a a <<<"${MEM[$1]}"; echo "${a[$2 - 1]}"; }
if [ "$UPLOAD" != 1 ]; then
echo
echo "== summary: memory with $CONNS slow readers for ${SLOW_SECONDS}s (serving process: edged; nginx's worker)"
printf '  %-11s %10s %10s %10s %12s %12s %10s %12s %10s\n' '' 'RSS0 MiB' 'peak MiB' 'VmHWM MiB' 'growth MiB' \
  'KiB/reader' 'after MiB' 'disk+ MiB' streaming
for v in "${VARIANTS[@]}"; do
  g=$(($(memf "$v" 2) - $(memf "$v" 1)))
  GROWTH[$v]=$g
  printf '  %-11s %10s %10s %10s %12s %12s %10s %12s %10s\n' "$v" "$(mib "$(memf "$v" 1)")" "$(mib "$(memf "$v" 2)")" \
    "$(mib "$(memf "$v" 3)")" "$(mib "$g")" \
    "$(awk -v g="$g" -v n="$(memf "$v" 7)" 'BEGIN {printf (n > 0) ? "%.1f" : "n/a", g / n}')" \
    "$(mib "$(memf "$v" 4)")" "$(mib "$(memf "$v" 5)")" "$(memf "$v" 7)/$CONNS"
done
for b in nginx-buf nginx-unbuf; do
  echo "  edged/$b: RSS growth $(ratio "${GROWTH[edged]}" "${GROWTH[$b]}"), peak RSS $(ratio "$(memf edged 2)" "$(memf "$b" 2)"), VmHWM $(ratio "$(memf edged 3)" "$(memf "$b" 3)")"
done
echo "  (growth = sampled peak VmRSS - VmRSS before; disk+ = the temp dir's file system, peak growth:"
echo "   nginx-buf spools what its 8 x 4k buffers cannot hold; socket buffers are kernel memory, in no RSS)"
for v in "${VARIANTS[@]}"; do
  [ "$(memf "$v" 7)" = "$CONNS" ] ||
    log "warning: $v held $(memf "$v" 7) of $CONNS readers to the end (non-200 $(memf "$v" 8), no answer $(memf "$v" 9), eof $(memf "$v" 10), reset $(memf "$v" 11), connect failed $(memf "$v" 12))"
done
fi

# Anything the proxies and the origin logged at warn or above.
for v in "${VARIANTS[@]}"; do
  for d in "${THR_LOGS[$v]}" "${SLOW_LOGS[$v]:-}"; do
    [ -n "$d" ] || continue
    for f in "$d/edged.log" "$d/logs/error.log"; do
      [ -s "$f" ] || continue
      # nginx-buf warns once per response it spools to a temp file: expected here, counted only.
      spooled=$(grep -c 'an upstream response is buffered to a temporary file' "$f" || true)
      other=$(grep -v 'an upstream response is buffered to a temporary file' "$f" || true)
      [ "$spooled" = 0 ] || echo "  ($v ${f#"$TMP"/}: $spooled responses spooled to a temp file)"
      if [ -n "$other" ]; then
        echo; echo "== $v log ${f#"$TMP"/} ($(wc -l <<<"$other") lines)"; head -10 <<<"$other"
      fi
    done
  done
done
for f in "$TMP/origin/logs/error.log" "$TMP/origin/edged.log"; do
  if [ -s "$f" ]; then echo; echo "== origin ${f#"$TMP"/}"; head -10 "$f"; fi
done
