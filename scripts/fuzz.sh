#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) with clang into build-fuzz/
# and runs each for a bounded time, printing executions and CPU time per
# harness. Exits non-zero if any harness found a crash; the input is then in
# build-fuzz/fuzz/crashes-<name>/ (copy it to tests/fuzz/regressions/<name>/
# once fixed, so the normal suite replays it).
#
#   FUZZ_SECONDS=60 (per harness)  FUZZ_TARGETS="http xmlrpc ..."  FUZZ_JOBS=1
set -euo pipefail
cd "$(dirname "$0")/.."
# clang and its runtime (libFuzzer, ASan, UBSan) are needed here only: the
# normal build and test.sh use gcc.
scripts/deps.sh clang libclang-rt-14-dev

secs=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"http xmlrpc envelope logfmt descriptor"}
dir=build-fuzz
CC=clang cmake -S . -B "$dir" -DCORRAL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCORRAL_DEV_EXCLUDE= -DCORRAL_DEV_EXTRA= >/dev/null
# shellcheck disable=SC2086
cmake --build "$dir" -j"$(nproc)" --target $(printf 'fuzz_%s ' $targets)

out=$dir/fuzz
failed=0
summary=()
total_cpu=0
for t in $targets; do
  work=$out/corpus-$t crashes=$out/crashes-$t
  mkdir -p "$work" "$crashes"
  log=$out/fuzz-$t.log
  echo "=== fuzz_$t for ${secs}s"
  start_cpu=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  # work first: new finds go there, the tree's seed corpus stays as written
  rc=0
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    "$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$crashes/" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  end_cpu=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  cpu=$(awk -v a="$start_cpu" -v b="$end_cpu" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b-a)/hz}')
  total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN{printf "%.1f", a+b}')
  execs=$(awk '/stat::number_of_executed_units/{print $2}' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if [ "$rc" -ne 0 ]; then
    failed=1
    echo "fuzz_$t: FAILED (exit $rc), see $log and $crashes/"
    grep -m1 -A30 -E "ERROR: |runtime error|fuzz property violated" "$log" || tail -30 "$log"
  fi
  summary+=("$(printf '%-11s %12s execs  %8ss CPU  %-10s %s' "$t" "${execs:-?}" "$cpu" "$cov" \
               "$([ "$rc" -eq 0 ] && echo ok || echo CRASH)")")
done
echo "=== fuzz summary (${secs}s each)"
printf '%s\n' "${summary[@]}"
echo "total CPU ${total_cpu}s"
exit $failed
