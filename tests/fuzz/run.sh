#!/bin/sh
# Runs each libFuzzer target for SECONDS on its corpus: the seeds checked in under
# tests/fuzz/corpus/<target>/ plus what earlier runs in BUILD found (BUILD/corpus/<target>/).
# A crash, leak, timeout (10 s per input) or out-of-memory (2 GiB) fails the run; its input is
# written to BUILD/fuzz-artifacts/ and printed (path and Base64, whatever its size), to be kept
# as a seed with the fix. What failed is also kept in BUILD/fuzz-failures.txt, which CI prints
# again at the end of its log.
#   tests/fuzz/run.sh BUILD SECONDS TARGET...
set -eu
build=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/fuzz-artifacts"
report="$build/fuzz-failures.txt"
: > "$report"
failed=""
for t in "$@"; do
  mkdir -p "$build/corpus/$t"
  dict=""
  [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
  # FUZZ_SEED (CI sets it): the same mutation sequence on every run, so a pass here is a pass
  # there; without it each run explores anew.
  seed=""
  [ -n "${FUZZ_SEED:-}" ] && seed="-seed=$FUZZ_SEED"
  echo "fuzz: $t for ${seconds}s"
  stamp="$build/fuzz-$t.started"
  : > "$stamp"
  # -max_len bounds an input (a request path input must fit a socketpair's buffer).
  if ! ASAN_OPTIONS=detect_leaks=1:symbolize=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$build/fuzz_$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" $dict $seed \
      "$build/corpus/$t" "$here/corpus/$t" > "$build/fuzz-$t.log" 2>&1; then
    # What failed and its input, not the dictionary and stats that end its log. (libFuzzer's
    # own Base64 line is only there for inputs of a few hundred bytes.)
    {
      echo "== fuzz_$t failed"
      if grep -qE "^==[0-9]+== ?ERROR" "$build/fuzz-$t.log"; then
        grep -E -A30 "^==[0-9]+== ?ERROR" "$build/fuzz-$t.log" | head -60
      else
        tail -50 "$build/fuzz-$t.log"
      fi
      find "$build/fuzz-artifacts" -name "$t-*" -newer "$stamp" -type f | while read -r f; do
        echo "input: $f ($(wc -c < "$f") bytes); Base64 (base64 -d > input to rebuild it):"
        base64 -w 76 < "$f"
      done
    } | tee -a "$report" >&2
    failed="$failed $t"
  else
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov:" "$build/fuzz-$t.log" | tail -3
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz: failed:$failed (inputs in $build/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz: all passed"
