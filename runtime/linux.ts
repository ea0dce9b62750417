/**
 * Linux constants used by the memory calls.
 *
 * Sources (values, not text): Linux include/uapi/asm-generic/errno-base.h and errno.h,
 * include/uapi/asm-generic/mman-common.h, include/uapi/asm-generic/mman.h,
 * include/uapi/linux/mman.h, and the mman ABI (../shared/ABI.md, version 1). Every errno here
 * is Linux's number; other numberings (wasi-libc's) are translated in exactly one place,
 * guest/c/mman_glue.c.
 *
 * The calls follow the kernel named below: test/difftest compares them with the running
 * kernel, and docs/semantics.md lists where they differ and why.
 */

/** The Linux release whose behaviour the calls follow (mm/mmap.c, mm/mremap.c, mm/madvise.c, mm/mprotect.c). */
export const LINUX_VERSION = "6.18";

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
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
/** PROT_SEM: accepted and ignored by Linux on every architecture but a few (arch_validate_prot). */
export const PROT_SEM = 0x8;
/** mprotect only: extend the change to the start (end) of a grows-down (up) mapping. */
export const PROT_GROWSDOWN = 0x01000000;
export const PROT_GROWSUP = 0x02000000;

/** mmap flags (mman-common.h, linux/mman.h). */
export const MapFlags = {
  SHARED: 0x01,
  PRIVATE: 0x02,
  SHARED_VALIDATE: 0x03,
  /** Linux 6.11: private anonymous memory the kernel may drop under pressure (a map type). */
  DROPPABLE: 0x08,
  TYPE: 0x0f,
  FIXED: 0x10,
  ANONYMOUS: 0x20,
  GROWSDOWN: 0x0100,
  DENYWRITE: 0x0800,
  EXECUTABLE: 0x1000,
  LOCKED: 0x2000,
  NORESERVE: 0x4000,
  POPULATE: 0x8000,
  NONBLOCK: 0x10000,
  STACK: 0x20000,
  HUGETLB: 0x40000,
  SYNC: 0x80000,
  FIXED_NOREPLACE: 0x100000,
  UNINITIALIZED: 0x4000000,
} as const;
/**
 * The flags MAP_SHARED_VALIDATE accepts for a file (LEGACY_MAP_MASK and MAP_SYNC in mm/mmap.c):
 * any other bit there is EOPNOTSUPP. Under MAP_SHARED and MAP_PRIVATE Linux ignores unknown bits.
 */
export const MAP_VALIDATED_FLAGS =
  MapFlags.FIXED | MapFlags.ANONYMOUS | MapFlags.GROWSDOWN | MapFlags.DENYWRITE | MapFlags.EXECUTABLE | MapFlags.LOCKED |
  MapFlags.NORESERVE | MapFlags.POPULATE | MapFlags.NONBLOCK | MapFlags.STACK | MapFlags.HUGETLB | MapFlags.SYNC |
  MapFlags.FIXED_NOREPLACE | MapFlags.UNINITIALIZED | (0x3f << 26); /* MAP_HUGE_SHIFT size bits */

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
  REMOVE: 9,
  DONTFORK: 10,
  DOFORK: 11,
  MERGEABLE: 12,
  UNMERGEABLE: 13,
  HUGEPAGE: 14,
  NOHUGEPAGE: 15,
  DONTDUMP: 16,
  DODUMP: 17,
  WIPEONFORK: 18,
  KEEPONFORK: 19,
  COLD: 20,
  PAGEOUT: 21,
  POPULATE_READ: 22,
  POPULATE_WRITE: 23,
  DONTNEED_LOCKED: 24,
  COLLAPSE: 25,
  HWPOISON: 100,
  SOFT_OFFLINE: 101,
  GUARD_INSTALL: 102,
  GUARD_REMOVE: 103,
} as const;

/**
 * vma flags a mapping record keeps besides its protection: Linux keeps apart (never merges)
 * neighbours whose vm_flags differ, so mremap across them is EFAULT (include/linux/mm.h names).
 */
export const VmFlag = {
  RAND_READ: 1 << 0,
  SEQ_READ: 1 << 1,
  DONTCOPY: 1 << 2,
  DONTDUMP: 1 << 3,
  WIPEONFORK: 1 << 4,
  HUGEPAGE: 1 << 5,
  NOHUGEPAGE: 1 << 6,
  MERGEABLE: 1 << 7,
  NORESERVE: 1 << 8,
  LOCKED: 1 << 9,
  /** MAP_SYNC: VM_SYNC, set for every mapping but a MAP_SHARED file one (calc_vm_flag_bits, LEGACY_MAP_MASK). */
  SYNC: 1 << 10,
  GROWSDOWN: 1 << 11,
  /** VM_ACCOUNT: private memory that was writable when made or made writable by mprotect (mm/mmap.c accountable_mapping). */
  ACCOUNT: 1 << 12,
  /**
   * Not a vm_flag: the mapping may have an anon_vma (it could be written). A vma without one
   * merges with any neighbour whose pgoff follows, and mremap gives it the pgoff of its new
   * address (mm/vma.c copy_vma); one with an anon_vma merges only within its own.
   */
  WRITTEN: 1 << 13,
} as const;
/** vma flags that must be equal for two neighbours to merge (all but WRITTEN). */
export const VM_MERGE_MASK = ~VmFlag.WRITTEN;

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
