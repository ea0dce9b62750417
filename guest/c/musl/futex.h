/*
 * Futex waits and wakes over wasm's memory.atomic.wait32 / memory.atomic.notify (threads
 * proposal), and the three-state lock built on them. Used by musl's allocators under -pthread
 * (lock.h, pthread_impl.h) and by guest/c/threads' mutexes.
 *
 * memory.atomic.wait32 blocks only if the word still holds the expected value, atomically with
 * the check, as Linux's FUTEX_WAIT does (futex(2)); its timeout is in nanoseconds, -1 for none.
 * It traps on the main thread of a browser page; here every guest thread, `_start` included,
 * runs in a worker (hosts/threads.ts), where waiting is allowed.
 */
#ifndef WASI_MMAN_FUTEX_H
#define WASI_MMAN_FUTEX_H

#include <stdint.h>

/* What memory.atomic.wait32 returns: woken, the word differed, the timeout passed. */
enum { WASI_MMAN_WAIT_WOKEN = 0, WASI_MMAN_WAIT_NOT_EQUAL = 1, WASI_MMAN_WAIT_TIMED_OUT = 2 };

/*
 * Sleeps while *word == expected, for at most timeout_ns (-1: no limit); a wake may come early.
 *
 * Out of line on purpose: Node 20's baseline wasm compiler (V8 11.3, Liftoff) loses locals that
 * are live across a memory.atomic.wait32 in a loop. A 4-thread token ring hung on every run:
 * each loop's counter and the address it stored to did not survive the wait, while with
 * --no-liftoff, or with the wait in a function of its own called from the loop, they did.
 * Every lock loop here waits in a loop, so every wait is one call of this function, in which
 * nothing is live across the wait. (runThreaded also turns Liftoff off, docs/threads.md; this
 * keeps the library right under any host.)
 */
__attribute__((__noinline__)) static int __wasi_mman_futex_wait(volatile int *word, int expected, int64_t timeout_ns) {
  return __builtin_wasm_memory_atomic_wait32((int *)word, expected, timeout_ns);
}

static inline void __wasi_mman_futex_wake(volatile int *word, unsigned count) {
  __builtin_wasm_memory_atomic_notify((int *)word, count);
}

/*
 * A lock word: 0 free, 1 held, 2 held and someone may sleep on it (the mutex of Drepper's
 * "Futexes Are Tricky", 2011, section 6). Releasing wakes one sleeper only when the word says
 * there may be one, so an uncontended lock and unlock are one atomic operation each.
 */
static inline int __wasi_mman_lock_try(volatile int *word) {
  return __sync_val_compare_and_swap(word, 0, 1) == 0;
}

static inline void __wasi_mman_lock_slow(volatile int *word) {
  /* A short spin first: the holder of an allocator's lock usually lets go within microseconds,
   * while a sleep and a wake cost a round trip through the engine's futex queue. */
  for (int spins = 0; spins < 100; spins++) {
    if (__atomic_load_n(word, __ATOMIC_RELAXED) == 0 && __wasi_mman_lock_try(word)) return;
  }
  while (__atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE) != 0) __wasi_mman_futex_wait(word, 2, -1);
}

static inline void __wasi_mman_lock(volatile int *word) {
  if (!__wasi_mman_lock_try(word)) __wasi_mman_lock_slow(word);
}

static inline void __wasi_mman_unlock(volatile int *word) {
  if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) == 2) __wasi_mman_futex_wake(word, 1);
}

#endif
