/*
 * POSIX memory calls over the `mman` imports: mmap, munmap, mremap, madvise, posix_madvise,
 * mprotect, msync, getpagesize, and the page size cache.
 *
 * The host answers with Linux semantics and Linux errno numbers (docs/abi.md). wasi-libc
 * numbers errno differently (EINVAL is 28 there, 22 on Linux), so every error goes through
 * __wasi_mman_errno_from_linux, the one place where the two numberings meet.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wasi-mman.h"

/* Linux errno numbers, include/uapi/asm-generic/errno-base.h and errno.h. */
enum {
  LINUX_EPERM = 1,
  LINUX_ENOENT = 2,
  LINUX_EBADF = 9,
  LINUX_EAGAIN = 11,
  LINUX_ENOMEM = 12,
  LINUX_EACCES = 13,
  LINUX_EFAULT = 14,
  LINUX_EEXIST = 17,
  LINUX_ENODEV = 19,
  LINUX_EINVAL = 22,
  LINUX_ENOSYS = 38,
  LINUX_EOVERFLOW = 75,
  LINUX_EOPNOTSUPP = 95,
};

int __wasi_mman_errno_from_linux(int linux_errno) {
  switch (linux_errno) {
  case LINUX_EPERM: return EPERM;
  case LINUX_ENOENT: return ENOENT;
  case LINUX_EBADF: return EBADF;
  case LINUX_EAGAIN: return EAGAIN;
  case LINUX_ENOMEM: return ENOMEM;
  case LINUX_EACCES: return EACCES;
  case LINUX_EFAULT: return EFAULT;
  case LINUX_EEXIST: return EEXIST;
  case LINUX_ENODEV: return ENODEV;
  case LINUX_EINVAL: return EINVAL;
  case LINUX_ENOSYS: return ENOSYS;
  case LINUX_EOVERFLOW: return EOVERFLOW;
  case LINUX_EOPNOTSUPP: return EOPNOTSUPP;
  /* The ABI sends no other number; one that arrives anyway is a host bug, reported as EIO
     rather than as a number that means something else in wasi-libc. */
  default: return EIO;
  }
}

/* Sets errno from a raw failing result (-errno) and returns -1, as a libc wrapper does. */
static int fail_with(uint32_t raw) {
  errno = __wasi_mman_errno_from_linux((int)-(int32_t)raw);
  return -1;
}

/* The raw result of an address-returning call, as POSIX wants it: the address or MAP_FAILED. */
static void *address_or_failed(uint32_t raw) {
  if (__wasi_mman_is_error(raw)) {
    fail_with(raw);
    return MAP_FAILED;
  }
  return (void *)(uintptr_t)raw;
}

static int zero_or_failed(int32_t raw) {
  return __wasi_mman_is_error((uint32_t)raw) ? fail_with((uint32_t)raw) : 0;
}

/*
 * Lengths and addresses above 4 GiB cannot reach a wasm32 host; size_t is 32 bits here, so
 * they cannot be formed either. The casts below are exact.
 */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset) {
  return address_or_failed((uint32_t)__wasi_mman_mmap((uint32_t)(uintptr_t)addr, (uint32_t)len,
                                                      prot, flags, fd, (int64_t)offset));
}

int munmap(void *addr, size_t len) {
  return zero_or_failed(__wasi_mman_munmap((uint32_t)(uintptr_t)addr, (uint32_t)len));
}

void *mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...) {
  /* mremap(2): new_address is an argument only when MREMAP_FIXED is given. */
  uint32_t new_address = 0;
  if (flags & MREMAP_FIXED) {
    va_list args;
    va_start(args, flags);
    new_address = (uint32_t)(uintptr_t)va_arg(args, void *);
    va_end(args);
  }
  return address_or_failed((uint32_t)__wasi_mman_mremap(
      (uint32_t)(uintptr_t)old_address, (uint32_t)old_size, (uint32_t)new_size, flags,
      new_address));
}

int madvise(void *addr, size_t len, int advice) {
  return zero_or_failed(__wasi_mman_madvise((uint32_t)(uintptr_t)addr, (uint32_t)len, advice));
}

/*
 * posix_madvise(3) returns the error number instead of setting errno. POSIX_MADV_DONTNEED
 * must not discard data (unlike MADV_DONTNEED), so it is only a hint, and a hint may be
 * ignored: it succeeds without asking the host, as glibc does.
 */
int posix_madvise(void *addr, size_t len, int advice) {
  if (advice == POSIX_MADV_DONTNEED) return 0;
  int32_t raw = __wasi_mman_madvise((uint32_t)(uintptr_t)addr, (uint32_t)len, advice);
  return __wasi_mman_is_error((uint32_t)raw) ? __wasi_mman_errno_from_linux(-raw) : 0;
}

int mprotect(void *addr, size_t len, int prot) {
  return zero_or_failed(__wasi_mman_mprotect((uint32_t)(uintptr_t)addr, (uint32_t)len, prot));
}

int msync(void *addr, size_t len, int flags) {
  return zero_or_failed(__wasi_mman_msync((uint32_t)(uintptr_t)addr, (uint32_t)len, flags));
}

/* The host fixes the page size before the module runs; asking once keeps hot paths cheap. */
static size_t cached_page_size;

size_t __wasi_mman_page_size(void) {
  if (!cached_page_size) cached_page_size = __wasi_mman_pagesize();
  return cached_page_size;
}

int getpagesize(void) {
  return (int)__wasi_mman_page_size();
}

/*
 * musl's allocators call the memory functions by their internal names (musl declares them in
 * src/include/sys/mman.h); here they are the functions above under a second name.
 */
extern __typeof(mmap) __mmap __attribute__((__alias__("mmap")));
extern __typeof(munmap) __munmap __attribute__((__alias__("munmap")));
extern __typeof(mremap) __mremap __attribute__((__alias__("mremap")));
extern __typeof(madvise) __madvise __attribute__((__alias__("madvise")));
extern __typeof(mprotect) __mprotect __attribute__((__alias__("mprotect")));
