#!/usr/bin/env bash
# Installs the Debian 12 packages infercost needs to build, test and run; with "fuzz", also those
# the fuzz targets need (scripts/fuzz.sh).
#   bash scripts/setup.sh [fuzz]
# Idempotent: when everything is present it installs nothing and prints nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libbenchmark-dev libgtest-dev libgmock-dev
  libfmt-dev libhwloc-dev nlohmann-json3-dev libcli11-dev
  # comparison libraries (optional at build time, used by the kernel benches); oneDNN's CMake
  # package needs the OpenCL headers, which libdnnl-dev only recommends
  libopenblas-dev libdnnl-dev ocl-icd-opencl-dev
)
case "${1:-}" in
  "") ;;
  # clang++ and its runtime libraries, libFuzzer among them (libclang_rt.fuzzer-x86_64.a)
  fuzz) packages+=(clang libclang-rt-14-dev) ;;
  *) echo "usage: setup.sh [fuzz]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
