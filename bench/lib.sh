# bench/lib.sh — helpers shared by the benchmark scripts (sourced, bash only).
# They expect TMP (the run's temp dir) and PIDS (every process the script started) to be set
# before wait_ready or cleanup runs.

log() { printf '%s\n' "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

# A free TCP port below the ephemeral range (a close-mode run uses many ephemeral ports), never
# one handed out before in this run.
USED_PORTS=" "
free_port() {
  local p hex
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    hex=$(printf ':%04X ' "$p")
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{print $2" "}' | grep -qF "$hex"; then
      USED_PORTS="$USED_PORTS$p "
      echo "$p"; return 0
    fi
  done
  die "no free port found"
}

# utime+stime (clock ticks) summed over the given pids.
cpu_ticks() {
  local total=0 pid stat f
  for pid in "$@"; do
    stat=$(<"/proc/$pid/stat") || die "process $pid is gone"
    read -r -a f <<<"${stat##*) }"  # fields after "(comm)": f[0] is field 3 (state)
    total=$((total + f[11] + f[12]))  # fields 14 (utime) and 15 (stime)
  done
  echo "$total"
}

# Busy and total clock ticks of one CPU, from /proc/stat ("busy total").
cpu_busy() {
  awk -v c="cpu$1" '$1 == c {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t}' /proc/stat
}

# Busy percentage of one CPU between two cpu_busy samples.
busy_pct() {
  local a b; read -r -a a <<<"$1"; read -r -a b <<<"$2"
  awk -v b=$((b[0] - a[0])) -v t=$((b[1] - a[1])) 'BEGIN {printf "%.0f", (t > 0) ? 100 * b / t : 0}'
}

# Wait until URL answers 200, while PID stays alive.
wait_ready() {
  local url=$1 pid=$2 name=$3
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || die "$name exited at start-up; see $TMP"
    [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ] && return 0
    sleep 0.1
  done
  die "$name did not answer 200 on $url within 10 s"
}

# The median of the arguments (numbers).
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# a / b with two decimals, n/a when b is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf (b > 0) ? "%.2f" : "n/a", a / b}'; }

# The EXIT trap: stop every process in PIDS (TERM, up to 5 s, then KILL) and remove TMP, unless
# KEEP_TMP=1 or the run failed (then its configs and logs are kept for a look).
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 50); do  # up to 5 s for a clean exit, then SIGKILL
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "${KEEP_TMP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}

# Drops a pid from PIDS once it is gone.
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# Stops one process started here: TERM, up to 5 s, then KILL; then forgets it.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget "$pid"
}

# The children of a pid (an nginx master's workers), from /proc.
children_of() {
  local d stat f
  for d in /proc/[0-9]*; do
    stat=$(cat "$d/stat" 2>/dev/null) || continue
    read -r -a f <<<"${stat##*) }"
    [ "${f[1]}" = "$1" ] && echo "${d#/proc/}"
  done
  return 0
}

# Installs the Debian packages named (none: nothing to do) with apt-get, as root; "nginx" is
# tried as the small nginx-light first. Stops the run with the install command otherwise.
install_missing() {
  [ $# -gt 0 ] || return 0
  local pkgs=("${@/nginx/nginx-light}")
  [ "$(id -u)" -eq 0 ] || die "missing: $* (run as root, or: sudo apt-get install ${pkgs[*]})"
  command -v apt-get >/dev/null || die "missing: $* and no apt-get here"
  log "installing: $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Builds edged (Release, from the repository root) when $EDGED is not there yet.
ensure_edged() {
  if [ ! -x "$EDGED" ]; then
    log "building edged"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build --target edged -j "$(nproc)" >/dev/null
  fi
  [ -x "$EDGED" ] || die "edged binary not found at $EDGED"
}
