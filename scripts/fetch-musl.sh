#!/usr/bin/env bash
# Fetches a Debian source package into the cache, $WASI_MMAN_CACHE/<package> (default: the
# checkout's .cache/; `wasi-mman cc` passes its own cache folder), default package musl (1.2.3):
#   scripts/fetch-musl.sh            -> .cache/musl/      (musl 1.2.3, for guest/c's malloc builds)
#   scripts/fetch-musl.sh sqlite3    -> .cache/sqlite3/   (the real program of fixtures/c/sqlite)
# apt runs with a private `Types: deb-src` sources list and private list/state folders, so the
# system's apt configuration is neither read nor changed, and no root is needed. The sources are
# third-party code: they live only in the ignored .cache/ folder and are never committed.
# Prints the unpacked source folder on its last line. Does nothing when it is already there.
set -euo pipefail
package="${1:-musl}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${WASI_MMAN_CACHE:-$root/.cache}"
dest="$cache/$package"
stamp="$dest/.fetched"
if [ -f "$stamp" ]; then cat "$stamp"; exit 0; fi

command -v apt-get >/dev/null ||
  { echo "fetch-musl.sh: fetching $package's source needs apt-get (Debian or Ubuntu); or unpack it into $dest and write its folder's path to $stamp" >&2; exit 1; }
apt_dir="$cache/apt-src"
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$dest"
# Bookworm's main archive, as the machine's own Debian 12 sources point at; only deb-src lines.
cat > "$apt_dir/sources.list.d/deb-src.sources" <<SOURCES
Types: deb-src
URIs: ${WASI_MMAN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt_opts=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache::Archives=$apt_dir/archives"
  -o "Debug::NoLocking=1"
)
if ! ls "$apt_dir/lists/"*Sources* >/dev/null 2>&1; then
  apt-get "${apt_opts[@]}" update -qq >&2 ||
    { echo "fetch-musl.sh: apt-get update of the deb-src list failed (no network to the Debian archive?)" >&2; exit 1; }
fi
( cd "$dest" && apt-get "${apt_opts[@]}" source --download-only -qq "$package" >&2 ) ||
  { echo "fetch-musl.sh: apt-get source $package failed (no network to the Debian archive, or no such source package?)" >&2; exit 1; }
# dpkg-source (package dpkg-dev) unpacks and applies Debian's patches. Without it, the
# upstream tarball is unpacked as it is (musl 1.2.3-1 carries no patches at all).
if command -v dpkg-source >/dev/null; then
  ( cd "$dest" && dpkg-source --no-check -x ./*.dsc >&2 ) ||
    { echo "fetch-musl.sh: dpkg-source could not unpack $package" >&2; exit 1; }
else
  orig="$(ls "$dest"/*.orig.tar.* | head -n 1)"
  [ -n "$orig" ] || { echo "fetch-musl.sh: no upstream tarball for $package" >&2; exit 1; }
  tar -xf "$orig" -C "$dest"
fi
src="$(find "$dest" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
[ -n "$src" ] || { echo "fetch-musl.sh: no unpacked source tree for $package" >&2; exit 1; }
if [ "$package" = musl ] && [ ! -f "$src/src/malloc/mallocng/malloc.c" ]; then
  echo "fetch-musl.sh: $src does not look like musl 1.2.x (no src/malloc/mallocng)" >&2; exit 1
fi
echo "$src" > "$stamp"
echo "$src"
