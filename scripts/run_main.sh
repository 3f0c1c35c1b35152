#!/usr/bin/env bash
# The main job: installs what is missing, builds the release preset, and prints the analytic
# cost of the classic and the DeepSeek design at the built-in "small" shape, then at the
# published shapes, then the claims catalogue. Extra arguments go to `infercost cost`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
bin=build/release/infercost

"$bin" claims
"$bin" cost --compare deepseek-v3,deepseek-v2,llama-3.1-405b,qwen2.5-72b,mixtral-8x7b "$@"
"$bin" cost --compare small-gqa,small-mla "$@"
