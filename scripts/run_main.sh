#!/usr/bin/env bash
# The main job: installs what is missing, builds the release preset, and runs `infercost run`:
# the default suite on the "small" pair (classic small-gqa vs DeepSeek small-mla, one layer each),
# ending with the side-by-side table; results in results/runs/. Extra arguments go to
# `infercost run` (e.g. --suite quick, --threads 2, --out FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null

exec build/release/infercost run "$@"
