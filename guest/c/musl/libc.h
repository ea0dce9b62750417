/*
 * The part of musl's global libc state its allocators read (musl: src/internal/libc.h).
 * - need_locks: 0 without threads, so musl's lock paths are never taken; 1 under -pthread
 *   (_REENTRANT), where any thread may call malloc. musl itself raises it when the first thread
 *   is created; keeping it at 1 from the start costs one uncontended atomic per lock and needs
 *   no hook in pthread_create.
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

#ifdef _REENTRANT
#define WASI_MMAN_NEED_LOCKS 1
#else
#define WASI_MMAN_NEED_LOCKS 0
#endif
#define libc __wasi_mman_libc

#endif
