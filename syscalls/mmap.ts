/**
 * mmap(2). Checks arguments in the order Linux does (arch mmap, ksys_mmap_pgoff, do_mmap),
 * builds a plan (where the mapping goes, what it replaces, the file bytes it shows), then
 * applies it. Everything that can fail happens in the plan step, except growing memory, which
 * the apply step does first and which changes nothing handed out when it fails.
 *
 * As on Linux, flag and protection bits it does not know are ignored (MAP_SHARED_VALIDATE
 * refuses unknown flags on a file with EOPNOTSUPP); MAP_STACK, MAP_LOCKED, MAP_NORESERVE and
 * MAP_GROWSDOWN are kept as vma flags, which decide what merges. MAP_HUGETLB is ENOMEM, as on a
 * kernel without huge pages reserved.
 *
 * Deviations, chosen once (docs/semantics.md):
 * - A hint is honoured when its pages are free and already exist; a hint beyond the end of
 *   linear memory is ignored rather than growing memory up to it.
 * - MAP_FIXED over pages the guest grew itself is EPERM, like below the heap base. Over brk
 *   pages it replaces them, as on Linux (musl's mallocng puts its guard page there).
 * - Protection is recorded, not enforced: wasm has no page protection.
 */
import { ADDRESS_LIMIT_32, Errno, MAP_VALIDATED_FLAGS, MapFlags as Map, PROT_ALL, Prot, VmFlag } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import { readFilePages, writeBackRange, type MappableFile } from "./file-mappings.js";

/** Flags kept in the mapping record: the map type and MAP_ANONYMOUS. */
const RECORDED_FLAGS = Map.TYPE | Map.ANONYMOUS;
const PRIVATE_ANONYMOUS = Map.PRIVATE | Map.ANONYMOUS;

export interface MmapPlan {
  /** The first page, or -1 to place it anywhere (placement.ts). */
  start: number;
  pages: number;
  prot: number;
  /** Flags to record (map type and MAP_ANONYMOUS). */
  flags: number;
  length: number;
  /** MAP_FIXED: what lies in the range is replaced. */
  replace: boolean;
  file: MappableFile | null;
  fileOffset: number;
  /** The file's bytes for the mapping's pages (shorter than the mapping past the end of file). */
  fileBytes: Uint8Array | null;
  /** vma flags (linux.ts VmFlag) the record keeps. */
  vmFlags: number;
}

export function mmap(ctx: SyscallContext, address: number, length: number, prot: number, flags: number, fd: number, offset: number): number {
  const space = ctx.space;
  if (flags === PRIVATE_ANONYMOUS && address === 0 && offset === 0 && (prot & ~PROT_ALL) === 0 && length !== 0 && length <= ADDRESS_LIMIT_32 - space.pageSize && space.memory !== null) {
    // The call every malloc above its threshold makes, fully checked by the condition above
    // (a valid map type, no unknown flag, an aligned offset, a known prot, a length that fits).
    // Its plan is one step ("anywhere"), so it is applied without building one; kept short so
    // the JIT inlines the engine's steps into it.
    const pages = (length + space.pageMask) >>> space.pageShift; // length + mask < 2^32 here
    const start = space.placeAnywhere(pages);
    if (start < 0) return -Errno.ENOMEM;
    space.addMapping(start, pages, prot, PRIVATE_ANONYMOUS, length, null, 0, (prot & Prot.WRITE) !== 0 ? VmFlag.WRITTEN | VmFlag.ACCOUNT : 0);
    return start * space.pageSize;
  }
  const plan = planMmap(ctx, address, length, prot, flags, fd, offset);
  return typeof plan === "number" ? plan : applyMmap(ctx, plan);
}

