/**
 * madvise(2). MADV_DONTNEED makes private pages (mappings and the brk area, which musl's
 * allocators both advise) read as zeros at once (a private file mapping reads its file again); shared mappings keep their bytes, as the page
 * cache keeps them on Linux. MADV_FREE keeps the bytes (Linux may or may not drop them, so both
 * are correct) and, as on Linux, applies only to private anonymous memory. The other known
 * advice values are hints and do nothing. A range with unmapped pages is ENOMEM.
 *
 * Deviation: DONTNEED or FREE over the module image or pages the guest grew itself is EINVAL:
 * they are not this host's to clear.
 */
import { Errno, Madv, MapFlags as Map } from "../runtime/linux.js";
import type { SyscallContext } from "./context.js";
import { pageRange, type PageRange } from "./range.js";

const range: PageRange = { from: 0, to: 0 };

function isKnownAdvice(advice: number): boolean {
  return (
    advice === Madv.NORMAL ||
    advice === Madv.RANDOM ||
    advice === Madv.SEQUENTIAL ||
    advice === Madv.WILLNEED ||
    advice === Madv.DONTNEED ||
    advice === Madv.FREE
  );
}

export function madvise(ctx: SyscallContext, address: number, length: number, advice: number): number {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  // Order as in Linux's madvise: the advice, alignment, then the range.
  if (!isKnownAdvice(advice)) return -Errno.EINVAL;
  if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
  if (length === 0) return 0;
  const bad = pageRange(space, address, length, range);
  if (bad !== 0) return bad;
  space.sync();
  const { from, to } = range;
  if (!space.isInUse(from, to)) return -Errno.ENOMEM;
  if (advice !== Madv.DONTNEED && advice !== Madv.FREE) return 0;

  // Plan: every page must be the brk area or a mapping; FREE needs private anonymous mappings.
  const brkEnd = space.brkEndPage;
  if (from < space.regionStartPage) return -Errno.EINVAL;
  const mapFrom = Math.max(from, brkEnd);
  if (mapFrom < to) {
    if (space.touchesUnmappable(mapFrom, to)) return -Errno.EINVAL;
    if (advice === Madv.FREE) {
      for (let start = firstMapping(ctx, mapFrom, to); start >= 0; start = space.nextMapping(start + space.mapPages[start], to)) {
        if ((space.mapFlags[start] & Map.TYPE) !== Map.PRIVATE || (space.mapFlags[start] & Map.ANONYMOUS) === 0) {
          return -Errno.EINVAL;
        }
      }
    }
  }
  if (advice === Madv.FREE) return 0;

  // Act: zero the brk part and the private mapping parts.
  if (from < brkEnd) space.zeroPages(from, Math.min(to, brkEnd));
  for (let start = firstMapping(ctx, mapFrom, to); start >= 0; start = space.nextMapping(start + space.mapPages[start], to)) {
    if ((space.mapFlags[start] & Map.TYPE) !== Map.PRIVATE) continue;
    const partFrom = Math.max(start, mapFrom);
    const partTo = Math.min(start + space.mapPages[start], to);
    space.zeroPages(partFrom, partTo);
    // A private file mapping reads the file again, as Linux refaults it from the page cache.
    const file = space.fileOf(start);
    if (file !== null) {
      const pageSize = space.pageSize;
      const offset = space.mapFileOffset[start] + (partFrom - start) * pageSize;
      const count = Math.min((partTo - partFrom) * pageSize, file.size() - offset);
      if (count > 0) file.read(offset, (space.memory as NonNullable<typeof space.memory>).bytes().subarray(partFrom * pageSize, partFrom * pageSize + count));
    }
  }
  return 0;
}

/** The mapping containing `from`, else the first one starting before `to`, else -1. */
function firstMapping(ctx: SyscallContext, from: number, to: number): number {
  if (from >= to) return -1;
  const containing = ctx.space.mappingAt(from);
  return containing >= 0 ? containing : ctx.space.nextMapping(from, to);
}
