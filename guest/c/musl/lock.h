/*
 * musl's internal lock (musl: src/internal/lock.h).
 * - Without threads: taking and releasing a lock do nothing, and the lock word is only
 *   evaluated so that it counts as used.
 * - Under -pthread (_REENTRANT): a futex lock on the word (futex.h), as musl's __lock is one.
 *   musl's lock words are `volatile int[1]` (mallocng's __malloc_lock, lite_malloc's lock).
 */
#ifndef WASI_MMAN_MUSL_LOCK_H
#define WASI_MMAN_MUSL_LOCK_H

#include "musl-wasm.h"

#ifdef _REENTRANT
#include "futex.h"
#define LOCK(lock_word) __wasi_mman_lock(lock_word)
#define UNLOCK(lock_word) __wasi_mman_unlock(lock_word)
#else
#define LOCK(lock_word) ((void)(lock_word))
#define UNLOCK(lock_word) ((void)(lock_word))
#endif

#endif