/** vma flags that follow from mmap's flags and protection (linux.ts VmFlag): neighbours that differ never merge. */
function vmFlagsOf(flags: number, prot: number, anonymous: boolean): number {
  let vmFlags = 0;
  const isPrivate = (flags & Map.TYPE) !== Map.SHARED && (flags & Map.TYPE) !== Map.SHARED_VALIDATE;
  if ((flags & Map.NORESERVE) !== 0 && isPrivate) vmFlags |= VmFlag.NORESERVE;
  // calc_vm_flag_bits: MAP_STACK is VM_NOHUGEPAGE, MAP_SYNC is VM_SYNC (MAP_SHARED files drop it).
  if ((flags & Map.SYNC) !== 0 && (anonymous || (flags & Map.TYPE) !== Map.SHARED)) vmFlags |= VmFlag.SYNC;
  if ((prot & Prot.WRITE) !== 0) {
    vmFlags |= VmFlag.WRITTEN;
    if (isPrivate && (flags & Map.NORESERVE) === 0) vmFlags |= VmFlag.ACCOUNT;
  }
  if ((flags & Map.LOCKED) !== 0) vmFlags |= VmFlag.LOCKED;
  if ((flags & Map.STACK) !== 0) vmFlags |= VmFlag.NOHUGEPAGE;
  if ((flags & Map.GROWSDOWN) !== 0) vmFlags |= VmFlag.GROWSDOWN;
  return vmFlags;
}

/**
 * The checks in the order Linux makes them: the offset (arch mmap entry), the file descriptor
 * (ksys_mmap_pgoff), the length and its page rounding, the address (get_unmapped_area: its
 * end, then its alignment, then mmap_min_addr), MAP_FIXED_NOREPLACE's overlap, and last the
 * map type with what it asks of the file (do_mmap).
 */
export function planMmap(ctx: SyscallContext, address: number, length: number, prot: number, flags: number, fd: number, offset: number): Planned<MmapPlan> {
  const space = ctx.space;
  if (space.memory === null) return -Errno.ENOSYS;
  const pageSize = space.pageSize;
  // offset_in_page(offset) (offset may pass 2^32: a remainder, not a mask; skipped for 0).
  if (offset !== 0 && (!(offset >= 0) || offset % pageSize !== 0)) return -Errno.EINVAL;
  const type = flags & Map.TYPE;
  const anonymous = (flags & Map.ANONYMOUS) !== 0;
  let file: MappableFile | null = null;
  if (!anonymous) {
    if (fd < 0) return -Errno.EBADF;
    // Deviation: without a resolver no descriptor can be looked at (docs/hosts.md).
    if (ctx.files === null) return -Errno.ENODEV;
    file = ctx.files.resolve(fd);
    if (file === null) return -Errno.EBADF;
  } else if ((flags & Map.HUGETLB) !== 0) {
    // As a kernel with no huge pages reserved answers (hugetlb_file_setup): wasm has none.
    return -Errno.ENOMEM;
  }
  if (length === 0) return -Errno.EINVAL;
  // PAGE_ALIGN(len) wraps to 0 in 32 bits: ENOMEM.
  if (length > ADDRESS_LIMIT_32 - pageSize) return -Errno.ENOMEM;
  const pages = space.pagesFor(length);
  // The page offset plus the length in pages must not overflow (do_mmap, 32-bit pgoff rule).
  if (!anonymous && offset / pageSize + pages > ADDRESS_LIMIT_32) return -Errno.EOVERFLOW;
  const plan: MmapPlan = {
    start: -1,
    pages,
    prot: prot & PROT_ALL,
    // MAP_SHARED_VALIDATE is MAP_SHARED once validated (do_mmap): recorded as MAP_SHARED.
    flags: type === Map.SHARED_VALIDATE ? (flags & Map.ANONYMOUS) | Map.SHARED : flags & RECORDED_FLAGS,
    length,
    replace: false,
    file: null,
    fileOffset: 0,
    fileBytes: null,
    vmFlags: vmFlagsOf(flags, prot, anonymous),
  };
  // Files, hints and fixed addresses look at the free map as it is: account for the guest's
  // own growth and give recycled pages back first (changes nothing a guest can see).
  space.sync();
  if ((flags & (Map.FIXED | Map.FIXED_NOREPLACE)) !== 0) {
    const from = Math.floor(address / pageSize);
    const to = from + pages;
    if (length > ADDRESS_LIMIT_32 - address) return -Errno.ENOMEM;
    if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
    if (to > space.limitPage) return -Errno.ENOMEM;
    if (from < space.brk.regionStartPage) return -Errno.EPERM;
    if ((flags & Map.FIXED_NOREPLACE) !== 0 && !space.isVacant(from, to)) return -Errno.EEXIST;
    // Deviation: pages the guest grew itself are its own (docs/semantics.md).
    if (space.touchesForeign(from, to)) return -Errno.EPERM;
    plan.start = from;
    plan.replace = true;
  } else if (address !== 0) {
    const hint = space.pagesFor(address);
    if (space.isFree(hint, hint + pages) && !belowGrowsDown(ctx, hint + pages)) plan.start = hint;
  }
  // The map type is checked last (do_mmap), after placement: a length that can never fit is
  // ENOMEM first.
  const badType = anonymous
    ? (type === Map.SHARED && (flags & Map.GROWSDOWN) !== 0) || (type !== Map.SHARED && type !== Map.PRIVATE && type !== Map.DROPPABLE)
    : type !== Map.SHARED && type !== Map.SHARED_VALIDATE && type !== Map.PRIVATE;
  if (badType && !plan.replace && pages > space.limitPage - space.brk.regionStartPage) return -Errno.ENOMEM;
  if (anonymous) {
    // do_mmap's map type switch for anonymous memory, after everything else.
    if (type === Map.SHARED) {
      if ((flags & Map.GROWSDOWN) !== 0) return -Errno.EINVAL;
    } else if (type !== Map.PRIVATE && type !== Map.DROPPABLE) {
      return -Errno.EINVAL;
    }
    return plan;
  }
  const resolved = file as MappableFile;
  // A descriptor that is no regular file has no mmap (ENODEV); resolvers describe such
  // descriptors (directories, pipes, the console) without their open mode, so this comes first.
  if (!resolved.regular) return -Errno.ENODEV;
  if (type === Map.SHARED || type === Map.SHARED_VALIDATE) {
    if (type === Map.SHARED_VALIDATE && (flags & ~(Map.TYPE | MAP_VALIDATED_FLAGS)) !== 0) return -Errno.EOPNOTSUPP;
    // MAP_SYNC needs a DAX file (persistent memory): no file here is one.
    if (type === Map.SHARED_VALIDATE && (flags & Map.SYNC) !== 0) return -Errno.EOPNOTSUPP;
    if ((prot & Prot.WRITE) !== 0 && !resolved.writable) return -Errno.EACCES;
  } else if (type !== Map.PRIVATE) {
    return -Errno.EINVAL;
  }
  if (!resolved.readable) return -Errno.EACCES;
  if ((flags & Map.GROWSDOWN) !== 0) return -Errno.EINVAL;
  // Read before taking any page: a resolver that fails (host code) leaves everything as it was.
  plan.file = resolved;
  plan.fileOffset = offset;
  plan.fileBytes = readFilePages(resolved, offset, pages, pageSize);
  return plan;
}

