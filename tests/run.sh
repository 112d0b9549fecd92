#!/usr/bin/env bash
#  Runs every test binary in BUILD/tests (or those named) and ends with one
#  line: "N passed, N failed". Exits non-zero when anything failed.
#  Each binary is a cmocka suite; a binary that crashes or exits non-zero
#  without reporting counts as one failure.
set -u
build=${1:-build}; shift || true
cd "$(dirname "$0")/.." || exit 2
if [ $# -gt 0 ]; then bins=(); for t in "$@"; do bins+=("$build/tests/$t"); done
else bins=("$build"/tests/test_*); fi
passed=0; failed=0; failed_names=()
for bin in "${bins[@]}"; do
  case "$bin" in *.o|*.d) continue;; esac
  [ -x "$bin" ] || { echo "missing test binary: $bin"; failed=$((failed+1)); continue; }
  name=$(basename "$bin")
  log=$(mktemp)
  start=$EPOCHREALTIME
  #  a hung suite is a failure, not a stalled run
  timeout --signal=KILL "${GENBOT_TEST_TIMEOUT:-600}" "$bin" >"$log" 2>&1; rc=$?
  [ "$rc" = 137 ] && echo "$name: killed after ${GENBOT_TEST_TIMEOUT:-600} s" >>"$log"
  secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
  p=$(grep -aE '^\[  PASSED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | head -1)
  f=$(grep -aE '^\[  FAILED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | head -1)
  p=${p:-0}; f=${f:-0}
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed+p)); failed=$((failed+f))
  if [ "$f" != 0 ]; then
    failed_names+=("$name"); echo "---- $name (exit $rc) ----"; tail -n 60 "$log"
  fi
  printf '%-28s %4s passed %4s failed  %6ss\n' "$name" "$p" "$f" "$secs"
  rm -f "$log"
done
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
