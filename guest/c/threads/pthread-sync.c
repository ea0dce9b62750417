/*
 * Synchronisation over futex words (../musl/futex.h): mutexes (normal, recursive,
 * errorcheck), condition variables, pthread_once, spin locks and barriers, with the attribute
 * calls they take. The objects are musl's <pthread.h> types (all-zero static initialisers);
 * the words used inside them are this file's own:
 *
 *   pthread_mutex_t  __i[0] type   __vi[1] lock word   __i[2] owner   __i[3] extra locks
 *   pthread_cond_t   __vi[0] sequence                  __i[1] clock
 *   pthread_barrier_t __vi[0] arrived  __vi[1] round   __i[2] count
 *
 * Robust, process-shared and priority mutexes are not provided: every thread is in one
 * process, and the attribute calls for them are not defined.
 */
#include <errno.h>

#include "pthread-internal.h"

int64_t __wasi_mman_timeout_until(clockid_t clock, const struct timespec *deadline) {
  if (deadline == NULL) return -1;
  struct timespec now;
  clock_gettime(clock, &now);
  int64_t left = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000 + (deadline->tv_nsec - now.tv_nsec);
  return left > 0 ? left : 0;
}

/* ---- mutex attributes: __attr holds the type ---- */

int pthread_mutexattr_init(pthread_mutexattr_t *attr) {
  attr->__attr = PTHREAD_MUTEX_DEFAULT;
  return 0;
}

int pthread_mutexattr_destroy(pthread_mutexattr_t *attr) {
  (void)attr;
  return 0;
}

int pthread_mutexattr_settype(pthread_mutexattr_t *attr, int type) {
  if (type != PTHREAD_MUTEX_NORMAL && type != PTHREAD_MUTEX_RECURSIVE && type != PTHREAD_MUTEX_ERRORCHECK) return EINVAL;
  attr->__attr = (unsigned)type;
  return 0;
}

int pthread_mutexattr_gettype(const pthread_mutexattr_t *restrict attr, int *restrict type) {
  *type = (int)attr->__attr;
  return 0;
}

/* ---- mutexes ---- */

#define MUTEX_TYPE(m) ((m)->__u.__i[0])
#define MUTEX_WORD(m) (&(m)->__u.__vi[1])
#define MUTEX_OWNER(m) ((m)->__u.__vi[2])
#define MUTEX_EXTRA(m) ((m)->__u.__i[3])

static int owner_id(void) {
  return (int)(uintptr_t)__wasi_mman_self;
}

int pthread_mutex_init(pthread_mutex_t *restrict mutex, const pthread_mutexattr_t *restrict attr) {
  *mutex = (pthread_mutex_t){ 0 };
  if (attr) MUTEX_TYPE(mutex) = (int)attr->__attr;
  return 0;
}

int pthread_mutex_destroy(pthread_mutex_t *mutex) {
  return __atomic_load_n(MUTEX_WORD(mutex), __ATOMIC_RELAXED) != 0 ? EBUSY : 0;
}

/* The lock word with a deadline (CLOCK_REALTIME, as pthread_mutex_timedlock's) or none. */
static int acquire_word(volatile int *word, const struct timespec *deadline) {
  if (__wasi_mman_lock_try(word)) return 0;
  if (deadline == NULL) {
    __wasi_mman_lock_slow(word);
    return 0;
  }
  while (__atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE) != 0) {
    int64_t left = __wasi_mman_timeout_until(CLOCK_REALTIME, deadline);
    if (left == 0) return ETIMEDOUT;
    __wasi_mman_futex_wait(word, 2, left);
  }
  return 0;
}

/* Everything before taking the word: a recursive mutex's relock, an errorcheck's EDEADLK. */
static int lock_mutex(pthread_mutex_t *mutex, const struct timespec *deadline, int try_only) {
  int type = MUTEX_TYPE(mutex);
  if (type != PTHREAD_MUTEX_NORMAL && MUTEX_OWNER(mutex) == owner_id()) {
    if (type == PTHREAD_MUTEX_ERRORCHECK) return EDEADLK;
    if (MUTEX_EXTRA(mutex) == 0x7fffffff) return EAGAIN;
    MUTEX_EXTRA(mutex)++;
    return 0;
  }
  int error = try_only ? (__wasi_mman_lock_try(MUTEX_WORD(mutex)) ? 0 : EBUSY) : acquire_word(MUTEX_WORD(mutex), deadline);
  if (error == 0 && type != PTHREAD_MUTEX_NORMAL) MUTEX_OWNER(mutex) = owner_id();
  return error;
}

