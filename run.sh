#!/usr/bin/env bash
# Quick start, part one: install what is missing, build, and start corrald
# in its all-in-one default (127.0.0.1:8750; as root its state lives in
# /var/lib/corral and the admin token in /var/lib/corral/admin.token).
# Any corrald option may follow: ./run.sh --listen 0.0.0.0:8750
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
exec build/corrald "$@"
