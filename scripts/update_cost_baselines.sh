#!/usr/bin/env bash
# Rewrites results/cost/<preset>.json, the analytic cost of every published preset at the default
# options (`infercost cost --model NAME --json`). tests/test_cost_baselines.cpp compares the cost
# model against these files, so a change to any figure is seen and committed on purpose:
# run this after such a change and commit the files with it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target infercost >/dev/null
mkdir -p results/cost
for model in deepseek-v3 deepseek-v2 deepseek-v2-lite deepseek-llm-67b llama-3.1-8b llama-3.1-70b \
             llama-3.1-405b qwen2.5-72b mixtral-8x7b small-mla small-gqa; do
  tmp=$(mktemp results/cost/.tmp.XXXXXX)
  build/release/infercost cost --model "$model" --json > "$tmp"
  mv "$tmp" "results/cost/$model.json"  # atomic: a reader never sees half a file
done
echo "wrote $(ls results/cost/*.json | wc -l) files in results/cost/"
