/**
 * Linux constants used by the memory calls.
 *
 * Sources (values, not text): Linux include/uapi/asm-generic/errno-base.h and errno.h,
 * include/uapi/asm-generic/mman-common.h, include/uapi/linux/mman.h, and the mman ABI
 * (../shared/ABI.md, version 1). Every errno here is Linux's number; other numberings
 * (wasi-libc's) are translated in exactly one place, guest/c/mman_glue.c.
 */

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSYS: 38,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
} as const;
export type ErrnoName = keyof typeof Errno;

const errnoNames = new Map<number, ErrnoName>(
  (Object.keys(Errno) as ErrnoName[]).map((name) => [Errno[name], name]),
);

/** The name of a positive Linux errno number (`12` -> `"ENOMEM"`), or `E<n>` if unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** mmap/mprotect protection bits (mman-common.h). */
export const Prot = {
  NONE: 0,
  READ: 1,
  WRITE: 2,
  EXEC: 4,
} as const;
export const PROT_ALL = Prot.READ | Prot.WRITE | Prot.EXEC;

/** mmap flags (mman-common.h, linux/mman.h). */
export const MapFlags = {
  SHARED: 0x01,
  PRIVATE: 0x02,
  SHARED_VALIDATE: 0x03,
  TYPE: 0x0f,
  FIXED: 0x10,
  ANONYMOUS: 0x20,
  NORESERVE: 0x4000,
  POPULATE: 0x8000,
  FIXED_NOREPLACE: 0x100000,
} as const;
/** Every flag bit this host understands besides the map type. */
export const MAP_KNOWN_FLAGS =
  MapFlags.FIXED | MapFlags.ANONYMOUS | MapFlags.NORESERVE | MapFlags.POPULATE | MapFlags.FIXED_NOREPLACE;

/** mremap flags (linux/mman.h). */
export const Mremap = {
  MAYMOVE: 1,
  FIXED: 2,
  DONTUNMAP: 4,
} as const;

/** madvise advice values (mman-common.h). */
export const Madv = {
  NORMAL: 0,
  RANDOM: 1,
  SEQUENTIAL: 2,
  WILLNEED: 3,
  DONTNEED: 4,
  FREE: 8,
} as const;

/** msync flags (mman-common.h). */
export const Ms = {
  ASYNC: 1,
  INVALIDATE: 2,
  SYNC: 4,
} as const;

/** The wasm page: the unit of memory.grow (WebAssembly core spec, 64 KiB). */
export const WASM_PAGE_SIZE = 65536;
/** wasm32 addresses are below 4 GiB. */
export const ADDRESS_LIMIT_32 = 2 ** 32;
