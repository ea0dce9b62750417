/**
 * msync(2), as Linux 6.18 walks it (mm/msync.c): flags and alignment (EINVAL), the length
 * rounded up to a page (a length that wraps to 0 syncs nothing and succeeds; an end past
 * 4 GiB is ENOMEM), then the mappings in the range. A hole is ENOMEM: at once under MS_SYNC,
 * at the end otherwise (the rest of the range is still written back). MS_INVALIDATE on a
 * MAP_LOCKED mapping is EBUSY.
 *
 * Shared file mappings in the range write back at once for both MS_SYNC and MS_ASYNC (there is
 * no background writer to defer to); MS_INVALIDATE has nothing to invalidate, since a mapping
 * is the only copy of its bytes in this process. Anonymous memory has nothing to do.
 */
import { ADDRESS_LIMIT_32, Errno, Ms, VmFlag } from "../runtime/linux.js";
import type { Planned, SyscallContext } from "./context.js";
import { writeBackRange } from "./file-mappings.js";

export interface MsyncPlan {
  /** Page ranges to write back, in address order. */
  ranges: [number, number][];
  /** What the call returns once they are written: 0, or ENOMEM/EBUSY. */
  result: number;
}

export function msync(ctx: SyscallContext, address: number, length: number, flags: number): number {
  const plan = planMsync(ctx, address, length, flags);
  return typeof plan === "number" ? plan : applyMsync(ctx, plan);
}

export function planMsync(ctx: SyscallContext, address: number, length: number, flags: number): Planned<MsyncPlan> {
  const space = ctx.space;
  if (!space.attached) return -Errno.ENOSYS;
  if ((flags & ~(Ms.ASYNC | Ms.INVALIDATE | Ms.SYNC)) !== 0) return -Errno.EINVAL;
  if ((address & space.pageMask) !== 0) return -Errno.EINVAL;
  if ((flags & Ms.ASYNC) !== 0 && (flags & Ms.SYNC) !== 0) return -Errno.EINVAL;
  const plan: MsyncPlan = { ranges: [], result: 0 };
  // (len + page - 1) & ~(page - 1) in 32 bits: a length within a page of 4 GiB wraps to 0.
  const pages = length > ADDRESS_LIMIT_32 - space.pageSize ? 0 : space.pagesFor(length);
  if (address + pages * space.pageSize > ADDRESS_LIMIT_32) return -Errno.ENOMEM;
  if (pages === 0) return plan;
  space.sync();
  const from = address / space.pageSize;
  const to = from + pages;
  for (let page = from; page < to; ) {
    if (!space.isInUse(page, page + 1)) {
      plan.result = -Errno.ENOMEM;
      if (flags === Ms.SYNC) return plan;
      page++;
      continue;
    }
    const start = space.mappingAt(page);
    if (start < 0) {
      page++;
      continue;
    }
    const record = space.record(start);
    if ((flags & Ms.INVALIDATE) !== 0 && (record.vmFlags & VmFlag.LOCKED) !== 0) {
      plan.result = -Errno.EBUSY;
      return plan;
    }
    const end = Math.min(start + record.pages, to);
    if (record.file !== null) plan.ranges.push([page, end]);
    page = end;
  }
  return plan;
}

export function applyMsync(ctx: SyscallContext, plan: MsyncPlan): number {
  for (const [from, to] of plan.ranges) writeBackRange(ctx.space, from, to);
  return plan.result;
}
