/**
 * mremap(2), in the order Linux 6.18 works (mm/mremap.c: check_mremap_params, then the vma at
 * the old address, then the kind of remap):
 *
 * - the same size stays put, with nothing more checked; a shrink unmaps the tail of the old
 *   range, whatever lies there (Linux does not check that the old range is one vma);
 * - a growth needs the old range inside one mapping (EFAULT); it stays in place when the pages
 *   after it are free; otherwise, with MREMAP_MAYMOVE, it moves into a free run that fits
 *   without growing memory; only then does memory grow: in place when the mapping ends where
 *   the wilderness starts, else by moving into the grown wilderness;
 * - MREMAP_FIXED moves to a given address, replacing what is there (shrinking first); with the
 *   old size and an old range that spans several mappings it moves each of them, keeping the
 *   holes between them (Linux 6.17 and later); MREMAP_DONTUNMAP leaves the old range mapped and
 *   empty.
 *
 * Why a move before growth (docs/semantics.md, "Layout and placement"): linear memory never
 * shrinks, so memory grown for one buffer stays with the process, while a move copies only the
 * buffer's written 4 KiB blocks. There is no size above which growth is preferred.
 *
 * Deviations: old_len 0 (which duplicates a shared mapping on Linux) is EINVAL; so is
 * MREMAP_DONTUNMAP on anything but private anonymous memory; growing a shared anonymous
 * mapping shows zeros in its new pages (Linux: SIGBUS past the object, which wasm cannot raise).
 */
import { ADDRESS_LIMIT_32, Errno, MapFlags, Mremap } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import { readFilePages, writeBackRange, type MappableFile } from "./file-mappings.js";
import { planMunmap } from "./munmap.js";

const KNOWN = Mremap.MAYMOVE | Mremap.FIXED | Mremap.DONTUNMAP;

/** What mremap will do, worked out before anything changes. */
export interface MremapPlan {
  kind: "same" | "shrink" | "in-place" | "move" | "move-several";
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
  /** "move-several": the first page and pages of each mapping to move, lowest first. */
  parts: [number, number][];
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
  // check_mremap_params: flags, the old address, the new length (0, or wrapping to 0 when
  // rounded up to a page), then what a new address implies.
  if ((flags & ~KNOWN) !== 0) return -Errno.EINVAL;
  if ((oldAddress & space.pageMask) !== 0) return -Errno.EINVAL;
  if (newLength === 0 || newLength > ADDRESS_LIMIT_32 - pageSize) return -Errno.EINVAL;
  // old_len rounded up (wrapping to 0 like new_len would) and new_len, in pages.
  const oldPages = oldLength > ADDRESS_LIMIT_32 - pageSize ? 0 : space.pagesFor(oldLength);
  const newPages = space.pagesFor(newLength);
  const from = oldAddress / pageSize;
  const end = from + oldPages;
  if (fixed || dontUnmap) {
    if (fixed && (newAddress & space.pageMask) !== 0) return -Errno.EINVAL;
    if (!mayMove) return -Errno.EINVAL;
    // Page-rounded sizes, as Linux 6.18 compares them.
    if (dontUnmap && oldPages !== newPages) return -Errno.EINVAL;
    if (fixed) {
      if (newLength > ADDRESS_LIMIT_32 - newAddress) return -Errno.EINVAL;
      const to = newAddress / pageSize;
      if (to < end && from < to + newPages) return -Errno.EINVAL;
    }
  }
  // Looks at the free map as it is (changes nothing a guest can see).
  space.sync();
  // The vma at the old address (vma_lookup: EFAULT).
  const mapping = space.mappingAt(from);
  if (mapping < 0) return -Errno.EFAULT;
  if (oldPages === 0) return -Errno.EINVAL;
  const record = space.record(mapping);
  const plan: MremapPlan = {
    kind: "move",
    from,
    oldPages,
    newPages,
    newLength,
    whole: false,
    growTo: 0,
    to: -1,
    noGrowth: false,
    replace: false,
    dontUnmap,
    addedFileBytes: null,
    parts: [],
  };

