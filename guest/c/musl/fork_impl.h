/* The fork hooks musl's allocators define (musl: src/internal/fork_impl.h); WASI has no fork. */
#ifndef WASI_MMAN_MUSL_FORK_IMPL_H
#define WASI_MMAN_MUSL_FORK_IMPL_H

#include "musl-wasm.h"

hidden extern volatile int *const __bump_lockptr;
hidden void __malloc_atfork(int who);

#endif
