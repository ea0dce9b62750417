/*
 * sysconf(_SC_PAGESIZE) answering the host's page size. wasi-libc's sysconf reports the wasm
 * page (64 KiB); `wasi-mman cc` links with `--wrap=sysconf`, so calls land here and every
 * other name goes on to wasi-libc's own sysconf.
 */
#include <unistd.h>

#include "wasi-mman.h"

long __real_sysconf(int name);

long __wrap_sysconf(int name) {
  /* _SC_PAGE_SIZE is the same number as _SC_PAGESIZE in wasi-libc's <unistd.h>. */
  if (name == _SC_PAGESIZE) return (long)__wasi_mman_page_size();
  return __real_sysconf(name);
}
