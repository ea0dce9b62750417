/*
 * What zstd's command-line program (programs/ of Debian's zstd 1.5.4 source) needs from the
 * system and wasi-libc does not say on its own, force-included into every file of the build
 * (`-include zstd-wasi.h`), so that zstd's sources stay as Debian ships them.
 *
 * - programs/platform.h decides POSIX from __unix__, which clang does not define for
 *   wasm32-wasi; the build passes -DPLATFORM_POSIX_VERSION=200809L (wasi-libc follows POSIX
 *   2008 where WASI can: stat's st_mtim, utimensat, isatty, fileno) and
 *   -DZSTD_SETPRIORITY_SUPPORT=0 (no <sys/resource.h> without process clocks).
 * - WASI has no file owners or permission bits, so wasi-libc leaves chmod and chown out of its
 *   headers (sys/stat.h, unistd.h: "WASI has no chmod"). zstd calls them only to copy the
 *   source file's mode and owner to the file it writes (programs/util.c, UTIL_setFileStat),
 *   ignores their result and clears errno after: zstd-wasi.c gives both, failing with ENOSYS.
 * - signal(): programs/fileio.c installs a SIGINT handler that removes a half-written output;
 *   wasi-libc's emulation (-D_WASI_EMULATED_SIGNAL, -lwasi-emulated-signal) accepts it.
 */
#ifndef WASI_MMAN_ZSTD_WASI_H
#define WASI_MMAN_ZSTD_WASI_H

#include <sys/types.h>

int chmod(const char *path, mode_t mode);
int chown(const char *path, uid_t owner, gid_t group);

#endif
