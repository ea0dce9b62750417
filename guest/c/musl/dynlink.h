/*
 * The dynamic-linker hooks musl's allocators refer to (musl: src/internal/dynlink.h): whether
 * the application replaced malloc or aligned_alloc. There is no dynamic linker on wasm32-wasi;
 * a statically linked program replaces malloc at link time, so both flags stay 0.
 */
#ifndef WASI_MMAN_MUSL_DYNLINK_H
#define WASI_MMAN_MUSL_DYNLINK_H

#include "musl-wasm.h"

hidden extern int __malloc_replaced;
hidden extern int __aligned_alloc_replaced;
hidden void __malloc_donate(char *start, char *end);
hidden void *__libc_malloc_impl(size_t n);
hidden void *__libc_malloc(size_t n);
hidden void *__libc_calloc(size_t count, size_t size);
hidden void *__libc_realloc(void *p, size_t n);
hidden void __libc_free(void *p);

#endif
