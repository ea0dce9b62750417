/*
 * The atomic primitives musl's allocators use (musl: src/internal/atomic.h). Bit scans use the
 * compiler's builtins.
 * - Without threads: plain memory operations (the guest has one thread).
 * - Under -pthread (_REENTRANT): wasm's atomic instructions, sequentially consistent as musl's
 *   a_* are (musl's atomic_arch.h files all give full barriers). mallocng frees slots with
 *   a_cas outside its lock, and oldmalloc updates its bin map with a_or_64/a_and_64 under
 *   per-bin locks only, so these must be real atomics.
 */
#ifndef WASI_MMAN_MUSL_ATOMIC_H
#define WASI_MMAN_MUSL_ATOMIC_H

#include <stdint.h>

#include "musl-wasm.h"

#ifdef _REENTRANT
static inline int a_cas(volatile int *p, int expected, int wanted) {
  return __sync_val_compare_and_swap(p, expected, wanted);
}
static inline int a_swap(volatile int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline void a_store(volatile int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline void a_or(volatile int *p, int v) { __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
static inline void a_and(volatile int *p, int v) { __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
static inline void a_or_64(volatile uint64_t *p, uint64_t v) { __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
static inline void a_and_64(volatile uint64_t *p, uint64_t v) { __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
static inline void a_barrier(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#else
static inline int a_cas(volatile int *p, int expected, int wanted) {
  int old = *p;
  if (old == expected) *p = wanted;
  return old;
}
static inline int a_swap(volatile int *p, int v) {
  int old = *p;
  *p = v;
  return old;
}
static inline void a_store(volatile int *p, int v) { *p = v; }
static inline void a_or(volatile int *p, int v) { *p |= v; }
static inline void a_and(volatile int *p, int v) { *p &= v; }
static inline void a_or_64(volatile uint64_t *p, uint64_t v) { *p |= v; }
static inline void a_and_64(volatile uint64_t *p, uint64_t v) { *p &= v; }
static inline void a_barrier(void) {}
#endif
static inline int a_ctz_32(uint32_t x) { return __builtin_ctz(x); }
static inline int a_ctz_64(uint64_t x) { return __builtin_ctzll(x); }
static inline int a_clz_32(uint32_t x) { return __builtin_clz(x); }
/* musl's a_crash: stop at once on heap corruption (the wasm trap `unreachable`). */
static inline _Noreturn void a_crash(void) { __builtin_trap(); }

#endif
