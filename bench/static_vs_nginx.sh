#!/usr/bin/env bash
# bench/static_vs_nginx.sh — edged vs Debian's nginx on one 13-byte static response.
#
#   sh bench/static_vs_nginx.sh          full run (what `make bench` runs)
#   QUICK=1 sh bench/static_vs_nginx.sh  smoke run: 3 s per measurement, one round
#   SCRAPE=1 sh bench/static_vs_nginx.sh the cost of being watched: keep-alive rounds also run
#                                         edged with its admin /metrics scraped every second, and
#                                         nginx with its stub_status scraped the same way
#
# Both servers answer GET /hello with "hello, world\n" (text/plain) on 127.0.0.1, each pinned
# to CPU 0 with one worker; wrk runs pinned to CPU 1 (1 thread, 64 connections). Rounds are
# interleaved (nginx, then edged; with SCRAPE=1 nginx, edged, edged+scrape, nginx+scrape), the
# order reversed every other round, each run preceded by a short warm-up. Reported per run:
# req/s, p99 latency, server CPU time (utime+stime from /proc/PID/stat) per request.
# A second scenario repeats it with `Connection: close` (one request per connection).
#
# Environment (defaults in brackets):
#   DURATION [10]  seconds per keep-alive run      ROUNDS [5]        keep-alive rounds
#   DURATION_CLOSE [5]  seconds per close run      ROUNDS_CLOSE [1]  close rounds
#   WARMUP [2]  warm-up seconds before each run    CONNECTIONS [64]  wrk -c
#   EDGED [build/edged]  NGINX [nginx from PATH or /usr/sbin/nginx]
#   SERVER_CPU [0]  WRK_CPU [1]  KEEP_TMP [0]: 1 keeps the temp dir (configs, logs, wrk output)
#   SYSCALLS [1]  count system calls per request of each server (perf stat on the kernel's
#                 syscall tracepoints, 5 s per server and mode); 0 skips it
#   SCRAPE [0]    1 adds the scraped variants (edged+scrape, nginx+scrape) to every keep-alive
#                 round and prints their medians, spreads and ratios. The scraper (curl once a
#                 second) runs on the wrk CPU and its CPU is not counted; the server's is the
#                 whole process, edged's admin (control) thread included, which answers /metrics.
#                 Every scrape's status is checked: a scraped run with a non-200 scrape, or with
#                 no scrape inside its measured window, fails the benchmark
# Only 127.0.0.1 is contacted; only the processes started here are stopped (by pid).

# `make bench` runs this through sh: re-exec under bash (this line must stay POSIX).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

cd "$(dirname "$0")/.."

# ---- settings ---------------------------------------------------------------------------
if [ "${QUICK:-0}" = 1 ]; then
  DURATION=${DURATION:-3} ROUNDS=${ROUNDS:-1} DURATION_CLOSE=${DURATION_CLOSE:-3} ROUNDS_CLOSE=${ROUNDS_CLOSE:-1}
fi
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-5}
DURATION_CLOSE=${DURATION_CLOSE:-5}
ROUNDS_CLOSE=${ROUNDS_CLOSE:-1}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
EDGED=${EDGED:-build/edged}
BODY=$'hello, world\n'

. bench/lib.sh  # helpers shared with bench/after_actions.sh

