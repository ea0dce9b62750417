/*
 * Read-write locks over one futex word (../musl/futex.h), pthread_rwlock_t's __vi[0]:
 *   0 free, n > 0 held by n readers, -1 held by a writer.
 * Readers enter while no writer holds it; a writer enters only when it is free; unlocking wakes
 * every sleeper, which re-checks. Writers are not preferred: a steady stream of readers can
 * keep one out, which POSIX leaves to the implementation (pthread_rwlock_rdlock, "Rationale").
 */
#include <errno.h>
#include <limits.h>

#include "pthread-internal.h"

#define RWLOCK_STATE(lock) (&(lock)->__u.__vi[0])

int pthread_rwlockattr_init(pthread_rwlockattr_t *attr) {
  *attr = (pthread_rwlockattr_t){ 0 };
  return 0;
}

int pthread_rwlockattr_destroy(pthread_rwlockattr_t *attr) {
  (void)attr;
  return 0;
}

int pthread_rwlock_init(pthread_rwlock_t *restrict lock, const pthread_rwlockattr_t *restrict attr) {
  (void)attr;
  *lock = (pthread_rwlock_t){ 0 };
  return 0;
}

int pthread_rwlock_destroy(pthread_rwlock_t *lock) {
  return __atomic_load_n(RWLOCK_STATE(lock), __ATOMIC_RELAXED) != 0 ? EBUSY : 0;
}

/* One attempt: 0 when taken, EBUSY when the state does not allow it now (`seen` says why). */
static int try_read(volatile int *state, int *seen) {
  int value = __atomic_load_n(state, __ATOMIC_RELAXED);
  *seen = value;
  if (value < 0) return EBUSY;
  if (value == INT_MAX) return EAGAIN;
  return __sync_val_compare_and_swap(state, value, value + 1) == value ? 0 : EBUSY;
}

static int try_write(volatile int *state, int *seen) {
  int value = __sync_val_compare_and_swap(state, 0, -1);
  *seen = value;
  return value == 0 ? 0 : EBUSY;
}

static int wait_for(volatile int *state, int (*attempt)(volatile int *, int *), const struct timespec *deadline) {
  for (;;) {
    int seen;
    int error = attempt(state, &seen);
    if (error != EBUSY) return error;
    int64_t left = __wasi_mman_timeout_until(CLOCK_REALTIME, deadline);
    if (left == 0) return ETIMEDOUT;
    if (seen != 0) __wasi_mman_futex_wait(state, seen, left);
  }
}

int pthread_rwlock_rdlock(pthread_rwlock_t *lock) {
  return wait_for(RWLOCK_STATE(lock), try_read, NULL);
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t *restrict lock, const struct timespec *restrict deadline) {
  return wait_for(RWLOCK_STATE(lock), try_read, deadline);
}

int pthread_rwlock_tryrdlock(pthread_rwlock_t *lock) {
  int seen;
  return try_read(RWLOCK_STATE(lock), &seen);
}

int pthread_rwlock_wrlock(pthread_rwlock_t *lock) {
  return wait_for(RWLOCK_STATE(lock), try_write, NULL);
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t *restrict lock, const struct timespec *restrict deadline) {
  return wait_for(RWLOCK_STATE(lock), try_write, deadline);
}

int pthread_rwlock_trywrlock(pthread_rwlock_t *lock) {
  int seen;
  return try_write(RWLOCK_STATE(lock), &seen);
}

int pthread_rwlock_unlock(pthread_rwlock_t *lock) {
  volatile int *state = RWLOCK_STATE(lock);
  int value = __atomic_load_n(state, __ATOMIC_RELAXED);
  if (value == 0) return EPERM;
  /* A writer leaves 0; the last reader leaves 0; either way every sleeper may go on. */
  int left = value < 0 ? (__atomic_store_n(state, 0, __ATOMIC_RELEASE), 0) : __atomic_sub_fetch(state, 1, __ATOMIC_RELEASE);
  if (left == 0) __wasi_mman_futex_wake(state, 0xffffffffu);
  return 0;
}
