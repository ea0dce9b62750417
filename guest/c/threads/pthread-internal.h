/*
 * The thread structure and shared helpers of guest/c/threads: POSIX threads over wasi-threads'
 * `wasi.thread-spawn` (WebAssembly/wasi-threads), for wasi-libc's posix model, whose musl
 * <pthread.h> declares the types and functions but whose libc.a defines none of them.
 *
 * One mapping per thread, from the host's mmap (thread-safe in the shared engine), laid out
 * low to high:
 *
 *   map_base                   stack_top      tls_block             struct __pthread
 *   ├── stack (grows down) ────┤ (16-aligned) ├── TLS (.tdata/.tbss) ├── this struct ──┤
 *
 * thread-start.s reads the first four fields at fixed offsets; the asserts below keep them so.
 */
#ifndef WASI_MMAN_PTHREAD_INTERNAL_H
#define WASI_MMAN_PTHREAD_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../musl/futex.h"
#include "wasi-mman.h"

/* POSIX's minimum for PTHREAD_KEYS_MAX is 128 (limits.h); musl has 128. */
#define WASI_MMAN_KEYS 128
#define WASI_MMAN_DESTRUCTOR_ITERATIONS 4
/* musl's default thread stack (src/internal/pthread_impl.h, DEFAULT_STACK_SIZE). */
#define WASI_MMAN_DEFAULT_STACK (128 * 1024)

/* Lifecycle of a thread (struct __pthread.state), one futex word the joiner waits on. */
enum {
  THREAD_JOINABLE = 0,
  THREAD_DETACHED = 1,
  /* Returned or called pthread_exit, joinable: the joiner takes the result and unmaps it. */
  THREAD_EXITED = 2,
};

struct key_value {
  /* The key's generation when the value was set: a deleted and re-created key reads NULL. */
  unsigned generation;
  void *value;
};

struct __pthread {
  uint32_t stack_top; /* +0 */
  uint32_t tls_block; /* +4 */
  uint32_t map_base;  /* +8 */
  uint32_t map_size;  /* +12 */
  void *(*start)(void *);
  void *arg;
  void *result;
  volatile int state;
  /* The tid thread-spawn gave; 0 for the main thread, which has none (wasi-threads tids are 1..). */
  volatile int tid;
  struct key_value keys[WASI_MMAN_KEYS];
};

_Static_assert(offsetof(struct __pthread, stack_top) == 0, "thread-start.s reads +0");
_Static_assert(offsetof(struct __pthread, tls_block) == 4, "thread-start.s reads +4");
_Static_assert(offsetof(struct __pthread, map_base) == 8, "thread-start.s reads +8");
_Static_assert(offsetof(struct __pthread, map_size) == 12, "thread-start.s reads +12");

/* This thread's structure; set before any user code runs on it (pthread-create.c). */
extern _Thread_local struct __pthread *__wasi_mman_self;

/* Runs the key destructors of the calling thread (pthread-key.c), POSIX's rules. */
void __wasi_mman_run_key_destructors(struct __pthread *self);

/*
 * Nanoseconds from now until `deadline` on `clock`, for memory.atomic.wait32's relative
 * timeout; -1 for no deadline, 0 when it has passed.
 */
int64_t __wasi_mman_timeout_until(clockid_t clock, const struct timespec *deadline);

#endif
