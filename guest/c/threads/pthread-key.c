/*
 * Thread-specific data: pthread_key_create, pthread_key_delete, pthread_getspecific,
 * pthread_setspecific, and the destructors run when a thread ends (POSIX,
 * pthread_key_create: up to PTHREAD_DESTRUCTOR_ITERATIONS rounds while values remain).
 *
 * A key is a slot index. Each slot has a generation, raised by every create, and each
 * thread's value remembers the generation it was set under, so a value left over from a
 * deleted key reads as NULL once the slot is reused (POSIX: a new key's value is NULL in
 * every thread) without visiting other threads' structures.
 */
#include <errno.h>

#include "pthread-internal.h"

static struct {
  /* 0 free, 1 taken (created and not deleted). */
  volatile int taken;
  volatile unsigned generation;
  void (*volatile destructor)(void *);
} slots[WASI_MMAN_KEYS];

int pthread_key_create(pthread_key_t *key, void (*destructor)(void *)) {
  for (unsigned index = 0; index < WASI_MMAN_KEYS; index++) {
    if (__sync_val_compare_and_swap(&slots[index].taken, 0, 1) != 0) continue;
    slots[index].destructor = destructor;
    __atomic_fetch_add(&slots[index].generation, 1, __ATOMIC_SEQ_CST);
    *key = index;
    return 0;
  }
  return EAGAIN;
}

int pthread_key_delete(pthread_key_t key) {
  if (key >= WASI_MMAN_KEYS || !slots[key].taken) return EINVAL;
  slots[key].destructor = NULL;
  __atomic_store_n(&slots[key].taken, 0, __ATOMIC_SEQ_CST);
  return 0;
}

void *pthread_getspecific(pthread_key_t key) {
  if (key >= WASI_MMAN_KEYS) return NULL;
  struct key_value *entry = &__wasi_mman_self->keys[key];
  return entry->generation == __atomic_load_n(&slots[key].generation, __ATOMIC_RELAXED) ? entry->value : NULL;
}

int pthread_setspecific(pthread_key_t key, const void *value) {
  if (key >= WASI_MMAN_KEYS || !slots[key].taken) return EINVAL;
  struct key_value *entry = &__wasi_mman_self->keys[key];
  entry->generation = __atomic_load_n(&slots[key].generation, __ATOMIC_RELAXED);
  entry->value = (void *)value;
  return 0;
}

void __wasi_mman_run_key_destructors(struct __pthread *self) {
  for (int round = 0; round < WASI_MMAN_DESTRUCTOR_ITERATIONS; round++) {
    int called = 0;
    for (unsigned index = 0; index < WASI_MMAN_KEYS; index++) {
      struct key_value *entry = &self->keys[index];
      void (*destructor)(void *) = slots[index].destructor;
      if (!slots[index].taken || destructor == NULL || entry->value == NULL) continue;
      if (entry->generation != slots[index].generation) continue;
      void *value = entry->value;
      /* POSIX: the value is set to NULL before its destructor is called. */
      entry->value = NULL;
      destructor(value);
      called = 1;
    }
    if (!called) return;
  }
}
