/*
 * musl's internal lock (musl: src/internal/lock.h). One thread: taking and releasing a lock
 * do nothing, and the lock word is only evaluated so that it counts as used.
 */
#ifndef WASI_MMAN_MUSL_LOCK_H
#define WASI_MMAN_MUSL_LOCK_H

#include "musl-wasm.h"

#define LOCK(lock_word) ((void)(lock_word))
#define UNLOCK(lock_word) ((void)(lock_word))

#endif