  if (!fixed && !dontUnmap) {
    if (newPages === oldPages) {
      plan.kind = "same";
      return plan;
    }
    if (newPages < oldPages) {
      // Shrinking unmaps the tail of the old range, whatever lies there (munmap's checks).
      const unmap = planMunmap(ctx, (from + newPages) * pageSize, (oldPages - newPages) * pageSize);
      if (typeof unmap === "number") return unmap;
      plan.kind = "shrink";
      plan.whole = mapping === from && mapping + record.pages === end;
      return plan;
    }
  }

  // Linux 6.17+: MREMAP_FIXED without a resize may move several mappings at once.
  if (fixed && newPages === oldPages && !space.coveredAsOne(from, end)) {
    const parts = mappingsIn(ctx, from, end);
    if (parts === null) return -Errno.EFAULT;
    if (dontUnmap && parts.some(([start]) => space.record(space.mappingAt(start)).flags !== (MapFlags.PRIVATE | MapFlags.ANONYMOUS))) {
      return -Errno.EINVAL;
    }
    plan.kind = "move-several";
    plan.parts = parts;
    return planTarget(ctx, plan, newAddress / pageSize);
  }

  // remap_is_valid: the old range (after a shrink in mremap_to) lies inside one vma. Linux
  // merges adjacent compatible vmas as it goes; records here are merged on demand, in the
  // apply step, which changes nothing a guest can see.
  const kept = Math.min(oldPages, newPages);
  if (!space.coveredAsOne(from, from + (fixed ? kept : oldPages))) return -Errno.EFAULT;
  // DONTUNMAP leaves the old range mapped and empty: defined here for private anonymous
  // memory only (as on Linux before 5.13); anything else is EINVAL.
  if (dontUnmap && record.flags !== (MapFlags.PRIVATE | MapFlags.ANONYMOUS)) return -Errno.EINVAL;
  const mergedEnd = endOfMerged(ctx, mapping, from + kept);
  plan.whole = mapping === from && mergedEnd === end;
  if (newPages > oldPages && record.file !== null) {
    // Read what the added pages show before anything moves: a failing read changes nothing.
    const offset = record.fileOffset + (end - mapping) * pageSize;
    plan.addedFileBytes = readFilePages(record.file as MappableFile, offset, newPages - oldPages, pageSize);
  }
  if (fixed) return planTarget(ctx, plan, newAddress / pageSize);
  if (dontUnmap) {
    plan.noGrowth = space.canPlaceWithoutGrowth(newPages);
    return plan;
  }
  const endsMapping = mergedEnd === end;
  const added = from + newPages;
  if (endsMapping && space.isFree(end, added)) {
    plan.kind = "in-place";
    return plan;
  }
  if (mayMove && space.canPlaceWithoutGrowth(newPages)) {
    plan.noGrowth = true;
    return plan;
  }
  if (endsMapping && space.isWildernessStart(end) && added <= space.limitPage) {
    // The mapping ends where the wilderness starts: growth extends both, leaving no hole.
    plan.kind = "in-place";
    plan.growTo = added;
    return plan;
  }
  if (!mayMove) return -Errno.ENOMEM;
  return plan;
}

/** MREMAP_FIXED's target: within the limit, above the heap base, not the guest's own pages. */
function planTarget(ctx: SyscallContext, plan: MremapPlan, to: number): Planned<MremapPlan> {
  const space = ctx.space;
  const toEnd = to + plan.newPages;
  if (toEnd > space.limitPage) return -Errno.ENOMEM;
  if (to < space.brk.regionStartPage || space.touchesForeign(to, toEnd)) return -Errno.EPERM;
  plan.to = to;
  plan.replace = true;
  plan.growTo = toEnd > space.ownedPages ? toEnd : 0;
  return plan;
}

