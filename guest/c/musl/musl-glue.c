/*
 * The libc state musl's allocators read (libc.h). The internal names of the memory calls
 * (__mmap ...) are defined beside the POSIX functions, in src/mman.c.
 */
#include "libc.h"

static size_t empty_auxv[2];
struct __wasi_mman_libc __wasi_mman_libc = { .need_locks = WASI_MMAN_NEED_LOCKS, .auxv = empty_auxv };