int pthread_mutex_lock(pthread_mutex_t *mutex) {
  /* The common case, an unlocked normal mutex, is one compare-and-swap. */
  if (MUTEX_TYPE(mutex) == PTHREAD_MUTEX_NORMAL && __wasi_mman_lock_try(MUTEX_WORD(mutex))) return 0;
  return lock_mutex(mutex, NULL, 0);
}

int pthread_mutex_trylock(pthread_mutex_t *mutex) {
  return lock_mutex(mutex, NULL, 1);
}

int pthread_mutex_timedlock(pthread_mutex_t *restrict mutex, const struct timespec *restrict deadline) {
  return lock_mutex(mutex, deadline, 0);
}

int pthread_mutex_unlock(pthread_mutex_t *mutex) {
  int type = MUTEX_TYPE(mutex);
  if (type != PTHREAD_MUTEX_NORMAL) {
    if (MUTEX_OWNER(mutex) != owner_id()) return EPERM;
    if (MUTEX_EXTRA(mutex) > 0) {
      MUTEX_EXTRA(mutex)--;
      return 0;
    }
    MUTEX_OWNER(mutex) = 0;
  }
  __wasi_mman_unlock(MUTEX_WORD(mutex));
  return 0;
}

/* ---- condition variables ---- */

/* __attr: 1 for CLOCK_MONOTONIC, 0 for CLOCK_REALTIME (wasi-libc's clockid_t is a pointer). */
int pthread_condattr_init(pthread_condattr_t *attr) {
  attr->__attr = 0;
  return 0;
}

int pthread_condattr_destroy(pthread_condattr_t *attr) {
  (void)attr;
  return 0;
}

int pthread_condattr_setclock(pthread_condattr_t *attr, clockid_t clock) {
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  attr->__attr = clock == CLOCK_MONOTONIC ? 1u : 0u;
  return 0;
}

int pthread_condattr_getclock(const pthread_condattr_t *restrict attr, clockid_t *restrict clock) {
  *clock = attr->__attr == 1u ? CLOCK_MONOTONIC : CLOCK_REALTIME;
  return 0;
}

#define COND_SEQUENCE(c) (&(c)->__u.__vi[0])
#define COND_MONOTONIC(c) ((c)->__u.__i[1])

int pthread_cond_init(pthread_cond_t *restrict cond, const pthread_condattr_t *restrict attr) {
  *cond = (pthread_cond_t){ 0 };
  if (attr) COND_MONOTONIC(cond) = attr->__attr == 1u;
  return 0;
}

int pthread_cond_destroy(pthread_cond_t *cond) {
  (void)cond;
  return 0;
}

/*
 * A sequence-number condition variable: a waiter reads the sequence, unlocks, and sleeps only
 * while the sequence is still that value, so a signal between its unlock and its sleep is never
 * lost. Wakes may be spurious, which POSIX allows (callers re-check their predicate).
 */
int pthread_cond_timedwait(pthread_cond_t *restrict cond, pthread_mutex_t *restrict mutex, const struct timespec *restrict deadline) {
  int type = MUTEX_TYPE(mutex);
  if (type != PTHREAD_MUTEX_NORMAL && MUTEX_OWNER(mutex) != owner_id()) return EPERM;
  int sequence = __atomic_load_n(COND_SEQUENCE(cond), __ATOMIC_SEQ_CST);
  /* A recursive mutex is released in full and taken back at the same depth. */
  int extra = type == PTHREAD_MUTEX_NORMAL ? 0 : MUTEX_EXTRA(mutex);
  if (type != PTHREAD_MUTEX_NORMAL) {
    MUTEX_EXTRA(mutex) = 0;
    MUTEX_OWNER(mutex) = 0;
  }
  __wasi_mman_unlock(MUTEX_WORD(mutex));
  clockid_t clock = COND_MONOTONIC(cond) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
  int64_t left = __wasi_mman_timeout_until(clock, deadline);
  int woke = left == 0 ? WASI_MMAN_WAIT_TIMED_OUT : __wasi_mman_futex_wait(COND_SEQUENCE(cond), sequence, left);
  /* Taken back as contended: other waiters woken by the same broadcast may sleep on it. */
  while (__atomic_exchange_n(MUTEX_WORD(mutex), 2, __ATOMIC_ACQUIRE) != 0) __wasi_mman_futex_wait(MUTEX_WORD(mutex), 2, -1);
  if (type != PTHREAD_MUTEX_NORMAL) {
    MUTEX_OWNER(mutex) = owner_id();
    MUTEX_EXTRA(mutex) = extra;
  }
  return woke == WASI_MMAN_WAIT_TIMED_OUT ? ETIMEDOUT : 0;
}

