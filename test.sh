#!/usr/bin/env bash
# Quick start, part two: install what is missing, then build and run the
# whole suite twice: a normal build, and one under AddressSanitizer +
# UndefinedBehaviorSanitizer (leaks are failures). Exits non-zero if any
# test fails.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
jobs=$(nproc)
for cfg in normal asan; do
  if [ "$cfg" = normal ]; then dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORRAL_SANITIZE=OFF)
  else dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DCORRAL_SANITIZE=ON); fi
  echo "=== $cfg build ($dir)"
  cmake -S . -B "$dir" "${flags[@]}" -DCORRAL_DEV_EXCLUDE= -DCORRAL_DEV_EXTRA= >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "=== $cfg tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 900
done
echo "=== all tests passed (normal and ASan+UBSan)"
