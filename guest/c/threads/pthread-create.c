/*
 * Threads: pthread_create, the thread's C entry, pthread_join, pthread_detach, pthread_exit,
 * pthread_self, pthread_equal and the start-up of the main thread.
 *
 * wasi-threads gives one call, `thread-spawn(start_arg) -> tid`, which runs
 * `wasi_thread_start(tid, start_arg)` in a new instance of the module over the same shared
 * memory (WebAssembly/wasi-threads README). Everything else is here: the new thread's stack,
 * its TLS block and its struct __pthread come from one host mmap (pthread-internal.h); the
 * joiner (or, for a detached thread, thread-start.s) unmaps it after the thread is done.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pthread-internal.h"

__attribute__((__import_module__("wasi"), __import_name__("thread-spawn")))
int32_t __wasi_mman_thread_spawn(void *start_arg);

/*
 * Keeps the thread-spawn import in every -pthread module, also in one that never creates a
 * thread (wasm-ld drops unused imports): hosts tell a wasi-threads module by that import, and
 * runThreaded accepts no other.
 */
__attribute__((used)) int32_t (*const __wasi_mman_keep_thread_spawn)(void *) = __wasi_mman_thread_spawn;

/* Made by wasm-ld for a shared memory: copies .tdata into `block`, sets __tls_base to it. */
void __wasm_init_tls(void *block);

_Thread_local struct __pthread *__wasi_mman_self;

static struct __pthread main_thread = { .state = THREAD_DETACHED };

/* Threads created and not yet finished; the main thread's pthread_exit waits for 0. */
static volatile int live_threads;

