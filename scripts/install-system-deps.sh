#!/usr/bin/env bash
# Installs the Debian packages the C guests and the browser tests need, when they are missing:
#   clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32   C to wasm32-wasi
#   libc++-16-dev-wasm32 libc++abi-16-dev-wasm32           C++ to wasm32-wasi (wasi-mman cc on .cpp sources)
#   chromium                                               headless browser tests
#   tcl make gcc                                           SQLite amalgamation and its native build (test reference)
# Needs root (or sudo). Does nothing when everything is already there.
set -euo pipefail
wanted=(clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32 libc++-16-dev-wasm32 libc++abi-16-dev-wasm32 chromium tcl make gcc)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
