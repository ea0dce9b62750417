/**
 * mmap(2). Checks arguments in the order Linux does (arch mmap, ksys_mmap_pgoff, do_mmap),
 * builds a plan (where the mapping goes, what it replaces, the file bytes it shows), then
 * applies it. Everything that can fail happens in the plan step, except growing memory, which
 * the apply step does first and which changes nothing handed out when it fails.
 *
 * Deviations, chosen once (docs/semantics.md):
 * - Unknown flag bits are EINVAL for every map type (Linux ignores them except under
 *   MAP_SHARED_VALIDATE, which gives EOPNOTSUPP, as here).
 * - A hint is honoured when its pages are free and already exist; a hint beyond the end of
 *   linear memory is ignored rather than growing memory up to it.
 * - MAP_FIXED over pages the guest grew itself is EPERM, like below the heap base. Over brk
 *   pages it replaces them, as on Linux (musl's mallocng puts its guard page there).
 * - Protection is recorded, not enforced: wasm has no page protection.
 */
import { ADDRESS_LIMIT_32, Errno, MAP_KNOWN_FLAGS, MapFlags as Map, PROT_ALL, Prot } from "../runtime/linux.js";
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
    space.addMapping(start, pages, prot, PRIVATE_ANONYMOUS, length, null, 0);
    return start * space.pageSize;
  }
  const plan = planMmap(ctx, address, length, prot, flags, fd, offset);
  return typeof plan === "number" ? plan : applyMmap(ctx, plan);
}

export function planMmap(ctx: SyscallContext, address: number, length: number, prot: number, flags: number, fd: number, offset: number): Planned<MmapPlan> {
  const space = ctx.space;
  if (space.memory === null) return -Errno.ENOSYS;
  const pageSize = space.pageSize;
  // offset_in_page(offset) is EINVAL before anything else (arch mmap entry).
  // (offset may pass 2^32: a remainder, not a mask; skipped for the usual 0.)
  if (offset !== 0 && (!(offset >= 0) || offset % pageSize !== 0)) return -Errno.EINVAL;
  const type = flags & Map.TYPE;
  if (type !== Map.SHARED && type !== Map.PRIVATE && type !== Map.SHARED_VALIDATE) return -Errno.EINVAL;
  if ((flags & ~(Map.TYPE | MAP_KNOWN_FLAGS)) !== 0) return type === Map.SHARED_VALIDATE ? -Errno.EOPNOTSUPP : -Errno.EINVAL;
  if ((prot & ~PROT_ALL) !== 0) return -Errno.EINVAL;
  if (length === 0) return -Errno.EINVAL;
  // Rounded up to whole pages, the length must fit below the last page under 4 GiB.
  if (length > ADDRESS_LIMIT_32 - pageSize) return -Errno.ENOMEM;
  const pages = space.pagesFor(length);
  const plan: MmapPlan = { start: -1, pages, prot, flags: flags & RECORDED_FLAGS, length, replace: false, file: null, fileOffset: 0, fileBytes: null };
  // Files, hints and fixed addresses look at the free map as it is: account for the guest's
  // own growth and give recycled pages back first (changes nothing a guest can see).
  space.sync();
  if ((flags & Map.ANONYMOUS) === 0) {
    const resolver = ctx.files;
    if (resolver === null) return -Errno.ENODEV;
    const file = resolver.resolve(fd);
    if (file === null) return -Errno.EBADF;
    if (!file.regular) return -Errno.ENODEV;
    if (!file.readable) return -Errno.EACCES;
    if (type !== Map.PRIVATE && (prot & Prot.WRITE) !== 0 && !file.writable) return -Errno.EACCES;
    // The page offset plus the length in pages must not overflow (do_mmap, 32-bit pgoff rule).
    if (offset / pageSize + pages > ADDRESS_LIMIT_32) return -Errno.EOVERFLOW;
    // Read before taking any page: a resolver that fails (host code) leaves everything as it was.
    plan.file = file;
    plan.fileOffset = offset;
    plan.fileBytes = readFilePages(file, offset, pages, pageSize);
  }
  if ((flags & (Map.FIXED | Map.FIXED_NOREPLACE)) !== 0) {
    if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
    const from = address / pageSize;
    const to = from + pages;
    if (to > space.limitPage) return -Errno.ENOMEM;
    if (from < space.brk.regionStartPage) return -Errno.EPERM;
    if ((flags & Map.FIXED_NOREPLACE) !== 0) {
      // Anything there, brk pages included, is EEXIST (mmap(2)); pages not grown yet are free.
      if (!space.isVacant(from, to)) return -Errno.EEXIST;
    } else if (space.touchesForeign(from, to)) {
      return -Errno.EPERM;
    }
    plan.start = from;
    plan.replace = true;
  } else if (address !== 0) {
    const hint = space.pagesFor(address);
    if (space.isFree(hint, hint + pages)) plan.start = hint;
  }
  return plan;
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
  space.addMapping(start, plan.pages, plan.prot, plan.flags, plan.length, plan.file, plan.fileOffset);
  return start * space.pageSize;
}
