/*
 * The futex wait/wake pair oldmalloc's lock uses (musl: src/internal/pthread_impl.h). With
 * libc.need_locks at 0 the lock never spins, so these are never reached; they exist to link.
 */
#ifndef WASI_MMAN_MUSL_PTHREAD_IMPL_H
#define WASI_MMAN_MUSL_PTHREAD_IMPL_H

#include "libc.h"
#include "syscall.h"

static inline void __wait(volatile int *addr, volatile int *waiters, int value, int private_) {
  (void)addr; (void)waiters; (void)value; (void)private_;
}
static inline void __wake(volatile void *addr, int count, int private_) {
  (void)addr; (void)count; (void)private_;
}

#endif
