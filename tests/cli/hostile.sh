#!/usr/bin/env bash
# `infercost` under the limits, signals and files a hostile environment gives it (issue 12): an
# address-space limit, a memory cgroup, a full disk, SIGTERM, a device or a directory as --out, a
# run killed by SIGKILL, more OpenMP threads than cores. Each case prints PASS, FAIL or SKIP with
# the reason (the cgroup, the tmpfs and the device node need root; CI runs as root).
#   bash tests/cli/hostile.sh path/to/infercost
set -uo pipefail
B="$(realpath "${1:?usage: hostile.sh path/to/infercost}")"
work="$(mktemp -d /tmp/infercost-hostile.XXXXXX)"
failures=0
cleanup() {
  mountpoint -q "$work/full" 2>/dev/null && umount "$work/full"
  [[ -n "${cgroup_dir:-}" && -d "$cgroup_dir" ]] && rmdir "$cgroup_dir" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
skip() { echo "SKIP $1: $2"; }
# The run's own status in a results file (two spaces of indentation; cases are deeper).
run_status() { sed -n 's/^  "status": "\([a-z]*\)".*/\1/p' "$1"; }
sanitized() { ldd "$B" 2>/dev/null | grep -q libasan; }

# An address-space limit: OpenBLAS's worker retried an allocation forever while exit() joined it
# (even --version hung), and the quick suite died of std::bad_alloc.
case_ulimit() {
  if sanitized; then skip ulimit "AddressSanitizer reserves terabytes of address space"; return; fi
  local rc
  timeout 20 bash -c "ulimit -v 200000; exec '$B' --version" >/dev/null 2>&1
  rc=$?
  [[ $rc -eq 0 ]] || { fail ulimit "--version under ulimit -v 200000: exit $rc (124: hung)"; return; }
  for limit in 200000 400000; do
    timeout 60 bash -c "ulimit -v $limit; exec '$B' run --suite quick --out '$work/v$limit.json'" >"$work/v.log" 2>&1
    rc=$?
    if [[ $rc -ne 2 ]] || ! grep -q "ulimit -v" "$work/v.log"; then
      fail ulimit "run under ulimit -v $limit: exit $rc (want 2, refused with the figures): $(tail -c 400 "$work/v.log")"
      return
    fi
  done
  pass "ulimit -v: --version ends, a run that cannot fit is refused (exit 2) naming the limit"
}

# A memory cgroup of 100 MiB (v2 memory.max, or v1 memory.limit_in_bytes): the run must be refused
# with the figures, not OOM-killed.
case_cgroup() {
  local v2_root=/sys/fs/cgroup self limit_file
  if grep -qw memory "$v2_root/cgroup.controllers" 2>/dev/null; then
    # A child of the root: a v2 cgroup that holds processes cannot give its children controllers.
    grep -qw memory "$v2_root/cgroup.subtree_control" || echo +memory >"$v2_root/cgroup.subtree_control" 2>/dev/null
    cgroup_dir="$v2_root/infercost-hostile-$$"
    limit_file=memory.max
  elif [[ -d /sys/fs/cgroup/memory ]]; then
    self="$(sed -n 's/^[0-9]*:[a-z,]*memory[a-z,]*://p' /proc/self/cgroup)"
    cgroup_dir="/sys/fs/cgroup/memory${self%/}/infercost-hostile-$$"
    limit_file=memory.limit_in_bytes
  else
    skip cgroup "no cgroup memory controller mounted"; return
  fi
  if ! mkdir "$cgroup_dir" 2>/dev/null || ! echo $((100 << 20)) >"$cgroup_dir/$limit_file" 2>/dev/null; then
    skip cgroup "cannot create a memory cgroup at $cgroup_dir (needs root and a writable cgroup tree)"
    return
  fi
  local rc
  timeout 120 bash -c "echo \$\$ > '$cgroup_dir/cgroup.procs' && exec '$B' run --suite quick --out '$work/cg.json'" \
    >"$work/cg.log" 2>&1
  rc=$?
  if [[ $rc -eq 2 ]] && grep -q "cgroup memory limit" "$work/cg.log"; then
    pass "memory cgroup of 100 MiB: refused before allocating (exit 2), naming the cgroup's limit"
  else
    fail cgroup "exit $rc (want 2; 137 is the OOM killer): $(tail -c 400 "$work/cg.log")"
  fi
}

# A full disk: the error names the reason (errno), no temporary file is left, and the last
# complete file no longer says "running".
case_disk_full() {
  mkdir -p "$work/full"
  if ! mount -t tmpfs -o size=64k tmpfs "$work/full" 2>/dev/null; then
    skip disk-full "cannot mount a tmpfs (needs root)"; return
  fi
  local rc
  timeout 120 "$B" run --suite quick --out "$work/full/r.json" >"$work/full.log" 2>&1
  rc=$?
  local leftovers status
  leftovers="$(find "$work/full" -name '*.tmp' | wc -l)"
  status="$( [[ -f "$work/full/r.json" ]] && run_status "$work/full/r.json")"
  if [[ $rc -eq 1 ]] && grep -q "No space left on device" "$work/full.log" && [[ $leftovers -eq 0 ]] &&
    [[ "$status" != running ]]; then
    pass "full disk: exit 1 naming 'No space left on device', no temporary left, file status '${status:-none}'"
  else
    fail disk-full "exit $rc, $leftovers temporaries, status '${status}': $(tail -c 400 "$work/full.log")"
  fi
  umount "$work/full"
}

# SIGTERM (timeout, CI runners) stops the run between cases like Ctrl-C: exit 143 and a file that
# says "interrupted". The stale temporary of a run killed by SIGKILL is removed by the next run.
case_sigterm() {
  local out="$work/term.json" stale="$work/.term.json.999999999.tmp"
  : >"$stale"
  "$B" run --suite quick --context 2048 --batch 1,4 --out "$out" >"$work/term.log" 2>&1 &
  local pid=$! waited=0
  until grep -q '"id":' "$out" 2>/dev/null || ((waited > 600)); do
    sleep 0.05
    waited=$((waited + 1))
  done
  kill -TERM "$pid"
  wait "$pid"
  local rc=$?
  if [[ $rc -eq 143 ]] && [[ "$(run_status "$out")" == interrupted ]] && grep -q SIGTERM "$out"; then
    pass "SIGTERM: exit 143, the file says \"interrupted\" by SIGTERM"
  else
    fail sigterm "exit $rc, status '$(run_status "$out")': $(tail -c 400 "$work/term.log")"
  fi
  if [[ -e "$stale" ]]; then fail sigkill-leftover "$stale was not removed"; else pass "a dead run's temporary is removed"; fi
}

# --out naming a device or a directory is refused before measuring, and left as it was.
case_out_not_regular() {
  mkdir -p "$work/a-directory"
  local rc
  "$B" run --suite quick --out "$work/a-directory" >"$work/dir.log" 2>&1
  rc=$?
  if [[ $rc -ne 2 || ! -d "$work/a-directory" ]]; then fail out-directory "exit $rc: $(tail -c 400 "$work/dir.log")"; fi
  if ! mknod "$work/null" c 1 3 2>/dev/null; then
    skip out-device "cannot mknod (needs root)"; return
  fi
  "$B" run --suite quick --out "$work/null" >"$work/dev.log" 2>&1
  rc=$?
  if [[ $rc -eq 2 && -c "$work/null" ]] && grep -q "character device" "$work/dev.log"; then
    pass "--out a device or a directory: refused (exit 2), left as it was"
  else
    fail out-device "exit $rc, still a device: $([[ -c "$work/null" ]] && echo yes || echo no): $(tail -c 400 "$work/dev.log")"
  fi
}

# OMP_NUM_THREADS above the cores: capped, with a warning, and the ceilings measured at the cores.
case_threads() {
  local cores rc
  cores="$(nproc)"
  OMP_NUM_THREADS=64 timeout 120 "$B" run --suite quick --out "$work/threads.json" >"$work/threads.log" 2>&1
  rc=$?
  local used
  used="$(sed -n 's/^ *"threads_used": \([0-9]*\).*/\1/p' "$work/threads.json" 2>/dev/null)"
  if [[ $rc -eq 0 && -n "$used" && $used -le $cores ]] && grep -q "64 threads requested" "$work/threads.log"; then
    pass "OMP_NUM_THREADS=64 on $cores cores: $used threads used, with a warning"
  else
    fail threads "exit $rc, threads_used '$used' on $cores cores: $(tail -c 400 "$work/threads.log")"
  fi
}

case_ulimit
case_cgroup
case_disk_full
case_sigterm
case_out_not_regular
case_threads
((failures == 0)) || { echo "$failures case(s) failed"; exit 1; }
echo "all cases passed or were skipped with a reason"
