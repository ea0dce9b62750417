/*
 * The atomic primitives musl's allocators use (musl: src/internal/atomic.h), as plain memory
 * operations: the guest has one thread. Bit scans use the compiler's builtins.
 */
#ifndef WASI_MMAN_MUSL_ATOMIC_H
#define WASI_MMAN_MUSL_ATOMIC_H

#include <stdint.h>

#include "musl-wasm.h"

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
static inline int a_ctz_32(uint32_t x) { return __builtin_ctz(x); }
static inline int a_ctz_64(uint64_t x) { return __builtin_ctzll(x); }
static inline int a_clz_32(uint32_t x) { return __builtin_clz(x); }
static inline void a_barrier(void) {}
/* musl's a_crash: stop at once on heap corruption (the wasm trap `unreachable`). */
static inline _Noreturn void a_crash(void) { __builtin_trap(); }

#endif
