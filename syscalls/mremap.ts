/**
 * mremap(2): shrinks in place, grows in place when the pages after the mapping are free (or
 * can be grown at the end of memory), otherwise moves with MREMAP_MAYMOVE, keeping the bytes.
 * MREMAP_FIXED moves to a given address, replacing what is there; MREMAP_DONTUNMAP leaves the
 * old range mapped and empty.
 *
 * Deviations: old_len 0 (which duplicates a shared mapping on Linux) is EINVAL; so is
 * MREMAP_DONTUNMAP on anything but private anonymous memory.
 */
import { ADDRESS_LIMIT_32, Errno, MapFlags, Mremap } from "../runtime/linux.js";
import type { SyscallContext } from "./context.js";

const KNOWN = Mremap.MAYMOVE | Mremap.FIXED | Mremap.DONTUNMAP;

export function mremap(
  ctx: SyscallContext,
  oldAddress: number,
  oldLength: number,
  newLength: number,
  flags: number,
  newAddress: number,
): number {
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
  space.sync();

  // The old range must lie inside one mapping (vma_to_resize: EFAULT otherwise). Linux merges
  // adjacent compatible vmas as it goes (two mmaps side by side, a split undone by mprotect):
  // records here are merged on demand, which changes nothing a guest can see.
  if (!space.mergeRange(from, from + oldPages)) return -Errno.EFAULT;
  const mapping = space.mappingAt(from);
  // DONTUNMAP leaves the old range mapped and empty: defined here for private anonymous
  // memory only (as on Linux before 5.13); anything else is EINVAL.
  if (dontUnmap && space.mapFlags[mapping] !== (MapFlags.PRIVATE | MapFlags.ANONYMOUS)) return -Errno.EINVAL;
  const wholeMapping = mapping === from && space.mapPages[mapping] === oldPages;
  const endsMapping = mapping + space.mapPages[mapping] === from + oldPages;
  const memory = space.memory;
  if (memory === null) return -Errno.ENOSYS;

  if (fixed) {
    if ((newAddress & space.pageMask) !== 0) return -Errno.EINVAL;
    const to = newAddress / pageSize;
    const toEnd = to + newPages;
    if (to < from + oldPages && from < toEnd) return -Errno.EINVAL;
    if (toEnd > space.limitPage) return -Errno.ENOMEM;
    if (to < space.regionStartPage || space.touchesUnmappable(to, toEnd)) return -Errno.EPERM;
    if (toEnd > space.ownedPages && !space.growTo(toEnd)) return -Errno.ENOMEM;
    space.unmap(to, toEnd);
    space.takeFree(to, toEnd);
    moveTo(ctx, from, oldPages, to, newPages, newLength, dontUnmap);
    fillFromFile(ctx, to, oldPages, newPages);
    return to * pageSize;
  }

  // MREMAP_DONTUNMAP always moves (mremap(2)); otherwise a shrink or same size stays put.
  if (newPages <= oldPages && !dontUnmap) {
    if (wholeMapping) space.resizeMapping(from, newPages, newLength);
    else space.unmap(from + newPages, from + oldPages);
    return oldAddress;
  }

  // Grow in place when the old range ends its mapping and the next pages are free.
  if (endsMapping && !dontUnmap && space.isFree(from + oldPages, from + newPages) && space.takeFree(from + oldPages, from + newPages)) {
    space.splitAt(from);
    space.resizeMapping(from, newPages, newLength);
    fillFromFile(ctx, from, oldPages, newPages);
    return oldAddress;
  }
  if (!mayMove) return -Errno.ENOMEM;
  const to = space.placeAnywhere(newPages);
  if (to < 0) return -Errno.ENOMEM;
  moveTo(ctx, from, oldPages, to, newPages, newLength, dontUnmap);
  fillFromFile(ctx, to, oldPages, newPages);
  return to * pageSize;
}

/**
 * A file mapping that grew shows the file's next bytes in its new pages, as Linux maps them
 * (zeros past the end of the file). Without this a shared mapping would write zeros back.
 */
function fillFromFile(ctx: SyscallContext, start: number, oldPages: number, newPages: number): void {
  const space = ctx.space;
  const file = space.fileOf(start);
  if (file === null || newPages <= oldPages) return;
  const pageSize = space.pageSize;
  const offset = space.mapFileOffset[start] + oldPages * pageSize;
  const count = Math.min((newPages - oldPages) * pageSize, file.size() - offset);
  if (count <= 0) return;
  const base = (start + oldPages) * pageSize;
  file.read(offset, (space.memory as NonNullable<typeof space.memory>).bytes().subarray(base, base + count));
}

/** Copies the old range's bytes to pages already taken at `to` and moves the mapping record. */
function moveTo(
  ctx: SyscallContext,
  from: number,
  oldPages: number,
  to: number,
  newPages: number,
  newLength: number,
  keepOld: boolean,
): void {
  const space = ctx.space;
  const pageSize = space.pageSize;
  const bytes = (space.memory as NonNullable<typeof space.memory>).bytes();
  const copyBytes = Math.min(oldPages, newPages) * pageSize;
  bytes.copyWithin(to * pageSize, from * pageSize, from * pageSize + copyBytes);
  space.splitAt(from);
  space.splitAt(from + oldPages);
  space.moveMapping(from, to, newPages, newLength, keepOld);
}
