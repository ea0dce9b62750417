/*
 * brk(2) and sbrk(2) over the host's break.
 *
 * Kept in its own object: wasi-libc's dlmalloc calls wasi-libc's own sbrk (which grows memory
 * itself), and `wasi-mman cc --malloc=dlmalloc` must not replace it, so this object is linked
 * only with the musl allocators.
 */
#include <errno.h>
#include <stdint.h>

#include "wasi-mman.h"

/* The raw call returns the new break, or the unchanged one on failure (brk(2), NOTES). */
int brk(void *addr) {
  uint32_t wanted = (uint32_t)(uintptr_t)addr;
  if (__wasi_mman_brk(wanted) != wanted) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

/* sbrk(2): moves the break by `increment` bytes and returns the old break. */
void *sbrk(intptr_t increment) {
  uint32_t old_break = __wasi_mman_brk(0);
  if (increment == 0) return (void *)(uintptr_t)old_break;
  /* The new break must stay inside the 32-bit address space (u32 overflow check). */
  if (increment > 0 ? (uint32_t)increment > UINT32_MAX - old_break
                    : (uint32_t)-increment > old_break) {
    errno = ENOMEM;
    return (void *)-1;
  }
  uint32_t wanted = old_break + (uint32_t)increment;
  if (__wasi_mman_brk(wanted) != wanted) {
    errno = ENOMEM;
    return (void *)-1;
  }
  return (void *)(uintptr_t)old_break;
}