static uint32_t align_up(uint32_t value, uint32_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

/*
 * The main thread's start-up, before every other constructor (wasi-libc's own start at
 * priority 50: environ, preopens) and before main.
 *
 * wasm-ld's __wasm_init_memory initialises the data segments once per memory, in whichever
 * instance starts first, and only that instance gets __tls_base pointed at the static TLS
 * block. Under a wasi-threads host the first instance may be one that runs nothing (runThreaded
 * reads __heap_base from one), so the instance that runs `_start` can find __tls_base still 0:
 * TLS variables, errno among them, would then live at address 0 with .tdata's initial values
 * never copied. Such an instance gets a block of its own from the host here.
 */
__attribute__((constructor(1))) static void start_main_thread(void) {
  if (__builtin_wasm_tls_base() == NULL) {
    uint32_t align = (uint32_t)__builtin_wasm_tls_align();
    uint32_t size = (uint32_t)__builtin_wasm_tls_size() + align;
    uint32_t raw = (uint32_t)__wasi_mman_mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* No memory for eight bytes of TLS at start-up: nothing sensible can run. */
    if (__wasi_mman_is_error(raw)) __builtin_trap();
    __wasm_init_tls((void *)(uintptr_t)align_up(raw, align ? align : 1));
  }
  __wasi_mman_self = &main_thread;
}

int pthread_attr_init(pthread_attr_t *attr) {
  *attr = (pthread_attr_t){ 0 };
  return 0;
}

int pthread_attr_destroy(pthread_attr_t *attr) {
  (void)attr;
  return 0;
}

/* The attribute words: __s[0] the stack size (0: the default), __i[3] the detach state. */
int pthread_attr_setstacksize(pthread_attr_t *attr, size_t size) {
  if (size < PTHREAD_STACK_MIN || size > (1u << 30)) return EINVAL;
  attr->__u.__s[0] = size;
  return 0;
}

int pthread_attr_getstacksize(const pthread_attr_t *restrict attr, size_t *restrict size) {
  *size = attr->__u.__s[0] ? attr->__u.__s[0] : WASI_MMAN_DEFAULT_STACK;
  return 0;
}

int pthread_attr_setdetachstate(pthread_attr_t *attr, int state) {
  if (state != PTHREAD_CREATE_JOINABLE && state != PTHREAD_CREATE_DETACHED) return EINVAL;
  attr->__u.__i[3] = state;
  return 0;
}

int pthread_attr_getdetachstate(const pthread_attr_t *attr, int *state) {
  *state = attr->__u.__i[3];
  return 0;
}

int pthread_create(pthread_t *restrict out, const pthread_attr_t *restrict attr, void *(*start)(void *), void *restrict arg) {
  uint32_t stack = attr && attr->__u.__s[0] ? (uint32_t)attr->__u.__s[0] : WASI_MMAN_DEFAULT_STACK;
  uint32_t tls_align = (uint32_t)__builtin_wasm_tls_align();
  if (tls_align < 16) tls_align = 16;
  /* The wasm C ABI keeps the stack pointer 16-aligned (tool-conventions, BasicCABI.md). */
  uint32_t stack_top = align_up(stack, 16);
  uint32_t tls = align_up(stack_top, tls_align);
  uint32_t self_offset = align_up(tls + (uint32_t)__builtin_wasm_tls_size(), 16);
  uint32_t size = self_offset + (uint32_t)sizeof(struct __pthread);
  uint32_t base = (uint32_t)__wasi_mman_mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  /* POSIX: EAGAIN when the resources for another thread are lacking. */
  if (__wasi_mman_is_error(base)) return EAGAIN;

  /* Fresh anonymous pages read as zeros (docs/abi.md): every other field starts at 0. */
  struct __pthread *thread = (struct __pthread *)(uintptr_t)(base + self_offset);
  thread->stack_top = base + stack_top;
  thread->tls_block = base + tls;
  thread->map_base = base;
  thread->map_size = size;
  thread->start = start;
  thread->arg = arg;
  thread->state = attr && attr->__u.__i[3] == PTHREAD_CREATE_DETACHED ? THREAD_DETACHED : THREAD_JOINABLE;

  __atomic_fetch_add(&live_threads, 1, __ATOMIC_SEQ_CST);
  /* The thread may run, finish and (detached) unmap itself before thread-spawn returns: from
   * here on only `thread`'s address is used, never its contents. */
  int32_t tid = __wasi_mman_thread_spawn(thread);
  if (tid < 0) {
    __atomic_fetch_sub(&live_threads, 1, __ATOMIC_SEQ_CST);
    __wasi_mman_munmap(base, size);
    return EAGAIN;
  }
  *out = thread;
  return 0;
}

/*
 * The end of every thread but the main one: key destructors, the result, then the state
 * change that lets a joiner unmap the thread. Returns the thread when it is detached (its
 * mapping is for the caller to release), NULL when a joiner will.
 */
static struct __pthread *finish_thread(struct __pthread *self, void *result) {
  __wasi_mman_run_key_destructors(self);
  self->result = result;
  __atomic_fetch_sub(&live_threads, 1, __ATOMIC_SEQ_CST);
  __wasi_mman_futex_wake(&live_threads, 0xffffffffu);
  /* A value compare-and-swap: nothing is written to this thread's stack after the exchange,
   * which may already be unmapped by the joiner once it sees THREAD_EXITED. */
  if (__sync_val_compare_and_swap(&self->state, THREAD_JOINABLE, THREAD_EXITED) == THREAD_JOINABLE) {
    __wasi_mman_futex_wake(&self->state, 0xffffffffu);
    return NULL;
  }
  return self;
}

/* Called by thread-start.s once this thread's stack and TLS are in place. */
struct __pthread *__wasi_mman_thread_main(int32_t tid, struct __pthread *self) {
  __wasi_mman_self = self;
  __atomic_store_n(&self->tid, tid, __ATOMIC_SEQ_CST);
  return finish_thread(self, self->start(self->arg));
}

pthread_t pthread_self(void) {
  return __wasi_mman_self;
}

/* In parentheses: <pthread.h> also defines pthread_equal as a macro. */
int(pthread_equal)(pthread_t a, pthread_t b) {
  return a == b;
}

int pthread_join(pthread_t thread, void **result) {
  if (thread == __wasi_mman_self) return EDEADLK;
  if (thread == &main_thread) return EINVAL;
  for (;;) {
    int state = __atomic_load_n(&thread->state, __ATOMIC_SEQ_CST);
    if (state == THREAD_EXITED) break;
    if (state == THREAD_DETACHED) return EINVAL;
    __wasi_mman_futex_wait(&thread->state, state, -1);
  }
  if (result) *result = thread->result;
  __wasi_mman_munmap(thread->map_base, thread->map_size);
  return 0;
}

int pthread_detach(pthread_t thread) {
  int state = __sync_val_compare_and_swap(&thread->state, THREAD_JOINABLE, THREAD_DETACHED);
  if (state == THREAD_JOINABLE) return 0;
  /* Already finished: nobody will join it, so its mapping goes now. */
  if (state == THREAD_EXITED) {
    __wasi_mman_munmap(thread->map_base, thread->map_size);
    return 0;
  }
  return EINVAL;
}

/* A word nobody ever changes or wakes: a thread that has ended parks on it for good. */
static volatile int parked;

_Noreturn void pthread_exit(void *result) {
  struct __pthread *self = __wasi_mman_self;
  if (self == &main_thread) {
    /* POSIX: the process goes on while other threads run, and exits with status 0 after the
     * last one ends. */
    __wasi_mman_run_key_destructors(self);
    for (;;) {
      int live = __atomic_load_n(&live_threads, __ATOMIC_SEQ_CST);
      if (live == 0) exit(0);
      __wasi_mman_futex_wait(&live_threads, live, -1);
    }
  }
  /*
   * wasm cannot unwind this thread's frames back to wasi_thread_start (no exceptions here),
   * and returning from wasi_thread_start is the only way a wasi-threads thread ends. So the
   * thread finishes as if its start routine had returned, then waits on a word nobody wakes
   * until the process exits. Its stack is no longer used from here: the wait keeps its state
   * in the engine, not in linear memory, so a detached thread unmaps its mapping first.
   */
  struct __pthread *detached = finish_thread(self, result);
  if (detached) __wasi_mman_munmap(detached->map_base, detached->map_size);
  for (;;) __wasi_mman_futex_wait(&parked, 0, -1);
}
