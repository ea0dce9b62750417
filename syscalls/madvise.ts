/**
 * madvise(2). MADV_DONTNEED makes private pages (mappings and the brk area, which musl's
 * allocators both advise) read as zeros at once (a private file mapping reads its file again);
 * shared mappings keep their bytes, as the page cache keeps them on Linux. MADV_FREE keeps the
 * bytes (Linux may or may not drop them, so both are correct) and, as on Linux, applies only to
 * private anonymous memory. The other known advice values are hints and do nothing. A range
 * with unmapped pages is ENOMEM.
 *
 * Deviation: DONTNEED or FREE over the module image or pages the guest grew itself is EINVAL:
 * they are not this host's to clear.
 */
import { Errno, Madv, MapFlags as Map } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import { readFilePages, type MappableFile } from "./file-mappings.js";
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

/** One part of the range to zero; `fileBytes`: what a private file mapping reads again there. */
interface ZeroPart {
  from: number;
  to: number;
  fileBytes: Uint8Array | null;
}

export interface MadvisePlan {
  /** Parts to make read as zeros (DONTNEED), in address order; empty for hints. */
  zero: ZeroPart[];
}

export function madvise(ctx: SyscallContext, address: number, length: number, advice: number): number {
  const plan = planMadvise(ctx, address, length, advice);
  return typeof plan === "number" ? plan : applyMadvise(ctx, plan);
}

export function planMadvise(ctx: SyscallContext, address: number, length: number, advice: number): Planned<MadvisePlan> {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  // Order as in Linux's madvise: the advice, alignment, then the range.
  if (!isKnownAdvice(advice)) return -Errno.EINVAL;
  if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
  const plan: MadvisePlan = { zero: [] };
  if (length === 0) return plan;
  const bad = pageRange(space, address, length, range);
  if (bad !== 0) return bad;
  space.sync();
  const { from, to } = range;
  if (!space.isInUse(from, to)) return -Errno.ENOMEM;
  if (advice !== Madv.DONTNEED && advice !== Madv.FREE) return plan;

  // Every page must be the brk area or a mapping; FREE needs private anonymous mappings.
  if (from < space.brk.regionStartPage || space.touchesForeign(from, to)) return -Errno.EINVAL;
  let page = from;
  while (page < to) {
    const start = space.mappingAt(page);
    if (start < 0) {
      // A brk page (the range is in use, not foreign, not image): up to the next mapping.
      const next = space.nextMapping(page, to);
      const end = next < 0 ? to : next;
      if (advice === Madv.DONTNEED) plan.zero.push({ from: page, to: end, fileBytes: null });
      page = end;
      continue;
    }
    const record = space.record(start);
    const end = Math.min(start + record.pages, to);
    const isPrivate = (record.flags & Map.TYPE) === Map.PRIVATE;
    if (advice === Madv.FREE) {
      if (!isPrivate || (record.flags & Map.ANONYMOUS) === 0) return -Errno.EINVAL;
    } else if (isPrivate) {
      // A private file mapping reads the file again, as Linux refaults it from the page cache.
      const file = record.file as MappableFile | null;
      const fileBytes = file === null ? null : readFilePages(file, record.fileOffset + (page - start) * space.pageSize, end - page, space.pageSize);
      plan.zero.push({ from: page, to: end, fileBytes });
    }
    page = end;
  }
  return plan;
}

export function applyMadvise(ctx: SyscallContext, plan: MadvisePlan): number {
  const space = ctx.space;
  for (const part of plan.zero) {
    space.zeroInUse(part.from, part.to);
    if (part.fileBytes !== null && part.fileBytes.length > 0) space.bytes().set(part.fileBytes, part.from * space.pageSize);
  }
  return 0;
}
