#!/usr/bin/env bash
# Fetches any Debian 12 source package into the ignored cache, .cache/<package>/, and prints
# the unpacked source folder on its last line:
#   scripts/fetch-debian-source.sh PACKAGE [UPSTREAM_VERSION]
#   scripts/fetch-debian-source.sh xz-utils 5.4.1   -> .cache/xz-utils/xz-utils-5.4.1
# The download itself is scripts/fetch-musl.sh's (apt with a private deb-src list and private
# state folders: the system's apt configuration is neither read nor changed). This script adds
# what a benchmark of several packages needs: the Debian version fetched, on stderr, and a check
# of the upstream version, so that figures are never silently measured on another release.
# Third-party sources stay in .cache/ and are never committed.
set -euo pipefail
package="${1:?usage: fetch-debian-source.sh PACKAGE [UPSTREAM_VERSION]}"
expected="${2:-}"
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$(bash "$root/scripts/fetch-musl.sh" "$package" | tail -n 1)"
# The .dsc names the exact Debian version: <package>_<epoch-less version>.dsc (Debian Policy 5.6.12).
cache="${WASI_MMAN_CACHE:-$root/.cache}"
dsc="$(ls "$cache/$package/"*.dsc 2>/dev/null | head -n 1)"
[ -n "$dsc" ] || { echo "fetch-debian-source.sh: no .dsc for $package in $cache/$package" >&2; exit 1; }
version="$(sed -n 's/^Version: //p' "$dsc" | head -n 1)"
upstream="${version#*:}"
upstream="${upstream%-*}"
if [ -n "$expected" ] && [ "${upstream%%[+~]*}" != "$expected" ] && [ "$upstream" != "$expected" ]; then
  echo "fetch-debian-source.sh: $package is $version here, expected upstream $expected" >&2
  exit 1
fi
echo "fetch-debian-source.sh: $package $version" >&2
echo "$src"
