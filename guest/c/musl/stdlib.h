/*
 * wasi-libc's <stdlib.h> plus the internal allocator entry points musl's src/malloc files call
 * through it (musl declares the same names in its src/include/stdlib.h).
 */
#ifndef WASI_MMAN_MUSL_STDLIB_H
#define WASI_MMAN_MUSL_STDLIB_H

#include_next <stdlib.h>

#include "dynlink.h"

#endif
