#!/usr/bin/env bash
# Installs what is missing, builds with a CMake preset (default: release) and runs every test.
#   bash scripts/run_tests.sh [release|debug|asan-ubsan]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"

bash scripts/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" -j2
