/*
 * Shared definitions for building musl 1.2.3's allocators (src/malloc/mallocng and
 * src/malloc/oldmalloc, unmodified) against wasi-libc's headers and the `mman` imports.
 *
 * musl's allocator files include a handful of musl-internal headers by name ("libc.h",
 * "atomic.h", "syscall.h", "lock.h", "dynlink.h", "pthread_impl.h", "fork_impl.h") and
 * <pthread.h>/<elf.h>, which wasi-libc lacks. This folder supplies each of them, written for
 * this target: one thread, no dynamic linker, the Linux calls going to the host.
 */
#ifndef WASI_MMAN_MUSL_WASM_H
#define WASI_MMAN_MUSL_WASM_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "wasi-mman.h"

/* musl's build-internal attributes (musl: src/include/features.h provides the same names). */
#define weak __attribute__((__weak__))
#define hidden __attribute__((__visibility__("hidden")))
#define weak_alias(old, new) extern __typeof(old) new __attribute__((__weak__, __alias__(#old)))

/*
 * The page size is the host's, asked at run time. wasi-libc's <limits.h> fixes PAGESIZE to the
 * 64 KiB wasm page; musl's mallocng uses PAGESIZE when it is defined and PAGE_SIZE otherwise,
 * and oldmalloc uses PAGE_SIZE, so both names are redefined to the run-time value. <limits.h>
 * is included above so that its definitions come first and are not re-made later.
 */
#undef PAGESIZE
#undef PAGE_SIZE
#define PAGE_SIZE (__wasi_mman_page_size())
#define PAGESIZE PAGE_SIZE

/*
 * The internal names musl's allocators call for the memory calls (musl declares them in
 * src/include/sys/mman.h). They are the POSIX functions of guest/c/src/mman.c under a second
 * name: both set errno and return MAP_FAILED / -1, as musl's do.
 */
hidden void *__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset);
hidden int __munmap(void *addr, size_t len);
hidden void *__mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...);
hidden int __madvise(void *addr, size_t len, int advice);
hidden int __mprotect(void *addr, size_t len, int prot);

#endif
