#!/bin/sh
# Runs a command while the machine is kept busy: one CPU hog (`yes > /dev/null`) pinned to each
# core (HOGS of them, default one per core), so that the tests it runs get less CPU than they
# would on a quiet machine, as on a shared CI runner. The hogs are this script's own children,
# stopped by pid when the command ends (or the script is interrupted).
#   tests/under_load.sh COMMAND [ARGS...]
# make test-stress uses it; its exit status is the command's.
set -eu
cores=$(nproc 2>/dev/null || echo 2)
hogs=${HOGS:-$cores}
pids=""
stop_hogs() {
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  pids=""
}
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT TERM
i=0
while [ "$i" -lt "$hogs" ]; do
  core=$((i % cores))
  if command -v taskset >/dev/null 2>&1; then
    taskset -c "$core" yes >/dev/null &
  else
    yes >/dev/null &
  fi
  pids="$pids $!"
  i=$((i + 1))
done
echo "under_load: $hogs CPU hog(s) on $cores core(s) (pids$pids)"
t0=$(date +%s)
status=0
"$@" || status=$?
echo "under_load: '$*' took $(( $(date +%s) - t0 )) s, exit $status"
exit $status