# ---- dependencies (Debian bookworm, apt-get only) -----------------------------------------
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
need=()
[ -x "$NGINX" ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v taskset >/dev/null || need+=(util-linux)
SYSCALLS=${SYSCALLS:-1}
SCRAPE=${SCRAPE:-0}
[ "$SYSCALLS" = 0 ] || command -v perf >/dev/null || need+=(linux-perf)
install_missing "${need[@]}"
[ -x "$NGINX" ] || NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found at $NGINX"

ensure_edged

CLK_TCK=$(getconf CLK_TCK)
if [ "$(nproc)" -lt 2 ]; then
  log "warning: fewer than 2 CPUs; server and wrk share a CPU, figures are not comparable"
fi

# ---- temp dir and cleanup ---------------------------------------------------------------
TMP=$(mktemp -d /tmp/edged-bench.XXXXXX)
PIDS=()  # every process started here: edged, nginx master, a running wrk

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers ----------------------------------------------------------------------------


peak_rss() { awk '/^VmHWM:/ {print $2" "$3}' "/proc/$1/status"; }

# Check status 200 and the exact 13-byte body; print the response header for the record.
check_response() {
  local url=$1 name=$2 out
  out=$(curl -sS -m 5 -D "$TMP/$name.headers" -o "$TMP/$name.body" -w '%{http_code} %{size_download}' "$url")
  [ "$out" = "200 13" ] || die "$name: expected '200 13' (status, bytes), got '$out'"
  [ "$(cat "$TMP/$name.body"; echo x)" = "${BODY}x" ] || die "$name: body differs from 'hello, world\\n'"
  printf '  %-6s %s\n' "$name" "$(tr -d '\r' <"$TMP/$name.headers" | grep -v '^$' | paste -sd'|' | sed 's/|/ | /g')"
}

# Run wrk; sets R_RPS R_P99US R_REQS R_ERRS (socket errors) R_NON2XX.
# args: url seconds label [extra wrk args...]
run_wrk() {
  local url=$1 secs=$2 label=$3 out="$TMP/wrk-$3.txt" pid
  shift 3
  timeout -k 5 $((secs + 30)) taskset -c "$WRK_CPU" \
    wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency "$@" "$url" >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || die "wrk failed ($label); output: $(cat "$out")"
  unset 'PIDS[${#PIDS[@]}-1]'
  R_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  R_REQS=$(awk '/ requests in / {print $1}' "$out")
  # p99 as printed by wrk (us, ms, s, m), converted to microseconds.
  R_P99US=$(awk '$1 == "99%" {
      v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
      m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : 0
      printf "%.0f", v * m }' "$out")
  R_ERRS=$(awk -F'[ ,]+' '/Socket errors:/ {print $4+$6+$8+$10}' "$out")
  R_NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  R_ERRS=${R_ERRS:-0} R_NON2XX=${R_NON2XX:-0}
  [ -n "$R_RPS" ] && [ -n "$R_REQS" ] && [ -n "$R_P99US" ] || die "could not parse wrk output ($label): $(cat "$out")"
  if [ "$R_ERRS" != 0 ] || [ "$R_NON2XX" != 0 ]; then
    log "$label: $(grep -E 'Socket errors|Non-2xx' "$out" | sed 's/^ *//' | paste -sd';')"
  fi
}

# ---- start the servers ------------------------------------------------------------------
ED_PORT=$(free_port) ED_ADMIN=$(free_port) NG_PORT=$(free_port)

cat >"$TMP/edged.yaml" <<EOF
server:
  listen: "127.0.0.1:$ED_PORT"
  threads: 1
admin:
  listen: "127.0.0.1:$ED_ADMIN"
log: { level: warn, access: false }
routes:
  - name: hello
    match: { path: /hello, methods: [GET] }
    handler:
      static:
        status: 200
        headers: { content-type: text/plain }
        body: "hello, world\n"
EOF

mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/tmp/client_body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$NG_PORT;
    location = /hello { default_type text/plain; return 200 "hello, world\n"; }
    location = /nginx_status { stub_status; }
  }
}
EOF
chmod 755 "$TMP"  # nginx workers run as nobody when started as root

"$EDGED" --check-config "$TMP/edged.yaml" >/dev/null || die "edged rejects the bench config"
taskset -c "$SERVER_CPU" "$EDGED" --config "$TMP/edged.yaml" >"$TMP/edged.log" 2>&1 &
ED_PID=$!
PIDS+=("$ED_PID")

if ! "$NGINX" -t -q -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" 2>/dev/null; then
  # A build without the stub_status module: no nginx+scrape variant.
  sed -i '/nginx_status/d' "$TMP/nginx/nginx.conf"
  NG_STATUS=0
fi
NG_STATUS=${NG_STATUS:-1}
"$NGINX" -t -q -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" ||
  die "nginx rejects the bench config"
taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
  >"$TMP/nginx/logs/stdout.log" 2>&1 &
NG_MASTER=$!
PIDS+=("$NG_MASTER")

