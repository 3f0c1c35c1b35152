#!/usr/bin/env bash
# Fuzzes the config loader and the results reader (tests/fuzz) with libFuzzer under ASan + UBSan:
# installs clang when missing, builds the "fuzz" preset and runs each target for SECONDS (default
# 60), all targets at once, one per core. Each starts from its seed corpus and its saved
# regressions (so a regression not yet fixed fails at once); the inputs it adds go to
# build/fuzz/work/<target>/, never into the repository, and a failing input to
# build/fuzz/artifacts/<target>/. Prints each target's executions and crashes.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]    TARGET: config, results (default: both)
# Exits 1 when a target crashed (or leaked, or timed out on one input), 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(config results)
usage() {
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (SECONDS >= 1, default 60; TARGET: ${all_targets[*]})" >&2
  exit 2
}

seconds=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
((seconds >= 1)) || usage
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $target "* ]] || usage
done

bash scripts/setup.sh fuzz
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz >/dev/null

export UBSAN_OPTIONS=print_stacktrace=1
declare -A pids
for target in "${targets[@]}"; do
  work="build/fuzz/work/$target"
  artifacts="build/fuzz/artifacts/$target"
  rm -rf "$artifacts"  # so that what is there afterwards is this run's
  mkdir -p "$work" "$artifacts"
  extra_seeds=()
  [[ $target == config ]] && extra_seeds=(tests/data)  # the real configs, not copied into the corpus
  # -timeout: one input taking 10 s is a bug (a hang), reported like a crash.
  "build/fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -dict="tests/fuzz/$target.dict" -artifact_prefix="$artifacts/" \
    "$work" "tests/fuzz/corpus/$target" "${extra_seeds[@]}" "tests/fuzz/regressions/$target" >"build/fuzz/$target.log" 2>&1 &
  pids[$target]=$!
done

failed=0
for target in "${targets[@]}"; do
  status=0
  wait "${pids[$target]}" || status=$?
  log="build/fuzz/$target.log"
  final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  crashes=$(find "build/fuzz/artifacts/$target" -type f | wc -l)
  echo "fuzz_$target: ${seconds} s, $(final_stat number_of_executed_units) executions ($(final_stat average_exec_per_sec)/s)," \
    "$(final_stat new_units_added) new inputs, $crashes crashes (exit status $status; log $log)"
  if ((status != 0 || crashes != 0)); then
    failed=1
    # The report in short: the error, the frames in infercost's code and the fuzz target; the log
    # has the whole stack.
    grep -E 'ERROR|runtime error:|^terminate called|what\(\)|fuzz property violated|SUMMARY|#[0-9]+ .* in (infercost::|LLVMFuzzerTestOneInput)' \
      "$log" | cut -c1-300 >&2 || true
    find "build/fuzz/artifacts/$target" -type f -printf "  input: %p\n" >&2
    echo "  reproduce: build/fuzz/tests/fuzz/fuzz_$target INPUT; keep it in tests/fuzz/regressions/$target/" >&2
  fi
done
exit "$failed"
