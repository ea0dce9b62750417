/*
 * musl's raw system call entry (musl: src/internal/syscall.h) for the memory calls only.
 * `__syscall(SYS_x, ...)` becomes a direct call of the `mman` import, returning what the
 * kernel would: an address, 0, or -errno with Linux's numbers. Any other call number is a
 * compile-time error (an undefined __wasi_mman_syscall_<name>), never a silent success.
 */
#ifndef WASI_MMAN_MUSL_SYSCALL_H
#define WASI_MMAN_MUSL_SYSCALL_H

#include <stdint.h>

#include "musl-wasm.h"

#define SYS_brk brk
#define SYS_mmap mmap
#define SYS_munmap munmap
#define SYS_mremap mremap
#define SYS_madvise madvise
#define SYS_mprotect mprotect

/* Two levels so that SYS_x is replaced by its name before the token paste. */
#define __syscall(number, ...) __WASI_MMAN_SYSCALL(number, __VA_ARGS__)
#define __WASI_MMAN_SYSCALL(number, ...) __wasi_mman_syscall_##number(__VA_ARGS__)

static inline long __wasi_mman_syscall_brk(uintptr_t addr) {
  return (long)__wasi_mman_brk((uint32_t)addr);
}
static inline long __wasi_mman_syscall_mmap(uintptr_t addr, size_t len, long prot, long flags,
                                            long fd, long long offset) {
  return (long)__wasi_mman_mmap((uint32_t)addr, (uint32_t)len, (int32_t)prot, (int32_t)flags,
                                (int32_t)fd, (int64_t)offset);
}
static inline long __wasi_mman_syscall_munmap(uintptr_t addr, size_t len) {
  return (long)__wasi_mman_munmap((uint32_t)addr, (uint32_t)len);
}
static inline long __wasi_mman_syscall_mremap(uintptr_t old_addr, size_t old_len,
                                              size_t new_len, long flags, uintptr_t new_addr) {
  return (long)__wasi_mman_mremap((uint32_t)old_addr, (uint32_t)old_len, (uint32_t)new_len,
                                  (int32_t)flags, (uint32_t)new_addr);
}
static inline long __wasi_mman_syscall_madvise(uintptr_t addr, size_t len, long advice) {
  return (long)__wasi_mman_madvise((uint32_t)addr, (uint32_t)len, (int32_t)advice);
}
static inline long __wasi_mman_syscall_mprotect(uintptr_t addr, size_t len, long prot) {
  return (long)__wasi_mman_mprotect((uint32_t)addr, (uint32_t)len, (int32_t)prot);
}

#endif
