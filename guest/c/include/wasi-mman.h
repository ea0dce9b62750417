/*
 * The `mman` import module (ABI version 1, docs/abi.md) as seen from C, and the calls the
 * glue adds that wasi-libc's headers do not declare (brk, sbrk, getpagesize).
 *
 * The raw imports speak Linux: they return an address, 0, or -errno in [-4095, -1] with
 * Linux's errno numbers (mmap(2), munmap(2) ...). Programs normally use the POSIX functions of
 * <sys/mman.h>, which set errno in wasi-libc's numbering; the raw imports are here for glue
 * layers (musl's malloc) that expect the kernel's convention.
 */
#ifndef WASI_MMAN_H
#define WASI_MMAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WASI_MMAN_IMPORT(name) __attribute__((__import_module__("mman"), __import_name__(#name)))

/* brk(addr): the new break on success, the unchanged break on failure; brk(0) asks for it. */
WASI_MMAN_IMPORT(brk) uint32_t __wasi_mman_brk(uint32_t addr);
WASI_MMAN_IMPORT(mmap) int32_t __wasi_mman_mmap(uint32_t addr, uint32_t len, int32_t prot,
                                                int32_t flags, int32_t fd, int64_t offset);
WASI_MMAN_IMPORT(munmap) int32_t __wasi_mman_munmap(uint32_t addr, uint32_t len);
WASI_MMAN_IMPORT(mremap) int32_t __wasi_mman_mremap(uint32_t old_addr, uint32_t old_len,
                                                    uint32_t new_len, int32_t flags,
                                                    uint32_t new_addr);
WASI_MMAN_IMPORT(madvise) int32_t __wasi_mman_madvise(uint32_t addr, uint32_t len, int32_t advice);
WASI_MMAN_IMPORT(mprotect) int32_t __wasi_mman_mprotect(uint32_t addr, uint32_t len, int32_t prot);
WASI_MMAN_IMPORT(msync) int32_t __wasi_mman_msync(uint32_t addr, uint32_t len, int32_t flags);
/* The libc page size, chosen by the host at run time (a power of two, 4 KiB .. 64 KiB). */
WASI_MMAN_IMPORT(pagesize) uint32_t __wasi_mman_pagesize(void);

/* A raw result is an error when it lies in [-4095, -1], the same rule as Linux's syscall ABI. */
static inline int __wasi_mman_is_error(uint32_t raw) { return raw > (uint32_t)-4096; }

/*
 * The page size, asked once: the host never changes it after the module starts, and the
 * allocators use it on hot paths (musl's PAGE_SIZE).
 */
size_t __wasi_mman_page_size(void);

/* Translates a Linux errno number (1..4095) to wasi-libc's errno numbering. */
int __wasi_mman_errno_from_linux(int linux_errno);

/* brk(2) and sbrk(2) over the host's break; linked only with the musl allocators (cc docs). */
int brk(void *addr);
void *sbrk(intptr_t increment);
int getpagesize(void);

#ifdef __cplusplus
}
#endif

#endif
