/*
 * flockfile, ftrylockfile, funlockfile (POSIX): wasi-libc's build leaves them out, and its stdio
 * (musl's top half, compiled without _REENTRANT by wasi-libc-posix.mk) takes no lock of its own.
 * Here they are one process-wide recursive lock for every stream: threads that bracket their
 * stdio calls with them exclude each other, as POSIX promises; calls made without them are not
 * serialised (docs/c.md, "Threads").
 */
#include <pthread.h>
#include <stdio.h>

/* A recursive mutex as pthread-sync.c lays it out: __i[0] holds the type. */
static pthread_mutex_t streams = { .__u.__i = { PTHREAD_MUTEX_RECURSIVE } };

void flockfile(FILE *stream) {
  (void)stream;
  pthread_mutex_lock(&streams);
}

int ftrylockfile(FILE *stream) {
  (void)stream;
  return pthread_mutex_trylock(&streams) == 0 ? 0 : -1;
}

void funlockfile(FILE *stream) {
  (void)stream;
  pthread_mutex_unlock(&streams);
}
