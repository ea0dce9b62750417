/**
 * mremap(2): shrinks in place; grows in place when the pages after the mapping are free;
 * otherwise, with MREMAP_MAYMOVE, moves into a free run when one fits without growing memory;
 * only then grows memory, in place when the mapping ends where the wilderness starts, else by
 * moving into the wilderness. MREMAP_FIXED moves to a given address, replacing what is there;
 * MREMAP_DONTUNMAP leaves the old range mapped and empty.
 *
 * Why a move before growth (docs/semantics.md, "mremap"): linear memory never shrinks, so
 * memory grown for one buffer stays with the process, while a move costs one copy of the
 * buffer's written pages. There is no size above which growth is preferred: a realloc loop
 * that grows in place at the end of memory leaves its old space behind every round.
 *
 * Deviations: old_len 0 (which duplicates a shared mapping on Linux) is EINVAL; so is
 * MREMAP_DONTUNMAP on anything but private anonymous memory.
 */
import { ADDRESS_LIMIT_32, Errno, MapFlags, Mremap } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import { readFilePages, writeBackRange, type MappableFile } from "./file-mappings.js";

const KNOWN = Mremap.MAYMOVE | Mremap.FIXED | Mremap.DONTUNMAP;

/** What mremap will do, worked out before anything changes. */
export interface MremapPlan {
  kind: "shrink" | "in-place" | "move";
  /** First page of the old range, and its pages. */
  from: number;
  oldPages: number;
  newPages: number;
  newLength: number;
  /** The old range is its whole (merged) mapping. */
  whole: boolean;
  /** Pages [0, growTo) must exist first (0: no growth). */
  growTo: number;
  /** "move": the new first page, or -1 to place it (placement.ts), without growth when `noGrowth`. */
  to: number;
  noGrowth: boolean;
  /** MREMAP_FIXED: what lies at the new range is replaced. */
  replace: boolean;
  dontUnmap: boolean;
  /** For a file mapping that grows: the file's bytes for the added pages, read in advance. */
  addedFileBytes: Uint8Array | null;
}

export function mremap(ctx: SyscallContext, oldAddress: number, oldLength: number, newLength: number, flags: number, newAddress: number): number {
  const plan = planMremap(ctx, oldAddress, oldLength, newLength, flags, newAddress);
  return typeof plan === "number" ? plan : applyMremap(ctx, plan);
}

export function planMremap(ctx: SyscallContext, oldAddress: number, oldLength: number, newLength: number, flags: number, newAddress: number): Planned<MremapPlan> {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  const pageSize = space.pageSize;
  const mayMove = (flags & Mremap.MAYMOVE) !== 0;
  const fixed = (flags & Mremap.FIXED) !== 0;
  const dontUnmap = (flags & Mremap.DONTUNMAP) !== 0;
  if ((flags & ~KNOWN) !== 0) return -Errno.EINVAL;
  if ((fixed || dontUnmap) && !mayMove) return -Errno.EINVAL;
  if (dontUnmap && oldLength !== newLength) return -Errno.EINVAL;
  if ((oldAddress & space.pageMask) !== 0 || newLength === 0 || oldLength === 0) return -Errno.EINVAL;
  if (newLength > ADDRESS_LIMIT_32 - pageSize) return -Errno.ENOMEM;
  const oldPages = space.pagesFor(oldLength);
  const newPages = space.pagesFor(newLength);
  const from = oldAddress / pageSize;
  // Looks at the free map as it is (changes nothing a guest can see).
  space.sync();

  // The old range must lie inside one mapping (vma_to_resize: EFAULT otherwise). Linux merges
  // adjacent compatible vmas as it goes (two mmaps side by side, a split undone by mprotect):
  // records here are merged on demand, in the apply step, which changes nothing a guest can see.
  if (!space.coveredAsOne(from, from + oldPages)) return -Errno.EFAULT;
  const mapping = space.mappingAt(from);
  const record = space.record(mapping);
  // DONTUNMAP leaves the old range mapped and empty: defined here for private anonymous
  // memory only (as on Linux before 5.13); anything else is EINVAL.
  if (dontUnmap && record.flags !== (MapFlags.PRIVATE | MapFlags.ANONYMOUS)) return -Errno.EINVAL;
  const mergedEnd = endOfMerged(ctx, mapping, from + oldPages);
  const plan: MremapPlan = {
    kind: "move",
    from,
    oldPages,
    newPages,
    newLength,
    whole: mapping === from && mergedEnd === from + oldPages,
    growTo: 0,
    to: -1,
    noGrowth: false,
    replace: false,
    dontUnmap,
    addedFileBytes: null,
  };
  const end = from + oldPages;
  if (newPages > oldPages && record.file !== null) {
    // Read what the added pages show before anything moves: a failing read changes nothing.
    const offset = record.fileOffset + (end - mapping) * pageSize;
    plan.addedFileBytes = readFilePages(record.file as MappableFile, offset, newPages - oldPages, pageSize);
  }

  if (fixed) {
    if ((newAddress & space.pageMask) !== 0) return -Errno.EINVAL;
    const to = newAddress / pageSize;
    const toEnd = to + newPages;
    if (to < end && from < toEnd) return -Errno.EINVAL;
    if (toEnd > space.limitPage) return -Errno.ENOMEM;
    if (to < space.brk.regionStartPage || space.touchesForeign(to, toEnd)) return -Errno.EPERM;
    plan.to = to;
    plan.replace = true;
    plan.growTo = toEnd > space.ownedPages ? toEnd : 0;
    return plan;
  }
  // MREMAP_DONTUNMAP always moves (mremap(2)); otherwise a shrink or the same size stays put.
  if (newPages <= oldPages && !dontUnmap) {
    plan.kind = "shrink";
    return plan;
  }
  const endsMapping = mergedEnd === end;
  const added = from + newPages;
  if (!dontUnmap && endsMapping && space.isFree(end, added)) {
    plan.kind = "in-place";
    return plan;
  }
  if (mayMove && space.canPlaceWithoutGrowth(newPages)) {
    plan.noGrowth = true;
    return plan;
  }
  if (!dontUnmap && endsMapping && space.isWildernessStart(end) && added <= space.limitPage) {
    // The mapping ends where the wilderness starts: growth extends both, leaving no hole.
    plan.kind = "in-place";
    plan.growTo = added;
    return plan;
  }
  if (!mayMove) return -Errno.ENOMEM;
  return plan;
}

