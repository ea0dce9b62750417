#!/usr/bin/env bash
# Finds the C toolchain for wasm32-wasi and prints it as KEY=VALUE lines on stdout:
#   WASI_CC=...        clang that targets wasm32-wasi
#   WASI_AR=...        llvm-ar for static libraries
#   WASI_SYSROOT=...   wasi-libc's sysroot ("" when the compiler finds it itself, as Debian's does)
#   WASI_TOOLCHAIN=... "wasi-sdk" or "debian"
# Search order: $WASI_SDK_PATH (a wasi-sdk install), then Debian 12's packages
# clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32. When those are missing and installing is
# allowed (--install, or WASI_MMAN_INSTALL=1), installs them with apt (as root, or via sudo).
# When no toolchain can be had, prints one loud line on stderr and exits 1.
# --check also compiles and links an empty program, proving the whole chain works.
set -euo pipefail

install=0; check=0
[ "${WASI_MMAN_INSTALL:-0}" = 1 ] && install=1
for arg in "$@"; do
  case "$arg" in
    --install) install=1 ;;
    --check) check=1 ;;
    *) echo "toolchain.sh: unknown option $arg (use --install, --check)" >&2; exit 2 ;;
  esac
done

loud() { echo "*** NO C TOOLCHAIN FOR WASM32-WASI: $* ***" >&2; exit 1; }

debian_packages=(clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32)

find_wasi_sdk() {
  local sdk="$1"
  [ -x "$sdk/bin/clang" ] || return 1
  WASI_CC="$sdk/bin/clang"
  WASI_AR="$sdk/bin/llvm-ar"; [ -x "$WASI_AR" ] || WASI_AR="$(command -v llvm-ar || true)"
  WASI_SYSROOT="$sdk/share/wasi-sysroot"
  [ -d "$WASI_SYSROOT" ] || return 1
  WASI_TOOLCHAIN=wasi-sdk
}

# Debian's clang-16 finds wasm-ld (lld-16), the sysroot (/usr/include/wasm32-wasi,
# /usr/lib/wasm32-wasi: package wasi-libc) and the builtins (libclang-rt-16-dev-wasm32) itself.
find_debian() {
  command -v clang-16 >/dev/null || return 1
  [ -x /usr/lib/llvm-16/bin/wasm-ld ] || return 1
  [ -f /usr/lib/wasm32-wasi/libc.a ] || return 1
  [ -f /usr/lib/llvm-16/lib/clang/16/lib/wasi/libclang_rt.builtins-wasm32.a ] || return 1
  WASI_CC="$(command -v clang-16)"
  WASI_AR="$(command -v llvm-ar-16 || command -v llvm-ar || true)"
  [ -n "$WASI_AR" ] || WASI_AR=/usr/lib/llvm-16/bin/llvm-ar
  WASI_SYSROOT=""
  WASI_TOOLCHAIN=debian
}

install_debian() {
  command -v apt-get >/dev/null || return 1
  local sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || return 1
    sudo_cmd=(sudo -n)
  fi
  echo "toolchain.sh: installing ${debian_packages[*]} with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >&2 &&
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${debian_packages[@]}" >&2
}

found=0
if [ -n "${WASI_SDK_PATH:-}" ]; then
  find_wasi_sdk "$WASI_SDK_PATH" && found=1 ||
    loud "WASI_SDK_PATH=$WASI_SDK_PATH has no bin/clang and share/wasi-sysroot"
fi
[ "$found" = 1 ] || { find_debian && found=1; } || true
if [ "$found" = 0 ] && [ "$install" = 1 ]; then
  install_debian || loud "apt-get install ${debian_packages[*]} failed"
  find_debian && found=1 || true
fi
[ "$found" = 1 ] || loud "install ${debian_packages[*]} (Debian 12), set WASI_SDK_PATH, or rerun with --install"
[ -x "$WASI_AR" ] || loud "no llvm-ar next to $WASI_CC"

if [ "$check" = 1 ]; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  echo 'int main(void) { return 0; }' > "$scratch/empty.c"
  sysroot_flag=(); [ -n "$WASI_SYSROOT" ] && sysroot_flag=(--sysroot="$WASI_SYSROOT")
  "$WASI_CC" --target=wasm32-wasi "${sysroot_flag[@]}" -O2 "$scratch/empty.c" -o "$scratch/empty.wasm" 2>"$scratch/log" ||
    loud "$WASI_CC cannot build for wasm32-wasi: $(head -n 1 "$scratch/log")"
fi

echo "WASI_CC=$WASI_CC"
echo "WASI_AR=$WASI_AR"
echo "WASI_SYSROOT=$WASI_SYSROOT"
echo "WASI_TOOLCHAIN=$WASI_TOOLCHAIN"
