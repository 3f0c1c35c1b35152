#!/usr/bin/env bash
# Installs what is missing, builds with a CMake preset (default: release) and runs every test.
#   bash scripts/run_tests.sh [release|debug|asan-ubsan]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"

bash scripts/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
if [[ "$preset" == asan-ubsan ]]; then
  # The bench smoke runs build real-shape layers (a 2 GiB MoE layer among them), which under
  # AddressSanitizer's shadow memory take many minutes; the release run covers them.
  ctest --preset "$preset" -j2 -LE bench-smoke
else
  ctest --preset "$preset" -j2
fi