/**
 * Pages Linux keeps free below a MAP_GROWSDOWN mapping, so that the stack can grow:
 * stack_guard_gap, 256 pages by default (mm/mmap.c). A hint within it is not honoured.
 */
const STACK_GUARD_GAP_PAGES = 256;

/** True when the first mapping above `end` grows down and starts within its gap (vm_start_gap). */
function belowGrowsDown(ctx: SyscallContext, end: number): boolean {
  const space = ctx.space;
  const next = space.nextMapping(end, end + STACK_GUARD_GAP_PAGES);
  return next >= 0 && (space.record(next).vmFlags & VmFlag.GROWSDOWN) !== 0;
}

export function applyMmap(ctx: SyscallContext, plan: MmapPlan): number {
  const space = ctx.space;
  let start = plan.start;
  if (plan.replace) {
    const to = start + plan.pages;
    // Growing is the only step that can fail, so it goes first.
    if (to > space.ownedPages && !space.growTo(to)) return -Errno.ENOMEM;
    if (space.hasFileMappings) writeBackRange(space, start, to);
    space.unmap(start, to);
    space.takeAt(start, to);
  } else if (start >= 0) {
    space.takeAt(start, start + plan.pages);
  } else {
    start = space.placeAnywhere(plan.pages);
    if (start < 0) return -Errno.ENOMEM;
  }
  // Both private and shared file mappings start as a copy of the file from its offset; the
  // pages were cleared when taken, so bytes past the end of the file read as zeros.
  if (plan.fileBytes !== null && plan.fileBytes.length > 0) space.bytes().set(plan.fileBytes, start * space.pageSize);
  space.addMapping(start, plan.pages, plan.prot, plan.flags, plan.length, plan.file, plan.fileOffset, plan.vmFlags);
  return start * space.pageSize;
}