/** The end page of the run of records that coveredAsOne would merge, starting at `mapping`. */
function endOfMerged(ctx: SyscallContext, mapping: number, atLeast: number): number {
  const space = ctx.space;
  let end = mapping + space.record(mapping).pages;
  while (end < atLeast) end += space.record(end).pages;
  return end;
}

export function applyMremap(ctx: SyscallContext, plan: MremapPlan): number {
  const space = ctx.space;
  const pageSize = space.pageSize;
  const { from, oldPages, newPages, newLength } = plan;
  // Growing is the only step that can fail, so it goes first.
  if (plan.growTo > 0 && !space.growTo(plan.growTo)) return -Errno.ENOMEM;
  space.merge(from, from + oldPages);
  if (plan.kind === "shrink") {
    if (space.hasFileMappings) writeBackRange(space, from + newPages, from + oldPages);
    if (plan.whole) space.resizeMapping(from, newPages, newLength);
    else space.unmap(from + newPages, from + oldPages);
    return from * pageSize;
  }
  if (plan.kind === "in-place") {
    space.takeAt(from + oldPages, from + newPages);
    space.splitAt(from);
    space.resizeMapping(from, newPages, newLength);
    showFileBytes(ctx, plan, from);
    return from * pageSize;
  }
  let to = plan.to;
  if (plan.replace) {
    const toEnd = to + newPages;
    if (space.hasFileMappings) writeBackRange(space, to, toEnd);
    space.unmap(to, toEnd);
    space.takeAt(to, toEnd);
  } else {
    to = plan.noGrowth ? space.placeWithoutGrowth(newPages) : space.placeAnywhere(newPages);
    if (to < 0) return -Errno.ENOMEM;
  }
  space.splitAt(from);
  space.splitAt(from + oldPages);
  space.copyPages(from, to, Math.min(oldPages, newPages));
  space.moveMapping(from, to, newPages, newLength, plan.dontUnmap);
  showFileBytes(ctx, plan, to);
  return to * pageSize;
}

/**
 * A file mapping that grew shows the file's next bytes in its new pages, as Linux maps them
 * (zeros past the end of the file). Without this a shared mapping would write zeros back.
 */
function showFileBytes(ctx: SyscallContext, plan: MremapPlan, start: number): void {
  const bytes = plan.addedFileBytes;
  if (bytes !== null && bytes.length > 0) ctx.space.bytes().set(bytes, (start + plan.oldPages) * ctx.space.pageSize);
}
