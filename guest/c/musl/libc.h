/*
 * The part of musl's global libc state its allocators read (musl: src/internal/libc.h).
 * - need_locks: always 0; the guest is single-threaded (wasi-libc here has no threads), so
 *   musl's lock paths are never taken.
 * - auxv: an empty auxiliary vector (WASI has none). mallocng then seeds its meta-area check
 *   value from an address instead of AT_RANDOM; oldmalloc uses &auxv[0] only to recognise the
 *   main stack, which lies in the data area below the heap base, so it never matches.
 */
#ifndef WASI_MMAN_MUSL_LIBC_H
#define WASI_MMAN_MUSL_LIBC_H

#include "musl-wasm.h"

struct __wasi_mman_libc {
  volatile signed char need_locks;
  size_t *auxv;
};

hidden extern struct __wasi_mman_libc __wasi_mman_libc;
#define libc __wasi_mman_libc

#endif