/** Every mapping in [from, to) as [first page, pages], cut at the range's ends; null when a page there is in use but no mapping's. */
function mappingsIn(ctx: SyscallContext, from: number, to: number): [number, number][] | null {
  const space = ctx.space;
  const parts: [number, number][] = [];
  for (let page = from; page < to; ) {
    const start = space.mappingAt(page);
    if (start < 0) {
      if (space.isInUse(page, page + 1)) return null; // brk, image or foreign pages do not move
      page++;
      continue;
    }
    const end = Math.min(start + space.record(start).pages, to);
    parts.push([page, end - page]);
    page = end;
  }
  return parts;
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
  if (plan.kind === "same") return from * pageSize;
  if (plan.kind === "shrink") {
    if (space.hasFileMappings) writeBackRange(space, from + newPages, from + oldPages);
    if (plan.whole) space.resizeMapping(from, newPages, newLength);
    else space.unmap(from + newPages, from + oldPages);
    return from * pageSize;
  }
  // Growing is the only step that can fail, so it goes first.
  if (plan.growTo > 0 && !space.growTo(plan.growTo)) return -Errno.ENOMEM;
  if (plan.kind === "move-several") {
    moveSeveral(ctx, plan);
    return plan.to * pageSize;
  }
  const kept = Math.min(oldPages, newPages);
  // A move to a place of the engine's choosing can still find no room: placed first, so that
  // a failure changes nothing (placement.ts takes the pages; nothing else has moved yet).
  let placed = -1;
  if (plan.kind === "move" && !plan.replace) {
    placed = plan.noGrowth ? space.placeWithoutGrowth(newPages) : space.placeAnywhere(newPages);
    if (placed < 0) return -Errno.ENOMEM;
  }
  if (plan.replace && newPages < oldPages) {
    // mremap_to shrinks first, then moves what is left.
    if (space.hasFileMappings) writeBackRange(space, from + newPages, from + oldPages);
    space.unmap(from + newPages, from + oldPages);
  }
  space.merge(from, from + kept);
  if (plan.kind === "in-place") {
    space.takeAt(from + oldPages, from + newPages);
    space.splitAt(from);
    space.resizeMapping(from, newPages, newLength);
    showFileBytes(ctx, plan, from);
    return from * pageSize;
  }
  let to = placed;
  if (plan.replace) {
    to = plan.to;
    const toEnd = to + newPages;
    if (space.hasFileMappings) writeBackRange(space, to, toEnd);
    space.unmap(to, toEnd);
    space.takeAt(to, toEnd);
  }
  if (plan.dontUnmap) {
    space.copyPages(from, to, kept);
    space.copyMapping(from, to, newPages, newLength);
    return to * pageSize;
  }
  space.splitAt(from);
  space.splitAt(from + kept);
  space.copyPages(from, to, kept);
  space.moveMapping(from, to, newPages, newLength, false);
  showFileBytes(ctx, plan, to);
  return to * pageSize;
}

/**
 * Linux 6.17+'s move of several mappings: each part moves to the same offset from the new
 * address; target pages opposite a hole of the old range are left as they are.
 */
function moveSeveral(ctx: SyscallContext, plan: MremapPlan): void {
  const space = ctx.space;
  for (const [start, pages] of plan.parts) {
    const to = plan.to + (start - plan.from);
    if (space.hasFileMappings) writeBackRange(space, to, to + pages);
    space.unmap(to, to + pages);
    space.takeAt(to, to + pages);
    if (plan.dontUnmap) {
      space.copyPages(start, to, pages);
      space.copyMapping(start, to, pages, pages * space.pageSize);
      continue;
    }
    space.splitAt(start);
    space.splitAt(start + pages);
    space.copyPages(start, to, pages);
    space.moveMapping(start, to, pages, space.record(start).requestedBytes, false);
  }
}

/**
 * A file mapping that grew shows the file's next bytes in its new pages, as Linux maps them
 * (zeros past the end of the file). Without this a shared mapping would write zeros back.
 */
function showFileBytes(ctx: SyscallContext, plan: MremapPlan, start: number): void {
  const bytes = plan.addedFileBytes;
  if (bytes !== null && bytes.length > 0) ctx.space.bytes().set(bytes, (start + plan.oldPages) * ctx.space.pageSize);
}
