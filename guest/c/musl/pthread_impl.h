/*
 * The futex wait/wake pair oldmalloc's lock uses (musl: src/internal/pthread_impl.h).
 * - Without threads, libc.need_locks is 0, the lock never spins, and these are never reached;
 *   they exist to link.
 * - Under -pthread (_REENTRANT): musl's semantics over memory.atomic.wait32/notify (futex.h).
 *   __wait spins a little, then sleeps while *addr == value, counting itself in *waiters (when given) so that the
 *   unlocking side knows to call __wake; `private_` is Linux's FUTEX_PRIVATE_FLAG choice, which
 *   has no meaning for one wasm memory.
 */
#ifndef WASI_MMAN_MUSL_PTHREAD_IMPL_H
#define WASI_MMAN_MUSL_PTHREAD_IMPL_H

#include "libc.h"
#include "syscall.h"

#ifdef _REENTRANT
#include "futex.h"

static inline void __wait(volatile int *addr, volatile int *waiters, int value, int private_) {
  (void)private_;
  /* musl's __wait spins 100 times first, while nobody sleeps yet (src/thread/__wait.c): a
   * holder of oldmalloc's bin lock is usually done within that time. */
  for (int spins = 0; spins < 100 && (!waiters || !__atomic_load_n(waiters, __ATOMIC_RELAXED)); spins++) {
    if (__atomic_load_n(addr, __ATOMIC_RELAXED) != value) return;
  }
  if (waiters) __atomic_fetch_add(waiters, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(addr, __ATOMIC_SEQ_CST) == value) __wasi_mman_futex_wait(addr, value, -1);
  if (waiters) __atomic_fetch_sub(waiters, 1, __ATOMIC_SEQ_CST);
}
static inline void __wake(volatile void *addr, int count, int private_) {
  (void)private_;
  __wasi_mman_futex_wake((volatile int *)addr, count < 0 ? 0xffffffffu : (unsigned)count);
}
#else
static inline void __wait(volatile int *addr, volatile int *waiters, int value, int private_) {
  (void)addr; (void)waiters; (void)value; (void)private_;
}
static inline void __wake(volatile void *addr, int count, int private_) {
  (void)addr; (void)count; (void)private_;
}
#endif

#endif
