/*
 * chmod and chown for zstd on WASI (zstd-wasi.h says why): WASI has neither owners nor
 * permission bits, so both fail with ENOSYS, as Linux does for a call it does not implement,
 * rather than pretending the mode or owner was set.
 */
#include <errno.h>

#include "zstd-wasi.h"

int chmod(const char *path, mode_t mode) {
  (void)path;
  (void)mode;
  errno = ENOSYS;
  return -1;
}

int chown(const char *path, uid_t owner, gid_t group) {
  (void)path;
  (void)owner;
  (void)group;
  errno = ENOSYS;
  return -1;
}