int pthread_cond_wait(pthread_cond_t *restrict cond, pthread_mutex_t *restrict mutex) {
  return pthread_cond_timedwait(cond, mutex, NULL);
}

int pthread_cond_signal(pthread_cond_t *cond) {
  __atomic_fetch_add(COND_SEQUENCE(cond), 1, __ATOMIC_SEQ_CST);
  __wasi_mman_futex_wake(COND_SEQUENCE(cond), 1);
  return 0;
}

int pthread_cond_broadcast(pthread_cond_t *cond) {
  __atomic_fetch_add(COND_SEQUENCE(cond), 1, __ATOMIC_SEQ_CST);
  __wasi_mman_futex_wake(COND_SEQUENCE(cond), 0xffffffffu);
  return 0;
}

/* ---- pthread_once: 0 not run, 1 running, 2 done ---- */

int pthread_once(pthread_once_t *once, void (*init)(void)) {
  for (;;) {
    int state = __atomic_load_n(once, __ATOMIC_ACQUIRE);
    if (state == 2) return 0;
    if (state == 0 && __sync_val_compare_and_swap(once, 0, 1) == 0) {
      init();
      __atomic_store_n(once, 2, __ATOMIC_RELEASE);
      __wasi_mman_futex_wake(once, 0xffffffffu);
      return 0;
    }
    __wasi_mman_futex_wait(once, 1, -1);
  }
}

/* ---- spin locks ---- */

int pthread_spin_init(pthread_spinlock_t *lock, int shared) {
  (void)shared;
  *lock = 0;
  return 0;
}

int pthread_spin_destroy(pthread_spinlock_t *lock) {
  (void)lock;
  return 0;
}

int pthread_spin_lock(pthread_spinlock_t *lock) {
  while (__sync_val_compare_and_swap(lock, 0, 1) != 0) {
    while (__atomic_load_n(lock, __ATOMIC_RELAXED) != 0) {}
  }
  return 0;
}

int pthread_spin_trylock(pthread_spinlock_t *lock) {
  return __sync_val_compare_and_swap(lock, 0, 1) == 0 ? 0 : EBUSY;
}

int pthread_spin_unlock(pthread_spinlock_t *lock) {
  __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
  return 0;
}

/* ---- barriers ---- */

#define BARRIER_ARRIVED(b) (&(b)->__u.__vi[0])
#define BARRIER_ROUND(b) (&(b)->__u.__vi[1])
#define BARRIER_COUNT(b) ((b)->__u.__i[2])

int pthread_barrier_init(pthread_barrier_t *restrict barrier, const pthread_barrierattr_t *restrict attr, unsigned count) {
  (void)attr;
  if (count == 0 || count > 0x7fffffffu) return EINVAL;
  *barrier = (pthread_barrier_t){ 0 };
  BARRIER_COUNT(barrier) = (int)count;
  return 0;
}

int pthread_barrier_destroy(pthread_barrier_t *barrier) {
  (void)barrier;
  return 0;
}

/*
 * The last thread to arrive resets the count and starts the next round; the others sleep until
 * the round moves. A thread of the next round can only arrive after it saw the round move, so
 * it never counts toward the round it left.
 */
int pthread_barrier_wait(pthread_barrier_t *barrier) {
  int round = __atomic_load_n(BARRIER_ROUND(barrier), __ATOMIC_SEQ_CST);
  if (__atomic_add_fetch(BARRIER_ARRIVED(barrier), 1, __ATOMIC_SEQ_CST) == BARRIER_COUNT(barrier)) {
    __atomic_store_n(BARRIER_ARRIVED(barrier), 0, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(BARRIER_ROUND(barrier), 1, __ATOMIC_SEQ_CST);
    __wasi_mman_futex_wake(BARRIER_ROUND(barrier), 0xffffffffu);
    return PTHREAD_BARRIER_SERIAL_THREAD;
  }
  while (__atomic_load_n(BARRIER_ROUND(barrier), __ATOMIC_SEQ_CST) == round) __wasi_mman_futex_wait(BARRIER_ROUND(barrier), round, -1);
  return 0;
}
