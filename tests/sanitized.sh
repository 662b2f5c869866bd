#!/bin/sh
# Runs CTest in a sanitizer build and fails on any report, also from the edged processes the
# end-to-end tests start (whose own exit status a test may not see): every report goes to a file
# under BUILD/sanitizer-reports, and the run fails when one is there.
#   tests/sanitized.sh BUILD [ctest arguments...]
set -eu
build=$1
shift
reports="$(cd "$build" && pwd)/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
# detect_leaks: LeakSanitizer at each process's exit. halt_on_error/abort: the first report ends
# the process (a test then fails where it happened, with the report in the file).
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=1:second_deadlock_stack=1"
status=0
(cd "$build" && ctest --output-on-failure -j "${JOBS:-2}" "$@") || status=$?
if [ -n "$(ls -A "$reports")" ]; then
  echo "sanitizer reports:" >&2
  for f in "$reports"/*; do
    echo "== $f" >&2
    head -60 "$f" >&2
  done
  exit 1
fi
exit $status
