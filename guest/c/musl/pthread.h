/*
 * wasi-libc (Debian, 2022) has no <pthread.h>, and without one clang would fall through to the
 * build machine's own header (shared/NOTES.md). mallocng's glue includes it for nothing it
 * uses on this target; an empty header keeps the include inside the wasm sysroot.
 */
#ifndef WASI_MMAN_MUSL_PTHREAD_H
#define WASI_MMAN_MUSL_PTHREAD_H
#endif
