#!/usr/bin/env bash
# bench/slow_clients.sh — what trickling (slowloris) connections cost edged, and whether
# well-behaved clients still get answers while they hold the slots.
#
#   sh bench/slow_clients.sh                  12000 trickling connections against the default
#                                             max_connections (10000)
#   SLOW=2000 MAX_CONNECTIONS=1000 sh bench/slow_clients.sh
#
# edged (build/edged, 1 I/O thread, the default limits but for max_connections and a
# header_read long enough to outlast the run) on 127.0.0.1; a Python client opens SLOW
# connections, each sending part of a request head and nothing more. Printed: edged's RSS before
# and with them held (per connection: the growth / connections held), open connections and
# evictions from /stats, and then GOOD sequential requests on new connections (each a curl):
# how many got 200. Only 127.0.0.1 is contacted; only the processes started here are stopped.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail
cd "$(dirname "$0")/.."

SLOW=${SLOW:-12000}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-10000}
GOOD=${GOOD:-200}
EDGED=${EDGED:-build/edged}
BENCH_DIR=$PWD/bench
. "$BENCH_DIR/lib.sh"
need=()
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
install_missing "${need[@]}"
ensure_edged
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((SLOW + 100)) ] || die "need more than $((SLOW + 100)) descriptors (ulimit -n)"

TMP=$(mktemp -d /tmp/edged-bench-slow.XXXXXX)
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(free_port)
ADMIN_PORT=$(free_port)
cat >"$TMP/edged.yaml" <<EOF
server:
  listen: ["127.0.0.1:$PORT"]
  threads: 1
  limits: { max_connections: $MAX_CONNECTIONS }
  timeouts: { header_read: 300s }
admin: { listen: "127.0.0.1:$ADMIN_PORT" }
log: { level: warn, access: false }
routes:
  - name: hello
    match: { path: /hello }
    handler: { static: { status: 200, body: "hello\n" } }
EOF
"$EDGED" --config "$TMP/edged.yaml" >"$TMP/edged.log" 2>&1 &
EDGED_PID=$!
PIDS+=("$EDGED_PID")
wait_ready "http://127.0.0.1:$ADMIN_PORT/readyz" "$EDGED_PID" edged
curl -s -o /dev/null "http://127.0.0.1:$PORT/hello"  # warm
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$EDGED_PID/status"; }
stat_of() { curl -s -m 2 "http://127.0.0.1:$ADMIN_PORT/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
before=$(rss)

# The trickling client: holds its connections (until it is stopped at the end).
python3 -c '
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Trickle: ")
    held.append(s)
print("open", len(held), flush=True)
time.sleep(3600)
' "$PORT" "$SLOW" >"$TMP/slow.out" 2>&1 &
SLOW_PID=$!
PIDS+=("$SLOW_PID")
for _ in $(seq 600); do grep -q '^open' "$TMP/slow.out" && break; sleep 0.1; done
grep -q '^open' "$TMP/slow.out" || die "the trickling client did not open its connections: $(cat "$TMP/slow.out")"
sleep 2
held=$(stat_of open_connections)
with=$(rss)
evicted=$(stat_of connections_evicted)
ok=0
for _ in $(seq "$GOOD"); do
  [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/hello")" = 200 ] && ok=$((ok + 1))
done
evicted_after=$(stat_of connections_evicted)
echo
echo "slow clients: $SLOW trickling connections, max_connections $MAX_CONNECTIONS, 1 I/O thread"
echo "  held open: $held (the rest gave way as they came: evicted $evicted)"
echo "  RSS: ${before} KiB before, ${with} KiB with them: $(( (with - before) * 1024 / (held > 0 ? held : 1) )) bytes per connection"
echo "  well-behaved requests on new connections meanwhile: $ok of $GOOD got 200 (evictions during them: $((evicted_after - evicted)))"