ED_URL="http://127.0.0.1:$ED_PORT/hello"
NG_URL="http://127.0.0.1:$NG_PORT/hello"
wait_ready "$ED_URL" "$ED_PID" edged
wait_ready "$NG_URL" "$NG_MASTER" nginx
NG_WORKER=$(children_of "$NG_MASTER")
[ "$(echo "$NG_WORKER" | wc -w)" = 1 ] || die "expected one nginx worker, found: ${NG_WORKER:-none}"

echo "== edged vs nginx: GET /hello, 13-byte static body"
echo "  edged: $("$EDGED" --version) (pid $ED_PID, :$ED_PORT)   nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //') (master $NG_MASTER, worker $NG_WORKER, :$NG_PORT)"
echo "  wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), -t1 -c$CONNECTIONS, CPU $WRK_CPU; servers on CPU $SERVER_CPU; CLK_TCK=$CLK_TCK; $(nproc) CPUs, $(uname -r)"
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other load on this host skews the figures)"
echo "  keep-alive: $ROUNDS x ${DURATION}s; close: $ROUNDS_CLOSE x ${DURATION_CLOSE}s; warm-up ${WARMUP}s before each run"
echo "  response headers:"
check_response "$NG_URL" nginx
check_response "$ED_URL" edged

# ---- measure ----------------------------------------------------------------------------
# One row per measured run: mode server round req/s p99_us cpu_us_per_req srv% cpuS% cpuW% non2xx
# sockerr scrapes (inside the measured window; 0 when not scraped)
RESULTS="$TMP/results.tsv"
: >"$RESULTS"

# Scrapes URL once a second on the wrk CPU until stop_scraper, one line per scrape ("status
# bytes") in LOG; sets SCRAPER. args: url log
start_scraper() {
  : >"$2"
  # shellcheck disable=SC2016  # $1 and $2 are the inner shell's
  taskset -c "$WRK_CPU" sh -c 'while :; do
      curl -s -m 2 -o /dev/null -w "%{http_code} %{size_download}\n" "$1" >>"$2" || true; sleep 1
    done' scraper "$1" "$2" &
  SCRAPER=$!
  PIDS+=("$SCRAPER")
}
stop_scraper() {
  kill "$SCRAPER" 2>/dev/null || true
  wait "$SCRAPER" 2>/dev/null || true
  unset 'PIDS[${#PIDS[@]}-1]'
}

# One measured run (after its warm-up) of one server; prints a table row, appends to $RESULTS.
# NAME is nginx, edged, or either with "+scrape" (its stats page scraped every second).
measure() {
  local name=$1 mode=$2 round=$3 url pids secs before after cpu us srv s0 s1 w0 w1 extra=() scrape=
  local slog="$TMP/scrape-$1-$3.log" n0=0 n1=0 bad=0
  case "$name" in
    nginx*) url=$NG_URL pids=("$NG_MASTER" "$NG_WORKER") scrape="http://127.0.0.1:$NG_PORT/nginx_status" ;;
    *) url=$ED_URL pids=("$ED_PID") scrape="http://127.0.0.1:$ED_ADMIN/metrics" ;;
  esac
  case "$name" in *+scrape) ;; *) scrape= ;; esac
  if [ "$mode" = close ]; then secs=$DURATION_CLOSE extra=(-H "Connection: close"); else secs=$DURATION; fi
  [ -z "$scrape" ] || start_scraper "$scrape" "$slog"
  run_wrk "$url" "$WARMUP" "$name-$mode-$round-warmup" "${extra[@]}"
  s0=$(cpu_busy "$SERVER_CPU")
  w0=$(cpu_busy "$WRK_CPU")
  [ -z "$scrape" ] || n0=$(wc -l <"$slog")
  before=$(cpu_ticks "${pids[@]}")
  run_wrk "$url" "$secs" "$name-$mode-$round" "${extra[@]}"
  after=$(cpu_ticks "${pids[@]}")
  [ -z "$scrape" ] || n1=$(wc -l <"$slog")
  s1=$(cpu_busy "$SERVER_CPU")
  w1=$(cpu_busy "$WRK_CPU")
  if [ -n "$scrape" ]; then
    stop_scraper
    bad=$(awk '$1 != 200' "$slog" | wc -l)
    [ "$bad" = 0 ] || die "$name round $round: $bad of $(wc -l <"$slog") scrapes of $scrape not 200 (see $slog)"
    [ $((n1 - n0)) -gt 0 ] || die "$name round $round: no scrape inside the measured window"
  fi
  cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
  us=$(awk -v c="$cpu" -v n="$R_REQS" 'BEGIN {printf "%.2f", c * 1e6 / n}')
  srv=$(awk -v c="$cpu" -v d="$secs" 'BEGIN {printf "%.0f", 100 * c / d}')
  printf '  %-13s %10s %9s %8s %7s %8s %7s %8s %5s %5s %5s\n' "$name" "$R_RPS" "$R_REQS" \
    "$(awk -v u="$R_P99US" 'BEGIN {printf "%.2f", u / 1e3}')" "$cpu" "$us" "$R_NON2XX" "$R_ERRS" \
    "$srv" "$(busy_pct "$s0" "$s1")" "$(busy_pct "$w0" "$w1")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$name" "$round" "$R_RPS" "$R_P99US" "$us" \
    "$srv" "$(busy_pct "$s0" "$s1")" "$(busy_pct "$w0" "$w1")" "$R_NON2XX" "$R_ERRS" $((n1 - n0)) >>"$RESULTS"
}

# srv%: the server's own CPU time over the run's wall time. cpuN%: how busy CPU N was over the
# run (every process and softirq, from /proc/stat). cpu1% near 100 means wrk was the limit,
# so req/s compares the client more than the server; cpu us/req is the server-side figure.
# cpu0% far above srv% means something else (softirq, other processes) ran on the server CPU.
header() {
  printf '  %-13s %10s %9s %8s %7s %8s %7s %8s %5s %5s %5s\n' server 'req/s' requests 'p99 ms' 'cpu s' \
    'cpu us/r' non-2xx 'sockerr' 'srv%' "cpu$SERVER_CPU%" "cpu$WRK_CPU%"
}

for mode in keepalive close; do
  if [ "$mode" = close ]; then n=$ROUNDS_CLOSE; else n=$ROUNDS; fi
  for ((r = 1; r <= n; r++)); do
    echo; echo "== $mode round $r/$n"; header
    # Alternate who goes first, so a drift in the host's speed does not favour one server.
    variants=(nginx edged)
    if [ "$mode" = keepalive ] && [ "$SCRAPE" = 1 ]; then
      variants=(nginx edged edged+scrape)
      [ "$NG_STATUS" = 1 ] && variants+=(nginx+scrape)
    fi
    n_var=${#variants[@]}
    for ((k = 0; k < n_var; k++)); do
      if ((r % 2)); then v=${variants[k]}; else v=${variants[n_var - 1 - k]}; fi
      measure "$v" "$mode" "$r"
    done
  done
done

# ---- summary ----------------------------------------------------------------------------
# col MODE SERVER N: column N of that server's runs, one per line.
col() { awk -F'\t' -v m="$1" -v s="$2" -v c="$3" '$1 == m && $2 == s {print $c}' "$RESULTS"; }
med() { median $(col "$@"); }
total() { awk '{s += $1} END {print s + 0}'; }

summary() {
  local mode=$1 nr ng ed
  nr=$(col "$mode" nginx 3 | wc -l)
  [ "$nr" -gt 0 ] || return 0
  echo; echo "== summary: $mode (median of $nr)"
  printf '  %-16s %10s %10s %12s\n' '' nginx edged edged/nginx
  ng=$(med "$mode" nginx 4) ed=$(med "$mode" edged 4)
  printf '  %-16s %10.0f %10.0f %12s\n' 'req/s' "$ng" "$ed" "$(ratio "$ed" "$ng")"
  ng=$(med "$mode" nginx 5) ed=$(med "$mode" edged 5)
  printf '  %-16s %10.3f %10.3f %12s\n' 'p99 ms' "$(awk -v u="$ng" 'BEGIN {print u / 1e3}')" \
    "$(awk -v u="$ed" 'BEGIN {print u / 1e3}')" "$(ratio "$ed" "$ng")"
  ng=$(med "$mode" nginx 6) ed=$(med "$mode" edged 6)
  printf '  %-16s %10.2f %10.2f %12s\n' 'cpu us/req' "$ng" "$ed" "$(ratio "$ed" "$ng")"
  printf '  %-16s %10.0f %10.0f\n' 'server cpu %' "$(med "$mode" nginx 7)" "$(med "$mode" edged 7)"
  printf '  %-16s %10.0f %10.0f\n' "wrk cpu$WRK_CPU busy %" "$(med "$mode" nginx 9)" "$(med "$mode" edged 9)"
  printf '  %-16s %10s %10s\n' 'non-2xx total' "$(col "$mode" nginx 10 | total)" \
    "$(col "$mode" edged 10 | total)"
  printf '  %-16s %10s %10s\n' 'sock err total' "$(col "$mode" nginx 11 | total)" \
    "$(col "$mode" edged 11 | total)"
  # Paired: each round's edged/nginx ratio (the two runs of a round are minutes apart at most),
  # then the median of those. Steadier than the ratio of medians when the host's speed drifts.
  printf '  %-16s %s   (per round: %s)\n' 'paired cpu ratio' "$(paired "$mode" 6 | median_of_lines)" \
    "$(paired "$mode" 6 | tr '\n' ' ')"
  printf '  %-16s %s   (per round: %s)\n' 'paired req/s' "$(paired "$mode" 4 | median_of_lines)" \
    "$(paired "$mode" 4 | tr '\n' ' ')"
}
# paired MODE N [A B]: A/B (default edged/nginx) of column N, one line per round.
paired() {
  awk -F'\t' -v m="$1" -v c="$2" -v a="${3:-edged}" -v b="${4:-nginx}" '$1 == m {v[$2, $3] = $c; r[$3] = 1}
    END {for (i = 1; i in r; i++) printf "%.2f\n", v[a, i] / v[b, i]}' "$RESULTS"
}
median_of_lines() { median $(cat); }
summary keepalive
summary close

# SCRAPE=1: each variant's median and spread (min-max over rounds), and the ratios.
spread() { col keepalive "$1" "$2" | sort -g | awk -v f="$3" 'NR == 1 {a = $1} {b = $1} END {printf f "-" f, a, b}'; }
if [ "$SCRAPE" = 1 ]; then
  echo; echo "== summary: scraped once a second (keep-alive, median of $(col keepalive edged 3 | wc -l) rounds, spread min-max)"
  printf '  %-13s %10s %16s %12s %20s\n' '' 'req/s' 'req/s spread' 'cpu us/req' 'cpu us/req spread'
  for v in nginx nginx+scrape edged edged+scrape; do
    [ "$(col keepalive "$v" 3 | wc -l)" -gt 0 ] || continue
    printf '  %-13s %10.0f %16s %12.2f %20s\n' "$v" "$(med keepalive "$v" 4)" "$(spread "$v" 4 %.0f)" \
      "$(med keepalive "$v" 6)" "$(spread "$v" 6 %.2f)"
  done
  ed=$(med keepalive edged 6) eds=$(med keepalive edged+scrape 6) ng=$(med keepalive nginx 6)
  echo "  cpu us/req ratios: edged+scrape/edged $(ratio "$eds" "$ed"), edged/nginx $(ratio "$ed" "$ng"), edged+scrape/nginx $(ratio "$eds" "$ng")"
  if [ "$NG_STATUS" = 1 ]; then
    ngs=$(med keepalive nginx+scrape 6)
    echo "                     nginx+scrape/nginx $(ratio "$ngs" "$ng"), edged+scrape/nginx+scrape $(ratio "$eds" "$ngs")"
  else
    echo "  (this nginx has no stub_status module: no nginx+scrape variant)"
  fi
  ed=$(med keepalive edged 4) eds=$(med keepalive edged+scrape 4) ng=$(med keepalive nginx 4)
  echo "  req/s ratios:      edged+scrape/edged $(ratio "$eds" "$ed"), edged/nginx $(ratio "$ed" "$ng"), edged+scrape/nginx $(ratio "$eds" "$ng")"
  # Paired, as in the summary above: the ratio within each round, then their median.
  for pr in "edged+scrape edged" "nginx+scrape nginx"; do
    read -r a b <<<"$pr"
    [ "$(col keepalive "$a" 3 | wc -l)" -gt 0 ] || continue
    printf '  paired %s/%s: cpu us/req %s (per round: %s), req/s %s (per round: %s)\n' "$a" "$b" \
      "$(paired keepalive 6 "$a" "$b" | median_of_lines)" "$(paired keepalive 6 "$a" "$b" | tr '\n' ' ')" \
      "$(paired keepalive 4 "$a" "$b" | median_of_lines)" "$(paired keepalive 4 "$a" "$b" | tr '\n' ' ')"
  done
  for v in edged+scrape nginx+scrape; do
    [ "$(col keepalive "$v" 3 | wc -l)" -gt 0 ] || continue
    echo "  $v: scrapes inside each measured window: $(col keepalive "$v" 12 | tr '\n' ' ')(all answered 200)"
  done
  echo "  one /metrics answer: $(curl -s "http://127.0.0.1:$ED_ADMIN/metrics" | wc -c) bytes; the server CPU counts edged's whole process (its admin thread answers /metrics)"
fi

echo
echo "== peak RSS (VmHWM)"
echo "  edged:        $(peak_rss "$ED_PID")"
echo "  nginx worker: $(peak_rss "$NG_WORKER")   (master: $(peak_rss "$NG_MASTER"))"

# ---- system calls per request ----------------------------------------------------------
# perf stat on the syscall tracepoints of the server's processes while wrk runs; divided by the
# number of response writes (send/sendto/writev: one per request, as wrk does not pipeline).
SYSCALL_SECS=5
SYSCALL_NAMES=(recvfrom sendto writev epoll_wait accept accept4 ioctl epoll_ctl setsockopt close)
SYSCALL_LABELS=(recv sendto writev ep_wait accept accept4 ioctl ep_ctl setsock close)
syscall_row() {
  local name=$1 mode=$2 url pids extra=() events ev out writes wpid
  if [ "$name" = nginx ]; then url=$NG_URL pids="$NG_MASTER,$NG_WORKER"; else url=$ED_URL pids=$ED_PID; fi
  [ "$mode" = close ] && extra=(-H "Connection: close")
  events="raw_syscalls:sys_enter"
  for ev in "${SYSCALL_NAMES[@]}"; do events="$events,syscalls:sys_enter_$ev"; done
  timeout -k 5 60 taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"$((SYSCALL_SECS + 2))s" \
    "${extra[@]}" "$url" >"$TMP/wrk-syscalls-$name-$mode.txt" 2>&1 &
  wpid=$!
  PIDS+=("$wpid")
  sleep 1
  out=$(perf stat -x, -e "$events" -p "$pids" -- sleep "$SYSCALL_SECS" 2>&1 >/dev/null) ||
    die "perf stat failed: $out"
  wait "$wpid" || die "wrk failed (syscalls $name $mode)"
  unset 'PIDS[${#PIDS[@]}-1]'
  # perf -x, lines: count,unit,event,...
  writes=$(awk -F, '$3 ~ /sys_enter_(sendto|writev)$/ {s += $1} END {print s + 0}' <<<"$out")
  [ "$writes" -gt 0 ] || die "no response writes counted for $name ($mode)"
  printf '  %-6s %-9s' "$name" "$mode"
  for ev in raw_syscalls:sys_enter "${SYSCALL_NAMES[@]/#/syscalls:sys_enter_}"; do
    awk -F, -v e="$ev" -v w="$writes" '$3 == e {printf " %7.2f", $1 / w}' <<<"$out"
  done
  printf '\n'
}
if [ "$SYSCALLS" != 0 ]; then
  echo
  echo "== system calls per request (perf stat, ${SYSCALL_SECS}s under the same wrk load)"
  if ! perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom -- true >/dev/null 2>&1; then
    echo "  skipped: perf cannot read the syscall tracepoints here (needs root and tracefs)"
  else
    printf '  %-6s %-9s %7s' server mode all
    for ev in "${SYSCALL_LABELS[@]}"; do printf ' %7s' "$ev"; done
    printf '\n'
    for mode in keepalive close; do
      syscall_row nginx "$mode"
      syscall_row edged "$mode"
    done
  fi
fi

# Anything the servers logged at warn or above.
if [ -s "$TMP/edged.log" ]; then echo; echo "== edged log (warn+)"; head -20 "$TMP/edged.log"; fi
if [ -s "$TMP/nginx/logs/error.log" ]; then echo; echo "== nginx error.log"; head -20 "$TMP/nginx/logs/error.log"; fi
